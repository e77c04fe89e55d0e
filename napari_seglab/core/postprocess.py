"""Clean-up effects for label images: 3D Slicer's *Smoothing* and *Islands*.

Every function takes a 2D or 3D integer label image (0 = background,
1, 2, ... = segments), returns a new array of the same dtype and never
modifies its input. Sizes are physical (mm, mm³) through ``spacing``, the
voxel size per axis; without it a voxel is 1 × 1 (× 1).

Each segment is processed inside its bounding box plus the kernel's
reach, so the cost follows the segments' size, not the image's, and the
extra memory is one image-sized array at most (``joint``: 5 bytes per
voxel for the running best score and label).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

__all__ = ["SMOOTHING_METHODS", "smooth", "fill_holes", "remove_small_objects",
           "keep_largest"]

#: Methods of :func:`smooth`; ``joint`` smooths all segments together.
SMOOTHING_METHODS = ("median", "opening", "closing", "gaussian", "joint")

#: Volumes equal to the threshold up to rounding count as equal (kept).
_VOLUME_RTOL = 1e-9


# --- validation -------------------------------------------------------------

def _check_labels(labels) -> np.ndarray:
    data = np.asarray(labels)
    if not (np.issubdtype(data.dtype, np.integer) or data.dtype == bool):
        raise TypeError(
            f"labels must hold integer labels (0 = background); got dtype {data.dtype}"
        )
    if data.ndim not in (2, 3):
        raise ValueError(
            f"labels must be a 2D image or a 3D volume; got {data.ndim} axes, "
            f"shape {data.shape}"
        )
    if data.dtype != bool and data.size and data.min() < 0:
        raise ValueError(f"labels must be >= 0 (0 = background); got {data.min()}")
    return data


def _check_spacing(spacing, ndim) -> np.ndarray:
    if spacing is None:
        return np.ones(ndim)
    values = np.asarray(spacing, dtype=float).ravel()
    if values.size != ndim or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError(
            f"spacing must be {ndim} positive voxel sizes (one per axis); got {spacing!r}"
        )
    return values


def _check_positive(name, value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number; got {value!r}") from None
    if not np.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be a positive number; got {value!r}")
    return number


def _segments(data: np.ndarray, label) -> list[tuple[int, tuple[slice, ...]]]:
    """``(label, bounding box)`` of each segment, or of ``label`` alone."""
    if label is not None:
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)):
            raise TypeError(f"label must be an int or None; got {label!r}")
        if label <= 0:
            raise ValueError(f"label must be a segment (1, 2, ...), not background; "
                             f"got {label}")
    if data.size == 0 or not data.any():
        if label is not None:
            raise ValueError(f"label {label} is not in the labels (they are all 0)")
        return []
    if data.dtype == bool:
        data = data.view(np.uint8)
    if int(data.max()) <= 1 << 16:
        boxes = ndi.find_objects(data)
        found = [(i + 1, box) for i, box in enumerate(boxes) if box is not None]
    else:  # huge label values: no lookup table of that length
        found = []
        for value in np.unique(data[data != 0]):
            where = np.nonzero(data == value)
            found.append((int(value), tuple(slice(int(w.min()), int(w.max()) + 1)
                                            for w in where)))
    if label is None:
        return found
    for value, box in found:
        if value == label:
            return [(value, box)]
    present = ", ".join(str(v) for v, _ in found[:20])
    raise ValueError(f"label {label} is not in the labels; present: {present}")


def _grow(box, margin, shape) -> tuple[slice, ...]:
    return tuple(slice(max(0, s.start - m), min(n, s.stop + m))
                 for s, m, n in zip(box, margin, shape, strict=True))


def _full_structure(ndim):
    return ndi.generate_binary_structure(ndim, ndim)


# --- smoothing --------------------------------------------------------------

def _kernel_voxels(size, spacing) -> np.ndarray:
    """Odd kernel width per axis nearest to ``size`` physical units (≥ 1)."""
    width = np.floor((size / spacing + 1) / 2 + 0.5) * 2 - 1  # halves round up
    return np.maximum(width, 1).astype(int)


def _ellipsoid(widths) -> np.ndarray:
    radii = (widths - 1) / 2
    grids = np.ogrid[tuple(slice(-r, r + 1) for r in radii.astype(int))]
    inside = sum((g / (r + 0.5)) ** 2 for g, r in zip(grids, radii, strict=True))
    return inside <= 1.0


def _smooth_mask(mask, method, footprint, sigma):
    """One segment's smoothed mask (same shape; outside continues the edge)."""
    if method == "gaussian":
        blurred = ndi.gaussian_filter(mask.astype(np.float32), sigma, mode="nearest")
        return blurred > 0.5
    pad = tuple((w // 2, w // 2) for w in footprint.shape)
    padded = np.pad(mask, pad, mode="edge")
    if method == "median":
        counts = ndi.correlate(padded.astype(np.float32), footprint.astype(np.float32),
                               mode="nearest")
        out = 2 * counts > footprint.sum()
    elif method == "opening":
        out = ndi.binary_opening(padded, footprint)
    else:  # closing
        out = ndi.binary_closing(padded, footprint)
    return out[tuple(slice(a, a + n) for (a, _), n in zip(pad, mask.shape, strict=True))]


def _smooth_joint(data, segments, sigma):
    reach = np.ceil(4 * sigma).astype(int) + 1
    best = np.zeros(data.shape, np.float32)
    winner = np.zeros(data.shape, data.dtype)
    for value, box in segments:
        crop = _grow(box, reach, data.shape)
        score = ndi.gaussian_filter((data[crop] == value).astype(np.float32), sigma,
                                    mode="nearest")
        better = score > best[crop]
        best[crop][better] = score[better]
        winner[crop][better] = value
    out = data.copy()
    labelled = data != 0
    out[labelled] = winner[labelled]
    return out


def smooth(labels, method="median", size=3.0, *, spacing=None, label=None):
    """Smooth segment borders, as 3D Slicer's *Smoothing* effect.

    Parameters
    ----------
    labels : ndarray of int, 2D or 3D
        Label image, 0 = background.
    method : {"median", "opening", "closing", "gaussian", "joint"}, default "median"
        Per segment:

        - ``"median"``: majority vote in an ellipsoid of diameter ``size``;
          removes small extrusions and fills small notches.
        - ``"opening"``: removes extrusions and islands thinner than ``size``.
        - ``"closing"``: fills notches and gaps narrower than ``size``; it
          only claims background, never another segment's voxels.
        - ``"gaussian"``: Gaussian of standard deviation ``size`` on the
          segment's mask, thresholded at 0.5.

        All segments at once:

        - ``"joint"``: each labelled voxel takes the segment whose
          Gaussian-smoothed mask (standard deviation ``size``) is highest
          there. Shared borders stay watertight: the set of labelled voxels
          is unchanged, so no gap opens and no labelled voxel becomes 0.
    size : float, default 3.0
        Kernel diameter in physical units (``"median"``, ``"opening"``,
        ``"closing"``; the width per axis is the odd number of voxels
        nearest to ``size / spacing``), or the Gaussian standard deviation
        (``"gaussian"``, ``"joint"``).
    spacing : sequence of float, optional
        Voxel size per axis, in the units of ``size``. Default 1.
    label : int, optional
        Smooth this segment only; the others are unchanged (a voxel of
        another segment is never taken). Not with ``"joint"``.

    Returns
    -------
    ndarray, same shape and dtype as ``labels``

    Raises
    ------
    ValueError
        Unknown ``method``; ``size`` not positive or below one voxel on
        every axis; bad ``spacing``; ``label`` absent, 0, or given with
        ``"joint"``.
    TypeError
        Non-integer labels.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.zeros((9, 9), np.uint8)
    >>> labels[2:7, 2:7] = 1
    >>> labels[4, 7] = 1  # a one-pixel spike
    >>> int(smooth(labels, "median", 3.0)[4, 7])
    0
    >>> labels[4, 4] = 0  # a one-pixel hole
    >>> int(smooth(labels, "closing", 3.0)[4, 4])
    1
    """
    data = _check_labels(labels)
    if method not in SMOOTHING_METHODS:
        raise ValueError(f"method must be one of {', '.join(SMOOTHING_METHODS)}; "
                         f"got {method!r}")
    size = _check_positive("size", size)
    spacing = _check_spacing(spacing, data.ndim)
    if method == "joint" and label is not None:
        raise ValueError(
            f"'joint' smooths all segments together; label={label!r} is for the "
            "per-segment methods (median, opening, closing, gaussian)"
        )
    segments = _segments(data, label)
    if method in ("gaussian", "joint"):
        sigma = size / spacing
        footprint = None
        reach = np.ceil(4 * sigma).astype(int) + 1
    else:
        widths = _kernel_voxels(size, spacing)
        if np.all(widths == 1):
            raise ValueError(
                f"size={size:g} is smaller than a voxel on every axis (spacing "
                f"{tuple(float(s) for s in spacing)}): the kernel would be one voxel. "
                f"Use at least {2 * float(spacing.min()):g}."
            )
        sigma = None
        footprint = _ellipsoid(widths)
        reach = widths // 2 + 1
    if method == "joint":
        return _smooth_joint(data, segments, sigma)

    out = data.copy()
    claimed = None
    for value, box in segments:
        crop = _grow(box, reach, data.shape)
        region = data[crop]
        mask = region == value
        smoothed = _smooth_mask(mask, method, footprint, sigma)
        target = out[crop]
        target[mask & ~smoothed] = 0
        if label is not None or method == "closing":
            # Only background may be claimed (closing can reach into neighbours);
            # with several segments, the first claim on a background voxel wins.
            grow = smoothed & (region == 0)
            if label is None:
                if claimed is None:
                    claimed = np.zeros(data.shape, bool)
                grow &= ~claimed[crop]
                claimed[crop] |= grow
        else:
            # Median and Gaussian give a voxel to at most one segment (a strict
            # majority), opening only shrinks: claims never collide.
            grow = smoothed & ~mask
        target[grow] = value
    return out


# --- holes and islands ------------------------------------------------------

def fill_holes(labels, *, label=None):
    """Fill background enclosed by a segment, as 3D Slicer's *Fill holes*.

    A hole of a segment is a part of its complement that does not reach
    the image border (face-connected background, so a diagonal gap still
    encloses). Only background voxels of a hole are filled; another
    segment inside is kept. A background pocket enclosed by several
    segments (a ring in a ring) goes to the innermost one.

    Parameters
    ----------
    labels : ndarray of int, 2D or 3D
    label : int, optional
        Fill the holes of this segment only.

    Returns
    -------
    ndarray, same shape and dtype as ``labels``

    Raises
    ------
    ValueError
        ``label`` absent or 0; labels not 2D/3D.
    TypeError
        Non-integer labels.

    Examples
    --------
    >>> import numpy as np
    >>> ring = np.zeros((7, 7), np.uint8)
    >>> ring[1:6, 1:6] = 2
    >>> ring[3, 3] = 0
    >>> int(fill_holes(ring)[3, 3])
    2
    """
    data = _check_labels(labels)
    segments = _segments(data, label)
    out = data.copy()
    # Smallest enclosing hole per voxel so far: nested holes go to the inner ring.
    best_size = None
    for value, box in segments:
        crop = _grow(box, (1,) * data.ndim, data.shape)
        region = data[crop]
        mask = region == value
        enclosed = ndi.binary_fill_holes(mask) & ~mask
        holes = enclosed & (region == 0)
        if not holes.any():
            continue
        # A pocket's size counts what else the hole holds (an inner ring and its
        # pocket), so the inner ring's smaller hole wins.
        pockets, _ = ndi.label(enclosed)
        sizes = np.bincount(pockets.ravel())[pockets].astype(np.int64)
        if best_size is None:
            best_size = np.full(data.shape, np.iinfo(np.int64).max)
        take = holes & (sizes < best_size[crop])
        best_size[crop][take] = sizes[take]
        out[crop][take] = value
    return out


def _islands(data, label, spacing, keep):
    """Remove the components of each segment that ``keep(volumes)`` rejects."""
    segments = _segments(data, label)
    out = data.copy()
    structure = _full_structure(data.ndim)
    removed = 0
    for value, box in segments:
        mask = data[box] == value
        components, n = ndi.label(mask, structure)
        if n < 2 and keep is _keep_largest:
            continue
        volumes = np.bincount(components.ravel())[1:] * float(np.prod(spacing))
        kept = np.concatenate([[True], keep(volumes)])
        drop = ~kept[components]
        removed += int(n - kept[1:].sum())
        out[box][drop] = 0
    return out, removed


def _keep_largest(volumes):
    kept = np.zeros(volumes.size, bool)
    kept[np.argmax(volumes)] = True
    return kept


def remove_small_objects(labels, min_volume, *, spacing=None, label=None,
                         return_count=False):
    """Set islands smaller than ``min_volume`` to 0, as Slicer's *Remove small islands*.

    Islands are the connected components of each segment (8-connected in
    2D, 26-connected in 3D: touching corners join).

    Parameters
    ----------
    labels : ndarray of int, 2D or 3D
    min_volume : float
        Smallest volume kept, in physical units to the power ndim (mm³ in
        3D, mm² in 2D, with ``spacing`` in mm). Islands of exactly this
        volume are kept.
    spacing : sequence of float, optional
        Voxel size per axis. Default 1 (``min_volume`` in voxels).
    label : int, optional
        Clean this segment only.
    return_count : bool, default False
        Also return the number of islands removed.

    Returns
    -------
    cleaned : ndarray, same shape and dtype as ``labels``
    n_removed : int
        Only with ``return_count=True``.

    Raises
    ------
    ValueError
        ``min_volume`` not positive, bad ``spacing``, ``label`` absent or 0.
    TypeError
        Non-integer labels.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.zeros((2, 8, 8), np.uint8)
    >>> labels[:, :4, :4] = 1            # 32 voxels: 32 mm³ at 2 × 0.5 × 1 mm
    >>> labels[0, 7, 7] = 1              # one voxel: 1 mm³
    >>> cleaned, n = remove_small_objects(labels, 5.0, spacing=(2, 0.5, 1),
    ...                                   return_count=True)
    >>> int(cleaned.sum()), n
    (32, 1)
    """
    data = _check_labels(labels)
    min_volume = _check_positive("min_volume", min_volume)
    spacing = _check_spacing(spacing, data.ndim)
    threshold = min_volume * (1 - _VOLUME_RTOL)
    out, removed = _islands(data, label, spacing, lambda volumes: volumes >= threshold)
    return (out, removed) if return_count else out


def keep_largest(labels, *, label=None, return_count=False):
    """Keep only the largest island of each segment, as Slicer's *Keep largest island*.

    Parameters
    ----------
    labels : ndarray of int, 2D or 3D
    label : int, optional
        Clean this segment only.
    return_count : bool, default False
        Also return the number of islands removed.

    Returns
    -------
    cleaned : ndarray, same shape and dtype as ``labels``
    n_removed : int
        Only with ``return_count=True``.

    Raises
    ------
    ValueError
        ``label`` absent or 0.
    TypeError
        Non-integer labels.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.array([[1, 1, 0, 1], [1, 1, 0, 0]], np.uint8)
    >>> keep_largest(labels)
    array([[1, 1, 0, 0],
           [1, 1, 0, 0]], dtype=uint8)
    """
    data = _check_labels(labels)
    out, removed = _islands(data, label, np.ones(data.ndim), _keep_largest)
    return (out, removed) if return_count else out
