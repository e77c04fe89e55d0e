"""NIfTI, NRRD, TIFF and NPY volumes: read into array order, write label maps.

Every format keeps what it can of the geometry: NIfTI its affine (RAS in the
file, converted to and from DICOM's LPS), NRRD its space directions and origin,
TIFF a JSON description (tifffile's shaped metadata), NPY a ``.json`` sidecar
beside the array. What our writers write, our readers read back with the same
data, spacing and origin.
"""

from __future__ import annotations

import gzip
import io
import json
import os
from pathlib import Path

import numpy as np

from ..core.files import atomic_replace, atomic_write
from .base import (
    Volume,
    clean_float_tuple,
    geometry_from_affine,
    world_affine,
)
from .safety import (
    check_regular,
    check_size,
    confine,
    finite_values,
    is_regular_file,
    open_regular,
    reason,
)

__all__ = ["LABEL_SUFFIXES", "read_nifti", "read_nrrd", "read_tiff", "read_npy",
           "write_volume", "suffix_of"]

#: File endings our writers produce, by format.
LABEL_SUFFIXES = {".nii": "nifti", ".nii.gz": "nifti", ".nrrd": "nrrd", ".tif": "tiff",
                  ".tiff": "tiff", ".npy": "npy"}
_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])


def suffix_of(path) -> str:
    """The format suffix of ``path``, lower case (``.nii.gz`` counts as one).

    Examples
    --------
    >>> suffix_of("case/Brain_Label.NII.GZ")
    '.nii.gz'
    """
    name = Path(path).name.lower()
    for double in (".nii.gz",):
        if name.endswith(double):
            return double
    return Path(name).suffix


def _stem(path):
    name = Path(path).name
    suffix = suffix_of(path)
    return name[: len(name) - len(suffix)] if suffix else name


# -- reading ----------------------------------------------------------------------

def _spatial_to_volume(data, affine_zyx, path, kind, extra=None):
    spacing, origin, direction = geometry_from_affine(affine_zyx)
    metadata = {"direction": direction.round(6).tolist(), "source": str(path)}
    metadata.update(extra or {})
    return Volume(data=data, spacing=clean_float_tuple(spacing),
                  origin=clean_float_tuple(origin), name=_stem(path), metadata=metadata,
                  kind=kind)


def read_nifti(path) -> Volume:
    """Read a NIfTI file (``.nii``, ``.nii.gz``) into (z, y, x[, t]) order.

    The RAS affine of the file becomes spacing, origin and ``direction`` in
    DICOM's LPS frame (see :mod:`napari_seglab.io.base`); scaling
    (``scl_slope``) is applied.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Volume

    Raises
    ------
    ValueError
        The file cannot be read as NIfTI.
    """
    import nibabel as nib

    check_regular(path, "NIfTI file")
    try:
        image = nib.load(str(path))
        header = image.header
        check_size(header.get_data_shape(), header.get_data_dtype(), path,
                   on_disk=os.stat(path).st_size, compressed=suffix_of(path) == ".nii.gz")
        _check_nifti_affine(image, path)
        data = np.asanyarray(image.dataobj)
    except ValueError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise _unreadable(path, "NIfTI", exc) from None
    except Exception as exc:  # noqa: BLE001 - nibabel raises many kinds on bad files
        raise _unreadable(path, "NIfTI", exc) from None
    if data.ndim < 2:
        raise ValueError(f"{path}: a NIfTI image needs 2 or more dimensions; got {data.shape}")
    if data.ndim == 2:
        data = data[:, :, np.newaxis]
    spatial = 3
    order = tuple(range(spatial))[::-1] + tuple(range(spatial, data.ndim))
    data = np.ascontiguousarray(np.transpose(data, order))
    # the header stores float32: take each value's shortest float32 spelling
    # (-44.8, not -44.79999924), so what our writer wrote reads back unchanged
    stored = np.vectorize(lambda v: float(str(np.float32(v))))(np.asarray(image.affine))
    lps = _RAS_TO_LPS @ stored[:3]
    affine = np.eye(4)
    affine[:3, :3] = lps[::-1, :3][:, ::-1]
    affine[:3, 3] = lps[::-1, 3]
    if data.shape[0] == 1 and data.ndim == 3:
        data, affine = data[0], _drop_first_axis(affine)
    return _spatial_to_volume(data, affine, path, "nifti")


