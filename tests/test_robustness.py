"""Closing and loading while work runs: through the real widgets, nothing printed, nothing lost."""

import logging
import sys

import numpy as np
import pytest
from napari.utils.notifications import NotificationSeverity, notification_manager

import napari_seglab._widgets.jobs as jobs_module
import napari_seglab._widgets.model_files as model_files_module
from napari_seglab.core.phantoms import scribble_seeds

pytestmark = pytest.mark.gui


def dock(viewer, name="Seeded segmentation"):
    _, widget = viewer.window.add_plugin_dock_widget("napari-seglab", name)
    return widget


def paint(layer, mask, value):
    layer.data_setitem(np.nonzero(mask), value)


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
    viewer = make_napari_viewer()
    viewer.open_sample("napari-seglab", "phantom_3d")
    seg = dock(viewer)
    seeds = viewer.layers["seeds"]
    scribbles = scribble_seeds(viewer.layers["ground truth"].data)
    paint(seeds, scribbles > 0, scribbles[scribbles > 0])
    seg.method.value = "Random forest"
    job = seg.job
    worker = seg.start_segmentation()
    assert worker is not None and job.running
    seg.method.value = "Nearest mean"  # what is selected now is not what ran
    with (caplog.at_level(logging.INFO, logger=jobs_module.__name__),
          qtbot.waitSignal(worker.finished, timeout=60_000)):
        viewer.close()
    assert errors_reported == []
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "Random forest" in logged and "stopped" in logged, logged
