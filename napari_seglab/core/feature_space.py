"""Feature space: every pixel as a point of two features, fast and exact.

Three things a feature-space plot needs over millions of pixels:

- :func:`density`: the 2D histogram of all pixels, equal to
  :func:`numpy.histogram2d` on the same bins.
- :func:`select`: the pixels inside a lasso or rectangle, equal to
  ``matplotlib.path.Path(polygon).contains_points`` for every point.
- :func:`decision_regions`: a classifier's labels on a grid of the two
  shown features.

Both :func:`density` and :func:`select` go through a
:class:`FeatureSpaceIndex`: the bin of every point, computed once per pair
of features. A selection then decides whole bins at once (a bin the polygon
boundary does not touch is wholly inside or wholly outside) and tests
points exactly only in the bins the boundary crosses.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numba
import numpy as np

__all__ = [
    "FeatureSpaceIndex",
    "DecisionRegions",
    "density",
    "select",
    "decision_regions",
    "class_histograms",
    "class_mean_spectra",
]

#: Points per work item of the compiled loops (two cores share them).
_CHUNK = 1 << 20
#: Bins a selection decides at once are kept clear of the polygon by this
#: share of the coordinate scale: far beyond float64 rounding, so the exact
#: crossing test of any point in such a bin agrees with the bin's answer.
_MARGIN = 1e-9


# -- compiled kernels (nogil: chunks run on a thread pool) ------------------


@numba.njit(nogil=True, cache=True)
def _bin_index_1d(v, edges, out):
    """numpy.histogram's bin of each value; -1 outside the edges or NaN."""
    n = edges.size - 1
    lo = edges[0]
    hi = edges[n]
    scale = n / (hi - lo)
    for i in range(v.size):
        t = np.float64(v[i])
        if not (t >= lo and t <= hi):
            out[i] = -1
            continue
        k = int((t - lo) * scale)
        if k > n - 1:
            k = n - 1
        if k < 0:
            k = 0
        # searchsorted(edges, t, "right") - 1, the last bin closed
        while k > 0 and t < edges[k]:
            k -= 1
        while k < n - 1 and t >= edges[k + 1]:
            k += 1
        out[i] = k


@numba.njit(nogil=True, cache=True)
def _combine(ix, iy, ny, out):
    for i in range(ix.size):
        a = ix[i]
        b = iy[i]
        out[i] = -1 if (a < 0 or b < 0) else a * ny + b


@numba.njit(nogil=True, cache=True)
def _count(flat, n_bins):
    counts = np.zeros(n_bins, np.int64)
    for i in range(flat.size):
        k = flat[i]
        if k >= 0:
            counts[k] += 1
    return counts


@numba.njit(nogil=True, cache=True)
def _inside_edges(tx, ty, vx, vy, edges):
    """Even-odd crossing test of one point against some edges of a closed polygon.

    Operation for operation matplotlib's ``point_in_path_impl`` (``_path.h``)
    for one closed subpath; edge k joins vertex k to vertex k + 1 (the last
    to the first). An edge whose y-range misses ``ty`` never counts (both
    ends on one side of the ray), so testing only the edges that overlap the
    point's row of bins gives matplotlib's answer.
    """
    if not (np.isfinite(tx) and np.isfinite(ty)):
        return False
    n = vx.size
    flag = False
    for e in edges:
        x0 = vx[e]
        y0 = vy[e]
        x1 = vx[(e + 1) % n]
        y1 = vy[(e + 1) % n]
        yflag1 = y1 >= ty
        if (y0 >= ty) != yflag1:
            if ((y1 - ty) * (x0 - x1) >= (x1 - tx) * (y0 - y1)) == yflag1:
                flag = not flag
    return flag


@numba.njit(nogil=True, cache=True)
def _row_edges(vx, vy, ye):
    """Per row of bins, the polygon edges whose closed y-range overlaps it (CSR)."""
    n = vx.size
    ny = ye.size - 1
    counts = np.zeros(ny + 1, np.int64)
    for k in range(n):
        lo = min(vy[k], vy[(k + 1) % n])
        hi = max(vy[k], vy[(k + 1) % n])
        for j in range(ny):
            if ye[j] <= hi and ye[j + 1] >= lo:
                counts[j + 1] += 1
    ptr = np.cumsum(counts)
    fill = ptr[:-1].copy()
    edges = np.empty(ptr[-1], np.int64)
    for k in range(n):
        lo = min(vy[k], vy[(k + 1) % n])
        hi = max(vy[k], vy[(k + 1) % n])
        for j in range(ny):
            if ye[j] <= hi and ye[j + 1] >= lo:
                edges[fill[j]] = k
                fill[j] += 1
    return ptr, edges