def _unreadable(path, fmt, exc) -> ValueError:
    """The error for a file a library could not parse: the file, why, what to do."""
    return ValueError(f"{path} could not be read as {fmt} ({reason(exc)}); the file is "
                      f"damaged or not {fmt}: export it again")


def _check_nifti_affine(image, path):
    """Refuse a NaN / inf or non-invertible affine, naming the header fields it came from."""
    header = image.header
    if int(header["sform_code"]) > 0:
        tag = "sform (srow_x, srow_y, srow_z)"
    elif int(header["qform_code"]) > 0:
        tag = "qform (quatern_b/c/d, qoffset_x/y/z, pixdim)"
    else:
        tag = "pixdim"
    affine = np.asarray(image.affine, float)
    if not np.all(np.isfinite(affine)):
        raise ValueError(f"{path}: the NIfTI {tag} holds values that are not finite; fix "
                         "the header (e.g. nibabel's set_sform / set_qform) and save again")
    linear = affine[:3, :3]
    scale = np.linalg.norm(linear, axis=0)
    if not np.all(scale > 0) or abs(np.linalg.det(linear / scale)) < 1e-6:
        raise ValueError(f"{path}: the NIfTI {tag} is degenerate (not invertible: "
                         f"{np.round(linear, 4).tolist()}); fix the header's geometry and "
                         "save again")


def _drop_first_axis(affine):
    """A 2D (y, x) affine from a 3D one whose first axis has one voxel."""
    spacing, origin, direction = geometry_from_affine(affine)
    out = np.eye(3)
    out[:2, :2] = np.diag(spacing[1:])
    out[:2, 2] = origin[1:]
    return out


def _space_signs(space):
    """Sign flips that turn a NRRD ``space`` into LPS (x, y, z)."""
    space = (space or "left-posterior-superior").lower()
    aliases = {"lps": "left-posterior-superior", "ras": "right-anterior-superior",
               "las": "left-anterior-superior"}
    space = aliases.get(space, space)
    words = space.split("-")
    if len(words) != 3 or not {"left", "right"} & set(words[:1]):
        return np.ones(3)  # scanner-xyz, 3D-right-handed: kept as given
    return np.array([1.0 if words[0] == "left" else -1.0,
                     1.0 if words[1] == "posterior" else -1.0,
                     1.0 if words[2] == "superior" else -1.0])


def read_nrrd(path) -> Volume:
    """Read a NRRD file (pynrrd) into (z, y, x[, c]) order with its geometry.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Volume

    Raises
    ------
    ValueError
        The file cannot be read as NRRD.
    """
    import nrrd

    path = Path(path)
    try:
        with open_regular(path, "NRRD file") as fh:
            header = nrrd.read_header(fh)
            _check_nrrd_header(header, path)
            data = nrrd.read_data(header, fh, str(path), index_order="C")
    except (ValueError, FileNotFoundError) as exc:
        if str(exc).startswith(str(path)):
            raise
        raise _unreadable(path, "NRRD", exc) from None
    except Exception as exc:  # noqa: BLE001 - pynrrd raises many kinds on bad files
        raise _unreadable(path, "NRRD", exc) from None
    directions = header.get("space directions")
    n_file_axes = data.ndim
    if directions is not None:
        directions = [None if d is None or np.any(np.isnan(np.asarray(d, float)))
                      else np.asarray(d, float) for d in directions]
        spatial = [i for i, d in enumerate(directions) if d is not None]
    else:
        spatial = list(range(n_file_axes))
    # C order reverses the file's axes: file axis i is array axis ndim-1-i
    array_axes = [n_file_axes - 1 - i for i in spatial][::-1]
    other = [a for a in range(n_file_axes) if a not in array_axes]
    data = np.ascontiguousarray(np.transpose(data, array_axes + other))
    n = len(array_axes)
    affine = np.eye(n + 1)
    if directions is not None and n == 3:
        signs = _space_signs(header.get("space"))
        vectors = [directions[i] * signs for i in spatial]  # file order x, y, z
        for k in range(3):
            affine[:3, k] = vectors[2 - k][::-1]
        origin = np.asarray(header.get("space origin", np.zeros(3)), float) * signs
        affine[:3, 3] = origin[::-1]
    elif directions is not None and n == 2 and len(directions[spatial[0]]) == 2:
        vectors = [directions[i] for i in spatial]  # file order x, y
        for k in range(2):
            affine[:2, k] = vectors[1 - k][::-1]
        origin = np.asarray(header.get("space origin", np.zeros(2)), float)
        affine[:2, 2] = origin[::-1]
    else:
        spacings = header.get("spacings")
        if spacings is not None:
            values = [float(s) for s in np.asarray(spacings, float)[spatial][::-1]]
            affine[:n, :n] = np.diag([v if np.isfinite(v) and v > 0 else 1.0 for v in values])
        elif directions is not None:
            affine[:n, :n] = np.diag([float(np.linalg.norm(directions[i]))
                                      for i in spatial][::-1])
    return _spatial_to_volume(data, affine, path, "nrrd")


