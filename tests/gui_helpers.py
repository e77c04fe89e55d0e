"""What several GUI tests do the user's way: open a dock from the Plugins menu, paint."""

import numpy as np


def dock(viewer, name="Seeded segmentation"):
    """The widget of the plugin's dock ``name``, opened as the Plugins menu does."""
    _, widget = viewer.window.add_plugin_dock_widget("napari-seglab", name)
    return widget


def paint(layer, mask, value):
    """Paint ``value`` where ``mask`` is set, as the brush does (undo history, paint event)."""
    layer.data_setitem(np.nonzero(mask), value)
