"""Save session… / Open session…: the Segmentation Lab panel's state in one file.

Capturing reads the panel and its layers into a :class:`~..core.session.Session`
(:mod:`napari_seglab.core.session` holds the format). Opening is two steps:

1. **Check everything, change nothing**: the file is read and checked, each
   image is found (a layer of that name and shape already open, the embedded
   array, or its file read through napari's reader, without adding it), the
   seeds' shape is checked against it, the model is loaded. Any failure is a
   warning that says what to do, and the viewer is left as it was.
2. **Restore**: add the layers, then choose image, channels, seeds, method,
   parameters, features and ground truth in the panel and keep the model.
   Should napari fail while adding, the layers added so far are removed.

Decision: a session whose image, channel or ground-truth file is missing is
refused whole (the message names the path and the two ways out: put the
file back, or open it under the recorded name, then open the session
again); the seeds are never restored without the image they were painted
on. The seeds always come back as a new layer: open layers are never
overwritten.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from napari.layers import Image, Labels, Layer
from napari.utils.notifications import show_info, show_warning
from qtpy.QtWidgets import QFileDialog, QHBoxLayout, QPushButton, QWidget

from ..core.session import (
    ImageRef,
    ResultState,
    SeedsState,
    Session,
    image_ref,
    load_session,
    save_session,
)
from .layers import META_KEY, class_color_hex, class_names, unwrap
from .methods import METHODS
from .panel_model import is_result, model_for

if TYPE_CHECKING:
    from .panel import SeglabPanel

__all__ = ["SessionBar", "capture_session", "open_session", "save_session_file"]

FILE_FILTER = "seglab session (*.npz)"
DEFAULT_NAME = "project.seglab-session.npz"


class SessionError(ValueError):
    """A session that cannot be saved or opened, worded as what to do."""


# --------------------------------------------------------------------------
# Capture


def _source(layer):
    """The file a layer was opened from and its reader plugin, if any."""
    source = getattr(layer, "source", None)
    path = getattr(source, "path", None)
    if path is None or not os.path.exists(path):
        return None, None
    return os.fspath(path), getattr(source, "reader_plugin", None)


def _ref(layer, role) -> ImageRef:
    if getattr(layer, "multiscale", False):
        raise SessionError(f"'{layer.name}' is a multiscale pyramid: a session records "
                           "single-scale layers only.")
    path, reader = _source(layer)
    rgb = bool(getattr(layer, "rgb", False))
    data = layer.data if path is not None else np.asarray(layer.data)
    ndim = np.ndim(data) - rgb
    return image_ref(layer.name, data, role=role, path=path, reader=reader, rgb=rgb,
                     scale=layer.scale[-ndim:], translate=layer.translate[-ndim:])


def capture_session(panel: SeglabPanel) -> tuple[Session, list[str]]:
    """The panel's state as a :class:`Session`, and notes on what is not embedded.

    Raises
    ------
    SessionError
        No image chosen, seeds that do not fit it, or a model that cannot
        be written.
    """
    seg = panel.segmentation
    model = model_for(panel.viewer)  # the roles, classes and mapping: not the widgets
    image = model.image
    if image is None:
        raise SessionError("No image chosen: open an image and pick it under 'Image' "
                           "before saving a session.")
    refs = [_ref(image, "image")]
    refs += [_ref(layer, "channel") for layer in model.channels if layer is not image]
    shape = refs[0].spatial_shape
    seeds_layer = model.seeds
    if seeds_layer is None:
        seeds = SeedsState(np.zeros(shape, np.uint8), scale=refs[0].scale,
                           translate=refs[0].translate)
    else:
        data = np.asarray(seeds_layer.data)
        if data.shape != shape:
            raise SessionError(f"The seeds layer '{seeds_layer.name}' has shape {data.shape}, "
                               f"but the image '{image.name}' has {shape}: choose the seeds "
                               "painted on this image, then save.")
        # bincount only for small values: a label of 3e9 would allocate 24 GB
        small = data.dtype.kind in "ub" and data.size and int(data.max()) < (1 << 16)
        labels = sorted(set(np.flatnonzero(np.bincount(data.ravel())).tolist()
                            if small else np.unique(data).tolist()) - {0})
        names = class_names(seeds_layer)
        seeds = SeedsState(
            data, name=seeds_layer.name, classes=names,
            colors={v: class_color_hex(seeds_layer, v) for v in sorted({*labels, *names})
                    if v > 0},
            scale=tuple(seeds_layer.scale), translate=tuple(seeds_layer.translate))
    truth_layer = model.truth
    truth = None
    if truth_layer is not None and np.shape(truth_layer.data) == shape:
        truth = _ref(truth_layer, "truth")
    trained = None
    if seg.model is not None:
        from ..core.blockwise import model_to_bytes

        try:
            trained = model_to_bytes(seg.model)
        except (ValueError, OSError) as exc:
            raise SessionError(f"The trained model cannot be saved with the session: {exc}. "
                               "Press Segment again, or choose another method.") from None
    feature_value = seg.feature_value
    features = feature_value.to_dict() if hasattr(feature_value, "to_dict") else feature_value
    ui = {"show_uncertainty": bool(seg.show_uncertainty.value), "live": bool(seg.live.value),
          "exclude_seeds": bool(panel.evaluation.exclude_seeds.value),
          "expanded": [title for title, section in panel.sections.items()
                       if section.expanded]}
    results, current = _results(panel.viewer, model, shape)
    visible = {"image": bool(image.visible)}
    if seeds_layer is not None:
        visible["seeds"] = bool(seeds_layer.visible)
    if truth is not None:
        visible["truth"] = bool(truth_layer.visible)
    session = Session(images=refs, seeds=seeds, truth=truth, features=features,
                      method=METHODS[seg.method.value], params=seg._params(),
                      model=trained, model_trained_on=seg._model_source, ui=ui,
                      results=results, segmentation=current,
                      mapping=model.mapping if truth is not None else None,
                      mapping_how=model.mapping_how, visible=visible)
    notes = [f"'{ref.name}' has no file and is too large to embed: reopening needs it open "
             "under that name." for ref in [*refs, truth]
             if ref is not None and ref.path is None and ref.data is None]
    return session, notes


def _results(viewer, model, shape):
    """The segmentation layers of this image (edits included) and the current one's index."""
    current = model.segmentation
    layers = [layer for layer in viewer.layers
              if (is_result(layer) or layer is current) and isinstance(layer, Labels)
              and np.shape(layer.data) == tuple(shape)
              and np.asarray(layer.data).dtype.kind in "biu"]
    results = [ResultState(np.asarray(layer.data), name=layer.name,
                           scale=tuple(layer.scale), translate=tuple(layer.translate),
                           visible=bool(layer.visible)) for layer in layers]
    index = next((i for i, layer in enumerate(layers) if layer is current), None)
    return results, index


