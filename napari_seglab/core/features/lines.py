"""Features for thin structures: ridge (line / tube) strength and local contrast.

Two filter kinds of :class:`~.spec.FeatureSpec`, computed by the engine
block by block (so slabs and the whole image give the same bits):

* ``ridge`` at σ: two outputs, the strength of a *bright* and of a *dark*
  line (2D) or tube (3D) of width about σ, from the Hessian-of-Gaussian
  eigenvalues at σ that the engine computes anyway (:func:`ridge_strength`);
* ``contrast`` at σ: the intensity minus its Gaussian at σ, ``f - G(σ)``
  (the local background removed; a thin dark vessel is negative on any
  slowly varying background);
* ``line`` at σ: two outputs, the classic retinal line detector [2]_ —
  the mean along a line of half-length 2σ at 12 orientations, its maximum
  minus the mean over the square around (bright lines) and the square's
  mean minus its minimum (dark lines) — in the planes of the last two
  axes (:func:`line_detector`). The engine asks for it plane by plane
  (:func:`plane_features`), with the rows around a 2D image's slab.

The per-pixel formulas live here; the engine only calls them.
"""

from __future__ import annotations

import numpy as np

__all__ = ["HESSIAN_KINDS", "OUTPUT_LABELS", "PLANE_KINDS", "line_detector",
           "ridge_from_image", "ridge_strength"]

#: Output labels of the multi-output kinds of this module (see FeatureSpec.names).
OUTPUT_LABELS = {"ridge": ("bright", "dark"), "line": ("bright", "dark")}
#: Kinds derived from the Hessian eigenvalues at their σ.
HESSIAN_KINDS = ("ridge",)
#: Kinds computed on whole planes of the raw image (last two axes).
PLANE_KINDS = ("line",)
#: Orientations of the line detector (every 15°, as in [2]).
N_ORIENTATIONS = 12


def ridge_strength(eigenvalues, sigma, bright, dark):
    """Bright and dark line (2D) / tube (3D) strength from Hessian eigenvalues.

    With the eigenvalues sorted in decreasing order ``λ1 ≥ … ≥ λd`` (d = 2
    or 3), a bright line or tube curves the intensity down across it (the
    ``d - 1`` smallest eigenvalues strongly negative) and not along it
    (``λ1`` near 0); a dark one is the same with the signs reversed. The
    measures are Sato-style [1]_, scale-normalised by σ²:

    * bright: ``σ² max(0, -λ2 - |λ1|)``;
    * dark: ``σ² max(0, λ(d-1) - |λd|)``.

    A blob (all eigenvalues of one sign and similar) and a flat or linear
    ramp give 0; an edge gives little (its eigenvalues are of opposite
    signs). ``dark`` of ``f`` is ``bright`` of ``-f``.

    Parameters
    ----------
    eigenvalues : sequence of ndarray
        ``d`` float32 arrays (or views) of one shape, ``λ1`` first, in
        physical units (the engine's ``hessian_eigenvalues``).
    sigma : float
        The scale the eigenvalues were computed at, in physical units.
    bright, dark : ndarray
        Outputs, the eigenvalues' shape (may be uninitialised).

    Examples
    --------
    >>> lam = [np.array([0.0, -1.0], np.float32), np.array([-2.0, -1.0], np.float32)]
    >>> b, d = np.empty(2, np.float32), np.empty(2, np.float32)
    >>> ridge_strength(lam, 1.0, b, d)
    >>> b.tolist(), d.tolist()
    ([2.0, 0.0], [0.0, 0.0])

    References
    ----------
    .. [1] Sato, Y. et al. (1998). Three-dimensional multi-scale line filter
       for segmentation and visualization of curvilinear structures in
       medical images. Medical Image Analysis 2(2), 143-168.
    """
    d = len(eigenvalues)
    if d not in (2, 3):
        raise ValueError(f"ridge_strength takes 2 or 3 eigenvalues; got {d}")
    scale = np.float32(sigma * sigma)
    # bright: -λ2 - |λ1|
    np.abs(eigenvalues[0], out=bright)
    np.add(bright, eigenvalues[1], out=bright)
    np.negative(bright, out=bright)
    np.maximum(bright, 0, out=bright)
    bright *= scale
    # dark: λ(d-1) - |λd|
    np.abs(eigenvalues[d - 1], out=dark)
    np.subtract(eigenvalues[d - 2], dark, out=dark)
    np.maximum(dark, 0, out=dark)
    dark *= scale


