"""The user's path through the real widgets: paint, click Segment, read Dice."""

import numpy as np
import pytest

import napari_seglab
import napari_seglab._widgets.jobs as jobs_module
import napari_seglab._widgets.model_files as model_files_module
import napari_seglab._widgets.segmentation as widget_module
import napari_seglab._widgets.threshold_gallery as thresholds_module
from napari_seglab.core.phantoms import scribble_seeds

pytestmark = pytest.mark.gui


@pytest.fixture
def warnings_shown(monkeypatch):
    """Messages the widget shows the user as napari warnings."""
    shown = []
    for module in (widget_module, model_files_module, thresholds_module, jobs_module):
        monkeypatch.setattr(module, "show_warning", shown.append)
    return shown


def open_sample(viewer, sample="phantom_2d"):
    viewer.open_sample("napari-seglab", sample)
    seg = viewer.window.add_plugin_dock_widget("napari-seglab", "Seeded segmentation")[1].section
    ev = viewer.window.add_plugin_dock_widget("napari-seglab", "Evaluation")[1].section
    return seg, ev


def paint_scribbles(viewer, **kwargs):
    """Paint like a user: through the Labels API, with undo history."""
    seeds = viewer.layers["seeds"]
    scribbles = scribble_seeds(viewer.layers["ground truth"].data, **kwargs)
    index = np.nonzero(scribbles)
    seeds.data_setitem(index, scribbles[index])
    return scribbles


def click_segment(qtbot, seg):
    with qtbot.waitSignal(seg.finished_run, timeout=60_000):
        seg.run.native.click()


def segmentations(viewer):
    return [layer for layer in viewer.layers if layer.name.startswith("segmentation")]


