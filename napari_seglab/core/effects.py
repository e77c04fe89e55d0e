"""Segment Editor effects on label images: 3D Slicer's Threshold, Margin, Hollow,
Logical operators, Islands and Scissors.

Like :mod:`napari_seglab.core.postprocess`, every function takes a 2D or 3D
integer label image (0 = background, 1, 2, ... = segments), returns a new
array of the same dtype and never modifies its input. Distances are physical
through ``spacing`` (the voxel size per axis, default 1), measured between
voxel centres with a Euclidean distance transform.

One segment is edited at a time (``label``), and it only takes background:
a voxel of another segment is never overwritten, except where a function
says so (:func:`logical` with another segment as ``other``).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .postprocess import _check_labels, _check_spacing, _full_structure, _grow, _segments

__all__ = ["LOGICAL_OPERATIONS", "SCISSORS_OPERATIONS", "extrude", "hollow",
           "keep_island", "logical", "margin", "scissors", "split_islands",
           "threshold_mask"]

#: Operations of :func:`logical`.
LOGICAL_OPERATIONS = ("copy", "union", "subtract", "intersect", "invert", "clear")

#: Operations of :func:`scissors`.
SCISSORS_OPERATIONS = ("erase_inside", "erase_outside", "fill_inside", "fill_outside")

#: Distances equal to the margin up to rounding count as within it.
_DISTANCE_RTOL = 1e-9


def _check_label(data, label) -> tuple[int, tuple[slice, ...]]:
    """The segment's value and bounding box (it must be present)."""
    if label is None:
        raise TypeError("label must be the segment to edit (1, 2, ...); got None")
    return _segments(data, label)[0]


