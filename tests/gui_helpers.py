"""What several GUI tests do the user's way: open a dock from the Plugins menu, paint."""

import numpy as np


def dock(viewer, name="Seeded segmentation"):
    """The widget of the plugin's dock ``name``, opened as the Plugins menu does
    (a separate section's dock is a scroll area around it: the section itself)."""
    _, widget = viewer.window.add_plugin_dock_widget("napari-seglab", name)
    return getattr(widget, "section", widget)


def paint(layer, mask, value):
    """Paint ``value`` where ``mask`` is set, as the brush does (undo history, paint event)."""
    layer.data_setitem(np.nonzero(mask), value)
