"""The Effects section through the real widgets: set, Apply, assert the layer, undo."""

from types import SimpleNamespace

import numpy as np
import pytest
from qtpy.QtWidgets import QApplication

from napari_seglab._widgets.effect_tools import HELPER_ROLE, segmentation_layers
from napari_seglab._widgets.effects import EffectsWidget
from napari_seglab._widgets.layers import META_KEY, layer_role

SPACING = (2.0, 0.5, 0.5)
SHAPE = (8, 40, 40)


def _radius_mm(centre):
    grids = np.ogrid[tuple(slice(0, n) for n in SHAPE)]
    return np.sqrt(sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre, SPACING,
                                                              strict=True)))


def _setup(make_napari_viewer, qtbot, labels):
    viewer = make_napari_viewer()
    ramp = np.broadcast_to(np.arange(SHAPE[2], dtype=np.float32), SHAPE).copy()
    viewer.add_image(ramp, name="image", scale=SPACING)
    viewer.add_labels(np.zeros(SHAPE, np.uint8), name="ground truth", scale=SPACING)
    layer = viewer.add_labels(labels.copy(), name="segmentation", scale=SPACING)
    widget = EffectsWidget(viewer)
    qtbot.addWidget(widget)
    assert widget.layer_combo.currentText() == "segmentation"
    return viewer, layer, widget


def _apply(widget, qtbot):
    widget.apply_button.click()
    qtbot.waitUntil(lambda: not widget.job.running, timeout=20_000)


def _ball_and_block():
    labels = np.zeros(SHAPE, np.uint8)
    labels[_radius_mm((4, 20, 20)) <= 5.0] = 1
    labels[:, 30:34, :] = 2
    return labels


def test_margin_hollow_logical_islands_each_one_undo_step(make_napari_viewer, qtbot):
    labels = _ball_and_block()
    viewer, layer, widget = _setup(make_napari_viewer, qtbot, labels)
    combo = [widget.layer_combo.itemText(i) for i in range(widget.layer_combo.count())]
    assert "ground truth" not in combo
    layer.selected_label = 1
    assert widget.segment.value() == 1          # follows the brush's label

    widget.effect.setCurrentText("Margin")
    assert widget.margin.suffix() == " mm"
    widget.margin.setValue(2.0)
    _apply(widget, qtbot)
    grown = layer.data.copy()
    assert (grown[_radius_mm((4, 20, 20)) <= 5.9] != 0).all()  # 5 + 2 mm, a voxel less
    np.testing.assert_array_equal(grown == 2, labels == 2)   # never over segment 2
    assert "voxels changed" in widget.status.text()

    widget.effect.setCurrentText("Hollow")
    widget.thickness.setValue(2.0)
    _apply(widget, qtbot)
    assert layer.data[4, 20, 20] == 0 and (layer.data == 1).sum() < (grown == 1).sum()
    layer.undo()
    np.testing.assert_array_equal(layer.data, grown)
    layer.undo()
    np.testing.assert_array_equal(layer.data, labels)

    widget.effect.setCurrentText("Logical operators")
    widget.logical_op.setCurrentText("Add other (union)")
    widget.other_layer.setCurrentText("(another segment)")
    widget.other_segment.setValue(2)
    _apply(widget, qtbot)
    np.testing.assert_array_equal(layer.data, np.where(labels == 2, 1, labels))
    layer.undo()
    widget.logical_op.setCurrentText("Invert")
    assert not widget.other_layer.isEnabled()
    _apply(widget, qtbot)
    assert (layer.data[labels == 0] == 1).all() and (layer.data[labels == 1] == 0).all()
    layer.undo()
    np.testing.assert_array_equal(layer.data, labels)

    layer.data_setitem(np.nonzero(np.pad(np.ones((1, 2, 2), bool), ((0, 7), (0, 38), (0, 38)))),
                       1)   # a small island at the corner: 4 voxels = 2 mm³
    with_island = layer.data.copy()
    widget.effect.setCurrentText("Islands")
    widget.islands_mode.setCurrentText("Split islands into segments")
    _apply(widget, qtbot)
    assert set(np.unique(layer.data)) == {0, 1, 2, 3} and (layer.data[0, :2, :2] == 3).all()
    layer.undo()
    widget.islands_mode.setCurrentText("Remove small islands")
    widget.min_size.setValue(5.0)
    _apply(widget, qtbot)
    np.testing.assert_array_equal(layer.data, labels)
    layer.undo()
    np.testing.assert_array_equal(layer.data, with_island)


