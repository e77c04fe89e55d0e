"""Where the next stroke helps most: the largest uncertain region of a result.

A seeded model's probabilities say where it hesitates. The margin
uncertainty of ilastik, ``1 - (p1 - p2)`` (``p1 >= p2`` the two largest
class probabilities), is 0 where one class wins outright and 1 where two
tie. A stroke helps most in a large connected region of high uncertainty:
:func:`suggest_regions` ranks those regions by their summed uncertainty, and
the widget moves the view to the first one (a *Next* button).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

__all__ = ["StrokeSuggestion", "margin_uncertainty", "slice_uncertainty",
           "suggest_regions", "next_region"]


def _check_proba(proba):
    proba = np.asarray(proba)
    if proba.ndim not in (3, 4) or proba.shape[-1] < 2:
        raise ValueError(
            f"proba must be spatial (2D or 3D) + (n_classes >= 2,); got shape {proba.shape}"
        )
    if not np.issubdtype(proba.dtype, np.floating):
        raise TypeError(f"proba must hold floats; got dtype {proba.dtype}")
    return proba


def margin_uncertainty(proba):
    """``1 - (p1 - p2)`` per pixel: 0 = sure, 1 = the two best classes tie.

    Parameters
    ----------
    proba : ndarray of float, shape ``spatial + (n_classes,)``

    Returns
    -------
    ndarray of float32, the spatial shape

    Raises
    ------
    ValueError
        For fewer than two classes or a non-spatial shape.
    TypeError
        For non-float probabilities.

    Examples
    --------
    >>> p = np.array([[[0.9, 0.1], [0.5, 0.5]]], np.float32)
    >>> [[round(float(v), 2) for v in row] for row in margin_uncertainty(p)]
    [[0.2, 1.0]]
    """
    proba = _check_proba(proba)
    top2 = np.partition(proba, proba.shape[-1] - 2, axis=-1)[..., -2:]
    return (1.0 - (top2[..., 1] - top2[..., 0])).astype(np.float32)


def slice_uncertainty(proba, *, axis=0):
    """Summed margin uncertainty of each slice along ``axis`` of a 3D result.

    Examples
    --------
    >>> p = np.zeros((3, 4, 4, 2), np.float32); p[..., 0] = 1; p[1, :2] = 0.5
    >>> int(slice_uncertainty(p).argmax())
    1
    """
    u = margin_uncertainty(proba)
    if u.ndim != 3:
        raise ValueError(f"slice_uncertainty needs a 3D result; got spatial shape {u.shape}")
    other = tuple(a for a in range(3) if a != axis % 3)
    return u.sum(axis=other, dtype=np.float64)


@dataclass(frozen=True)
class StrokeSuggestion:
    """One uncertain region where a stroke would help.

    Attributes
    ----------
    centre : tuple of int
        The region's most uncertain pixel among its deepest (in-plane for a
        volume): where to paint.
    bbox : tuple of (int, int)
        ``(start, stop)`` per spatial axis.
    size : int
        Pixels in the region.
    score : float
        Summed uncertainty of the region (the ranking key).
    slice : int or None
        For a volume, the index along the first axis to show (``centre[0]``).
    """

    centre: tuple
    bbox: tuple
    size: int
    score: float
    slice: int | None


def suggest_regions(proba, *, seeds=None, threshold=0.5, n=5, min_size=4):
    """Uncertain connected regions, most useful first.

    Parameters
    ----------
    proba : ndarray of float, shape ``spatial + (n_classes,)``
    seeds : ndarray of int, optional
        Seeded pixels (> 0) are already decided and left out.
    threshold : float, default 0.5
        Pixels with margin uncertainty at least this form the regions
        (0.5: the best class leads the second by less than 0.5).
    n : int, default 5
        Regions returned at most.
    min_size : int, default 4
        Smaller regions are ignored (noise).

    Returns
    -------
    list of StrokeSuggestion
        By decreasing ``score``; empty when nothing is uncertain.

    Raises
    ------
    ValueError
        For a threshold outside [0, 1], ``n < 1`` or seeds of another shape.

    Examples
    --------
    >>> p = np.zeros((20, 20, 2), np.float32); p[..., 0] = 1
    >>> p[2:4, 2:4] = 0.5; p[10:16, 10:16] = (0.55, 0.45)
    >>> best = suggest_regions(p)[0]
    >>> best.size, best.bbox
    (36, ((10, 16), (10, 16)))
    """
    if not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"threshold must be in [0, 1]; got {threshold}")
    if int(n) < 1:
        raise ValueError(f"n must be >= 1; got {n}")
    u = margin_uncertainty(proba)
    uncertain = u >= threshold
    if seeds is not None:
        seeds = np.asarray(seeds)
        if seeds.shape != u.shape:
            raise ValueError(f"seeds must have the spatial shape {u.shape}; got {seeds.shape}")
        uncertain &= seeds == 0
    labels, count = ndi.label(uncertain, ndi.generate_binary_structure(u.ndim, u.ndim))
    if count == 0:
        return []
    index = np.arange(1, count + 1)
    sizes = ndi.sum_labels(np.ones_like(u), labels, index)
    scores = ndi.sum_labels(u, labels, index)
    order = [i for i in np.argsort(-scores, kind="stable") if sizes[i] >= min_size][: int(n)]
    boxes = ndi.find_objects(labels)
    out = []
    for i in order:
        box = boxes[i]
        region = labels[box] == i + 1
        centre = _deepest(region, u[box])
        centre = tuple(int(c + b.start) for c, b in zip(centre, box, strict=True))
        out.append(StrokeSuggestion(
            centre=centre, bbox=tuple((b.start, b.stop) for b in box),
            size=int(sizes[i]), score=float(scores[i]),
            slice=centre[0] if u.ndim == 3 else None))
    return out


def _deepest(region, u):
    """A pixel far from the region's border (in-plane), most uncertain among ties."""
    if region.ndim == 3:
        z = int(region.sum(axis=(1, 2)).argmax())
        r, c = _deepest(region[z], u[z])
        return z, r, c
    depth = ndi.distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]
    key = np.where(region, depth + 0.01 * u, -1.0)
    return np.unravel_index(int(key.argmax()), region.shape)


def next_region(proba, *, seeds=None, threshold=0.5, min_size=4):
    """The one region where the next stroke helps most, or None.

    Same as ``suggest_regions(..., n=1)[0]``.

    Examples
    --------
    >>> p = np.zeros((3, 8, 8, 2), np.float32); p[..., 0] = 1; p[2, 2:6, 2:6] = 0.5
    >>> next_region(p).slice
    2
    """
    found = suggest_regions(proba, seeds=seeds, threshold=threshold, n=1, min_size=min_size)
    return found[0] if found else None