def _check_number(name, value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number; got {value!r}") from None
    if not np.isfinite(number):
        raise ValueError(f"{name} must be finite; got {value!r}")
    return number


def _within(distance, limit):
    return distance <= limit * (1 + _DISTANCE_RTOL)


def _depth(mask, spacing):
    """Distance of each voxel of ``mask`` to the nearest voxel outside it (0 outside).

    Voxels beyond the array count as inside: a segment cut by the image
    border is not eroded from the border (it may go on beyond the view).
    """
    if mask.all():
        return np.full(mask.shape, np.inf)
    return ndi.distance_transform_edt(mask, sampling=spacing)


# --- threshold -----------------------------------------------------------------

def threshold_mask(image, low=None, high=None):
    """Voxels whose intensity lies in ``[low, high]``, as 3D Slicer's *Threshold*.

    The mask is what Slicer's Threshold effect paints into a segment, and
    what it offers as an editable intensity range: pass it as ``mask`` to
    :class:`napari_seglab.GrowFromSeeds` to keep the growth inside it, or
    with :func:`logical` (``"copy"``) to make it a segment.

    Parameters
    ----------
    image : ndarray of real numbers, any shape
    low, high : float, optional
        Inclusive bounds; a missing one is unbounded. NaN voxels are never
        in the mask.

    Returns
    -------
    ndarray of bool, the shape of ``image``

    Raises
    ------
    ValueError
        ``low`` > ``high``, or a bound that is NaN.
    TypeError
        A complex or non-numeric image.

    Examples
    --------
    >>> import numpy as np
    >>> threshold_mask(np.array([[-1000, 40], [80, 1500]]), 0, 100)
    array([[False,  True],
           [ True, False]])
    """
    data = np.asarray(image)
    if data.dtype.kind not in "biuf":
        raise TypeError(f"image must hold real numbers; got dtype {data.dtype}")
    low = -np.inf if low is None else _check_number("low", low)
    high = np.inf if high is None else _check_number("high", high)
    if low > high:
        raise ValueError(f"low must be <= high; got low={low:g}, high={high:g}")
    with np.errstate(invalid="ignore"):
        return (data >= low) & (data <= high)


# --- margin and hollow ---------------------------------------------------------

def margin(labels, mm, *, label, spacing=None):
    """Grow (``mm`` > 0) or shrink (``mm`` < 0) one segment by a physical distance.

    As 3D Slicer's *Margin*. Growing gives the segment every background
    voxel whose centre lies within ``mm`` of one of its voxels' centres
    (a Euclidean distance transform with ``sampling=spacing``), so a sphere
    of radius *R* becomes one of radius *R* + ``mm`` to within a voxel.
    Growth never takes another segment's voxels; the distance is measured
    straight, through them, so background beyond a thin segment is reached
    too (as Slicer's Margin with "overwrite other segments: none"). Shrinking removes every
    voxel within ``|mm|`` of a voxel outside the segment; the image border
    is not a boundary (a segment cut by it is not eroded from it).

    Parameters
    ----------
    labels : ndarray of int, 2D or 3D
    mm : float
        Margin in the units of ``spacing`` (mm for a medical volume).
    label : int
        The segment to grow or shrink.
    spacing : sequence of float, optional
        Voxel size per axis. Default 1.

    Returns
    -------
    ndarray, same shape and dtype as ``labels``

    Raises
    ------
    ValueError
        ``label`` absent or 0, bad ``spacing``, non-finite ``mm``.
    TypeError
        Non-integer labels, ``mm`` not a number.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.zeros((1, 9), np.uint8)
    >>> labels[0, 4] = 1
    >>> labels[0, 7] = 2
    >>> margin(labels, 3.0, label=1, spacing=(1, 1))  # stops at segment 2
    array([[0, 1, 1, 1, 1, 1, 1, 2, 0]], dtype=uint8)
    >>> margin(labels, 3.0, label=1, spacing=(1, 0.5))  # 3 mm = 6 voxels
    array([[1, 1, 1, 1, 1, 1, 1, 2, 1]], dtype=uint8)
    """
    data = _check_labels(labels)
    mm = _check_number("mm", mm)
    spacing = _check_spacing(spacing, data.ndim)
    value, box = _check_label(data, label)
    out = data.copy()
    if mm > 0:
        reach = np.floor(mm / spacing).astype(int) + 1
        crop = _grow(box, reach, data.shape)
        region = data[crop]
        distance = ndi.distance_transform_edt(region != value, sampling=spacing)
        out[crop][_within(distance, mm) & (region == 0)] = value
    elif mm < 0:
        crop = _grow(box, (1,) * data.ndim, data.shape)
        mask = data[crop] == value
        out[crop][mask & _within(_depth(mask, spacing), -mm)] = 0
    return out


def hollow(labels, mm, *, label, spacing=None):
    """Replace one segment by its shell of thickness ``mm``, as 3D Slicer's *Hollow*.

    The shell lies inside the segment (its outer surface is the segment's):
    the voxels within ``mm`` of a voxel outside the segment, and always the
    one-voxel boundary layer, so the shell stays closed where ``mm`` is
    thinner than the voxels (coarse slices). The rest becomes background.
    As in :func:`margin`, the image border is not a boundary.

    Parameters
    ----------
    labels : ndarray of int, 2D or 3D
    mm : float
        Shell thickness, > 0, in the units of ``spacing``.
    label : int
        The segment to hollow.
    spacing : sequence of float, optional
        Voxel size per axis. Default 1.

    Returns
    -------
    ndarray, same shape and dtype as ``labels``

    Raises
    ------
    ValueError
        ``mm`` not positive, ``label`` absent or 0, bad ``spacing``.
    TypeError
        Non-integer labels.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.zeros((7, 7), np.uint8)
    >>> labels[1:6, 1:6] = 3
    >>> hollow(labels, 1.0, label=3)
    array([[0, 0, 0, 0, 0, 0, 0],
           [0, 3, 3, 3, 3, 3, 0],
           [0, 3, 0, 0, 0, 3, 0],
           [0, 3, 0, 0, 0, 3, 0],
           [0, 3, 0, 0, 0, 3, 0],
           [0, 3, 3, 3, 3, 3, 0],
           [0, 0, 0, 0, 0, 0, 0]], dtype=uint8)
    """
    data = _check_labels(labels)
    mm = _check_number("mm", mm)
    if mm <= 0:
        raise ValueError(f"mm (the shell thickness) must be > 0; got {mm:g}")
    spacing = _check_spacing(spacing, data.ndim)
    value, box = _check_label(data, label)
    crop = _grow(box, (1,) * data.ndim, data.shape)
    mask = data[crop] == value
    # The boundary layer: voxels with a face neighbour outside (the image
    # border excluded, as in _depth).
    core = ndi.binary_erosion(mask, border_value=1)
    shell = (mask & ~core) | (mask & _within(_depth(mask, spacing), mm))
    out = data.copy()
    out[crop][mask & ~shell] = 0
    return out


# --- logical operators ---------------------------------------------------------

def _other_mask(data, other, label):
    """(mask of ``other``, whether it is a segment of ``data``)."""
    if isinstance(other, (int, np.integer)) and not isinstance(other, bool):
        if other <= 0 or other == label:
            raise ValueError(f"other must be another segment than label {label} "
                             f"(1, 2, ...), or a boolean mask; got {other}")
        return data == other, True
    if other is None:
        raise TypeError("this operation needs other: a segment value or a boolean mask")
    mask = np.asarray(other)
    if mask.dtype.kind not in "biu":
        raise TypeError(f"other must be a segment value or a boolean mask; got dtype "
                        f"{mask.dtype}")
    if mask.shape != data.shape:
        raise ValueError(f"the mask's shape {mask.shape} differs from the labels' "
                         f"{data.shape}")
    return mask != 0, False


def logical(labels, op, *, label, other=None):
    """Combine a segment with another segment or a mask, as Slicer's *Logical operators*.

    With *A* the voxels of ``label`` and *B* those of ``other``, the segment
    becomes:

    ============  ==========================================================
    ``copy``      *B* (the segment is replaced by a copy of ``other``)
    ``union``     *A* ∪ *B*
    ``subtract``  *A* minus *B*
    ``intersect`` *A* ∩ *B*
    ``invert``    everything that is not *A* (``other`` is not used)
    ``clear``     nothing (``other`` is not used)
    ============  ==========================================================

    Voxels leaving the segment become background. Voxels join it from the
    background, and from ``other`` when ``other`` is a segment value: a
    label image holds one segment per voxel, so ``union`` with segment 2
    merges segment 2 into ``label`` and ``copy`` moves it there. A third
    segment's voxels are never taken (``invert`` fills the background only).

    Parameters
    ----------
    labels : ndarray of int, 2D or 3D
    op : {"copy", "union", "subtract", "intersect", "invert", "clear"}
    label : int
        The segment to change. It may be absent for ``copy``, ``union`` and
        ``invert`` (it is created).
    other : int or ndarray of bool, optional
        Another segment's value, or a mask the shape of ``labels`` (nonzero
        = in the mask), e.g. :func:`threshold_mask`.

    Returns
    -------
    ndarray, same shape and dtype as ``labels``

    Raises
    ------
    ValueError
        Unknown ``op``; ``label`` 0 or absent where it must exist; ``other``
        equal to ``label`` or 0; a mask of another shape.
    TypeError
        Non-integer labels, ``other`` missing where needed.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.array([[1, 1, 0, 0, 3]], np.uint8)
    >>> mask = np.array([[0, 1, 1, 0, 1]], bool)
    >>> logical(labels, "union", label=1, other=mask)      # segment 3 kept
    array([[1, 1, 1, 0, 3]], dtype=uint8)
    >>> logical(labels, "intersect", label=1, other=mask)
    array([[0, 1, 0, 0, 3]], dtype=uint8)
    >>> logical(labels, "invert", label=1)
    array([[0, 0, 1, 1, 3]], dtype=uint8)
    """
    data = _check_labels(labels)
    if op not in LOGICAL_OPERATIONS:
        raise ValueError(f"op must be one of {', '.join(LOGICAL_OPERATIONS)}; got {op!r}")
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or label <= 0:
        raise ValueError(f"label must be a segment (1, 2, ...); got {label!r}")
    if op not in ("copy", "union", "invert"):
        _check_label(data, label)
    if data.dtype == bool and label != 1:
        raise ValueError(f"boolean labels hold segment 1 only; got label {label}")
    segment = data == label
    if op in ("invert", "clear"):
        target = ~segment if op == "invert" else np.zeros_like(segment)
        claimable = data == 0
    else:
        mask, is_segment = _other_mask(data, other, label)
        target = {"copy": mask, "union": segment | mask, "subtract": segment & ~mask,
                  "intersect": segment & mask}[op]
        claimable = (data == 0) | mask if is_segment else data == 0
    out = data.copy()
    out[segment & ~target] = 0
    out[target & ~segment & claimable] = label
    return out


# --- islands -------------------------------------------------------------------

def _components(data, value, box):
    components, n = ndi.label(data[box] == value, _full_structure(data.ndim))
    return components, n


def split_islands(labels, *, label, spacing=None, min_size_mm3=0.0, return_values=False):
    """Make each island of a segment its own segment, as Slicer's *Split islands to segments*.

    Islands are connected components (8-connected in 2D, 26-connected in
    3D). Islands smaller than ``min_size_mm3`` are removed. Of the others,
    the largest keeps ``label``; the rest get new values ``labels.max() + 1``,
    ``+ 2``, ... in order of decreasing volume (equal volumes: the island
    met first in C order first).

    Parameters
    ----------
    labels : ndarray of int, 2D or 3D
    label : int
        The segment to split.
    spacing : sequence of float, optional
        Voxel size per axis. Default 1.
    min_size_mm3 : float, default 0
        Smallest island kept, in physical units to the power ndim (mm³ in
        3D, mm² in 2D); islands of exactly this size are kept.
    return_values : bool, default False
        Also return the values of the new segments.

    Returns
    -------
    split : ndarray, same shape and dtype as ``labels``
    new_values : list of int
        Only with ``return_values=True``.

    Raises
    ------
    ValueError
        ``label`` absent or 0; ``min_size_mm3`` negative; more new segments
        than the dtype holds (convert the labels to a wider integer type).
    TypeError
        Non-integer labels.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.array([[1, 1, 0, 1, 0, 2, 0, 1]], np.uint8)
    >>> split_islands(labels, label=1)
    array([[1, 1, 0, 3, 0, 2, 0, 4]], dtype=uint8)
    >>> split_islands(labels, label=1, min_size_mm3=2)
    array([[1, 1, 0, 0, 0, 2, 0, 0]], dtype=uint8)
    """
    data = _check_labels(labels)
    spacing = _check_spacing(spacing, data.ndim)
    min_size = _check_number("min_size_mm3", min_size_mm3)
    if min_size < 0:
        raise ValueError(f"min_size_mm3 must be >= 0; got {min_size:g}")
    value, box = _check_label(data, label)
    components, n = _components(data, value, box)
    volumes = np.bincount(components.ravel())[1:] * float(np.prod(spacing))
    kept = np.flatnonzero(volumes >= min_size * (1 - _DISTANCE_RTOL))
    order = kept[np.argsort(-volumes[kept], kind="stable")]
    start = int(data.max()) + 1
    new_values = list(range(start, start + max(order.size - 1, 0)))
    limit = 1 if data.dtype == bool else int(np.iinfo(data.dtype).max)
    if new_values and new_values[-1] > limit:
        raise ValueError(
            f"{order.size - 1} new segments from {start} do not fit in labels of dtype "
            f"{data.dtype} (at most {limit}); convert the labels to uint16 or uint32")
    lookup = np.zeros(n + 1, data.dtype)
    lookup[order + 1] = [value, *new_values][:order.size]
    out = data.copy()
    region = out[box]
    inside = components > 0
    region[inside] = lookup[components[inside]]
    return (out, new_values) if return_values else out


def keep_island(labels, point, *, label=None):
    """Keep only the island of a segment at ``point``, as Slicer's *Keep selected island*.

    Parameters
    ----------
    labels : ndarray of int, 2D or 3D
    point : sequence of int
        Voxel index (one per axis) inside the island to keep.
    label : int, optional
        The segment; by default the one at ``point``.

    Returns
    -------
    ndarray, same shape and dtype as ``labels``

    Raises
    ------
    ValueError
        ``point`` outside the image, on background, or on another segment
        than ``label``.
    TypeError
        Non-integer labels.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.array([[1, 1, 0, 1, 0, 2]], np.uint8)
    >>> keep_island(labels, (0, 3))
    array([[0, 0, 0, 1, 0, 2]], dtype=uint8)
    """
    data = _check_labels(labels)
    try:
        index = tuple(int(round(float(p))) for p in point)
    except (TypeError, ValueError):
        raise TypeError(f"point must be one index per axis; got {point!r}") from None
    if len(index) != data.ndim or any(not 0 <= i < n for i, n in zip(index, data.shape)):
        raise ValueError(f"point {index} is outside the image of shape {data.shape}")
    here = int(data[index])
    if here == 0:
        raise ValueError(f"point {index} is on background: click inside an island")
    if label is not None and here != label:
        raise ValueError(f"point {index} is on segment {here}, not on segment {label}")
    value, box = _check_label(data, here)
    components, _ = _components(data, value, box)
    local = tuple(i - s.start for i, s in zip(index, box, strict=True))
    out = data.copy()
    out[box][(components > 0) & (components != components[local])] = 0
    return out


# --- scissors ------------------------------------------------------------------

def extrude(plane_mask, shape, *, axis, index=None):
    """A region of ``shape`` from a 2D mask drawn across ``axis``.

    Parameters
    ----------
    plane_mask : ndarray of bool, 2D
        The shape drawn on the view, over the axes of ``shape`` other than
        ``axis`` (in their order).
    shape : tuple of int
        The volume's shape (3D), or the image's (2D, then ``axis`` is None).
    axis : int or None
        The viewing axis (across the slices).
    index : int, optional
        Only this slice along ``axis``; by default every slice.

    Returns
    -------
    ndarray of bool, of ``shape``

    Examples
    --------
    >>> import numpy as np
    >>> extrude(np.eye(2, dtype=bool), (3, 2, 2), axis=0, index=1).sum(axis=(1, 2))
    array([0, 2, 0])
    """
    plane = np.asarray(plane_mask, bool)
    if axis is None:
        if plane.shape != tuple(shape):
            raise ValueError(f"the mask's shape {plane.shape} differs from {tuple(shape)}")
        return plane.copy()
    plane_shape = tuple(n for i, n in enumerate(shape) if i != axis)
    if plane.shape != plane_shape:
        raise ValueError(f"the mask's shape {plane.shape} differs from the plane across "
                         f"axis {axis}, {plane_shape}")
    region = np.zeros(shape, bool)
    moved = np.moveaxis(region, axis, 0)
    if index is None:
        moved[...] = plane
    elif 0 <= index < shape[axis]:
        moved[index] = plane
    else:
        raise ValueError(f"slice {index} is outside 0..{shape[axis] - 1}")
    return region


def scissors(labels, region, op, *, label=None):
    """Erase or fill inside or outside a region, as 3D Slicer's *Scissors*.

    Parameters
    ----------
    labels : ndarray of int, 2D or 3D
    region : ndarray of bool, the shape of ``labels``
        The shape drawn on the view, through the slices (see :func:`extrude`).
    op : {"erase_inside", "erase_outside", "fill_inside", "fill_outside"}
        Erasing sets ``label``'s voxels (every segment's without ``label``)
        to background; filling gives ``label`` the background voxels (never
        another segment's).
    label : int, optional
        The segment; needed to fill.

    Returns
    -------
    ndarray, same shape and dtype as ``labels``

    Raises
    ------
    ValueError
        Unknown ``op``, ``region`` of another shape, ``label`` 0.
    TypeError
        Filling without ``label``.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.array([[1, 1, 2, 0]], np.uint8)
    >>> inside = np.array([[0, 1, 1, 1]], bool)
    >>> scissors(labels, inside, "erase_inside")
    array([[1, 0, 0, 0]], dtype=uint8)
    >>> scissors(labels, inside, "fill_inside", label=1)
    array([[1, 1, 2, 1]], dtype=uint8)
    """
    data = _check_labels(labels)
    if op not in SCISSORS_OPERATIONS:
        raise ValueError(f"op must be one of {', '.join(SCISSORS_OPERATIONS)}; got {op!r}")
    mask = np.asarray(region, bool)
    if mask.shape != data.shape:
        raise ValueError(f"the region's shape {mask.shape} differs from the labels' "
                         f"{data.shape}")
    if op.endswith("outside"):
        mask = ~mask
    if label is not None and (isinstance(label, bool) or label <= 0):
        raise ValueError(f"label must be a segment (1, 2, ...); got {label!r}")
    out = data.copy()
    if op.startswith("erase"):
        out[mask & ((data == label) if label is not None else (data != 0))] = 0
    else:
        if label is None:
            raise TypeError("filling needs label: the segment to fill with")
        out[mask & (data == 0)] = label
    return out
