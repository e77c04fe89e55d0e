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


def _segmented(width, height, sample):
    """A shown viewer with the sample, a few strokes painted and Segment run."""
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
    return viewer, panel


def shoot(width, height, sample):
    viewer, panel = _segmented(width, height, sample)
    if height >= 1000:
        panel.expand("Features")
    panel.scroll.ensureWidgetVisible(panel.evaluation.results.native)
    _wait(lambda: False, 1)  # let the canvas draw
    out = DOCS / f"panel_{sample}_{width}x{height}.png"
    viewer.screenshot(str(out), canvas_only=False)
    viewer.close()
    return out


def shoot_sections(width, height, sample="phantom_2d"):
    """Every section expanded, one picture of the panel scrolled to each.

    Writes docs/panel_sections_<w>x<h>/<section>.png: what the dock shows at
    its default width, to check that nothing is clipped.
    """
    viewer, panel = _segmented(width, height, sample)
    folder = DOCS / f"panel_sections_{width}x{height}"
    folder.mkdir(exist_ok=True)
    for title in panel.sections:
        panel.expand(title)
    _wait(lambda: False, 3)  # feature space and measure fill in
    paths = []
    for title, section in panel.sections.items():
        panel.scroll.verticalScrollBar().setValue(section.y())
        _wait(lambda: False, 0.3)
        out = folder / (title.lower().replace(" & ", "_").replace(" ", "_") + ".png")
        panel.grab().save(str(out))
        paths.append(out)
    viewer.close()
    return paths


if __name__ == "__main__":
    import sys

    if "--sections" in sys.argv:
        for size in ((1280, 800), (1920, 1080)):
            print(*shoot_sections(*size), sep="\n")
        raise SystemExit
    for size in ((1280, 800), (1920, 1080)):
        for sample in ("phantom_2d", "phantom_3d"):
            print(shoot(*size, sample))
