"""Gradient magnitude, Laplacian and Hessian eigenvalues of a smoothed block, one pass per voxel.

Central finite differences of a Gaussian-smoothed image (one voxel of
margin along each filtered axis), then the closed-form eigenvalues of the
symmetric 2×2 or 3×3 Hessian, all in one compiled loop over the voxels:
every value is read once and every feature written once, where the NumPy
formulation streamed a block through memory some forty times.

The arithmetic is the NumPy formulation's, operation for operation in
float32 (the same order, no fused multiply-adds, constants rounded to
float32 as NumPy rounds a Python scalar): the features are the same bits
(``tests/test_derivatives.py`` checks it against that formulation).
The 3D kernel takes ~6 s of CPU to compile on its first call after an
install (numba's on-disk cache serves it afterwards).
"""

from __future__ import annotations

import functools

import numpy as np

from ..compiled import with_globals
from .eigen import _COS_THIRD

__all__ = ["derivative_features"]

_F = np.float32
_C0, _C1, _C2, _C3, _C4, _C5, _C6 = (_F(c) for c in _COS_THIRD)
_HALF = _F(0.5)
_MINUS_HALF = _F(-0.5)
_ONE = _F(1.0)
_MINUS_ONE = _F(-1.0)
_TWO = _F(2.0)
_THIRD = _F(1 / 3)
_SIXTH = _F(1 / 6)
_TINY = np.finfo(np.float32).tiny


def _cos_third(x):
    """``cos(arccos(r) / 3)`` at ``x = sqrt((1 + r) / 2)`` (see :mod:`.eigen`)."""
    acc = x * _C0
    acc = (acc + _C1) * x
    acc = (acc + _C2) * x
    acc = (acc + _C3) * x
    acc = (acc + _C4) * x
    acc = (acc + _C5) * x
    return acc + _C6


def _eig3_row(h00, h11, h22, h01, h02, h12, trace, e0_out, e1_out, e2_out):
    """Eigenvalues of one row of symmetric 3×3 matrices (Smith's closed form, as
    eigen._eig_sym): a branch-free loop the compiler vectorises."""
    for i in range(trace.shape[0]):
        q = trace[i] * _THIRD
        e0, e1, e2 = h00[i] - q, h11[i] - q, h22[i] - q
        a01, a02, a12 = h01[i], h02[i], h12[i]
        p = e0 * e0
        p = p + e1 * e1
        p = p + e2 * e2
        u = a01 * a01
        u = u + a02 * a02
        u = u + a12 * a12
        u = u * _TWO
        p = p + u
        p = np.sqrt(p * _SIXTH)
        det = ((e1 * e2) - a12 * a12) * e0
        t = ((a01 * e2) - a12 * a02) * a01
        det = det - t
        t = ((a01 * a12) - e1 * a02) * a02
        det = det + t
        v = ((p * p) * p) * _TWO
        v = v if not v < _TINY else _TINY
        r = det / v
        r = r if not r > _ONE else _ONE
        r = r if not r < _MINUS_ONE else _MINUS_ONE
        big = _cos_third(np.sqrt(r * _HALF + _HALF))
        small = _cos_third(np.sqrt(r * _MINUS_HALF + _HALF))
        p = p * _TWO
        big = big * p
        small = small * p
        e0_out[i] = q + big
        e2_out[i] = q - small
        e1_out[i] = q + (small - big)


