"""The *Grow from seeds* dock: 3D Slicer's effect, following every seed edit.

Each stroke, erase, fill, undo/redo or ``layer.data = ...`` on the seeds
layer, and each change of λ, intensity range or mask, asks for a new
preview. A worker runs :meth:`GrowFromSeeds.update` (exact and incremental:
erased seeds are honoured); while it runs only the newest request is kept
and started when it returns, so painting never waits. *Apply* writes the
preview into the ``segmentation`` layer as one undoable edit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from napari.layers import Image, Labels
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_warning
from qtpy.QtCore import Qt, QTimer
from qtpy.QtGui import QColor, QIcon, QPixmap
from qtpy.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)
from superqt import QLabeledDoubleRangeSlider

from ..core.growcut import GrowFromSeeds, locality_unit
from .jobs import InputWatch, alive
from .layers import (
    InputError,
    PaintedCounts,
    _Failure,
    class_color_hex,
    class_names,
    follow_undo,
    image_arrays,
    unwrap,
)
from .panel_model import LayerPicker, model_for, tag_helper
from .views import OrthogonalViews

if TYPE_CHECKING:
    import napari

PREVIEW_NAME = "grow preview"
SEGMENTATION_NAME = "segmentation"
_NONE = "(none)"


# --- the worker -------------------------------------------------------------

@dataclass
class _Request:
    """A snapshot of everything one preview needs, taken on the GUI thread."""

    key: tuple                 # the image and spacing: a new key means a new session
    image: np.ndarray | None   # read only for a new session
    spacing: tuple
    seeds: np.ndarray
    locality_factor: float     # the panel's 0-10 factor, times locality_unit = λ
    intensity_range: tuple | None
    mask_key: object           # changes when the mask layer or its data changes
    mask: np.ndarray | None    # read only when the session's mask must change
    generation: int


@thread_worker
def _grow_in_thread(session, applied, request: _Request):
    """Update (or create) the session; returns ``(labels, session, applied, secs, note)``.

    ``applied`` holds the parameters the session was last given, so that a
    parameter is set (which drops the grown state) only when it changed.
    """
    start = time.perf_counter()
    try:
        if session is None:
            unit = locality_unit(request.image, request.spacing)
            session = GrowFromSeeds(request.image, spacing=request.spacing,
                                    seed_locality=request.locality_factor * unit,
                                    intensity_range=request.intensity_range,
                                    mask=request.mask)
            applied = {}
            session.warn_notes = False  # its note is shown from last_run (the panel)
        else:
            unit = applied["unit"]
            if applied.get("locality_factor") != request.locality_factor:
                session.seed_locality = request.locality_factor * unit
            if applied.get("intensity_range") != request.intensity_range:
                session.intensity_range = request.intensity_range
            if applied.get("mask_key") != request.mask_key:
                session.mask = request.mask
        applied = {"unit": unit, "locality_factor": request.locality_factor,
                   "intensity_range": request.intensity_range,
                   "mask_key": request.mask_key}
        labels = session.update(request.seeds)
    except (ValueError, TypeError) as exc:
        return _Failure(str(exc)), session, applied
    run = dict(getattr(session, "last_run", {}) or {})
    run["seed_locality"] = session.seed_locality
    if request.intensity_range is not None or request.mask_key is not None:
        crop = run.get("crop")
        run["unlabelled"] = int(np.count_nonzero(labels[crop] == 0)) if crop else 0
    return labels, session, applied, time.perf_counter() - start, run


# --- the widget -------------------------------------------------------------

def _compact(widget):
    widget.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    return widget


class GrowFromSeedsWidget(QWidget):
    """Grow from seeds: pick an image and a seeds layer, paint, watch the preview.

    Parameters
    ----------
    napari_viewer : napari.Viewer
    """

    def __init__(self, napari_viewer: napari.Viewer):
        super().__init__()
        # From the Plugins menu napari hands a public-only proxy; layer identity,
        # selection and undo need the real viewer and layers.
        self.viewer = unwrap(napari_viewer)
        self._session = None
        self._session_key = None
        self._applied: dict = {}
        self._generation = 0
        self._worker = None
        # a run stops when its image, seeds or mask is removed or reshaped (as a Job does)
        self._inputs = InputWatch(self.viewer, self, self._input_lost)
        self._pending: _Request | None = None
        self._seeds_layer: Labels | None = None
        self._mask_layer = None
        self._mask_version = 0
        self._image_version = 0
        self._last_warning = None
        self._range_image = None
        self._present = np.zeros(0, int)
        self._segments_key = None
        self._seed_counts = PaintedCounts()  # recounted only where strokes went
        self.last_result: np.ndarray | None = None

        self._edit_timer = QTimer(self)
        self._edit_timer.setSingleShot(True)
        self._edit_timer.setInterval(0)
        self._edit_timer.timeout.connect(self._after_seeds_edit)

        # The image, seeds and mask roles of the panel model (never a preview).
        self.panel_model = model_for(napari_viewer)
        self.image_combo = _compact(LayerPicker(self.panel_model, "image"))
        self.seeds_combo = _compact(LayerPicker(self.panel_model, "seeds"))
        self.mask_combo = _compact(LayerPicker(self.panel_model, "mask"))
        self.mask_combo.setToolTip("Optional: growth stays where this layer is nonzero")
        self.locality = QDoubleSpinBox()
        self.locality.setRange(0.0, 10.0)
        self.locality.setDecimals(1)
        self.locality.setSingleStep(0.5)
        self.locality.setToolTip(
            "Seed locality, 0-10 (as in 3D Slicer): 0 = paths cost intensity changes only;\n"
            "1 = each voxel step costs as much as one typical noise step of this image;\n"
            "larger keeps each segment nearer to its strokes (stops leaks far from them).\n"
            "The status line shows the resulting λ in intensity units per mm.")
        self.range_check = QCheckBox("Editable intensity range")
        self.range_check.setToolTip("Voxels outside the range stay unlabelled and are not "
                                    "crossed (e.g. HU of soft tissue); drag the ends of the "
                                    "slider. The status line counts the voxels left out.")
        self.range_slider = QLabeledDoubleRangeSlider(Qt.Orientation.Horizontal)
        self.range_slider.setEnabled(False)
        self.segments = QListWidget()
        self.segments.setFixedHeight(64)
        self.segments.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.segments.setToolTip("Segments: every label painted in the seeds layer grows")
        self.views = OrthogonalViews(self.viewer)
        self.opacity = QDoubleSpinBox()
        self.opacity.setRange(0.0, 1.0)
        self.opacity.setSingleStep(0.1)
        self.opacity.setValue(0.5)
        self.opacity.setToolTip("Opacity of the 'grow preview' layer")
        self.auto_update = QCheckBox("Auto-update")
        self.auto_update.setChecked(True)
        self.auto_update.setToolTip("Grow again after every stroke, erase, undo and "
                                    "parameter change")
        self.preview_button = QPushButton("Preview")
        self.apply_button = QPushButton("Apply")
        self.apply_button.setToolTip(f"Write the preview into '{SEGMENTATION_NAME}' "
                                     "(undo with Ctrl+Z on that layer)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Drop the preview and the session")
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # indeterminate: busy
        self.progress.setMaximumHeight(10)
        self.progress.setTextVisible(False)
        self.progress.setVisible(False)
        self.status = QLabel("Paint strokes of two or more labels in the seeds layer.")
        self.status.setWordWrap(True)

        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Image", self.image_combo)
        form.addRow("Seeds", self.seeds_combo)
        form.addRow("Mask", self.mask_combo)
        form.addRow("Seed locality", self.locality)
        form.addRow(self.range_check)
        form.addRow(self.range_slider)
        form.addRow("Segments", self.segments)
        form.addRow("Plane", self.views)
        row = QHBoxLayout()
        row.addWidget(QLabel("Preview opacity"))
        row.addWidget(self.opacity)
        row.addWidget(self.auto_update)
        buttons = QHBoxLayout()
        for button in (self.preview_button, self.apply_button, self.cancel_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(form)
        layout.addLayout(row)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)

        self.image_combo.currentTextChanged.connect(self._on_image_changed)
        self.seeds_combo.currentTextChanged.connect(self._on_seeds_changed)
        self.mask_combo.currentTextChanged.connect(self._on_mask_changed)
        self.locality.valueChanged.connect(self._parameters_changed)
        self.range_check.toggled.connect(self._on_range_toggled)
        self.range_slider.valueChanged.connect(self._parameters_changed)
        self.opacity.valueChanged.connect(self._set_opacity)
        self.preview_button.clicked.connect(self.request_preview)
        self.apply_button.clicked.connect(self.apply)
        self.cancel_button.clicked.connect(self.cancel)
        self.auto_update.toggled.connect(self._on_auto_toggled)
        events = self.viewer.layers.events
        events.inserted.connect(self._refresh_choices)
        events.removed.connect(self._refresh_choices)
        events.moved.connect(self._refresh_choices)
        # A closed dock is deleted without a closeEvent: let go of napari then too.
        self.destroyed.connect(lambda *_: self._unhook())
        self._refresh_choices()

    # --- layers -------------------------------------------------------------
    def _layer(self, name):
        return (self.viewer.layers[name] if name in self.viewer.layers else None)

    @property
    def image_layer(self):
        layer = self._layer(self.image_combo.currentText())
        return layer if isinstance(layer, Image) else None

    @property
    def seeds_layer(self):
        layer = self._layer(self.seeds_combo.currentText())
        return layer if isinstance(layer, Labels) else None

    @property
    def mask_layer(self):
        layer = self._layer(self.mask_combo.currentText())
        return layer if isinstance(layer, (Image, Labels)) else None

    @property
    def preview_layer(self):
        layer = self._layer(PREVIEW_NAME)
        return layer if isinstance(layer, Labels) else None

    def _refresh_choices(self, event=None):
        # the pickers fill themselves from the panel model's roles
        for combo in (self.image_combo, self.seeds_combo, self.mask_combo):
            combo.refill()
        self._on_image_changed()  # each returns at once when its layer is unchanged
        self._on_seeds_changed()
        self._on_mask_changed()

    @staticmethod
    def _fill(combo, names, default):
        current = combo.currentText()
        if [combo.itemText(i) for i in range(combo.count())] == names:
            return
        combo.blockSignals(True)
        combo.clear()
        combo.addItems(names)
        keep = current if current in names else default
        if keep is not None:
            combo.setCurrentText(keep)
        combo.blockSignals(False)
        # One signal after the list settled, for the choice that is now shown.
        combo.currentTextChanged.emit(combo.currentText())

    def _on_image_changed(self, name=None):
        layer = self.image_layer
        if layer is self._range_image:
            return
        if self._range_image is not None:
            self._range_image.events.data.disconnect(self._on_image_data)
        self._range_image = layer
        if layer is not None:
            layer.events.data.connect(self._on_image_data)
            self._set_range_limits(layer)
        self._drop_session()
        self._parameters_changed()

    def _on_image_data(self, event=None):
        self._image_version += 1
        if self.image_layer is not None:
            self._set_range_limits(self.image_layer)
        self._drop_session()
        self._parameters_changed()

    def _set_range_limits(self, layer):
        data = np.asarray(layer.data)
        if data.size == 0 or not np.issubdtype(data.dtype, np.number):
            return
        finite = data[np.isfinite(data)] if np.issubdtype(data.dtype, np.floating) else data
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if hi <= lo:
            hi = lo + 1.0
        self.range_slider.blockSignals(True)
        self.range_slider.setRange(lo, hi)
        self.range_slider.setValue((lo, hi))
        self.range_slider.blockSignals(False)

    def _on_seeds_changed(self, name=None):
        layer = self.seeds_layer
        if layer is self._seeds_layer:
            return
        self._disconnect_seeds()
        self._seeds_layer = layer
        if layer is not None:
            layer.events.paint.connect(self._seeds_edited)
            layer.events.data.connect(self._seeds_edited)
            follow_undo(layer)  # undo/redo then emit paint
        self._update_segment_list()
        self._seeds_edited()

    def _disconnect_seeds(self):
        layer = self._seeds_layer
        if layer is not None:
            layer.events.paint.disconnect(self._seeds_edited)
            layer.events.data.disconnect(self._seeds_edited)
        self._seeds_layer = None

    def _on_mask_changed(self, name=None):
        old = self._mask_layer
        if self.mask_layer is old:
            return
        if old is not None:
            old.events.data.disconnect(self._mask_edited)
            if isinstance(old, Labels):
                old.events.paint.disconnect(self._mask_edited)
        layer = self.mask_layer
        self._mask_layer = layer
        if layer is not None:
            layer.events.data.connect(self._mask_edited)
            if isinstance(layer, Labels):
                layer.events.paint.connect(self._mask_edited)
                follow_undo(layer)
        self._mask_edited()

    def _mask_edited(self, event=None):
        self._mask_version += 1
        self._edit_timer.start()  # like the seeds: read the mask once the edit is done

    # --- requests -----------------------------------------------------------
    def _on_range_toggled(self, checked):
        self.range_slider.setEnabled(checked)
        self._parameters_changed()

    def _on_auto_toggled(self, checked):
        if checked:
            self.request_preview()

    def _following(self) -> bool:
        """Auto-update is on and the widget is shown (or not placed in anything yet).

        In a collapsed panel section the seeds painted for another method must
        not start Grow from seeds; showing the section catches up.
        """
        shown = self.parentWidget() is None or self.isVisible()
        return self.auto_update.isChecked() and shown

    def showEvent(self, event):  # noqa: N802 (Qt name)
        super().showEvent(event)
        if self.auto_update.isChecked():
            self._edit_timer.start()

    def _parameters_changed(self, *args):
        if self._following():
            self.request_preview()

    def _seeds_edited(self, event=None):
        layer = self._seeds_layer
        if getattr(event, "type", None) == "paint" and layer is not None:
            self._seed_counts.touched(event, layer.data.shape)
        else:
            self._seed_counts.reset()
        # Labels emits ``paint`` before it writes the new values (data_setitem, paint):
        # read the seeds once the edit is done, and once for a burst of events.
        self._edit_timer.start()

    def _after_seeds_edit(self):
        self._update_segment_list()
        if self._following():
            self.request_preview()

    def _snapshot(self) -> _Request:
        """The seeds (a copy: painting goes on meanwhile) and the parameters of one run.

        The image and the mask are read in :meth:`_start`, and only when the
        session needs them: a lazy (dask, zarr) volume is not loaded per stroke.
        """
        image_layer, seeds_layer = self.image_layer, self.seeds_layer
        if getattr(image_layer, "rgb", False) or getattr(image_layer, "multiscale", False):
            raise InputError(f"'{image_layer.name}' is RGB or multiscale; grow from seeds "
                             "needs one intensity per voxel at full resolution. Open a "
                             "single channel as its own image layer.")
        shape = tuple(image_layer.data.shape)
        if len(shape) not in (2, 3):
            raise InputError(f"'{image_layer.name}' has shape {shape}; grow from seeds "
                             "works on 2D images and 3D volumes.")
        seeds = np.asarray(seeds_layer.data)
        if seeds.shape != shape:
            raise InputError(f"The seeds layer '{seeds_layer.name}' has shape {seeds.shape}"
                             f", the image '{image_layer.name}' {shape}: pick a seeds "
                             "layer made for this image.")
        spacing = tuple(abs(float(s)) for s in image_layer.scale[-len(shape):])
        mask_key = None
        mask_layer = self.mask_layer
        if mask_layer is not None:
            if tuple(mask_layer.data.shape) != shape:
                raise InputError(f"The mask '{mask_layer.name}' has shape "
                                 f"{tuple(mask_layer.data.shape)}, the image {shape}: pick "
                                 "a mask of the same shape or (none).")
            mask_key = (id(mask_layer), self._mask_version)
        intensity_range = None
        if self.range_check.isChecked():
            lo, hi = self.range_slider.value()
            intensity_range = (float(lo), float(hi))
        self._generation += 1
        return _Request(key=(id(image_layer), id(image_layer.data), self._image_version,
                             spacing),
                        image=None, spacing=spacing, seeds=seeds.copy(),
                        locality_factor=float(self.locality.value()),
                        intensity_range=intensity_range, mask_key=mask_key, mask=None,
                        generation=self._generation)

    def request_preview(self, *args) -> None:
        """Grow from the current seeds now (or as soon as the running update ends)."""
        if self.image_layer is None or self.seeds_layer is None:
            self.status.setText("Pick an image and a seeds layer, then paint strokes of "
                                "two or more labels.")
            return
        try:
            request = self._snapshot()
        except InputError as exc:
            self._report(str(exc))
            return
        constrained = request.mask_key is not None or request.intensity_range is not None
        if len(self._present) < (1 if constrained else 2):
            # Not an error while the user is still painting the first strokes.
            self.status.setText(
                f"Paint strokes of a second label in '{self.seeds_layer.name}' (segments "
                "compete: e.g. the structure and the background around it), or one "
                "label with a mask / intensity range." if self._present.size else
                f"Paint strokes of two or more labels in '{self.seeds_layer.name}' (or "
                "one label with a mask / intensity range).")
            return
        if self._worker is not None:
            self._pending = request  # newest wins: only the latest snapshot is kept
            return
        self._start(request)

    @property
    def busy(self) -> bool:
        return self._worker is not None

    def _start(self, request: _Request):
        if request.key != self._session_key:
            self._session, self._applied = None, {}
            self._session_key = request.key
        try:
            if self._session is None:
                request.image = image_arrays(self.image_layer)[0]
            if request.mask_key is not None and (
                    self._session is None
                    or self._applied.get("mask_key") != request.mask_key):
                request.mask = np.asarray(self.mask_layer.data) != 0
        except InputError as exc:
            self.progress.setVisible(False)
            self._report(str(exc))
            return
        worker = _grow_in_thread(self._session, self._applied, request)
        worker.returned.connect(lambda result, r=request: self._on_returned(r, result))
        worker.errored.connect(self._on_errored)
        worker.finished.connect(self._on_finished)
        self._worker = worker
        self._inputs.watch((self.image_layer, self.seeds_layer, self.mask_layer))
        self.progress.setVisible(True)
        self.status.setText("Growing...")
        worker.start()

    def _input_lost(self, text):
        """An input of the running update went: it is outdated, its session dropped."""
        self._generation += 1
        self._pending = None
        self._drop_session()
        self.progress.setVisible(False)
        self.status.setText(f"Grow from seeds stopped: {text}. Pick the layers, then "
                            "paint or press Preview.")

    def _on_returned(self, request, result):
        if not alive(self):  # the section was closed meanwhile
            return
        if self.image_layer is None or self.seeds_layer is None:
            return  # an input went: _input_lost said so and dropped the session
        if request.key == self._session_key:  # not cancelled or re-keyed meanwhile
            self._session, self._applied = result[1], result[2]
        if isinstance(result[0], _Failure):
            if request.generation == self._generation:
                self._report(result[0].message)
            return
        labels, _, _, seconds, run = result
        if request.generation != self._generation or request.key != self._session_key:
            return  # an outdated preview: a newer request is queued or it was cancelled
        self.last_result = labels
        self._show_preview(labels)
        how = run.get("mode", "")
        note = run.get("message", "")
        details = [f"seed locality λ = {run.get('seed_locality', 0.0):.3g} per mm"]
        if "unlabelled" in run:
            details.append(f"{run['unlabelled']} voxels of the region outside the intensity "
                           "range / mask or cut off by it stay unlabelled")
        self.status.setText(f"Preview ({how} update) in {seconds:.2f} s"
                            + (f": {note}" if note else "") + "; " + "; ".join(details))
        self._last_warning = None

    def _on_errored(self, exc):
        show_error(f"Grow from seeds failed: {exc}")

    def _on_finished(self):
        self._worker = None
        if not alive(self):
            return
        self._inputs.clear()
        pending, self._pending = self._pending, None
        if pending is not None and pending.generation == self._generation:
            self._start(pending)
        else:
            self.progress.setVisible(False)

    def _report(self, message):
        self.status.setText(message)
        if message != self._last_warning:  # once per problem, not per stroke
            show_warning(message)
            self._last_warning = message

    # --- layers we write ----------------------------------------------------
    def _show_preview(self, labels):
        image, seeds = self.image_layer, self.seeds_layer
        layer = self.preview_layer
        if layer is not None and layer.data.shape != labels.shape:
            self.viewer.layers.remove(layer)
            layer = None
        if layer is None:
            layer = Labels(labels, name=PREVIEW_NAME, opacity=self.opacity.value(),
                           scale=image.scale, translate=image.translate,
                           colormap=seeds.colormap,
                           metadata=tag_helper(None, "grow preview", inputs=[seeds.name]))
            if "name" in getattr(seeds.features, "columns", ()):
                layer.features = seeds.features
            index = self.viewer.layers.index(seeds) if seeds in self.viewer.layers else None
            if index is None:
                self.viewer.layers.append(layer)
            else:
                self.viewer.layers.insert(index, layer)  # just below the seeds
        else:
            layer.data = labels
        self._keep_seeds_active()

    def _keep_seeds_active(self):
        seeds = self.seeds_layer
        if seeds is None:
            return
        self.viewer.layers.selection.active = seeds
        if seeds.mode not in ("paint", "erase", "fill", "polygon"):
            seeds.mode = "paint"

    def _set_opacity(self, value):
        if self.preview_layer is not None:
            self.preview_layer.opacity = float(value)

    def apply(self) -> None:
        """Write the preview into ``segmentation`` as one undoable edit."""
        preview = self.preview_layer
        if preview is None or self.last_result is None:
            show_warning("No preview to apply: paint strokes of two or more labels first.")
            return
        result = self.last_result
        image, seeds = self.image_layer, self.seeds_layer
        # The segmentation role (never the ground truth), else a new 'segmentation'.
        target = self.panel_model.segmentation
        if target is None or target.data.shape != result.shape:
            target = self._layer(SEGMENTATION_NAME)
        if target is not None and (not isinstance(target, Labels)
                                   or target.data.shape != result.shape):
            show_warning(f"'{SEGMENTATION_NAME}' is not a Labels layer of shape "
                         f"{result.shape}: rename it, then Apply again.")
            return
        if target is None:
            target = self.viewer.add_labels(
                np.zeros(result.shape, result.dtype), name=SEGMENTATION_NAME,
                scale=image.scale if image is not None else preview.scale,
                translate=image.translate if image is not None else preview.translate,
                colormap=(seeds or preview).colormap,
                metadata={"napari_seglab": {"role": "segmentation", "source": "grow",
                                            "edited": True}})
            if seeds is not None and "name" in getattr(seeds.features, "columns", ()):
                target.features = seeds.features
        # Only voxels the preview labels: outside the mask/range the segmentation keeps
        # what it had. One data_setitem = one undo step on that layer.
        current = np.asarray(target.data)
        write = (result != 0) & (current != result)
        indices = np.nonzero(write)
        target.data_setitem(indices, result[indices].astype(current.dtype, copy=False))
        count = int(write.sum())
        self._finish()
        self.status.setText(f"Applied: {count} voxels written to '{target.name}' "
                            "(Ctrl+Z there undoes it). Tick Auto-update to grow again.")

    def cancel(self) -> None:
        """Drop the preview and the session; growing resumes with Auto-update."""
        self._finish()
        self.status.setText("Preview dropped. Tick Auto-update or press Preview to grow "
                            "again.")

    def _finish(self):
        self.auto_update.blockSignals(True)
        self.auto_update.setChecked(False)
        self.auto_update.blockSignals(False)
        self._pending = None
        self._generation += 1  # whatever is running now is outdated
        self._drop_session()
        self.last_result = None
        if self.preview_layer is not None:
            self.viewer.layers.remove(self.preview_layer)
        self._keep_seeds_active()

    def _drop_session(self):
        self._session, self._applied, self._session_key = None, {}, None

    # --- segment list -------------------------------------------------------
    def _update_segment_list(self):
        layer = self.seeds_layer
        present = np.zeros(0, int)
        if layer is not None:
            present = self._seed_counts.counts(layer.data)[0]
        key = (id(layer), tuple(present.tolist()))
        if key == self._segments_key:
            return  # most strokes add no new label: keep the list as it is
        self._segments_key = key
        self._present = present
        self.segments.clear()
        if layer is None:
            return
        names = class_names(layer)
        for value in present.tolist():
            pixmap = QPixmap(12, 12)
            pixmap.fill(QColor(class_color_hex(layer, value)))
            name = names.get(value)
            text = f"{value}: {name}" if name else str(value)
            QListWidgetItem(QIcon(pixmap), text, self.segments)
        if self.segments.count() == 0:
            self.segments.addItem("(no strokes yet)")

    def _unhook(self):
        """Disconnect from the viewer and its layers (no Qt calls: runs on destroy)."""
        self._disconnect_seeds()
        mask = self._mask_layer
        if mask is not None:
            mask.events.data.disconnect(self._mask_edited)
            if isinstance(mask, Labels):
                mask.events.paint.disconnect(self._mask_edited)
        self._mask_layer = None
        if self._range_image is not None:
            self._range_image.events.data.disconnect(self._on_image_data)
        events = self.viewer.layers.events
        for emitter in (events.inserted, events.removed, events.moved):
            emitter.disconnect(self._refresh_choices)
        for layer in self.viewer.layers:
            layer.events.name.disconnect(self._refresh_choices)

    def closeEvent(self, event):  # noqa: N802 (Qt name)
        self._unhook()
        super().closeEvent(event)