def test_keep_selected_island_waits_for_a_click(make_napari_viewer, qtbot):
    labels = np.zeros(SHAPE, np.uint8)
    labels[2:5, 5:10, 5:10] = 1
    labels[2:5, 25:30, 25:30] = 1
    viewer, layer, widget = _setup(make_napari_viewer, qtbot, labels)
    widget.effect.setCurrentText("Islands")
    widget.islands_mode.setCurrentText("Keep selected island")
    _apply(widget, qtbot)
    assert "Click the island" in widget.status.text()
    np.testing.assert_array_equal(layer.data, labels)
    assert widget._pick_island in viewer.mouse_drag_callbacks
    world = layer.data_to_world((3, 27, 27))
    for callback in list(viewer.mouse_drag_callbacks):   # what a click on the canvas runs
        callback(viewer, SimpleNamespace(type="mouse_press", position=world))
    qtbot.waitUntil(lambda: not widget.job.running, timeout=20_000)
    assert not layer.data[:, :15, :15].any() and (layer.data[2:5, 25:30, 25:30] == 1).all()
    assert widget._pick_island not in viewer.mouse_drag_callbacks
    layer.undo()
    np.testing.assert_array_equal(layer.data, labels)


def test_threshold_preview_apply_and_paint_mask(make_napari_viewer, qtbot):
    labels = np.zeros(SHAPE, np.uint8)
    labels[:, :, 35:] = 2
    viewer, layer, widget = _setup(make_napari_viewer, qtbot, labels)
    layer.selected_label = 1
    widget.effect.setCurrentText("Threshold")
    widget.image_combo.setCurrentText("image")
    widget.low.setValue(10)
    widget.high.setValue(19)
    widget.preview.setChecked(True)
    preview = viewer.layers["threshold preview"]
    assert layer_role(preview) == HELPER_ROLE
    assert preview not in segmentation_layers(viewer)
    assert (preview.data != 0).sum(axis=(0, 1)).tolist() == [0] * 10 + [320] * 10 + [0] * 20
    widget.high.setValue(24)                        # the preview follows the range
    assert (preview.data[0, 0] != 0).sum() == 15
    _apply(widget, qtbot)
    assert (layer.data[..., 10:25] == 1).all() and not (layer.data[..., :10] == 1).any()
    layer.undo()
    np.testing.assert_array_equal(layer.data, labels)
    widget.mask_button.click()
    kept = viewer.layers["threshold mask"]
    assert layer_role(kept) is None                  # the user's layer, not a helper
    np.testing.assert_array_equal(kept.data[0, 0] != 0, (np.arange(40) >= 10)
                                  & (np.arange(40) <= 24))
    assert widget.other_layer.findText("threshold mask") >= 0   # Logical's other
    widget.effect.setCurrentText("Margin")          # another effect: the preview goes
    assert "threshold preview" not in viewer.layers
    widget.effect.setCurrentText("Threshold")
    widget.preview.setChecked(True)
    viewer.layers.remove("threshold preview")       # deleted by the user: preview off
    assert not widget.preview.isChecked() and "threshold preview" not in viewer.layers
    widget.preview.setChecked(True)
    viewer.layers.remove("image")                   # its image gone: so is the preview
    assert "threshold preview" not in viewer.layers
    viewer.add_image(np.broadcast_to(np.arange(40, dtype=np.float32), SHAPE).copy(),
                     name="image", scale=SPACING)

    widget.effect.setCurrentText("Threshold")
    widget.use_as_mask.setChecked(True)
    layer.brush_size = 30
    layer.paint((4, 20, 20), 1)                     # a stroke across the whole range
    qtbot.waitUntil(lambda: widget.paint_mask.reverted > 0)  # once napari has written
    painted = layer.data[4] == 1
    assert painted.any()
    assert (np.flatnonzero(painted.any(axis=0)) >= 10).all()
    assert (np.flatnonzero(painted.any(axis=0)) <= 24).all()
    layer.undo()                                    # one Ctrl+Z: the whole stroke
    np.testing.assert_array_equal(layer.data, labels)
    layer.redo()
    np.testing.assert_array_equal(layer.data[4] == 1, painted)
    reverted = widget.paint_mask.reverted
    widget.effect.setCurrentText("Margin")   # an effect's own write is not masked
    widget.margin.setValue(2.0)
    _apply(widget, qtbot)
    QApplication.processEvents()             # (a correction would be queued)
    assert widget.paint_mask.reverted == reverted
    assert (layer.data[4, 20, 25:29] == 1).all()
    widget.use_as_mask.setChecked(False)
    layer.paint((5, 20, 5), 1)
    assert layer.data[5, 20, 5] == 1                 # unmasked again

    widget.effect.setCurrentText("Threshold")
    widget.preview.setChecked(True)
    assert "threshold preview" in viewer.layers
    viewer.layers.clear()                            # as closing does: no preview comes back
    assert len(viewer.layers) == 0


