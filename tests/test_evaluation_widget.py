"""The Evaluation panel: per-class table, seed exclusion, CSV, slice scope."""

import csv
import io

import numpy as np
import pytest
from qtpy.QtWidgets import QApplication

from napari_seglab import metrics
from napari_seglab._widgets.evaluation import SLICE

pytestmark = pytest.mark.gui


def setup(viewer, qtbot, sample="phantom_2d", flip=True):
    """The sample, the panel, and a segmentation = truth + 1 with known errors."""
    viewer.open_sample("napari-seglab", sample)
    ev = viewer.window.add_plugin_dock_widget("napari-seglab", "Evaluation")[1].section
    truth = np.asarray(viewer.layers["ground truth"].data)
    seg = (truth + 1).astype(np.uint8)
    if flip:  # a block of class 3 and of class 2 called class 1
        seg[..., 100:120, 100:140] = 1
        seg[..., 40:50, 40:60] = 1
    layer = viewer.add_labels(seg, name="segmentation",
                              scale=viewer.layers["ground truth"].scale)
    ev.reset_choices()
    assert ev.pred.value is layer
    qtbot.waitUntil(lambda: "Mean Dice" in ev.results.value, timeout=3000)
    return ev, truth + 1, layer  # truth in the segmentation's numbering


def expected(truth, pred, mask=None):
    """Reference numbers from the public metrics (labels 1..3)."""
    keep = None if mask is None else ~mask
    return (metrics.summary(truth, pred, labels=[1, 2, 3], mask=keep),
            metrics.per_class(truth, pred, labels=[1, 2, 3], mask=keep))


def check_table(ev, summary, table):
    s = ev.last_scores
    assert s["mean_dice"] == pytest.approx(summary["mean_dice"], abs=1e-12, nan_ok=True)
    assert s["accuracy"] == pytest.approx(summary["accuracy"], abs=1e-12, nan_ok=True)
    assert s["mcc"] == pytest.approx(summary["mcc"], abs=1e-12, nan_ok=True)
    assert s["dice"] == pytest.approx(summary["dice"], abs=1e-12, nan_ok=True)
    for c in (1, 2, 3):
        row = s["per_class"][c]
        for key in ("dice", "precision", "recall", "tp", "fp", "fn", "tn"):
            assert row[key] == pytest.approx(table[c][key], abs=1e-12, nan_ok=True), key
        assert row["truth_voxels"] == table[c]["tp"] + table[c]["fn"]
        assert row["predicted_voxels"] == table[c]["tp"] + table[c]["fp"]


