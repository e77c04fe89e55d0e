"""The painting loop never breaks (issue 12): through the real widgets, one test per item."""

import numpy as np
import pytest
from gui_helpers import dock, paint

import napari_seglab._widgets.layers as layers_module
import napari_seglab._widgets.live_preview as live_module
import napari_seglab._widgets.segmentation as widget_module
from napari_seglab._widgets.feature_grid import CUSTOM, METHOD_DEFAULT
from napari_seglab._widgets.layers import painted_counts
from napari_seglab.core.features import FeatureSpec
from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom

pytestmark = pytest.mark.gui


class _SizesSorted:
    """numpy, except that it records the size of every array given to ``unique``."""

    def __init__(self):
        self.sizes = []

    def __getattr__(self, name):
        return getattr(np, name)

    def unique(self, array, *args, **kwargs):
        self.sizes.append(np.size(array))
        return np.unique(array, *args, **kwargs)


def volume_with_seeds(viewer, shape=(6, 64, 64)):
    image, truth = tissue_phantom(shape, random_state=0)
    viewer.add_image(image, name="volume")
    seeds = viewer.add_labels(np.zeros(shape, np.uint8), name="seeds")
    return seeds, scribble_seeds(truth, length=12)


def test_painted_counts_read_only_the_painted_pixels():
    seeds = np.zeros((4, 30, 30), np.uint16)
    seeds[1, 2:5, 3] = 7
    seeds[3, 0, :4] = 2
    values, counts = painted_counts(seeds)
    assert values.tolist() == [2, 7] and counts.tolist() == [4, 3]
    assert painted_counts(np.zeros((3, 3), np.int32))[0].size == 0
    assert painted_counts(np.eye(3, dtype=bool))[1].tolist() == [3]


def test_counts_follow_strokes_undo_and_data_changes():
    # Item 1: the legend's counts are recounted only where a stroke went, and
    # stay equal to a full count through paint, fill, undo, redo and data =.
    from napari.layers import Labels

    from napari_seglab._widgets.layers import PaintedCounts, follow_undo

    layer = Labels(np.zeros((6, 40, 40), np.uint8))
    follow_undo(layer)
    tally = PaintedCounts()
    tally.BLOCK_PIXELS = 40 * 40  # one block per slice, as for a 512x512 volume
    layer.events.paint.connect(lambda e: tally.touched(e, layer.data.shape))
    layer.events.data.connect(tally.reset)
    recounted = []
    real = layers_module.painted_counts
    layers_module.painted_counts = lambda a: recounted.append(np.size(a)) or real(a)
    try:
        def same():
            values, counts = tally.counts(layer.data)
            expected = real(layer.data)
            return (values.tolist() == expected[0].tolist()
                    and counts.tolist() == expected[1].tolist())

        assert same()
        recounted.clear()
        layer.brush_size = 5
        layer.paint((2, 20, 20), 3)
        assert same() and sum(recounted) == 40 * 40  # one slice recounted
        layer.data_setitem((np.array([4, 5]), np.array([1, 2]), np.array([3, 4])), 2)
        layer.fill((0, 0, 0), 1)
        assert same()
        layer.undo()
        assert same()
        layer.redo()
        assert same()
        layer.data = np.full((6, 40, 40), 7, np.uint8)
        assert same()
    finally:
        layers_module.painted_counts = real