_NRRD_COMPRESSED = ("gzip", "gz", "bzip2", "bz2")
_NRRD_TEXT = ("ascii", "text", "txt")


def _check_nrrd_header(header, path):
    """The data file inside the header's folder, a regular file, big enough; finite geometry."""
    from nrrd.reader import _TYPEMAP_NRRD2NUMPY

    detached = header.get("data file") or header.get("datafile")
    if detached is not None:
        text = str(detached)
        if text.upper().startswith("LIST") or len(text.split()) > 1:
            raise ValueError(f"{path}: a data file list ({text!r}) is not supported; "
                             "save the volume as one .nrrd file")
        where = confine(text, path.parent, "data file", path)
        check_regular(where, "NRRD data file")
        on_disk = os.stat(where).st_size
    else:
        on_disk = os.stat(path).st_size
    dtype = np.dtype(_TYPEMAP_NRRD2NUMPY.get(str(header.get("type")), "u1"))
    encoding = str(header.get("encoding", "raw")).lower()
    if encoding in _NRRD_TEXT:  # at least two characters a value ("0 ")
        on_disk = on_disk * max(1, dtype.itemsize // 2)
    check_size(header.get("sizes", ()), dtype, path, on_disk=on_disk,
               compressed=encoding in _NRRD_COMPRESSED, what="volume")
    if header.get("space origin") is not None:
        finite_values(header["space origin"], "'space origin'", path)
    directions = header.get("space directions")
    if directions is not None:
        vectors = [np.asarray(d, float) for d in directions
                   if d is not None and not np.all(np.isnan(np.asarray(d, float)))]
        for vector in vectors:
            finite_values(vector, "'space directions'", path)
        if vectors and len(vectors) == len(vectors[0]):
            matrix = np.asarray(vectors)
            norms = np.linalg.norm(matrix, axis=1)
            if not np.all(norms > 0) or abs(np.linalg.det(matrix / norms[:, None])) < 1e-6:
                raise ValueError(f"{path}: 'space directions' {matrix.tolist()} are "
                                 "degenerate (not invertible); fix the header")
    if header.get("spacings") is not None:
        values = np.asarray(header["spacings"], float)
        if np.any(np.isinf(values)):
            raise ValueError(f"{path}: 'spacings' {values.tolist()} holds an infinite "
                             "value; fix the header")


def _described_volume(data, spacing, origin, description, path, kind) -> Volume:
    """The Volume of a file whose geometry came from our own JSON description."""
    metadata = {"source": str(path)}
    if "direction" in description:
        metadata["direction"] = description["direction"]
    return Volume(data=data, spacing=clean_float_tuple(spacing),
                  origin=clean_float_tuple(origin), name=_stem(path), metadata=metadata,
                  kind=kind)


def read_tiff(path) -> Volume:
    """Read a TIFF stack; spacing and origin from our JSON description or ImageJ tags.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Volume
    """
    import tifffile

    check_regular(path, "TIFF file")
    try:
        with tifffile.TiffFile(str(path)) as tif:
            series = tif.series[0]
            compressed = any(int(getattr(page, "compression", 1)) != 1
                             for page in tif.pages[:1])
            check_size(series.shape, series.dtype, path, on_disk=os.stat(path).st_size,
                       compressed=compressed)
            data = series.asarray()
            shaped = tif.shaped_metadata[0] if tif.shaped_metadata else {}
            imagej = tif.imagej_metadata or {}
    except Exception as exc:  # noqa: BLE001 - tifffile raises many kinds on bad files
        if isinstance(exc, ValueError) and str(exc).startswith(str(path)):
            raise
        raise _unreadable(path, "TIFF", exc) from None
    ndim = min(data.ndim, 3)
    spacing = shaped.get("spacing")
    origin = shaped.get("origin")
    if spacing is None:
        spacing = [float(imagej.get("spacing", 1.0))] + [1.0] * (ndim - 1)
        spacing = spacing[-ndim:] if ndim < 3 else spacing
    spacing = list(spacing)[:ndim]
    origin = list(origin)[:ndim] if origin is not None else [0.0] * ndim
    return _described_volume(data, spacing, origin, shaped, path, "tiff")


def _sidecar(path) -> Path:
    return Path(str(path) + ".json")


def read_npy(path) -> Volume:
    """Read a ``.npy`` array (no pickle); geometry from ``<file>.json`` when present.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Volume
    """
    try:
        with open_regular(path, "NPY file") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(fh)
            check_size(shape, dtype, path, on_disk=os.stat(path).st_size - fh.tell())
        data = np.load(str(path), allow_pickle=False)
    except ValueError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise _unreadable(path, "NPY", exc) from None
    except Exception as exc:  # noqa: BLE001 - numpy raises many kinds on bad files
        raise _unreadable(path, "NPY", exc) from None
    ndim = min(data.ndim, 3)
    geometry = {}
    sidecar = _sidecar(path)
    if is_regular_file(sidecar):
        try:
            geometry = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            geometry = {}
    spacing = geometry.get("spacing") or [1.0] * ndim
    origin = geometry.get("origin") or [0.0] * ndim
    return _described_volume(data, spacing, origin, geometry, path, "npy")


# -- writing ----------------------------------------------------------------------

def compact_labels(labels) -> np.ndarray:
    """Labels in the smallest integer type that holds them (NIfTI/NRRD-friendly).

    Examples
    --------
    >>> compact_labels(np.array([0, 3, 300])).dtype
    dtype('uint16')
    """
    labels = np.asarray(labels)
    if labels.dtype.kind == "b":
        return labels.astype(np.uint8)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"labels must be integers or booleans; got dtype {labels.dtype}")
    low, high = (int(labels.min()), int(labels.max())) if labels.size else (0, 0)
    for dtype in (np.uint8, np.uint16, np.int16, np.uint32, np.int32):
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return labels.astype(dtype, copy=False)
    return labels.astype(np.int64, copy=False)


