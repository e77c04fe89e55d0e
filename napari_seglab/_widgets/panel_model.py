"""One model of the user's work, shared by every section of the panel and the session.

Sections never ask their own combo "which layer is the segmentation?": they
ask the :class:`PanelModel` of their viewer (:func:`model_for`). It holds the
**roles** — the image and its extra channels, the seeds, the segmentation
(the result a section edits), the ground truth and the mask — the **classes**
(value, name, colour: stored on the seeds layer, whose ``features`` table
and colormap every result copies), and the **truth → class mapping**. It
emits :attr:`PanelModel.role_changed`, :attr:`PanelModel.classes_changed`
and :attr:`PanelModel.mapping_changed`; sections observe them (the pattern
of napari-animation's model and observers). The session file is this model,
serialised (:mod:`.session`).

Rules the model enforces, so no section has to:

* Layers the plugin makes for display (previews, the confusion overlay, the
  feature-space selection, uncertainty, feature layers) carry a tag in
  ``layer.metadata`` (:func:`is_helper`) and are never offered for a role.
* The ground truth is never offered as the segmentation or the seeds, the
  seeds never as either of the others: a tool that edits labels cannot
  default to the truth.
* The ground truth is only ever a layer the user gave as one (a name that
  says so, or picked by hand): without it Evaluation scores nothing.
* A layer that leaves the viewer leaves its role; so do the overlays made
  from it (:meth:`PanelModel.drop_helpers_of`).

:class:`LayerPicker` is the one layer picker of the Qt sections: a combo
bound to a role, which fills itself from :meth:`PanelModel.candidates`.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass

import numpy as np
from napari.layers import Image, Labels
from psygnal import Signal
from qtpy.QtWidgets import QComboBox, QSizePolicy

from .layers import META_KEY, class_color_hex, layer_role, looks_like_labels
from .layers import class_names as layer_class_names

__all__ = ["HELPER", "ROLES", "ClassInfo", "LayerPicker", "PanelModel", "is_helper",
           "model_for", "tag_helper"]

#: The roles a layer can play in the user's work.
ROLES = ("image", "channels", "seeds", "segmentation", "truth", "mask")
#: Roles a user may leave empty (a combo offers "(none)").
OPTIONAL = ("segmentation", "truth", "mask")
#: The tag's role of our results: a result is an input of the sections that edit it.
RESULT = "segmentation"
#: Marker of a display-only layer in ``metadata[META_KEY]``.
HELPER = "helper"

_TRUTH_NAME = re.compile(r"truth|ground|\bgt\b|reference|annotation|manual", re.I)
_SEEDS_NAME = re.compile(r"seed|scribble|stroke", re.I)
_RESULT_NAME = re.compile(r"segment|result|predict", re.I)


def tag_helper(metadata: dict | None, role: str, **info) -> dict:
    """``metadata`` with our tag of a display-only layer (``role``: "confusion", ...)."""
    metadata = dict(metadata or {})
    metadata[META_KEY] = {"role": role, HELPER: True, **info}
    return metadata


def is_helper(layer) -> bool:
    """True for a layer the plugin made for display: never an input of a section."""
    role = layer_role(layer)
    return role is not None and role != RESULT


def is_result(layer) -> bool:
    return layer_role(layer) == RESULT


_LABEL_LIKE: dict = {}


def _label_like(layer) -> bool:
    """:func:`looks_like_labels`, remembered per data array (pickers ask on every refill)."""
    data = getattr(layer, "data", None)
    key = (id(layer), id(data), getattr(data, "shape", None))
    if key not in _LABEL_LIKE:
        if len(_LABEL_LIKE) > 256:
            _LABEL_LIKE.clear()
        _LABEL_LIKE[key] = looks_like_labels(layer)
    return _LABEL_LIKE[key]


def _same(a, b) -> bool:
    # napari hands plugin docks public-only proxies; a proxy equals its layer.
    return a is b or (a is not None and b is not None and a == b)


def _contains(layers, layer) -> bool:
    return any(_same(layer, other) for other in layers)


@dataclass
class ClassInfo:
    """A class of the user's seeds: its label value, name and colour (``#rrggbb``)."""

    value: int
    name: str
    color: str
    painted: int = 0