def save_session_file(panel: SeglabPanel, path=None):
    """Write the panel's session to ``path`` (asks where); returns the path or None."""
    try:
        session, notes = capture_session(panel)
    except SessionError as exc:
        show_warning(str(exc))
        return None
    if path is None:
        path, _ = QFileDialog.getSaveFileName(panel, "Save session", DEFAULT_NAME,
                                              FILE_FILTER)
        if not path:
            return None
    try:
        save_session(path, session)
    except (OSError, ValueError) as exc:
        show_warning(f"Could not save the session to {path}: {exc}")
        return None
    for note in notes:
        show_warning(note)
    panel.segmentation.status.value = f"Session saved to {path}"
    return path


# --------------------------------------------------------------------------
# Open: check everything first


def _matching_layer(viewer, ref, kinds):
    for layer in viewer.layers:
        if (isinstance(layer, kinds) and layer.name == ref.name
                and tuple(np.shape(layer.data)) == tuple(ref.shape)
                and not getattr(layer, "multiscale", False)):
            return layer
    return None


def _what_to_do(ref, path):
    return (f"'{ref.name}' was read from {path}, which cannot be found: put the file "
            f"back there, or open it in napari as a layer named '{ref.name}', then open "
            "the session again. Nothing was changed.")


def _read_file(ref, session_path):
    """The layer data tuple read from ``ref.path``, not yet in the viewer."""
    from napari.plugins.io import read_data_with_plugins

    if not os.path.exists(ref.path):
        raise SessionError(_what_to_do(ref, ref.path))
    try:
        layer_data, plugin = read_data_with_plugins([ref.path], plugin=ref.reader)
    except Exception as exc:  # noqa: BLE001 - any reader may fail; say which file
        try:  # the recorded reader may be gone: let napari choose
            layer_data, plugin = read_data_with_plugins([ref.path])
        except Exception:  # noqa: BLE001
            raise SessionError(f"'{ref.name}' could not be read from {ref.path}: {exc}. "
                               "Nothing was changed.") from None
    for data, meta, kind in (_full_tuple(item) for item in layer_data or []):
        shape = tuple(np.shape(data[0] if meta.get("multiscale") else data))
        if kind in ("image", "labels") and shape == tuple(ref.shape):
            return data, meta, kind, plugin
    raise SessionError(f"{ref.path} no longer holds '{ref.name}' of shape {ref.shape} "
                       f"(session {session_path}): put the original file back. Nothing "
                       "was changed.")


