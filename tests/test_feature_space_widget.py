"""Feature space dock: selection highlights pixels, paints seeds, hover and strokes follow."""

from pathlib import Path

import numpy as np
import pytest

from napari_seglab._widgets.feature_space import SELECTION_LAYER, FeatureSpaceWidget
from napari_seglab.core.feature_space import select
from napari_seglab.core.features import compute_features
from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom


def _ready(widget):
    return widget._current is not None and not widget.busy


@pytest.fixture
def setup(make_napari_viewer, qtbot):
    image, truth = tissue_phantom((96, 96), random_state=0)
    viewer = make_napari_viewer()
    viewer.add_image(image, name="phantom")
    seeds = viewer.add_labels(scribble_seeds(truth), name="seeds")
    widget = FeatureSpaceWidget(viewer)
    qtbot.addWidget(widget)
    widget.spec_combo.setCurrentText("minimal")
    qtbot.waitUntil(lambda: _ready(widget), timeout=30_000)
    return viewer, widget, image, seeds


def _features(image):
    return compute_features(image, "minimal")


def test_axes_follow_the_spec_and_density_counts_every_pixel(setup):
    viewer, widget, image, _ = setup
    assert [widget.x_combo.itemText(i) for i in range(widget.x_combo.count())] == [
        "intensity", "gaussian σ=1"]
    assert widget.x_combo.currentText() == "intensity"
    assert widget.y_combo.currentText() == "gaussian σ=1"
    assert widget._current["counts"].sum() == image.size
    feats = _features(image)
    assert np.array_equal(widget._current["x"], feats[..., 0].ravel())


def test_rectangle_and_lasso_highlight_exactly_the_selected_pixels(setup, qtbot):
    viewer, widget, image, _ = setup
    feats = _features(image)
    x, y = feats[..., 0], feats[..., 1]
    mx, my = float(np.median(x)), float(np.median(y))
    rectangle = [(x.min(), y.min()), (mx, y.min()), (mx, my), (x.min(), my)]
    widget.select_polygon(rectangle)
    layer = viewer.layers[SELECTION_LAYER]
    assert np.array_equal(layer.data.astype(bool), select(x, y, rectangle))
    assert 0 < layer.data.sum() < image.size

    t = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    lasso = np.c_[mx + 0.2 * np.cos(t), my + 0.2 * np.sin(3 * t) * np.sin(t)]
    widget.select_polygon(lasso)
    assert np.array_equal(viewer.layers[SELECTION_LAYER].data.astype(bool),
                          select(x, y, lasso))
    assert viewer.layers.selection.active.name == "seeds"  # seeds stay active


def test_drag_in_the_plot_selects_live(setup):
    viewer, widget, image, _ = setup
    feats = _features(image)
    x, y = feats[..., 0], feats[..., 1]
    plot = widget.plot
    plot.tool = "rectangle"
    plot.begin_drag((float(x.min()), float(y.min())))
    plot.extend_drag((float(np.median(x)), float(np.median(y))))
    widget._select_live()  # what the coalescing timer runs
    box = [(x.min(), y.min()), (np.median(x), y.min()), (np.median(x), np.median(y)),
           (x.min(), np.median(y))]
    assert np.array_equal(viewer.layers[SELECTION_LAYER].data.astype(bool),
                          select(x, y, box))


def test_paint_as_seeds_adds_exactly_those_pixels_undoably(setup, qtbot):
    viewer, widget, image, seeds = setup
    before = seeds.data.copy()
    feats = _features(image)
    x, y = feats[..., 0], feats[..., 1]
    polygon = [(x.min(), y.min()), (np.percentile(x, 30), y.min()),
               (np.percentile(x, 30), np.percentile(y, 30)), (x.min(), np.percentile(y, 30))]
    widget.select_polygon(polygon)
    chosen = select(x, y, polygon)
    with qtbot.waitSignal(seeds.events.paint, timeout=5000):
        widget.paint_selection(label=4)
    expected = before.copy()
    expected[chosen] = 4
    assert np.array_equal(seeds.data, expected)
    seeds.undo()
    assert np.array_equal(seeds.data, before)

    mask = widget.make_mask()
    assert np.array_equal(mask.data.astype(bool), chosen)


def test_hover_marks_the_pixels_point(setup):
    viewer, widget, image, _ = setup
    feats = _features(image)
    viewer.cursor.position = (30, 41)
    assert widget.hover_point == pytest.approx((feats[30, 41, 0], feats[30, 41, 1]))
    shown = widget.plot.hover.getData()
    assert shown[0][0] == pytest.approx(feats[30, 41, 0])
    viewer.cursor.position = (500, 500)
    assert widget.hover_point is None
    widget.close()  # a closed dock stops following the viewer
    viewer.cursor.position = (30, 41)
    assert widget.hover_point is None


