"""The Clean up dock through the real widget: apply, one undo step reverts it."""

import numpy as np
import pytest

from napari_seglab._widgets.cleanup import OPERATIONS, CleanUpWidget, run_operation

SPACING = (2.0, 0.5, 0.5)


def test_fill_holes_then_islands_each_one_undo_step(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    labels = np.zeros((6, 30, 30), np.uint8)
    labels[1:5, 4:20, 4:20] = 1
    labels[2:4, 10:13, 10:13] = 0                 # an enclosed hole: 18 voxels
    labels[3, 25:27, 25:27] = 2                   # an island of 4 voxels = 2 mm³
    viewer.add_labels(np.zeros_like(labels), name="seeds", scale=SPACING)
    layer = viewer.add_labels(labels.copy(), name="segmentation", scale=SPACING)
    widget = CleanUpWidget(viewer)
    qtbot.addWidget(widget)
    assert widget.layer_combo.currentText() == "segmentation"

    widget.operation.setCurrentText("Fill holes")
    assert not widget.size.isEnabled()
    widget.apply_button.click()
    assert widget.busy
    qtbot.waitUntil(lambda: not widget.busy, timeout=20_000)
    assert (layer.data[2:4, 10:13, 10:13] == 1).all()
    assert "18 voxels changed" in widget.status.text()

    widget.operation.setCurrentText("Remove small islands")
    assert widget.size.suffix() == " mm³" and widget.size_label.text() == "Min volume"
    widget.size.setValue(2.5)
    widget.apply_button.click()
    qtbot.waitUntil(lambda: not widget.busy, timeout=20_000)
    assert not (layer.data == 2).any()
    assert "1 islands removed" in widget.status.text()

    layer.undo()                                  # the islands come back, holes stay filled
    assert (layer.data[3, 25:27, 25:27] == 2).all()
    assert (layer.data[2:4, 10:13, 10:13] == 1).all()
    layer.undo()                                  # the hole comes back
    np.testing.assert_array_equal(layer.data, labels)


def test_a_bad_size_warns_and_leaves_the_layer(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    labels = np.zeros((20, 20), np.uint8)
    labels[5:15, 5:15] = 1
    layer = viewer.add_labels(labels.copy(), name="segmentation")
    widget = CleanUpWidget(viewer)
    qtbot.addWidget(widget)
    widget.operation.setCurrentText("Smooth: median")
    widget.size.setValue(0.5)                     # below one pixel: refused by the core
    widget.apply_button.click()
    qtbot.waitUntil(lambda: not widget.busy, timeout=20_000)
    assert "smaller than a voxel" in widget.status.text()
    np.testing.assert_array_equal(layer.data, labels)
    assert widget.size.suffix() == " mm"


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_every_operation_runs_on_a_volume(operation):
    labels = np.zeros((6, 24, 24), np.uint8)
    labels[1:5, 3:20, 3:20] = 1
    labels[2:4, 8:14, 8:14] = 2
    result, removed = run_operation(labels, operation, 1.0, SPACING, None)
    assert result.shape == labels.shape and result.dtype == labels.dtype
