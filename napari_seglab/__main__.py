"""``python -m napari_seglab [2d|3d]``: napari with the plugin docked on sample data."""

from __future__ import annotations

import sys


def main(argv=None) -> None:
    import napari

    argv = sys.argv[1:] if argv is None else argv
    sample = "phantom_3d" if argv and argv[0].lower() in ("3d", "--3d") else "phantom_2d"
    viewer = napari.Viewer(title="napari-seglab")
    viewer.open_sample("napari-seglab", sample)
    viewer.window.add_plugin_dock_widget("napari-seglab", "Seeded segmentation")
    viewer.window.add_plugin_dock_widget("napari-seglab", "Evaluation")
    seeds = viewer.layers["seeds"]
    viewer.layers.selection.active = seeds
    seeds.mode = "paint"
    napari.run()


if __name__ == "__main__":
    main()