@numba.njit(nogil=True, cache=True)
def _select_chunk(x, y, flat, lut, ny, ptr, row_edges, all_edges, vx, vy, out):
    for i in range(x.size):
        k = flat[i]
        if k < 0:  # outside the index's range: every edge
            out[i] = _inside_edges(np.float64(x[i]), np.float64(y[i]), vx, vy, all_edges)
            continue
        code = lut[k]
        if code == 2:
            j = k % ny
            out[i] = _inside_edges(np.float64(x[i]), np.float64(y[i]), vx, vy,
                                   row_edges[ptr[j]:ptr[j + 1]])
        else:
            out[i] = code == 1


@numba.njit(nogil=True, cache=True)
def _boundary_cells(vx, vy, xe, ye, mx, touched):
    """Mark every bin the closed polygon's edges touch (bins widened by mx in x)."""
    n = vx.size
    nx = xe.size - 1
    ny = ye.size - 1
    for k in range(n):
        x0 = vx[k]
        y0 = vy[k]
        x1 = vx[(k + 1) % n]
        y1 = vy[(k + 1) % n]
        ylo = min(y0, y1)
        yhi = max(y0, y1)
        for j in range(ny):
            if ye[j] > yhi or ye[j + 1] < ylo:
                continue
            # x-extent of the edge within this row of bins
            if y0 == y1:
                xa = min(x0, x1)
                xb = max(x0, x1)
            else:
                ta = (max(ye[j], ylo) - y0) / (y1 - y0)
                tb = (min(ye[j + 1], yhi) - y0) / (y1 - y0)
                ta = min(max(ta, 0.0), 1.0)
                tb = min(max(tb, 0.0), 1.0)
                xa = x0 + ta * (x1 - x0)
                xb = x0 + tb * (x1 - x0)
                if xa > xb:
                    xa, xb = xb, xa
            xa -= mx
            xb += mx
            for i in range(nx):
                if xe[i + 1] >= xa and xe[i] <= xb:
                    touched[i, j] = True


@numba.njit(nogil=True, cache=True)
def _classify_cells(vx, vy, xe, ye, touched, lut):
    """0 outside, 1 inside, 2 boundary; untouched bins by one scanline each."""
    n = vx.size
    nx = xe.size - 1
    ny = ye.size - 1
    xs = np.empty(n, np.float64)
    for j in range(ny):
        ty = 0.5 * (ye[j] + ye[j + 1])
        m = 0
        for k in range(n):
            x0 = vx[k]
            y0 = vy[k]
            x1 = vx[(k + 1) % n]
            y1 = vy[(k + 1) % n]
            if (y0 >= ty) != (y1 >= ty):
                xs[m] = x0 + (ty - y0) * (x1 - x0) / (y1 - y0)
                m += 1
        crossings = np.sort(xs[:m])
        p = 0
        for i in range(nx):
            if touched[i, j]:
                lut[i * ny + j] = 2
                continue
            tx = 0.5 * (xe[i] + xe[i + 1])
            while p < m and crossings[p] <= tx:
                p += 1
            lut[i * ny + j] = (m - p) % 2


def _n_workers():
    return max(1, min(2, os.cpu_count() or 1))


def _chunks(n):
    return [(i, min(n, i + _CHUNK)) for i in range(0, n, _CHUNK)]


def _run_chunked(fn, n):
    """Run ``fn(lo, hi)`` over chunks of ``range(n)`` on a small thread pool."""
    chunks = _chunks(n)
    if len(chunks) <= 1 or _n_workers() == 1:
        return [fn(lo, hi) for lo, hi in chunks]
    with ThreadPoolExecutor(_n_workers()) as pool:
        return list(pool.map(lambda c: fn(*c), chunks))


# -- validation --------------------------------------------------------------


