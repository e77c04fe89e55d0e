"""Simulated user strokes for the accuracy bench (deterministic, seeded).

A stroke is a short curve painted inside one class, in one 2D slice (users
paint on slices): a breadth-first path inside the eroded class mask from a
random start, so that it follows thin structures (vessels, membranes) as a
user's brush does instead of leaving them like a straight line would.

- :func:`initial_strokes`: a few strokes per class inside the eroded ground truth.
- :func:`generated_strokes`: the same under one of several stroke protocols
  (:data:`GENERATORS`: ``core`` = :func:`initial_strokes`, ``inside`` = anywhere
  inside the class, no margin, ``border`` = within 2 px of another class, which
  on vessels means thin vessels and the pixels right beside them), each with
  ``-few`` / ``-many`` (half / twice the strokes) and ``-short`` / ``-long``
  (half / twice the steps) variants, e.g. ``border-many-short``. A method
  tuned on one protocol only wins on that protocol.
- :func:`correction_stroke`: one stroke of the true class inside the largest
  connected region of errors (the one a user would correct first).
"""

from __future__ import annotations

from collections import deque

import numpy as np
from scipy import ndimage as ndi

__all__ = ["GENERATORS", "correction_stroke", "generated_strokes", "initial_strokes",
           "path_in_mask"]

_STEPS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]



def _per_class(value, c):
    """``value[c]`` for a per-class dict, else ``value`` itself."""
    return value[c] if isinstance(value, dict) else value

def path_in_mask(mask2d, start, length, rng):
    """Pixels of a path of up to ``length`` steps inside ``mask2d`` from ``start``.

    Breadth-first search within a window; the end is a random pixel among
    the farthest reached (so the path bends with the structure).
    """
    h, w = mask2d.shape
    r0, c0 = (int(v) for v in start)
    lo_r, hi_r = max(r0 - length, 0), min(r0 + length + 1, h)
    lo_c, hi_c = max(c0 - length, 0), min(c0 + length + 1, w)
    win = mask2d[lo_r:hi_r, lo_c:hi_c]
    sr, sc = r0 - lo_r, c0 - lo_c
    dist = np.full(win.shape, -1, np.int32)
    parent = np.full(win.shape + (2,), -1, np.int32)
    dist[sr, sc] = 0
    queue = deque([(sr, sc)])
    while queue:
        r, c = queue.popleft()
        if dist[r, c] >= length:
            continue
        for dr, dc in _STEPS:
            rr, cc = r + dr, c + dc
            if 0 <= rr < win.shape[0] and 0 <= cc < win.shape[1] and win[rr, cc] \
                    and dist[rr, cc] < 0:
                dist[rr, cc] = dist[r, c] + 1
                parent[rr, cc] = (r, c)
                queue.append((rr, cc))
    far = np.argwhere(dist == dist.max())
    r, c = far[rng.integers(len(far))]
    path = []
    while r >= 0:
        path.append((r + lo_r, c + lo_c))
        r, c = parent[r, c]
    return np.array(path)


def _erode2d(mask, margin):
    """Erode in-plane only (each 2D slice of a volume on its own)."""
    if margin <= 0:
        return mask
    structure = ndi.generate_binary_structure(2, 1)
    if mask.ndim == 3:
        structure = structure[np.newaxis]
    return ndi.binary_erosion(mask, structure, iterations=margin)


def _paint(seeds, truth, index, path, label):
    """Paint ``path`` (rows, cols in slice ``index[:-2]``) where truth == label."""
    for r, c in path:
        key = tuple(index) + (r, c)
        if truth[key] == label:
            seeds[key] = label


def initial_strokes(truth, *, n_strokes=4, length=20, margin=2, random_state=0):
    """A few short strokes per class (``truth`` values > 0) inside the eroded truth.

    Parameters
    ----------
    truth : ndarray of int, 2D or 3D
        1..K class labels; 0 = not scored, never seeded.
    n_strokes : int or dict
        Strokes per class (a dict: per class label).
    length : int or dict
        Steps per stroke.
    margin : int or dict
        In-plane erosion of each class mask before drawing (reduced when
        nothing would be left).
    random_state : int

    Returns
    -------
    seeds : ndarray of uint8, the shape of ``truth``
    """
    rng = np.random.default_rng(random_state)
    seeds = np.zeros(truth.shape, np.uint8)

    for c in np.unique(truth):
        if c == 0:
            continue
        inside = truth == c
        m = _per_class(margin, c)
        eroded = _erode2d(inside, m)
        while m > 0 and eroded.sum() < 50:
            m -= 1
            eroded = _erode2d(inside, m)
        points = np.argwhere(eroded)
        for _ in range(_per_class(n_strokes, c)):
            start = points[rng.integers(len(points))]
            index, rc = start[:-2], start[-2:]
            mask2d = eroded[tuple(index)]
            path = path_in_mask(mask2d, rc, _per_class(length, c), rng)
            _paint(seeds, truth, index, path, c)
    return seeds


