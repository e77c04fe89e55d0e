"""The "Evaluation" dock widget: per-class scores and a live confusion overlay.

It compares a segmentation layer with a ground-truth layer. Ground truth
often numbers classes differently (0 for background, several tissue labels
for one class), so each ground-truth value is mapped to a class; the default
mapping is the class it overlaps most, and the user can change it.

Every number shown comes from one confusion matrix per refresh
(:func:`napari_seglab.core.metrics.confusion_matrix`). Seed pixels are
training data: a score that counts them flatters the method, so they can be
left out (the score with them is shown beside it when it differs).
"""

from __future__ import annotations

import warnings
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FloatSlider, Label, PushButton, Table
from napari.layers import Labels
from napari.utils.colormaps import DirectLabelColormap
from qtpy.QtCore import QTimer
from qtpy.QtGui import QColor
from qtpy.QtWidgets import QAbstractItemView, QHeaderView

from .. import metrics
from ..core.evaluation import map_truth
from ..core.files import atomic_write
from .layers import META_KEY, class_names, write_labels
from .panel_model import bind_combo, model_choices, model_for
from .slice_curve import SliceCurve

if TYPE_CHECKING:
    import napari

#: Overlay codes and colours (TN transparent): cyan, magenta, yellow.
TP, FP, FN = 1, 2, 3
OVERLAY_COLORS = {
    None: (0.0, 0.0, 0.0, 0.0),
    0: (0.0, 0.0, 0.0, 0.0),
    TP: (0.0, 1.0, 1.0, 1.0),
    FP: (1.0, 0.0, 1.0, 1.0),
    FN: (1.0, 1.0, 0.0, 1.0),
}
_OVERLAY_NAMES = {"index": [1, 2, 3],
                  "name": ["true positive", "false positive", "false negative"]}

#: Default of "Exclude seed pixels": seeds are training data, and a score
#: that counts them flatters the method.
EXCLUDE_SEEDS_DEFAULT = True

#: Above this many classes the matrix grid and the per-value mapping are not
#: drawn (a widget per cell froze the panel: 400 labels took minutes).
MAX_CLASSES_SHOWN = 24

WHOLE, SLICE = "Whole image/volume", "Current slice"


def confusion_codes(truth: np.ndarray, pred: np.ndarray, positive) -> np.ndarray:
    """0 = TN, 1 = TP, 2 = FP, 3 = FN for ``positive`` against the rest."""
    t = truth == positive
    p = pred == positive
    codes = np.zeros(truth.shape, np.uint8)
    codes[t & p] = TP
    codes[p & ~t] = FP
    codes[t & ~p] = FN
    return codes


def _values(a: np.ndarray) -> list[int]:
    """Sorted distinct values (a bincount when they are small non-negative ints)."""
    if a.size == 0:
        return []
    if a.dtype.kind in "ub" or (a.dtype.kind == "i" and a.min() >= 0):
        if int(a.max()) < (1 << 16):
            return np.flatnonzero(np.bincount(a.ravel())).tolist()
    return [int(v) for v in np.unique(a)]


def _fmt(x: float) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.4f}"


def _nonzero_mask(layer, shape, fallback):
    """``layer.data != 0`` if the layer fits ``shape``, else None and a note why."""
    if layer is None:
        return None, ""
    data = np.asarray(layer.data)
    if data.shape != tuple(shape):
        return None, (f"'{layer.name}' {data.shape} does not fit the segmentation "
                      f"{tuple(shape)}: {fallback}.")
    return data != 0, ""


