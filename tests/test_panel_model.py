"""The panel model's role rules, through the real panel on the sample data.

Every section reads its layers from one model: tools that edit labels target
the segmentation, never the ground truth; Paint as seeds writes only into the
seeds; display layers the plugin makes are never offered as inputs; Evaluation
scores only with a ground truth; a stale overlay goes with its inputs.
"""

import numpy as np
import pytest
from gui_helpers import scribble_and_segment
from napari.components import ViewerModel
from napari.layers import Layer

from napari_seglab import _sample_data
from napari_seglab._widgets.panel_model import is_helper, model_for
from napari_seglab.core.phantoms import scribble_seeds

pytestmark = pytest.mark.gui


def _panel(viewer, sample="phantom_2d"):
    viewer.open_sample("napari-seglab", sample)
    _, panel = viewer.window.add_plugin_dock_widget("napari-seglab", "Segmentation Lab")
    return panel


def _segment(panel, viewer, qtbot):
    return scribble_and_segment(viewer, qtbot, panel)


def _offered(panel):
    """Every layer any picker of the panel offers, by section."""
    seg, ev, w = panel.segmentation, panel.evaluation, panel.widgets
    names = {
        "image": [n for n, _ in seg.image.get_choices()] if hasattr(seg.image, "get_choices")
        else [c.name for c in seg.image.choices],
        "seeds": [c.name for c in seg.seeds.choices],
        "truth": [c.name for c in ev.truth.choices if c is not None],
        "pred": [c.name for c in ev.pred.choices if c is not None],
    }
    for title in ("Clean up", "Measure"):
        combo = w[title].layer_combo if title == "Clean up" else w[title].labels_combo
        names[title] = [combo.itemText(i) for i in range(combo.count())]
    fs = w["Feature space"]
    names["fs image"] = [fs.image_combo.itemText(i) for i in range(fs.image_combo.count())]
    names["fs seeds"] = [fs.seeds_combo.itemText(i) for i in range(fs.seeds_combo.count())]
    grow = w["Grow from seeds"]
    for key, combo in (("grow image", grow.image_combo), ("grow seeds", grow.seeds_combo),
                       ("grow mask", grow.mask_combo)):
        names[key] = [combo.itemText(i) for i in range(combo.count())]
    return names