def test_a_new_stroke_appears_in_the_plot_and_retrains_regions(setup, qtbot):
    viewer, widget, image, seeds = setup
    n_before = widget.plot.n_seed_points()
    regions_before = widget._regions
    feats = _features(image)
    idx = (np.full(10, 5), np.arange(10, 20))
    seeds.data_setitem(idx, 2)
    qtbot.waitUntil(lambda: widget.plot.n_seed_points() == n_before + 10, timeout=5000)
    xs, _, labels = widget.seed_points
    assert np.isin(feats[5, 10:20, 0], xs).all()
    qtbot.waitUntil(lambda: widget._regions is not regions_before and not widget.busy,
                    timeout=20_000)
    assert widget._regions.others == "retrained"
    # the plot's title, as drawn, says the regions were retrained on the shown pair
    qtbot.waitUntil(lambda: "retrained on the 2 shown features"
                    in widget.plot.plot.getPlotItem().titleLabel.text, timeout=5000)


def test_other_slice_refreshes_the_plot(make_napari_viewer, qtbot):
    volume, truth = tissue_phantom((12, 40, 40), random_state=2)
    viewer = make_napari_viewer()
    viewer.add_image(volume, name="vol")
    viewer.add_labels(scribble_seeds(truth), name="seeds")
    widget = FeatureSpaceWidget(viewer)
    qtbot.addWidget(widget)
    widget.spec_combo.setCurrentText("minimal")
    qtbot.waitUntil(lambda: _ready(widget), timeout=30_000)
    viewer.dims.set_current_step(0, 1)
    qtbot.waitUntil(lambda: widget._data["z"] == 1 and _ready(widget), timeout=30_000)
    assert np.array_equal(widget._current["x"], volume[1].astype(np.float32).ravel())
    widget.scope_combo.setCurrentText("whole volume")
    qtbot.waitUntil(lambda: widget._data["z"] is None and _ready(widget), timeout=30_000)
    assert widget._current["counts"].sum() == volume.size
    widget.select_polygon([(-10, -10), (10, -10), (10, 10), (-10, 10)])
    assert viewer.layers[SELECTION_LAYER].data.shape == volume.shape


def test_modes_and_export(setup, tmp_path):
    viewer, widget, image, _ = setup
    widget.mode_combo.setCurrentText("1D histogram")
    assert len(widget.plot.curves) >= 2 and len(widget.plot.lines) >= 1
    widget.mode_combo.setCurrentText("class means")
    assert len(widget.plot.curves) == 3  # three seed classes
    widget.mode_combo.setCurrentText("2D density")
    path = widget.export_plot(tmp_path / "plot.png")
    assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="PNG"):
        widget.export_plot(tmp_path / "plot.pdf")


def test_a_costly_drag_draws_the_outline_and_selects_on_release(setup, qtbot, monkeypatch):
    """Each mouse move only extends the outline once a selection costs more than a
    frame; the release selects exactly the pixels inside the lasso."""
    import napari_seglab._widgets.feature_space as fs

    viewer, widget, image, _ = setup
    feats = _features(image)
    x, y = feats[..., 0], feats[..., 1]
    mx, my = float(np.median(x)), float(np.median(y))
    t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    lasso = np.c_[mx + 0.2 * np.cos(t), my + 0.15 * np.sin(t)]
    plot = widget.plot
    plot.tool = "lasso"
    widget.select_polygon(lasso[:3])  # a first selection: the highlight layer exists
    widget.select_polygon(lasso[:3])  # ... and its cost is measured
    # Say that cost is more than a frame (as a volume of a million pixels).
    monkeypatch.setattr(fs, "LIVE_SELECT_MS", -1.0)
    assert not widget.live_selection()
    plot.begin_drag(tuple(lasso[0]))
    selected = viewer.layers[SELECTION_LAYER].data.copy()
    for point in lasso[1:]:
        plot.extend_drag(tuple(point))
        # The outline follows the mouse; no selection is pending or running.
        assert np.allclose(plot.outline.getData()[0][-2], point[0])  # closed: then [0]
        assert widget._pending_polygon is None and not widget._live_timer.isActive()
    assert np.array_equal(viewer.layers[SELECTION_LAYER].data, selected)
    plot.finish_drag()  # release: the exact selection
    assert np.array_equal(viewer.layers[SELECTION_LAYER].data.astype(bool),
                          select(x, y, lasso))


def test_a_cheap_drag_selects_as_it_goes_throttled(setup, qtbot):
    viewer, widget, image, _ = setup
    feats = _features(image)
    x, y = feats[..., 0], feats[..., 1]
    plot = widget.plot
    plot.tool = "rectangle"
    plot.begin_drag((float(x.min()), float(y.min())))
    for q in (30, 40, 50):
        plot.extend_drag((float(np.percentile(x, q)), float(np.percentile(y, q))))
    assert widget._live_timer.isActive()  # one selection for the three moves
    box = [(x.min(), y.min()), (np.percentile(x, 50), y.min()),
           (np.percentile(x, 50), np.percentile(y, 50)), (x.min(), np.percentile(y, 50))]
    qtbot.waitUntil(lambda: SELECTION_LAYER in viewer.layers and np.array_equal(
        viewer.layers[SELECTION_LAYER].data.astype(bool), select(x, y, box)), timeout=5000)
    assert widget.live_selection()  # a 96² image selects well within a frame