def ridge_from_image(image, sigma, *, spacing=None):
    """Bright and dark ridge strength of a 2D image or 3D volume at σ.

    What the ``ridge`` filter of :func:`~.engine.compute_features` computes
    (Hessian-of-Gaussian eigenvalues at σ, then :func:`ridge_strength`).

    Parameters
    ----------
    image : array-like, 2D or 3D
    sigma : float
        Scale (physical units), about a line's half-width.
    spacing : float or sequence of float, optional
        Voxel size per axis (``None``: 1).

    Returns
    -------
    ridges : ndarray of float32, shape ``image.shape + (2,)``
        Bright strength, then dark strength.

    Examples
    --------
    >>> img = np.zeros((21, 21)); img[:, 10] = 1  # a bright vertical line
    >>> r = ridge_from_image(img, 1.0)
    >>> int(r[10, :, 0].argmax()), float(r[10, :, 1].max()) < float(r[10, :, 0].max())
    (10, True)
    """
    from .engine import compute_features
    from .spec import FeatureSpec

    return compute_features(image, FeatureSpec((("ridge", float(sigma)),)), spacing=spacing)


def hessian_outputs(where, outs, buf, fd):
    """Eigenvalue buffers the ``ridge`` kinds at one σ need (engine hook).

    ``where`` maps the filters at this σ to their first output index in
    the block buffer ``buf``; ``outs`` is what the derivative stage will
    fill. Adds the Hessian eigenvalues to ``outs`` when a Hessian kind is
    asked for (scratch arrays when the spec does not ask for the
    eigenvalues themselves) and returns them, or ``None``.
    """
    if not any(kind in where for kind in HESSIAN_KINDS):
        return None
    if "hessian_eigenvalues" not in outs:
        # One C-contiguous (fd,) + block array, as the compiled derivative stage writes.
        outs["hessian_eigenvalues"] = np.empty((fd,) + buf.shape[1:], np.float32)
    return outs["hessian_eigenvalues"]


def finish_block(where, eigenvalues, buf, sigma):
    """Write the Hessian kinds at one σ into the block buffer (engine hook)."""
    if eigenvalues is None:
        return
    i = where.get("ridge")
    if i is not None:
        ridge_strength(eigenvalues, sigma, buf[i], buf[i + 1])


def _round_half_away(x):
    """Round to integers, halves away from 0, after dropping float noise
    (cos 60° is 0.5000000000000001): the lines turn with the image."""
    x = np.round(x, 9)
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(int)


def _line_offsets(sigma, spacing):
    """Voxel offsets (row, col) of the 12 oriented lines and the square's half-sizes.

    The lines have half-length ``2σ`` in physical units, sampled every
    ``min(spacing)``; offsets are rounded to voxels (duplicates dropped).
    """
    r = 2.0 * float(sigma)
    step = min(spacing)
    t = np.arange(-np.floor(r / step), np.floor(r / step) + 1) * step
    lines = []
    for k in range(N_ORIENTATIONS):
        theta = np.pi * k / N_ORIENTATIONS
        dy = _round_half_away(t * np.sin(theta) / spacing[0])
        dx = _round_half_away(t * np.cos(theta) / spacing[1])
        lines.append(sorted(set(zip(dy.tolist(), dx.tolist(), strict=True))))
    half = (max(1, int(round(r / spacing[0]))), max(1, int(round(r / spacing[1]))))
    return lines, half


