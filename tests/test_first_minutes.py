"""The first ten minutes and nothing lost: issues a new user met, through the real widgets."""

import numpy as np
import pytest
from gui_helpers import dock, paint

import napari_seglab._widgets.jobs as jobs_module
import napari_seglab._widgets.model_files as model_files_module
import napari_seglab._widgets.segmentation as widget_module
import napari_seglab._widgets.threshold_gallery as thresholds_module
from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom

pytestmark = pytest.mark.gui


@pytest.fixture
def warnings_shown(monkeypatch):
    shown = []
    for module in (widget_module, model_files_module, thresholds_module, jobs_module):
        monkeypatch.setattr(module, "show_warning", shown.append)
    return shown


def test_undo_and_redo_of_a_stroke_are_followed(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-seglab", "phantom_2d")
    seg, ev = dock(viewer), dock(viewer, "Evaluation")
    seeds = viewer.layers["seeds"]
    scribbles = scribble_seeds(viewer.layers["ground truth"].data)
    for value in (1, 2):
        paint(seeds, scribbles == value, value)
    seg.live.value = True
    with qtbot.waitSignal(seg.live_shown, timeout=60_000):
        paint(seeds, scribbles == 3, 3)
    qtbot.waitUntil(lambda: "3: " in seg.legend.value, timeout=5000)
    (result,) = [layer for layer in viewer.layers if layer.name == "segmentation"]
    assert (result.data == 3).any()
    # Ctrl+Z: the third class is gone from the legend, the preview and the scores.
    seeds.undo()
    qtbot.waitUntil(lambda: not (result.data == 3).any(), timeout=60_000)
    qtbot.waitUntil(lambda: "fluid (" not in seg.legend.value, timeout=5000)
    assert not (seeds.data == 3).any()
    # Redo brings it back, everywhere.
    seeds.redo()
    qtbot.waitUntil(lambda: (result.data == 3).any(), timeout=60_000)
    qtbot.waitUntil(lambda: 3 in ev.last_scores.get("labels", []), timeout=5000)


def test_scores_of_another_image_keep_its_pixels(make_napari_viewer, qtbot):
    # After Apply model to a second image, the training image's seeds are not its seeds.
    viewer = make_napari_viewer()
    a, truth = tissue_phantom((96, 96), random_state=0)
    b, truth_b = tissue_phantom((96, 96), random_state=1)
    viewer.add_image(a, name="subject 1")
    viewer.add_image(b, name="subject 2")
    viewer.add_labels(truth_b.astype(np.uint8), name="ground truth 2")
    seeds = viewer.add_labels(np.zeros((96, 96), np.uint8), name="seeds")
    seg, ev = dock(viewer), dock(viewer, "Evaluation")
    scribbles = scribble_seeds(truth, length=12)
    paint(seeds, scribbles > 0, scribbles[scribbles > 0])
    seg.image.value = viewer.layers["subject 1"]
    with qtbot.waitSignal(seg.finished_run, timeout=60_000):
        seg.run.native.click()
    seg.apply_to.value = viewer.layers["subject 2"]
    with qtbot.waitSignal(seg.finished_run, timeout=60_000) as blocker:
        seg.apply.native.click()
    applied = blocker.args[0]
    ev.reset_choices()
    ev.truth.value = viewer.layers["ground truth 2"]
    ev.pred.value = applied
    ev.exclude_seeds.value = True
    qtbot.waitUntil(lambda: "No seed pixels excluded" in ev.results.value, timeout=5000)
    assert ev.last_scores["seed_pixels_excluded"] == 0
    assert ev.last_scores["n"] == 96 * 96


def test_after_segment_the_next_stroke_needs_no_click(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-seglab", "phantom_2d")
    seg = dock(viewer)
    seeds = viewer.layers["seeds"]
    scribbles = scribble_seeds(viewer.layers["ground truth"].data)
    paint(seeds, scribbles > 0, scribbles[scribbles > 0])
    viewer.layers.selection.active = seeds
    seeds.mode = "paint"
    with qtbot.waitSignal(seg.finished_run, timeout=60_000):
        seg.run.native.click()
    assert "segmentation" in viewer.layers
    assert viewer.layers.selection.active is seeds and seeds.mode == "paint"


def test_thin_stack_gets_2d_features_and_says_so(make_napari_viewer, qtbot, monkeypatch):
    infos = []
    monkeypatch.setattr(widget_module, "show_info", infos.append)
    viewer = make_napari_viewer()
    image, truth = tissue_phantom((4, 96, 96), random_state=2)
    image, truth = image[:3], truth[:3]
    viewer.add_image(image, name="3-slice MRI")
    seeds = viewer.add_labels(np.zeros(image.shape, np.uint8), name="seeds")
    scribbles = scribble_seeds(truth, length=12)
    paint(seeds, scribbles > 0, scribbles[scribbles > 0])
    seg = dock(viewer)
    with qtbot.waitSignal(seg.finished_run, timeout=60_000) as blocker:
        seg.run.native.click()
    assert blocker.args[0] is not None  # segmented, not refused
    assert any("per slice (2D)" in m for m in infos)
    assert seg.model.spec_.mode == "2d"


def test_mask_opened_as_an_image_is_ground_truth_not_a_channel(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    image, truth = tissue_phantom((64, 64), random_state=3)
    viewer.add_image(image, name="scan")
    viewer.add_image(truth.astype(np.uint8), name="mask.tif")  # as File > Open gives it
    seg, ev = dock(viewer), dock(viewer, "Evaluation")
    seg.image.value = viewer.layers["scan"]
    assert "mask.tif" not in [name for name, _ in seg._channel_choices()]
    # Offered as ground truth (read as labels), and picked by default.
    assert "mask.tif (image → labels)" in [name for name, _ in ev._truth_choices()]
    assert ev.truth.value is viewer.layers["mask.tif"]
    viewer.add_labels((truth + 1).astype(np.uint8), name="segmentation")
    ev.reset_choices()
    ev.pred.value = viewer.layers["segmentation"]
    qtbot.waitUntil(lambda: ev.last_scores.get("mean_dice") == 1.0, timeout=5000)


def test_method_change_reruns_the_live_preview(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-seglab", "phantom_2d")
    seg = dock(viewer)
    seeds = viewer.layers["seeds"]
    scribbles = scribble_seeds(viewer.layers["ground truth"].data)
    seg.live.value = True
    with qtbot.waitSignal(seg.live_shown, timeout=60_000):
        paint(seeds, scribbles > 0, scribbles[scribbles > 0])
    qtbot.waitUntil(lambda: not seg.live_job.running, timeout=60_000)
    with qtbot.waitSignal(seg.live_shown, timeout=60_000):
        seg.method.value = "Nearest mean"
    assert "Live Nearest mean" in seg.status.value


def test_removing_the_image_during_segment_stops_it_and_keeps_seeds(make_napari_viewer, qtbot):
    # This crashed the process (napari's progress bar redrew a canvas whose
    # layer was gone) and lost every seed.
    viewer = make_napari_viewer(show=True)
    viewer.open_sample("napari-seglab", "phantom_3d")
    seg = dock(viewer)
    seeds = viewer.layers["seeds"]
    scribbles = scribble_seeds(viewer.layers["ground truth"].data)
    paint(seeds, scribbles > 0, scribbles[scribbles > 0])
    seg.method.value = "Random forest"
    worker = seg.start_segmentation()
    assert worker is not None and seg.job.running
    with qtbot.waitSignal(seg.finished_run, timeout=10_000) as blocker:
        viewer.layers.remove("phantom 3D")
    assert blocker.args == [None]
    assert "was removed" in seg.status.value and not seg.cancel.enabled
    qtbot.waitUntil(lambda: not worker.is_running, timeout=60_000)
    assert "segmentation" not in viewer.layers
    np.testing.assert_array_equal(seeds.data, scribbles)
