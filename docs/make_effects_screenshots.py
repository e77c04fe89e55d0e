"""Screenshots of the Effects section at two window sizes (run under Xvfb).

    Xvfb :147 -screen 0 1920x1080x24 &
    DISPLAY=:147 .venv/bin/python docs/make_effects_screenshots.py

Writes docs/effects_threshold_<w>x<h>.png (Threshold with its live preview on
the 3D phantom) and docs/effects_scissors_<w>x<h>.png (a polygon drawn for
Scissors over a segmentation filled between slices painted every sixth slice),
at 1280×800 and 1920×1080.
"""

from __future__ import annotations

import time
from pathlib import Path

import napari
import numpy as np
from qtpy.QtWidgets import QApplication

DOCS = Path(__file__).resolve().parent


def _wait(condition, seconds=60):
    app = QApplication.instance()
    end = time.monotonic() + seconds
    while not condition() and time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def _scene(width, height):
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(width, height)
    viewer.open_sample("napari-seglab", "phantom_3d")
    truth = viewer.layers["ground truth"]
    sparse = np.zeros_like(truth.data)
    sparse[::6] = truth.data[::6]               # painted every sixth slice
    layer = viewer.add_labels(sparse, name="segmentation", scale=truth.scale,
                              opacity=0.6)
    _, panel = viewer.window.add_plugin_dock_widget("napari-seglab", "Segmentation Lab")
    panel.sections["Evaluation"].set_expanded(False)  # (it compares with the truth)
    panel.expand("Effects")
    effects = panel.widgets["Effects"]
    viewer.dims.set_current_step(0, 24)
    return viewer, panel, effects, layer


def _shoot(viewer, panel, effects, name):
    if "confusion" in viewer.layers:
        viewer.layers["confusion"].visible = False
    _wait(lambda: False, 1)  # let the panel lay itself out and the canvas draw
    panel.scroll.ensureWidgetVisible(effects.status)
    _wait(lambda: False, 1)
    out = DOCS / name
    viewer.screenshot(str(out), canvas_only=False)
    viewer.close()
    return out


def threshold(width, height):
    viewer, panel, effects, layer = _scene(width, height)
    layer.selected_label = 2
    effects.effect.setCurrentText("Threshold")
    effects.image_combo.setCurrentText("phantom 3D")
    effects.low.setValue(0.65)
    effects.high.setValue(1.2)
    effects.preview.setChecked(True)
    effects.use_as_mask.setChecked(True)
    return _shoot(viewer, panel, effects, f"effects_threshold_{width}x{height}.png")


def scissors(width, height):
    viewer, panel, effects, layer = _scene(width, height)
    layer.selected_label = 1
    effects.effect.setCurrentText("Fill between slices")
    effects.all_segments.setChecked(True)
    effects.apply_button.click()
    _wait(lambda: not effects.job.running)
    done = effects.status.text()
    effects.effect.setCurrentText("Scissors")
    effects.draw_button.click()
    shapes = viewer.layers["scissors"]
    z = 24
    shapes.add([[z, 30, 40], [z, 25, 110], [z, 70, 135], [z, 95, 90], [z, 60, 55]],
               shape_type="polygon")
    effects.status.setText(f"{done} Next: Erase inside, through all slices.")
    return _shoot(viewer, panel, effects, f"effects_scissors_{width}x{height}.png")


if __name__ == "__main__":
    # One window per process: a second napari viewer in the same process hung
    # under Xvfb after the first closed.
    import subprocess
    import sys

    if len(sys.argv) == 4:
        print({"threshold": threshold, "scissors": scissors}[sys.argv[1]](
            int(sys.argv[2]), int(sys.argv[3])))
        sys.exit()
    for scene in ("threshold", "scissors"):
        for size in ((1280, 800), (1920, 1080)):
            subprocess.run([sys.executable, __file__, scene, *map(str, size)], check=True)
