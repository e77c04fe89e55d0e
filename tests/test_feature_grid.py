"""The feature grid: presets and ticks give the spec, its cost, feature layers, a ranking."""

import numpy as np
import pytest

import napari_seglab._widgets.feature_grid as grid_module
from napari_seglab._widgets.feature_grid import (
    CUSTOM,
    FEATURE_ROLE,
    METHOD_DEFAULT,
    FeatureGrid,
    format_bytes,
)
from napari_seglab._widgets.layers import META_KEY, layer_role
from napari_seglab._widgets.segmentation import SegmentationWidget
from napari_seglab.core.features import (
    FILTERS,
    ILASTIK_SIGMAS,
    PRESETS,
    FeatureSpec,
    compute_features,
    estimate_memory,
    rank_features,
    seed_features,
)
from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom


@pytest.fixture
def warnings_shown(monkeypatch):
    """Messages the grid shows the user as napari warnings."""
    shown = []
    monkeypatch.setattr(grid_module, "show_warning", shown.append)
    return shown


def make_grid(viewer, sample="phantom_2d"):
    """The sample's image and seeds, and a grid docked beside them."""
    viewer.open_sample("napari-seglab", sample)
    image = viewer.layers[0]
    chosen = {"image": image, "seeds": viewer.layers["seeds"]}
    grid = FeatureGrid(viewer, lambda: (chosen["image"], chosen["seeds"]))
    viewer.window.add_dock_widget(grid, name="Features")
    return grid, chosen


def paint_scribbles(viewer):
    """Paint like a user: through the Labels API, with undo history."""
    seeds = viewer.layers["seeds"]
    scribbles = scribble_seeds(viewer.layers["ground truth"].data + 1)
    index = np.nonzero(scribbles)
    seeds.data_setitem(index, scribbles[index])
    return scribbles


def ticked(grid):
    """(filter, σ) pairs ticked on screen, intensity included."""
    on = {key for key, box in grid.grid.cells.items() if box.isChecked()}
    return on | {(name, 0.0) for name, box in grid.unscaled.items() if box.value}


# -- choosing features ----------------------------------------------------------------


def test_rows_and_columns_come_from_the_core(make_napari_viewer):
    grid, _ = make_grid(make_napari_viewer())
    assert grid.grid.rows == [n for n in FILTERS if n != "intensity"]
    assert grid.grid.columns == list(ILASTIK_SIGMAS)
    assert list(grid.unscaled) == ["intensity"]
    # Sobel is also defined at σ = 0, but ilastik's grid starts at 0.3.
    assert len(grid.grid.cells) == len(grid.grid.rows) * len(ILASTIK_SIGMAS)
    assert "Hessian" in grid.grid.cells[("hessian_eigenvalues", 1.6)].toolTip()


def test_presets_and_custom_ticks(make_napari_viewer):
    grid, _ = make_grid(make_napari_viewer())
    emitted = []
    grid.spec_changed.connect(emitted.append)
    assert grid.value is None
    assert ticked(grid) == set(PRESETS["default"].filters)

    grid.preset.value = "minimal"
    assert grid.value == "minimal"
    assert ticked(grid) == {("intensity", 0.0), ("gaussian", 1.0)}
    assert emitted == ["minimal"]

    # A click in the grid makes a custom spec: the preset's entries, then the new one.
    grid.grid.cells[("laplacian", 3.5)].click()
    assert grid.preset.value == CUSTOM
    expected = FeatureSpec((("intensity", 0.0), ("gaussian", 1.0), ("laplacian", 3.5)))
    assert grid.value == expected
    assert emitted[-1] == expected
    # Unticking intensity drops it.
    grid.unscaled["intensity"].native.click()
    assert grid.value.filters == (("gaussian", 1.0), ("laplacian", 3.5))

    # Z-score and 2D-per-slice on a preset are custom specs with its filters.
    grid.preset.value = "smooth"
    grid.normalize.native.click()
    assert grid.value == FeatureSpec(PRESETS["smooth"].filters, normalize=True)

    grid.preset.value = METHOD_DEFAULT
    assert grid.value is None and emitted[-1] is None
    assert ticked(grid) == set(PRESETS["default"].filters)


def test_row_and_column_headers_toggle_a_line(make_napari_viewer):
    grid, _ = make_grid(make_napari_viewer())
    grid.preset.value = "minimal"
    from qtpy.QtWidgets import QToolButton

    buttons = {b.text(): b for b in grid.grid.findChildren(QToolButton)}
    buttons["DoG"].click()
    assert {s for n, s in grid.value.filters if n == "dog"} == set(ILASTIK_SIGMAS)
    buttons["DoG"].click()  # all ticked: the row is unticked
    assert not any(n == "dog" for n, _ in grid.spec.filters)
    assert grid.value == "minimal"  # back where it started: the preset again
    buttons["10"].click()
    assert {n for n, s in grid.value.filters if s == 10} == set(grid.grid.rows)


