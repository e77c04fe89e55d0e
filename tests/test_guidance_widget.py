"""Next stroke: the Next button moves the view to the uncertain region; local corrections."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_seglab.core.phantoms import scribble_seeds

pytestmark = pytest.mark.gui


def _panel(viewer, sample):
    viewer.open_sample("napari-seglab", sample)
    _, panel = viewer.window.add_plugin_dock_widget("napari-seglab", "Segmentation Lab")
    return panel


def _paint(layer, labels):
    index = np.nonzero(labels)
    layer.data_setitem(index, labels[index])


def _segment(qtbot, seg):
    with qtbot.waitSignal(seg.finished_run, timeout=60_000) as blocker:
        seg.run.native.click()
    assert blocker.args[0] is not None, seg.status.value
    return blocker.args[0]


def test_next_moves_the_slice_and_camera_to_the_uncertain_region(make_napari_viewer, qtbot):
    from napari_seglab._widgets.guidance import GuidanceWidget

    viewer = make_napari_viewer()
    viewer.open_sample("napari-seglab", "phantom_3d")
    # The dock alone plus this section (the panel's other sections are not needed here).
    seg = viewer.window.add_plugin_dock_widget("napari-seglab", "Seeded segmentation")[1].section
    guide = GuidanceWidget(viewer, seg)
    viewer.window.add_dock_widget(guide)
    assert not guide.next.enabled  # nothing to point at before a result
    truth = viewer.layers["ground truth"].data
    _paint(viewer.layers["seeds"], scribble_seeds(truth, strokes_per_class=1))
    seg.method.value = "Nearest mean"
    result = _segment(qtbot, seg)
    assert guide.next.enabled and seg.last_proba is not None
    # The uncertainty layer stays the user's choice: Next does not add it.
    assert "uncertainty" not in [layer.name for layer in viewer.layers]
    viewer.dims.set_point(0, 0)
    region = guide.go_to_next()
    assert region is not None and region.slice is not None
    world = result.data_to_world(region.centre)
    assert viewer.dims.point[0] == pytest.approx(world[0], abs=result.scale[0])
    np.testing.assert_allclose(viewer.camera.center[-2:], world[-2:])
    assert "Paint here" in guide.status.value


def test_local_corrections_change_only_what_the_stroke_touches(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    panel = _panel(viewer, "phantom_2d")
    seg, guide = panel.segmentation, panel.guidance
    truth = viewer.layers["ground truth"].data
    seeds = viewer.layers["seeds"]
    _paint(seeds, scribble_seeds(truth, strokes_per_class=1, random_state=0))
    seg.method.value = "kNN"
    assert "Next stroke" in panel.sections  # the panel carries the section
    first = np.array(_segment(qtbot, seg).data)
    assert guide.local.value  # on by default
    # A correction stroke of the true class inside the largest error region.
    wrong = (first != truth + 1) & (np.asarray(seeds.data) == 0)
    regions, _ = ndi.label(wrong)
    biggest = np.bincount(regions.ravel())[1:].argmax() + 1
    r, c = np.argwhere(regions == biggest)[0]
    stroke = np.zeros_like(first, bool)
    stroke[r, c:c + 3] = regions[r, c:c + 3] == biggest
    _paint(seeds, np.where(stroke, truth + 1, 0).astype(np.uint8))
    layer = _segment(qtbot, seg)
    after = np.asarray(layer.data)
    changed = after != first
    assert changed[stroke].all()
    # Every change is connected to the stroke: nothing elsewhere moved by chance.
    comp, _ = ndi.label(changed, np.ones((3, 3)))
    touching = np.unique(comp[ndi.binary_dilation(stroke) & changed])
    assert set(np.unique(comp[changed])) <= set(touching)
    assert "Local correction" in guide.status.value


def test_grow_on_the_probabilities_is_offered_for_the_forests_and_the_blend(
        make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-seglab", "phantom_2d")
    seg = viewer.window.add_plugin_dock_widget("napari-seglab", "Seeded segmentation")[1].section
    truth = viewer.layers["ground truth"].data
    _paint(viewer.layers["seeds"], scribble_seeds(truth, strokes_per_class=2))
    assert seg.method.value == "Fast forest" and not seg.grow_on_proba.native.isHidden()
    seg.grow_on_proba.value = True
    layer = _segment(qtbot, seg)
    assert seg.model.method == "fast_forest" and seg.model.segmenter_.grow
    assert (np.asarray(layer.data) == truth + 1).mean() > 0.8
    seg.method.value = "kNN"
    assert seg.grow_on_proba.native.isHidden()  # the option of the blend and the forest
    seg.method.value = "Context forest"
    assert not seg.grow_on_proba.native.isHidden()
    seg.grow_on_proba.value = True
    layer = _segment(qtbot, seg)
    assert seg.model.method == "context_forest" and seg.model.segmenter_.grow
    assert (np.asarray(layer.data) == truth + 1).mean() > 0.8
