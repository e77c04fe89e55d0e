"""Feature engine: filters against scipy/skimage references, physical units,
blocks, cache, spec (de)serialisation and errors."""

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.feature import hessian_matrix_eigvals

from napari_seglab.core.feature_cache import FeatureCache
from napari_seglab.core.features import (
    FILTERS,
    PRESETS,
    FeatureSpec,
    compute_features,
    compute_features_block,
    estimate_memory,
    fill_non_finite,
    rank_features,
    reduce_channels,
    seed_features,
    suggest_features,
)
from napari_seglab.core.features.seeds import _seed_boxes
from napari_seglab.core.phantoms import tissue_phantom
from napari_seglab.core.training import balanced_seed_indices

RNG = np.random.default_rng(0)
IMG2 = ndi.gaussian_filter(RNG.random((40, 48)), 1).astype(np.float32)
IMG3 = ndi.gaussian_filter(RNG.random((20, 24, 28)), 1).astype(np.float32)


def one(image, name, sigma, **kw):
    return compute_features(image, FeatureSpec(((name, sigma),)), **kw)


def ref_derivs(image, sigma, spacing=None):
    """Central differences of the Gaussian image (reflect), as documented."""
    spacing = spacing or (1.0,) * image.ndim
    g = ndi.gaussian_filter(image.astype(np.float64), [sigma / s for s in spacing],
                            mode="reflect")
    d1 = [ndi.correlate1d(g, [-0.5, 0, 0.5], axis=a, mode="reflect") / spacing[a]
          for a in range(image.ndim)]
    H = {}
    for a in range(image.ndim):
        for b in range(a, image.ndim):
            if a == b:
                H[a, b] = ndi.correlate1d(g, [1, -2, 1], axis=a, mode="reflect") / spacing[a] ** 2
            else:
                H[a, b] = ndi.correlate1d(d1[a], [-0.5, 0, 0.5], axis=b, mode="reflect") / spacing[b]
    return g, d1, H


