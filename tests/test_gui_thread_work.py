"""What the GUI thread does while the user paints (issue 12: the brush never lags).

Each test pins one of the stalls ``bench/event_loop.py`` found: a full
garbage collection, the busy indicator flashing on every fast preview, the
seeds copied on the GUI thread, a collapsed Feature space section redrawing.
"""

import gc
import os
import threading
import weakref

import numpy as np
import pytest
from qtpy.QtWidgets import QLabel, QProgressBar, QWidget

import napari_seglab._widgets.live_preview as live_module
from napari_seglab._widgets import gc_pauses
from napari_seglab._widgets.jobs import Job
from napari_seglab._widgets.panel import SeglabPanel
from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom
from napari_seglab.core.threads import available

pytestmark = pytest.mark.gui


def _panel(viewer, image):
    viewer.add_image(image, name="image")
    panel = SeglabPanel(viewer)
    viewer.window.add_dock_widget(panel, name="Segmentation Lab", area="right")
    return panel


class _Shown:
    """Records every ``setVisible`` of a progress bar."""

    def __init__(self, bar):
        self.calls = []
        real = bar.setVisible
        bar.setVisible = lambda visible: (self.calls.append(visible), real(visible))


def _job(qtbot, busy_after_ms):
    owner = QWidget()
    qtbot.addWidget(owner)
    status, bar = QLabel(owner), QProgressBar(owner)
    bar.setVisible(False)
    job = Job("Live update", owner, status.setText, bar=bar, busy_after_ms=busy_after_ms)
    return job, status, bar


def test_a_fast_run_never_flashes_the_busy_state(qtbot):
    job, status, bar = _job(qtbot, busy_after_ms=300)
    shown = _Shown(bar)
    results = []
    with qtbot.waitSignal(job.done, timeout=10_000):
        job.start(lambda: 41, on_result=results.append, what="Live kNN")
    assert results == [41]
    assert shown.calls == [] and status.text() == ""  # no bar, no "…" status


def test_a_slow_run_shows_the_bar_and_elapsed_time_then_hides_them(qtbot):
    job, status, bar = _job(qtbot, busy_after_ms=100)
    release = threading.Event()
    job.start(lambda: release.wait(20) and 7, on_result=lambda r: None, what="Live forest")
    assert not bar.isVisibleTo(bar.parent())
    qtbot.waitUntil(lambda: bar.isVisibleTo(bar.parent()), timeout=10_000)
    qtbot.waitUntil(lambda: status.text().startswith("Live forest…")
                    and status.text().endswith(" s"), timeout=10_000)
    with qtbot.waitSignal(job.done, timeout=10_000):
        release.set()
    assert not bar.isVisibleTo(bar.parent())


def test_a_fast_run_does_not_hide_a_slow_run_of_another_job(qtbot):
    # The live job and Segment share the bar: a live preview that ends must
    # not hide the bar of a Segment still running.
    segment, status, bar = _job(qtbot, busy_after_ms=0)
    live = Job("Live update", segment.owner, status.setText, bar=bar, busy_after_ms=300)
    release = threading.Event()
    segment.start(lambda: release.wait(20), on_result=lambda r: None, what="Segmenting")
    assert bar.isVisibleTo(bar.parent())
    with qtbot.waitSignal(live.done, timeout=10_000):
        live.start(lambda: 1, on_result=lambda r: None, what="Live kNN")
    assert bar.isVisibleTo(bar.parent())
    with qtbot.waitSignal(segment.done, timeout=10_000):
        release.set()
    assert not bar.isVisibleTo(bar.parent())


def test_live_preview_copies_the_seeds_in_its_worker_and_spares_a_core(make_napari_viewer, qtbot, monkeypatch):
    viewer = make_napari_viewer()
    image, truth = tissue_phantom((6, 48, 48), random_state=0)
    panel = _panel(viewer, image)
    seg = panel.segmentation
    seeds = seg.add_seeds_layer()
    viewer.dims.set_current_step(0, 3)
    threads = []
    real = live_module._live_in_thread

    def spy(data, seeds_array, *args, **kwargs):
        threads.append((threading.current_thread() is threading.main_thread(),
                        seeds_array is seeds.data))
        return real(data, seeds_array, *args, **kwargs)

    monkeypatch.setattr(live_module, "_live_in_thread", spy)
    cores = []
    real_slice = live_module.segment_slice
    monkeypatch.setattr(live_module, "segment_slice",
                        lambda *a, **k: cores.append(available()) or real_slice(*a, **k))
    scribbles = scribble_seeds(truth, length=10)
    seeds.data_setitem(np.nonzero(scribbles == 1), 1)
    seg.live.value = True
    with qtbot.waitSignal(seg.live_shown, timeout=60_000):
        seeds.data_setitem(np.nonzero(scribbles == 2), 2)
    qtbot.waitUntil(lambda: not seg.live_job.running, timeout=60_000)
    # The layer's own array goes to the worker (no copy on the GUI thread),
    # and the worker runs off the GUI thread.
    assert threads and all(not on_main and given for on_main, given in threads)
    # ...and it leaves one core to the GUI thread.
    assert cores and set(cores) == {max(1, (os.cpu_count() or 1) - 1)}
    result = viewer.layers["segmentation"].data[3]
    assert set(np.unique(result)) == {1, 2}