def test_scissors_erase_through_all_slices_and_fill_one(make_napari_viewer, qtbot):
    labels = np.zeros(SHAPE, np.uint8)
    labels[:, 5:35, 5:35] = 1
    viewer, layer, widget = _setup(make_napari_viewer, qtbot, labels)
    viewer.dims.set_current_step(0, 3)
    widget.effect.setCurrentText("Scissors")
    widget.draw_button.click()
    shapes = viewer.layers["scissors"]
    assert viewer.layers.selection.active is shapes and shapes.mode == "add_polygon"
    assert layer_role(shapes) == HELPER_ROLE and shapes.metadata[META_KEY]["source"] == \
        "segmentation"
    shapes.add([[3, 10, 10], [3, 10, 20], [3, 20, 20], [3, 20, 10]], shape_type="rectangle")
    widget.scissors_op.setCurrentText("Erase inside")
    _apply(widget, qtbot)
    assert not layer.data[:, 11:20, 11:20].any()         # every slice
    assert (layer.data[:, 25, 25] == 1).all()
    assert len(shapes.data) == 0                         # used up
    layer.undo()
    np.testing.assert_array_equal(layer.data, labels)

    layer.selected_label = 4
    shapes.add([[3, 0, 0], [3, 0, 8], [3, 8, 8], [3, 8, 0]], shape_type="rectangle")
    widget.scissors_op.setCurrentText("Fill inside")
    widget.all_slices.setChecked(False)
    _apply(widget, qtbot)
    assert (layer.data[3, 1:5, 1:5] == 4).all()
    assert (layer.data == 4).sum(axis=(1, 2)).nonzero()[0].tolist() == [3]
    assert (layer.data[3, 6:8, 6:8] == 1).all()          # never over another segment

    widget.apply_button.click()                          # nothing drawn: says so
    assert "Draw a shape first" in widget.status.text()


def test_fill_between_slices_on_the_active_segment(make_napari_viewer, qtbot):
    labels = np.zeros(SHAPE, np.uint8)
    rows, cols = np.ogrid[:40, :40]
    labels[0][(rows - 20) ** 2 + (cols - 20) ** 2 <= 12 ** 2] = 3
    labels[6][(rows - 20) ** 2 + (cols - 20) ** 2 <= 4 ** 2] = 3
    labels[3, 0:2, 0:2] = 1
    viewer, layer, widget = _setup(make_napari_viewer, qtbot, labels)
    layer.selected_label = 3
    widget.effect.setCurrentText("Fill between slices")
    assert "axis 0" in widget.axis_hint.text()
    _apply(widget, qtbot)
    areas = (layer.data == 3).sum(axis=(1, 2))
    assert areas[0] > areas[1] > areas[3] > areas[5] > areas[6] > 0 and areas[7] == 0
    np.testing.assert_array_equal(layer.data[[0, 6]], labels[[0, 6]])
    assert (layer.data[3, 0:2, 0:2] == 1).all()
    layer.undo()
    np.testing.assert_array_equal(layer.data, labels)


@pytest.mark.parametrize("effect", ["Margin", "Fill between slices"])
def test_an_absent_segment_warns_and_leaves_the_layer(make_napari_viewer, qtbot, effect):
    labels = np.zeros(SHAPE, np.uint8)
    labels[2, 5:10, 5:10] = 1
    viewer, layer, widget = _setup(make_napari_viewer, qtbot, labels)
    widget.segment.setValue(7)
    widget.effect.setCurrentText(effect)
    _apply(widget, qtbot)
    assert "not done" in widget.status.text()
    np.testing.assert_array_equal(layer.data, labels)


def test_viewing_axis_segmentation_layers_and_shapes_without_qt():
    from napari.components import ViewerModel

    from napari_seglab._widgets.effect_tools import shapes_region, viewing_axis

    viewer = ViewerModel()
    seg = viewer.add_labels(np.zeros(SHAPE, np.uint8), name="mine")
    viewer.add_labels(np.zeros(SHAPE, np.uint8), name="Ground truth")
    viewer.add_labels(np.zeros(SHAPE, np.uint8), name="overlay",
                      metadata={META_KEY: {"role": "confusion"}})
    ours = viewer.add_labels(np.zeros(SHAPE, np.uint8), name="result",
                             metadata={META_KEY: {"role": "segmentation"}})
    assert segmentation_layers(viewer) == [ours, seg]
    assert viewing_axis(viewer, seg) == 0
    viewer.dims.order = (1, 0, 2)                      # a coronal view: rows across it
    assert viewing_axis(viewer, seg) == 1
    shapes = viewer.add_shapes(ndim=3)
    shapes.add([[0, 3, 10], [0, 3, 30], [6, 3, 30], [6, 3, 10]], shape_type="ellipse")
    shapes.add([[0, 3, 0], [7, 3, 39]], shape_type="line")
    region, skipped = shapes_region(shapes, SHAPE, 1, all_slices=False)
    assert skipped == 1
    assert region[:, 3].sum() > 0 and not region[:, 2].any()   # only the drawn row
    assert region[3, 3, 20] and not region[3, 3, 5] and not region[0, 3, 10]  # an ellipse
    region, _ = shapes_region(shapes, SHAPE, 1)
    assert (region[3, :, 20]).all()                            # through every row
    viewer.dims.ndisplay = 3
    assert viewing_axis(viewer, seg) == 0
    assert viewing_axis(viewer, viewer.add_labels(np.zeros((4, 4), np.uint8))) is None