@pytest.mark.parametrize("image", [IMG2, IMG3], ids=["2d", "3d"])
@pytest.mark.parametrize("sigma", [0.7, 2.0])
def test_filters_match_references(image, sigma):
    g, d1, H = ref_derivs(image, sigma)
    tol = dict(rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(one(image, "intensity", 0)[..., 0], image)
    np.testing.assert_allclose(one(image, "gaussian", sigma)[..., 0], g, **tol)
    np.testing.assert_allclose(one(image, "gradient_magnitude", sigma)[..., 0],
                               np.sqrt(sum(d * d for d in d1)), **tol)
    np.testing.assert_allclose(one(image, "laplacian", sigma)[..., 0],
                               sum(H[a, a] for a in range(image.ndim)), **tol)
    g66 = ndi.gaussian_filter(image.astype(np.float64), 0.66 * sigma, mode="reflect")
    np.testing.assert_allclose(one(image, "dog", sigma)[..., 0], g - g66, **tol)
    # Hessian eigenvalues: skimage's eigen-solver on the same entries.
    ref = hessian_matrix_eigvals([H[k] for k in sorted(H)])
    got = one(image, "hessian_eigenvalues", sigma)
    np.testing.assert_allclose(np.moveaxis(got, -1, 0), ref, rtol=1e-3, atol=1e-4)
    # Structure tensor: products of the same gradients, outer scale σ/2.
    A = [ndi.gaussian_filter(d1[a] * d1[b], sigma / 2, mode="reflect")
         for a in range(image.ndim) for b in range(a, image.ndim)]
    got = one(image, "structure_tensor_eigenvalues", sigma)
    np.testing.assert_allclose(np.moveaxis(got, -1, 0), hessian_matrix_eigvals(A),
                               rtol=1e-3, atol=1e-5)
    # Sobel magnitude of G(σ), in slope units.
    norm = 2 * 4 ** (image.ndim - 1)
    sob = np.sqrt(sum((ndi.sobel(g, axis=a, mode="reflect") / norm) ** 2
                      for a in range(image.ndim)))
    np.testing.assert_allclose(one(image, "sobel", sigma)[..., 0], sob, **tol)
    med = ndi.median_filter(image, size=2 * max(1, round(sigma)) + 1, mode="reflect")
    np.testing.assert_allclose(one(image, "median", sigma)[..., 0], med)
    np.testing.assert_allclose(one(image, "median_residual", sigma)[..., 0],
                               np.abs(image - med), atol=1e-6)


def test_wide_gaussian_folds_reflections_like_scipy():
    # σ = 12 voxels: the kernel (radius 48) is wider than the 40 rows, so
    # reflected taps fold more than once into the banded matrices.
    g = one(IMG2, "gaussian", 12.0)[..., 0]
    np.testing.assert_allclose(g, ndi.gaussian_filter(IMG2.astype(np.float64), 12.0,
                                                      mode="reflect"), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("eigenvalues", [(3.0, 1.0, -2.0), (1.0, 1.0, -2.0), (2.0, -1.0, -1.0),
                                         (0.5, 0.5, 0.5), (4.0, 0.0, 0.0)],
                         ids=["distinct", "double-top", "double-bottom", "triple", "tube"])
def test_hessian_eigenvalues_of_quadratic_forms(eigenvalues):
    # f = x'Ax/2 has Hessian A everywhere; central differences are exact on
    # quadratics and smoothing only adds a constant, so away from the border
    # (reflection) every voxel must give A's eigenvalues, including repeated
    # ones (plates, tubes, blobs), where closed forms lose accuracy.
    rot = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))[0]
    A = rot @ np.diag(eigenvalues) @ rot.T
    x = np.stack(np.meshgrid(*[np.arange(24.0) - 12] * 3, indexing="ij"), -1)
    f = 0.5 * np.einsum("...i,ij,...j->...", x, A, x)
    got = compute_features(f, FeatureSpec((("hessian_eigenvalues", 1.0),)))[8:16, 8:16, 8:16]
    # float32 differences of values up to ~600 and the double roots: ~2e-4 relative
    np.testing.assert_allclose(got.reshape(-1, 3) - sorted(eigenvalues, reverse=True), 0,
                               atol=1e-3 * np.abs(eigenvalues).max())


def test_threads_do_not_change_the_result():
    # Work is split in fixed blocks whatever the thread count: bitwise equal.
    vol = ndi.gaussian_filter(RNG.random((40, 36, 30)), 1).astype(np.float32)
    one_thread = compute_features(vol, "default", num_workers=1)
    np.testing.assert_array_equal(compute_features(vol, "default", num_workers=2), one_thread)


def test_derivatives_approach_gaussian_derivative_filters():
    # For σ of a few voxels the finite differences match true DoG kernels.
    img = ndi.gaussian_filter(RNG.random((64, 64)), 2).astype(np.float32)
    got = one(img, "laplacian", 3.0)[..., 0]
    ref = ndi.gaussian_laplace(img, 3.0, mode="reflect")
    assert np.abs(got - ref).max() < 0.05 * np.abs(ref).max()


def test_physical_sigma_equals_voxel_sigma():
    # σ = 2 mm with 2 mm voxels is σ = 1 voxel; anisotropic spacing gives
    # per-axis voxel σ.
    spec = FeatureSpec((("gaussian", 2.0), ("hessian_eigenvalues", 2.0)))
    a = compute_features(IMG2, spec, spacing=(2.0, 2.0))
    b = compute_features(IMG2, FeatureSpec((("gaussian", 1.0), ("hessian_eigenvalues", 1.0))))
    np.testing.assert_allclose(a[..., 0], b[..., 0], rtol=1e-6, atol=1e-7)
    # Derivatives are per mm: scaled by 1/spacing².
    np.testing.assert_allclose(a[..., 1:], b[..., 1:] / 4, rtol=1e-5, atol=1e-7)
    g = one(IMG3, "gaussian", 2.0, spacing=(2.0, 0.5, 1.0))[..., 0]
    np.testing.assert_allclose(g, ndi.gaussian_filter(IMG3, (1.0, 4.0, 2.0), mode="reflect"),
                               rtol=1e-5, atol=1e-6)


