"""Screenshots of the Segmentation Lab panel at two window sizes (run under Xvfb).

    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python docs/make_panel_screenshots.py

Writes docs/panel_<sample>_<w>x<h>.png: the sample, a few strokes, Segment, the
Evaluation section, as a user sees them.
"""

from __future__ import annotations

import time
from pathlib import Path

import napari
import numpy as np
from qtpy.QtWidgets import QApplication

from napari_seglab.core.phantoms import scribble_seeds

DOCS = Path(__file__).resolve().parent


def _wait(condition, seconds=120):
    app = QApplication.instance()
    end = time.monotonic() + seconds
    while not condition() and time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def shoot(width, height, sample):
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(width, height)
    viewer.open_sample("napari-seglab", sample)
    _, panel = viewer.window.add_plugin_dock_widget("napari-seglab", "Segmentation Lab")
    seeds = viewer.layers["seeds"]
    strokes = scribble_seeds(viewer.layers["ground truth"].data)
    index = np.nonzero(strokes)
    seeds.data_setitem(index, strokes[index])
    done = []
    panel.segmentation.finished_run.connect(done.append)
    panel.segmentation.run.native.click()
    _wait(lambda: bool(done))
    _wait(lambda: "Mean Dice" in panel.evaluation.results.value, 10)
    if height >= 1000:
        panel.expand("Features")
    panel.scroll.ensureWidgetVisible(panel.evaluation.results.native)
    _wait(lambda: False, 1)  # let the canvas draw
    out = DOCS / f"panel_{sample}_{width}x{height}.png"
    viewer.screenshot(str(out), canvas_only=False)
    viewer.close()
    return out


if __name__ == "__main__":
    for size in ((1280, 800), (1920, 1080)):
        for sample in ("phantom_2d", "phantom_3d"):
            print(shoot(*size, sample))
