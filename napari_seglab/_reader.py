"""npe2 reader, the plugin's one reader: DICOM, NIfTI, NRRD, TIFF, NPY and zarr / OME-Zarr.

Each volume becomes a layer with ``scale`` (spacing, mm) and ``translate``
(origin); DICOM window centre/width become contrast limits; label maps come as
``labels`` layers. Warnings from :mod:`napari_seglab.io` (skipped files,
missing slices, oblique series) become notifications, and errors a single
notification naming the file: never a traceback. Zarr folders open lazily
(:mod:`napari_seglab.io.zarr_store`: dask arrays, every scale, label images).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from .io import READ_SUFFIXES, read_dicom, read_image
from .io.dicom import find_dicom_files, is_dicom_file
from .io.safety import is_regular_file, reason
from .io.volumes import suffix_of
from .io.zarr_store import is_zarr, read_zarr

__all__ = ["napari_get_reader", "read_layers", "volume_layer"]


def _accepts(path) -> bool:
    path = Path(path)
    if is_zarr(path):
        return True
    if path.is_dir():
        found, _ = find_dicom_files(path, limit=1)
        return bool(found)
    if not is_regular_file(path):
        return False
    return suffix_of(path) in READ_SUFFIXES or is_dicom_file(path)


def napari_get_reader(path):
    """The reader function for ``path`` (a path or a list of paths), else None.

    Never raises: a path this plugin cannot read gives None.
    """
    paths = path if isinstance(path, (list, tuple)) else [path]
    try:
        if paths and all(_accepts(p) for p in paths):
            return read_files
    except Exception:  # noqa: BLE001 - deciding must never raise at napari
        return None
    return None


def read_files(path):
    """Read each path into layer data tuples; problems become notifications."""
    from napari.utils.notifications import show_error, show_warning

    paths = path if isinstance(path, (list, tuple)) else [path]
    layers = []
    for one in paths:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                layers.extend(read_layers(one))
            except Exception as exc:  # noqa: BLE001 - a file never ends in a traceback
                text = reason(exc)
                show_error(text if text.startswith(str(one)) else
                           f"napari-seglab could not read {one}: {text}")
        notes = list(dict.fromkeys(str(w.message) for w in caught
                                   if issubclass(w.category, UserWarning)))
        if notes:
            show_warning("\n".join(notes))
    return layers


def read_layers(path):
    """Layer data tuples for ``path`` (one per DICOM series); raises ValueError.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    list of tuple
        ``(data, kwargs, layer_type)``.
    """
    path = Path(path)
    if is_zarr(path):
        return read_zarr(str(path))
    if path.is_dir() or (suffix_of(path) not in READ_SUFFIXES or suffix_of(path) == ".dcm"):
        volumes = read_dicom(path)
    else:
        volumes = [read_image(path)]
    return [volume_layer(v) for v in volumes]


def volume_layer(volume):
    """One layer data tuple for a :class:`~napari_seglab.io.Volume`."""
    spatial = len(volume.spacing)
    metadata = dict(volume.metadata)
    metadata["kind"] = volume.kind
    kwargs = {"name": volume.name or "volume", "scale": tuple(volume.spacing),
              "translate": tuple(volume.origin), "metadata": metadata}
    data = volume.data
    # a DICOM image is an image whatever its values; other files by their values
    if volume.kind == "dicom-seg" or (volume.kind != "dicom" and volume.is_labels):
        names = volume.metadata.get("segment_names")
        if names:
            kwargs["features"] = {"index": [0] + [int(k) for k in names],
                                  "name": ["background"] + list(names.values())}
        if data.dtype.kind == "b":
            data = data.astype(np.uint8)
        return data, kwargs, "labels"
    kwargs["colormap"] = "gray"
    if data.ndim == spatial + 1:
        if data.shape[-1] in (3, 4) and data.dtype == np.uint8:
            kwargs["rgb"] = True
        else:
            kwargs["channel_axis"] = data.ndim - 1
            kwargs["name"] = [f"{kwargs['name']} [{c}]" for c in range(data.shape[-1])]
    if not kwargs.get("rgb") and "channel_axis" not in kwargs and (volume.metadata.get("window")
                                  or volume.kind in ("dicom", "nifti", "nrrd")):
        # the file's window unless missing or unusable (an MR with a CT window: black)
        from .core.windowing import display_window

        kwargs["contrast_limits"] = display_window(data, volume.metadata)
    return data, kwargs, "image"