def test_live_stroke_writes_only_the_slice_on_screen(make_napari_viewer, qtbot, monkeypatch):
    # Item 1: per stroke, the GUI thread writes the new slice into the existing
    # result (no whole-volume copy or new layer) and the legend counts only
    # the painted pixels (np.unique of a 48x512x512 volume froze it 150 ms).
    viewer = make_napari_viewer()
    seeds, scribbles = volume_with_seeds(viewer)
    seg = dock(viewer)
    seg.seeds.value = seeds
    viewer.dims.set_current_step(0, 3)
    paint(seeds, scribbles == 1, 1)
    seg.live.value = True
    with qtbot.waitSignal(seg.live_shown, timeout=60_000):
        paint(seeds, scribbles == 2, 2)
    (result,) = [layer for layer in viewer.layers if layer.name == "segmentation"]
    array = result.data
    written = []
    monkeypatch.setattr(live_module, "write_labels",
                        lambda *a, **k: written.append(a) or result)
    sorted_numpy = _SizesSorted()
    for module in (widget_module, layers_module):
        monkeypatch.setattr(module, "np", sorted_numpy)
    qtbot.waitUntil(lambda: not seg.live_job.running, timeout=60_000)
    with qtbot.waitSignal(seg.live_shown, timeout=60_000):
        paint(seeds, scribbles == 3, 3)
    qtbot.waitUntil(lambda: "3: " in seg.legend.value, timeout=5000)
    # The legend sorted the painted pixels only, never the whole volume.
    assert sorted_numpy.sizes
    assert max(sorted_numpy.sizes) <= int((seeds.data > 0).sum())
    assert result.data is array  # the same array, one slice rewritten
    assert not written
    assert (array[3] == 3).any() and not (array[0] == 3).any()


def test_3d_2d_3d_round_trip_returns_to_the_preset(make_napari_viewer, qtbot):
    # Item 2.
    viewer = make_napari_viewer()
    volume_with_seeds(viewer)
    seg = dock(viewer)
    seg.method.value = "Random forest"
    grid = seg.open_feature_grid()
    grid.refresh()
    assert grid.value is None and grid.mode.enabled
    grid.mode.value = "2d"
    assert grid.preset.value == CUSTOM and isinstance(seg.feature_value, FeatureSpec)
    grid.mode.value = "3d"
    assert grid.preset.value == METHOD_DEFAULT and grid.value is None
    assert seg.feature_value is None and "custom" not in seg.feature_choice.native.currentText()
    # A named preset comes back as itself, after an untick and a tick too.
    grid.value = "minimal"
    scaled = [f for f in grid.spec.filters if f[1] > 0]
    grid.grid.set_ticked(scaled[1:])
    grid._user_edit()  # what a click on the grid calls
    assert grid.preset.value == CUSTOM
    grid.grid.set_ticked(scaled[1:] + scaled[:1])
    grid._user_edit()
    assert grid.preset.value == "minimal" and seg.feature_value == "minimal"


def test_each_method_keeps_its_own_features(make_napari_viewer, qtbot):
    # Item 3: a forest's custom set stays with the forest; kNN keeps its default.
    viewer = make_napari_viewer()
    volume_with_seeds(viewer)
    seg = dock(viewer)
    seg.method.value = "Random forest"
    custom = FeatureSpec((("intensity", 0.0), ("gaussian", 1.0), ("sobel", 1.0)))
    grid = seg.open_feature_grid()
    grid.value = custom
    assert seg.feature_value == custom
    seg.method.value = "kNN"
    assert seg.feature_value is None
    assert grid.value is None
    assert "Random forest keeps its custom set" in seg.status.value
    seg.method.value = "Otsu threshold"  # no features: nothing changes hands
    seg.method.value = "Random forest"
    assert seg.feature_value == custom and grid.value == custom


def fits_after_dock(viewer, canvas, width):
    """Whether the 400-pixel image fits a canvas ``width`` wide."""
    return 400 * viewer.camera.zoom <= min(width, canvas.height()) + 1