def _geometry(ndim, spacing, origin, direction):
    spacing = (1.0,) * ndim if spacing is None else tuple(float(s) for s in spacing)[-ndim:]
    origin = (0.0,) * ndim if origin is None else tuple(float(o) for o in origin)[-ndim:]
    if len(spacing) != ndim or len(origin) != ndim:
        raise ValueError(f"spacing and origin need {ndim} values for an array of "
                         f"{ndim} dimensions; got spacing={spacing}, origin={origin}")
    if any(not np.isfinite(s) or s <= 0 for s in spacing):
        raise ValueError(f"spacing must be positive; got {spacing}")
    if direction is None:
        direction = np.eye(ndim)
    direction = np.asarray(direction, float)
    if direction.shape != (ndim, ndim):
        direction = np.eye(ndim)
    return spacing, origin, direction


def _as_3d(data, spacing, origin, direction):
    """2D arrays become one-slice volumes (NIfTI and NRRD want three axes)."""
    if data.ndim == 2:
        d3 = np.eye(3)
        d3[1:, 1:] = direction
        return data[np.newaxis], (1.0,) + spacing, (0.0,) + origin, d3
    return data, spacing, origin, direction


def _lps_xyz_affine(spacing, origin, direction):
    """4×4 affine from (x, y, z) indices to LPS (x, y, z)."""
    zyx = world_affine(spacing, origin, direction)
    affine = np.eye(4)
    affine[:3, :3] = zyx[:3, :3][::-1, ::-1]
    affine[:3, 3] = zyx[:3, 3][::-1]
    return affine