def _full_tuple(item):
    data, meta, kind = (tuple(item) + ({}, "image"))[:3]
    return data, dict(meta or {}), kind or "image"


def _plan_layer(viewer, ref, session_path, kinds):
    """``("open", layer)``, ``("data", (data, meta, kind, path, plugin))``; or raises."""
    layer = _matching_layer(viewer, ref, kinds)
    if layer is not None:
        return "open", layer
    meta = {"name": ref.name, "scale": ref.scale, "translate": ref.translate}
    if ref.data is not None:
        kind = "labels" if ref.role == "truth" else "image"
        if kind == "image":
            meta["rgb"] = ref.rgb
        return "data", (ref.data, meta, kind, None, None)
    if ref.path is None:
        raise SessionError(f"'{ref.name}' is not in the session file (it had no file and "
                           f"was too large to embed): open it as a layer named "
                           f"'{ref.name}' of shape {ref.shape}, then open the session "
                           "again. Nothing was changed.")
    data, read_meta, kind, plugin = _read_file(ref, session_path)
    read_meta.update(meta)
    return "data", (data, read_meta, kind, ref.path, plugin)


def _plan(viewer, session, session_path):
    if session.method not in METHODS.values():
        raise SessionError(f"its method {session.method!r} is not one this panel offers "
                           f"({', '.join(METHODS)}). Nothing was changed.")
    images = [_plan_layer(viewer, ref, session_path, (Image,)) for ref in session.images]
    truth = None
    if session.truth is not None:
        truth = _plan_layer(viewer, session.truth, session_path, (Labels, Image))
    model = session.load_model()  # checked (and cached) by load_session already
    return images, truth, model


# --------------------------------------------------------------------------
# Open: restore


def _add(viewer, plan, added):
    how, what = plan
    if how == "open":
        return what
    from napari.layers._source import layer_source

    data, meta, kind, path, plugin = what
    with layer_source(path=path, reader_plugin=plugin):
        layer = Layer.create(data, meta, kind)
    viewer.add_layer(layer)
    added.append(layer)
    return layer


def _add_seeds(viewer, seeds: SeedsState, added):
    kwargs = {"name": seeds.name, "scale": seeds.scale, "translate": seeds.translate}
    if seeds.classes:
        kwargs["features"] = {"index": list(seeds.classes), "name": list(seeds.classes.values())}
    layer = viewer.add_labels(np.array(seeds.data), **kwargs)
    added.append(layer)
    if any(class_color_hex(layer, label) != colour for label, colour in seeds.colors.items()):
        from napari.utils.colormaps import DirectLabelColormap

        colours = {label: layer.get_color(label) for label in range(1, 256)}
        colours.update(seeds.colors)
        layer.colormap = DirectLabelColormap(
            color_dict={None: "black", 0: "transparent", **colours})
    layer.mode = "paint"
    layer.selected_label = min(seeds.colors or seeds.classes or [1])
    return layer


def _add_result(viewer, result: ResultState, seeds, image, added):
    """A saved segmentation as a layer of ours that no run overwrites (it holds edits)."""
    kwargs = {"name": result.name, "scale": result.scale, "translate": result.translate,
              "visible": result.visible, "colormap": seeds.colormap, "opacity": 0.5,
              "metadata": {META_KEY: {"role": "segmentation", "source": image.name,
                                      "seeds": seeds.name, "edited": True,
                                      "restored": True}}}
    if "name" in getattr(seeds, "features", {}):
        kwargs["features"] = seeds.features
    layer = viewer.add_labels(np.array(result.data), **kwargs)
    added.append(layer)
    return layer


def _restore_model(panel, session, image, seeds, truth, results):
    """The roles, the mapping and the visibility, as saved."""
    model = model_for(panel.viewer)
    model.set("image", image)
    model.set("seeds", seeds)
    model.set("truth", truth)
    if session.segmentation is not None:
        model.set("segmentation", results[session.segmentation])
    if truth is not None and session.mapping is not None:
        model.set_mapping(session.mapping, "session")
    for role, layer in (("image", image), ("seeds", seeds), ("truth", truth)):
        if layer is not None and role in session.visible:
            layer.visible = session.visible[role]