def _as_points(x, y):
    x = np.asarray(x)
    y = np.asarray(y)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape; got {x.shape} and {y.shape}")
    for name, v in (("x", x), ("y", y)):
        if v.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be a real numeric array; got dtype {v.dtype}")
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    if y.dtype.kind != "f":
        y = y.astype(np.float64)
    return np.ascontiguousarray(x).reshape(-1), np.ascontiguousarray(y).reshape(-1)


def _check_bins(bins):
    pair = (bins, bins) if np.ndim(bins) == 0 else tuple(bins)
    if len(pair) != 2:
        raise ValueError(f"bins must be an int or a pair of ints; got {bins!r}")
    out = []
    for b in pair:
        if isinstance(b, (bool, np.bool_)) or not isinstance(b, (int, np.integer)) or b < 1:
            raise ValueError(f"bins must be positive integers; got {bins!r}")
        out.append(int(b))
    return tuple(out)


def _finite_range(v, name):
    finite = v[np.isfinite(v)]
    if finite.size == 0:
        raise ValueError(f"{name} has no finite value; give range= explicitly")
    return finite.min(), finite.max()


def _edges(x, y, bins, range):
    """The edges numpy.histogram2d uses (computed by numpy on the extremes)."""
    nx, ny = bins
    if range is None:
        (x0, x1), (y0, y1) = _finite_range(x, "x"), _finite_range(y, "y")
    else:
        try:
            (x0, x1), (y0, y1) = range
        except (TypeError, ValueError):
            raise ValueError(
                f"range must be ((xmin, xmax), (ymin, ymax)); got {range!r}"
            ) from None
        if not all(np.isfinite([x0, x1, y0, y1])) or x0 > x1 or y0 > y1:
            raise ValueError(f"range must be finite with min <= max; got {range!r}")
    # numpy derives edges from the extremes and the sample's dtype only, so
    # two points of the same dtype give exactly the edges of the full call.
    ex = np.array([x0, x1], dtype=x.dtype)
    ey = np.array([y0, y1], dtype=y.dtype)
    rng = None if range is None else range
    _, xe, ye = np.histogram2d(ex, ey, bins=(nx, ny), range=rng)
    return xe.astype(np.float64), ye.astype(np.float64)


def _check_polygon(polygon):
    try:
        poly = np.asarray(polygon, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"polygon must be an (N, 2) array of vertices; got {polygon!r}") from None
    if poly.ndim != 2 or poly.shape[1] != 2:
        raise ValueError(f"polygon must have shape (N, 2); got {poly.shape}")
    if not np.isfinite(poly).all():
        raise ValueError("polygon vertices must be finite; got NaN or inf")
    return np.ascontiguousarray(poly[:, 0]), np.ascontiguousarray(poly[:, 1])


# -- the index ---------------------------------------------------------------


