"""Recursive (IIR) Gaussian smoothing: Young & van Vliet's third-order filter.

An optional, approximate alternative to the engine's truncated convolutions
for large σ (its cost does not grow with σ). Not used by
:func:`~.engine.compute_features`: ``bench/large_sigma.py`` measures its error
against :func:`scipy.ndimage.gaussian_filter` and its speed; see
``docs/scale.md`` for where it would be safe.

References
----------
.. [1] I. T. Young and L. J. van Vliet, "Recursive implementation of the
   Gaussian filter", Signal Processing 44 (1995) 139-151.
"""

from __future__ import annotations

import numpy as np

__all__ = ["iir_gaussian"]


def _coefficients(sigma):
    if sigma >= 2.5:
        q = 0.98711 * sigma - 0.96330
    else:
        q = 3.97156 - 4.14554 * np.sqrt(1 - 0.26891 * sigma)
    b0 = 1.57825 + 2.44413 * q + 1.4281 * q**2 + 0.422205 * q**3
    b1 = (2.44413 * q + 2.85619 * q**2 + 1.26661 * q**3) / b0
    b2 = -(1.4281 * q**2 + 1.26661 * q**3) / b0
    b3 = 0.422205 * q**3 / b0
    return 1.0 - (b1 + b2 + b3), b1, b2, b3


def _recurse(x, B, b1, b2, b3):
    """Forward then backward third-order recursion along axis 0 (in place)."""
    n = x.shape[0]
    for i in range(n):
        x[i] *= B
        if i >= 1:
            x[i] += b1 * x[i - 1]
        if i >= 2:
            x[i] += b2 * x[i - 2]
        if i >= 3:
            x[i] += b3 * x[i - 3]
    for i in range(n - 1, -1, -1):
        x[i] *= B
        if i + 1 < n:
            x[i] += b1 * x[i + 1]
        if i + 2 < n:
            x[i] += b2 * x[i + 2]
        if i + 3 < n:
            x[i] += b3 * x[i + 3]
    return x


def iir_gaussian(image, sigma, *, axes=None):
    """Gaussian smoothing by recursive filtering, ``scipy.ndimage``'s reflecting border.

    Each axis is reflect-padded by ``4σ`` (as the convolution's truncation
    reads), filtered forward and backward, and cropped.

    Parameters
    ----------
    image : ndarray
    sigma : float or sequence of float
        Per axis, in voxels; 0 skips an axis. Valid from 0.5 on.
    axes : sequence of int, optional
        Axes to smooth (default every axis with σ > 0).

    Returns
    -------
    ndarray of float32

    Examples
    --------
    >>> from scipy import ndimage as ndi
    >>> x = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    >>> err = np.abs(iir_gaussian(x, 4.0) - ndi.gaussian_filter(x, 4.0)).max()
    >>> bool(err < 0.01)
    True
    """
    out = np.array(image, dtype=np.float32)
    sigmas = np.broadcast_to(np.asarray(sigma, float), (out.ndim,))
    axes = range(out.ndim) if axes is None else axes
    for a in axes:
        s = float(sigmas[a])
        if s <= 0 or out.shape[a] < 2:
            continue
        if s < 0.5:
            raise ValueError(f"the recursive Gaussian needs sigma >= 0.5; got {s}")
        pad = int(4 * s + 0.5)
        moved = np.moveaxis(out, a, 0)
        n = moved.shape[0]
        index = np.arange(-pad, n + pad)
        m = np.mod(index, 2 * n)
        index = np.where(m >= n, 2 * n - 1 - m, m)
        padded = np.ascontiguousarray(moved[index], dtype=np.float64)
        _recurse(padded, *_coefficients(s))
        np.copyto(moved, padded[pad:pad + n], casting="same_kind")
    return out
