"""Background jobs of a panel: one kind at a time, newest wins, progress in the panel, Cancel.

Every long computation of the napari side (Segment, Apply, live preview,
features, ranking, grow from seeds) goes through a :class:`Job`:

* one worker per job kind: starting again makes the running one outdated
  (its result is dropped) and asks it to stop at its next step;
* progress ``(stage, done, total)`` yielded by a generator goes to the panel's
  own :class:`QProgressBar` and status line, with the elapsed time. napari's
  ``progress`` widget is not used: its update processes events, and drawing a
  canvas whose image layer was just removed crashed the process;
* a job stops (and says so) when one of the layers it reads is removed or
  changes shape (:class:`InputWatch`, also used by the sections that run
  their own workers: Grow from seeds, Clean up);
* failures: a :class:`Failure` returned, or a ``ValueError``/``TypeError``
  raised in the worker, becomes a warning notification that says what to do;
  anything else an error notification. Nothing the user painted is touched;
* a panel that is closed while a job runs (or the viewer with it) stops the
  job and drops its result without touching a widget; the log says which
  run it was ("Segmenting 'cells' with Random forest: stopped, ...");
* a job with ``busy_after_ms`` shows its busy state (bar, "…" status,
  elapsed time, Cancel) only once it has run that long. Live previews take
  20–100 ms: showing and hiding the bar relaid the panel out and repainted
  the window (~40 ms each with the canvas in it), twice per stroke.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_warning
from psygnal import Signal
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QProgressBar

__all__ = ["Failure", "InputWatch", "Job", "alive", "make_progress_bar"]

log = logging.getLogger(__name__)


@dataclass
class Failure:
    """What a worker returns when the input cannot be processed (a message to show)."""

    message: str


def make_progress_bar() -> QProgressBar:
    """A slim progress bar for a panel, hidden until a job runs."""
    bar = QProgressBar()
    bar.setMaximumHeight(14)
    bar.setTextVisible(False)
    bar.setVisible(False)
    return bar


def _alive(qobject) -> bool:
    try:
        qobject.objectName()
    except RuntimeError:  # the C++ object was deleted (panel closed)
        return False
    return True


alive = _alive


def _shape(layer):
    data = getattr(layer, "data", None)
    if getattr(layer, "multiscale", False):
        data = data[0]
    return tuple(getattr(data, "shape", ()))


class InputWatch:
    """Calls ``on_lost(reason)`` when a watched layer is removed or changes shape.

    ``watch(layers)`` while a job runs, ``clear()`` when it ends. Nothing
    is called once ``owner`` (the section) is deleted: the viewer's signals
    are let go of then.
    """

    def __init__(self, viewer, owner, on_lost: Callable[[str], None]):
        self.viewer, self.owner, self.on_lost = viewer, owner, on_lost
        self._layers = ()
        self._shapes = {}
        self._connected = False
        if viewer is not None:
            viewer.layers.events.removed.connect(self._removed)
            self._connected = True
            owner.destroyed.connect(self.close)

    def watch(self, layers):
        self.clear()
        self._layers = tuple(layer for layer in layers if layer is not None)
        for layer in self._layers:
            self._shapes[id(layer)] = _shape(layer)
            layer.events.data.connect(self._data_changed)

    def clear(self):
        for layer in self._layers:
            with _quiet():
                layer.events.data.disconnect(self._data_changed)
        self._layers, self._shapes = (), {}

    def close(self, *args):
        self.clear()
        if self._connected:
            self._connected = False
            with _quiet():
                self.viewer.layers.events.removed.disconnect(self._removed)

    def _lost(self, text):
        self.clear()
        if _alive(self.owner):
            self.on_lost(text)

    def _removed(self, event):
        if any(event.value is layer for layer in self._layers):
            self._lost(f"layer '{event.value.name}' was removed")

    def _data_changed(self, event=None):
        for layer in self._layers:
            before, now = self._shapes.get(id(layer)), _shape(layer)
            if before is not None and now != before:
                self._lost(f"layer '{layer.name}' changed shape from {before} to {now}")
                return


class _quiet:
    """Ignore what disconnecting an already disconnected or deleted slot raises."""

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        return kind is not None and issubclass(kind, (RuntimeError, TypeError, ValueError))


class Job:
    """One kind of background job of a panel (see the module docstring).

    Parameters
    ----------
    name : str
        What the job does, for messages ("Segment", "Live preview").
    owner : QWidget
        The panel; when it is deleted, results are dropped.
    set_status : callable(str)
        Shows a one-line status.
    bar : QProgressBar, optional
        Determinate once the first step arrives; busy before.
    cancel_button : magicgui PushButton, optional
        Enabled while the job runs.
    viewer : napari.Viewer, optional
        Needed to stop a job whose input layer is removed.
    busy_after_ms : int, default 0
        Show the busy state only for a run that lasts longer than this.
    """

    #: Emitted with the result when a current job's result has been handled,
    #: or None when it failed, was cancelled or was outdated.
    done = Signal(object)

    def __init__(self, name, owner, set_status: Callable[[str], None], *, bar=None,
                 cancel_button=None, viewer=None, quiet_failures=False, busy_after_ms=0):
        self.name = name
        self.run_name = name  # the running (or last) run's name in messages
        self.owner = owner
        self.set_status = set_status
        self.bar = bar
        self.cancel_button = cancel_button
        self.viewer = viewer
        self.quiet_failures = quiet_failures
        self.generation = 0
        self.worker = None
        self._what = ""
        self._started = 0.0
        self._step_text = ""
        self._last_step = None
        self._tick = QTimer(owner)  # elapsed time in the status line
        self._tick.setInterval(250)
        self._tick.timeout.connect(self._show_elapsed)
        self.busy_after_ms = busy_after_ms
        self._busy_shown = False
        self._busy_timer = QTimer(owner)
        self._busy_timer.setSingleShot(True)
        self._busy_timer.timeout.connect(self._busy_now)
        self._watch = InputWatch(viewer, owner, self._input_lost)
        if viewer is not None:
            owner.destroyed.connect(self._disconnect)

    # -- state -------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.worker is not None

    def _disconnect(self, *args):
        self.generation += 1
        if self.worker is not None:
            self.worker.quit()
            log.info("%s: stopped, its panel was closed (the result is discarded)",
                     self._what)
        self.worker = None
        self._watch.close()

    # -- run -----------------------------------------------------------------------
    def start(self, function, *args, on_result, what, reads=(), name=None, **kwargs):
        """Run ``function(*args, **kwargs)`` in a thread; ``on_result(result)`` if still current.

        ``function`` may be a generator function yielding ``(stage, done, total)``.
        ``reads``: the layers it reads (the job stops if one is removed).
        ``name``: what this run is called in its messages (default: the job's
        name), for a job that runs several kinds of work one at a time.
        Returns the worker.
        """
        self.cancel(quietly=True)
        self.run_name = name or self.name
        self.generation += 1
        generation = self.generation
        worker = create_worker(function, *args, _start_thread=False, **kwargs)
        self.worker = worker
        self._what = what
        self._step_text = ""
        self._last_step = None
        self._started = time.perf_counter()
        self._watch.watch(reads)
        worker.returned.connect(lambda result: self._returned(result, generation, on_result))
        worker.errored.connect(lambda exc: self._errored(exc, generation))
        if hasattr(worker, "yielded"):
            worker.yielded.connect(lambda step: self._step(step, generation))
        worker.finished.connect(lambda: self._finished(generation))
        if self.busy_after_ms > 0:
            self._busy_timer.start(int(self.busy_after_ms))
        else:
            self._busy_now()
        worker.start()
        return worker

    def _busy_now(self):
        if self.worker is None or not _alive(self.owner):
            return
        self._show_busy(True)
        if self._last_step is not None:
            self._show_step(*self._last_step)
        else:
            self.set_status(f"{self._what}…")

    def cancel(self, *args, quietly=False, reason=None) -> bool:
        """Stop the running job (its result will not be shown); True if one ran."""
        worker = self.worker
        if worker is None:
            return False
        self.generation += 1
        worker.quit()
        self.worker = None
        self._watch.clear()
        if not _alive(self.owner):  # closing: no widget left to tell
            log.info("%s: stopped, its panel was closed (the result is discarded)",
                     self._what)
            return True
        self._show_busy(False)
        if not quietly:
            text = reason or f"{self.run_name} cancelled: the result of that run is discarded."
            log.info("%s: %s", self._what, text)
            self.set_status(text)
            self.done.emit(None)
        return True

    # -- callbacks (GUI thread) ---------------------------------------------------
    def _current(self, generation) -> bool:
        if generation == self.generation and not _alive(self.owner):
            self.generation += 1  # said once, then outdated like any dropped run
            self.worker = None
            log.info("%s: result discarded, its panel was closed", self._what)
            return False
        return generation == self.generation

    def _step(self, step, generation):
        if not self._current(generation):
            return
        try:
            stage, done, total = step
        except (TypeError, ValueError):
            return
        self._step_text = f": {stage} ({done}/{total})"
        self._last_step = (done, total)
        if self._busy_shown:  # else shown with the busy state, if the run lasts
            self._show_step(done, total)

    def _show_step(self, done, total):
        if self.bar is not None and total:
            self.bar.setRange(0, int(total))
            self.bar.setValue(int(done))
        self._show_elapsed()

    def _show_elapsed(self):
        if self.worker is None or not _alive(self.owner):
            self._tick.stop()
            return
        seconds = time.perf_counter() - self._started
        self.set_status(f"{self._what}{self._step_text}… {seconds:.1f} s")

    def _returned(self, result, generation, on_result):
        if not self._current(generation):
            return
        self.worker = None
        self._show_busy(False)
        if isinstance(result, Failure):
            self.set_status(f"{self.run_name}: not done — {result.message}"
                            if self.quiet_failures else f"{self.run_name}: not done, see the message.")
            if not self.quiet_failures:
                show_warning(result.message)
            self.done.emit(None)
            return
        on_result(result)
        self.done.emit(result)

    def _errored(self, exc, generation):
        if not self._current(generation):
            return
        self.worker = None
        self._show_busy(False)
        if isinstance(exc, (ValueError, TypeError, MemoryError)):
            message = str(exc) if not isinstance(exc, MemoryError) else (
                "not enough memory for this run: choose fewer features or crop the image")
            self.set_status(f"{self.run_name}: not done — {message}" if self.quiet_failures
                            else f"{self.run_name}: not done, see the message.")
            if not self.quiet_failures:
                show_warning(message)
        else:
            self.set_status(f"{self.run_name} failed.")
            show_error(f"{self.run_name} failed unexpectedly: {exc!r}")
        self.done.emit(None)

    def _finished(self, generation):
        if self._current(generation):
            self.worker = None
            self._watch.clear()
            self._show_busy(False)

    def _show_busy(self, busy):
        if not _alive(self.owner):
            return
        if not busy:
            self._busy_timer.stop()
            if not self._busy_shown:
                return  # never shown: nothing to hide, no repaint
        self._busy_shown = busy
        if self.cancel_button is not None:
            if hasattr(self.cancel_button, "setEnabled"):  # a QPushButton
                self.cancel_button.setEnabled(busy)
            else:  # a magicgui button
                self.cancel_button.enabled = busy
        if busy:
            self._tick.start()
        else:
            self._tick.stop()
        if self.bar is not None:
            self.bar.setVisible(busy)
            self.bar.setRange(0, 0)  # busy until the first step says how many

    def _input_lost(self, text):
        if self.worker is not None:
            self.cancel(reason=f"{self.run_name} stopped: {text}.")