def test_anisotropic_spacing_equals_resampling():
    # A smooth image sampled every 2 units along axis 0 vs every unit.
    fine = ndi.gaussian_filter(RNG.random((96, 40)), 3).astype(np.float32)
    coarse = fine[::2]
    spec = FeatureSpec((("gaussian", 4.0), ("gradient_magnitude", 4.0)))
    f_fine = compute_features(fine, spec)[::2]
    f_coarse = compute_features(coarse, spec, spacing=(2.0, 1.0))
    inner = slice(12, -12)  # away from the (differently reflected) border
    np.testing.assert_allclose(f_coarse[inner], f_fine[inner], rtol=0.05, atol=2e-3)


def test_2d_mode_filters_each_slice():
    spec = FeatureSpec((("gaussian", 1.5), ("hessian_eigenvalues", 1.5)), mode="2d")
    vol = compute_features(IMG3, spec)
    assert vol.shape == IMG3.shape + (3,)
    per_slice = compute_features(IMG3[7], FeatureSpec(spec.filters))
    # Up to float32 rounding: a 2D image is streamed row by row, a slice of a
    # volume plane by plane (the passes' summation orders differ).
    np.testing.assert_allclose(vol[7], per_slice, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("region", [(5,), (slice(0, 3),), (slice(10, 20), slice(4, 9))])
def test_block_equals_full(region):
    spec = FeatureSpec((("intensity", 0), ("gaussian", 1.0), ("dog", 2.0),
                        ("hessian_eigenvalues", 1.6), ("structure_tensor_eigenvalues", 1.0),
                        ("median_residual", 1.0), ("sobel", 0.0)))
    full = compute_features(IMG3, spec)
    block = compute_features_block(IMG3, spec, region)
    # Equal up to float32 rounding: wide Gaussians are matrix products whose
    # summation order follows the block's bounds (IMG3 is ~0.5 ± 0.1).
    np.testing.assert_allclose(block, full[region], rtol=1e-5, atol=1e-6)


def test_multichannel_and_feature_count():
    rgb = np.stack([IMG2, 2 * IMG2, IMG2**2], axis=0)
    spec = FeatureSpec((("intensity", 0), ("hessian_eigenvalues", 1.0), ("gaussian", 2.0)))
    out = compute_features(rgb, spec, channel_axis=0)
    # channels × Σ outputs per filter (eigenvalues: one per axis)
    assert out.shape == IMG2.shape + (3 * (1 + 2 + 1),)
    assert out.flags.c_contiguous and out.dtype == np.float32
    assert spec.n_features(3, 2) == 12 and spec.n_features(2, 3) == 10
    assert len(spec.names(3)) == 12 and spec.names(3)[4] == "intensity [ch 1]"
    np.testing.assert_allclose(out[..., 4:8], compute_features(2 * IMG2, spec), rtol=1e-6)
    assert PRESETS["full"].n_features(1, 2) == 49 and PRESETS["full"].n_features(1, 3) == 61


def test_normalize_zscores_each_feature():
    spec = FeatureSpec((("intensity", 0), ("gradient_magnitude", 1.0)), normalize=True)
    f = compute_features(IMG2 * 100 + 7, spec).reshape(-1, 2)
    np.testing.assert_allclose(f.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(f.std(axis=0), 1, atol=1e-4)


def test_spec_json_roundtrip_and_presets():
    spec = FeatureSpec((("intensity", 0.0), ("gaussian", 1.0)), mode="2d", normalize=True)
    assert FeatureSpec.from_json(spec.to_json()) == spec
    assert FeatureSpec.from_dict(spec.to_dict()) == spec
    assert FeatureSpec.from_dict({"filters": [["gaussian", 1]]}) == FeatureSpec((("gaussian", 1.0),))
    assert spec != FeatureSpec(spec.filters)
    assert "gaussian@1" in str(spec)
    assert {"minimal", "default", "full"} <= set(PRESETS)
    assert set(FILTERS) >= {n for p in PRESETS.values() for n, _ in p.filters}


@pytest.mark.parametrize("bad, match", [
    ((("sharpen", 1.0),), "unknown filter 'sharpen'"),
    ((("gaussian", -1.0),), "positive sigma"),
    ((("gaussian", 0.0),), "positive sigma"),
    ((("intensity", 1.0),), "sigma=0"),
    ((), "at least one filter"),
])
def test_bad_specs(bad, match):
    with pytest.raises(ValueError, match=match):
        FeatureSpec(bad)


def test_bad_inputs():
    with pytest.raises(ValueError, match="mode must be"):
        FeatureSpec((("gaussian", 1.0),), mode="4d")
    with pytest.raises(ValueError, match="not a feature spec"):
        FeatureSpec.from_dict({"filter": []})
    with pytest.raises(ValueError, match="unknown feature preset"):
        compute_features(IMG2, "fancy")
    with pytest.raises(ValueError, match="spacing must be 2"):
        compute_features(IMG2, "minimal", spacing=(1, 1, 1))
    # σ = 21 voxels is more than half of the image's 40 rows; 20 is fine.
    one(IMG2, "gaussian", 20.0)
    with pytest.raises(ValueError, match=r"more than half the image's 40 voxels"):
        one(IMG2, "gaussian", 21.0)
    # Anisotropic: fine in-plane, too large across 20 thick slices.
    with pytest.raises(ValueError, match="along axis 0 .spacing 3"):
        one(IMG3, "gaussian", 31.0, spacing=(3.0, 1.0, 1.0))


def test_fill_non_finite():
    img = np.ones((4, 4, 1), np.float32)
    img[0, 0, 0] = np.nan
    img[1, 1, 0] = 3
    filled, finite = fill_non_finite(img)
    assert np.isfinite(filled).all() and not finite[0, 0] and finite.sum() == 15


def test_estimate_memory():
    est = estimate_memory((64, 64, 64), "default")
    assert est.output == PRESETS["default"].n_features(1, 3) * 64**3 * 4
    assert est.output < est.peak < 1.5 * est.output


def test_cache_hits_do_not_recompute(monkeypatch):
    import napari_seglab.core.feature_cache as fc

    calls = []
    real = fc.compute_features
    monkeypatch.setattr(fc, "compute_features", lambda *a, **k: calls.append(k) or real(*a, **k))
    cache = FeatureCache()
    a = cache.get(IMG3, "minimal")
    b = cache.get(IMG3, "minimal")
    assert a is b and len(calls) == 1 and (cache.hits, cache.misses) == (1, 1)
    cache.get_slice(IMG3, "minimal", 4)  # served from the full stack
    assert len(calls) == 1 and cache.hits == 2
    cache.get(IMG3, "minimal", version=1)  # data changed
    cache.get(IMG3, "minimal", spacing=(2, 1, 1))
    assert len(calls) == 3
    cache.invalidate()
    s1 = cache.get_slice(IMG3, "default", 4)
    s2 = cache.get_slice(IMG3, "default", 4)
    assert np.shares_memory(s1, s2) and len(calls) == 4
    np.testing.assert_allclose(s1, compute_features(IMG3, "default")[4], rtol=1e-6, atol=1e-7)


def test_cache_computes_a_block_of_slices_around_a_live_slice(monkeypatch):
    # Streamed specs: a slice costs its own block of smoothed planes (8 planes
    # of 128², more of smaller planes), so the cache computes that block
    # (painting on a neighbouring slice is free).
    # Specs with full-image filters read `halo` slices each side: the
    # 2 halo + 1 around the slice, or the whole stack when that margin covers
    # most of the volume.
    import napari_seglab.core.feature_cache as fc
    from napari_seglab.core.features import feature_halo

    calls = []
    real = fc.compute_features
    monkeypatch.setattr(fc, "compute_features", lambda *a, **k: calls.append(k) or real(*a, **k))
    from napari_seglab.core.features.slabs import block_planes

    deep = ndi.gaussian_filter(RNG.random((60, 128, 128)), 1).astype(np.float32)
    assert block_planes(deep.shape) == 8
    full = compute_features(deep, "blend")
    cache = FeatureCache()
    for z in (30, 24, 31, 27):
        np.testing.assert_array_equal(cache.get_slice(deep, "blend", z), full[z])
    assert len(calls) == 1 and calls[0]["region"] == (slice(24, 32),)
    np.testing.assert_array_equal(cache.get_slice(deep, "blend", 32), full[32])
    assert len(calls) == 2 and (cache.hits, cache.misses) == (3, 2)

    median = FeatureSpec((("intensity", 0.0), ("median", 1.0)))
    halo = feature_halo(median, deep.shape)[0]
    calls.clear()
    cache = FeatureCache()
    for z in (30, 30 - halo, 30 + halo):
        np.testing.assert_allclose(cache.get_slice(deep, median, z),
                                   compute_features(deep, median)[z], rtol=1e-6, atol=1e-7)
    assert len(calls) == 1 and calls[0]["region"] == (slice(30 - halo, 30 + halo + 1),)
    wide = FeatureSpec((("intensity", 0.0), ("median", 8.0)))
    calls.clear()
    small = FeatureCache()
    for z in (4, 12, 19):
        small.get_slice(IMG3, wide, z)
    assert len(calls) == 1 and calls[0].get("region") is None  # the whole stack, once
    deep = np.ascontiguousarray(deep[:, :24, :28])
    tight = FeatureCache(max_bytes=4 * 5 * deep[0].size * 4 * 2)  # a quarter = 5 slices
    tight.get_slice(deep, FeatureSpec((("intensity", 0.0), ("median", 3.0))), 30)
    assert calls[-1]["region"] == (slice(28, 33),)


def test_cache_lru_budget():
    one_stack = compute_features(IMG2, "minimal").nbytes
    cache = FeatureCache(max_bytes=2 * one_stack)
    imgs = [IMG2 + i for i in range(3)]
    for im in imgs:
        cache.get(im, "minimal")
    assert len(cache) == 2 and cache.nbytes <= 2 * one_stack
    cache.get(imgs[0], "minimal")  # evicted: computed again
    assert cache.misses == 4


def test_rank_and_suggest_features():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 4)).astype(np.float32)
    y = (X[:, 2] + 0.1 * X[:, 0] > 0).astype(int)
    ranking = rank_features(X, y, list("abcd"))
    assert [n for n, _ in ranking][0] == "c" and ranking == rank_features(X, y, list("abcd"))
    drop = rank_features(X, y, list("abcd"), method="drop_one", n_estimators=20)
    assert drop[0][0] == "c"
    spec = FeatureSpec((("intensity", 0), ("gaussian", 1.0), ("hessian_eigenvalues", 1.0)))
    small = suggest_features(X, y, spec, max_filters=1)  # column 2 = first eigenvalue
    assert small.filters == (("intensity", 0.0), ("hessian_eigenvalues", 1.0))


