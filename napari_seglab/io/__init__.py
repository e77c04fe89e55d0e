"""Medical and microscopy images in and out, in true units.

The one front door for files: the npe2 reader (``napari_seglab._reader``), the
``seglab`` command line (:func:`open_lazy`), sessions and the panel read
through here. Every reader opens regular files (or folders) only, keeps the
files a header names (NRRD ``data file``, OME-Zarr paths, a session's
``relative_path``) inside the folder of the file naming them, checks declared
sizes against the bytes on disk and the memory budget before allocating, and
refuses non-finite or degenerate geometry naming the tag
(:mod:`napari_seglab.io.safety`).

Headless use::

    from napari_seglab.io import read_image, write_labels
    volume = read_image("ct_folder/")          # DICOM series, NIfTI, NRRD, TIFF, NPY
    volume.data, volume.spacing, volume.origin  # (z, y, x) array, mm, mm
    write_labels("labels.nii.gz", labels, spacing=volume.spacing, origin=volume.origin)

No Qt and no napari here: problems that do not stop reading (skipped files,
missing slices, oblique series) are :func:`warnings.warn`; what stops it is a
``ValueError`` that says what was given and what to do.
"""

from __future__ import annotations

from pathlib import Path

from .base import Volume, looks_like_labels, world_affine
from .dicom import MissingDecoderError, is_dicom_file, read_dicom
from .rle import rle_decode, rle_encode
from .safety import check_regular
from .volumes import (
    LABEL_SUFFIXES,
    read_nifti,
    read_npy,
    read_nrrd,
    read_tiff,
    suffix_of,
    write_volume,
)

__all__ = ["Volume", "read_image", "open_lazy", "read_dicom", "write_labels", "write_dicom_seg",
           "rle_encode", "rle_decode", "looks_like_labels", "world_affine",
           "MissingDecoderError", "READ_SUFFIXES", "LABEL_SUFFIXES"]

_READERS = {".nii": read_nifti, ".nii.gz": read_nifti, ".nrrd": read_nrrd,
            ".nhdr": read_nrrd, ".tif": read_tiff, ".tiff": read_tiff, ".npy": read_npy}
#: File endings :func:`read_image` understands (besides DICOM folders and files).
READ_SUFFIXES = tuple(_READERS) + (".dcm",)


def read_image(path, series=None) -> Volume:
    """Read an image or label volume from a file or a DICOM folder.

    Parameters
    ----------
    path : str or os.PathLike
        A DICOM folder or file, or a ``.nii``, ``.nii.gz``, ``.nrrd``, ``.nhdr``,
        ``.tif``, ``.tiff`` or ``.npy`` file.
    series : int or str, optional
        For a DICOM folder holding several series: the index in the list
        :func:`read_dicom` returns, a SeriesInstanceUID or a series name.

    Returns
    -------
    Volume
        ``data`` in (z, y, x[, c]) order, ``spacing`` and ``origin`` in mm.

    Raises
    ------
    ValueError
        Unknown format, unreadable file, or several DICOM series and no
        ``series`` (the message lists them).

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> volume = read_image(get_testdata_file("CT_small.dcm"))
    >>> volume.kind, volume.data.dtype.name, volume.metadata["dicom"]["Modality"]
    ('dicom', 'int16', 'CT')
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path} does not exist")
    check_regular(path, "image file", folders=True)  # a FIFO or device never ends
    suffix = suffix_of(path)
    if path.is_file() and suffix in _READERS:
        return _READERS[suffix](path)
    if path.is_dir() or suffix == ".dcm" or is_dicom_file(path):
        volumes = read_dicom(path)
        return _choose_series(path, volumes, series)
    raise ValueError(f"{path}: cannot read it: not a DICOM file or folder, and not one "
                     f"of {', '.join(_READERS)}; convert it to one of these")


def _choose_series(path, volumes, series):
    if len(volumes) == 1 and series in (None, 0):
        return volumes[0]
    if series is None:
        listing = "; ".join(f"[{i}] {v.name} {tuple(v.data.shape)}"
                            for i, v in enumerate(volumes))
        raise ValueError(f"{path} holds {len(volumes)} series: {listing}. "
                         "Choose one with series=<index, SeriesInstanceUID or name>, or use "
                         "read_dicom(path) for all of them")
    if isinstance(series, int) and not isinstance(series, bool):
        if not -len(volumes) <= series < len(volumes):
            raise ValueError(f"series={series} is out of range: {path} holds "
                             f"{len(volumes)} series")
        return volumes[series]
    for volume in volumes:
        uid = volume.metadata.get("dicom", {}).get("SeriesInstanceUID")
        if series in (uid, volume.name):
            return volume
    names = ", ".join(repr(v.name) for v in volumes)
    raise ValueError(f"series={series!r} matches none of {names}")


def write_labels(path, labels, *, spacing=None, origin=None, direction=None):
    """Write a label map by extension, atomically, keeping its geometry.

    Parameters
    ----------
    path : str or os.PathLike
        ``.nii``, ``.nii.gz``, ``.nrrd``, ``.tif``/``.tiff`` or ``.npy``
        (with a ``.npy.json`` sidecar for the geometry).
    labels : numpy.ndarray
        Integer (z, y, x) or (y, x) array; stored in the smallest integer type
        that holds its values.
    spacing, origin : sequence of float, optional
        Array order, mm (a napari layer's ``scale`` and ``translate``).
    direction : (ndim, ndim) array_like, optional
        Axis directions, as read into ``Volume.metadata["direction"]``.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        Unknown extension, or spacing/origin that do not fit the array.
    TypeError
        Labels that are not integers or booleans.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "labels.nrrd"
    >>> _ = write_labels(target, np.ones((2, 3, 4), np.uint8), spacing=(2.5, 0.7, 0.7))
    >>> read_image(target).spacing
    (2.5, 0.7, 0.7)
    """
    return write_volume(path, labels, spacing=spacing, origin=origin, direction=direction,
                        labels=True)


def open_lazy(path):
    """Open an image for block-by-block work; see :func:`.lazy.open_lazy`."""
    from .lazy import open_lazy as _open

    return _open(path)


def write_dicom_seg(path, labels, source, **kwargs):
    """Write labels as a DICOM SEG object; see :func:`.dicom_seg.write_dicom_seg`."""
    from .dicom_seg import write_dicom_seg as _write

    return _write(path, labels, source, **kwargs)