class PanelModel:
    """The roles, classes and truth → class mapping of one viewer's work.

    Parameters
    ----------
    viewer : napari.Viewer or ViewerModel
    """

    #: ``(role, layer or list of layers)`` after a role changed.
    role_changed = Signal(str, object)
    #: After a class was renamed or recoloured.
    classes_changed = Signal()
    #: After the truth → class mapping was chosen or changed.
    mapping_changed = Signal()
    #: After layers came, went or were renamed (pickers refill).
    layers_changed = Signal()

    def __init__(self, viewer):
        self._viewer = weakref.ref(viewer)
        self._roles: dict = dict.fromkeys(ROLES)
        self._roles["channels"] = []
        self._chosen: set[str] = set()  # roles the user (or a session) set
        #: truth value -> class; None until chosen (see :meth:`truth_mapping`).
        self.mapping: dict[int, int] | None = None
        #: How the mapping was chosen: "name", "overlap", "user" or "session".
        self.mapping_how = ""
        self._mapping_truth = None  # the truth layer the mapping is for
        layers = viewer.layers
        layers.events.inserted.connect(self._on_inserted)
        layers.events.removed.connect(self._on_removed)
        for layer in layers:
            layer.events.name.connect(self._on_renamed)

    @property
    def viewer(self):
        return self._viewer()

    # -- roles -------------------------------------------------------------------
    def get(self, role: str):
        """The layer playing ``role`` (a list for "channels"): chosen, else the default."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
        current = self._roles[role]
        if role == "channels":
            return list(current)
        if current is not None and _contains(self.viewer.layers, current):
            return current
        if role in self._chosen and current is None:
            return None  # the user said "(none)"
        return self.default(role)

    def set(self, role: str, layer) -> None:
        """Give ``role`` to ``layer`` (None: nobody); emits :attr:`role_changed`."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
        if role == "channels":
            layer = list(layer or [])
            if [id(x) for x in layer] != [id(x) for x in self._roles[role]]:
                self._roles[role] = layer
                self.role_changed.emit(role, list(layer))
            return
        if layer is not None and not _contains(self.candidates(role), layer):
            raise ValueError(f"'{layer.name}' cannot be the {role}: "
                             + self._why_not(role, layer))
        before = {r: self.get(r) for r in ("seeds", "segmentation", "truth", "image", "mask")}
        self._roles[role] = layer
        self._chosen.add(role)
        if layer is not None:
            for other in ("seeds", "segmentation", "truth"):
                # a layer plays one of these roles at a time
                if other != role and _same(self._roles[other], layer):
                    self._roles[other] = None
        if role == "truth" and not _same(layer, self._mapping_truth):
            self.mapping, self.mapping_how, self._mapping_truth = None, "", None
        for name, old in before.items():
            if not _same(old, self.get(name)):
                self.role_changed.emit(name, self.get(name))

    def _why_not(self, role, layer) -> str:
        if is_helper(layer):
            return "it is a display layer the plugin made (a preview or an overlay)."
        for other in ("truth", "seeds"):
            if other != role and _same(layer, self._roles.get(other)):
                return f"it is the {other}. Pick another layer."
        return "it is not a layer of the right kind."

    def candidates(self, role: str) -> list:
        """Layers that may play ``role``, the likeliest first; never a helper layer."""
        layers = [layer for layer in self.viewer.layers if not is_helper(layer)]
        truth = self._roles["truth"]
        if role != "truth" and "truth" not in self._chosen:
            truth = self.default("truth")  # looks only at chosen roles: no recursion
        seeds = self._roles["seeds"] if "seeds" in self._chosen else None
        if role in ("image", "channels"):
            return [layer for layer in layers if isinstance(layer, Image)
                    and not is_result(layer) and (role == "image" or not _label_like(layer))]
        if role == "seeds":
            # the segmentation shown (chosen or default) is never the seeds
            segmentation = self.get("segmentation")
            out = [layer for layer in layers if isinstance(layer, Labels)
                   and not is_result(layer) and not _same(layer, truth)
                   and not _same(layer, segmentation)]
            out.sort(key=lambda layer: _SEEDS_NAME.search(layer.name) is None)
            return out
        if role == "segmentation":
            out = [layer for layer in layers if isinstance(layer, Labels)
                   and not _same(layer, truth) and not _same(layer, seeds)
                   and (is_result(layer) or _TRUTH_NAME.search(layer.name) is None)
                   and (is_result(layer) or _SEEDS_NAME.search(layer.name) is None)]
            ours = [layer for layer in out if is_result(layer)][::-1]  # newest first
            rest = [layer for layer in out if not is_result(layer)]
            rest.sort(key=lambda layer: _RESULT_NAME.search(layer.name) is None)
            return ours + rest
        if role == "truth":
            out = [layer for layer in layers
                   if (isinstance(layer, Labels) or (isinstance(layer, Image)
                                                     and _label_like(layer)))
                   and not is_result(layer) and not _same(layer, seeds)
                   and (_SEEDS_NAME.search(layer.name) is None or _same(layer, truth))]
            out.sort(key=lambda layer: _TRUTH_NAME.search(layer.name) is None)
            return out
        if role == "mask":
            return [layer for layer in layers if isinstance(layer, (Labels, Image))
                    and not is_result(layer) and not _same(layer, seeds)
                    and not _same(layer, truth)
                    and (isinstance(layer, Labels) or _label_like(layer))]
        raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")

    def default(self, role: str):
        """The layer a role falls back on while the user has chosen none."""
        if role == "channels":
            return []
        if role == "truth":
            # Only a layer the user gave as the truth: its name says so, or a
            # label map opened as an image file (an answer, not a contrast).
            named = [layer for layer in self.candidates("truth")
                     if _TRUTH_NAME.search(layer.name) or isinstance(layer, Image)]
            return named[0] if named else None
        if role == "mask":
            return None
        if role == "segmentation":
            found = [layer for layer in self.candidates(role)
                     if is_result(layer) or _RESULT_NAME.search(layer.name)]
            return found[0] if found else None
        found = self.candidates(role)
        return found[0] if found else None

    # shorthand properties for the sections
    image = property(lambda self: self.get("image"))
    seeds = property(lambda self: self.get("seeds"))
    segmentation = property(lambda self: self.get("segmentation"))
    truth = property(lambda self: self.get("truth"))
    mask = property(lambda self: self.get("mask"))
    channels = property(lambda self: self.get("channels"))

    def role_of(self, layer) -> str | None:
        """The role ``layer`` plays now, or None."""
        for role in ("image", "seeds", "segmentation", "truth", "mask"):
            if _same(self.get(role), layer):
                return role
        return "channels" if _contains(self._roles["channels"], layer) else None

    # -- viewer events -----------------------------------------------------------
    def _on_inserted(self, event):
        layer = event.value
        layer.events.name.connect(self._on_renamed)
        if is_result(layer) and not layer.metadata.get(META_KEY, {}).get("restored"):
            # A new result is the segmentation the next tool edits.
            self._roles["segmentation"] = layer
            self._chosen.add("segmentation")
            self.role_changed.emit("segmentation", layer)
        self.layers_changed.emit()

    def _on_removed(self, event):
        layer = event.value
        layer.events.name.disconnect(self._on_renamed)
        for role in ROLES:
            if role == "channels":
                if _contains(self._roles[role], layer):
                    self._roles[role] = [x for x in self._roles[role] if not _same(x, layer)]
                    self.role_changed.emit(role, self.get(role))
            elif _same(self._roles[role], layer):
                self._roles[role] = None
                self._chosen.discard(role)
                if role == "truth":
                    self.mapping, self.mapping_how, self._mapping_truth = None, "", None
                self.role_changed.emit(role, self.get(role))
        self.drop_helpers_of(layer)
        self.layers_changed.emit()

    def _on_renamed(self, event=None):
        self.layers_changed.emit()

    def drop_helpers_of(self, layer) -> None:
        """Remove the display layers made from ``layer`` (a stale overlay)."""
        viewer = self.viewer
        if viewer is None:
            return
        name = getattr(layer, "name", None)
        stale = [other for other in viewer.layers if is_helper(other)
                 and name in (other.metadata.get(META_KEY, {}).get("inputs") or ())]
        for other in stale:
            viewer.layers.remove(other)

    # -- classes -----------------------------------------------------------------
    def classes(self, painted: dict | None = None) -> list[ClassInfo]:
        """The classes: named ones and painted ones (``painted``: value -> pixels)."""
        seeds = self.seeds
        if seeds is None:
            return []
        names = layer_class_names(seeds)
        painted = painted or {}
        values = sorted({*names, *painted} - {0})
        return [ClassInfo(v, names.get(v, f"class {v}"), class_color_hex(seeds, v),
                          int(painted.get(v, 0))) for v in values]

    def class_names(self) -> dict[int, str]:
        """``value -> name`` of the named classes (the seeds layer's table)."""
        seeds = self.seeds
        return {} if seeds is None else layer_class_names(seeds)

    def rename_class(self, value: int, name: str) -> None:
        """Call class ``value`` ``name``, on the seeds and on every result made from them."""
        name = str(name).strip()
        if not name:
            raise ValueError("A class name cannot be empty.")
        seeds = self.seeds
        if seeds is None:
            raise ValueError("No seeds layer: press 'New seeds layer' first.")
        names = layer_class_names(seeds)
        if names.get(int(value)) == name:
            return
        names[int(value)] = name
        for layer in self._class_layers():
            _set_names(layer, names)
        self.classes_changed.emit()

    def recolor_class(self, value: int, color: str) -> None:
        """Give class ``value`` colour ``color`` (``#rrggbb``) on the seeds and results."""
        from napari.utils.colormaps import DirectLabelColormap

        seeds = self.seeds
        if seeds is None:
            raise ValueError("No seeds layer: press 'New seeds layer' first.")
        colours = {v: seeds.get_color(v) for v in range(1, 256)}
        colours[int(value)] = color
        cmap = DirectLabelColormap(color_dict={None: "black", 0: "transparent", **colours})
        for layer in self._class_layers():
            layer.colormap = cmap
        self.classes_changed.emit()

    def _class_layers(self):
        """The seeds and the results that share their classes."""
        seeds = self.seeds
        out = [seeds]
        for layer in self.viewer.layers:
            info = layer.metadata.get(META_KEY) if isinstance(layer, Labels) else None
            if is_result(layer) and isinstance(info, dict) and info.get("seeds") in (
                    None, seeds.name):
                out.append(layer)
        seg = self.segmentation
        if seg is not None and not _contains(out, seg):
            out.append(seg)
        return out

    # -- truth -> class mapping --------------------------------------------------
    def truth_mapping(self, truth: np.ndarray, pred: np.ndarray) -> dict[int, int]:
        """The truth → class mapping for these arrays: chosen once, then kept.

        The first time (or for a new ground truth), truth values are matched
        to classes by name (the truth's table against the classes), the rest
        by overlap; later calls return the same mapping, extended for truth
        values that appeared since, until :meth:`set_mapping` changes it.
        """
        from .. import metrics

        values = np.flatnonzero(np.bincount(truth.ravel())).tolist() \
            if truth.dtype.kind in "ub" and truth.size else np.unique(truth).tolist()
        layer = self.truth
        if self.mapping is not None and _same(layer, self._mapping_truth) \
                and set(values) <= set(self.mapping):
            return dict(self.mapping)
        overlap = metrics.overlap_mapping(truth, pred)
        keep = dict(self.mapping or {}) if _same(layer, self._mapping_truth) else {}
        by_name = self._by_name(layer)
        mapping = {}
        for value in values:
            if value in keep:
                mapping[value] = keep[value]
            elif value in by_name:
                mapping[value] = by_name[value]
            else:
                mapping[value] = overlap.get(value, value)
        if not keep:
            self.mapping_how = "name" if by_name and set(by_name) >= set(values) else (
                "name and overlap" if by_name else "overlap")
        self.mapping, self._mapping_truth = mapping, layer
        self.mapping_changed.emit()
        return dict(mapping)

    def _by_name(self, truth_layer) -> dict[int, int]:
        truth_names = layer_class_names(truth_layer) if truth_layer is not None else {}
        classes = {name.strip().lower(): value for value, name in self.class_names().items()}
        return {value: classes[name.strip().lower()] for value, name in truth_names.items()
                if name.strip().lower() in classes}

    def set_mapping(self, mapping: dict, how: str = "user") -> None:
        """Fix the truth → class mapping (the user's choice, or a session's)."""
        self.mapping = {int(k): int(v) for k, v in mapping.items()}
        self.mapping_how = how
        self._mapping_truth = self.truth
        self.mapping_changed.emit()