def test_reduce_channels():
    base = RNG.random((30, 30, 2))
    cube = base @ RNG.random((2, 40)) + 1e-3 * RNG.random((30, 30, 40))
    red = reduce_channels(cube, 3)
    assert red.shape == (30, 30, 3) and red.dtype == np.float32
    var = red.reshape(-1, 3).var(axis=0)
    assert var[0] > var[1] > 100 * var[2]  # two real components
    with pytest.raises(ValueError, match="n_components must be in 1..40"):
        reduce_channels(cube, 41)


# -- features at seed pixels, computed around them only ---------------------------


@pytest.mark.parametrize("mode", ["3d", "2d"])
@pytest.mark.parametrize("largest_sigma", [1.5, 12.0])  # boxes; the whole volume
def test_seed_features_equal_full_features_at_seeds(mode, largest_sigma):
    image, truth = tissue_phantom((24, 48, 48), random_state=0)
    seeds = np.zeros(truth.shape, np.uint8)
    seeds[3, 10:14, 10:30] = 1  # two runs of slices, far apart
    seeds[4, 30:33, 5:9] = 2
    seeds[17:19, 20:22, 20:40] = 1
    spec = FeatureSpec((("intensity", 0.0), ("gaussian", 2.0),
                        ("hessian_eigenvalues", largest_sigma)), mode=mode)
    spacing = (2.0, 1.0, 0.8)
    X, y = seed_features(image, seeds, spec, spacing=spacing, max_per_class=None)
    full = compute_features(image, spec, spacing=spacing)
    index, _ = balanced_seed_indices(seeds, max_per_class=None)
    np.testing.assert_allclose(X, full.reshape(-1, full.shape[-1])[index], atol=1e-5)
    np.testing.assert_array_equal(y, seeds.ravel()[index])


