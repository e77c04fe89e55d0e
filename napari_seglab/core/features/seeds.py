"""Features where they are needed: the margin a region reads (halo) and the features at seed pixels."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from .engine import _Plan, compute_features
from .spec import PRESETS, _resolve_spec


def feature_halo(spec, shape, spacing=None) -> list[int]:
    """Margin (voxels per axis) the features of a region read around it.

    Also checks every σ of ``spec`` against the image ``shape``: a region
    computed with this margin gives the whole image's values.

    Raises
    ------
    ValueError
        For a σ whose kernel exceeds the image (what :func:`compute_features`
        raises).
    """
    spec = _resolve_spec(spec)
    if spacing is None or np.ndim(spacing) == 0:
        spacing = (1.0 if spacing is None else float(spacing),) * len(shape)
    return list(_Plan(spec, tuple(int(n) for n in shape),
                      tuple(float(s) for s in spacing)).halo)


def spec_for_shape(spec, shape, spacing=None):
    """``spec``, or its 2D-per-slice form when a volume is too thin for its 3D filters.

    A 3-slice stack cannot hold a 3D Gaussian of σ 1.6 voxels along its thin
    axis (nor a 10-slice stack one of σ 8); filtering each slice in 2D can.

    Returns
    -------
    spec : FeatureSpec
    note : str
        Empty, or what was changed and why (for a warning or a status line).

    Examples
    --------
    >>> spec, note = spec_for_shape("blend", (8, 64, 64))
    >>> spec.mode, note.split(":")[0]
    ('2d', 'the volume is too thin along its first axis (8 slices of 1) for 3D filters at these σ')
    """
    spec = _resolve_spec(spec)
    if len(shape) != 3 or spec.mode != "3d":
        return spec, ""
    try:
        feature_halo(spec, shape, spacing)
    except ValueError:
        flat = replace(spec, mode="2d")
        try:
            feature_halo(flat, shape, spacing)
        except ValueError:
            return spec, ""  # too small even per slice: compute_features says why
        first = 1.0 if spacing is None else abs(float(np.atleast_1d(spacing)[0]))
        return flat, (f"the volume is too thin along its first axis ({shape[0]} slices of "
                      f"{first:g}) for 3D filters at these σ: features are computed per "
                      "slice (2D)")
    return spec, ""


def _seed_boxes(coords, shape, halo):
    """Boxes to compute features in: ``[(rows, box)]``, ``box=None`` = whole image.

    One box per run of consecutive seeded slices of a volume (strokes sit on a
    few slices), one for a 2D image. Each box is computed with a margin of
    ``halo`` voxels per axis, so neighbouring boxes whose margins overlap are
    merged when that is cheaper, and the whole image is used when the boxes
    would cost as much.
    """
    n = coords[0].size

    def cost(lo, hi):
        return math.prod(min(size, b + h) - max(0, a - h)
                         for a, b, h, size in zip(lo, hi, halo, shape))

    def bounds(rows):
        return ([int(c[rows].min()) for c in coords], [int(c[rows].max()) + 1 for c in coords])

    if len(shape) == 2:
        runs = [np.arange(n)]
    else:
        slices = np.unique(coords[0])
        breaks = slices[1:][np.diff(slices) > 1]
        run = np.searchsorted(breaks, coords[0], side="right")
        runs = [np.flatnonzero(run == r) for r in range(breaks.size + 1)]
    merged = []  # [rows, lo, hi], runs in slice order
    for rows in runs:
        lo, hi = bounds(rows)
        if merged:
            last = merged[-1]
            both_lo = [min(a, b) for a, b in zip(last[1], lo)]
            both_hi = [max(a, b) for a, b in zip(last[2], hi)]
            if cost(both_lo, both_hi) <= cost(last[1], last[2]) + cost(lo, hi):
                merged[-1] = [np.concatenate([last[0], rows]), both_lo, both_hi]
                continue
        merged.append([rows, lo, hi])
    if sum(cost(lo, hi) for _, lo, hi in merged) >= math.prod(shape):
        return [(np.arange(n), None)]
    return [(rows, tuple(slice(a, b) for a, b in zip(lo, hi))) for rows, lo, hi in merged]


def seed_features(image, seeds, spec, *, spacing=None, channel_axis=None,
                 max_per_class=5000, random_state=0):
    """Features at (a balanced subset of) the seed pixels, computed around them only.

    Features are computed for the bounding box of the chosen seed pixels
    (for a volume: one box per run of consecutive seeded slices, merged where
    their margins overlap) with the margin :func:`compute_features` adds, so
    the values equal those of the whole image while the cost follows the
    seeds; when the boxes would cost as much as the image, the whole image
    is computed once.

    Parameters
    ----------
    image : ndarray
        2D/3D image, plus ``channel_axis`` if it has channels.
    seeds : ndarray of int, shape ``spatial``
        0 = not seeded.
    spec : FeatureSpec or str
        The features. Z-scoring is left out (its statistics would be the
        boxes', not the image's); scores of tree-based rankings do not
        depend on it.
    spacing, channel_axis
        As in :func:`compute_features`.
    max_per_class : int, optional
        Seed pixels kept per class (see ``balanced_seed_indices``).
    random_state : int, optional
        Seed of that subsampling.

    Returns
    -------
    X : ndarray of float32, shape (n_samples, n_features)
    y : ndarray, shape (n_samples,)
        The seed labels.

    Raises
    ------
    ValueError
        If ``seeds`` does not have the image's spatial shape, or what
        :func:`compute_features` raises.
    """
    spec = PRESETS[spec] if isinstance(spec, str) else spec
    spec = replace(spec, normalize=False)
    data = np.asarray(image)
    shape = data.shape if channel_axis is None else np.delete(data.shape, channel_axis)
    shape = tuple(int(n) for n in shape)
    seeds = np.asarray(seeds)
    if seeds.shape != shape:
        raise ValueError(f"seeds must have the image's spatial shape {shape}; "
                         f"got {seeds.shape}")
    from ..training import balanced_seed_indices

    index, _ = balanced_seed_indices(seeds, max_per_class=max_per_class,
                                     random_state=random_state)
    coords = np.unravel_index(index, shape)
    y = seeds.ravel()[index]
    n_channels = 1 if channel_axis is None else data.shape[channel_axis]
    X = np.empty((index.size, spec.n_features(n_channels, len(shape))), np.float32)
    if index.size == 0:
        return X, y
    if spacing is None or np.ndim(spacing) == 0:
        spacing = (1.0 if spacing is None else float(spacing),) * len(shape)
    halo = feature_halo(spec, shape, spacing)  # checks every σ
    for rows, box in _seed_boxes(coords, shape, halo):
        feats = compute_features(data, spec, spacing=spacing, channel_axis=channel_axis,
                                 region=box)
        local = tuple(c[rows] - (0 if box is None else b.start) for c, b in
                      zip(coords, box or (None,) * len(shape)))
        X[rows] = feats[local]
    return X, y