class EvaluationWidget(Container):
    """Ground truth vs segmentation: per-class table and a confusion overlay."""

    def __init__(self, napari_viewer: napari.Viewer):
        super().__init__(labels=True)
        self.viewer = napari_viewer
        self._watched: list = []
        self._mapping_widgets: dict[int, ComboBox] = {}
        self._mapping: dict[int, int] = {}  # truth value -> class
        self._mapping_key = None
        self._known_preds: set[int] = set()
        self.last_scores: dict = {}
        self.last_csv: str = ""

        #: The roles, classes and mapping every section shares.
        self.panel_model = model_for(napari_viewer)
        self.truth = ComboBox(label="Ground truth", choices=self._truth_choices,
                              tooltip="The reference to score against. Without one, "
                                      "nothing is scored.")
        self.pred = ComboBox(label="Segmentation", choices=self._pred_choices)
        self.exclude_seeds = CheckBox(text="Exclude seed pixels", value=EXCLUDE_SEEDS_DEFAULT,
                                      tooltip="Seeds are training data: a score that "
                                              "counts them flatters the method.")
        self.seeds = ComboBox(label="Seeds", choices=self._seeds_choices,
                              tooltip="Pixels painted here are left out of the scores.")
        self.fov = ComboBox(
            label="Evaluate inside", choices=self._fov_choices,
            tooltip="A mask layer (non-zero = scored), e.g. a retina field of view; "
                    "pixels outside it count nowhere.")
        self.scope = ComboBox(label="Scope", choices=[WHOLE, SLICE], value=WHOLE,
                              tooltip="Current slice: the slice shown along the first "
                                      "axis of a volume (2D view).")
        self.mapping = Container(label="Truth → class", labels=True)
        self.mapping_note = Label(value="")
        self._class_choices: list = []  # (text, label) of the segmentation's classes
        # Callables, not lists: napari re-evaluates choices on every layer change.
        self.positive = ComboBox(label="Overlay class",
                                 choices=lambda widget: self._class_choices)
        self.opacity = FloatSlider(label="Overlay opacity", value=0.7, min=0, max=1)
        self.results = Label(value="")
        self.copy_csv = PushButton(text="Copy CSV")
        self.export_csv_button = PushButton(text="Export CSV…")
        buttons = Container(layout="horizontal", labels=False,
                            widgets=[self.copy_csv, self.export_csv_button])
        buttons.margins = (0, 0, 0, 0)
        # Confusion matrix: rows truth, columns prediction, shaded by row share.
        self.matrix = Table(label="Confusion",
                            tooltip="Rows: truth, columns: prediction (pixels); a "
                                    "cell's shade is its share of the true class.")
        self.matrix.read_only = True
        table = self.matrix.native
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        table.verticalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.extend([self.truth, self.pred, self.exclude_seeds, self.seeds, self.fov,
                     self.scope,
                     self.mapping, self.mapping_note, self.positive, self.opacity, self.results,
                     self.matrix, buttons])
        self.results.native.setWordWrap(True)
        # Volumes: mean Dice per slice; a click goes to that slice.
        self.curve_label = Label(value="Dice per slice (click to go there)")
        self.curve = SliceCurve()
        self.curve.clicked.connect(self.go_to_slice)
        self.append(self.curve_label)
        self.native.layout().addWidget(self.curve)
        self.curve_label.visible = False
        self.curve.setVisible(False)

        # Coalesce bursts of edits (a brush stroke) into one refresh.
        self._timer = QTimer(self.native)  # dies with the panel: no late refresh
        self._timer.setSingleShot(True)
        self._timer.setInterval(30)
        self._timer.timeout.connect(self.refresh)

        bind_combo(self.panel_model, "truth", self.truth)
        bind_combo(self.panel_model, "segmentation", self.pred)
        bind_combo(self.panel_model, "seeds", self.seeds)
        bind_combo(self.panel_model, "mask", self.fov)
        self.panel_model.mapping_changed.connect(self._show_mapping)
        self.panel_model.classes_changed.connect(self._classes_renamed)
        self.truth.changed.connect(self._layers_changed)
        self.pred.changed.connect(self._layers_changed)
        self.seeds.changed.connect(self._layers_changed)
        self.fov.changed.connect(self.refresh)
        self.exclude_seeds.changed.connect(self._seeds_toggled)
        self.scope.changed.connect(self.refresh)
        self.positive.changed.connect(self.refresh)
        self.opacity.changed.connect(self._set_opacity)
        self.copy_csv.changed.connect(self.copy_table)
        self.export_csv_button.changed.connect(self._ask_export_path)
        dims = self.viewer.dims.events
        dims.current_step.connect(self._dims_changed)
        dims.ndisplay.connect(self._dims_changed)
        self.native.destroyed.connect(self._disconnect_viewer)
        self._seeds_toggled()
        self._layers_changed()

    # -- layer choices: the model's roles ----------------------------------------
    def _truth_choices(self, widget=None):
        return [(text if layer is None or isinstance(layer, Labels)
                 else f"{layer.name} (image → labels)", layer)
                for text, layer in model_choices(self.panel_model, "truth")()]

    def _pred_choices(self, widget=None):
        return model_choices(self.panel_model, "segmentation")()

    def _fov_choices(self, widget=None):
        return model_choices(self.panel_model, "mask", none_text="everywhere")()

    def _seeds_choices(self, widget=None):
        return model_choices(self.panel_model, "seeds")()

    def _fov_mask(self, shape):
        """Pixels to score (None: all) and a note when the mask does not fit."""
        return _nonzero_mask(self.fov.value, shape, "scoring everywhere")

    def reset_choices(self, *args):
        super().reset_choices(*args)
        self._layers_changed()

    # -- wiring ----------------------------------------------------------------
    def _layers_changed(self, *args):
        truth, pred = self.truth.value, self.pred.value
        seeds = self.seeds.value
        watched = list(dict.fromkeys(
            layer for layer in (truth, pred, seeds) if layer is not None))
        changed = [id(x) for x in watched] != [id(x) for x in self._watched]
        if changed:
            for layer in self._watched:
                if hasattr(layer.events, "paint"):  # an Image mask has none
                    layer.events.paint.disconnect(self.schedule_refresh)
                layer.events.data.disconnect(self.schedule_refresh)
            self._watched = watched
            for layer in self._watched:
                if hasattr(layer.events, "paint"):
                    layer.events.paint.connect(self.schedule_refresh)
                layer.events.data.connect(self.schedule_refresh)
        key = (id(truth), id(pred))
        if key != self._mapping_key:
            self._mapping_key = key
            self._rebuild_mapping()
        elif not changed:
            # Some other layer came or went: nothing to recompute (and never
            # re-add the overlay while the viewer is clearing its layers).
            return
        self.refresh()

    def _seeds_toggled(self, *args):
        self.seeds.enabled = self.exclude_seeds.value
        self.refresh()

    def _disconnect_viewer(self, *args):
        dims = self.viewer.dims.events
        dims.current_step.disconnect(self._dims_changed)
        dims.ndisplay.disconnect(self._dims_changed)

    def _dims_changed(self, *args):
        if self.scope.value == SLICE:
            self.schedule_refresh()
        elif self.curve.values.size and self.pred.value is not None:
            shape = self.pred.value.data.shape
            if len(shape) == 3:  # only the marker moves
                self.curve.set_values(self.curve.values, self._slice_on_screen(shape))

    def schedule_refresh(self, *args):
        self._timer.start()

    def _usable_pair(self):
        truth, pred = self.truth.value, self.pred.value
        if truth is None:
            return None, None, ("No ground truth: nothing to score. Pick the reference "
                                "labels under 'Ground truth' (a layer you drew or opened "
                                "as the answer) to see Dice and the confusion overlay.")
        if pred is None:
            return None, None, "Pick a segmentation to score (press Segment to make one)."
        if truth is pred:
            return None, None, "Ground truth and segmentation are the same layer."
        t, p = np.asarray(truth.data), np.asarray(pred.data)
        if t.dtype == bool:
            t = t.astype(np.uint8)
        if t.shape != p.shape:
            return None, None, (
                f"Shapes differ: '{truth.name}' {t.shape} vs '{pred.name}' {p.shape}.")
        return t, p, None

    def _rebuild_mapping(self):
        self.mapping.clear()
        self._mapping_widgets = {}
        self._mapping = {}
        t, p, problem = self._usable_pair()
        if problem:
            self._class_choices = []
            self.positive.reset_choices()
            self.mapping_note.value = ""
            return
        classes = _values(p)
        # Chosen once (by name, else overlap) and kept until the user changes it.
        default = self.panel_model.truth_mapping(t, p)
        names = self.class_names(default)
        self._class_choices = [
            (f"{c}: {names[c]}" if c in names else str(c), c)
            for c in sorted(set(classes) | set(default.values()))]
        truth_names = class_names(self.truth.value)
        self._mapping = dict(default)
        if len(default) > MAX_CLASSES_SHOWN:
            # A combo per value (and a grid cell per pair) would freeze the
            # panel for hundreds of labels: map by overlap, say so.
            self.mapping.append(Label(value=f"{len(default)} truth values, each mapped to "
                                            "the class it overlaps most"))
        else:
            for value, target in default.items():
                combo = ComboBox(choices=lambda widget: self._class_choices, value=target,
                                 label=truth_names.get(value, f"truth {value}"))
                combo.changed.connect(partial(self._set_mapping, value))
                self._mapping_widgets[value] = combo
                self.mapping.append(combo)
        self._show_mapping()
        # Overlay the least frequent class by default: usually the foreground.
        counts = np.bincount(np.searchsorted(classes, p.ravel()), minlength=len(classes))
        with self.positive.changed.blocked():
            self.positive.reset_choices()
        self.positive.value = classes[int(np.argmin(counts))]

    def _set_mapping(self, value, target):
        if self._mapping.get(value) == target:
            return
        mapping = dict(self._mapping)
        mapping[value] = target
        self.panel_model.set_mapping(mapping, "user")

    def _show_mapping(self, *args):
        """Show the model's mapping in the combos and say how it was chosen."""
        mapping = self.panel_model.mapping
        if mapping is None:
            self.mapping_note.value = ""
            return
        self._mapping = dict(mapping)
        for value, combo in self._mapping_widgets.items():
            if value in mapping and combo.value != mapping[value]:
                with combo.changed.blocked():
                    combo.value = mapping[value]
        how = {"name": "matched by class name", "overlap": "by largest overlap",
               "name and overlap": "by class name, the rest by overlap",
               "user": "as you set it", "session": "from the session"}.get(
                   self.panel_model.mapping_how, self.panel_model.mapping_how)
        self.mapping_note.value = (f"<small>Mapping {how}; it stays until you change it."
                                   "</small>")
        self.schedule_refresh()

    def _classes_renamed(self, *args):
        self._mapping_key = None  # the names in the combos and table changed
        self._layers_changed()

    def mapped_truth(self, t: np.ndarray) -> np.ndarray:
        # Truth values that appeared after the mapping was built: no class (-1).
        return map_truth(t, self._mapping)

    def _seed_mask(self, shape):
        """Seed pixels to leave out (None: nothing excluded) and a note.

        Seeds are training data only for the image they were painted on: a
        segmentation made by applying the model to another image keeps all
        its pixels, and the note says why.
        """
        layer = self.seeds.value if self.exclude_seeds.value else None
        pred = self.pred.value
        info = pred.metadata.get(META_KEY, {}) if pred is not None else {}
        if layer is not None and isinstance(info, dict) and "trained_on" in info \
                and info.get("trained_on") != info.get("source"):
            return None, (f"No seed pixels excluded: '{pred.name}' comes from a model trained "
                          f"on '{info.get('trained_on')}', so '{layer.name}' is not its "
                          "training data.")
        return _nonzero_mask(layer, shape, "nothing excluded")

    def current_slice(self, shape) -> int | None:
        """Index along the first axis shown in a 2D view of a volume, else None."""
        if self.scope.value != SLICE or len(shape) != 3 or self.viewer.dims.ndisplay != 2:
            return None
        return self._slice_on_screen(shape)

    # -- compute -----------------------------------------------------------------
    def refresh(self, *args):
        t, p, problem = self._usable_pair()
        if problem:
            self.results.value = problem
            self.matrix.value = {"data": []}
            self.matrix.visible = False  # no empty table: nothing was scored
            self.curve_label.visible = False
            self.curve.setVisible(False)
            self.last_scores, self.last_csv = {}, ""
            self._drop_overlay()
            return
        if set(_values(t)) - set(self._mapping):
            self._rebuild_mapping()
        truth = self.mapped_truth(t)
        mask, note = self._seed_mask(p.shape)
        fov, fov_note = self._fov_mask(p.shape)
        note = " ".join(n for n in (note, fov_note) if n)
        if fov is not None and mask is not None:
            mask = mask & fov  # seeds outside the mask are not scored anyway
        index = self.current_slice(p.shape)
        t_s, p_s = (truth, p) if index is None else (truth[index], p[index])
        m_s = None if mask is None or index is None else mask[index]
        if index is None:
            m_s = mask
        # Classes: those of the segmentation (and any painted since).
        classes = sorted(set(self.positive.choices) | set(_values(p_s)))
        fov_s = fov if fov is None or index is None else fov[index]
        evaluation = metrics.evaluate(t_s, p_s, exclude=m_s, within=fov_s, labels=classes,
                                      names=self.class_names())
        self._show_scores(evaluation, index, note)
        self._show_curve(truth, p, classes, mask, fov)
        positive = self.positive.value
        if positive is not None:
            codes = confusion_codes(truth, p, positive)
            if fov is not None:
                codes[~fov] = 0  # not scored: not coloured
            self._show_overlay(codes)

    def _show_curve(self, truth, p, classes, seeds, fov=None):
        volume = p.ndim == 3
        self.curve_label.visible = volume
        self.curve.setVisible(volume)
        if not volume:
            return
        scored = fov
        if seeds is not None:
            scored = ~seeds if fov is None else fov & ~seeds
        dice, _ = metrics.dice_per_slice(truth, p, classes, mask=scored)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-nan slices
            per_slice = np.nanmean(dice, axis=1)
        self.last_scores["dice_per_slice"] = per_slice
        current = self._slice_on_screen(p.shape)
        self.curve.set_values(per_slice, current)

    def _slice_on_screen(self, shape):
        pred = self.pred.value
        position = pred.world_to_data(self.viewer.dims.point[-pred.ndim:])
        return int(np.clip(round(float(position[0])), 0, shape[0] - 1))

    def go_to_slice(self, index: int):
        """Move the viewer to slice ``index`` of the evaluated volume."""
        pred = self.pred.value
        if pred is None:
            return
        axis = self.viewer.dims.ndim - pred.ndim
        self.viewer.dims.set_point(axis, float(pred.translate[0] + index * pred.scale[0]))

    def class_names(self, mapping=None) -> dict[int, str]:
        """Names of the classes: the segmentation's, else the mapped truth's."""
        names = class_names(self.pred.value)
        names.update(self.panel_model.class_names())  # the legend's names win
        truth_names = class_names(self.truth.value)
        if mapping is None:
            mapping = self._mapping
        merged: dict[int, list[str]] = {}
        for value, target in mapping.items():
            if value in truth_names:
                merged.setdefault(target, []).append(truth_names[value])
        for c, parts in merged.items():
            names.setdefault(c, " + ".join(parts))
        return names

    def _show_scores(self, ev, index, note):
        """Render an :class:`~napari_seglab.core.evaluation.Evaluation` (and keep it)."""
        names = self.class_names()
        classes, cm, cm_all, n_seeds = ev.labels, ev.confusion, ev.confusion_with_excluded, \
            ev.n_excluded
        per_class = {}
        for c in ev.classes:
            row = dict(c.scores, name=c.name, truth_voxels=c.truth_voxels,
                       predicted_voxels=c.predicted_voxels)
            per_class[c.label] = row
        summ = {"mean_dice": ev.mean_dice, "accuracy": ev.accuracy, "mcc": ev.mcc,
                "n": ev.n}
        summ_all = {"mean_dice": ev.mean_dice_with_excluded,
                    "accuracy": ev.accuracy_with_excluded, "mcc": ev.mcc_with_excluded}
        self.last_evaluation = ev
        self.last_scores = {
            "dice": dict(ev.dice),
            "mean_dice": ev.mean_dice,
            "accuracy": ev.accuracy,
            "mcc": ev.mcc,
            "per_class": per_class,
            "mean_dice_with_seeds": ev.mean_dice_with_excluded,
            "accuracy_with_seeds": ev.accuracy_with_excluded,
            "mcc_with_seeds": ev.mcc_with_excluded,
            "confusion": cm,
            "labels": list(classes),
            "n": ev.n,
            "seed_pixels_excluded": n_seeds,
            "slice": index,
        }
        self.last_csv = ev.to_csv()
        self._show_matrix(cm, classes, names)

        differs = not np.array_equal(cm, cm_all)

        def both(key, label):
            text = f"<b>{label}</b> {_fmt(summ[key])}"
            if differs:
                text += f" ({_fmt(summ_all[key])} with seeds)"
            return text

        # Two narrow tables rather than one wide one: the panel is a narrow dock.
        shown = list(per_class.items())[:MAX_CLASSES_SHOWN]

        def table(heads, cells):
            head = "".join(f"<th>{h}</th>" for h in heads)
            body = "".join("<tr>" + "".join(cells(c, r)) + "</tr>" for c, r in shown)
            return f"<table cellspacing='0' cellpadding='2'><tr>{head}</tr>{body}"

        def label(c, r):
            return f"<td>{c}: {r['name']}</td>" if r["name"] else f"<td>{c}</td>"

        rows = table(("class", "Dice", "precision", "recall"), lambda c, r: (
            label(c, r), f"<td>{_fmt(r['dice'])}</td>", f"<td>{_fmt(r['precision'])}</td>",
            f"<td>{_fmt(r['recall'])}</td>"))
        if len(per_class) > MAX_CLASSES_SHOWN:
            rows += (f"<tr><td colspan='4'>… {len(per_class) - MAX_CLASSES_SHOWN} more classes "
                     "(Copy / Export CSV has them all; the matrix is not drawn)</td></tr>")
        rows += "</table>" + table(("class", "truth px", "predicted px"), lambda c, r: (
            label(c, r), f"<td align='right'>{r['truth_voxels']:,}</td>",
            f"<td align='right'>{r['predicted_voxels']:,}</td>")) + "</table>"
        where = "whole image" if len(cm_all) and self.pred.value.ndim == 2 else "whole volume"
        if index is not None:
            where = f"slice {index}"
        scored = f"{summ['n']:,} px scored ({where})"
        if n_seeds:
            scored += f", {n_seeds:,} seed px excluded"
        self.results.value = (
            rows + both("mean_dice", "Mean Dice") + "<br>" + both("accuracy", "Accuracy")
            + "<br>" + both("mcc", "MCC") + f"<br><small>{scored}</small>"
            + (f"<br><small>{note}</small>" if note else "")
        )

    def _show_matrix(self, cm, classes, names):
        too_many = len(classes) > MAX_CLASSES_SHOWN
        self.matrix.visible = not too_many
        if too_many:
            self.matrix.value = {"data": []}
            return
        heads = [f"{c}: {names[c]}" if c in names else str(c) for c in classes]
        # Text, not numbers: the table would show large counts as 9.458e+05.
        cells = [[f"{v:,}" for v in row] for row in cm.tolist()]
        self.matrix.value = {"data": cells, "index": heads, "columns": heads}
        table = self.matrix.native
        rows = cm.sum(axis=1)
        for i in range(len(classes)):
            for j in range(len(classes)):
                item = table.item(i, j)
                if item is None:
                    continue
                share = cm[i, j] / rows[i] if rows[i] else 0.0
                # Diagonal in teal, errors in magenta; stronger = larger share.
                base = (0, 160, 160) if i == j else (200, 0, 200)
                item.setBackground(QColor(*base, int(30 + 200 * share)))
                item.setToolTip(f"{100 * share:.2f}% of true {heads[i]}")
        height = (table.horizontalHeader().height() + 2 * table.frameWidth()
                  + sum(table.rowHeight(i) for i in range(len(classes))))
        table.setFixedHeight(max(height, 40))

    def copy_table(self, *args) -> str:
        """Put the per-class table on the clipboard as CSV (and return it)."""
        from qtpy.QtWidgets import QApplication

        QApplication.clipboard().setText(self.last_csv)
        return self.last_csv

    def export_csv(self, path) -> None:
        """Write the per-class table as CSV to ``path``."""
        with atomic_write(path, "w", newline="", encoding="utf-8") as f:
            f.write(self.last_csv)

    def _ask_export_path(self, *args):
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(self.native, "Export scores", "scores.csv",
                                              "CSV files (*.csv)")
        if path:
            self.export_csv(path)

    def _show_overlay(self, codes):
        pred = self.pred.value
        new = getattr(self, "overlay", None) not in self.viewer.layers
        layer = write_labels(
            self.viewer, codes, role="confusion", source="evaluation", name="confusion",
            scale=pred.scale, translate=pred.translate, opacity=self.opacity.value,
            colormap=DirectLabelColormap(color_dict=OVERLAY_COLORS),
            features=_OVERLAY_NAMES,
            # removed with either input (PanelModel.drop_helpers_of)
            info={"inputs": [self.truth.value.name, pred.name]},
        )
        layer.metadata[META_KEY]["edited"] = False  # overlays are never hand-edited
        self.overlay = layer
        layers = self.viewer.layers
        if new or layers.index(pred) > layers.index(layer):
            layers.move(layers.index(layer), len(layers))  # keep it on top

    def _drop_overlay(self):
        """Remove the confusion overlay: its inputs are gone or no longer scored."""
        layer = getattr(self, "overlay", None)
        self.overlay = None
        if layer is not None and layer in self.viewer.layers:
            self.viewer.layers.remove(layer)

    def _set_opacity(self, value):
        layer = getattr(self, "overlay", None)
        if layer is not None and layer in self.viewer.layers:
            layer.opacity = value