#: Stroke protocols of :func:`generated_strokes` (variants: ``-few``, ``-many``,
#: ``-short``, ``-long``).
GENERATORS = ("core", "inside", "border")
#: Border band: class pixels within this in-plane distance of another class.
BORDER_BAND = 2.0


def _inplane_distance(mask):
    """Euclidean distance to the nearest False pixel, slice by slice for a volume."""
    if mask.ndim == 2:
        return ndi.distance_transform_edt(mask)
    return np.stack([ndi.distance_transform_edt(m) for m in mask])


def _variant(generator, n_strokes, length):
    """(protocol, n_strokes, length) from a name such as ``border-many-short``."""
    protocol, *mods = generator.split("-")
    if protocol not in GENERATORS:
        raise ValueError(f"unknown stroke generator {generator!r}; protocols are "
                         f"{', '.join(GENERATORS)} with -few/-many/-short/-long")
    scale = {"few": ("n", 0.5), "many": ("n", 2.0), "short": ("len", 0.5),
             "long": ("len", 2.0)}

    def scaled(value, factor):
        if isinstance(value, dict):
            return {k: max(1 if factor < 1 else 2, int(round(v * factor)))
                    for k, v in value.items()}
        return max(1, int(round(value * factor)))

    for mod in mods:
        if mod not in scale:
            raise ValueError(f"unknown stroke variant {mod!r} in {generator!r}")
        what, factor = scale[mod]
        if what == "n":
            n_strokes = scaled(n_strokes, factor)
        else:
            length = scaled(length, factor)
    return protocol, n_strokes, length


def generated_strokes(truth, generator="core", *, n_strokes=4, length=20, margin=2,
                      random_state=0):
    """Strokes per class under one protocol of :data:`GENERATORS` (and its variant).

    ``core`` is :func:`initial_strokes` (inside the truth eroded by
    ``margin``); ``inside`` paints anywhere in the class (no margin);
    ``border`` starts and stays within :data:`BORDER_BAND` px (in-plane) of
    another scored class (pixels of ``truth == 0`` are not a border: the
    retina's field-of-view edge is not where a user hesitates). A class with
    fewer than 20 such pixels falls back to ``inside``.
    """
    protocol, n_strokes, length = _variant(generator, n_strokes, length)
    if protocol == "core":
        return initial_strokes(truth, n_strokes=n_strokes, length=length, margin=margin,
                               random_state=random_state)
    rng = np.random.default_rng(random_state)
    seeds = np.zeros(truth.shape, np.uint8)

    for c in np.unique(truth):
        if c == 0:
            continue
        inside = truth == c
        allowed = inside
        if protocol == "border":
            others = (truth > 0) & ~inside
            band = inside & (_inplane_distance(~others) <= BORDER_BAND)
            if band.sum() >= 20:
                allowed = band
        points = np.argwhere(allowed)
        for _ in range(_per_class(n_strokes, c)):
            start = points[rng.integers(len(points))]
            index, rc = start[:-2], start[-2:]
            path = path_in_mask(allowed[tuple(index)], rc, _per_class(length, c), rng)
            _paint(seeds, truth, index, path, c)
    return seeds


def correction_stroke(prediction, truth, seeds, *, length=20, scored=None,
                      random_state=0):
    """One stroke of the true class inside the largest connected error region.

    Errors are scored pixels (truth > 0, not seeded, inside ``scored``)
    whose prediction differs; regions are connected components of the
    errors of one true class. The stroke starts at the region's deepest
    pixel (largest in-plane distance to its border) and stays inside it.

    Returns
    -------
    seeds : ndarray, a copy with the stroke added (unchanged if no error)
    label : int
        The class painted (0 if there was no error).
    """
    rng = np.random.default_rng(random_state)
    errors = (prediction != truth) & (truth > 0) & (seeds == 0)
    if scored is not None:
        errors &= scored
    best, best_size, best_class = None, 0, 0
    structure = ndi.generate_binary_structure(truth.ndim, truth.ndim)
    for c in np.unique(truth[errors]):
        comp, n = ndi.label(errors & (truth == c), structure)
        if n == 0:
            continue
        sizes = np.bincount(comp.ravel())
        sizes[0] = 0
        k = int(sizes.argmax())
        if sizes[k] > best_size:
            best, best_size, best_class = comp == k, int(sizes[k]), int(c)
    out = seeds.copy()
    if best is None:
        return out, 0
    if best.ndim == 3:
        z = int(best.sum(axis=(1, 2)).argmax())
        region, index = best[z], (z,)
    else:
        region, index = best, ()
    depth = ndi.distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]
    start = np.unravel_index(int(depth.argmax()), region.shape)
    path = path_in_mask(region, start, length, rng)
    _paint(out, truth, index, path, best_class)
    return out, best_class
