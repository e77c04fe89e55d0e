"""Surface distances between two segmentations, in physical units (Hausdorff, HD95, ASSD).

Conventions are those of :mod:`napari_seglab.core.metrics`: boundary pixels
are foreground pixels with a background face-neighbour (the image border
counts as background); one empty foreground gives ``inf``, two give ``nan``.
"""

from __future__ import annotations

import numpy as np

from .metrics import _as_label_arrays

__all__ = ["assd", "hausdorff95", "hausdorff_distance", "surface_distances"]


def _boundary(mask):
    from scipy import ndimage as ndi

    if mask.ndim == 0:
        return mask.copy()
    structure = ndi.generate_binary_structure(mask.ndim, 1)
    return mask & ~ndi.binary_erosion(mask, structure=structure, border_value=0)


def _check_spacing(spacing, ndim):
    if spacing is None:
        return (1.0,) * ndim
    sp = np.atleast_1d(np.asarray(spacing, dtype=float))
    if sp.ndim != 1 or sp.size not in (1, ndim):
        raise ValueError(
            f"spacing must be a number or one number per axis ({ndim}); got {spacing!r}"
        )
    if not np.all(np.isfinite(sp) & (sp > 0)):
        raise ValueError(f"spacing must be finite and > 0; got {spacing!r}")
    return tuple(np.broadcast_to(sp, (ndim,)).tolist())


def surface_distances(truth, pred, spacing=None) -> tuple:
    """Distances between the boundaries of two foregrounds, in physical units.

    Parameters
    ----------
    truth, pred : array-like of int or bool, same shape (2D or 3D or nD)
        Non-zero is foreground (pass ``labels == k`` for one class).
    spacing : float or sequence of float, optional
        Pixel size along each axis (default 1).

    Returns
    -------
    d_truth, d_pred : ndarray of float64
        For each boundary pixel of ``truth``, the distance to the nearest
        boundary pixel of ``pred``; and the other way round. If the other
        foreground is empty these distances are ``inf``; an empty foreground
        has an empty array.

    Raises
    ------
    TypeError
        If an array does not hold integer labels.
    ValueError
        If the shapes differ, or ``spacing`` is not positive with one value
        per axis.

    Examples
    --------
    >>> a = np.zeros((5, 5), bool); a[1:4, 1:4] = True
    >>> b = np.roll(a, 1, axis=1)
    >>> d_a, d_b = surface_distances(a, b, spacing=(1, 0.5))
    >>> float(d_a.max()), float(d_b.max())
    (0.5, 0.5)
    """
    from scipy import ndimage as ndi

    t, p, _ = _as_label_arrays(truth, pred)
    t, p = t != 0, p != 0
    spacing = _check_spacing(spacing, t.ndim)
    bt, bp = _boundary(t), _boundary(p)

    def directed(src, dst):
        if not src.any():
            return np.zeros(0)
        if not dst.any():
            return np.full(int(src.sum()), np.inf)
        return ndi.distance_transform_edt(~dst, sampling=spacing)[src]

    return directed(bt, bp), directed(bp, bt)


def _directed_percentile(d, q):
    return float(np.percentile(d, q)) if d.size else float("nan")


def hausdorff_distance(truth, pred, spacing=None, percentile=100.0) -> float:
    """(Percentile) Hausdorff distance between two foregrounds' boundaries.

    Parameters
    ----------
    truth, pred : array-like of int or bool, same shape
        Non-zero is foreground.
    spacing : float or sequence of float, optional
        Pixel size along each axis (default 1).
    percentile : float
        ``100`` (default): the Hausdorff distance; ``95``: the robust HD95.
        The larger of the two directed percentiles is returned.

    Returns
    -------
    float
        In the units of ``spacing``. ``inf`` if exactly one foreground is
        empty, ``nan`` if both are.

    Raises
    ------
    TypeError, ValueError
        As :func:`surface_distances`, or if ``percentile`` is not in [0, 100].

    Examples
    --------
    >>> a = np.zeros((6, 6), bool); a[1:4, 1:4] = True
    >>> hausdorff_distance(a, np.roll(a, 2, axis=0), spacing=1.5)
    3.0
    """
    if not 0 <= percentile <= 100:
        raise ValueError(f"percentile must be in [0, 100]; got {percentile!r}")
    d_t, d_p = surface_distances(truth, pred, spacing)
    if d_t.size == 0 and d_p.size == 0:
        return float("nan")
    if d_t.size == 0 or d_p.size == 0:
        return float("inf")
    return max(_directed_percentile(d_t, percentile), _directed_percentile(d_p, percentile))


def hausdorff95(truth, pred, spacing=None) -> float:
    """95th-percentile Hausdorff distance (HD95), see :func:`hausdorff_distance`.

    Parameters
    ----------
    truth, pred : array-like of int or bool, same shape
        Non-zero is foreground.
    spacing : float or sequence of float, optional
        Pixel size along each axis (default 1).

    Returns
    -------
    float
        ``max(P95(d_truth), P95(d_pred))`` of :func:`surface_distances`;
        ``inf`` if exactly one foreground is empty, ``nan`` if both are.

    Raises
    ------
    TypeError, ValueError
        As :func:`surface_distances`.

    Examples
    --------
    >>> a = np.zeros((8, 8), bool); a[2:5, 2:5] = True
    >>> hausdorff95(a, np.roll(a, 1, axis=1))
    1.0
    """
    return hausdorff_distance(truth, pred, spacing, percentile=95.0)


def assd(truth, pred, spacing=None) -> float:
    """Average symmetric surface distance.

    The mean of all distances of :func:`surface_distances`, both directions
    pooled: ``(sum(d_truth) + sum(d_pred)) / (len(d_truth) + len(d_pred))``.

    Parameters
    ----------
    truth, pred : array-like of int or bool, same shape
        Non-zero is foreground.
    spacing : float or sequence of float, optional
        Pixel size along each axis (default 1).

    Returns
    -------
    float
        In the units of ``spacing``; ``inf`` if exactly one foreground is
        empty, ``nan`` if both are.

    Raises
    ------
    TypeError, ValueError
        As :func:`surface_distances`.

    Examples
    --------
    >>> a = np.zeros((8, 8), bool); a[2:5, 2:5] = True
    >>> assd(a, a)
    0.0
    """
    d_t, d_p = surface_distances(truth, pred, spacing)
    if d_t.size == 0 and d_p.size == 0:
        return float("nan")
    if d_t.size == 0 or d_p.size == 0:
        return float("inf")
    return float((d_t.sum() + d_p.sum()) / (d_t.size + d_p.size))