def test_table_equals_metrics(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    ev, truth, layer = setup(viewer, qtbot)
    ev.exclude_seeds.value = False
    summary, table = expected(truth, layer.data)
    assert summary["mean_dice"] < 0.99  # the flipped blocks are errors
    check_table(ev, summary, table)
    text = ev.results.value
    assert f"{summary['mean_dice']:.4f}" in text and "MCC" in text
    assert f"{table[3]['precision']:.4f}" in text and f"{table[3]['recall']:.4f}" in text
    # The confusion matrix shown is the one of the public metrics.
    cm = metrics.confusion_matrix(truth, layer.data, labels=[1, 2, 3])
    np.testing.assert_array_equal(ev.last_scores["confusion"], cm)
    assert ev.matrix.data.to_list() == [[f"{v:,}" for v in row] for row in cm.tolist()]
    # Overlay: class 3 (the rarest) vs rest.
    overlay = viewer.layers["confusion"].data
    assert ev.positive.value == 3
    assert (overlay[100:120, 100:140][truth[100:120, 100:140] == 3] == 3).all()  # FN


def test_seed_pixels_excluded(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    ev, truth, layer = setup(viewer, qtbot)
    seeds = viewer.layers["seeds"]
    ev.exclude_seeds.value = True
    assert ev.seeds.value is seeds
    # Nothing painted: nothing excluded, one number.
    assert ev.last_scores["seed_pixels_excluded"] == 0
    assert "with seeds" not in ev.results.value

    # Seeds over the wrong block: leaving them out raises the score.
    wrong = np.zeros(truth.shape, bool)
    wrong[100:110, 100:140] = True
    index = np.nonzero(wrong)
    seeds.data_setitem(index, truth[index])
    qtbot.waitUntil(lambda: ev.last_scores["seed_pixels_excluded"] == wrong.sum(),
                    timeout=3000)
    summary, table = expected(truth, layer.data, mask=wrong)
    check_table(ev, summary, table)
    with_seeds = metrics.summary(truth, layer.data, labels=[1, 2, 3])["mean_dice"]
    assert ev.last_scores["mean_dice"] > with_seeds
    assert ev.last_scores["mean_dice_with_seeds"] == pytest.approx(with_seeds, abs=1e-12)
    assert (f"Mean Dice</b> {summary['mean_dice']:.4f} ({with_seeds:.4f} with seeds)"
            in ev.results.value)

    # Seeds on correct pixels of class 1: excluding them lowers its Dice.
    seeds.data_setitem(index, 0)
    right = np.zeros(truth.shape, bool)
    right[0:30, 0:30] = True
    assert (truth[right] == layer.data[right]).all()
    index = np.nonzero(right)
    seeds.data_setitem(index, truth[index])
    qtbot.waitUntil(lambda: ev.last_scores["seed_pixels_excluded"] == right.sum(),
                    timeout=3000)
    tp, fp, fn = (metrics.per_class(truth, layer.data)[1][k] for k in ("tp", "fp", "fn"))
    tp -= right.sum()
    assert ev.last_scores["dice"][1] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert ev.last_scores["mean_dice"] < ev.last_scores["mean_dice_with_seeds"]

    # Unticked: seeds count again.
    ev.exclude_seeds.value = False
    assert ev.last_scores["mean_dice"] == pytest.approx(with_seeds, abs=1e-12)
    assert ev.last_scores["seed_pixels_excluded"] == 0


def test_copy_csv(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    ev, truth, layer = setup(viewer, qtbot)
    ev.exclude_seeds.value = False
    ev.copy_csv.native.click()
    text = QApplication.clipboard().text()
    assert text == ev.last_csv
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["class", "name", "dice", "precision", "recall", "jaccard",
                             "truth_voxels", "predicted_voxels"]
    assert [int(r["class"]) for r in rows] == [1, 2, 3]
    table = metrics.per_class(truth, layer.data, labels=[1, 2, 3])
    for r in rows:
        c = int(r["class"])
        assert float(r["dice"]) == pytest.approx(table[c]["dice"], abs=1e-12, nan_ok=True)
        assert int(r["truth_voxels"]) == np.sum(truth == c)
        assert int(r["predicted_voxels"]) == np.sum(layer.data == c)
    assert rows[0]["name"]  # named after the ground truth's classes
    ev.export_csv(tmp_path / "scores.csv")
    assert (tmp_path / "scores.csv").read_text() == text


def test_current_slice_scope_follows_dims(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    ev, truth, layer = setup(viewer, qtbot, "phantom_3d")
    ev.exclude_seeds.value = False
    assert truth.ndim == 3
    whole, _ = expected(truth, layer.data)
    assert ev.last_scores["mean_dice"] == pytest.approx(whole["mean_dice"], abs=1e-12)

    ev.scope.value = SLICE
    for k in (truth.shape[0] // 2, 5):
        viewer.dims.set_current_step(0, k)
        qtbot.waitUntil(lambda k=k: ev.last_scores["slice"] == k, timeout=3000)
        summary, table = expected(truth[k], layer.data[k])
        check_table(ev, summary, table)
        assert ev.last_scores["n"] == truth[k].size
        assert f"slice {k}" in ev.results.value

    ev.scope.value = "Whole image/volume"
    assert ev.last_scores["slice"] is None
    assert ev.last_scores["mean_dice"] == pytest.approx(whole["mean_dice"], abs=1e-12)


def test_panel_updates_after_paint(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    ev, truth, layer = setup(viewer, qtbot, flip=False)
    ev.exclude_seeds.value = False
    assert ev.last_scores["mean_dice"] == 1.0
    before = ev.results.value
    index = np.nonzero(truth == 3)
    index = tuple(axis[:100] for axis in index)
    layer.data_setitem(index, 2)  # no button press after this
    qtbot.waitUntil(lambda: ev.last_scores["mean_dice"] < 1.0, timeout=3000)
    summary, table = expected(truth, layer.data)
    check_table(ev, summary, table)
    assert ev.results.value != before
    assert (viewer.layers["confusion"].data[index] == 3).all()  # FN of class 3

    # The segmentation goes away: the panel says what to do, no stale numbers.
    viewer.layers.remove(layer)
    qtbot.waitUntil(lambda: "Pick a segmentation" in ev.results.value, timeout=3000)
    # ... and the stale confusion overlay went with its input.
    assert "confusion" not in viewer.layers
    assert ev.last_scores == {} and ev.last_csv == ""


def test_per_slice_dice_curve_and_click_to_go_there(make_napari_viewer, qtbot):
    from qtpy.QtCore import QPoint, Qt

    viewer = make_napari_viewer()
    viewer.open_sample("napari-seglab", "phantom_3d")
    truth = viewer.layers["ground truth"].data
    pred = (truth + 1).astype(np.uint8)
    bad = 30
    pred[bad][truth[bad] == 1] = 1  # slice 30: tissue called background
    viewer.add_labels(pred, name="segmentation", scale=viewer.layers["ground truth"].scale)
    ev = viewer.window.add_plugin_dock_widget("napari-seglab", "Evaluation")[1].section
    ev.reset_choices()
    qtbot.waitUntil(lambda: "dice_per_slice" in ev.last_scores, timeout=5000)
    curve = ev.last_scores["dice_per_slice"]
    assert curve.shape == (truth.shape[0],)
    assert np.nanargmin(curve) == bad
    # Each value is the slice's mean Dice (no seeds painted: nothing excluded).
    d = metrics.dice(truth[bad] + 1, pred[bad], labels=[1, 2, 3])
    finite = [v for v in d.values() if np.isfinite(v)]
    assert curve[bad] == pytest.approx(np.mean(finite))
    assert not ev.curve.isHidden()

    widget = ev.curve
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton,
                     pos=QPoint(int(widget.x_of(bad)), widget.height() // 2))
    assert viewer.dims.current_step[0] == bad


def test_evaluation_mask_limits_the_pixels_scored(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-seglab", "phantom_2d")
    truth = viewer.layers["ground truth"].data
    pred = (truth + 1).astype(np.uint8)
    pred[:40] = 1  # errors in the top rows only
    viewer.add_labels(pred, name="segmentation")
    fov = np.zeros(truth.shape, np.uint8)
    fov[64:] = 1  # a field of view that leaves the errors out
    viewer.add_labels(fov, name="field of view")
    ev = viewer.window.add_plugin_dock_widget("napari-seglab", "Evaluation")[1].section
    ev.reset_choices()
    qtbot.waitUntil(lambda: "mean_dice" in ev.last_scores, timeout=5000)
    assert ev.last_scores["mean_dice"] < 1
    ev.fov.value = viewer.layers["field of view"]
    qtbot.waitUntil(lambda: ev.last_scores.get("mean_dice") == 1.0, timeout=5000)
    expected = metrics.confusion_matrix(truth + 1, pred, labels=[1, 2, 3], mask=fov > 0)
    np.testing.assert_array_equal(ev.last_scores["confusion"], expected)
    # Outside the mask nothing is coloured.
    assert not viewer.layers["confusion"].data[:64].any()


def test_panel_shows_exactly_what_evaluate_returns(make_napari_viewer, qtbot):
    # The panel is a view of metrics.evaluate: same numbers, same CSV.
    viewer = make_napari_viewer()
    ev, _, layer = setup(viewer, qtbot)
    seeds = viewer.layers["seeds"]
    seeds.data = np.zeros_like(seeds.data)
    seeds.data[30:40, 30:60] = 1
    seeds.refresh()
    ev.seeds.value = seeds
    ev.exclude_seeds.value = True
    qtbot.waitUntil(lambda: ev.last_scores.get("seed_pixels_excluded") == 300, timeout=3000)
    truth = np.asarray(viewer.layers["ground truth"].data)
    mapping = {0: 1, 1: 2, 2: 3}
    result = metrics.evaluate(truth, layer.data, exclude=seeds.data, mapping=mapping,
                              labels=[1, 2, 3], names=ev.class_names())
    assert ev.last_csv == result.to_csv()
    s = ev.last_scores
    assert s["mean_dice"] == result.mean_dice and s["accuracy"] == result.accuracy
    assert s["mcc"] == result.mcc and s["n"] == result.n
    assert s["mean_dice_with_seeds"] == result.mean_dice_with_excluded
    np.testing.assert_array_equal(s["confusion"], result.confusion)
    for c in result.classes:
        assert s["per_class"][c.label]["dice"] == c.dice
    # evaluate's Dice on the pixels not excluded equals metrics.dice there
    keep = seeds.data == 0
    assert result.dice == pytest.approx(
        metrics.dice(result_truth := metrics.map_truth(truth, mapping), layer.data,
                     labels=[1, 2, 3], mask=keep), nan_ok=True)
    assert result_truth.shape == truth.shape


def test_hundreds_of_labels_do_not_freeze_the_panel(make_napari_viewer, qtbot):
    # 400 labels: a widget per matrix cell took minutes; now a summary and a capped table.
    viewer = make_napari_viewer()
    ev = viewer.window.add_plugin_dock_widget("napari-seglab", "Evaluation")[1].section
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 400, (200, 200)).astype(np.uint16)
    pred = truth.copy()
    pred[:20] = (pred[:20] + 1) % 400
    viewer.add_labels(truth, name="ground truth")
    viewer.add_labels(pred, name="instances")
    ev.reset_choices()
    ev.truth.value = viewer.layers["ground truth"]
    ev.pred.value = viewer.layers["instances"]
    qtbot.waitUntil(lambda: len(ev.last_scores.get("labels", [])) == 400, timeout=20_000)
    assert not ev.matrix.visible
    assert "more classes" in ev.results.value
    assert ev.last_csv.count("\n") == 401  # header + every class
    assert ev.last_scores["accuracy"] == pytest.approx(0.9)