def _restore_panel(panel, session, images, seeds, truth, model, path):
    seg = panel.segmentation
    panel.reset_choices()
    seg.image.value = images[0]
    seg.reset_choices()
    seg.channels.value = images[1:]
    seg.seeds.value = seeds
    seg.method.value = next(name for name, key in METHODS.items() if key == session.method)
    params = session.params
    if "n_neighbors" in params:
        seg.n_neighbors.value = params["n_neighbors"]
    for key in ("n_clusters", "n_components"):
        if key in params:
            seg.n_clusters.value = params[key]
    if "threshold" in params:
        seg.threshold.value = params["threshold"]
    seg._set_features(session.feature_value())
    if model is not None:
        trained_on = session.model_trained_on
        if trained_on == session.images[0].name:
            trained_on = images[0].name  # napari may have renamed it on a clash
        seg._keep_model(model, f"session {Path(path).name}", trained_on=trained_on)
    ui = session.ui
    seg.show_uncertainty.value = ui.get("show_uncertainty", seg.show_uncertainty.value)
    ev = panel.evaluation
    ev.reset_choices()
    if truth is not None:
        ev.truth.value = truth
    if any(layer is seeds for _, layer in ev._seeds_choices()):
        ev.seeds.value = seeds  # the restored seeds, not an older layer of that name
    ev.exclude_seeds.value = ui.get("exclude_seeds", ev.exclude_seeds.value)
    for title in ui.get("expanded", []):
        if title in panel.sections:
            panel.sections[title].set_expanded(True)
    # Live last: it starts a preview once everything above is in place.
    seg.live.value = ui.get("live", seg.live.value)


def open_session(panel: SeglabPanel, path=None):
    """Open a session file (asks which); returns the Session, or None if refused.

    Everything is checked before the viewer is touched: a damaged file, a
    missing image file or seeds that do not fit are refused with a warning,
    and every open layer and the panel stay as they were.
    """
    if path is None:
        path, _ = QFileDialog.getOpenFileName(panel, "Open session", "", FILE_FILTER)
        if not path:
            return None
    viewer = unwrap(panel.viewer)
    try:
        session = load_session(path)
        images, truth, model = _plan(viewer, session, path)
    except SessionError as exc:
        show_warning(f"Could not open the session {path}: {exc}")
        return None
    except (OSError, ValueError, TypeError) as exc:
        show_warning(f"Could not open the session: {exc}. Nothing was changed.")
        return None
    added = []
    try:
        image_layers = [_add(viewer, plan, added) for plan in images]
        truth_layer = None if truth is None else _add(viewer, truth, added)
        seeds_layer = _add_seeds(viewer, session.seeds, added)
        results = [_add_result(viewer, result, seeds_layer, image_layers[0], added)
                   for result in session.results]
        _restore_panel(panel, session, image_layers, seeds_layer, truth_layer, model, path)
        _restore_model(panel, session, image_layers[0], seeds_layer, truth_layer, results)
    except Exception as exc:  # noqa: BLE001 - undo a half restore whatever napari raised
        for layer in reversed(added):
            if layer in viewer.layers:
                viewer.layers.remove(layer)
        show_warning(f"Could not restore the session {path}: {exc}. The layers it had "
                     "added were removed.")
        return None
    viewer.layers.selection.active = seeds_layer
    panel.segmentation.status.value = (
        f"Session {Path(path).name} opened: {len(added)} layer(s) added"
        + ("; its model is ready for Apply model." if model is not None else "."))
    show_info(f"Session {Path(path).name} opened")
    return session


class SessionBar(QWidget):
    """The *Save session…* / *Open session…* buttons at the top of the panel."""

    def __init__(self, panel: SeglabPanel):
        super().__init__(panel)
        self.panel = panel
        self.save_button = QPushButton("Save session…", self)
        self.save_button.setToolTip("Image references, seeds, ground truth, features, "
                                    "method, parameters and the trained model, in one file.")
        self.open_button = QPushButton("Open session…", self)
        self.open_button.setToolTip("Reopen a saved session: its layers and this panel's "
                                    "choices. A damaged file is refused; nothing open is lost.")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 0)
        layout.addWidget(self.save_button)
        layout.addWidget(self.open_button)
        self.save_button.clicked.connect(lambda: self.save())
        self.open_button.clicked.connect(lambda: self.open())

    def save(self, path=None):
        return save_session_file(self.panel, path=path)

    def open(self, path=None):
        return open_session(self.panel, path=path)
