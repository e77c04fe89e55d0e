"""Eigenvalues of symmetric 2×2 and 3×3 matrices, per voxel, in closed form."""

from __future__ import annotations

import numpy as np

# cos(arccos(r) / 3) as a polynomial in s = sqrt((1 + r) / 2), r in [-1, 1]:
# analytic in s, so degree 6 is accurate to 2e-7 (least squares on
# Chebyshev-spaced points); highest degree first. It replaces the arccos and
# two cosines of the trigonometric 3×3 eigenvalue formula, which cost 3× more.
_COS_THIRD = (-0.00214345, 0.01062305, -0.02653822, 0.05154791, -0.11082304,
              0.57733346, 0.50000016)
_TINY = np.finfo(np.float32).tiny

def _eig_sym(elems, outs, trace=None):
    """Eigenvalues (decreasing) of symmetric 2×2 / 3×3 matrices, elementwise.

    Parameters
    ----------
    elems : list of float32 ndarray
        Upper-triangle entries row by row (a00, a01, [a02,] a11, ...). They
        are overwritten (used as scratch).
    outs : list of ndarray
        One array (or view) per eigenvalue, largest first; not ``trace``.
    trace : ndarray, optional
        The matrices' trace, when the caller has it already.
    """
    if len(elems) == 3:
        a, b, c = elems
        t = (a + c) if trace is None else trace.copy()
        t *= 0.5
        a -= c
        a *= 0.5
        a *= a
        b *= b
        a += b
        np.sqrt(a, out=a)
        np.add(t, a, out=outs[0])
        np.subtract(t, a, out=outs[1])
        return
    # Trigonometric closed form for symmetric 3×3 (Smith 1961): with
    # q = trace / 3, B = A - q I, p = sqrt(tr(B²) / 6) and r = det(B) / (2 p³),
    # the eigenvalues are q + 2 p cos((arccos r + 2πk) / 3), k = 0, 2, 1.
    a00, a01, a02, a11, a12, a22 = elems
    q = np.multiply(a00 + a11 + a22 if trace is None else trace, np.float32(1 / 3))
    d0, d1, d2 = a00, a11, a22
    d0 -= q
    d1 -= q
    d2 -= q
    t = np.empty_like(q)
    p = d0 * d0
    p += np.multiply(d1, d1, out=t)
    p += np.multiply(d2, d2, out=t)
    u = a01 * a01
    u += np.multiply(a02, a02, out=t)
    u += np.multiply(a12, a12, out=t)
    u *= 2
    p += u
    p *= np.float32(1 / 6)
    np.sqrt(p, out=p)
    v = np.empty_like(q)
    # det(B) by the first row, into u
    np.multiply(d1, d2, out=u)
    u -= np.multiply(a12, a12, out=t)
    u *= d0
    np.multiply(a01, d2, out=t)
    t -= np.multiply(a12, a02, out=v)
    t *= a01
    u -= t
    np.multiply(a01, a12, out=t)
    t -= np.multiply(d1, a02, out=v)
    t *= a02
    u += t
    # r = det / (2 p³), clipped against rounding (p = 0: all equal, r = 0)
    np.multiply(p, p, out=v)
    v *= p
    v *= 2
    np.maximum(v, _TINY, out=v)
    u /= v
    np.minimum(u, 1, out=u)
    np.maximum(u, -1, out=u)
    # cos(arccos(r)/3) = C(sqrt((1+r)/2)) and cos((arccos(r) + 2π)/3) =
    # -C(sqrt((1-r)/2)): one polynomial evaluation on both arguments.
    x = np.empty((2,) + q.shape, np.float32)
    np.multiply(u, 0.5, out=x[0])
    np.multiply(u, -0.5, out=x[1])
    x += 0.5
    np.sqrt(x, out=x)
    acc = np.multiply(x, _COS_THIRD[0])
    for coef in _COS_THIRD[1:-1]:
        acc += coef
        acc *= x
    acc += _COS_THIRD[-1]
    p *= 2
    acc *= p
    np.add(q, acc[0], out=outs[0])
    np.subtract(q, acc[1], out=outs[2])
    acc[1] -= acc[0]
    np.add(q, acc[1], out=outs[1])
