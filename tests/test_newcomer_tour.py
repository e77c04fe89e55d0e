"""The README's "first segmentation in one minute", step by step, as a newcomer does it.

The keys the README names are checked against the installed napari's own
key bindings, and triggered through napari's actions (what a key press runs).
"""

import numpy as np
import pytest
from napari.settings import get_settings
from napari.utils.action_manager import action_manager

from napari_seglab.core.phantoms import scribble_seeds

pytestmark = pytest.mark.gui

#: Keys the README's first minute names, and the napari action each must run.
README_KEYS = {
    "=": "napari:increase_label_id",
    "-": "napari:decrease_label_id",
    "2": "napari:activate_labels_paint_mode",
    "P": "napari:activate_labels_paint_mode",
    "1": "napari:activate_labels_erase_mode",
    "E": "napari:activate_labels_erase_mode",
    "4": "napari:activate_labels_fill_mode",
    "F": "napari:activate_labels_fill_mode",
    "3": "napari:activate_labels_polygon_mode",
    "[": "napari:decrease_brush_size",
    "]": "napari:increase_brush_size",
}


def test_readme_keys_are_napari_key_bindings():
    shortcuts = get_settings().shortcuts.shortcuts
    for key, action in README_KEYS.items():
        bound = [str(binding) for binding in shortcuts[action]]
        assert key in bound, (key, action, bound)


def test_first_minute_tour(make_napari_viewer, qtbot):
    # `python -m napari_seglab`: the 2D phantom, the panel, the seeds ready to paint.
    viewer = make_napari_viewer()
    viewer.open_sample("napari-seglab", "phantom_2d")
    _, panel = viewer.window.add_plugin_dock_widget("napari-seglab", "Segmentation Lab")
    seeds = viewer.layers["seeds"]
    viewer.layers.selection.active = seeds
    seeds.mode = "paint"
    seg, ev = panel.segmentation, panel.evaluation
    assert seg.seeds.value is seeds and seeds.selected_label == 1
    truth = np.asarray(viewer.layers["ground truth"].data)
    strokes = scribble_seeds(truth)

    def stroke(label):
        """A brush stroke of ``label`` where the scribbles put it (napari's paint)."""
        for point in np.argwhere(strokes == label)[::4]:
            seeds.paint(tuple(point), seeds.selected_label)

    # Step 1: label 1 on the background, `=` → 2 (tissue), `=` → 3 (fluid).
    stroke(1)
    action_manager.trigger("napari:increase_label_id")
    assert seeds.selected_label == 2
    stroke(2)
    action_manager.trigger("napari:increase_label_id")
    assert seeds.selected_label == 3
    stroke(3)
    action_manager.trigger("napari:decrease_label_id")  # `-` goes back
    assert seeds.selected_label == 2
    action_manager.trigger("napari:activate_labels_polygon_mode")  # `3`: not a label
    assert seeds.mode == "polygon" and seeds.selected_label == 2
    action_manager.trigger("napari:activate_labels_paint_mode")  # `2`: paint again
    assert seeds.mode == "paint"
    painted = np.unique(np.asarray(seeds.data))
    assert painted.tolist() == [0, 1, 2, 3]
    qtbot.waitUntil(lambda: "3: fluid" in seg.legend.value, timeout=5000)
    # ... or click a class's number in the list.
    seg.class_editor.paint_with(3)
    assert seeds.selected_label == 3 and viewer.layers.selection.active is seeds

    # Step 2: Segment; Evaluation scores against the truth, mapped by name.
    with qtbot.waitSignal(seg.finished_run, timeout=60_000):
        seg.run.native.click()
    result = viewer.layers["segmentation"]
    assert set(np.unique(result.data)) == {1, 2, 3}
    qtbot.waitUntil(lambda: "Mean Dice" in ev.results.value, timeout=10_000)
    assert seg.panel_model.mapping == {0: 1, 1: 2, 2: 3}
    assert ev.last_scores["mean_dice"] > 0.8
    assert "confusion" in viewer.layers
    assert viewer.layers.selection.active is seeds  # the next stroke needs no click

    # Step 3: Live update: the next stroke retrains and redraws.
    seg.live.value = True
    with qtbot.waitSignal(seg.live_shown, timeout=60_000,
                          check_params_cb=lambda generation: generation is not None):
        seeds.paint((128, 128), 3)
        seeds.paint((40, 200), 3)
    # a preview for the new stroke was shown (generation not None): no button pressed