def test_value_setter_and_method_default(make_napari_viewer):
    grid, _ = make_grid(make_napari_viewer())
    grid.set_method_default("smooth")
    assert grid.value is None
    assert ticked(grid) == set(PRESETS["smooth"].filters)
    assert "smooth" in grid.preset.native.currentText()

    # A σ off ilastik's grid gets its own column; sobel at σ = 0 too.
    spec = FeatureSpec((("gaussian", 2.0), ("sobel", 0.0)), mode="2d", normalize=True)
    grid.value = spec
    assert grid.value == spec and grid.preset.value == CUSTOM
    assert 2.0 in grid.grid.columns and 0.0 in grid.grid.columns
    assert ticked(grid) == set(spec.filters)
    assert ("gaussian", 0.0) not in grid.grid.cells  # σ = 0 only where allowed
    assert grid.mode.value == "2d" and grid.normalize.value

    grid.value = "full"
    assert grid.value == "full" and ticked(grid) == set(PRESETS["full"].filters)
    with pytest.raises(ValueError, match="unknown feature preset 'fast'"):
        grid.value = "fast"
    with pytest.raises(TypeError, match="got int"):
        grid.value = 3
    with pytest.raises(ValueError, match="unknown preset 'fast'"):
        grid.set_method_default("fast")


def test_last_feature_cannot_be_unticked(make_napari_viewer, warnings_shown):
    grid, _ = make_grid(make_napari_viewer())
    grid.value = FeatureSpec((("gaussian", 1.0),))
    grid.grid.cells[("gaussian", 1.0)].click()
    assert grid.value == FeatureSpec((("gaussian", 1.0),))
    assert grid.grid.cells[("gaussian", 1.0)].isChecked()
    assert "at least one feature" in warnings_shown[-1]


# -- cost -------------------------------------------------------------------------------


def test_memory_label_follows_selection_and_image(make_napari_viewer, monkeypatch):
    viewer = make_napari_viewer()
    grid, chosen = make_grid(viewer)
    est = estimate_memory((256, 256), PRESETS["default"])
    assert "21 features" in grid.cost.value
    assert format_bytes(est.output) in grid.cost.value
    assert not grid.mode.enabled  # 2D image: no 2D/3D choice

    grid.preset.value = "minimal"
    assert "2 features" in grid.cost.value
    assert format_bytes(estimate_memory((256, 256), "minimal").output) in grid.cost.value

    # Another image: a 3D volume, anisotropic; the host calls refresh().
    volume, _ = tissue_phantom((20, 64, 64), random_state=0)
    chosen["image"] = viewer.add_image(volume, name="volume", scale=(3.0, 1.0, 1.0))
    grid.refresh()
    assert grid.mode.enabled
    grid.value = "default"
    # Hessian eigenvalues: 3 per σ in 3D, 2 in 2D-per-slice mode.
    assert "25 features" in grid.cost.value and "'volume'" in grid.cost.value
    grid.mode.value = "2d"
    assert grid.value.mode == "2d" and "21 features" in grid.cost.value

    # σ = 10 is 3.3 slices of 3 mm: fine; σ = 40 is not, and the label says so.
    grid.value = FeatureSpec((("gaussian", 40.0),))
    assert "more than half the image" in grid.cost.value
    # Above the budget (a tiny RAM here) the estimate is a warning.
    assert "RAM" not in grid.cost.value
    monkeypatch.setattr(grid_module, "total_ram", lambda: 2**20)
    grid.value = "default"
    assert "RAM" in grid.cost.value and grid_module._WARN_COLOUR in grid.cost.value


# -- show as layers ---------------------------------------------------------------------


