"""Features slab by slab along the first axis, the whole stack never held.

:func:`iter_feature_slabs` yields the features of consecutive slabs of
planes (``depth`` planes of a volume, or rows of a 2D image). Each scale's
smoothed image is made by fixed blocks of 8 planes: the pass along the
first axis from the raw planes around the block, then the in-plane passes;
a slab reads the blocks it needs (plus one plane on each side for the
derivatives), which are kept until the slabs have moved past them. So a
slab costs its own share of the whole-image work (a block at a slab's edge
is computed once for both slabs), and a few planes cost a few blocks.

The arithmetic is the engine's (:mod:`.engine`): the same kernels, the same
reflecting borders, the same derivative and eigenvalue code on the slab.
Because every plane is computed in the same block whatever the slab, slabs
of any depth and start give the same bits as the whole image;
:func:`~.engine.compute_features` itself streams every spec it can, so the
full stack and the fused path agree exactly.

Specs with full-image filters (median, structure tensor) or z-scoring are
not streamed: their slabs are computed with their margin (the engine on the
padded slab), or, when z-scored, once whole.
"""

from __future__ import annotations

import numpy as np

from . import lines
from .engine import (
    _blas_threads,
    _block_features,
    _compute,
    _derivative_sigmas,
    _gauss_kernel,
    _gaussian,
    _map,
    _Plan,
    _pool,
    _reflect_index,
)
from .spec import _BLOCK, _MATMUL_MIN_RADIUS, FeatureSpec

__all__ = ["SLAB_VOXELS", "compute_streamed", "default_depth", "iter_feature_slabs",
           "streamable"]

#: Voxels per slab by default: on 160³ with the blend's bank 2^18 to 2^20
#: voxels per slab ran within the machine's noise, and the fused path holds
#: two slabs' features and one slab's prediction temporaries: 2^18 kept
#: segment()'s memory growth at 5x the float32 image (8x at 2^19).
SLAB_VOXELS = 1 << 18
#: Planes smoothed in one block (see :class:`_Window`).
_GROUP = 8
#: Values per block at least: small planes (a 2D image's rows) go in bigger
#: blocks, so that each call smooths enough values to pay for itself.
_BLOCK_VALUES = 1 << 17


