"""``python -m napari_seglab [2d|3d|ct]``: napari with the plugin's panel docked on a sample."""

from __future__ import annotations

import os
import sys

SAMPLES = {"2d": "phantom_2d", "3d": "phantom_3d", "ct": "ct_phantom"}


def _no_display() -> bool:
    """True on Linux without a screen (Qt would abort with a misleading message)."""
    if not sys.platform.startswith("linux"):
        return False
    if os.environ.get("QT_QPA_PLATFORM", "") in ("offscreen", "minimal", "vnc"):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if _no_display():
        print("napari needs a display: no DISPLAY or WAYLAND_DISPLAY is set.\n"
              "On a machine without a screen, run it under a virtual one:\n"
              "    xvfb-run -a python -m napari_seglab", file=sys.stderr)
        return 1
    import napari

    key = argv[0].lower().lstrip("-") if argv else "2d"
    sample = SAMPLES.get(key, "phantom_2d")
    viewer = napari.Viewer(title="napari-seglab")
    try:
        viewer.open_sample("napari-seglab", sample)
    except (KeyError, ValueError):  # a sample this install does not have
        viewer.open_sample("napari-seglab", "phantom_2d")
    viewer.window.add_plugin_dock_widget("napari-seglab", "Segmentation Lab")
    if "seeds" in viewer.layers:
        seeds = viewer.layers["seeds"]
        viewer.layers.selection.active = seeds
        seeds.mode = "paint"
    napari.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
