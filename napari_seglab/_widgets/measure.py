"""The "Measure & export" dock widget: volumes in mm³, mean HU, 3D surfaces, label maps out.

It reads a labels layer (``segmentation`` by default) and an image layer,
and shows one row per label: voxels, volume in mm³ (from the layer scale),
mean, std, min and max of the image (HU on CT), surface area, sphericity,
maximum Feret diameter and centroid in mm; where the last Segment run left
class probabilities, the volume reads ``volume ± half the range`` between
p ≥ 0.75 and p ≥ 0.25 (:func:`~napari_seglab.measure.volume_range`). The table follows the labels
(paint, fill, erase, undo/redo, replaced data), debounced, computed in a
thread worker; the newest request wins. From here: copy or export the table,
show a label as a 3D surface, export the label map (NIfTI, NRRD, TIFF, NPY,
DICOM SEG) and resample the image to another voxel size.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
from napari.layers import Image, Labels
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..core.files import atomic_write
from ..core.measure import segment_statistics, surface, volume_range
from ..core.resample import isotropic_spacing, resample, resample_to_axes
from ..io import write_dicom_seg, write_labels
from ..io.base import is_axis_aligned
from .layers import follow_undo, unwrap
from .panel_model import LayerPicker, is_helper, model_for
from .save_dialog import confirm_replace
from .visibility import hidden_in_shown_window

if TYPE_CHECKING:
    import napari

#: Table columns (header, key in the statistics row, format).
TABLE_COLUMNS = (("label", "label", "{}"), ("name", None, "{}"), ("voxels", "voxels", "{}"),
                 ("volume mm³", "volume_mm3", "{:.1f}"), ("mean", "mean", "{:.1f}"),
                 ("std", "std", "{:.1f}"), ("min", "min", "{:.4g}"), ("max", "max", "{:.4g}"),
                 ("surface mm²", "surface_mm2", "{:.1f}"),
                 ("sphericity", "sphericity", "{:.3f}"), ("Feret mm", "feret_mm", "{:.1f}"),
                 ("centroid mm", "centroid_mm", "{}"))
#: Names of segments that are not structures: Show 3D surface skips them by default.
BACKGROUND_NAMES = ("background", "air", "bg", "outside")
EXPORT_FILTERS = ("NIfTI (*.nii.gz *.nii)", "NRRD (*.nrrd)", "TIFF (*.tif *.tiff)",
                  "NumPy (*.npy)", "DICOM SEG (*.dcm)")
DEBOUNCE_MS = 250
NO_IMAGE = "(no image)"


def _spatial(layer, ndim):
    return tuple(float(v) for v in layer.scale[-ndim:]), tuple(float(v) for v in
                                                               layer.translate[-ndim:])


def _names(layer) -> dict:
    try:
        features = layer.features
        return {int(i): str(n) for i, n in zip(features["index"], features["name"],
                                                strict=True)}
    except (KeyError, TypeError, ValueError, AttributeError):
        return {}


def _statistics(labels, image, spacing, origin, probabilities):
    """The statistics table, with the volume range of each class the probabilities hold."""
    table = segment_statistics(labels, image, spacing, origin=origin)
    if probabilities is not None:
        proba, classes = probabilities
        for row in table.rows:
            if row["label"] in classes:
                low, _, high = volume_range(proba, label=row["label"], labels=labels,
                                            spacing=spacing, classes=classes)
                row["volume_low_mm3"], row["volume_high_mm3"] = low, high
    return table


def _cell(row, key, fmt):
    """The text and tooltip of one table cell."""
    value = row.get(key)
    if value is None:
        return "", ""
    if key == "centroid_mm":
        return " ".join(f"{v:.1f}" for v in value), "(z, y, x) in mm, in the layer's world"
    if key == "volume_mm3" and "volume_low_mm3" in row:
        low, high = row["volume_low_mm3"], row["volume_high_mm3"]
        tip = (f"{low:.1f} mm³ where the class probability is ≥ 0.75, {value:.1f} labelled, "
               f"{high:.1f} where it is ≥ 0.25: ± half that range is the border's "
               "uncertainty")
        return f"{value:.1f} ± {(high - low) / 2:.1f}", tip
    return fmt.format(value), ""


class MeasureWidget(QWidget):
    """Statistics table, 3D surface, label map export and resampling."""

    def __init__(self, napari_viewer: napari.Viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.table_data = None  # the last SegmentTable shown
        self._generation = 0
        self._stale = False  # a refresh skipped while hidden, done on show
        self._watched = None
        self._workers = set()
        self._alive = True  # False once closed or deleted: workers still finishing touch no Qt
        self._probabilities = None  # (labels layer, proba, classes) of the last Segment run
        self._surface_shown = None  # (labels layer, label): the surface that follows edits

        # The segmentation role: never the ground truth, the seeds or a preview.
        self.labels_combo = LayerPicker(model_for(napari_viewer), "segmentation")
        self.image_combo = QComboBox()
        self.table = QTableWidget(0, len(TABLE_COLUMNS))
        self.table.setHorizontalHeaderLabels([c[0] for c in TABLE_COLUMNS])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.table.setMinimumHeight(60)
        self.table.setMaximumHeight(170)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setMaximumHeight(10)
        self.progress.setTextVisible(False)
        self.progress.hide()

        self.copy_button = QPushButton("Copy")
        self.csv_button = QPushButton("Export CSV…")
        self.surface_label = QComboBox()
        self.smooth_spin = QDoubleSpinBox()
        self.smooth_spin.setRange(0.0, 10.0)
        self.smooth_spin.setSingleStep(0.5)
        self.smooth_spin.setValue(1.0)
        self.smooth_spin.setSuffix(" mm")
        self.smooth_spin.setToolTip("Gaussian smoothing of the mask before meshing "
                                    "(0: the voxel staircase)")
        self.surface_button = QPushButton("Show 3D surface")
        self.surface_button.setToolTip("Mesh the chosen segment (default: the first that is "
                                       "not background), switch the view to 3D; the surface "
                                       "follows edits while 'Follow edits' is ticked")
        self.follow_surface = QCheckBox("Follow edits")
        self.follow_surface.setChecked(True)
        self.export_button = QPushButton("Export label map…")
        self.spacing_edit = QLineEdit()
        self.spacing_edit.setPlaceholderText("isotropic")
        self.spacing_edit.setToolTip("New voxel size in mm: one number (isotropic) or "
                                     "z, y, x; empty = isotropic at the finest spacing")
        self.resample_button = QPushButton("Resample image")

        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Labels", self.labels_combo)
        form.addRow("Image", self.image_combo)
        buttons = QHBoxLayout()
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.csv_button)
        # two rows: four controls side by side do not fit the dock's default width
        surface_row = QHBoxLayout()
        surface_row.addWidget(self.surface_label, 1)
        surface_row.addWidget(self.smooth_spin)
        surface_action_row = QHBoxLayout()
        surface_action_row.addWidget(self.surface_button, 1)
        surface_action_row.addWidget(self.follow_surface)
        resample_row = QHBoxLayout()
        resample_row.addWidget(self.spacing_edit)
        resample_row.addWidget(self.resample_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(form)
        layout.addWidget(self.table)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        layout.addLayout(surface_row)
        layout.addLayout(surface_action_row)
        layout.addWidget(self.export_button)
        layout.addLayout(resample_row)
        layout.addStretch(1)  # in a tall dock the controls stay together at the top

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.refresh)

        self.labels_combo.currentTextChanged.connect(self._on_labels_choice)
        self.image_combo.currentTextChanged.connect(lambda _: self.schedule_refresh())
        self.copy_button.clicked.connect(self.copy_table)
        self.csv_button.clicked.connect(self._ask_csv)
        self.surface_button.clicked.connect(lambda: self.show_surface())
        self.export_button.clicked.connect(self._ask_export)
        self.resample_button.clicked.connect(lambda: self.resample_image())
        self.viewer.layers.events.inserted.connect(self._fill_choices)
        self.viewer.layers.events.removed.connect(self._fill_choices)
        self.viewer.layers.events.reordered.connect(self._fill_choices)
        # a closed dock is deleted without a closeEvent: let go of napari then too
        self.destroyed.connect(lambda *_: self._unhook())
        self._fill_choices()

    # -- layer choices ---------------------------------------------------------------

    def _layers(self, kind):
        cls = Labels if kind == "labels" else Image
        return [layer for layer in self.viewer.layers if isinstance(layer, cls)
                and not is_helper(layer)]

    def _fill_choices(self, event=None):
        images = [layer.name for layer in self._layers("image")]
        current_image = self.image_combo.currentText()
        for combo, names, current, default in (
                (self.image_combo, [NO_IMAGE] + images, current_image, None),):
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            if current in names:
                combo.setCurrentText(current)
            elif default in names:
                combo.setCurrentText(default)
            elif combo is self.image_combo and images:
                combo.setCurrentText(self._image_for(images))
            combo.blockSignals(False)
        self._on_labels_choice(self.labels_combo.currentText())

    def _image_for(self, images):
        """The first image with the labels' grid, else the first image."""
        labels = self.labels_layer
        for name in images:
            layer = self.viewer.layers[name]
            if labels is not None and tuple(layer.data.shape) == tuple(labels.data.shape):
                return name
        return images[0]

    @property
    def labels_layer(self):
        return self.labels_combo.layer

    @property
    def image_layer(self):
        name = self.image_combo.currentText()
        if name == NO_IMAGE or name not in self.viewer.layers:
            return None
        return self.viewer.layers[name]

    def _on_labels_choice(self, name):
        layer = self.labels_layer
        if layer is not self._watched:
            if self._watched is not None:
                for emitter in self._emitters(self._watched):
                    emitter.disconnect(self.schedule_refresh)
            self._watched = layer
            if layer is not None:
                follow_undo(layer)  # napari's undo/redo emit nothing by themselves
                for emitter in self._emitters(layer):
                    emitter.connect(self.schedule_refresh)
        self.surface_button.setEnabled(layer is not None and layer.data.ndim == 3)
        self.schedule_refresh()

    @staticmethod
    def _emitters(layer):
        # paint: strokes, fill, erase; data: replaced arrays; labels_update: undo/redo
        return [getattr(layer.events, name) for name in ("paint", "data", "labels_update")
                if hasattr(layer.events, name)]

    def _unhook(self):
        """Stop following the viewer and the labels (no Qt calls: also runs on destroy)."""
        self._generation += 1  # results still in flight are dropped
        self._alive = False
        if self._watched is not None:
            for emitter in self._emitters(self._watched):
                emitter.disconnect(self.schedule_refresh)
            self._watched = None
        for emitter in (self.viewer.layers.events.inserted, self.viewer.layers.events.removed,
                        self.viewer.layers.events.reordered):
            emitter.disconnect(self._fill_choices)

    def closeEvent(self, event):  # noqa: N802 - Qt's name
        """Stop following the layers when the widget closes."""
        self._timer.stop()
        self._unhook()
        super().closeEvent(event)

    # -- statistics ------------------------------------------------------------------

    def schedule_refresh(self, event=None):
        """Refresh the table after a short pause (strokes come in bursts)."""
        self._timer.start()

    def showEvent(self, event):  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if self._stale:
            self._stale = False
            self.refresh()

    def refresh(self):
        """Recompute the statistics in a worker; the newest request wins.

        While the section is collapsed (its window on screen), it waits to be
        opened: a live preview's every stroke re-measured the whole volume.
        """
        if hidden_in_shown_window(self):
            self._stale = True
            return
        self._generation += 1
        generation = self._generation
        labels_layer = self.labels_layer
        if labels_layer is None:
            self._show_rows(None)
            self.status.setText("Add or choose a labels layer.")
            return
        labels = np.asarray(labels_layer.data)
        image_layer = self.image_layer
        image = None
        note = ""
        if image_layer is not None:
            if tuple(image_layer.data.shape) == labels.shape:
                image = np.asarray(image_layer.data)
            else:
                note = (f"{image_layer.name!r} has shape {tuple(image_layer.data.shape)}, the "
                        f"labels {labels.shape}: intensities left out")
        spacing, origin = _spatial(labels_layer, labels.ndim)
        worker = create_worker(_statistics, labels, image, spacing, origin,
                               self._probabilities_for(labels_layer, labels.shape))
        worker.returned.connect(lambda table: self._on_table(generation, table, note))
        worker.errored.connect(lambda exc: self._on_error(generation, exc))
        self._start(worker)

    def _start(self, worker):
        self._workers.add(worker)
        worker.finished.connect(lambda: self._finished(worker))
        self.progress.show()
        worker.start()

    def _finished(self, worker):
        self._workers.discard(worker)
        if self._alive and not self._workers:
            self.progress.hide()

    def _on_error(self, generation, exc):
        if self._alive and generation == self._generation:
            self.status.setText(str(exc))
            show_warning(f"Measure: {exc}")

    def _on_table(self, generation, table, note):
        if generation != self._generation:
            return  # an older request: the labels changed since
        self.table_data = table
        self._show_rows(table)
        unit = "mm³" if len(table.spacing) == 3 else "mm²"
        total = sum(r["volume_mm3"] for r in table.rows)
        spacing = " × ".join(f"{s:g}" for s in table.spacing)
        ranged = any("volume_low_mm3" in r for r in table.rows)
        self.status.setText(f"{len(table)} label(s), {total:.1f} {unit} in all; voxel "
                            f"{spacing} mm" + ("; volume ± half the range between class "
                                               "probability ≥ 0.75 and ≥ 0.25" if ranged else "")
                            + (f". {note}" if note else ""))
        self._follow_surface(table)

    def _show_rows(self, table):
        rows = table.rows if table is not None else []
        names = _names(self.labels_layer) if self.labels_layer is not None else {}
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, (_, key, fmt) in enumerate(TABLE_COLUMNS):
                if key is None:
                    text, tip = names.get(row["label"], ""), ""
                else:
                    text, tip = _cell(row, key, fmt)
                item = QTableWidgetItem(text)
                if tip:
                    item.setToolTip(tip)
                self.table.setItem(r, c, item)
        current = self.surface_label.currentText()
        self.surface_label.clear()
        self.surface_label.addItems([str(row["label"]) for row in rows])
        if current in [str(row["label"]) for row in rows]:
            self.surface_label.setCurrentText(current)
        elif rows:
            self.surface_label.setCurrentText(str(self.default_surface_label(rows, names)))

    @staticmethod
    def default_surface_label(rows, names):
        """The first segment whose name is not a background's (else the first)."""
        for row in rows:
            if names.get(row["label"], "").strip().lower() not in BACKGROUND_NAMES:
                return row["label"]
        return rows[0]["label"]

    # -- probabilities of the last Segment run ----------------------------------------

    def follow_runs(self, segmentation):
        """Read the class probabilities of each Segment run (for ``volume ± range``).

        ``segmentation`` is the panel's Seeds & method section: it emits
        ``finished_run(layer)`` and keeps ``last_proba`` (spatial shape +
        classes, the last axis in the order of ``model.classes_``).
        """
        segmentation.keep_proba = True
        self._segmentation = segmentation
        segmentation.finished_run.connect(self._on_run)

    def _on_run(self, layer):
        seg = getattr(self, "_segmentation", None)
        proba = getattr(seg, "last_proba", None)
        if layer is None or proba is None:
            self._probabilities = None
            return
        classes = getattr(getattr(seg, "model", None), "classes_", None)
        classes = ([int(c) for c in np.asarray(classes).ravel()] if classes is not None
                   else list(range(1, proba.shape[-1] + 1)))
        if len(classes) != proba.shape[-1]:
            classes = list(range(1, proba.shape[-1] + 1))
        self._probabilities = (unwrap(layer), proba, classes)
        self.schedule_refresh()

    def _probabilities_for(self, layer, shape):
        if self._probabilities is None:
            return None
        run_layer, proba, classes = self._probabilities
        if run_layer is not unwrap(layer) or proba.shape[:-1] != tuple(shape):
            return None
        return proba, classes

    def table_text(self, sep=",") -> str:
        """The shown table as CSV (with names), the text Copy puts on the clipboard."""
        if self.table_data is None:
            return ""
        names = _names(self.labels_layer) if self.labels_layer is not None else {}
        text = self.table_data.to_csv(names=names or None)
        return text.replace(",", sep) if sep != "," else text

    def copy_table(self):
        """Copy the table to the clipboard (tab-separated, pastes into a spreadsheet)."""
        QApplication.clipboard().setText(self.table_text(sep="\t"))
        show_info("Statistics copied")

    def _ask_csv(self):
        path, _ = QFileDialog.getSaveFileName(self, "Export statistics", "statistics.csv",
                                              "CSV (*.csv)")
        if path:
            self.export_csv(path)

    def export_csv(self, path):
        """Write the table to ``path`` (atomic)."""
        if self.table_data is None:
            show_warning("No statistics yet: choose a labels layer")
            return None
        try:
            with atomic_write(path, "w", encoding="utf-8", newline="") as fh:
                fh.write(self.table_text())
        except OSError as exc:
            show_error(f"Could not write {path}: {exc}")
            return None
        return path

    # -- surface ---------------------------------------------------------------------

    def show_surface(self, label=None, *, switch=True):
        """Show the surface of ``label`` (default: the chosen one) as a Surface layer.

        ``switch``: turn the view to 3D. The surface is re-meshed after each
        edit of the labels while *Follow edits* is ticked.
        """
        layer = self.labels_layer
        if layer is None or layer.data.ndim != 3:
            show_warning("Show 3D surface needs a 3D labels layer")
            return
        if label is None:
            text = self.surface_label.currentText()
            if not text:
                show_warning("No label to show: paint or segment first")
                return
            label = int(text)
        spacing, translate = _spatial(layer, 3)
        color = np.asarray(layer.get_color(label), float)
        name = f"{layer.name} surface {label}"
        worker = create_worker(surface, np.asarray(layer.data), label, spacing,
                               self.smooth_spin.value())
        self._surface_shown = (layer, label)
        if switch:
            self.viewer.dims.ndisplay = 3
        worker.returned.connect(lambda mesh: self._add_surface(mesh, name, translate, color))
        worker.errored.connect(lambda exc: show_warning(f"Show 3D surface: {exc}"))
        self._start(worker)

    def _add_surface(self, mesh, name, translate, color):
        if not self._alive:
            return
        vertices, faces = mesh
        colors = np.tile(color, (len(vertices), 1))
        if name in self.viewer.layers:  # a re-mesh (after an edit): the new mesh replaces it
            self.viewer.layers.remove(name)
        keep_active = self.viewer.layers.selection.active
        self.viewer.add_surface((vertices, faces), name=name, translate=translate,
                                vertex_colors=colors, shading="smooth", opacity=0.8)
        if keep_active is not None and keep_active in self.viewer.layers:
            self.viewer.layers.selection.active = keep_active

    def _follow_surface(self, table):
        if self._surface_shown is None or not self.follow_surface.isChecked():
            return
        layer, label = self._surface_shown
        name = f"{layer.name} surface {label}"
        if layer is not self.labels_layer or name not in self.viewer.layers:
            self._surface_shown = None  # the surface was closed: stop following
            return
        if label in [row["label"] for row in table.rows]:
            self.show_surface(label, switch=False)

    # -- export ----------------------------------------------------------------------

    def _ask_export(self):
        layer = self.labels_layer
        if layer is None:
            show_warning("Choose a labels layer to export")
            return
        path, chosen = QFileDialog.getSaveFileName(
            self, "Export label map", f"{layer.name}.nii.gz", ";;".join(EXPORT_FILTERS))
        if path:
            if "DICOM" in chosen and not path.lower().endswith(".dcm"):
                path += ".dcm"  # a name the dialog did not confirm: ask about it
                if not confirm_replace(self, path):
                    return
            self.export_labels(path)

    def export_labels(self, path):
        """Write the labels layer to ``path`` by extension (.dcm: DICOM SEG)."""
        layer = self.labels_layer
        if layer is None:
            show_warning("Choose a labels layer to export")
            return None
        labels = np.asarray(layer.data)
        spacing, origin = _spatial(layer, labels.ndim)
        image = self.image_layer
        meta = image.metadata if image is not None else {}
        try:
            if str(path).lower().endswith(".dcm"):
                source = self._dicom_source(labels)
                written = write_dicom_seg(path, labels, source, names=_names(layer))
            else:
                direction = (layer.metadata.get("direction") or meta.get("direction"))
                if direction is not None and np.shape(direction) != (labels.ndim,) * 2:
                    direction = None
                written = write_labels(path, labels, spacing=spacing, origin=origin,
                                       direction=direction)
        except (ValueError, TypeError, OSError) as exc:
            if str(path).lower().endswith(".dcm") and "export NIfTI or NRRD" in str(exc):
                return self._offer_volume_formats(path, str(exc))
            show_error(f"Export label map: {exc}")
            return None
        show_info(f"Wrote {written}")
        return written

    def _offer_volume_formats(self, path, message):
        """DICOM SEG refused (a missing tag): offer NIfTI or NRRD in the same dialog."""
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("DICOM SEG export")
        box.setText(f"DICOM SEG cannot be written: {message}.")
        box.setInformativeText("Save the label map with its spacing, origin and direction "
                               "as NIfTI or NRRD instead?")
        nifti = box.addButton("Save as NIfTI", QMessageBox.ButtonRole.AcceptRole)
        nrrd = box.addButton("Save as NRRD", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        self.fallback_dialog = box  # tests answer it
        box.exec()
        chosen = box.clickedButton()
        self.fallback_dialog = None
        if chosen not in (nifti, nrrd):
            return None
        stem = str(path)[:-len(".dcm")]
        return self.export_labels(stem + (".nii.gz" if chosen is nifti else ".nrrd"))

    def _dicom_source(self, labels):
        from .._writer import find_dicom_source

        layer = self.labels_layer
        image = self.image_layer
        if image is not None and image.metadata.get("files"):
            return image.metadata
        source = find_dicom_source(labels, {"metadata": layer.metadata, "scale": layer.scale,
                                            "translate": layer.translate}, self.viewer)
        if source is None:
            raise ValueError("DICOM SEG needs the DICOM series the labels were drawn on: "
                             "choose, as Image, a layer opened from DICOM by this plugin")
        return source

    # -- resampling -------------------------------------------------------------------

    def _new_spacing(self, old):
        text = self.spacing_edit.text().strip()
        if not text:
            return isotropic_spacing(old)
        try:
            values = [float(v) for v in text.replace(",", " ").replace("×", " ").split()]
        except ValueError:
            raise ValueError(f"spacing {text!r}: give one number (isotropic) or "
                             f"{len(old)} numbers in mm") from None
        if len(values) == 1:
            values = values * len(old)
        return tuple(values)

    def resample_image(self, spacing=None):
        """Add the image resampled to ``spacing`` (default: the field, else isotropic)."""
        image = self.image_layer
        if image is None:
            show_warning("Choose an image layer to resample")
            return
        if image.rgb:
            show_warning("Resampling RGB images is not supported")
            return
        ndim = image.data.ndim
        old, translate = _spatial(image, ndim)
        try:
            new = tuple(spacing) if spacing is not None else self._new_spacing(old)
        except ValueError as exc:
            show_error(str(exc))
            return
        name = f"{image.name} ({' × '.join(f'{s:g}' for s in new)} mm)"
        metadata = {k: v for k, v in image.metadata.items()
                    if k not in ("files", "sop_instance_uids", "frame_order")}
        metadata["resampled_from"] = json.loads(json.dumps({"name": image.name,
                                                            "spacing": list(old)}))
        kwargs = {"name": name, "scale": new, "translate": translate, "metadata": metadata,
                  "colormap": image.colormap.name, "contrast_limits": image.contrast_limits}
        direction = image.metadata.get("direction")
        if ndim == 3 and direction is not None and not is_axis_aligned(direction):
            # an oblique series: onto the patient axes, so it lines up with others
            metadata.update(direction=np.eye(3).tolist(), oblique=False)
            kwargs["name"] = f"{image.name} (axis-aligned, {new[0]:g} mm)"
            worker = create_worker(resample_to_axes, np.asarray(image.data), old, translate,
                                   direction, new_spacing=new, order=1)
        else:
            worker = create_worker(resample, np.asarray(image.data), old, new, order=1)
        worker.returned.connect(lambda result: self._add_image(result, kwargs))
        worker.errored.connect(lambda exc: show_error(f"Resample image: {exc}"))
        self._start(worker)

    def _add_image(self, result, kwargs):
        if not self._alive:
            return
        if isinstance(result, tuple):  # resample_to_axes: data, spacing, origin
            result, kwargs["scale"], kwargs["translate"] = result
        data = result
        if kwargs["name"] in self.viewer.layers:
            self.viewer.layers.remove(kwargs["name"])
        keep_active = self.viewer.layers.selection.active
        self.viewer.add_image(data, **kwargs)
        if keep_active is not None and keep_active in self.viewer.layers:
            self.viewer.layers.selection.active = keep_active