class FeatureSpaceIndex:
    """The histogram bin of every point of one (x, y) feature pair.

    Built once per feature pair (a few passes over the points); then
    :meth:`density` is one count and :meth:`select` decides whole bins
    through a lookup table.

    Parameters
    ----------
    x, y : array-like, same shape
        The two features of every pixel (any shape; flattened in C order).
        float32 stays float32.
    bins : int or (int, int), default 256
        Bins along x and y.
    range : ((float, float), (float, float)), optional
        ``((xmin, xmax), (ymin, ymax))``; default: the finite extremes.
        Points outside it are not counted (as in numpy).

    Attributes
    ----------
    x, y : ndarray, 1D
        The points (flattened views when possible).
    xedges, yedges : ndarray of float64
        Bin edges, exactly those of ``numpy.histogram2d(x, y, bins, range)``.
    bin_index : ndarray of int32
        ``ix * ny + iy`` per point, ``-1`` for NaN or a point outside
        ``range``.

    Notes
    -----
    NaN points are ignored: not counted, never selected.
    ``numpy.histogram2d`` raises on NaN without a ``range``; with one it
    drops them too, and gives the same counts as here.
    """

    def __init__(self, x, y, bins=256, range=None):
        self.x, self.y = _as_points(x, y)
        self.bins = _check_bins(bins)
        self.xedges, self.yedges = _edges(self.x, self.y, self.bins, range)
        n = self.x.size
        self.bin_index = np.empty(n, np.int32)
        ny = self.bins[1]

        def work(lo, hi):
            ix = np.empty(hi - lo, np.int32)
            iy = np.empty(hi - lo, np.int32)
            _bin_index_1d(self.x[lo:hi], self.xedges, ix)
            _bin_index_1d(self.y[lo:hi], self.yedges, iy)
            _combine(ix, iy, ny, self.bin_index[lo:hi])

        _run_chunked(work, n)

    @property
    def shape(self) -> tuple[int, int]:
        return self.bins

    def density(self) -> np.ndarray:
        """Counts per bin, shape ``(nx, ny)``, float64 as numpy's."""
        nb = self.bins[0] * self.bins[1]
        parts = _run_chunked(lambda lo, hi: _count(self.bin_index[lo:hi], nb), self.x.size)
        counts = np.sum(parts, axis=0) if parts else np.zeros(nb, np.int64)
        return counts.reshape(self.bins).astype(np.float64)

    def bin_lookup(self, polygon) -> np.ndarray:
        """Per bin: 0 wholly outside, 1 wholly inside, 2 touched by the boundary.

        Shape ``(nx * ny,)``, indexed like :attr:`bin_index`.
        """
        vx, vy = _check_polygon(polygon)
        nb = self.bins[0] * self.bins[1]
        lut = np.zeros(nb, np.uint8)
        if vx.size < 3:
            return lut
        xe, ye = self.xedges, self.yedges
        scale = max(np.abs(xe).max(), np.abs(vx).max(), xe[-1] - xe[0], np.ptp(vx), 1e-300)
        touched = np.zeros(self.bins, np.bool_)
        _boundary_cells(vx, vy, xe, ye, _MARGIN * scale, touched)
        _classify_cells(vx, vy, xe, ye, touched, lut)
        return lut

    def select(self, polygon) -> np.ndarray:
        """Points inside ``polygon``: boolean, shape ``(n_points,)``.

        See :func:`select` for the rule on edges and self-intersections.
        """
        vx, vy = _check_polygon(polygon)
        out = np.zeros(self.x.size, np.bool_)
        if vx.size < 3:
            return out
        lut = self.bin_lookup(np.c_[vx, vy])
        ptr, row_edges = _row_edges(vx, vy, self.yedges)
        all_edges = np.arange(vx.size, dtype=np.int64)
        ny = self.bins[1]

        def work(lo, hi):
            _select_chunk(self.x[lo:hi], self.y[lo:hi], self.bin_index[lo:hi], lut, ny,
                          ptr, row_edges, all_edges, vx, vy, out[lo:hi])

        _run_chunked(work, self.x.size)
        return out


# -- public functions --------------------------------------------------------


def density(x, y, bins=256, range=None):
    """2D histogram of every point, equal to :func:`numpy.histogram2d`.

    Parameters
    ----------
    x, y : array-like, same shape
        Two features of every pixel (any shape, flattened).
    bins : int or (int, int), default 256
        Number of bins along x and y.
    range : ((float, float), (float, float)), optional
        ``((xmin, xmax), (ymin, ymax))``; default: the finite extremes.

    Returns
    -------
    counts : ndarray of float64, shape ``(nx, ny)``
        ``counts[i, j]``: points with x in bin i and y in bin j.
    xedges, yedges : ndarray of float64, shapes ``(nx + 1,)``, ``(ny + 1,)``

    Raises
    ------
    ValueError
        For mismatched shapes, bad ``bins`` or ``range``, or no finite point
        without a ``range``.

    Notes
    -----
    The same bins and the same edge rule as numpy (each bin half-open
    ``[a, b)`` except the last, which is closed), computed as one integer bin
    index per point and one count, on two threads. NaN points are ignored
    (numpy refuses them without a ``range``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.normal(size=(2, 1000)).astype(np.float32)
    >>> counts, xe, ye = density(x, y, bins=16)
    >>> ref = np.histogram2d(x, y, bins=16)
    >>> bool((counts == ref[0]).all() and (xe == ref[1]).all())
    True
    """
    index = FeatureSpaceIndex(x, y, bins=bins, range=range)
    return index.density(), index.xedges, index.yedges


