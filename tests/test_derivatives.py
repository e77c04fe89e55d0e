"""The compiled derivative stage gives the NumPy formulation's bits (features unchanged)."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_seglab.core.features.derivatives import derivative_features
from napari_seglab.core.features.eigen import _eig_sym
from napari_seglab.core.phantoms import tissue_phantom


def _shifted(P, axes, shifts=None):
    shifts = shifts or {}
    return P[tuple(slice(1 + shifts.get(a, 0), n - 1 + shifts.get(a, 0)) if a in axes
                   else slice(None) for a, n in enumerate(P.shape))]


def numpy_derivatives(P, axes, spacing, outs):
    """The NumPy formulation the engine used before the compiled loop (the reference)."""
    core = _shifted(P, axes)
    fwd = {a: _shifted(P, axes, {a: 1}) for a in axes}
    bwd = {a: _shifted(P, axes, {a: -1}) for a in axes}
    t = np.empty(core.shape, np.float32)
    ref = spacing[axes[0]]
    if "gradient_magnitude" in outs:
        acc = np.empty_like(t)
        for k, a in enumerate(axes):
            dst = t if k else acc
            np.subtract(fwd[a], bwd[a], out=dst)
            if spacing[a] != ref:
                dst *= ref / spacing[a]
            dst *= dst
            if k:
                acc += t
        np.sqrt(acc, out=outs["gradient_magnitude"])
        outs["gradient_magnitude"] *= 0.5 / ref
    if "laplacian" not in outs and "hessian_eigenvalues" not in outs:
        return
    two_core = np.add(core, core)
    diag = {}
    for a in axes:
        h = np.add(fwd[a], bwd[a])
        h -= two_core
        if spacing[a] != 1:
            h *= 1.0 / spacing[a] ** 2
        diag[a] = h
    lap = outs.get("laplacian", two_core)
    np.add(diag[axes[0]], diag[axes[1]], out=lap)
    for a in axes[2:]:
        lap += diag[a]
    if "hessian_eigenvalues" in outs:
        elems = []
        for i, a in enumerate(axes):
            elems.append(diag[a])
            for b in axes[i + 1:]:
                h = np.add(_shifted(P, axes, {a: 1, b: 1}), _shifted(P, axes, {a: -1, b: -1}))
                h -= np.add(_shifted(P, axes, {a: 1, b: -1}), _shifted(P, axes, {a: -1, b: 1}),
                            out=t)
                h *= 0.25 / (spacing[a] * spacing[b])
                elems.append(h)
        _eig_sym(elems, list(outs["hessian_eigenvalues"]), trace=lap)


def _padded_phantom(sigma, shape):
    image = tissue_phantom(shape, random_state=4)[0].astype(np.float32)
    smooth = ndi.gaussian_filter(image, sigma).astype(np.float32)
    return np.pad(smooth, 1, mode="symmetric")


CASES = {
    "3d": ((0, 1, 2), (1.0, 1.0, 1.0)),
    "3d-anisotropic": ((0, 1, 2), (3.0, 0.5, 0.7)),
    "2d-mode": ((1, 2), (3.0, 1.0, 1.0)),
    "2d": ((0, 1), (1.0, 1.0)),
    "2d-anisotropic": ((0, 1), (0.5, 1.3)),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("sigma", [1.0, 4.0])
@pytest.mark.parametrize("which", [("gradient_magnitude", "laplacian", "hessian_eigenvalues"),
                                   ("laplacian",),
                                   ("hessian_eigenvalues",), ("gradient_magnitude",)])
def test_compiled_derivatives_equal_the_numpy_formulation(case, sigma, which):
    axes, spacing = CASES[case]
    P = _padded_phantom(sigma, (13, 23, 29) if len(spacing) == 3 else (31, 27))
    if case == "2d-mode":
        P = P[1:-1]  # no margin along the slices
    P = P[:, 2:] if P.ndim == 2 else P[:, :, 1:-3]  # a strided view, as a block is
    core = tuple(n - 2 if a in axes else n for a, n in enumerate(P.shape))
    shapes = {"gradient_magnitude": core, "laplacian": core,
              "hessian_eigenvalues": (len(axes),) + core}
    expected = {name: np.empty(shapes[name], np.float32) for name in which}
    got = {name: np.full(shapes[name], np.nan, np.float32) for name in which}
    numpy_derivatives(P, axes, spacing, expected)
    derivative_features(P, axes, spacing, got)
    for name in which:
        assert np.isfinite(got[name]).all()
        np.testing.assert_array_equal(got[name].view(np.int32), expected[name].view(np.int32),
                                      err_msg=name)