def test_view_fits_the_image_once_the_panel_docks(make_napari_viewer, qtbot):
    # Item 4: the dock narrows the canvas after napari fitted the view.
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1280, 800)
    canvas = viewer.window._qt_viewer.canvas.native
    qtbot.waitUntil(lambda: canvas.width() > 800, timeout=5000)  # the window's size
    viewer.add_image(np.zeros((400, 400), np.float32), name="image")
    viewer.reset_view()
    assert not fits_after_dock(viewer, canvas, 500)  # fits the wide canvas only

    def fits():
        width, height = canvas.width(), canvas.height()
        return 400 * viewer.camera.zoom <= min(width, height) + 1

    panel = dock(viewer, "Segmentation Lab")
    qtbot.waitUntil(lambda: canvas.width() < 800, timeout=5000)  # the dock took its share
    qtbot.waitUntil(fits, timeout=5000)
    # A camera the user moved is left alone (the fit is only ever a first one).
    viewer.camera.zoom = 5.0
    panel._fit_view_if_untouched()
    assert viewer.camera.zoom == 5.0


@pytest.mark.parametrize("ndim", [2, 3])
def test_live_only_session_saves_and_applies_its_model(make_napari_viewer, qtbot, tmp_path,
                                                        ndim):
    # Item 5: no Segment pressed; the live model is kept, saved and applied.
    viewer = make_napari_viewer()
    if ndim == 3:
        seeds, scribbles = volume_with_seeds(viewer)
    else:
        image, truth = tissue_phantom((64, 64), random_state=0)
        viewer.add_image(image, name="volume")
        seeds = viewer.add_labels(np.zeros((64, 64), np.uint8), name="seeds")
        scribbles = scribble_seeds(truth, length=12)
    seg = dock(viewer)
    seg.seeds.value = seeds
    paint(seeds, scribbles == 1, 1)
    seg.live.value = True
    with qtbot.waitSignal(seg.live_shown, timeout=60_000):
        paint(seeds, scribbles == 2, 2)
    assert seg.model is not None and seg.save_model.enabled
    assert "live update" in seg.model_info.value and "'volume'" in seg.model_info.value
    path = seg.save_model_file(path=str(tmp_path / "live.seglab.npz"))
    assert path is not None and (tmp_path / "live.seglab.npz").exists()
    seg.apply_to.value = viewer.layers["volume"]
    with qtbot.waitSignal(seg.finished_run, timeout=60_000) as blocker:
        seg.apply.native.click()
    applied = blocker.args[0]
    assert applied is not None and applied.data.shape == seeds.data.shape
    assert set(np.unique(applied.data).tolist()) <= {1, 2}


def test_threshold_methods_are_unavailable_for_three_classes(make_napari_viewer, qtbot):
    # Item 6: no dead end of seven methods that all refuse three classes.
    viewer = make_napari_viewer()
    image, truth = tissue_phantom((64, 64), random_state=0)
    viewer.add_image(image, name="image")
    seeds = viewer.add_labels(np.zeros((64, 64), np.uint8), name="seeds")
    seg = dock(viewer)
    seg.seeds.value = seeds
    scribbles = scribble_seeds(truth, length=12)
    combo = seg.method.native

    def enabled(name):
        return bool(combo.model().item(combo.findText(name)).isEnabled())

    paint(seeds, scribbles == 1, 1)
    paint(seeds, scribbles == 2, 2)
    qtbot.waitUntil(lambda: "2: " in seg.legend.value, timeout=5000)
    assert enabled("Otsu threshold") and enabled("Manual threshold")
    paint(seeds, scribbles == 3, 3)
    qtbot.waitUntil(lambda: not enabled("Otsu threshold"), timeout=5000)
    names = ["Manual threshold", "Otsu threshold", "Li threshold", "Yen threshold",
             "Triangle threshold", "Minimum threshold", "Local threshold"]
    assert not any(enabled(name) for name in names)
    assert enabled("kNN") and enabled("Random forest")
    tip = combo.model().item(combo.findText("Li threshold")).toolTip()
    assert "3" in tip and "kNN" in tip
    seg.reset_choices()  # layer list changes must not bring them back
    assert not enabled("Yen threshold")
    # Erasing the third class offers them again.
    paint(seeds, seeds.data == 3, 0)
    qtbot.waitUntil(lambda: enabled("Otsu threshold"), timeout=5000)