def _set_names(layer, names: dict[int, str]) -> None:
    values = sorted(names)
    layer.features = {"index": np.asarray(values, int), "name": [names[v] for v in values]}


_MODELS: dict[int, PanelModel] = {}


def model_for(viewer) -> PanelModel:
    """The :class:`PanelModel` of ``viewer``: one per viewer, shared by every dock."""
    key = hash(viewer)  # a public-only proxy hashes as its viewer
    model = _MODELS.get(key)
    if model is not None and model.viewer is not None:
        return model
    real = getattr(viewer, "__wrapped__", viewer)  # weakref needs the object itself
    model = PanelModel(real)
    _MODELS[key] = model
    weakref.finalize(real, _MODELS.pop, key, None)
    return model


def model_choices(model: PanelModel, role: str, none_text: str | None = None):
    """A magicgui ``choices`` callable: the layers that may play ``role``."""

    def choices(widget=None):
        out = [(layer.name, layer) for layer in model.candidates(role)]
        text = none_text or (LayerPicker.NONE if role in OPTIONAL else None)
        return [(text, None), *out] if text else out

    return choices


def bind_combo(model: PanelModel, role: str, combo) -> None:
    """Bind a magicgui ComboBox (made with :func:`model_choices`) to ``role``, both ways."""
    syncing = []

    def follow(*args):
        if syncing or model.viewer is None:
            return
        syncing.append(True)
        try:
            combo.reset_choices()
            layer = model.get(role)
            if not _same(combo.value, layer) and _contains(list(combo.choices), layer):
                combo.value = layer
        finally:
            syncing.clear()

    def chosen(value):
        if syncing:
            return
        try:
            model.set(role, value)
        except ValueError:
            follow()

    model.role_changed.connect(follow)
    model.layers_changed.connect(follow)
    combo.changed.connect(chosen)
    combo.native.destroyed.connect(lambda *_: (model.role_changed.disconnect(follow),
                                               model.layers_changed.disconnect(follow)))
    follow()


