"""The "Evaluation" dock widget: Dice per class and a live confusion overlay.

It compares a segmentation layer with a ground-truth layer. Ground truth
often numbers classes differently (0 for background, several tissue labels
for one class), so each ground-truth value is mapped to a class; the default
mapping is the class it overlaps most, and the user can change it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import ComboBox, Container, FloatSlider, Label
from napari.layers import Labels
from napari.utils.colormaps import DirectLabelColormap
from qtpy.QtCore import QTimer
from skimage.util import map_array

from ._layers import META_KEY, class_names, layer_role, write_labels
from .core import metrics

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


def confusion_codes(truth: np.ndarray, pred: np.ndarray, positive) -> np.ndarray:
    """0 = TN, 1 = TP, 2 = FP, 3 = FN for ``positive`` against the rest."""
    t = truth == positive
    p = pred == positive
    codes = np.zeros(truth.shape, np.uint8)
    codes[t & p] = TP
    codes[p & ~t] = FP
    codes[t & ~p] = FN
    return codes


class EvaluationWidget(Container):
    """Ground truth vs segmentation: Dice table and a confusion overlay."""

    def __init__(self, napari_viewer: napari.Viewer):
        super().__init__(labels=True)
        self.viewer = napari_viewer
        self._watched: list = []
        self._mapping_widgets: dict[int, ComboBox] = {}
        self._mapping_key = None
        self._known_preds: set[int] = set()

        self.truth = ComboBox(label="Ground truth", choices=self._truth_choices)
        self.pred = ComboBox(label="Segmentation", choices=self._pred_choices)
        self.mapping = Container(label="Truth → class", labels=True)
        self._class_choices: list = []  # (text, label) of the segmentation's classes
        # Callables, not lists: napari re-evaluates choices on every layer change.
        self.positive = ComboBox(label="Overlay class",
                                 choices=lambda widget: self._class_choices)
        self.opacity = FloatSlider(label="Overlay opacity", value=0.7, min=0, max=1)
        self.results = Label(value="")
        self.extend([self.truth, self.pred, self.mapping, self.positive,
                     self.opacity, self.results])

        # Coalesce bursts of edits (a brush stroke) into one refresh.
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.setInterval(30)
        self._timer.timeout.connect(self.refresh)

        self.truth.changed.connect(self._layers_changed)
        self.pred.changed.connect(self._layers_changed)
        self.positive.changed.connect(self.refresh)
        self.opacity.changed.connect(self._set_opacity)
        self._layers_changed()

    # -- layer choices -------------------------------------------------------
    def _labels_layers(self):
        # Seeds are training data, neither truth nor a result.
        return [layer for layer in self.viewer.layers if isinstance(layer, Labels)
                and "seed" not in layer.name.lower()]

    def _truth_choices(self, widget=None):
        layers = [layer for layer in self._labels_layers() if layer_role(layer) is None]
        layers.sort(key=lambda layer: "truth" not in layer.name.lower())
        return [(layer.name, layer) for layer in layers]

    def _pred_choices(self, widget=None):
        layers = [layer for layer in self._labels_layers()
                  if layer_role(layer) != "confusion"]
        # Our segmentations first, newest first; then the user's own layers.
        ours = [layer for layer in layers if layer_role(layer) == "segmentation"]
        rest = [layer for layer in layers if layer_role(layer) != "segmentation"]
        return [(layer.name, layer) for layer in ours[::-1] + rest]

    def reset_choices(self, *args):
        before = self._known_preds
        super().reset_choices(*args)
        choices = [layer for _, layer in self._pred_choices()]
        self._known_preds = {id(layer) for layer in choices}
        new_ours = [layer for layer in choices if id(layer) not in before
                    and layer_role(layer) == "segmentation"]
        # Follow a fresh result; never compare the ground truth with itself.
        if new_ours:
            self.pred.value = new_ours[0]
        elif self.pred.value is self.truth.value:
            others = [layer for layer in choices if layer is not self.truth.value]
            if others:
                self.pred.value = others[0]
        self._layers_changed()

    # -- wiring ----------------------------------------------------------------
    def _layers_changed(self, *args):
        truth, pred = self.truth.value, self.pred.value
        key = (id(truth), id(pred))
        if key == self._mapping_key:
            return
        self._mapping_key = key
        for layer in self._watched:
            layer.events.paint.disconnect(self.schedule_refresh)
            layer.events.data.disconnect(self.schedule_refresh)
        self._watched = [layer for layer in (truth, pred) if layer is not None]
        for layer in self._watched:
            layer.events.paint.connect(self.schedule_refresh)
            layer.events.data.connect(self.schedule_refresh)
        self._rebuild_mapping()
        self.refresh()

    def schedule_refresh(self, *args):
        self._timer.start()

    def _usable_pair(self):
        truth, pred = self.truth.value, self.pred.value
        if truth is None or pred is None:
            return None, None, "Pick a ground-truth layer and a segmentation."
        if truth is pred:
            return None, None, "Ground truth and segmentation are the same layer."
        t, p = np.asarray(truth.data), np.asarray(pred.data)
        if t.shape != p.shape:
            return None, None, (
                f"Shapes differ: '{truth.name}' {t.shape} vs '{pred.name}' {p.shape}.")
        return t, p, None

    def _rebuild_mapping(self):
        self.mapping.clear()
        self._mapping_widgets = {}
        t, p, problem = self._usable_pair()
        if problem:
            self._class_choices = []
            self.positive.reset_choices()
            return
        classes = [int(v) for v in np.unique(p)]
        default = metrics.overlap_mapping(t, p)
        names = class_names(self.pred.value)
        self._class_choices = [
            (f"{c}: {names[c]}" if c in names else str(c), c) for c in classes]
        truth_names = class_names(self.truth.value)
        for value, target in default.items():
            combo = ComboBox(choices=lambda widget: self._class_choices, value=target,
                             label=truth_names.get(value, f"truth {value}"))
            combo.changed.connect(self.refresh)
            self._mapping_widgets[value] = combo
            self.mapping.append(combo)
        # Overlay the least frequent class by default: usually the foreground.
        counts = np.bincount(np.searchsorted(classes, p.ravel()), minlength=len(classes))
        with self.positive.changed.blocked():
            self.positive.reset_choices()
        self.positive.value = classes[int(np.argmin(counts))]

    def mapped_truth(self, t: np.ndarray) -> np.ndarray:
        values = np.array(list(self._mapping_widgets), dtype=np.int64)
        targets = np.array([w.value for w in self._mapping_widgets.values()], np.int64)
        unknown = ~np.isin(t, values)
        mapped = map_array(t.astype(np.int64, copy=False), values, targets)
        # Truth values that appeared after the mapping was built: no class.
        mapped[unknown] = -1
        return mapped

    # -- compute -----------------------------------------------------------------
    def refresh(self, *args):
        t, p, problem = self._usable_pair()
        if problem:
            self.results.value = problem
            return
        if set(np.unique(t).tolist()) - set(self._mapping_widgets):
            self._rebuild_mapping()
        truth = self.mapped_truth(t)
        classes = list(self.positive.choices)
        dice = metrics.dice(truth, p.astype(np.int64), labels=classes)
        accuracy = float(np.mean(truth == p))
        names = class_names(self.pred.value)
        rows = "".join(
            f"<tr><td>{c}</td><td>{names.get(c, '')}</td><td>{d:.4f}</td></tr>"
            for c, d in dice.items())
        finite = [d for d in dice.values() if np.isfinite(d)]
        mean = float(np.mean(finite)) if finite else float("nan")
        self.results.value = (
            "<table><tr><th>class</th><th>name</th><th>Dice</th></tr>" + rows
            + f"</table><b>Mean Dice</b> {mean:.4f} &nbsp; <b>Accuracy</b> {accuracy:.4f}"
        )
        self.last_scores = {"dice": dice, "mean_dice": mean, "accuracy": accuracy}
        positive = self.positive.value
        if positive is not None:
            self._show_overlay(confusion_codes(truth, p, positive))

    def _show_overlay(self, codes):
        pred = self.pred.value
        new = getattr(self, "overlay", None) not in self.viewer.layers
        layer = write_labels(
            self.viewer, codes, role="confusion", source="evaluation", name="confusion",
            scale=pred.scale, translate=pred.translate, opacity=self.opacity.value,
            colormap=DirectLabelColormap(color_dict=OVERLAY_COLORS),
            features=_OVERLAY_NAMES,
        )
        layer.metadata[META_KEY]["edited"] = False  # overlays are never hand-edited
        self.overlay = layer
        layers = self.viewer.layers
        if new or layers.index(pred) > layers.index(layer):
            layers.move(layers.index(layer), len(layers))  # keep it on top

    def _set_opacity(self, value):
        layer = getattr(self, "overlay", None)
        if layer is not None and layer in self.viewer.layers:
            layer.opacity = value
