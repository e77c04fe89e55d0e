"""The feature engine: :func:`compute_features` turns an image into a per-pixel float32 stack.

A :class:`FeatureSpec` says which filters to compute at which scales, in 2D
(slice by slice) or 3D; it is plain data (printable, comparable, JSON
round-trip). :func:`compute_features` turns an image into a C-contiguous
``spatial_shape + (n_features,)`` float32 stack.

Scales (``sigma``) are in physical units: with ``spacing=(3.0, 0.5, 0.5)`` a
σ of 1.5 mm is 0.5 voxel along the first axis and 3 voxels along the others.

How it is fast (NumPy/SciPy and one numba loop, measured on 2 cores in bench/features.py):

* one Gaussian-smoothed image per scale, shared by every filter at that
  scale (gaussian, gradient magnitude, Laplacian, Hessian, Sobel, DoG);
  derivatives are central finite differences of that smoothed image (as in
  :func:`skimage.feature.multiscale_basic_features`), the Laplacian is the
  trace of the Hessian and the gradient magnitude comes from the same first
  derivatives;
* separable Gaussian passes: wide kernels (radius ≥ 5 voxels) as banded
  matrix products (BLAS, one thread per call, calls spread over our
  threads), narrow ones as shifted-slab multiply-adds on cache-sized
  blocks;
* the derivative / eigenvalue stage runs on blocks of 64k voxels (views of
  the smoothed images, reflect-padded once), into a planar block buffer
  that is interleaved into the output in one copy: the output is written
  once and the peak memory stays close to its size;
* gradient magnitude, Laplacian and Hessian eigenvalues (closed form,
  trigonometric, the arccos/cos replaced by one polynomial) in one compiled
  pass per voxel (:mod:`.derivatives`; the same bits as the NumPy
  formulation, 16x faster).

Conventions (documented choices):

* ``dog`` at σ is ``G(σ) - G(0.66 σ)`` (ilastik's ratio);
* ``structure_tensor_eigenvalues`` at σ uses inner (derivative) scale σ and
  outer (integration) scale σ/2;
* eigenvalues are sorted in decreasing order, one channel each (2 in 2D,
  3 in 3D);
* ``median`` at σ uses a box of ``2 * max(1, round(σ_voxels)) + 1`` voxels
  per axis; ``median_residual`` is ``|f - median(f)|``;
* ``sobel`` at σ is the Sobel gradient magnitude of ``G(σ)`` (σ = 0: of the
  raw image), scaled so that a ramp of slope 1 gives 1;
* boundaries are reflected (``scipy.ndimage`` mode ``"reflect"``); Gaussian
  kernels are truncated at 4σ;
* ``ridge``, ``contrast`` and ``line`` (thin structures) are computed by
  :mod:`.lines`: ``ridge`` from the Hessian eigenvalues at its σ, ``line`` on
  the planes of the last two axes.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
from scipy import ndimage as ndi

from . import lines
from .derivatives import derivative_features
from .eigen import _eig_sym
from .spec import (
    _BLOCK,
    _DOG_RATIO,
    _MATMUL_MIN_RADIUS,
    _MATMUL_ROWS,
    _ST_OUTER,
    _TRUNCATE,
    FeatureSpec,
    _resolve_spec,
)


def fill_non_finite(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Replace NaN/±inf by the mean of the finite pixels, per channel.

    Parameters
    ----------
    image : ndarray, shape ``spatial + (C,)``, float

    Returns
    -------
    filled : ndarray
        ``image`` itself when every pixel is finite, else a filled copy.
    finite : ndarray of bool, shape ``spatial``, or None
        Pixels finite in every channel; ``None`` when all are.

    Raises
    ------
    ValueError
        If no pixel is finite in some channel.
    """
    finite = np.isfinite(image)
    if finite.all():
        return image, None
    filled = image.copy()
    for c in range(image.shape[-1]):
        ok = finite[..., c]
        if not ok.any():
            raise ValueError(f"channel {c} has no finite pixel; nothing to segment")
        filled[..., c][~ok] = image[..., c][ok].mean()
    return filled, finite.all(axis=-1)