def select(x, y, polygon, *, index=None, bins=256):
    """Points inside a polygon, equal to ``Path(polygon).contains_points``.

    Parameters
    ----------
    x, y : array-like, same shape
        The points (any shape; the mask has that shape).
    polygon : array-like, shape (N, 2)
        Vertices in order; the last connects back to the first (a
        rectangle is 4 vertices, a lasso its whole stroke).
    index : FeatureSpaceIndex, optional
        A prebuilt index of these ``x, y`` (the widget keeps one per feature
        pair); built here otherwise.
    bins : int, default 256
        Bins of the index built here.

    Returns
    -------
    mask : ndarray of bool, shape of ``x``

    Raises
    ------
    ValueError
        For a polygon not of shape (N, 2) or with non-finite vertices.

    Notes
    -----
    The rule is matplotlib's, reproduced operation for operation: an
    even-odd crossing test (a ray towards +x; an edge counts when one end
    is ``>= y`` of the point and the other is not), so a self-intersecting
    lasso selects the regions covered an odd number of times (the inner
    lobe of a loop drawn twice around is *outside*), and a point exactly
    on an edge is inside or not as that test says, which depends on the
    orientation (a counter-clockwise axis-aligned box has its bottom edge
    out and its other edges in; clockwise, only the top edge is in).
    Fewer than 3 vertices select nothing; NaN points are never selected.

    Bins the polygon boundary does not touch (with a margin far above
    rounding) are decided at once, whole; only the points of bins the
    boundary crosses, and points outside the index's range, are tested one
    by one.

    Examples
    --------
    >>> x = np.array([0.5, 1.5, 0.0, 1.0]); y = np.array([0.5, 0.5, 0.0, 1.0])
    >>> select(x, y, [(0, 0), (1, 0), (1, 1), (0, 1)]).tolist()  # corners as the rule says
    [True, False, False, True]
    """
    shape = np.shape(x)
    if index is None:
        index = FeatureSpaceIndex(x, y, bins=bins)
    elif index.x.size != int(np.prod(shape)):
        raise ValueError(
            f"the index holds {index.x.size} points but x has {int(np.prod(shape))}"
        )
    return index.select(polygon).reshape(shape)


class DecisionRegions(NamedTuple):
    """A classifier's labels on a grid of two features."""

    #: ``labels[i, j]`` at ``(x_centers[i], y_centers[j])``, as histogram2d's counts.
    labels: np.ndarray
    x_centers: np.ndarray
    y_centers: np.ndarray
    #: ``"retrained"`` or ``"median"``: how the other features were handled.
    others: str
    #: the fitted segmenter that made ``labels``
    segmenter: object


def _clone(segmenter):
    params = segmenter.get_params() if hasattr(segmenter, "get_params") else {}
    return type(segmenter)(**params)


