"""Features for thin structures: ridge (line / tube) strength and local contrast.

Two filter kinds of :class:`~.spec.FeatureSpec`, computed by the engine
block by block (so slabs and the whole image give the same bits):

* ``ridge`` at σ: two outputs, the strength of a *bright* and of a *dark*
  line (2D) or tube (3D) of width about σ, from the Hessian-of-Gaussian
  eigenvalues at σ that the engine computes anyway (:func:`ridge_strength`);
* ``contrast`` at σ: the intensity minus its Gaussian at σ, ``f - G(σ)``
  (the local background removed; a thin dark vessel is negative on any
  slowly varying background).

The per-pixel formulas live here; the engine only calls them.
"""

from __future__ import annotations

import numpy as np

__all__ = ["HESSIAN_KINDS", "OUTPUT_LABELS", "ridge_strength", "ridge_from_image"]

#: Output labels of the multi-output kinds of this module (see FeatureSpec.names).
OUTPUT_LABELS = {"ridge": ("bright", "dark")}
#: Kinds derived from the Hessian eigenvalues at their σ.
HESSIAN_KINDS = ("ridge",)


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
        outs["hessian_eigenvalues"] = [np.empty(buf.shape[1:], np.float32) for _ in range(fd)]
    return outs["hessian_eigenvalues"]


def finish_block(where, eigenvalues, buf, sigma):
    """Write the Hessian kinds at one σ into the block buffer (engine hook)."""
    if eigenvalues is None:
        return
    i = where.get("ridge")
    if i is not None:
        ridge_strength(eigenvalues, sigma, buf[i], buf[i + 1])