def test_show_as_layers(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    grid, chosen = make_grid(viewer)
    image = chosen["image"]
    spec = FeatureSpec((("intensity", 0.0), ("gaussian", 1.6), ("hessian_eigenvalues", 1.0)))
    grid.value = spec
    with qtbot.waitSignal(grid.layers_shown, timeout=60_000):
        grid.show_layers_button.native.click()
    names = spec.names(1, 2)
    ours = [layer for layer in viewer.layers if layer_role(layer) == FEATURE_ROLE]
    assert [layer.name for layer in ours] == names[::-1]  # first feature on top
    expected = compute_features(image.data, spec, spacing=tuple(image.scale))
    for i, name in enumerate(names):
        layer = viewer.layers[name]
        np.testing.assert_array_equal(layer.data, expected[..., i])
        assert layer.visible == (i == 0)
        np.testing.assert_array_equal(layer.scale, image.scale)
        assert layer.metadata[META_KEY]["source"] == image.name
    # Right above the image: seeds and ground truth stay on top of them.
    order = [layer.name for layer in viewer.layers]
    assert order.index(names[0]) < order.index("seeds")
    assert order.index(image.name) == order.index(names[-1]) - 1
    # Not offered as images to segment.
    host = SegmentationWidget(viewer)
    assert [name for name, _ in host._image_choices()] == [image.name]

    # Second press with another selection: same-named layers re-used, others dropped.
    kept = viewer.layers["gaussian σ=1.6"]
    kept.visible = True
    grid.value = FeatureSpec((("gaussian", 1.6), ("gaussian", 3.5)))
    with qtbot.waitSignal(grid.layers_shown, timeout=60_000):
        grid.show_layers_button.native.click()
    ours = [layer for layer in viewer.layers if layer_role(layer) == FEATURE_ROLE]
    assert sorted(layer.name for layer in ours) == ["gaussian σ=1.6", "gaussian σ=3.5"]
    assert viewer.layers["gaussian σ=1.6"] is kept and kept.visible
    np.testing.assert_array_equal(
        viewer.layers["gaussian σ=3.5"].data,
        compute_features(image.data, FeatureSpec((("gaussian", 3.5),)))[..., 0])


def test_show_as_layers_warns_instead_of_failing(make_napari_viewer, qtbot, warnings_shown,
                                                 monkeypatch):
    viewer = make_napari_viewer()
    grid, chosen = make_grid(viewer)
    n_layers = len(viewer.layers)
    with monkeypatch.context() as patch:
        patch.setattr(grid_module, "total_ram", lambda: 2**20)
        assert grid.show_layers() is None
    assert "RAM" in warnings_shown[-1] and "tick fewer" in warnings_shown[-1]
    # A σ the image cannot take: the worker's message, no layer, no crash.
    grid.value = FeatureSpec((("gaussian", 200.0),))
    with qtbot.waitSignal(grid.layers_shown, timeout=60_000) as blocker:
        grid.show_layers_button.native.click()
    assert blocker.args == [None]
    assert "more than half the image" in warnings_shown[-1]
    chosen["image"] = None
    assert grid.show_layers() is None
    assert "No image layer" in warnings_shown[-1]
    assert len(viewer.layers) == n_layers


# -- ranking ------------------------------------------------------------------------------


def test_rank_features_fills_table_and_suggests(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    grid, chosen = make_grid(viewer)
    scribbles = paint_scribbles(viewer)
    grid.keep.value = 3
    with qtbot.waitSignal(grid.ranked, timeout=120_000) as blocker:
        grid.rank_button.native.click()
    ranking = blocker.args[0]
    spec = PRESETS["default"]
    names = spec.names(1, 2)
    assert sorted(name for name, _ in ranking) == sorted(names)
    # The ranking is rank_features' on the seed pixels' features.
    X, y = seed_features(chosen["image"].data, scribbles, spec)
    assert ranking == rank_features(X, y, names)
    table = grid.table
    assert not table.isHidden() and table.rowCount() == len(names)
    assert [table.item(r, 0).text() for r in range(table.rowCount())] == \
        [name for name, _ in ranking]
    assert table.item(0, 1).text() == f"{ranking[0][1]:.4f}"

    assert grid.use_suggestion.enabled
    grid.use_suggestion.native.click()
    suggested = grid.value
    assert isinstance(suggested, FeatureSpec) and grid.preset.value == CUSTOM
    assert suggested == grid.suggestion
    # Three filters plus intensity (kept: it is free), all from the ranked spec.
    assert len(suggested.filters) in (3, 4)
    assert set(suggested.filters) <= set(spec.filters)
    assert ticked(grid) == set(suggested.filters)


def test_rank_without_two_classes_says_what_to_do(make_napari_viewer, warnings_shown):
    viewer = make_napari_viewer()
    grid, chosen = make_grid(viewer)
    assert grid.rank() is None
    assert "two classes" in warnings_shown[-1] and "no seeds yet" in warnings_shown[-1]
    viewer.layers["seeds"].data_setitem((np.array([5, 6]), np.array([5, 5])), 2)
    grid.rank_button.native.click()
    assert "only label 2" in warnings_shown[-1]
    chosen["seeds"] = None
    assert grid.rank() is None
    assert "New seeds layer" in warnings_shown[-1]
    assert grid.table.rowCount() == 0 and not grid.use_suggestion.enabled
