"""Screenshots of the radiological views and the Measure table (run under Xvfb).

    Xvfb :137 -screen 0 1920x1080x24 &  DISPLAY=:137 .venv/bin/python docs/make_views_screenshots.py

The held-back MR tumour series of ``../shared/data/mr_tumour`` (the CT phantom
when it is absent) through the plugin's reader, its tumour label as the
segmentation, the Segmentation Lab panel with the Grow section's plane
buttons (Coronal, Sagittal: superior up, patient left on the right) and the
Measure table (surface, sphericity, Feret, centroid). Writes
docs/views_<plane>_<w>x<h>.png.
"""

from __future__ import annotations

import time
from pathlib import Path

import napari
import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QApplication

from napari_seglab._reader import read_layers

DOCS = Path(__file__).resolve().parent
MR = DOCS.parents[1] / "shared" / "data" / "mr_tumour"


def _wait(condition, seconds=60):
    app = QApplication.instance()
    end = time.monotonic() + seconds
    while not condition() and time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def _layers():
    if MR.is_dir():
        image = read_layers(MR / "brain2_image.nrrd")[0]
        labels = read_layers(MR / "brain2_label.nrrd")[0]
        names = ["background", "tumour"]
    else:
        from napari_seglab._ct_sample import ct_phantom_sample

        image, truth = ct_phantom_sample()[:2]
        labels = truth
        names = ["air", "fat", "soft tissue", "bone"]
    data, kwargs, _ = labels
    kwargs = {k: v for k, v in kwargs.items() if k in ("scale", "translate", "metadata")}
    kwargs.update(name="segmentation", opacity=0.6,
                  features={"index": list(range(len(names))), "name": names})
    return image, (np.asarray(data).astype(np.uint8), kwargs, "labels")


def shoot(width, height, planes):
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(width, height)
    (data, kwargs, _), labels = _layers()
    viewer.add_image(data, **kwargs)
    layer = viewer.add_labels(labels[0], **labels[1])
    dock, panel = viewer.window.add_plugin_dock_widget("napari-seglab", "Segmentation Lab")
    # wide enough for the Measure table's shape columns
    viewer.window._qt_window.resizeDocks([dock], [int(width * 0.42)], Qt.Orientation.Horizontal)
    for title, section in panel.sections.items():
        section.set_expanded(title in ("Grow from seeds", "Measure"))
    measure = panel.widgets["Measure"]
    _wait(lambda: measure.table_data is not None and measure.table.rowCount() > 0)
    views = panel.widgets["Grow from seeds"].views
    centre = np.argwhere(layer.data > 0).mean(axis=0)
    world = layer.data_to_world(centre)
    written = []
    for plane in planes:
        views.buttons[plane].click()
        viewer.dims.set_point(range(3), world)
        viewer.reset_view()
        panel.scroll.ensureWidgetVisible(measure.table)
        bar = measure.table.horizontalScrollBar()
        bar.setValue(bar.maximum())  # the new columns, if the table still scrolls
        _wait(lambda: False, 1.5)  # let the canvas draw
        out = DOCS / f"views_{plane.lower()}_{width}x{height}.png"
        viewer.screenshot(str(out), canvas_only=False)
        written.append(out)
    viewer.close()
    return written


def shoot_range(width, height):
    """The CT phantom sample, a few strokes, Segment: the Measure table with volume ± range."""
    from napari_seglab.core.phantoms import scribble_seeds

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(width, height)
    viewer.open_sample("napari-seglab", "ct_phantom")
    dock, panel = viewer.window.add_plugin_dock_widget("napari-seglab", "Segmentation Lab")
    viewer.window._qt_window.resizeDocks([dock], [int(width * 0.42)], Qt.Orientation.Horizontal)
    seeds = viewer.layers["seeds"]
    strokes = scribble_seeds(viewer.layers["ground truth"].data, strokes_per_class=3)
    index = np.nonzero(strokes)
    seeds.data_setitem(index, strokes[index])
    done = []
    panel.segmentation.finished_run.connect(done.append)
    panel.segmentation.run.native.click()
    _wait(lambda: bool(done), 180)
    for title, section in panel.sections.items():
        section.set_expanded(title == "Measure")
    measure = panel.widgets["Measure"]
    measure.labels_combo.setCurrentText(done[0].name)
    _wait(lambda: measure.table_data is not None
          and any("volume_low_mm3" in row for row in measure.table_data.rows))
    views = panel.widgets["Grow from seeds"].views
    views.buttons["Coronal"].click()
    viewer.reset_view()
    panel.scroll.ensureWidgetVisible(measure.table)
    _wait(lambda: False, 1.5)
    out = DOCS / f"measure_range_{width}x{height}.png"
    viewer.screenshot(str(out), canvas_only=False)
    viewer.close()
    return out


if __name__ == "__main__":
    print(shoot(1280, 800, ["Coronal"]))
    print(shoot(1920, 1080, ["Coronal", "Sagittal"]))
    print(shoot_range(1920, 1080))
