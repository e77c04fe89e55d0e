"""The "Segment whole volume to zarr…" section: blockwise apply in the background.

A fitted model (the last one trained, passed in with :meth:`set_model`, or
a model file) labels a whole image layer block by block
(:func:`napari_seglab.core.blockwise.predict_blockwise`) in a thread
worker, written chunk by chunk to a zarr folder under a temporary name that
is renamed when complete; the result opens lazily as a Labels layer.
Progress shows in the section's own bar; Cancel stops between blocks and
removes the partial output. The run is a :class:`~.jobs.Job`: it stops (and
removes the partial output) when its image layer is removed or changes shape,
or the section or viewer is closed. An existing folder is replaced only once
the user has confirmed that exact folder (the dialog's name plus ``.zarr``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from napari.layers import Image
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QWidget,
)

from .jobs import Job
from .save_dialog import confirm_replace

if TYPE_CHECKING:
    import napari

__all__ = ["BlockwiseWidget", "iter_write_blockwise"]


def iter_write_blockwise(model, data, out, *, spacing=None, channel_axis=None,
                         batch=2, chunks=None, overwrite=True):
    """Label ``data`` block by block into the zarr folder ``out``: a generator.

    Yields ``(done, total)`` after each batch of blocks; returns ``out``.
    Closing the generator stops the work and removes the partial folder; an
    existing ``out`` is replaced only when complete, and only with
    ``overwrite`` (else ``FileExistsError`` before any work).
    """
    import dask

    from ..core.blockwise import predict_blockwise
    from ..core.files import atomic_replace
    from ..io.zarr_store import block_regions, create_plain_array

    out = Path(out)
    labels = predict_blockwise(model, data, spacing=spacing, channel_axis=channel_axis,
                               chunks=chunks)
    with atomic_replace(out, folder=True, overwrite=overwrite) as tmp:
        target = create_plain_array(tmp, labels.shape, tuple(c[0] for c in labels.chunks),
                                    labels.dtype)
        items = block_regions(labels)
        total = len(items)
        for start in range(0, total, batch):
            part = items[start:start + batch]
            values = dask.compute(*[b for b, _ in part], scheduler="threads",
                                  num_workers=batch)
            for value, (_, region) in zip(values, part, strict=True):
                target[region] = value
            yield min(start + batch, total), total
    return out


def _source_path(layer):
    path = getattr(getattr(layer, "source", None), "path", None)
    return None if path is None else os.path.realpath(os.fspath(path))


class BlockwiseWidget(QWidget):
    """Segment a whole image layer to zarr with a fitted model, in the background."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__()
        self.viewer = napari_viewer
        self._model = None
        self._model_source = ""

        self.image_combo = QComboBox()
        self.image_combo.setToolTip("The image layer to segment (read block by block)")
        self.model_label = QLabel("Model: none (train one, or load a file)")
        self.model_label.setWordWrap(True)
        self.load_button = QPushButton("Model file…")
        self.load_button.setToolTip("Load a model file saved by the plugin or `seglab train`")
        self.run_button = QPushButton("Segment whole volume to zarr…")
        self.run_button.setToolTip("Label every voxel block by block, written to a zarr "
                                   "folder, then opened lazily")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.status = QLabel("")
        self.status.setWordWrap(True)

        grid = QGridLayout(self)
        grid.setContentsMargins(4, 4, 4, 4)
        grid.addWidget(QLabel("Image"), 0, 0)
        grid.addWidget(self.image_combo, 0, 1, 1, 2)
        grid.addWidget(self.model_label, 1, 0, 1, 2)
        grid.addWidget(self.load_button, 1, 2)
        grid.addWidget(self.run_button, 2, 0, 1, 2)
        grid.addWidget(self.cancel_button, 2, 2)
        grid.addWidget(self.progress, 3, 0, 1, 3)
        grid.addWidget(self.status, 4, 0, 1, 3)

        self.job = Job("Segment whole volume to zarr", self, self.status.setText,
                       bar=self.progress, cancel_button=self.cancel_button,
                       viewer=napari_viewer)
        self.job.done.connect(self._job_done)
        self.load_button.clicked.connect(self._choose_model_file)
        self.run_button.clicked.connect(self._choose_output)
        self.cancel_button.clicked.connect(self.cancel)
        events = self.viewer.layers.events
        for emitter in (events.inserted, events.removed, events.changed):
            emitter.connect(self._refresh_images)
        # A closed section (or viewer) is deleted without a closeEvent: let go of napari.
        self.destroyed.connect(lambda *_: self._unhook(events))
        self._refresh_images()

    def _unhook(self, events):
        """Disconnect from the viewer's layer list (no Qt calls: runs on destroy)."""
        for emitter in (events.inserted, events.removed, events.changed):
            try:
                emitter.disconnect(self._refresh_images)
            except (RuntimeError, TypeError, ValueError):
                pass

    # -- model --

    def set_model(self, model, source="last trained model"):
        """Use ``model`` (a fitted SeededModel) for the next run."""
        if model is not None and not hasattr(model, "segmenter_"):
            show_error("the model is not fitted yet: train it first")
            return
        self._model, self._model_source = model, source
        self.model_label.setText("Model: none (train one, or load a file)" if model is None
                                 else f"Model: {model.method} ({source})")

    def load_model_file(self, path):
        from ..core.model_io import load_model

        try:
            self.set_model(load_model(path), Path(path).name)
        except (ValueError, OSError) as err:
            show_error(f"cannot load {path}: {err}")

    def _choose_model_file(self):
        path, _ = QFileDialog.getOpenFileName(self, "Model file", "", "Models (*.npz)")
        if path:
            self.load_model_file(path)

    # -- layers --

    def _refresh_images(self, event=None):
        from .jobs import alive

        if not alive(self.image_combo):
            return
        current = self.image_combo.currentText()
        self.image_combo.blockSignals(True)
        self.image_combo.clear()
        names = [layer.name for layer in self.viewer.layers if isinstance(layer, Image)]
        self.image_combo.addItems(names)
        if current in names:
            self.image_combo.setCurrentText(current)
        self.image_combo.blockSignals(False)

    def _image_layer(self):
        name = self.image_combo.currentText()
        return (self.viewer.layers[name] if name in self.viewer.layers else None)

    # -- running --

    def _choose_output(self):
        path, _ = QFileDialog.getSaveFileName(
            self, "Write labels to zarr", "", "Zarr folders (*.zarr)",
            options=QFileDialog.Option.DontConfirmOverwrite)  # asked below, for the real name
        if not path:
            return None
        path = path if path.endswith(".zarr") else path + ".zarr"
        if not confirm_replace(self, path):
            self.status.setText(f"Not written: {path} was kept.")
            return None
        return self.run(path, overwrite=True)

    def run(self, path, overwrite=False, chunks=None):
        """Label the chosen image into the zarr folder ``path`` in a thread worker.

        An existing ``path`` is replaced only with ``overwrite`` (once the new
        labels are complete), and never the image's own file. ``chunks``: the
        block size (default: chosen from the model's margin and the memory).
        """
        layer = self._image_layer()
        if layer is None:
            show_error("choose an image layer to segment")
            return None
        if self._model is None:
            show_error("no model: train one in the segmentation panel or load a model file")
            return None
        path = str(path)
        source = _source_path(layer)
        if source is not None and (source == os.path.realpath(path)
                                   or source.startswith(os.path.realpath(path) + os.sep)):
            show_error(f"{path} holds the image '{layer.name}' itself: choose another folder")
            return None
        if os.path.lexists(path) and not overwrite:
            show_error(f"{path} exists: choose another name, or confirm replacing it")
            return None
        data = layer.data[0] if layer.multiscale else layer.data
        channel_axis = -1 if layer.rgb else None
        ndim = layer.ndim
        spacing = tuple(float(s) for s in layer.scale[-ndim:])
        model = self._model

        writing = iter_write_blockwise(model, data, path, spacing=spacing,
                                       channel_axis=channel_axis, overwrite=overwrite,
                                       chunks=chunks)

        def steps():
            while True:
                try:
                    done, total = next(writing)
                except StopIteration as stop:
                    return stop.value
                yield "blocks", done, total

        worker = self.job.start(steps, on_result=lambda out, lay=layer: self._on_done(out, lay),
                                what=f"Segmenting '{layer.name}' to {Path(path).name}",
                                reads=(layer,))
        # stopped (Cancel, the image removed or reshaped, the viewer closed): the
        # generator is closed once the worker has let go of it, removing the partial folder
        worker.aborted.connect(writing.close)
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        return worker

    def cancel(self):
        """Stop the running job between blocks (its partial folder is removed)."""
        self.job.cancel()

    def _job_done(self, result):
        from .jobs import alive

        if alive(self):
            self.run_button.setEnabled(True)
            self.cancel_button.setEnabled(False)

    def _on_done(self, out, layer):
        if out is None:
            return
        import dask.array as da

        labels = da.from_zarr(str(out))
        name = f"{layer.name} whole-volume labels"
        if name in self.viewer.layers:
            self.viewer.layers.remove(name)
        scale = layer.scale if not layer.rgb else layer.scale[:labels.ndim]
        active = self.viewer.layers.selection.active  # the seeds stay the active layer
        self.viewer.add_labels(labels, name=name, scale=scale, translate=layer.translate)
        if active is not None and active in self.viewer.layers:
            self.viewer.layers.selection.active = active
        self.status.setText(f"wrote {out}")
        show_info(f"whole-volume labels written to {out}")
