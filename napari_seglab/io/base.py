"""The volume every reader returns, and the geometry shared by readers and writers.

Coordinates: arrays are in (z, y, x) order; ``spacing`` and ``origin`` are in
the same order, in mm. Patient space is DICOM's LPS, also written in (z, y, x)
order (superior, posterior, left) like napari's world. ``metadata["direction"]``
(3×3, row k for array axis k) holds the unit vectors of the array axes in that
space; identity for an axial volume. ``origin`` is the position of voxel 0
*projected on these axes*, so ``translate + index * scale`` is a point in the
volume's own frame: patient space itself for an axis-aligned volume, a rotated
copy of it for an oblique one.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

__all__ = ["Volume", "direction_from_metadata", "looks_like_labels", "world_affine"]

#: Integer volumes with at most this many distinct values are label maps.
MAX_LABEL_VALUES = 64
_LABEL_WORDS = ("label", "seg", "mask")


@dataclasses.dataclass
class Volume:
    """An image or label volume with its geometry.

    Attributes
    ----------
    data : numpy.ndarray
        Array in (z, y, x) order (or (y, x) for one slice), with an optional
        trailing channel axis.
    spacing : tuple of float
        Voxel size in mm, array order (the spatial axes only).
    origin : tuple of float
        Position of the first voxel, array order, in the volume's frame.
    name : str
        A short name for the layer.
    metadata : dict
        Key tags, JSON-able (``direction``, DICOM UIDs and file paths, ...).
    kind : str
        ``"dicom"``, ``"dicom-seg"``, ``"nifti"``, ``"nrrd"``, ``"tiff"`` or ``"npy"``.
    """

    data: np.ndarray
    spacing: tuple
    origin: tuple
    name: str = ""
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    kind: str = ""

    @property
    def is_labels(self) -> bool:
        """Whether the volume looks like a label map (see :func:`looks_like_labels`)."""
        return looks_like_labels(self.data, self.name)


def looks_like_labels(data, name="") -> bool:
    """Whether an array is a label map: integers with few values, or a telling name.

    The one rule for files (the reader) and layers (the panel's pickers):
    integer or boolean values, and either "label", "seg" or "mask" in the
    name, or at most :data:`MAX_LABEL_VALUES` distinct values, none negative,
    in a strided sample (a lazy array is sampled on its middle slice, never
    read whole).

    Parameters
    ----------
    data : array-like
        The array (NumPy, dask, zarr).
    name : str, optional
        File or layer name.

    Returns
    -------
    bool

    Examples
    --------
    >>> import numpy as np
    >>> looks_like_labels(np.array([[0, 1], [2, 1]], np.uint8))
    True
    >>> looks_like_labels(np.linspace(0, 1, 4).reshape(2, 2))
    False
    """
    dtype = getattr(data, "dtype", None)
    dtype = np.asarray(data).dtype if dtype is None else np.dtype(dtype)
    if dtype.kind not in "iub":
        return False
    if any(word in str(name).lower() for word in _LABEL_WORDS):
        return True
    values = np.unique(_sample(data))
    return bool(len(values) <= MAX_LABEL_VALUES and values.min(initial=0) >= 0)


_SAMPLE = 1 << 18


def _sample(data) -> np.ndarray:
    """A strided sample of about :data:`_SAMPLE` values (a lazy array: its middle slice)."""
    if not isinstance(data, np.ndarray) and int(np.prod(np.shape(data))) > 4 * _SAMPLE \
            and np.ndim(data) > 2:
        data = data[np.shape(data)[0] // 2]
    flat = np.asarray(data).ravel()
    return flat[:: max(1, flat.size // _SAMPLE)]


def direction_from_metadata(metadata, ndim=3) -> np.ndarray:
    """The (ndim, ndim) direction matrix in ``metadata``, identity when absent."""
    direction = (metadata or {}).get("direction")
    if direction is None:
        return np.eye(ndim)
    direction = np.asarray(direction, float)
    if direction.shape != (ndim, ndim):
        return np.eye(ndim)
    return direction


def world_affine(spacing, origin, direction=None) -> np.ndarray:
    """4×4 affine from (z, y, x) voxel indices to patient (z, y, x) coordinates.

    Parameters
    ----------
    spacing, origin : sequence of 3 floats
        Array order, as in :class:`Volume`.
    direction : (3, 3) array_like, optional
        Rows: unit vectors of the z, y, x array axes in patient (z, y, x).

    Returns
    -------
    numpy.ndarray
        ``affine @ [k, j, i, 1]`` is the patient point of voxel ``[k, j, i]``.

    Examples
    --------
    >>> world_affine((2.5, 0.7, 0.7), (10.0, 20.0, 30.0))[:3, 3]
    array([10., 20., 30.])
    """
    direction = np.eye(3) if direction is None else np.asarray(direction, float)
    spacing = np.asarray(spacing, float)
    origin = np.asarray(origin, float)
    # origin is projected on the axes; direction is orthonormal, so the
    # patient point of voxel 0 is direction.T @ origin.
    affine = np.eye(4)
    affine[:3, :3] = direction.T * spacing  # column k: axis k times its spacing
    affine[:3, 3] = direction.T @ origin
    return affine


def geometry_from_affine(affine):
    """(spacing, origin, direction) in array order from a (z, y, x) → patient affine.

    The inverse of :func:`world_affine`; ``affine[:3, k]`` is array axis k.
    """
    affine = np.asarray(affine, float)
    columns = affine[:-1, :-1]
    spacing = np.linalg.norm(columns, axis=0)
    spacing[spacing == 0] = 1.0
    direction = (columns / spacing).T + 0.0  # no -0.0 in metadata
    origin = direction @ affine[:-1, -1]
    return tuple(float(s) for s in spacing), tuple(float(o) for o in origin), direction


def is_axis_aligned(direction, tol=1e-3) -> bool:
    """Whether every axis of ``direction`` runs along a patient axis (up to sign)."""
    magnitude = np.abs(np.asarray(direction, float))
    return bool(np.all((magnitude < tol) | (magnitude > 1 - tol)))


def clean_float_tuple(values):
    """Plain Python floats (JSON-able), rounded to drop float noise."""
    return tuple(round(float(v), 6) for v in values)
