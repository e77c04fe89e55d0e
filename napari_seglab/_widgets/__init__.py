"""The napari side: dock widgets, layer conversions and background jobs (Qt, napari)."""