def test_seed_features_rgb_and_normalized_spec():
    rng = np.random.default_rng(0)
    rgb = rng.random((40, 50, 3)).astype(np.float32)
    seeds = np.zeros((40, 50), np.uint8)
    seeds[5, 5:20], seeds[30, 10:40] = 1, 2
    spec = FeatureSpec((("gaussian", 1.0), ("dog", 2.0)), normalize=True)
    X, y = seed_features(rgb, seeds, spec, channel_axis=-1)
    # Z-scoring is left out: it would use the box's statistics.
    full = compute_features(rgb, FeatureSpec(spec.filters), channel_axis=-1)
    assert X.shape == (30, 6)  # 15 pixels per class (balanced), 2 filters × 3 channels
    index, _ = balanced_seed_indices(seeds)
    np.testing.assert_allclose(X, full.reshape(-1, 6)[index], atol=1e-5)
    with pytest.raises(ValueError, match="spatial shape"):
        seed_features(rgb, seeds[:, :10], spec, channel_axis=-1)


def test_seed_boxes_follow_the_seeds():
    shape = (40, 64, 64)
    seeds = np.zeros(shape, np.uint8)
    seeds[5, 10:20, 10:12] = 1
    seeds[30:32, 40:50, 40:42] = 2
    coords = np.nonzero(seeds)
    # Small margins: one box per run of slices, each just around its strokes.
    boxes = _seed_boxes(coords, shape, halo=(2, 3, 3))
    assert [box for _, box in boxes] == [
        (slice(5, 6), slice(10, 20), slice(10, 12)),
        (slice(30, 32), slice(40, 50), slice(40, 42)),
    ]
    assert sorted(np.concatenate([rows for rows, _ in boxes])) == list(range(coords[0].size))
    # Strokes above one another whose margins overlap: one box is cheaper.
    seeds[30:32] = 0
    seeds[12:14, 10:20, 10:12] = 2
    coords = np.nonzero(seeds)
    (rows, box), = _seed_boxes(coords, shape, halo=(6, 3, 3))
    assert box == (slice(5, 14), slice(10, 20), slice(10, 12)) and rows.size == 60
    assert len(_seed_boxes(coords, shape, halo=(2, 3, 3))) == 2
    # Margins as large as the volume: the whole image, once.
    assert _seed_boxes(coords, shape, halo=(40, 64, 64))[0][1] is None
