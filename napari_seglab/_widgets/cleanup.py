"""The *Clean up* dock: 3D Slicer's Smoothing and Islands on a labels layer, undoable.

The operation runs in a worker on a copy; the changed voxels are written
back with one ``data_setitem``, so one Ctrl+Z on the layer reverts it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
from napari.layers import Labels
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_warning
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..core import postprocess
from .jobs import InputWatch, alive
from .layers import _Failure, unwrap
from .panel_model import LayerPicker, model_for

if TYPE_CHECKING:
    import napari

DEFAULT_LAYER = "segmentation"

#: Display name -> (function name, smoothing method or None, what ``size`` is).
OPERATIONS = {
    "Smooth: median": ("smooth", "median", "diameter"),
    "Smooth: opening (remove extrusions)": ("smooth", "opening", "diameter"),
    "Smooth: closing (fill gaps)": ("smooth", "closing", "diameter"),
    "Smooth: Gaussian": ("smooth", "gaussian", "sigma"),
    "Smooth: joint (all segments, watertight)": ("smooth", "joint", "sigma"),
    "Fill holes": ("fill_holes", None, None),
    "Remove small islands": ("remove_small_objects", None, "volume"),
    "Keep largest island": ("keep_largest", None, None),
}


def run_operation(labels, operation, size, spacing, label):
    """Apply the named :data:`OPERATIONS` entry; returns ``(result, islands removed)``."""
    function, method, kind = OPERATIONS[operation]
    if function == "smooth":
        return postprocess.smooth(labels, method, size, spacing=spacing, label=label), None
    if function == "fill_holes":
        return postprocess.fill_holes(labels, label=label), None
    if function == "remove_small_objects":
        return postprocess.remove_small_objects(labels, size, spacing=spacing, label=label,
                                                return_count=True)
    return postprocess.keep_largest(labels, label=label, return_count=True)


@thread_worker
def _clean_in_thread(labels, operation, size, spacing, label):
    start = time.perf_counter()
    try:
        result, removed = run_operation(labels, operation, size, spacing, label)
    except (ValueError, TypeError) as exc:
        return _Failure(str(exc))
    return result, removed, time.perf_counter() - start


def _unit(layer) -> str:
    """The layer's length unit ("mm" when the scale carries none)."""
    units = getattr(layer, "units", None)
    if units:
        text = f"{units[-1]:~}" if hasattr(units[-1], "dimensionality") else str(units[-1])
        if text not in ("pixel", "px", ""):
            return text
    return "mm"


class CleanUpWidget(QWidget):
    """Clean up a labels layer: smoothing, holes, islands (one undo step each).

    Parameters
    ----------
    napari_viewer : napari.Viewer
    """

    def __init__(self, napari_viewer: napari.Viewer):
        super().__init__()
        self.viewer = unwrap(napari_viewer)  # not napari's public-only proxy
        self._worker = None
        self._dropped = None  # a run whose layer went: its result is not written
        self._inputs = InputWatch(self.viewer, self, self._input_lost)
        # The segmentation role: never the ground truth, the seeds or a preview.
        self.layer_combo = LayerPicker(model_for(napari_viewer), "segmentation")
        self.operation = QComboBox()
        self.operation.addItems(list(OPERATIONS))
        self.size_label = QLabel("Size")
        self.size = QDoubleSpinBox()
        self.size.setRange(0.001, 1e9)
        self.size.setDecimals(3)
        self.size.setValue(3.0)
        self.label = QSpinBox()
        self.label.setRange(0, 2**31 - 1)
        self.label.setSpecialValueText("all segments")
        self.label.setToolTip("Act on this label only (0 = every segment)")
        self.apply_button = QPushButton("Apply")
        self.apply_button.setToolTip("Clean the layer (Ctrl+Z on it undoes the change)")
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setMaximumHeight(10)
        self.progress.setTextVisible(False)
        self.progress.setVisible(False)
        self.status = QLabel("")
        self.status.setWordWrap(True)

        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Labels", self.layer_combo)
        form.addRow("Operation", self.operation)
        form.addRow(self.size_label, self.size)
        form.addRow("Segment", self.label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(form)
        layout.addWidget(self.apply_button)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)

        self.operation.currentTextChanged.connect(self._update_size_row)
        self.layer_combo.currentTextChanged.connect(self._update_size_row)
        self.apply_button.clicked.connect(self.apply)
        self._update_size_row()

    @property
    def labels_layer(self):
        layer = self.layer_combo.layer
        return layer if isinstance(layer, Labels) else None

    def _update_size_row(self, *args):
        _, _, kind = OPERATIONS[self.operation.currentText()]
        layer = self.labels_layer
        unit = _unit(layer) if layer is not None else "mm"
        ndim = layer.data.ndim if layer is not None else 3
        text = {"diameter": "Kernel size", "sigma": "Gaussian σ",
                "volume": "Min volume"}.get(kind, "Size")
        suffix = f" {unit}" + ("³" if ndim == 3 else "²") if kind == "volume" else f" {unit}"
        self.size_label.setText(text)
        self.size.setSuffix(suffix)
        self.size.setEnabled(kind is not None)

    @property
    def busy(self) -> bool:
        return self._worker is not None

    def apply(self) -> None:
        """Run the chosen operation on the layer, then write the changes undoably."""
        layer = self.labels_layer
        if layer is None:
            show_warning(f"No labels layer to clean: make a '{DEFAULT_LAYER}' (Segment or "
                         "Grow from seeds > Apply) or pick a Labels layer.")
            return
        if self._worker is not None:
            return  # one clean-up at a time: the next one must see this one's result
        before = np.array(layer.data)  # a copy: the core never writes into it
        spacing = tuple(abs(float(s)) for s in layer.scale[-before.ndim:])
        label = self.label.value() or None
        operation = self.operation.currentText()
        worker = _clean_in_thread(before, operation, float(self.size.value()), spacing,
                                  label)
        worker.returned.connect(
            lambda result, lay=layer, op=operation: self._on_returned(lay, before, op, result))
        worker.errored.connect(lambda exc: show_error(f"Clean up failed: {exc}"))
        worker.finished.connect(self._on_finished)
        self._worker = worker
        self._inputs.watch((layer,))
        self.progress.setVisible(True)
        self.status.setText(f"{operation}...")
        worker.start()

    def _input_lost(self, text):
        """The layer being cleaned went or changed shape: the running result is dropped."""
        self._dropped = self._worker
        self.progress.setVisible(False)
        self.status.setText(f"Clean up stopped: {text}; nothing was written.")

    def _on_returned(self, layer, before, operation, result):
        if not alive(self) or self._dropped is not None:
            return  # the section was closed, or the layer went (said by _input_lost)
        if isinstance(result, _Failure):
            self.status.setText(result.message)
            show_warning(result.message)
            return
        cleaned, removed, seconds = result
        if layer not in self.viewer.layers:
            return
        if not np.array_equal(np.asarray(layer.data), before):
            self.status.setText(f"'{layer.name}' changed while cleaning; press Apply again.")
            return
        indices = np.nonzero(cleaned != before)
        layer.data_setitem(indices, cleaned[indices])   # one undo step
        changed = int(indices[0].size)
        islands = "" if removed is None else f", {removed} islands removed"
        self.status.setText(f"{operation}: {changed} voxels changed{islands} "
                            f"({seconds:.2f} s; Ctrl+Z on '{layer.name}' undoes it).")

    def _on_finished(self):
        self._worker = self._dropped = None
        if alive(self):
            self._inputs.clear()
            self.progress.setVisible(False)