# --------------------------------------------------------------------------
# Planning: voxel scales, kernel sizes, halos


def _radius(sigma_vox: float) -> int:
    return int(_TRUNCATE * sigma_vox + 0.5) if sigma_vox > 0 else 0


def _median_half(sigma_vox: float) -> int:
    return max(1, int(round(sigma_vox)))


class _Plan:
    """Everything :func:`compute_features` derives from (spec, shape, spacing)."""

    def __init__(self, spec: FeatureSpec, shape: tuple, spacing: tuple, check=True):
        self.spec, self.shape, self.spacing = spec, shape, spacing
        ndim = len(shape)
        self.axes = tuple(range(1, ndim)) if (spec.mode == "2d" and ndim == 3) else tuple(range(ndim))
        self.fd = len(self.axes)
        # Physical σ → voxel σ per axis (0 along an unfiltered axis).
        self.vox = lambda s: tuple(
            (s / spacing[a] if a in self.axes else 0.0) for a in range(ndim)
        )
        self.smooth = set()  # physical σ of the Gaussian images needed
        self.halo = [0] * ndim
        for name, sigma in spec.filters:
            needs = {
                "intensity": (), "median": (), "median_residual": (), "line": (),
                "dog": (sigma, _DOG_RATIO * sigma),
                "sobel": (sigma,) if sigma > 0 else (),
            }.get(name, (sigma,))
            self.smooth.update(needs)
            deriv = name in ("gradient_magnitude", "laplacian", "hessian_eigenvalues",
                             "sobel", "structure_tensor_eigenvalues") + lines.HESSIAN_KINDS
            for a in self.axes:
                v = sigma / spacing[a]
                if name in ("median", "median_residual"):
                    rk = total = _median_half(v)
                else:
                    rk = _radius(v)
                    total = rk + (1 if deriv else 0)
                    if name == "structure_tensor_eigenvalues":
                        total += _radius(_ST_OUTER * v)
                # Reflecting borders make any kernel computable; past half the
                # image a filter mostly sees mirrored copies of it: meaningless.
                if check and shape[a] > 1 and v > shape[a] / 2:
                    raise ValueError(
                        f"{name} at sigma={sigma:g} is {v:.3g} voxels along axis {a} "
                        f"(spacing {spacing[a]:g}), more than half the image's "
                        f"{shape[a]} voxels along that axis: use sigma <= "
                        f"{shape[a] / 2 * spacing[a]:.3g} or a larger image"
                    )
                self.halo[a] = max(self.halo[a], total + 1)
        self.smooth = sorted(self.smooth)


# --------------------------------------------------------------------------
# Separable Gaussian smoothing


def _reflect_index(idx: np.ndarray, n: int) -> np.ndarray:
    """scipy.ndimage "reflect" (half-sample symmetric) boundary, any distance."""
    m = np.mod(idx, 2 * n)
    return np.where(m >= n, 2 * n - 1 - m, m)


def _gauss_kernel(sigma: float) -> np.ndarray:
    r = _radius(sigma)
    x = np.arange(-r, r + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / sigma) ** 2)
    return (w / w.sum()).astype(np.float32)


def _map(pool, fn, items):
    items = list(items)
    if pool is None or len(items) < 2:
        for it in items:
            fn(it)
    else:
        list(pool.map(fn, items))


def _banded_blocks(n, w, rows):
    """The 1D correlation with ``w`` along an axis of ``n`` samples (reflect
    boundary) as banded matrix blocks: ``(b0, b1, c0, c1, K)`` with
    ``out[b0:b1] = K @ x[c0:c1]``; reflected taps are folded into ``K``."""
    r = len(w) // 2
    for b0 in range(0, n, rows):
        b1 = min(n, b0 + rows)
        i = np.arange(b0, b1)[:, None]
        cols = _reflect_index(i + np.arange(-r, r + 1), n)
        c0, c1 = int(cols.min()), int(cols.max()) + 1
        K = np.zeros((b1 - b0, c1 - c0))
        np.add.at(K, (np.broadcast_to(i - b0, cols.shape), cols - c0),
                  np.broadcast_to(w.astype(np.float64), cols.shape))
        yield b0, b1, c0, c1, K.astype(np.float32)


