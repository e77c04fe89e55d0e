"""npe2 writers: a labels layer to NIfTI, NRRD, TIFF, NPY (geometry kept) or DICOM SEG.

The layer's ``scale`` and ``translate`` are written as spacing and origin, so
the plugin's reader gives back the same layer. DICOM SEG needs the DICOM
series the labels were drawn on: the labels layer's metadata (``files``), or
else an image layer of the current viewer read by this plugin from DICOM
with the same grid.
"""

from __future__ import annotations

import numpy as np

from .io import write_dicom_seg, write_labels

__all__ = ["write_labels_layer", "write_dicom_seg_layer", "find_dicom_source"]


def _geometry(data, attributes):
    ndim = np.ndim(data)
    scale = attributes.get("scale")
    translate = attributes.get("translate")
    spacing = tuple(float(s) for s in scale)[-ndim:] if scale is not None else None
    origin = tuple(float(t) for t in translate)[-ndim:] if translate is not None else None
    direction = (attributes.get("metadata") or {}).get("direction")
    if direction is not None and np.shape(direction) != (ndim, ndim):
        direction = None
    return spacing, origin, direction


def write_labels_layer(path, data, attributes):
    """npe2 single-layer writer for labels: ``.nii``, ``.nii.gz``, ``.nrrd``, ``.tif``, ``.npy``."""
    from napari.utils.notifications import show_error

    spacing, origin, direction = _geometry(data, attributes)
    try:
        written = write_labels(path, np.asarray(data), spacing=spacing, origin=origin,
                               direction=direction)
    except (ValueError, TypeError, OSError) as exc:
        show_error(f"could not write {path}: {exc}")
        return []
    return [str(written)]


def find_dicom_source(data, attributes, viewer=None):
    """Metadata of the DICOM series a labels layer was drawn on, or None.

    The labels layer's own metadata first (``files``), then the image layers
    of ``viewer`` (the current one by default) that came from the DICOM
    reader and share the labels' shape, scale and translate.
    """
    metadata = attributes.get("metadata") or {}
    if metadata.get("files"):
        return metadata
    if viewer is None:
        try:
            import napari

            viewer = napari.current_viewer()
        except Exception:  # noqa: BLE001 - no viewer: nothing to look in
            viewer = None
    if viewer is None:
        return None
    shape = np.shape(data)
    scale = np.asarray(attributes.get("scale", np.ones(len(shape))), float)[-len(shape):]
    translate = np.asarray(attributes.get("translate", np.zeros(len(shape))), float)
    translate = translate[-len(shape):]
    from napari.layers import Image

    for layer in viewer.layers:
        meta = getattr(layer, "metadata", {}) or {}
        if not isinstance(layer, Image) or not meta.get("files"):
            continue
        if (tuple(layer.data.shape[: len(shape)]) == tuple(shape)
                and np.allclose(layer.scale[-len(shape):], scale)
                and np.allclose(layer.translate[-len(shape):], translate)):
            return meta
    return None


def write_dicom_seg_layer(path, data, attributes):
    """npe2 single-layer writer for labels: DICOM SEG (``.dcm``) of the source series."""
    from napari.utils.notifications import show_error

    source = find_dicom_source(data, attributes)
    if source is None:
        show_error("DICOM SEG needs the DICOM series the labels were drawn on: open the "
                   "series with napari-seglab's reader and draw on its grid (same shape, "
                   "scale and translate), or export NIfTI/NRRD instead")
        return []
    names = _names(attributes)
    try:
        written = write_dicom_seg(path, np.asarray(data), source, names=names)
    except (ValueError, TypeError, OSError) as exc:
        show_error(f"could not write {path}: {exc}")
        return []
    return [str(written)]


def _names(attributes):
    features = attributes.get("features")
    try:
        index = list(features["index"])
        names = list(features["name"])
    except (TypeError, KeyError):
        return None
    return {int(i): str(n) for i, n in zip(index, names, strict=False)}