def decision_regions(model, x_feature, y_feature, *, X=None, X_train=None, y_train=None,
                     xlim=None, ylim=None, resolution=128, others="retrain"):
    """Labels a classifier gives on a grid of two features (the shaded plane).

    Parameters
    ----------
    model : segmenter or SeededModel
        An estimator with ``fit(X, y)`` / ``predict(X)`` on feature rows (a
        :data:`~napari_seglab.core.segmenters.SEGMENTERS` instance), or a
        fitted :class:`~napari_seglab.core.pipeline.SeededModel` (its
        segmenter and training samples are used).
    x_feature, y_feature : int
        Columns of the features shown on x and y.
    X : ndarray, shape (n_pixels, n_features), optional
        Features of the pixels shown: their median holds the other features
        (``others="median"``), k-means is retrained on them, and they give
        the default limits.
    X_train, y_train : ndarray, optional
        Training samples (seed features and labels); default the model's
        own (``SeededModel.X_train_``). Needed to retrain a supervised model.
    xlim, ylim : (float, float), optional
        Grid extent; default the range of ``X`` (or of ``X_train``).
    resolution : int or (int, int), default 128
        Grid points along x and y (at bin centres of that many bins).
    others : {"retrain", "median"}, default "retrain"
        ``"retrain"``: a copy of the model is fitted on the two shown
        features only, so the picture is exactly what that classifier does
        with them (the course's figure). ``"median"``: the fitted model
        predicts the grid with every other feature held at its median over
        ``X``: a slice through the full model.

    Returns
    -------
    DecisionRegions
        ``labels`` of shape ``resolution``, the grid centres, ``others``
        (``"retrained"`` or ``"median"``) and the segmenter used.

    Raises
    ------
    ValueError
        For a feature index out of range, an unknown ``others``, or missing
        data (no training samples to retrain on, no ``X`` for medians).

    Examples
    --------
    >>> from napari_seglab.core.segmenters import make_segmenter
    >>> X = np.array([[0., 0, 5], [1, 1, 5], [9, 9, 5], [10, 10, 5]])
    >>> y = np.array([1, 1, 2, 2])
    >>> model = make_segmenter("nearest_mean").fit(X, y)
    >>> r = decision_regions(model, 0, 1, X=X, X_train=X, y_train=y, resolution=4)
    >>> r.labels.tolist(), r.others
    ([[1, 1, 1, 2], [1, 1, 1, 2], [1, 1, 2, 2], [1, 2, 2, 2]], 'retrained')
    """
    segmenter = getattr(model, "segmenter_", model)
    if X_train is None:
        X_train = getattr(model, "X_train_", None)
        if y_train is None:
            y_train = getattr(model, "y_train_", None)
    if others not in ("retrain", "median"):
        raise ValueError(f"others must be 'retrain' or 'median'; got {others!r}")
    ref = X if X is not None else X_train
    if ref is None:
        raise ValueError("give X (the pixels' features) or X_train (training samples)")
    ref = np.asarray(ref, dtype=np.float32)
    if ref.ndim != 2:
        raise ValueError(f"X must be (n_pixels, n_features); got shape {ref.shape}")
    n_feat = ref.shape[1]
    for name, f in (("x_feature", x_feature), ("y_feature", y_feature)):
        if not isinstance(f, (int, np.integer)) or not 0 <= f < n_feat:
            raise ValueError(f"{name} must be a column in [0, {n_feat}); got {f!r}")
    rx, ry = _check_bins(resolution)

    def limits(lim, col):
        if lim is not None:
            return float(lim[0]), float(lim[1])
        lo, hi = float(np.nanmin(ref[:, col])), float(np.nanmax(ref[:, col]))
        return (lo - 0.5, hi + 0.5) if lo == hi else (lo, hi)

    (x0, x1), (y0, y1) = limits(xlim, x_feature), limits(ylim, y_feature)
    xe = np.linspace(x0, x1, rx + 1)
    ye = np.linspace(y0, y1, ry + 1)
    xc = 0.5 * (xe[:-1] + xe[1:])
    yc = 0.5 * (ye[:-1] + ye[1:])
    gx, gy = np.meshgrid(xc, yc, indexing="ij")
    if others == "retrain":
        fitted = _clone(segmenter)
        if getattr(fitted, "unsupervised", False):
            data = X if X is not None else X_train
            labels = y_train if X is None else None
            fitted.fit(np.asarray(data, np.float32)[:, [x_feature, y_feature]], labels)
        else:
            if X_train is None or y_train is None:
                raise ValueError("retraining needs X_train and y_train (seed samples)")
            Xt = np.asarray(X_train, np.float32)
            fitted.fit(Xt[:, [x_feature, y_feature]], np.asarray(y_train))
        grid = np.c_[gx.ravel(), gy.ravel()].astype(np.float32)
        done = "retrained"
    else:
        fitted = segmenter
        grid = np.repeat(np.nanmedian(ref, axis=0)[None, :], gx.size, axis=0)
        grid[:, x_feature] = gx.ravel()
        grid[:, y_feature] = gy.ravel()
        grid = grid.astype(np.float32)
        done = "median"
    labels = np.asarray(fitted.predict(grid)).reshape(rx, ry)
    return DecisionRegions(labels, xc, yc, done, fitted)