def _derivatives_3d(P, gs, ds, ms, half, gm, lap, eig, want_gm, want_lap, want_eig):
    """3D: ``P`` has one voxel of margin on every axis; outputs have the core's shape."""
    n0, n1, n2 = P.shape[0] - 2, P.shape[1] - 2, P.shape[2] - 2
    g0, g1, g2 = gs[0], gs[1], gs[2]
    d0, d1, d2 = ds[0], ds[1], ds[2]
    m01, m02, m12 = ms[0], ms[1], ms[2]
    h00 = np.empty(n2, np.float32)
    h11 = np.empty(n2, np.float32)
    h22 = np.empty(n2, np.float32)
    h01 = np.empty(n2, np.float32)
    h02 = np.empty(n2, np.float32)
    h12 = np.empty(n2, np.float32)
    trace = np.empty(n2, np.float32)
    for z in range(n0):
        for y in range(n1):
            c = P[z + 1, y + 1, 1:n2 + 1]
            xp, xm = P[z + 1, y + 1, 2:n2 + 2], P[z + 1, y + 1, 0:n2]
            zp, zm = P[z + 2, y + 1, 1:n2 + 1], P[z, y + 1, 1:n2 + 1]
            yp, ym = P[z + 1, y + 2, 1:n2 + 1], P[z + 1, y, 1:n2 + 1]
            if want_gm:
                out = gm[z, y]
                for x in range(n2):
                    a = (zp[x] - zm[x]) * g0
                    acc = a * a
                    a = (yp[x] - ym[x]) * g1
                    acc = acc + a * a
                    a = (xp[x] - xm[x]) * g2
                    acc = acc + a * a
                    out[x] = np.sqrt(acc) * half
            if not (want_lap or want_eig):
                continue
            for x in range(n2):
                two = c[x] + c[x]
                a = ((zp[x] + zm[x]) - two) * d0
                b = ((yp[x] + ym[x]) - two) * d1
                e = ((xp[x] + xm[x]) - two) * d2
                h00[x], h11[x], h22[x] = a, b, e
                trace[x] = (a + b) + e
            if want_lap:
                lap[z, y, :] = trace
            if not want_eig:
                continue
            # mixed differences: the four diagonal neighbours in each plane
            pp, mm = P[z + 2, y + 2, 1:n2 + 1], P[z, y, 1:n2 + 1]
            pm, mp = P[z + 2, y, 1:n2 + 1], P[z, y + 2, 1:n2 + 1]
            for x in range(n2):
                h01[x] = ((pp[x] + mm[x]) - (pm[x] + mp[x])) * m01
            pp, mm = P[z + 2, y + 1, 2:n2 + 2], P[z, y + 1, 0:n2]
            pm, mp = P[z + 2, y + 1, 0:n2], P[z, y + 1, 2:n2 + 2]
            for x in range(n2):
                h02[x] = ((pp[x] + mm[x]) - (pm[x] + mp[x])) * m02
            pp, mm = P[z + 1, y + 2, 2:n2 + 2], P[z + 1, y, 0:n2]
            pm, mp = P[z + 1, y + 2, 0:n2], P[z + 1, y, 2:n2 + 2]
            for x in range(n2):
                h12[x] = ((pp[x] + mm[x]) - (pm[x] + mp[x])) * m12
            _eig3_row(h00, h11, h22, h01, h02, h12, trace, eig[0, z, y], eig[1, z, y],
                      eig[2, z, y])


def _derivatives_2d(P, gs, ds, ms, half, gm, lap, eig, want_gm, want_lap, want_eig):
    """2D: ``P`` has one voxel of margin on its last two axes only (slices filtered apart)."""
    n0, n1, n2 = P.shape[0], P.shape[1] - 2, P.shape[2] - 2
    g1, g2 = gs[0], gs[1]
    d1, d2 = ds[0], ds[1]
    m12 = ms[0]
    for z in range(n0):
        for y in range(n1):
            c = P[z, y + 1, 1:n2 + 1]
            xp, xm = P[z, y + 1, 2:n2 + 2], P[z, y + 1, 0:n2]
            yp, ym = P[z, y + 2, 1:n2 + 1], P[z, y, 1:n2 + 1]
            if want_gm:
                out = gm[z, y]
                for x in range(n2):
                    a = (yp[x] - ym[x]) * g1
                    acc = a * a
                    a = (xp[x] - xm[x]) * g2
                    acc = acc + a * a
                    out[x] = np.sqrt(acc) * half
            if not (want_lap or want_eig):
                continue
            pp, mm = P[z, y + 2, 2:n2 + 2], P[z, y, 0:n2]
            pm, mp = P[z, y + 2, 0:n2], P[z, y, 2:n2 + 2]
            # (an output not asked for is a 1-voxel dummy, never written)
            out_lap = lap[z, y] if want_lap else lap[0, 0]
            big = eig[0, z, y] if want_eig else eig[0, 0, 0]
            small = eig[1, z, y] if want_eig else eig[0, 0, 0]
            for x in range(n2):
                two = c[x] + c[x]
                h11 = ((yp[x] + ym[x]) - two) * d1
                h22 = ((xp[x] + xm[x]) - two) * d2
                trace = h11 + h22
                if want_lap:
                    out_lap[x] = trace
                if want_eig:
                    h12 = ((pp[x] + mm[x]) - (pm[x] + mp[x])) * m12
                    t = trace * _HALF
                    a = (h11 - h22) * _HALF
                    a = a * a
                    a = a + h12 * h12
                    a = np.sqrt(a)
                    big[x] = t + a
                    small[x] = t - a


