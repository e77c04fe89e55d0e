"""Regenerate the README screenshots: a real napari window under Xvfb.

    Xvfb :99 -screen 0 1600x1000x24 & DISPLAY=:99 QT_QPA_PLATFORM=xcb \
        .venv/bin/python docs/make_screenshots.py

It plays the user's path: open a sample, paint scribbles through the Labels
API, press Segment, let the Evaluation panel follow, grab the window.
"""

from __future__ import annotations

import sys
from pathlib import Path

import napari
import numpy as np
from qtpy.QtWidgets import QApplication

from napari_seglab.core.phantoms import scribble_seeds

HERE = Path(__file__).resolve().parent


def wait(condition, timeout=120.0):
    import time

    end = time.monotonic() + timeout
    while not condition():
        QApplication.processEvents()
        if time.monotonic() > end:
            raise TimeoutError("the widget did not finish in time")
        time.sleep(0.02)


def play(sample: str, out: Path, *, method="kNN", ndisplay=2):
    viewer = napari.Viewer(title="napari-seglab", show=True)
    viewer.window._qt_window.resize(1500, 950)
    viewer.open_sample("napari-seglab", sample)
    _, seg = viewer.window.add_plugin_dock_widget("napari-seglab", "Seeded segmentation")
    _, ev = viewer.window.add_plugin_dock_widget("napari-seglab", "Evaluation")
    seeds = viewer.layers["seeds"]
    scribbles = scribble_seeds(viewer.layers["ground truth"].data, strokes_per_class=3,
                               length=30)
    # Thicken strokes a little, like a brush of radius 1.
    from scipy import ndimage as ndi
    grown = ndi.grey_dilation(scribbles, size=(1,) * (scribbles.ndim - 2) + (3, 3))
    grown[scribbles > 0] = scribbles[scribbles > 0]
    index = np.nonzero(grown)
    seeds.data_setitem(index, grown[index])
    seg.method.value = method
    done = []
    seg.finished_run.connect(done.append)
    seg.run.native.click()
    wait(lambda: done)
    wait(lambda: "Mean Dice" in ev.results.value)
    if viewer.dims.ndim == 3:
        viewer.dims.set_point(0, viewer.dims.range[0].stop / 2)
    viewer.dims.ndisplay = ndisplay
    viewer.layers.selection.active = seeds
    for _ in range(20):
        QApplication.processEvents()
    viewer.screenshot(str(out), canvas_only=False)
    print(f"wrote {out}: mean Dice {ev.last_scores['mean_dice']:.4f}")
    viewer.close()


def feature_panel(out: Path):
    """The Features panel: the grid, a ranking from the seeds, a feature as a layer."""
    viewer = napari.Viewer(title="napari-seglab", show=True)
    viewer.window._qt_window.resize(1500, 1000)
    viewer.open_sample("napari-seglab", "phantom_2d")
    _, seg = viewer.window.add_plugin_dock_widget("napari-seglab", "Seeded segmentation")
    scribbles = scribble_seeds(viewer.layers["ground truth"].data, strokes_per_class=3,
                               length=30)
    index = np.nonzero(scribbles)
    viewer.layers["seeds"].data_setitem(index, scribbles[index])
    seg.method.value = "Random forest"
    grid = seg.open_feature_grid()
    done = []
    grid.ranked.connect(done.append)
    grid.layers_shown.connect(done.append)
    grid.rank_button.native.click()
    wait(lambda: len(done) == 1)
    grid.show_layers_button.native.click()
    wait(lambda: len(done) == 2)
    shown = [layer for layer in viewer.layers if "hessian" in layer.name]
    for layer in grid.feature_layers:
        layer.visible = layer is shown[-1]
    viewer.layers.selection.active = shown[-1]
    for _ in range(20):
        QApplication.processEvents()
    viewer.screenshot(str(out), canvas_only=False)
    print(f"wrote {out}")
    viewer.close()


if __name__ == "__main__":
    play("phantom_2d", HERE / "screenshot_2d.png")
    play("phantom_3d", HERE / "screenshot_3d.png")
    feature_panel(HERE / "feature_grid.png")
    sys.exit(0)
