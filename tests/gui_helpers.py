"""What several GUI tests do the user's way: open a dock from the Plugins menu, paint."""

import numpy as np

from napari_seglab.core.phantoms import scribble_seeds


def dock(viewer, name="Seeded segmentation"):
    """The widget of the plugin's dock ``name``, opened as the Plugins menu does
    (a separate section's dock is a scroll area around it: the section itself)."""
    _, widget = viewer.window.add_plugin_dock_widget("napari-seglab", name)
    return getattr(widget, "section", widget)


def paint(layer, mask, value):
    """Paint ``value`` where ``mask`` is set, as the brush does (undo history, paint event)."""
    layer.data_setitem(np.nonzero(mask), value)


def scribble_and_segment(viewer, qtbot, panel):
    """Paint short strokes from the sample's ``ground truth`` into ``seeds``, press
    Segment in ``panel`` and wait for the run: the ``segmentation`` layer."""
    scribbles = scribble_seeds(viewer.layers["ground truth"].data)
    paint_where = np.nonzero(scribbles)
    viewer.layers["seeds"].data_setitem(paint_where, scribbles[paint_where])
    with qtbot.waitSignal(panel.segmentation.finished_run, timeout=60_000):
        panel.segmentation.run.native.click()
    return viewer.layers["segmentation"]
