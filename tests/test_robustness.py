"""Closing and loading while work runs: through the real widgets, nothing printed, nothing lost."""

import logging
import sys

import pytest
from gui_helpers import dock
from napari.utils.notifications import NotificationSeverity, notification_manager

import napari_seglab._widgets.jobs as jobs_module
import napari_seglab._widgets.model_files as model_files_module
from napari_seglab.core.phantoms import scribble_seeds

pytestmark = pytest.mark.gui


@pytest.fixture
def errors_reported(monkeypatch, capsys):
    """Everything a Qt callback raised or napari was asked to show as an error."""
    reported = []
    monkeypatch.setattr(sys, "excepthook", lambda *exc: reported.append(exc[1]))
    for module in (jobs_module, model_files_module):
        monkeypatch.setattr(module, "show_error", lambda text: reported.append(text),
                            raising=False)

    def on_notification(notification):
        if notification.severity >= NotificationSeverity.ERROR:
            reported.append(notification.message)

    # napari routes uncaught exceptions of Qt callbacks to its notifications.
    notification_manager.notification_ready.connect(on_notification)
    yield reported
    notification_manager.notification_ready.disconnect(on_notification)
    printed = capsys.readouterr().err
    assert "Traceback" not in printed and "deleted" not in printed, printed


def test_closing_the_viewer_during_segment_prints_nothing(make_napari_viewer, qtbot, caplog,
                                                          errors_reported):
    # Closing printed two "wrapped C/C++ object of type ... has been deleted"
    # tracebacks: the layers' removal cancelled the job, which wrote to a dead
    # status line.
    from napari_seglab.core.phantoms import tissue_phantom

    image, truth = tissue_phantom((24, 64, 64), random_state=1)
    viewer = make_napari_viewer()
    viewer.add_image(image, name="volume")
    seeds = viewer.add_labels(scribble_seeds(truth, random_state=0), name="seeds")
    seg = dock(viewer)
    assert seg.image.value.name == "volume" and seg.seeds.value is seeds
    seg.method.value = "Nearest mean"
    job = seg.job
    worker = seg.start_segmentation()
    assert worker is not None and job.running
    seg.method.value = "Random forest"  # what is selected now is not what ran
    with (caplog.at_level(logging.INFO, logger=jobs_module.__name__),
          qtbot.waitSignal(worker.finished, timeout=60_000)):
        viewer.close()
    assert errors_reported == []
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "with Nearest mean" in logged and "stopped" in logged, logged


@pytest.fixture
def warnings_shown(monkeypatch):
    shown = []
    for module in (jobs_module, model_files_module):
        monkeypatch.setattr(module, "show_warning", shown.append)
    return shown


def test_load_model_runs_in_a_worker_and_keeps_the_current_model(
        make_napari_viewer, qtbot, tmp_path, warnings_shown, errors_reported):
    # Load refitted a forest in the GUI thread (tens of seconds, frozen).
    from napari_seglab.core.model_io import SeededModel, save_model
    from napari_seglab.core.phantoms import tissue_phantom

    image, truth = tissue_phantom((48, 48), random_state=0)
    seeds = scribble_seeds(truth, random_state=0)
    forest_file = tmp_path / "forest.seglab.npz"
    save_model(forest_file, SeededModel("random_forest", "minimal", n_estimators=5)
               .fit(image, seeds))
    damaged = tmp_path / "damaged.seglab.npz"
    damaged.write_bytes(forest_file.read_bytes()[:200])
    viewer = make_napari_viewer()
    seg = dock(viewer)
    current = SeededModel("nearest_mean", "minimal").fit(image, seeds)
    seg._keep_model(current, "a test image")

    worker = seg.load_model_file(path=str(forest_file))
    assert worker is not None and seg.job.running and seg.cancel.enabled
    assert seg.model is current  # until the new one is ready
    assert "Loading the model forest.seglab.npz" in seg.status.value
    with qtbot.waitSignal(seg.job.done, timeout=30_000) as loaded:
        pass
    assert loaded.args[0] is seg.model and seg.model.method == "random_forest"
    assert "Model loaded" in seg.status.value and not seg.cancel.enabled

    # Cancel stops the load: the model that was there stays.
    before = seg.model
    worker = seg.load_model_file(path=str(forest_file))
    seg.cancel.changed.emit(True)  # what pressing Cancel does
    assert "Load model cancelled" in seg.status.value and not seg.cancel.enabled
    qtbot.waitUntil(lambda: not worker.is_running, timeout=30_000)
    assert seg.model is before

    # A damaged file: the same clear warning, the model stays.
    with qtbot.waitSignal(seg.job.done, timeout=30_000) as refused:
        seg.load_model_file(path=str(damaged))
    assert refused.args == [None] and seg.model is before
    assert len(warnings_shown) == 1 and "not a valid" in warnings_shown[0], warnings_shown
    assert "Load model: not done" in seg.status.value
