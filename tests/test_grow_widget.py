"""The Grow from seeds dock through the real widget: every seed edit is followed."""

import warnings

import numpy as np
import pytest
from napari.components import ViewerModel
from napari.utils._proxies import PublicOnlyProxy
from qtpy.QtWidgets import QVBoxLayout, QWidget

from napari_seglab._widgets import grow as grow_module
from napari_seglab._widgets.cleanup import CleanUpWidget
from napari_seglab._widgets.grow import PREVIEW_NAME, GrowFromSeedsWidget
from napari_seglab._widgets.views import OrthogonalViews, current_plane, plane_order
from napari_seglab.core.growcut import grow_from_seeds, locality_unit
from napari_seglab.core.phantoms import tissue_phantom

SPACING = (2.0, 1.0, 1.0)
#: First runs may compile the numba loop (cached on disk afterwards).
TIMEOUT = 60_000


@pytest.fixture
def scene(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    image, truth = tissue_phantom((12, 48, 48), random_state=4)
    viewer.add_image(image, name="phantom", scale=SPACING)
    seeds = viewer.add_labels(np.zeros(image.shape, np.uint8), name="seeds", scale=SPACING,
                              features={"index": [1, 2, 3],
                                        "name": ["background", "tissue", "fluid"]})
    widget = GrowFromSeedsWidget(viewer)
    qtbot.addWidget(widget)
    return viewer, widget, image, truth, seeds


def _stroke(seeds, truth, value, klass, z, count=4):
    """A short stroke of label ``value`` on slice ``z``, on voxels of class ``klass``."""
    ys, xs = np.nonzero(truth[z] == klass)
    middle = len(ys) // 2
    where = (np.full(count, z), ys[middle:middle + count], xs[middle:middle + count])
    seeds.data_setitem(where, value)
    return where


def _wait_for(qtbot, widget, image, seeds, **options):
    """Wait until the preview equals a fresh run on the seeds as they are now."""
    expected = grow_from_seeds(image, np.asarray(seeds.data), spacing=SPACING, **options)

    def matches():
        preview = widget.preview_layer
        return (not widget.busy and preview is not None
                and np.array_equal(preview.data, expected))

    qtbot.waitUntil(matches, timeout=TIMEOUT)
    return expected


def test_preview_follows_every_seed_edit_then_apply_and_undo(scene, qtbot):
    viewer, widget, image, truth, seeds = scene
    assert widget.image_combo.currentText() == "phantom"
    assert widget.seeds_combo.currentText() == "seeds"
    _stroke(seeds, truth, 1, 0, 6)
    _stroke(seeds, truth, 2, 1, 6)
    extra = _stroke(seeds, truth, 3, 2, 5)
    _stroke(seeds, truth, 3, 2, 7)
    first = _wait_for(qtbot, widget, image, seeds)        # no click: painting was enough
    preview = viewer.layers[PREVIEW_NAME]
    assert preview.opacity == 0.5
    assert tuple(preview.scale) == SPACING
    names = [layer.name for layer in viewer.layers]
    assert names.index("phantom") < names.index(PREVIEW_NAME) < names.index("seeds")
    assert viewer.layers.selection.active is seeds and seeds.mode == "paint"
    assert widget.segments.count() == 3 and "tissue" in widget.segments.item(1).text()
    widget.opacity.setValue(0.3)
    assert preview.opacity == pytest.approx(0.3)

    seeds.data_setitem(extra, 0)                          # erase a stroke
    assert not np.array_equal(_wait_for(qtbot, widget, image, seeds), first)
    seeds.undo()                                          # the stroke comes back
    np.testing.assert_array_equal(_wait_for(qtbot, widget, image, seeds), first)
    seeds.undo()                                          # a stroke goes
    _wait_for(qtbot, widget, image, seeds)
    seeds.redo()
    _wait_for(qtbot, widget, image, seeds)
    start = tuple(int(i[0]) for i in extra)
    seeds.fill(start, 2)                                  # relabel a stroke with the bucket
    assert seeds.data[start] == 2
    _wait_for(qtbot, widget, image, seeds)
    seeds.undo()
    _wait_for(qtbot, widget, image, seeds)
    replaced = np.asarray(seeds.data).copy()
    replaced[replaced == 3] = 0
    seeds.data = replaced                                 # events.data, no paint
    _wait_for(qtbot, widget, image, seeds)
    assert widget.segments.count() == 2

    # Paint on coronal and sagittal slices: same layer, the right voxels.
    widget.views.buttons["Coronal"].click()
    assert tuple(viewer.dims.order) == (1, 0, 2)
    assert current_plane(viewer.dims.order, 3) == "Coronal"
    assert widget.views.buttons["Coronal"].isChecked()
    seeds.brush_size = 7                                  # world units: 3 slices of 2 mm
    before = np.asarray(seeds.data).copy()
    seeds.paint((6, 20, 30), 3)                           # a dab on the coronal slice y=20
    painted = np.argwhere((seeds.data == 3) & (before != 3))
    assert set(painted[:, 1].tolist()) == {20}            # one coronal plane ...
    assert len(set(painted[:, 0].tolist())) > 1           # ... spanning slices (z)
    widget.views.buttons["Sagittal"].click()
    assert tuple(viewer.dims.order) == (2, 0, 1)
    before = np.asarray(seeds.data).copy()
    seeds.paint((6, 30, 10), 1)                           # on the sagittal slice x=10
    painted = np.argwhere((seeds.data == 1) & (before != 1))
    assert set(painted[:, 2].tolist()) == {10} and len(painted) > 1
    widget.views.buttons["Axial"].click()
    assert tuple(viewer.dims.order) == (0, 1, 2)
    _wait_for(qtbot, widget, image, seeds)                # strokes of all planes grow

    plain = np.asarray(widget.preview_layer.data).copy()
    widget.locality.setValue(5.0)                         # λ re-runs without a click
    lam = 5.0 * locality_unit(image, SPACING)              # the factor in noise steps per voxel
    grown = _wait_for(qtbot, widget, image, seeds, seed_locality=lam)
    assert np.count_nonzero(grown != plain) > 0.01 * grown.size   # a visible change
    assert f"λ = {lam:.3g} per mm" in widget.status.text()
    assert viewer.layers.selection.active is seeds

    widget.apply_button.click()
    segmentation = viewer.layers["segmentation"]
    np.testing.assert_array_equal(segmentation.data, grown)
    assert tuple(segmentation.scale) == SPACING
    assert PREVIEW_NAME not in viewer.layers
    assert viewer.layers.selection.active is seeds
    segmentation.undo()                                   # one step reverts the Apply
    assert not np.asarray(segmentation.data).any()


def test_one_segment_needs_a_mask_or_range_then_cancel(scene, qtbot, monkeypatch):
    viewer, widget, image, truth, seeds = scene
    where = _stroke(seeds, truth, 2, 1, 6)
    qtbot.waitUntil(lambda: "second label" in widget.status.text(), timeout=TIMEOUT)
    assert not widget.busy and widget.preview_layer is None
    assert (seeds.data[where] == 2).all()                 # nothing painted is touched

    viewer.add_labels((truth > 0).astype(np.uint8), name="head", scale=SPACING)
    widget.mask_combo.setCurrentText("head")
    widget.range_check.setChecked(True)
    lo = 0.3
    widget.range_slider.setValue((lo, float(image.max())))
    with warnings.catch_warnings():  # the core's note, shown in the status line
        warnings.simplefilter("ignore", UserWarning)
        expected = _wait_for(qtbot, widget, image, seeds, mask=truth > 0,
                             intensity_range=widget.range_slider.value())
    assert "one segment" in widget.status.text()  # the panel says what it did
    left_out = np.count_nonzero(expected[widget._session.last_run["crop"]] == 0)
    assert f"{left_out} voxels of the region outside the intensity range" in widget.status.text()
    assert expected.any() and not expected[truth == 0].any()
    assert not expected[image < lo].any()

    widget.cancel_button.click()
    assert PREVIEW_NAME not in viewer.layers
    assert widget._session is None and not widget.auto_update.isChecked()
    _stroke(seeds, truth, 2, 1, 4)                        # no auto-update: nothing runs
    assert widget.preview_layer is None and not widget.busy

    class TooBig:                                         # the core's memory refusal
        def __init__(self, *args, **kwargs):
            raise ValueError("grow from seeds on this region needs about 99.0 GiB")

    monkeypatch.setattr(grow_module, "GrowFromSeeds", TooBig)
    painted = np.asarray(seeds.data).copy()
    widget.auto_update.setChecked(True)
    qtbot.waitUntil(lambda: not widget.busy and "99.0 GiB" in widget.status.text(),
                    timeout=TIMEOUT)
    np.testing.assert_array_equal(seeds.data, painted)   # nothing lost
    assert widget.preview_layer is None


def test_a_hidden_section_does_not_grow_until_shown(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    image, truth = tissue_phantom((8, 32, 32), random_state=4)
    viewer.add_image(image, name="phantom", scale=SPACING)
    seeds = viewer.add_labels(np.zeros(image.shape, np.uint8), name="seeds", scale=SPACING)
    section = QWidget()                                   # a collapsed panel section
    qtbot.addWidget(section)
    widget = GrowFromSeedsWidget(viewer)
    QVBoxLayout(section).addWidget(widget)
    section.show()
    widget.hide()
    _stroke(seeds, truth, 1, 0, 4)
    _stroke(seeds, truth, 2, 1, 4)                        # seeds painted for another method
    qtbot.waitUntil(lambda: widget.segments.count() == 2, timeout=TIMEOUT)
    assert not widget.busy and widget.preview_layer is None
    widget.show()                                         # the section opens: it catches up
    _wait_for(qtbot, widget, image, seeds)


def test_plane_buttons_are_disabled_for_a_2d_image(qtbot):
    viewer = ViewerModel()                                # the buttons only use dims
    viewer.add_image(np.zeros((8, 8), np.float32))
    views = OrthogonalViews(viewer)
    qtbot.addWidget(views)
    assert not views.buttons["Axial"].isEnabled()
    assert plane_order("Sagittal", 4) == (0, 3, 1, 2)
    with pytest.raises(ValueError, match="2"):
        plane_order("Axial", 2)
    with pytest.raises(ValueError, match="'Oblique'"):
        plane_order("Oblique", 3)


def test_a_deleted_dock_lets_go_of_the_viewer(scene, qtbot):
    viewer, _, image, truth, seeds = scene
    # As from the Plugins menu: napari hands a public-only proxy of the viewer.
    grow, cleanup = GrowFromSeedsWidget(PublicOnlyProxy(viewer)), CleanUpWidget(viewer)
    assert grow.viewer is viewer

    def follows(emitter, widget):
        return any(isinstance(cb, tuple) and cb[0]() is widget for cb in emitter.callbacks)

    assert follows(seeds.events.paint, grow)
    for dock in (grow, cleanup):                          # napari deletes a closed dock
        with qtbot.waitSignal(dock.destroyed, timeout=5_000):
            dock.deleteLater()
    assert not follows(seeds.events.paint, grow) and grow._seeds_layer is None
    assert not follows(viewer.dims.events.order, grow.views)
    viewer.dims.order = (1, 0, 2)                         # no call into deleted buttons
    _stroke(seeds, truth, 1, 0, 6)                        # nor into the deleted docks
    seeds.undo()
    viewer.add_labels(np.zeros(image.shape, np.uint8), name="more")