def block_planes(spatial) -> int:
    """Planes per block of an image of spatial shape ``spatial`` (a multiple of 8)."""
    plane = max(1, int(np.prod(spatial[1:])))
    return _GROUP * max(1, -(-_BLOCK_VALUES // plane) // _GROUP)
_FULL_IMAGE_FILTERS = ("median", "median_residual", "structure_tensor_eigenvalues")


def streamable(spec: FeatureSpec) -> bool:
    """Can ``spec`` be computed slab by slab with every plane smoothed once?"""
    return not spec.normalize and not any(n in _FULL_IMAGE_FILTERS for n, _ in spec.filters)


class _Window:
    """One channel's smoothed planes for one σ, by fixed blocks of planes.

    A block of :func:`block_planes` planes (absolute indices) is smoothed along
    the first axis from the raw planes around it, then in-plane; the blocks
    a slab reads are kept until the slabs have moved past them. Every plane
    is computed in the same block whatever the slab that asks for it: BLAS
    rounds a row of a product differently with the product's shape, so
    fixed blocks make slabs of any depth and start, and the whole image,
    give the same bits. Nothing but the raw image is read: no window of
    smoothed planes around the slab.
    """

    def __init__(self, chan, vsigma, pool):
        self.chan, self.pool = chan, pool
        self.plane_sigma = (0.0,) + tuple(vsigma[1:])
        n = chan.shape[0]
        self.w = _gauss_kernel(vsigma[0]) if vsigma[0] > 0 and n > 1 else None
        self.r = 0 if self.w is None else len(self.w) // 2
        self.smooth = {}  # block index -> smoothed planes of that block
        self._bufs = {}
        self.group = block_planes(chan.shape)

    def _block(self, k):
        """Smoothed planes of block ``k`` (planes ``[kB, kB + B)``, B = ``self.group``)."""
        got = self.smooth.get(k)
        if got is not None:
            return got
        n = self.chan.shape[0]
        b0, b1 = k * self.group, min(n, (k + 1) * self.group)
        if self.w is None:
            along = self.chan[b0:b1]
        else:
            lo, hi = b0 - self.r, b1 + self.r
            if lo >= 0 and hi <= n:
                raw = self.chan[lo:hi]
            else:  # reflected planes at the borders
                raw = self.chan.take(_reflect_index(np.arange(lo, hi), n), axis=0)
            along = np.empty((b1 - b0,) + self.chan.shape[1:], np.float32)
            _pass_first_axis(raw, self.w, along, self.pool)
        got = _gaussian(along, self.plane_sigma, self.pool)
        self.smooth[k] = got
        return got

    def buffer(self, name, shape):
        """A float32 buffer kept for the next slab (no fresh pages per slab)."""
        buf = self._bufs.get(name)
        if buf is None or buf.shape != shape:
            buf = self._bufs[name] = np.empty(shape, np.float32)
        return buf

    def smoothed(self, lo, hi, out):
        """Smoothed planes ``[lo, hi)`` into ``out``; ``lo`` may be -1 and ``hi``
        one past the end: the engine pads the smoothed image symmetrically by one."""
        n = self.chan.shape[0]
        index = np.clip(np.arange(lo, hi), 0, n - 1)
        for j, z in enumerate(index.tolist()):
            np.copyto(out[j], self._block(z // self.group)[z % self.group])
        # Slabs move forward: blocks below this slab's are read no more.
        first = int(index[0]) // self.group
        for k in [k for k in self.smooth if k < first]:
            del self.smooth[k]
        return out


def _pad_plane_border(P, plane):
    """Fill the one-voxel border of ``P`` along the in-plane axes flagged in
    ``plane`` with the edge values (numpy's symmetric pad of width 1)."""
    for a, padded in enumerate(plane, start=1):
        if not padded:
            continue
        n = P.shape[a]
        edge = [slice(None)] * P.ndim
        src = list(edge)
        edge[a], src[a] = 0, 1
        P[tuple(edge)] = P[tuple(src)]
        edge[a], src[a] = n - 1, n - 2
        P[tuple(edge)] = P[tuple(src)]


def _toeplitz(n, w):
    """``(n, n + 2r)`` float32 matrix ``K`` with ``K[j, j + k] = w[k]``."""
    key = (n, w.tobytes())
    K = _TOEPLITZ.get(key)
    if K is None:
        K = np.zeros((n, n + len(w) - 1), np.float32)
        for j in range(n):
            K[j, j:j + len(w)] = w
        if len(_TOEPLITZ) > 64:
            _TOEPLITZ.clear()
        _TOEPLITZ[key] = K
    return K


_TOEPLITZ: dict = {}


def _pass_first_axis(x, w, out, pool):
    """``out[j] = Σ_k w[k] x[j + k]``, columns in parallel.

    Wide kernels as one banded matrix product per column chunk (BLAS, one
    thread each), narrow ones as the engine's shifted multiply-adds.
    """
    r = len(w) // 2
    n = out.shape[0]
    xs = x.reshape(x.shape[0], -1)
    os_ = out.reshape(n, -1)
    step = max(1, min(-(-xs.shape[1] // 2), _BLOCK // max(x.shape[0], 1)))
    if r >= _MATMUL_MIN_RADIUS:
        K = _toeplitz(n, w)

        def product(c0):
            cols = slice(c0, c0 + step)
            np.matmul(K, xs[:, cols], out=os_[:, cols])

        with _blas_threads(1):
            _map(pool, product, range(0, xs.shape[1], step))
        return

    def run(c0):
        cols = slice(c0, c0 + step)
        dst = os_[:, cols]
        np.multiply(xs[r:r + n, cols], w[r], out=dst)
        tmp = np.empty_like(dst)
        for k in range(1, r + 1):
            np.add(xs[r - k:r - k + n, cols], xs[r + k:r + k + n, cols], out=tmp)
            tmp *= w[r + k]
            dst += tmp

    _map(pool, run, range(0, xs.shape[1], step))


class _ChannelStream:
    """Slab features of one channel (``spatial`` float32, C-contiguous)."""

    def __init__(self, chan, plan, pool):
        self.chan, self.plan, self.pool = chan, plan, pool
        self.windows = {s: _Window(chan, plan.vox(s), pool) for s in plan.smooth}
        self.deriv = set(_derivative_sigmas(plan.spec))
        self.m = 1 if 0 in plan.axes else 0  # derivative margin along the first axis

    def fill(self, z0, z1, out):
        """Features of planes ``[z0, z1)`` into ``out`` (``(z1 - z0,) + plane + (Fc,)``)."""
        plan, chan, m = self.plan, self.chan, self.m
        n = chan.shape[0]
        depth = z1 - z0
        plane = tuple(a in plan.axes for a in range(1, chan.ndim))
        inner = (slice(m, m + depth),) + tuple(slice(1, -1) if p else slice(None)
                                               for p in plane)
        G, padded = {}, {}
        for s in plan.smooth:
            window = self.windows[s]
            if s in self.deriv:
                # Straight into the padded buffer's interior, then its one-voxel
                # in-plane border (the engine's symmetric pad).
                P = window.buffer("padded", (depth + 2 * m,) + tuple(
                    n_ + 2 * p for n_, p in zip(chan.shape[1:], plane, strict=True)))
                window.smoothed(z0 - m, z1 + m, P[(slice(None),) + inner[1:]])
                _pad_plane_border(P, plane)
                padded[s] = P
                G[s] = P[inner]
            else:
                G[s] = window.smoothed(z0, z1, window.buffer("slab", (depth,) + chan.shape[1:]))
        if 0.0 in self.deriv:  # Sobel of the raw image
            rows = _reflect_index(np.arange(z0 - m, z1 + m), n)
            padded[0.0] = np.pad(chan[rows], [(0, 0)] + [(1, 1) if p else (0, 0) for p in plane],
                                 mode="symmetric")
        pre = lines.plane_features(chan, plan, z0, z1)
        _block_features(chan[z0:z1], G, padded, pre, plan, out, self.pool)


def iter_feature_slabs(data, spec, spacing, *, depth, num_workers=None, out=None,
                       start=0, stop=None, want=None):
    """Features of ``data[start:stop]``, ``depth`` planes at a time.

    Parameters
    ----------
    data : ndarray of float32, shape ``spatial + (C,)``
        Finite values (:func:`~.engine.fill_non_finite` done), channels last.
    spec : FeatureSpec
    spacing : tuple of float
        One per spatial axis.
    depth : int
        Planes (along the first spatial axis) per slab.
    num_workers : int, optional
        Threads inside a slab (``None``: every core).
    out : callable, optional
        ``out(z0, z1)`` returns the array to write slab ``[z0, z1)``'s
        features into; ``None`` allocates one buffer and reuses it.
    start, stop : int, optional
        The planes to cover (slabs of the whole first axis by default); the
        planes around them are read as the filters need.
    want : callable, optional
        ``want(z0)``: compute (and yield) the slab starting at plane ``z0``;
        ``None``: every slab.

    Yields
    ------
    z0, z1 : int
        The slab's planes.
    features : ndarray of float32, shape ``(z1 - z0,) + spatial[1:] + (F,)``
        Valid until the next slab is asked for (the buffer is reused).

    Raises
    ------
    ValueError
        What :func:`~.engine.compute_features` raises for a σ too large for
        the image.
    """
    shape = data.shape[:-1]
    plan = _Plan(spec, shape, spacing)  # checks every σ against the whole image
    n = shape[0]
    stop = n if stop is None else int(stop)
    depth = max(1, int(depth))
    n_channels = data.shape[-1]
    fc = spec.n_features(1, len(shape))
    buffer = None

    def slab_buffer(z0, z1):
        nonlocal buffer
        planes = z1 - z0
        if out is not None:
            return out(z0, z1)
        if buffer is None or buffer.shape[0] < planes:
            buffer = np.empty((min(depth, stop - start),) + shape[1:] + (fc * n_channels,),
                              np.float32)
        return buffer[:planes]

    if spec.normalize:  # statistics of the whole image: one slab
        from .engine import compute_features

        whole = compute_features(data, spec, spacing=spacing, channel_axis=-1,
                                 num_workers=num_workers)
        yield start, stop, whole[start:stop]
        return
    if not streamable(spec):
        for z0 in range(start, stop, depth):
            z1 = min(z0 + depth, stop)
            if want is not None and not want(z0):
                continue
            yield z0, z1, _region(data, spec, spacing, plan, z0, z1, num_workers,
                                  slab_buffer(z0, z1))
        return
    with _pool(num_workers) as pool:
        streams = [_ChannelStream(np.ascontiguousarray(data[..., c]), plan, pool)
                   for c in range(n_channels)]
        for z0 in range(start, stop, depth):
            z1 = min(z0 + depth, stop)
            if want is not None and not want(z0):
                continue
            feats = slab_buffer(z0, z1)
            for c, stream in enumerate(streams):
                stream.fill(z0, z1, feats[..., c * fc:(c + 1) * fc])
            yield z0, z1, feats


def default_depth(spatial) -> int:
    """Planes per slab: about :data:`SLAB_VOXELS` voxels, at least 4."""
    plane = max(1, int(np.prod(spatial[1:])))
    return int(min(max(4, SLAB_VOXELS // plane), spatial[0]))


def compute_streamed(data, spec, spacing, *, num_workers=None, start=0, stop=None):
    """Features of planes ``[start, stop)`` of ``data`` into one array, slab by slab.

    What :func:`~.engine.compute_features` returns for a streamable spec
    (the same bits as the fused path's slabs).
    """
    shape = data.shape[:-1]
    stop = shape[0] if stop is None else stop
    n_features = spec.n_features(data.shape[-1], len(shape))
    result = np.empty((stop - start,) + shape[1:] + (n_features,), np.float32)
    for _ in iter_feature_slabs(data, spec, spacing, depth=default_depth(shape),
                                num_workers=num_workers, start=start, stop=stop,
                                out=lambda z0, z1: result[z0 - start:z1 - start]):
        pass
    return result


def _region(data, spec, spacing, plan, z0, z1, num_workers, out):
    """Planes ``[z0, z1)`` computed with their margin (full-image filters)."""
    n = data.shape[0]
    lo, hi = max(0, z0 - plan.halo[0]), min(n, z1 + plan.halo[0])
    sub = data[lo:hi]
    feats = _compute(sub, _Plan(spec, sub.shape[:-1], spacing, check=False), num_workers)
    np.copyto(out, feats[z0 - lo:z1 - lo])
    return out