def test_tools_that_edit_labels_target_the_segmentation_never_the_truth(
        make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    panel = _panel(viewer)
    truth = viewer.layers["ground truth"]
    truth_before = np.array(truth.data)
    segmentation = _segment(panel, viewer, qtbot)
    cleanup, measure = panel.widgets["Clean up"], panel.widgets["Measure"]
    fs = panel.widgets["Feature space"]
    # Each picker shows the segmentation / the seeds, and none offers the truth.
    assert cleanup.layer_combo.currentText() == "segmentation"
    assert measure.labels_combo.currentText() == "segmentation"
    assert fs.seeds_combo.currentText() == "seeds"
    offered = _offered(panel)
    for key in ("Clean up", "Measure", "fs seeds", "grow seeds", "seeds", "pred"):
        assert "ground truth" not in offered[key], key
    # Clean up > Apply with its defaults: the segmentation changes, the truth never.
    seg_before = np.array(segmentation.data)
    cleanup.apply_button.click()
    qtbot.waitUntil(lambda: not cleanup.busy, timeout=30_000)
    assert "voxels changed" in cleanup.status.text()
    np.testing.assert_array_equal(truth.data, truth_before)
    changed = int((np.asarray(segmentation.data) != seg_before).sum())
    assert str(changed) in cleanup.status.text()


def test_display_layers_are_never_offered_as_inputs(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    panel = _panel(viewer)
    panel.segmentation.show_uncertainty.value = True
    _segment(panel, viewer, qtbot)
    qtbot.waitUntil(lambda: "confusion" in viewer.layers, timeout=10_000)
    fs = panel.widgets["Feature space"]
    panel.expand("Feature space")
    qtbot.waitUntil(lambda: fs._current is not None and not fs.busy, timeout=30_000)
    x = fs._current["x"]
    y = fs._current["y"]
    fs.select_polygon([(x.min(), y.min()), (x.max(), y.min()), (x.max(), y.max())])
    helpers = [layer.name for layer in viewer.layers if is_helper(layer)]
    assert {"confusion", "uncertainty", "feature-space selection"} <= set(helpers)
    for key, names in _offered(panel).items():
        assert not set(names) & set(helpers), (key, names)
    # The lasso kept the seeds the active layer (not the ground truth).
    assert viewer.layers.selection.active is viewer.layers["seeds"]


def test_paint_as_seeds_writes_only_into_the_seeds_in_3d(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    panel = _panel(viewer, "phantom_3d")
    truth = viewer.layers["ground truth"]
    truth_before = np.array(truth.data)
    seeds = viewer.layers["seeds"]
    fs = panel.widgets["Feature space"]
    panel.expand("Feature space")
    qtbot.waitUntil(lambda: fs._current is not None and not fs.busy, timeout=60_000)
    assert fs.seeds_combo.currentText() == "seeds"
    x, y = fs._current["x"], fs._current["y"]
    mx = float(np.median(x))
    fs.select_polygon([(x.min(), y.min()), (mx, y.min()), (mx, y.max()), (x.min(), y.max())])
    qtbot.waitUntil(lambda: fs._selection is not None, timeout=30_000)
    selected = fs.selection_indices()
    fs.paint_selection(label=2)
    painted = np.asarray(seeds.data)
    assert (painted[selected] == 2).all()
    assert int((painted != 0).sum()) == selected[0].size
    np.testing.assert_array_equal(truth.data, truth_before)
    assert viewer.layers.selection.active is seeds


def test_evaluation_scores_only_with_a_ground_truth(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    panel = _panel(viewer)
    ev = panel.evaluation
    truth = viewer.layers["ground truth"]
    viewer.layers.remove(truth)  # a user's own image has no answer
    _segment_without_truth = scribble_seeds(truth.data)
    index = np.nonzero(_segment_without_truth)
    viewer.layers["seeds"].data_setitem(index, _segment_without_truth[index])
    with qtbot.waitSignal(panel.segmentation.finished_run, timeout=60_000):
        panel.segmentation.run.native.click()
    assert ev.truth.value is None and ev.pred.value is viewer.layers["segmentation"]
    qtbot.waitUntil(lambda: "No ground truth" in ev.results.value, timeout=5000)
    assert ev.matrix.native.isHidden() and ev.last_scores == {}
    assert "confusion" not in viewer.layers
    # Given one, it scores; taken away, the overlay goes with it.
    viewer.add_layer(truth)
    qtbot.waitUntil(lambda: "Mean Dice" in ev.results.value, timeout=5000)
    assert not ev.matrix.native.isHidden() and "confusion" in viewer.layers
    viewer.layers.remove(truth)
    qtbot.waitUntil(lambda: "confusion" not in viewer.layers, timeout=5000)
    assert "No ground truth" in ev.results.value


def test_model_roles_without_qt():
    viewer = ViewerModel()
    for data, meta, kind in _sample_data.phantom_2d():
        viewer.add_layer(Layer.create(data, meta, kind))
    model = model_for(viewer)
    assert model_for(viewer) is model
    assert (model.image.name, model.seeds.name, model.truth.name) == (
        "phantom 2D", "seeds", "ground truth")
    assert model.segmentation is None  # nothing made yet: never the truth
    with pytest.raises(ValueError, match="cannot be the segmentation"):
        model.set("segmentation", viewer.layers["ground truth"])
    other = viewer.add_labels(np.zeros((256, 256), np.uint8), name="Labels")
    model.set("segmentation", other)
    assert model.segmentation is other and model.seeds.name == "seeds"
    viewer.layers.remove(other)
    assert model.segmentation is None


def test_named_classes_flow_to_evaluation_csv_results_and_feature_space(
        make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    panel = _panel(viewer)
    seg, ev = panel.segmentation, panel.evaluation
    segmentation = _segment(panel, viewer, qtbot)
    qtbot.waitUntil(lambda: "Mean Dice" in ev.results.value, timeout=10_000)
    # Truth → class chosen by name (the truth's 0 "background" is class 1), and said.
    assert panel.segmentation.panel_model.mapping == {0: 1, 1: 2, 2: 3}
    assert "class name" in ev.mapping_note.value
    editor = seg.class_editor
    qtbot.waitUntil(lambda: set(editor.rows) == {1, 2, 3}, timeout=5000)
    editor.rename(2, "grey matter")
    editor.pick_colour(3, "#ff8000")
    # The seeds, the result, the Evaluation table and CSV, the legend: one name.
    assert seg.panel_model.class_names()[2] == "grey matter"
    assert list(segmentation.features["name"]) == ["background", "grey matter", "fluid"]
    assert tuple(np.round(segmentation.get_color(3)[:3] * 255)) == (255, 128, 0)
    qtbot.waitUntil(lambda: "grey matter" in ev.results.value, timeout=5000)
    assert "grey matter" in ev.last_csv
    qtbot.waitUntil(lambda: "grey matter" in seg.legend.value, timeout=5000)
    fs = panel.widgets["Feature space"]
    panel.expand("Feature space")
    qtbot.waitUntil(lambda: "grey matter" in fs.legend.text(), timeout=30_000)
    # The mapping stays as the user sets it, through another Segment.
    ev._mapping_widgets[2].value = 2  # fluid scored as tissue: a deliberate choice
    assert seg.panel_model.mapping == {0: 1, 1: 2, 2: 2}
    assert "as you set it" in ev.mapping_note.value
    with qtbot.waitSignal(seg.finished_run, timeout=60_000):
        seg.run.native.click()
    qtbot.waitUntil(lambda: ev._mapping_widgets[2].value == 2, timeout=5000)
    assert seg.panel_model.mapping == {0: 1, 1: 2, 2: 2}