_BANDS: dict = {}
_BANDS_LOCK = threading.Lock()


def _bands(n, w):
    """:func:`_banded_blocks` as a list, kept per (n, kernel): slab by slab, the
    same planes' kernels are asked for hundreds of times."""
    key = (n, w.tobytes())
    with _BANDS_LOCK:
        bands = _BANDS.get(key)
    if bands is None:
        bands = list(_banded_blocks(n, w, _MATMUL_ROWS))
        with _BANDS_LOCK:
            if len(_BANDS) > 64:  # a few images' worth of axis lengths and σ
                _BANDS.clear()
            _BANDS[key] = bands
    return bands


def _smooth_axis_matmul(src, out, w, axis, pool):
    """1D correlation along ``axis`` as banded matrix products, one BLAS
    call per (band block, chunk of the other axes), spread over ``pool``."""
    n = src.shape[axis]
    outer = math.prod(src.shape[:axis])
    inner = math.prod(src.shape[axis + 1:])
    s3 = src.reshape(outer, n, inner)
    o3 = out.reshape(outer, n, inner)
    bands = _bands(n, w)
    # Chunks of the axis the products run along (columns if there is no outer).
    length = inner if outer == 1 else outer
    step = max(1, _BLOCK // (_MATMUL_ROWS * (inner if outer > 1 else 1)))
    chunks = [slice(i, min(length, i + step)) for i in range(0, length, step)]

    def run(task):
        (b0, b1, c0, c1, K), ch = task
        if inner == 1:
            np.matmul(s3[ch, c0:c1, 0], K.T, out=o3[ch, b0:b1, 0])
        elif outer == 1:
            np.matmul(K, s3[0, c0:c1, ch], out=o3[0, b0:b1, ch])
        else:
            np.matmul(K, s3[ch, c0:c1], out=o3[ch, b0:b1])

    with _blas_threads(1):  # our threads split the work; BLAS's would contend
        _map(pool, run, [(band, ch) for band in bands for ch in chunks])


_THREADPOOLS = []


@contextmanager
def _blas_threads(n):
    """Limit BLAS to ``n`` threads (threadpoolctl, a scikit-learn dependency)."""
    try:
        if not _THREADPOOLS:
            from threadpoolctl import ThreadpoolController

            _THREADPOOLS.append(ThreadpoolController())
    except ImportError:  # pragma: no cover - scikit-learn brings it
        yield
        return
    with _THREADPOOLS[0].limit(limits=n, user_api="blas"):
        yield


def _smooth_axis(src, out, sigma, axis, pool):
    """1D Gaussian along ``axis`` (reflect).

    Wide kernels are banded matrix products (BLAS does a multiply-add in a
    fraction of a NumPy ufunc's time); narrow ones shifted-slab
    multiply-adds, which do not pay for the band's zeros.
    """
    n = src.shape[axis]
    w = _gauss_kernel(sigma)
    r = len(w) // 2
    if r >= _MATMUL_MIN_RADIUS:
        _smooth_axis_matmul(src, out, w, axis, pool)
        return
    outer = math.prod(src.shape[:axis])
    inner = math.prod(src.shape[axis + 1:])
    s3 = src.reshape(outer, n, inner)
    o3 = out.reshape(outer, n, inner)
    if outer == 1:
        nb = max(1, _BLOCK // inner)
        tasks = [(slice(0, 1), i, min(n, i + nb)) for i in range(0, n, nb)]
    else:
        ob = max(1, _BLOCK // (n * inner))
        tasks = [(slice(o, o + ob), 0, n) for o in range(0, outer, ob)]

    def run(task):
        osl, i, j = task
        lo, hi = i - r, j + r
        if lo >= 0 and hi <= n:
            x = s3[osl, lo:hi]
        else:  # boundary block: reflected copy of the few rows needed
            x = s3[osl].take(_reflect_index(np.arange(lo, hi), n), axis=1)
        dst = o3[osl, i:j]
        L = j - i
        np.multiply(x[:, r:r + L], w[r], out=dst)
        tmp = np.empty_like(dst)
        for k in range(1, r + 1):  # symmetric kernel: one product per pair
            np.add(x[:, r - k:r - k + L], x[:, r + k:r + k + L], out=tmp)
            tmp *= w[r + k]
            dst += tmp

    _map(pool, run, tasks)


def _gaussian(src, vsigma, pool, out=None, tmp=None):
    """Separable Gaussian of ``src`` with per-axis voxel σ (0 = skip axis)."""
    axes = [a for a, s in enumerate(vsigma) if s > 0 and src.shape[a] > 1]
    out = np.empty_like(src) if out is None else out
    if not axes:
        np.copyto(out, src)
        return out
    if len(axes) > 1 and tmp is None:
        tmp = np.empty_like(src)
    # Ping-pong between out and tmp so the last pass lands in out.
    bufs = [out, tmp] if len(axes) % 2 == 1 else [tmp, out]
    cur = src
    for k, a in enumerate(reversed(axes)):
        dst = bufs[k % 2]
        _smooth_axis(cur, dst, vsigma[a], a, pool)
        cur = dst
    return out


# --------------------------------------------------------------------------
# Finite differences and eigenvalues on padded blocks

#: Filters computed from finite differences of one (smoothed) image.
_DERIV = ("gradient_magnitude", "laplacian", "hessian_eigenvalues", "sobel") + lines.HESSIAN_KINDS
# Voxels per block of the derivative stage. Each block was a few hundred NumPy
# calls whose Python overhead holds the GIL: smaller blocks made two threads
# wait for each other (measured: 2 threads slower than 1 at 8k voxels, 1.6x
# faster at 64k), larger ones fall out of the cache. (The derivatives are now
# one compiled call; the copies and the interleaving still are NumPy's.)
_BLOCK_VOX = 1 << 16
# Features per interleaving copy from the block buffer to the output
# (measured: NumPy's strided copy takes 1.1 ns per value for 8 to 13 at a
# time, 2-3 ns for fewer or for all 25 of the default 3D set).
_INTERLEAVE = 8


def _cut(ndim, axis, lo, hi):
    return tuple(slice(lo, hi) if k == axis else slice(None) for k in range(ndim))


def _shifted(P, axes, shifts=None, full=()):
    """View of the padded block ``P`` moved by ``shifts`` voxels per axis.

    ``P`` carries one voxel of margin along each axis in ``axes``; the view
    has the block's own (core) shape, except along the ``full`` axes, which
    keep the margin.
    """
    shifts = shifts or {}
    out = []
    for a, n in enumerate(P.shape):
        if a not in axes or a in full:
            out.append(slice(None))
        else:
            d = shifts.get(a, 0)
            out.append(slice(1 + d, n - 1 + d))
    return P[tuple(out)]


def _sobel(P, axes, spacing, out):
    """Sobel gradient magnitude of the padded block ``P``, in slope units."""
    out[...] = 0  # `out` may be uninitialised memory (NaN * 0 is NaN)
    for a in axes:
        others = tuple(b for b in axes if b != a)
        e = _shifted(P, axes, {a: 1}, full=others) - _shifted(P, axes, {a: -1}, full=others)
        for b in others:  # [1, 2, 1] smoothing across the other axes
            n = e.shape[b]
            e = (e[_cut(e.ndim, b, 0, n - 2)] + e[_cut(e.ndim, b, 2, n)]
                 + 2 * e[_cut(e.ndim, b, 1, n - 1)])
        e *= 0.5 / (4 ** (len(axes) - 1) * spacing[a])
        e *= e
        out += e
    np.sqrt(out, out=out)


def _block_tasks(shape):
    """Blocks of about ``_BLOCK_VOX`` voxels: runs of the first axis, or of
    the second when one index of the first is already that big."""
    plane = math.prod(shape[1:])
    if plane <= _BLOCK_VOX or len(shape) < 3:
        nb = max(1, _BLOCK_VOX // max(1, plane))
        return [(slice(i, min(shape[0], i + nb)),) for i in range(0, shape[0], nb)]
    nr = max(1, _BLOCK_VOX // shape[2])
    return [(slice(i, i + 1), slice(r, min(shape[1], r + nr)))
            for i in range(shape[0]) for r in range(0, shape[1], nr)]


# --------------------------------------------------------------------------
# The engine


def _central_diff_full(G, a, spacing):
    out = np.empty_like(G)
    n = G.shape[a]
    if n == 1:
        out[...] = 0
        return out
    nd = G.ndim
    np.subtract(G[_cut(nd, a, 2, n)], G[_cut(nd, a, 0, n - 2)], out=out[_cut(nd, a, 1, n - 1)])
    np.subtract(G[_cut(nd, a, 1, 2)], G[_cut(nd, a, 0, 1)], out=out[_cut(nd, a, 0, 1)])
    np.subtract(G[_cut(nd, a, n - 1, n)], G[_cut(nd, a, n - 2, n - 1)],
                out=out[_cut(nd, a, n - 1, n)])
    out *= 0.5 / spacing[a]
    return out


def _structure_tensor_eigs(G, plan, sigma, pool):
    """Full-volume structure-tensor eigenvalues, shape ``(fd,) + G.shape``."""
    ax = plan.axes
    grads = {a: _central_diff_full(G, a, plan.spacing) for a in ax}
    outer = plan.vox(_ST_OUTER * sigma)
    tmp = np.empty_like(G)
    comps = []
    for k, a in enumerate(ax):
        for b in ax[k:]:
            prod = grads[a] * grads[b]
            comps.append(_gaussian(prod, outer, pool, out=np.empty_like(G), tmp=tmp))
            del prod
    del grads, tmp
    res = np.empty((len(ax),) + G.shape, np.float32)

    def run(block):
        _eig_sym([c[block] for c in comps], [r[block] for r in res])  # comps consumed

    _map(pool, run, _block_tasks(G.shape))
    return res


def _compute_channel(chan, plan, out, pool):
    """All features of one channel into ``out`` (``spatial + (Fc,)`` view)."""
    spec, axes = plan.spec, plan.axes
    # Stage 1 (full volume): one Gaussian image per scale, plus the filters
    # that are not block-local (median, structure tensor).
    tmp = np.empty_like(chan) if plan.smooth else None
    G = {s: _gaussian(chan, plan.vox(s), pool, tmp=tmp) for s in plan.smooth}
    del tmp
    pre = {}
    for name, sigma in spec.filters:
        if name in ("median", "median_residual") and ("median", sigma) not in pre:
            size = [2 * _median_half(v) + 1 if v > 0 else 1 for v in plan.vox(sigma)]
            pre["median", sigma] = ndi.median_filter(chan, size=size, mode="reflect")
        elif name == "structure_tensor_eigenvalues":
            pre[name, sigma] = _structure_tensor_eigs(G[sigma], plan, sigma, pool)
    pre.update(lines.plane_features(chan, plan))
    # Images that derivatives are taken of, reflect-padded by one voxel along
    # the filtered axes once: every block is then a view of them.
    pads = [(1, 1) if a in axes else (0, 0) for a in range(chan.ndim)]
    interior = tuple(slice(1, -1) if a in axes else slice(None) for a in range(chan.ndim))
    padded = {}
    for s in _derivative_sigmas(spec):
        padded[s] = np.pad(G[s] if s > 0 else chan, pads, mode="symmetric")
        if s > 0:
            G[s] = padded[s][interior]  # drop the unpadded copy
    _block_features(chan, G, padded, pre, plan, out, pool)


def _derivative_sigmas(spec) -> list:
    """The σ whose smoothed images :func:`_block_features` takes differences of."""
    return sorted({sigma for name, sigma in spec.filters if name in _DERIV})


def _block_features(chan, G, padded, pre, plan, out, pool):
    """Stage 2 of :func:`_compute_channel`: every feature of ``chan`` into ``out``.

    ``G`` maps σ to the smoothed image (``chan``'s shape), ``padded`` σ to
    that image with one voxel of margin along each filtered axis, ``pre``
    the full-image filters (median, structure tensor). Used on a whole
    image and on one slab of it (:mod:`.slabs`).
    """
    spec, spacing, axes = plan.spec, plan.spacing, plan.axes
    fd = plan.fd
    deriv = {}  # sigma -> {filter name: output index}
    k = 0
    for name, sigma in spec.filters:
        if name in _DERIV:
            deriv.setdefault(sigma, {})[name] = k
        k += FeatureSpec._outputs(name, fd)

    n_out = out.shape[-1]
    local = threading.local()  # one block buffer per thread, reused

    # Stage 2 (block by block): every feature into a planar block buffer,
    # then one interleaving copy into the output. (Ufuncs writing straight
    # into the output, a 4·n_out-byte stride, would stream a block bigger
    # than the cache through memory once per feature: 3x slower.)
    def run(block):
        o = out[block]
        shape = (n_out,) + o.shape[:-1]
        if getattr(local, "buf", None) is None or local.buf.shape != shape:
            local.buf = np.empty(shape, np.float32)
        buf = local.buf
        halo = tuple(slice(b.start, b.stop + 2) if a in axes else b
                     for a, b in enumerate(block)) + (slice(None),) * (chan.ndim - len(block))
        k = 0
        for name, sigma in spec.filters:
            dst = buf[k]
            if name == "intensity":
                np.copyto(dst, chan[block])
            elif name == "gaussian":
                np.copyto(dst, G[sigma][block])
            elif name == "dog":
                np.subtract(G[sigma][block], G[_DOG_RATIO * sigma][block], out=dst)
            elif name == "median":
                np.copyto(dst, pre["median", sigma][block])
            elif name == "median_residual":
                np.subtract(chan[block], pre["median", sigma][block], out=dst)
                np.abs(dst, out=dst)
            elif name == "structure_tensor_eigenvalues":
                for m in range(fd):
                    np.copyto(buf[k + m], pre[name, sigma][m][block])
            elif name == "sobel":
                _sobel(padded[sigma][halo], axes, spacing, dst)
            elif name == "contrast":
                np.subtract(chan[block], G[sigma][block], out=dst)
            elif name in lines.PLANE_KINDS:
                for m, plane in enumerate(pre[name, sigma]):
                    np.copyto(buf[k + m], plane[block])
            k += FeatureSpec._outputs(name, fd)
        for sigma, where in deriv.items():
            outs = {name: (buf[i] if name != "hessian_eigenvalues" else buf[i:i + fd])
                    for name, i in where.items()
                    if name != "sobel" and name not in lines.HESSIAN_KINDS}
            eigenvalues = lines.hessian_outputs(where, outs, buf, fd)
            if outs:
                derivative_features(padded[sigma][halo], axes, spacing, outs)
            lines.finish_block(where, eigenvalues, buf, sigma)
        # As 2D (voxels, features): a block is whole rows of the output, so
        # this is a view (setting .shape raises rather than copy).
        flat = o.view()
        flat.shape = (-1, n_out)
        planes = buf.reshape(n_out, -1)
        for k0 in range(0, n_out, _INTERLEAVE):
            np.copyto(flat[:, k0:k0 + _INTERLEAVE], planes[k0:k0 + _INTERLEAVE].T)

    _map(pool, run, _block_tasks(chan.shape))


def _zscore(out, pool):
    """Z-score each feature in place (statistics in float64, slab by slab)."""
    F = out.shape[-1]
    flat = out.reshape(-1, F)
    step = max(1, _BLOCK * 4 // F)
    s = np.zeros(F)
    ss = np.zeros(F)
    for i in range(0, flat.shape[0], step):
        block = flat[i:i + step].astype(np.float64)
        s += block.sum(axis=0)
        ss += np.einsum("ij,ij->j", block, block)
    n = flat.shape[0]
    mean = s / n
    std = np.sqrt(np.maximum(ss / n - mean * mean, 0))
    std[std <= 1e-12 * np.maximum(1, np.abs(mean))] = 1  # constant feature
    mean32, inv32 = mean.astype(np.float32), (1 / std).astype(np.float32)

    def run(i):
        blk = flat[i:i + step]
        blk -= mean32
        blk *= inv32

    _map(pool, run, range(0, flat.shape[0], step))


@contextmanager
def _pool(num_workers):
    n = num_workers or os.cpu_count() or 1
    if n <= 1:
        yield None
    else:
        with ThreadPoolExecutor(max_workers=n) as pool:
            yield pool


def _prepare(image, channel_axis, spacing):
    data = np.asarray(image)
    if channel_axis is None:
        data = data[..., np.newaxis]
    else:
        data = np.moveaxis(data, channel_axis, -1)
    if data.ndim - 1 not in (2, 3):
        raise ValueError(
            f"image must be 2D or 3D (plus a channel axis); got spatial shape "
            f"{data.shape[:-1]}"
        )
    data = np.asarray(data, dtype=np.float32)
    data, _ = fill_non_finite(data)
    ndim = data.ndim - 1
    if spacing is None:
        spacing = (1.0,) * ndim
    spacing = tuple(float(s) for s in np.broadcast_to(np.asarray(spacing, float), (ndim,))) \
        if np.ndim(spacing) == 0 else tuple(float(s) for s in spacing)
    if len(spacing) != ndim or not all(np.isfinite(s) and s > 0 for s in spacing):
        raise ValueError(
            f"spacing must be {ndim} positive numbers, one per spatial axis; got {spacing}"
        )
    return data, spacing


def _normalize_region(region, shape):
    if not isinstance(region, tuple):
        region = (region,)
    if len(region) > len(shape):
        raise ValueError(f"region {region} has more axes than the image {shape}")
    region = region + (slice(None),) * (len(shape) - len(region))
    slices, squeeze = [], []
    for a, (r, n) in enumerate(zip(region, shape)):
        if isinstance(r, slice):
            start, stop, step = r.indices(n)
            if step != 1 or stop <= start:
                raise ValueError(f"region along axis {a} must be a non-empty step-1 slice; got {r}")
            slices.append(slice(start, stop))
        else:
            i = int(r)
            if not -n <= i < n:
                raise ValueError(f"region index {i} is out of range for axis {a} of size {n}")
            i %= n
            slices.append(slice(i, i + 1))
            squeeze.append(a)
    return tuple(slices), tuple(squeeze)


def compute_features(
    image,
    spec=None,
    *,
    spacing=None,
    channel_axis=None,
    num_workers=None,
    region=None,
) -> np.ndarray:
    """Compute a stack of filter responses for every pixel.

    Parameters
    ----------
    image : array-like
        2D or 3D spatial image, plus one channel axis if ``channel_axis``
        is given. Non-finite pixels are replaced by the channel's finite
        mean before filtering (see :func:`fill_non_finite`).
    spec : FeatureSpec, str or None, optional
        The filters; a preset name (see :data:`PRESETS`) or ``None`` for
        the default preset.
    spacing : float or sequence of float, optional
        Physical size of a voxel along each spatial axis; σ are in these
        units, so an anisotropic volume gets a different σ in voxels per
        axis. ``None`` means 1 per axis.
    channel_axis : int, optional
        Axis of ``image`` that holds channels; each channel is filtered
        separately.
    num_workers : int, optional
        Threads used for filtering; ``None`` uses all cores.
    region : tuple of slice or int, optional
        Compute only this block of the spatial axes (e.g. ``(12,)`` for
        slice 12 of a volume, for a live preview). The block is filtered
        with enough margin that it equals the same region of the full
        computation (except with ``spec.normalize``, whose statistics are
        then the block's). Integer entries drop their axis.

    Returns
    -------
    features : ndarray of float32, C-contiguous, shape ``spatial + (n_features,)``
        ``n_features = spec.n_features(n_channels, ndim)``, ordered as
        :meth:`FeatureSpec.names`.

    Raises
    ------
    ValueError
        If the image is not 2D/3D spatial, ``spacing`` does not match, a
        channel has no finite pixel, or a σ needs a kernel larger than the
        image.

    Examples
    --------
    >>> img = np.zeros((32, 32)); img[8:24, 8:24] = 1
    >>> compute_features(img, "minimal").shape
    (32, 32, 2)
    >>> vol = np.zeros((8, 32, 32))
    >>> spec = FeatureSpec((("hessian_eigenvalues", 1.0),))
    >>> compute_features(vol, spec).shape
    (8, 32, 32, 3)
    >>> compute_features(vol, spec, region=(4,)).shape
    (32, 32, 3)
    """
    spec = _resolve_spec(spec)
    data, spacing = _prepare(image, channel_axis, spacing)
    shape = data.shape[:-1]
    plan = _Plan(spec, shape, spacing)  # validates σ against the full image
    from .slabs import compute_streamed, streamable

    if region is not None:
        slices, squeeze = _normalize_region(region, shape)
        if streamable(spec) and all(s == slice(0, n) for s, n in
                                    zip(slices[1:], shape[1:], strict=True)):
            # Planes of the whole image: the same bits as the whole computation.
            feats = compute_streamed(data, spec, spacing, num_workers=num_workers,
                                     start=slices[0].start, stop=slices[0].stop)
            if squeeze:
                feats = feats.reshape(feats.shape[1:])
            return feats
        crop = tuple(slice(max(0, s.start - h), min(n, s.stop + h))
                     for s, h, n in zip(slices, plan.halo, shape))
        inner = tuple(slice(s.start - c.start, s.stop - c.start) for s, c in zip(slices, crop))
        sub = data[crop]
        feats = _compute(sub, _Plan(spec, sub.shape[:-1], spacing, check=False), num_workers)
        feats = feats[inner]
        if squeeze:
            feats = feats.reshape(tuple(n for a, n in enumerate(feats.shape[:-1])
                                        if a not in squeeze) + feats.shape[-1:])
        return np.ascontiguousarray(feats)
    if streamable(spec):
        return compute_streamed(data, spec, spacing, num_workers=num_workers)
    return _compute(data, plan, num_workers)


def _compute(data, plan, num_workers):
    n_channels = data.shape[-1]
    shape = data.shape[:-1]
    fc = plan.spec.n_features(1, len(shape))
    out = np.empty(shape + (fc * n_channels,), np.float32)
    with _pool(num_workers) as pool:
        for c in range(n_channels):
            chan = np.ascontiguousarray(data[..., c])
            _compute_channel(chan, plan, out[..., c * fc:(c + 1) * fc], pool)
        if plan.spec.normalize:
            _zscore(out, pool)
    return out


def compute_features_block(image, spec, region, **kwargs) -> np.ndarray:
    """Features of one block (e.g. the current slice) of ``image``.

    Same as ``compute_features(image, spec, region=region, **kwargs)``: the
    block is computed with a margin of about 4σ, so it equals the same
    region of the full computation.

    Parameters
    ----------
    image : array-like
        See :func:`compute_features`.
    spec : FeatureSpec, str or None
        See :func:`compute_features`.
    region : tuple of slice or int
        The block along the leading spatial axes; integers drop their axis.
    **kwargs
        ``spacing``, ``channel_axis``, ``num_workers``.

    Returns
    -------
    features : ndarray of float32, shape ``block_shape + (n_features,)``

    Examples
    --------
    >>> vol = np.random.default_rng(0).random((16, 24, 24))
    >>> full = compute_features(vol, "minimal")
    >>> block = compute_features_block(vol, "minimal", (slice(4, 6),))
    >>> bool(np.allclose(block, full[4:6]))
    True
    """
    return compute_features(image, spec, region=region, **kwargs)