def test_collapsed_feature_space_waits_until_it_is_opened(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    image, truth = tissue_phantom((64, 64), random_state=0)
    panel = _panel(viewer, image)
    space = panel.widgets["Feature space"]
    assert not panel.sections["Feature space"].expanded
    seeds = panel.segmentation.add_seeds_layer()
    space.seeds_combo.setCurrentIndex(space.seeds_combo.findText(seeds.name))
    qtbot.waitUntil(lambda: not space.busy, timeout=30_000)
    drawn = []
    space.plot.set_seeds = lambda groups: drawn.append(groups)
    regions = space._gen["regions"]
    scribbles = scribble_seeds(truth, length=10)
    seeds.data_setitem(np.nonzero(scribbles == 1), 1)
    seeds.data_setitem(np.nonzero(scribbles == 2), 2)
    qtbot.waitUntil(lambda: space._stale, timeout=10_000)
    # Strokes redraw nothing and start no decision-region job for a hidden plot.
    assert drawn == [] and space._gen["regions"] == regions and not space.busy
    del space.plot.set_seeds
    panel.expand("Feature space")
    qtbot.waitUntil(lambda: space._current is not None and not space.busy
                    and space.seed_points is not None, timeout=60_000)
    n_seeded = int((scribbles == 1).sum() + (scribbles == 2).sum())
    assert space.seed_points[0].size == n_seeded


def test_shown_panel_freezes_the_heap_and_frees_removed_layers(make_napari_viewer, qtbot,
                                                             monkeypatch):
    monkeypatch.delenv(gc_pauses.ENV, raising=False)
    viewer = make_napari_viewer(show=True)
    image, _ = tissue_phantom((64, 64), random_state=0)
    panel = _panel(viewer, image)
    qtbot.waitUntil(lambda: gc_pauses.held(id(panel)), timeout=10_000)
    assert gc.get_freeze_count() > 0
    extra = viewer.add_labels(np.zeros((64, 64), np.uint8), name="scratch")
    gc_pauses.refreeze()  # the new layer is frozen too: only a refreeze can free it
    gone = weakref.ref(extra)
    refreezes = []
    real = gc_pauses.refreeze
    monkeypatch.setattr(gc_pauses, "refreeze", lambda: refreezes.append(1) or real())
    viewer.layers.remove(extra)
    del extra
    qtbot.waitUntil(lambda: len(refreezes) == 1, timeout=10_000)
    qtbot.waitUntil(lambda: gone() is None, timeout=10_000)
    viewer.window._qt_window.hide()
    qtbot.waitUntil(lambda: not gc_pauses.held(id(panel)), timeout=10_000)
    assert gc.get_freeze_count() == 0


def test_freezing_can_be_turned_off(make_napari_viewer, qtbot, monkeypatch):
    monkeypatch.setenv(gc_pauses.ENV, "0")
    viewer = make_napari_viewer(show=True)
    image, _ = tissue_phantom((32, 32), random_state=0)
    panel = _panel(viewer, image)
    qtbot.waitUntil(lambda: panel.isVisible(), timeout=10_000)
    qtbot.waitUntil(lambda: not panel._freeze_timer.isActive(), timeout=10_000)
    assert not gc_pauses.held(id(panel)) and gc.get_freeze_count() == 0


def test_collapsed_measure_section_measures_when_opened(make_napari_viewer, qtbot, monkeypatch):
    import napari_seglab._widgets.measure as measure_module

    viewer = make_napari_viewer(show=True)
    image, truth = tissue_phantom((64, 64), random_state=0)
    panel = _panel(viewer, image)
    measure = panel.widgets["Measure"]
    assert not panel.sections["Measure"].expanded
    measured = []
    real = measure_module.segment_statistics
    monkeypatch.setattr(measure_module, "segment_statistics",
                        lambda *a, **k: measured.append(1) or real(*a, **k))
    viewer.add_labels(truth.astype(np.uint8), name="segmentation")
    qtbot.waitUntil(lambda: measure._stale, timeout=10_000)
    assert measured == []  # a hidden table is not recomputed
    panel.expand("Measure")
    qtbot.waitUntil(lambda: measured == [1] and measure.table.rowCount() == 2, timeout=30_000)  # labels 1, 2