def class_histograms(values, labels, bins=64, range=None, *, ignore=0):
    """Histogram of one feature per class, on shared bins (the 1D mode).

    Parameters
    ----------
    values : array-like
        One feature per pixel.
    labels : array-like of int, same shape
        Class per pixel (seeds, a prediction or ground truth).
    bins : int, default 64
    range : (float, float), optional
        Default: the finite extremes of ``values``.
    ignore : int or None, default 0
        Label left out (unlabelled seeds); ``None`` keeps every label.

    Returns
    -------
    counts : ndarray of int64, shape ``(n_classes, bins)``
        Row k equals ``numpy.histogram(values[labels == classes[k]], edges)``.
    edges : ndarray of float64, shape ``(bins + 1,)``
        ``numpy.histogram_bin_edges`` of all finite values.
    classes : ndarray of int

    Examples
    --------
    >>> v = np.array([0., 1, 2, 3]); lab = np.array([1, 1, 2, 0])
    >>> counts, edges, classes = class_histograms(v, lab, bins=3)
    >>> counts.tolist(), classes.tolist()
    ([[1, 1, 0], [0, 0, 1]], [1, 2])
    """
    v = np.asarray(values).reshape(-1)
    lab = np.asarray(labels).reshape(-1)
    if v.shape != lab.shape:
        raise ValueError(f"values and labels differ in size: {v.size} vs {lab.size}")
    if v.dtype.kind not in "biuf":
        raise TypeError(f"values must be numeric; got dtype {v.dtype}")
    if v.dtype.kind != "f":
        v = v.astype(np.float64)
    n_bins = _check_bins(bins)[0]
    if range is None:
        lo, hi = _finite_range(v, "values")
    else:
        lo, hi = range
    edges = np.histogram_bin_edges(np.array([lo, hi], dtype=v.dtype), n_bins,
                                   range=None if range is None else (lo, hi))
    edges = edges.astype(np.float64)
    idx = np.empty(v.size, np.int32)
    _bin_index_1d(np.ascontiguousarray(v), edges, idx)
    keep = lab != ignore if ignore is not None else np.ones(lab.size, bool)
    classes, inverse = np.unique(lab[keep], return_inverse=True)
    sub = idx[keep]
    ok = sub >= 0
    flat = inverse[ok].astype(np.int64) * n_bins + sub[ok]
    counts = np.bincount(flat, minlength=classes.size * n_bins).reshape(classes.size, n_bins)
    return counts.astype(np.int64), edges, classes


def class_mean_spectra(image, labels, *, channel_axis=-1, ignore=0):
    """Mean of every channel per class: the spectra of multichannel data.

    Parameters
    ----------
    image : ndarray
        Spatial axes plus one channel axis.
    labels : ndarray of int
        The spatial shape; class per pixel.
    channel_axis : int, default -1
    ignore : int or None, default 0
        Label left out.

    Returns
    -------
    classes : ndarray of int, shape ``(n_classes,)``
    means : ndarray of float64, shape ``(n_classes, n_channels)``

    Examples
    --------
    >>> img = np.zeros((2, 2, 3)); img[0] = [1, 2, 3]
    >>> classes, means = class_mean_spectra(img, np.array([[1, 1], [2, 2]]))
    >>> classes.tolist(), means.tolist()
    ([1, 2], [[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    """
    data = np.moveaxis(np.asarray(image), channel_axis, -1)
    lab = np.asarray(labels)
    if data.shape[:-1] != lab.shape:
        raise ValueError(
            f"labels have shape {lab.shape} but the image's spatial shape is {data.shape[:-1]}"
        )
    flat = data.reshape(-1, data.shape[-1]).astype(np.float64, copy=False)
    lab = lab.reshape(-1)
    keep = lab != ignore if ignore is not None else np.ones(lab.size, bool)
    classes, inverse = np.unique(lab[keep], return_inverse=True)
    sums = np.zeros((classes.size, flat.shape[1]))
    for c in range(flat.shape[1]):
        sums[:, c] = np.bincount(inverse, weights=flat[keep, c], minlength=classes.size)
    n = np.bincount(inverse, minlength=classes.size)
    return classes, sums / np.maximum(n, 1)[:, None]


def flat_nonzero(flat):
    """``np.flatnonzero`` for sparse seeds: scan 8-byte words, then their elements."""
    if not flat.flags.c_contiguous or flat.nbytes % 8 or flat.nbytes < 1 << 16:
        return np.flatnonzero(flat)
    words = np.flatnonzero(flat.view(np.uint64))
    per_word = 8 // flat.itemsize if flat.itemsize <= 8 else 0
    if per_word == 0 or words.size * per_word > flat.size // 4:
        return np.flatnonzero(flat)
    candidates = (words[:, None] * per_word + np.arange(per_word)).ravel()
    return candidates[flat[candidates] != 0]