class LayerPicker(QComboBox):
    """A combo of the layers that may play ``role``, bound to the model both ways.

    Choosing a layer sets the role; when the role changes elsewhere (another
    section, a new result, a session), the combo follows. It refills itself
    when layers come, go or are renamed, and emits ``currentTextChanged``
    once when the shown layer changes.
    """

    NONE = "(none)"

    def __init__(self, model: PanelModel, role: str, parent=None, *, none_text=None):
        super().__init__(parent)
        self.model = model
        self.role = role
        self.none_text = none_text or (self.NONE if role in OPTIONAL else None)
        self._filling = False
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumContentsLength(8)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.currentTextChanged.connect(self._chosen)
        model.role_changed.connect(self.refill)
        model.layers_changed.connect(self.refill)
        self.destroyed.connect(lambda *_: self._unhook(model))
        self.refill()

    def _unhook(self, model):
        model.role_changed.disconnect(self.refill)
        model.layers_changed.disconnect(self.refill)

    @property
    def layer(self):
        """The layer shown (None for "(none)" or nothing)."""
        name = self.currentText()
        for layer in self.model.candidates(self.role):
            if layer.name == name:
                return layer
        return None

    def refill(self, *args):
        model = self.model
        if model.viewer is None:
            return
        names = [layer.name for layer in model.candidates(self.role)]
        if self.none_text:
            names.insert(0, self.none_text)
        current = model.get(self.role)
        text = current.name if current is not None else (self.none_text or "")
        before = self.currentText()
        self._filling = True  # the model is the source here: no echo back into it
        try:
            if [self.itemText(i) for i in range(self.count())] != names:
                self.blockSignals(True)
                self.clear()
                self.addItems(names)
                self.blockSignals(False)
            self.blockSignals(True)
            self.setCurrentIndex(self.findText(text) if text in names else -1)
            self.blockSignals(False)
            if self.currentText() != before:
                self.currentIndexChanged.emit(self.currentIndex())
                self.currentTextChanged.emit(self.currentText())
        finally:
            self.blockSignals(False)
            self._filling = False

    def _chosen(self, text):
        if self._filling:
            return
        layer = self.layer
        if layer is None and text and text != self.none_text:
            return
        try:
            self.model.set(self.role, layer)
        except ValueError:
            self.refill()