def write_volume(path, data, *, spacing=None, origin=None, direction=None, labels=True):
    """Write an array by extension (.nii, .nii.gz, .nrrd, .tif/.tiff, .npy), atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Target; its ending chooses the format.
    data : numpy.ndarray
        (z, y, x) or (y, x) array.
    spacing, origin : sequence of float, optional
        Array order, mm; unit spacing and zero origin when omitted.
    direction : (ndim, ndim) array_like, optional
        Axis directions (see :mod:`napari_seglab.io.base`); identity when omitted.
    labels : bool, default True
        Store integers in the smallest type that holds them.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ValueError
        Unknown extension, or spacing/origin that do not match the array.
    """
    path = Path(path)
    suffix = suffix_of(path)
    if suffix not in LABEL_SUFFIXES:
        raise ValueError(f"cannot write {path.name!r}: choose one of "
                         f"{', '.join(sorted(LABEL_SUFFIXES))}")
    data = np.asarray(data)
    if data.ndim not in (2, 3):
        raise ValueError(f"expected a 2D or 3D array; got shape {data.shape}")
    if labels:
        data = compact_labels(data)
    spacing, origin, direction = _geometry(data.ndim, spacing, origin, direction)
    fmt = LABEL_SUFFIXES[suffix]
    if fmt == "nifti":
        _write_nifti(path, *_as_3d(data, spacing, origin, direction), gz=suffix == ".nii.gz")
    elif fmt == "nrrd":  # 2D stays 2D (a 2D NRRD space), 3D in LPS
        _write_nrrd(path, data, spacing, origin, direction)
    elif fmt == "tiff":
        import tifffile

        meta = {"spacing": list(spacing), "origin": list(origin),
                "direction": direction.tolist()}
        buffer = io.BytesIO()  # tifffile wants a named file or a buffer
        tifffile.imwrite(buffer, data, metadata=meta, photometric="minisblack")
        with atomic_write(path) as fh:
            fh.write(buffer.getvalue())
    else:
        with atomic_write(path) as fh:
            np.save(fh, data, allow_pickle=False)
        geometry = {"spacing": list(spacing), "origin": list(origin),
                    "direction": direction.tolist()}
        with atomic_write(_sidecar(path), "w") as fh:
            json.dump(geometry, fh)
    return path


def _write_nifti(path, data, spacing, origin, direction, gz=False):
    import nibabel as nib

    affine = _RAS_TO_LPS @ _lps_xyz_affine(spacing, origin, direction)[:3]
    affine = np.vstack([affine, [0, 0, 0, 1]])
    image = nib.Nifti1Image(np.ascontiguousarray(data.transpose(2, 1, 0)), affine)
    image.header.set_xyzt_units("mm")
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    payload = image.to_bytes()
    if gz:
        payload = gzip.compress(payload, compresslevel=6, mtime=0)
    with atomic_write(path) as fh:
        fh.write(payload)


def _write_nrrd(path, data, spacing, origin, direction):
    import nrrd

    n = data.ndim
    if n == 2:
        rows = (np.asarray(direction, float).T * np.asarray(spacing, float))[::-1, ::-1]
        header = {"space dimension": 2, "space directions": rows.T,
                  "space origin": (np.asarray(direction, float).T @ origin)[::-1],
                  "kinds": ["domain"] * 2, "encoding": "gzip"}
    else:
        affine = _lps_xyz_affine(spacing, origin, direction)
        header = {
            "space": "left-posterior-superior",
            "space directions": affine[:3, :3].T,  # one row per file axis (x, y, z)
            "space origin": affine[:3, 3],
            "kinds": ["domain"] * 3,
            "encoding": "gzip",
        }
    with atomic_replace(path) as tmp:
        nrrd.write(str(tmp), data, header, index_order="C")