def test_paint_segment_and_evaluate_2d(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    seg, ev = open_sample(viewer)
    scribbles = paint_scribbles(viewer)
    qtbot.waitUntil(lambda: "fluid" in seg.legend.value and "px" in seg.legend.value)
    assert "not painted" not in seg.legend.value

    click_segment(qtbot, seg)
    (result,) = segmentations(viewer)
    truth = viewer.layers["ground truth"].data
    seeded = scribbles > 0
    # Seeds are training data: the panel scores the other pixels by default.
    p, t = result.data[~seeded], truth[~seeded]
    dice = np.mean([2 * np.sum((p == c + 1) & (t == c))
                    / (np.sum(p == c + 1) + np.sum(t == c)) for c in range(3)])
    assert dice > 0.85
    np.testing.assert_array_equal(result.data[seeded], scribbles[seeded])
    assert viewer.layers["seeds"].data[seeded].tolist() == scribbles[seeded].tolist()

    # The evaluation panel picked the new result and maps truth 0,1,2 -> 1,2,3.
    qtbot.waitUntil(lambda: "Mean Dice" in ev.results.value)
    assert ev.pred.value is result
    assert {v: w.value for v, w in ev._mapping_widgets.items()} == {0: 1, 1: 2, 2: 3}
    assert ev.last_scores["mean_dice"] == pytest.approx(dice, abs=1e-9)
    overlay = viewer.layers["confusion"]
    assert viewer.layers.index(overlay) == len(viewer.layers) - 1

    # A hand correction moves the overlay and the Dice without a button press.
    positive = ev.positive.value
    wrong = np.nonzero((truth + 1 == positive) & (result.data == positive))
    pick = tuple(axis[:50] for axis in wrong)
    result.data_setitem(pick, 1 if positive != 1 else 2)
    qtbot.waitUntil(lambda: (overlay.data[pick] == 3).all(), timeout=5000)  # FN
    assert ev.last_scores["mean_dice"] < dice


def test_rerun_reuses_layer_unless_edited(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    seg, _ = open_sample(viewer)
    paint_scribbles(viewer)
    click_segment(qtbot, seg)
    (first,) = segmentations(viewer)

    seg.method.value = "Nearest mean"
    click_segment(qtbot, seg)
    assert segmentations(viewer) == [first]

    first.data_setitem((np.array([5]), np.array([5])), 3)  # the user's correction
    corrected = first.data.copy()
    seg.method.value = "kNN"
    click_segment(qtbot, seg)
    layers = segmentations(viewer)
    assert len(layers) == 2
    np.testing.assert_array_equal(first.data, corrected)


def test_kmeans_runs_without_seeds_and_3d_volume(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    seg, _ = open_sample(viewer, "phantom_3d")
    seg.method.value = "k-means"
    seg.n_clusters.value = 3
    click_segment(qtbot, seg)
    (result,) = segmentations(viewer)
    image = viewer.layers["phantom 3D"]
    assert result.data.shape == image.data.shape
    assert tuple(result.scale) == tuple(image.scale)
    # Unsupervised: 1..3 by ascending intensity.
    means = [image.data[result.data == k].mean() for k in (1, 2, 3)]
    assert means == sorted(means)


@pytest.mark.parametrize("problem", ["no seeds", "one class", "shape", "4d", "no image"])
def test_bad_input_notifies_and_keeps_seeds(make_napari_viewer, qtbot, warnings_shown,
                                            problem):
    viewer = make_napari_viewer()
    seg, _ = open_sample(viewer)
    seeds = viewer.layers["seeds"]
    expected = {
        "no seeds": "at least two classes",
        "one class": "at least two classes",
        "shape": "New seeds layer",
        "4d": "2D images and 3D volumes",
        "no image": "No image layer",
    }[problem]
    if problem == "one class":
        seeds.data_setitem((np.arange(10, 20), np.full(10, 30)), 2)
    elif problem == "shape":
        viewer.add_labels(np.zeros((10, 10), np.uint8), name="seeds small")
        seg.reset_choices()
        seg.seeds.value = viewer.layers["seeds small"]
    elif problem == "4d":
        viewer.add_image(np.zeros((2, 3, 16, 16), np.float32), name="movie")
        seg.reset_choices()
        seg.image.value = viewer.layers["movie"]
    elif problem == "no image":
        viewer.layers.remove("phantom 2D")
        seg.reset_choices()
    before = seeds.data.copy()

    worker = seg.start_segmentation()
    if worker is not None:  # problems found by core come back from the worker
        qtbot.waitUntil(lambda: any(expected in m for m in warnings_shown),
                        timeout=30_000)
    assert any(expected in message for message in warnings_shown), warnings_shown
    assert not segmentations(viewer)
    np.testing.assert_array_equal(seeds.data, before)


def test_rgb_layer_is_segmented_on_its_channels(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    seg = viewer.window.add_plugin_dock_widget("napari-seglab", "Seeded segmentation")[1].section
    # Red and green halves of equal brightness: only the channels tell them apart.
    rgb = np.zeros((40, 40, 3), np.uint8)
    rgb[:, :20, 0] = 200
    rgb[:, 20:, 1] = 200
    viewer.add_image(rgb, rgb=True, name="rgb")
    seg.reset_choices()
    seg.add_seeds_layer()
    seeds = viewer.layers["seeds"]
    seeds.data_setitem((np.full(5, 20), np.arange(2, 7)), 1)
    seeds.data_setitem((np.full(5, 20), np.arange(33, 38)), 2)
    seg.method.value = "Nearest mean"
    click_segment(qtbot, seg)
    (result,) = segmentations(viewer)
    assert (result.data[:, :20] == 1).all() and (result.data[:, 20:] == 2).all()


def test_live_update_follows_strokes_on_the_visible_slice(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-seglab", "phantom_3d")
    seg = viewer.window.add_plugin_dock_widget("napari-seglab", "Seeded segmentation")[1].section
    truth = viewer.layers["ground truth"].data
    seeds = viewer.layers["seeds"]
    z = 24
    viewer.dims.set_current_step(0, z)
    seg.live.value = True
    shown = []
    seg.live_shown.connect(shown.append)

    # Stroke by stroke, like a user: the first strokes give one class only.
    scribbles = scribble_seeds(truth[z], strokes_per_class=2, length=20)
    for value in (1, 2, 3):
        index = np.nonzero(scribbles == value)
        with qtbot.waitSignal(seg.live_shown, timeout=60_000):
            seeds.data_setitem((np.full(index[0].size, z),) + index, value)
    assert shown[-1] is not None
    (result,) = segmentations(viewer)
    plane = result.data[z].astype(int)
    dice = napari_seglab_dice(truth[z] + 1, plane)
    assert dice > 0.9, dice
    assert not result.data[z - 5].any()  # only the slice on screen was computed

    # Two strokes in quick succession: one preview runs at a time (they share
    # the feature cache); the second waits, then reads the newest seeds.
    shown.clear()
    seeds.data_setitem((np.array([z, z]), np.array([80, 80]), np.array([60, 61])), 2)
    assert seg.start_live_preview() is not None
    seeds.data_setitem((np.array([z, z]), np.array([81, 81]), np.array([60, 61])), 3)
    assert seg.start_live_preview() is None and seg._live_pending

    def settled():
        return (not seg.live_job.running and not seg._live_pending
                and not seg._live_timer.isActive() and shown and shown[-1] is not None)

    qtbot.waitUntil(settled, timeout=60_000)
    generations = [g for g in shown if g is not None]
    assert generations == sorted(set(generations))  # never an older one after a newer
    assert result.data[z, 81, 60] == 3  # the result shown last has the newest stroke

    # Moving to another slice previews it; the 3D view pauses with a notice.
    with qtbot.waitSignal(seg.live_shown, timeout=60_000):
        viewer.dims.set_current_step(0, z - 5)
    assert result.data[z - 5].any()
    viewer.dims.ndisplay = 3
    qtbot.waitUntil(lambda: "paused in the 3D view" in seg.status.value, timeout=5000)


def napari_seglab_dice(truth, labels):
    import napari_seglab

    d = napari_seglab.metrics.dice(truth, labels, labels=[1, 2, 3])
    return float(np.mean(list(d.values())))


def test_cancel_discards_the_running_segment(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-seglab", "phantom_3d")
    seg = viewer.window.add_plugin_dock_widget("napari-seglab", "Seeded segmentation")[1].section
    paint_scribbles(viewer)
    seg.method.value = "Random forest"
    worker = seg.start_segmentation()
    finished = []
    worker.finished.connect(lambda: finished.append(True))
    assert seg.cancel.enabled
    with qtbot.waitSignal(seg.finished_run, timeout=5000) as blocker:
        seg.cancel.native.click()
    assert blocker.args == [None] and "cancelled" in seg.status.value
    # The worker's result is queued before its `finished`: both handled by now.
    qtbot.waitUntil(lambda: bool(finished), timeout=60_000)
    assert not segmentations(viewer)  # the finished computation was not shown
    assert not seg.cancel.enabled


def test_uncertainty_layer_shows_where_to_paint_next(make_napari_viewer, qtbot):
    from scipy import ndimage as ndi

    viewer = make_napari_viewer()
    seg, _ = open_sample(viewer)
    paint_scribbles(viewer)
    seg.method.value = "Random forest"
    seg.show_uncertainty.value = True
    click_segment(qtbot, seg)
    doubt = viewer.layers["uncertainty"]
    assert doubt.data.shape == viewer.layers["phantom 2D"].data.shape
    assert doubt.data.min() >= 0 and doubt.data.max() <= 1
    # Doubt sits on the class borders, not inside the classes.
    truth = viewer.layers["ground truth"].data
    border = ndi.morphological_gradient(truth, size=3) > 0
    assert doubt.data[border].mean() > 3 * doubt.data[~border].mean()
    # Our layer is neither offered as an image to segment nor stacked on rerun.
    seg.reset_choices()
    assert doubt not in [layer for _, layer in seg._image_choices()]
    click_segment(qtbot, seg)
    assert [layer.name for layer in viewer.layers].count("uncertainty") == 1


def test_save_load_and_apply_the_model_to_another_subject(make_napari_viewer, qtbot,
                                                          tmp_path, monkeypatch,
                                                          warnings_shown):
    from napari_seglab.core.phantoms import tissue_phantom

    viewer = make_napari_viewer()
    seg, _ = open_sample(viewer)
    assert not seg.save_model.enabled and not seg.apply.enabled
    paint_scribbles(viewer)
    click_segment(qtbot, seg)
    assert "Fast forest" in seg.model_info.value and "'phantom 2D'" in seg.model_info.value
    assert "matched to the training image's mean and spread" in seg.model_info.value
    trained = seg.model

    path = tmp_path / "brain.seglab.npz"
    monkeypatch.setattr(model_files_module.QFileDialog, "getSaveFileName",
                        lambda *a, **k: (str(path), ""))
    seg.save_model.native.click()
    assert path.exists() and "saved" in seg.status.value

    # Another subject: same kind of image, different anatomy and noise.
    other, other_truth = tissue_phantom((256, 256), random_state=7)
    viewer.add_image(other, name="subject B")
    seg.reset_choices()
    seg.model = None  # as in a new session: the model comes from the file
    monkeypatch.setattr(model_files_module.QFileDialog, "getOpenFileName",
                        lambda *a, **k: (str(path), ""))
    with qtbot.waitSignal(seg.job.done, timeout=60_000):  # loads in a worker
        seg.load_model.native.click()
    assert seg.model is not trained and "brain.seglab.npz" in seg.model_info.value

    seg.apply_to.value = viewer.layers["subject B"]
    with qtbot.waitSignal(seg.finished_run, timeout=60_000) as blocker:
        seg.apply.native.click()
    result = blocker.args[0]
    assert result.name == "segmentation (subject B)"
    assert result.data.shape == other.shape
    d = napari_seglab.metrics.dice(other_truth + 1, result.data, labels=[1, 2, 3])
    assert np.mean(list(d.values())) > 0.85
    assert viewer.layers["segmentation"].data.shape == (256, 256)  # the first one stays
    assert not warnings_shown


def test_damaged_model_file_is_refused_and_the_model_kept(make_napari_viewer, qtbot,
                                                          tmp_path, monkeypatch,
                                                          warnings_shown):
    viewer = make_napari_viewer()
    seg, _ = open_sample(viewer)
    paint_scribbles(viewer)
    click_segment(qtbot, seg)
    trained = seg.model
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(b"PK\x03\x04 not really a model")
    monkeypatch.setattr(model_files_module.QFileDialog, "getOpenFileName",
                        lambda *a, **k: (str(damaged), ""))
    with qtbot.waitSignal(seg.job.done, timeout=60_000):  # loads in a worker
        seg.load_model.native.click()
    assert len(warnings_shown) == 1 and "Could not load" in warnings_shown[0]
    assert seg.model is trained and seg.apply.enabled


def test_model_of_other_channels_is_refused_on_apply(make_napari_viewer, qtbot,
                                                     warnings_shown):
    viewer = make_napari_viewer()
    seg, _ = open_sample(viewer)
    paint_scribbles(viewer)
    click_segment(qtbot, seg)
    rgb = np.random.default_rng(0).random((256, 256, 3)).astype(np.float32)
    viewer.add_image(rgb, name="colour photo", rgb=True)
    seg.reset_choices()
    seg.apply_to.value = viewer.layers["colour photo"]
    with qtbot.waitSignal(seg.finished_run, timeout=60_000) as blocker:
        seg.apply.native.click()
    assert blocker.args == [None]
    assert "channel" in warnings_shown[0] and "segmentation (colour photo)" not in viewer.layers


def test_whole_volume_job_reports_determinate_progress(make_napari_viewer, qtbot,
                                                       monkeypatch):
    import napari_seglab.core.pipeline as model_io

    # 48*160*160 voxels in chunks of 2**18 -> 5 prediction steps.
    monkeypatch.setitem(model_io.SeededModel.iter_fit_predict.__kwdefaults__,
                        "chunk_pixels", 1 << 18)
    viewer = make_napari_viewer()
    viewer.open_sample("napari-seglab", "phantom_3d")
    seg = viewer.window.add_plugin_dock_widget("napari-seglab", "Seeded segmentation")[1].section
    paint_scribbles(viewer)
    steps = []
    with qtbot.waitSignal(seg.finished_run, timeout=60_000):
        seg.start_segmentation().yielded.connect(steps.append)
    stages = [stage for stage, _, _ in steps]
    assert stages[:2] == ["features", "training"] and stages.count("predicting") == 5
    assert [done for _, done, _ in steps] == list(range(1, 8)) and steps[-1][2] == 7
    assert segmentations(viewer)
    # Progress steps are queued before the result: none can come after it.
    assert seg.status.value.startswith(f"{seg.method.value}:") and not seg.cancel.enabled


def test_manual_threshold_and_the_threshold_gallery(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    seg, _ = open_sample(viewer)
    image = viewer.layers["phantom 2D"].data
    seg.method.value = "Manual threshold"
    shown = lambda w: not w.native.isHidden()  # noqa: E731 (the viewer is not on screen)
    assert shown(seg.threshold) and not shown(seg.n_neighbors)
    assert seg.threshold.min == pytest.approx(image.min(), abs=1e-4)
    assert seg.threshold.max == pytest.approx(image.max(), abs=1e-4)
    seg.threshold.value = 0.5
    click_segment(qtbot, seg)
    (result,) = segmentations(viewer)
    np.testing.assert_array_equal(result.data, np.where(image > 0.5, 2, 1))

    seg.method.value = "Otsu threshold"
    assert shown(seg.try_thresholds) and not shown(seg.threshold)
    paint_scribbles(viewer)  # three classes: the gallery ignores them
    with qtbot.waitSignal(seg.finished_run, timeout=60_000):
        seg.try_thresholds.native.click()
    gallery = {layer.name: layer for layer in viewer.layers if "threshold" in layer.name}
    assert {"otsu threshold", "li threshold", "local threshold"} <= set(gallery)
    otsu = gallery["otsu threshold"].data
    from skimage.filters import threshold_otsu
    np.testing.assert_array_equal(otsu, np.where(image > threshold_otsu(image), 2, 1))
    seg.reset_choices()  # our layers are not offered as seeds or images
    assert not set(gallery.values()) & {layer for _, layer in seg._seeds_choices()}


BRAINS = __import__("pathlib").Path(__file__).resolve().parents[2] / "shared" / "data" / "brains"


@pytest.mark.skipif(not BRAINS.is_dir(), reason="needs ../shared/data/brains (shared data)")
def test_t1_and_flair_as_channels_train_on_one_subject_apply_to_another(
        make_napari_viewer, qtbot, warnings_shown):
    """The course exercise in the GUI: T1 + FLAIR of subject 1 -> subject 2."""
    import tifffile

    tissues = ((2, 5), (3, 7), (4, 8))  # WM, GM, CSF; the rest is background

    def load(subject):
        t1, flair, gt = (tifffile.imread(BRAINS / f"{subject}_1_{m}.tif")
                         for m in ("t1", "t2", "gt"))
        truth = np.ones(gt.shape, np.uint8)
        for label, values in enumerate(tissues, start=2):
            truth[np.isin(gt, values)] = label
        return t1, flair, truth

    viewer = make_napari_viewer()
    seg = viewer.window.add_plugin_dock_widget("napari-seglab", "Seeded segmentation")[1].section
    t1, flair, truth = load(1)
    viewer.add_image(t1, name="s1 T1")
    viewer.add_image(flair, name="s1 FLAIR")
    seeds = viewer.add_labels(scribble_seeds(truth - 1, strokes_per_class=6, length=12,
                                             random_state=0), name="seeds")
    seg.reset_choices()
    seg.image.value = viewer.layers["s1 T1"]
    assert [name for name, _ in seg._channel_choices()] == ["s1 FLAIR"]
    seg.channels.value = [viewer.layers["s1 FLAIR"]]
    seg.seeds.value = seeds
    click_segment(qtbot, seg)
    assert seg.model.n_channels_ == 2
    assert "'s1 T1' + 's1 FLAIR'" in seg.model_info.value

    t1_b, flair_b, truth_b = load(2)
    viewer.add_image(t1_b, name="s2 T1")
    viewer.add_image(flair_b, name="s2 FLAIR")
    seg.reset_choices()
    seg.apply_to.value = viewer.layers["s2 T1"]
    assert not seg.apply_channels.native.isHidden()
    with qtbot.waitSignal(seg.finished_run, timeout=60_000) as blocker:  # T1 alone: refused
        seg.apply.native.click()
    assert blocker.args == [None] and "2" in warnings_shown[-1]
    seg.apply_channels.value = [viewer.layers["s2 FLAIR"]]
    with qtbot.waitSignal(seg.finished_run, timeout=60_000) as blocker:
        seg.apply.native.click()
    result = blocker.args[0].data
    # Exactly the headless two-channel model, and a sensible segmentation.
    from napari_seglab.core.model_io import SeededModel

    headless = SeededModel("fast_forest", params={"n_neighbors": 5, "grow": False}).fit(
        np.stack([t1, flair], -1), seeds.data, channel_axis=-1)
    np.testing.assert_array_equal(
        result, headless.predict(np.stack([t1_b, flair_b], -1), channel_axis=-1))
    d = napari_seglab.metrics.dice(truth_b, result, labels=[2, 3, 4])
    assert min(d.values()) > 0.4 and np.mean(list(d.values())) > 0.55


def test_feature_grid_choice_is_what_segment_trains_on(make_napari_viewer, qtbot):
    from napari_seglab.core.features import PRESETS, FeatureSpec

    viewer = make_napari_viewer()
    seg, _ = open_sample(viewer)
    paint_scribbles(viewer)
    combo = seg.feature_choice
    assert combo.native.currentText() == "method's default (blend)"
    seg.method.value = "Random forest"
    assert combo.native.currentText() == "method's default (default)"

    seg.edit_features.native.click()  # the Features panel, in its own dock
    grid = seg.features
    assert grid is not None and grid.spec == PRESETS["default"]
    click_segment(qtbot, seg)
    assert seg.model.spec_ == PRESETS["default"]

    # Ticking in the grid makes a custom spec, which Segment trains on.
    custom = FeatureSpec((("intensity", 0.0), ("gaussian", 1.0), ("laplacian", 3.5)))
    grid.value = custom
    assert seg.feature_value == custom and "custom: 3 features" in combo.native.currentText()
    click_segment(qtbot, seg)
    assert seg.model.spec_ == custom and seg.model.n_features_ == 3

    # A preset picked in the combo reaches the grid.
    combo.value = "minimal"
    assert grid.value == "minimal" and seg.feature_value == "minimal"
    assert "custom" not in [text for text, _ in seg._feature_choices()]

    # Closing the panel loses nothing; the button brings it back with the choice.
    viewer.window.remove_dock_widget(grid.native)
    qtbot.waitUntil(lambda: seg._feature_grid() is None, timeout=5000)
    seg.edit_features.native.click()
    assert seg.features.value == "minimal"

    seg.method.value = "Otsu threshold"  # thresholds read the intensity: no features
    assert combo.native.isHidden() and seg.edit_features.native.isHidden()


def test_features_too_big_for_memory_say_what_to_do(make_napari_viewer, qtbot, monkeypatch,
                                                    warnings_shown):
    import napari_seglab.core.pipeline as model_io

    monkeypatch.setattr(model_io, "FEATURE_RAM_FRACTION", 1e-6)  # a tiny machine
    viewer = make_napari_viewer()
    seg, _ = open_sample(viewer)
    scribbles = paint_scribbles(viewer)
    with qtbot.waitSignal(seg.finished_run, timeout=60_000) as blocker:
        seg.run.native.click()
    assert blocker.args == [None] and not segmentations(viewer)
    assert "budget" in warnings_shown[-1] and "'smooth'" in warnings_shown[-1]
    np.testing.assert_array_equal(viewer.layers["seeds"].data, scribbles)