_DUMMY3 = np.zeros((1, 1, 1), np.float32)
_DUMMY4 = np.zeros((1, 1, 1, 1), np.float32)


def derivative_features(P, axes, spacing, outs):
    """Gradient magnitude, Laplacian and Hessian eigenvalues of one padded block.

    Parameters
    ----------
    P : ndarray of float32
        The smoothed block with one voxel of margin along each axis in
        ``axes`` (2D or 3D; with 2 filtered axes of a 3D block, slices are
        filtered apart: the ``"2d"`` mode).
    axes : tuple of int
        The filtered axes.
    spacing : tuple of float
        Voxel size per axis of ``P``.
    outs : dict
        ``"gradient_magnitude"``, ``"laplacian"``: a C-contiguous float32
        array of the block's (core's) shape; ``"hessian_eigenvalues"``: a
        C-contiguous ``(len(axes),) + core`` float32 array, largest
        eigenvalue first. Filters not in it are skipped.
    """
    if P.ndim == 2:
        P, axes = P[np.newaxis], tuple(a + 1 for a in axes)
        spacing = (1.0,) + tuple(spacing)
    core = tuple(n - 2 if a in axes else n for a, n in enumerate(P.shape))

    def view(name, lead=()):
        arr = outs.get(name)
        if arr is None:
            return (_DUMMY4 if lead else _DUMMY3), False
        return arr.reshape(lead + core), True

    gm, want_gm = view("gradient_magnitude")
    lap, want_lap = view("laplacian")
    eig, want_eig = view("hessian_eigenvalues", (len(axes),))
    if not (want_gm or want_lap or want_eig):
        return
    ref = spacing[axes[0]]
    # Each factor as NumPy applies a Python float to a float32 array; the
    # NumPy formulation skipped factors of 1, which multiply exactly.
    gs = np.array([ref / spacing[a] if spacing[a] != ref else 1.0 for a in axes], np.float32)
    ds = np.array([1.0 / spacing[a] ** 2 if spacing[a] != 1 else 1.0 for a in axes],
                  np.float32)
    ms = np.array([0.25 / (spacing[a] * spacing[b])
                   for i, a in enumerate(axes) for b in axes[i + 1:]], np.float32)
    half = np.float32(0.5 / ref)
    kernel = _kernels()[len(axes) - 2]
    kernel(np.asarray(P, dtype=np.float32), gs, ds, ms, half, gm, lap, eig,
           want_gm, want_lap, want_eig)


@functools.lru_cache(maxsize=1)
def _kernels():
    """The compiled 2D and 3D kernels (numba is imported on first use)."""
    import numba

    jit = numba.njit(nogil=True, cache=True, error_model="numpy")
    eig3_row = jit(with_globals(_eig3_row, _cos_third=jit(_cos_third)))
    return jit(_derivatives_2d), jit(with_globals(_derivatives_3d, _eig3_row=eig3_row))