def line_detector(image, sigma, *, spacing=None, rows=None):
    """Multi-orientation line detector in the planes of the last two axes.

    For each pixel, the mean of the image along a line through it of
    half-length ``2σ`` at 12 orientations (every 15°), and the mean over
    the square of half-side ``2σ`` around it (Ricci & Perfetti [2]_):

    * bright: ``max_θ line_θ - square`` (a bright line through the pixel);
    * dark: ``square - min_θ line_θ`` (a dark line).

    Unlike the Hessian's, the support is long and one pixel thin: a line
    answers along its length while a blob or an edge of the same width does
    not fill any of the 12 lines.

    Parameters
    ----------
    image : ndarray, 2D or 3D
        Planes are the last two axes (a volume: each plane on its own).
    sigma : float
        Scale in physical units (the lines' half-length is 2σ).
    spacing : sequence of 2 float, optional
        Pixel size along the last two axes (``None``: 1).
    rows : tuple of int, optional
        ``(start, stop)``: only these rows of a 2D image (the rows around
        them are read, mirrored at the borders); the result is bit for bit
        those rows of the whole image's.

    Returns
    -------
    bright, dark : ndarray of float32
        ``image``'s shape (or ``stop - start`` rows).

    References
    ----------
    .. [2] Ricci, E. and Perfetti, R. (2007). Retinal blood vessel
       segmentation using line operators and support vector classification.
       IEEE Transactions on Medical Imaging 26(10), 1357-1365.

    Examples
    --------
    >>> img = np.zeros((21, 21), np.float32); img[:, 10] = 1  # a bright column
    >>> bright, dark = line_detector(img, 2.0)
    >>> int(bright[10].argmax()), float(dark[10, 10])
    (10, 0.0)
    """
    from .engine import _reflect_index

    image = np.asarray(image, np.float32)
    if image.ndim not in (2, 3):
        raise ValueError(f"line_detector takes a 2D or 3D image; got shape {image.shape}")
    spacing = (1.0, 1.0) if spacing is None else tuple(float(s) for s in spacing)
    lines, (hy, hx) = _line_offsets(sigma, spacing)
    H, W = image.shape[-2:]
    start, stop = (0, H) if rows is None or image.ndim == 3 else rows
    # Mirror (scipy's "reflect") around the planes once; every sum below is
    # then shifted views added in a fixed order: each output reads the same
    # values in the same order whatever the rows asked for.
    ri = _reflect_index(np.arange(start - hy, stop + hy), H)
    ci = _reflect_index(np.arange(-hx, W + hx), W)
    P = image[..., ri, :][..., ci]
    n = stop - start

    def view(dy, dx):
        return P[..., hy + dy:hy + dy + n, hx + dx:hx + dx + W]

    best = np.full(image.shape[:-2] + (n, W), -np.inf, np.float32)
    worst = np.full_like(best, np.inf)
    acc = np.empty_like(best)
    for offsets in lines:
        acc[...] = 0
        for dy, dx in offsets:
            acc += view(dy, dx)
        acc *= np.float32(1 / len(offsets))
        np.maximum(best, acc, out=best)
        np.minimum(worst, acc, out=worst)
    # The square's mean, rows then columns.
    strip = np.zeros(image.shape[:-2] + (n, W + 2 * hx), np.float32)
    for dy in range(-hy, hy + 1):
        strip += P[..., hy + dy:hy + dy + n, :]
    square = np.zeros_like(best)
    for dx in range(-hx, hx + 1):
        square += strip[..., hx + dx:hx + dx + W]
    square *= np.float32(1 / ((2 * hy + 1) * (2 * hx + 1)))
    best -= square
    np.subtract(square, worst, out=worst)
    return best, worst


def plane_features(chan, plan, start=0, stop=None):
    """The plane kinds of ``plan``'s spec for planes ``[start, stop)`` (engine hook).

    Returns ``{(name, σ): (bright, dark)}`` with arrays of ``chan[start:stop]``'s
    shape. A 2D image's slab reads the rows around it; a volume is planar
    along its first axis, so a slab reads nothing else.
    """
    stop = chan.shape[0] if stop is None else stop
    out = {}
    for name, sigma in plan.spec.filters:
        if name in PLANE_KINDS and (name, sigma) not in out:
            spacing = plan.spacing[-2:]
            if chan.ndim == 2:
                out[name, sigma] = line_detector(chan, sigma, spacing=spacing,
                                                 rows=(start, stop))
            else:
                out[name, sigma] = line_detector(chan[start:stop], sigma, spacing=spacing)
    return out
