"""Features for thin structures (core.features.lines): ridge strength and local
contrast respond where they should, rotate with the image, respect the
spacing, and the fused (slab) path gives the same bits as the whole image."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_seglab.core.features import (
    PRESETS,
    FeatureSpec,
    compute_features,
    seed_features,
)
from napari_seglab.core.features.lines import line_detector, ridge_from_image, ridge_strength
from napari_seglab.core.features.slabs import iter_feature_slabs
from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom
from napari_seglab.core.pipeline import SeededModel
from napari_seglab.core.training import balanced_seed_indices

BRIGHT, DARK = 0, 1


def line_image(shape, angle_deg, width=1.5, centre=None, noise=0.0, seed=0):
    """A bright line (Gaussian profile of ``width``) through ``centre`` at ``angle_deg``."""
    centre = np.array(centre if centre is not None else [(n - 1) / 2 for n in shape])
    yy, xx = np.indices(shape, dtype=float)
    t = np.deg2rad(angle_deg)
    # distance to the line through centre with direction (sin t, cos t) in (row, col)
    dist = (yy - centre[0]) * np.cos(t) - (xx - centre[1]) * np.sin(t)
    img = np.exp(-0.5 * (dist / width) ** 2)
    if noise:
        img = img + np.random.default_rng(seed).normal(0, noise, shape)
    return img.astype(np.float32), np.abs(dist)


@pytest.mark.parametrize("sigma", [1.0, 2.0])
def test_bright_line_peaks_on_the_line_and_dark_line_in_the_dark_column(sigma):
    img, dist = line_image((48, 48), 0.0, width=sigma)
    r = ridge_from_image(img, sigma)
    row = r[24]
    assert dist[24, int(row[:, BRIGHT].argmax())] < 1  # peak on the line
    assert row[:, BRIGHT].max() > 5 * row[:, DARK].max()  # the right column
    # away from the line (> 4σ + the line's width) nothing answers
    assert r[dist > 4 * sigma + 3 * sigma].max() < 0.02 * row[:, BRIGHT].max()
    # the same line dark on a bright background: the columns swap
    inverted = ridge_from_image(1 - img, sigma)
    tol = dict(rtol=1e-4, atol=1e-4 * row[:, BRIGHT].max())  # float32 of 1 - img
    np.testing.assert_allclose(inverted[..., DARK], r[..., BRIGHT], **tol)
    np.testing.assert_allclose(inverted[..., BRIGHT], r[..., DARK], **tol)


def test_lines_answer_more_than_blobs_edges_and_ramps():
    sigma = 1.5
    line, _ = line_image((48, 48), 30.0, width=sigma)
    yy, xx = np.indices((48, 48), dtype=float)
    blob = np.exp(-0.5 * ((yy - 24) ** 2 + (xx - 24) ** 2) / sigma ** 2).astype(np.float32)
    edge = (xx > 24).astype(np.float32)
    ramp = (0.05 * xx + 0.02 * yy).astype(np.float32)
    peak = ridge_from_image(line, sigma)[8:-8, 8:-8].max()
    blob_r = ridge_from_image(blob, sigma)
    assert blob_r[24, 24].max() < 1e-3 * peak  # the blob's centre: no line
    assert blob_r.max() < 0.5 * peak  # (its flanks curve one way only, a little)
    # A step of the same contrast answers beside it (its shoulders curve like a
    # line's flanks: Hessian measures do), less than the line.
    assert ridge_from_image(edge, sigma)[8:-8, 8:-8].max() < 0.8 * peak
    assert ridge_from_image(ramp, sigma)[8:-8, 8:-8].max() < 1e-4


def test_rotation():
    sigma = 1.5
    img, _ = line_image((61, 61), 20.0, width=sigma, noise=0.05)
    r = ridge_from_image(img, sigma)
    # exact quarter turns and mirrors: the responses turn with the image
    np.testing.assert_allclose(ridge_from_image(np.rot90(img), sigma), np.rot90(r),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ridge_from_image(img[:, ::-1], sigma), r[:, ::-1],
                               rtol=1e-5, atol=1e-6)
    # any angle: on the line the response is about the same (the Hessian's
    # eigenvalues do not depend on the direction; finite differences nearly so)
    peaks = []
    for angle in range(0, 180, 15):  # 12 orientations
        img, dist = line_image((61, 61), float(angle), width=sigma)
        r = ridge_from_image(img, sigma)[..., BRIGHT]
        on = (dist < 0.5) & (np.hypot(*np.indices(img.shape) - 30.0) < 15)
        peaks.append(r[on].mean())
    assert max(peaks) < 1.15 * min(peaks)


def test_tubes_in_3d_and_sheets_do_not_count():
    sigma = 1.5
    zz, yy, xx = np.indices((24, 32, 32), dtype=float)
    tube = np.exp(-0.5 * ((yy - 16) ** 2 + (xx - 16) ** 2) / sigma ** 2).astype(np.float32)
    sheet = np.exp(-0.5 * (xx - 16) ** 2 / sigma ** 2).astype(np.float32)
    r = ridge_from_image(tube, sigma)
    assert r[12, 16, 16, BRIGHT] == r[12].max()  # the tube's axis
    assert r[12, 16, 16, BRIGHT] > 5 * r[..., DARK].max()
    assert ridge_from_image(sheet, sigma)[..., BRIGHT].max() < 0.05 * r[..., BRIGHT].max()
    # a dark tube answers in the dark column
    np.testing.assert_allclose(ridge_from_image(-tube, sigma)[..., DARK], r[..., BRIGHT],
                               rtol=1e-5, atol=1e-7)


def test_anisotropic_spacing_equals_resampling():
    # A thick line across axis 0, sampled every 2 units along it vs every unit.
    img, _ = line_image((96, 40), 90.0, width=4.0)  # profile along axis 0
    img = ndi.gaussian_filter(img + 0.2 * ndi.gaussian_filter(
        np.random.default_rng(0).random((96, 40)), 3), 1).astype(np.float32)
    spec = FeatureSpec((("ridge", 4.0), ("contrast", 6.0)))
    fine = compute_features(img, spec)[::2]
    coarse = compute_features(img[::2], spec, spacing=(2.0, 1.0))
    inner = slice(10, -10)
    scale = np.abs(fine[inner]).max(axis=(0, 1))
    assert (np.abs(coarse[inner] - fine[inner]).max(axis=(0, 1)) < 0.05 * scale).all()


def test_ridge_strength_formula_and_contrast_column():
    lam = [np.array([0.5, -0.2, 3.0], np.float32), np.array([-3.0, -0.4, 0.1], np.float32)]
    b, d = np.empty(3, np.float32), np.empty(3, np.float32)
    ridge_strength(lam, 2.0, b, d)
    np.testing.assert_allclose(b, 4 * np.array([2.5, 0.2, 0.0]), rtol=1e-6)
    np.testing.assert_allclose(d, 4 * np.array([0.0, 0.0, 2.9]), rtol=1e-6)
    with pytest.raises(ValueError, match="2 or 3 eigenvalues"):
        ridge_strength(lam[:1], 1.0, b, d)
    img = np.random.default_rng(1).random((30, 34)).astype(np.float32)
    f = compute_features(img, FeatureSpec((("intensity", 0), ("gaussian", 3.0),
                                           ("contrast", 3.0))))
    np.testing.assert_array_equal(f[..., 2], f[..., 0] - f[..., 1])


def test_thin_preset_names_and_counts():
    spec = PRESETS["thin"]
    names = spec.names()
    assert "ridge σ=1 bright" in names and "ridge σ=4 dark" in names
    assert spec.n_features(1, 2) == len(names) == PRESETS["blend"].n_features(1, 2) + 6
    assert spec.n_features(1, 3) == PRESETS["blend"].n_features(1, 3) + 6
    assert FeatureSpec.from_json(spec.to_json()) == spec


# -- the line detector (12 orientations) -----------------------------------------


@pytest.mark.parametrize("dark_line", [False, True])
def test_line_detector_peaks_on_bright_and_dark_lines(dark_line):
    img, dist = line_image((61, 61), 35.0, width=1.0, noise=0.05)
    if dark_line:
        img = 1 - img
    bright, dark = line_detector(img, 2.0)
    hit, other = (dark, bright) if dark_line else (bright, dark)
    inner = np.hypot(*(np.indices(img.shape) - 30.0)) < 20
    assert dist[np.unravel_index(np.where(inner, hit, -1).argmax(), img.shape)] < 1
    assert hit[inner & (dist < 0.5)].mean() > 4 * hit[inner & (dist > 8)].mean()
    assert hit[inner & (dist < 0.5)].mean() > 4 * other[inner & (dist < 0.5)].mean()


def test_line_detector_rotation():
    img, _ = line_image((61, 61), 10.0, width=1.0, noise=0.05)
    b, d = line_detector(img, 2.0)
    # quarter turns: the 12 orientations map onto themselves
    rb, rd = line_detector(np.rot90(img).copy(), 2.0)
    np.testing.assert_allclose(rb, np.rot90(b), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rd, np.rot90(d), rtol=1e-5, atol=1e-6)
    # any angle: the response on the line varies little (nearest orientation ≤ 7.5° off)
    peaks = []
    for angle in range(0, 180, 10):
        img, dist = line_image((61, 61), float(angle), width=1.0)
        bright, _ = line_detector(img, 2.0)
        on = (dist < 0.5) & (np.hypot(*(np.indices(img.shape) - 30.0)) < 15)
        peaks.append(bright[on].mean())
    assert max(peaks) < 1.3 * min(peaks)


def test_line_detector_rows_and_planes_are_the_whole_images_bits():
    rng = np.random.default_rng(2)
    img = rng.random((37, 29)).astype(np.float32)
    whole = line_detector(img, 2.0, spacing=(1.5, 1.0))
    for rows in ((0, 37), (0, 1), (5, 9), (30, 37)):
        part = line_detector(img, 2.0, spacing=(1.5, 1.0), rows=rows)
        for got, ref in zip(part, whole, strict=True):
            np.testing.assert_array_equal(got, ref[rows[0]:rows[1]])
    vol = rng.random((4, 20, 22)).astype(np.float32)
    for got, ref in zip(line_detector(vol, 1.0), line_detector(vol[2], 1.0), strict=True):
        np.testing.assert_array_equal(got[2], ref)  # a volume: plane by plane
    with pytest.raises(ValueError, match="2D or 3D"):
        line_detector(np.zeros(5), 1.0)


# -- the fused (slab) path is the whole image's, bit for bit -----------------------


@pytest.mark.parametrize("mode", ["3d", "2d"])
def test_slabs_of_any_depth_and_start_give_the_same_bits(mode):
    rng = np.random.default_rng(0)
    data = rng.random((23, 19, 17, 2)).astype(np.float32)
    spec = FeatureSpec(PRESETS["thin"].filters + (("ridge", 0.7), ("contrast", 2.0),
                                                  ("line", 2.0)), mode=mode)
    spacing = (1.5, 1.0, 1.0)
    whole = compute_features(data, spec, spacing=spacing, channel_axis=-1)
    for depth, start, stop in ((1, 0, 23), (3, 5, 18), (8, 0, 23), (23, 0, 23)):
        got = np.concatenate([f.copy() for _, _, f in iter_feature_slabs(
            data, spec, spacing, depth=depth, start=start, stop=stop)])
        np.testing.assert_array_equal(got, whole[start:stop])


def test_streamed_features_match_the_engine_reference():
    from napari_seglab.core.features.engine import _compute, _Plan, _prepare

    rng = np.random.default_rng(1)
    for shape in ((31, 26, 22), (47, 39)):
        image = rng.random(shape).astype(np.float32)
        data, spacing = _prepare(image, None, None)
        reference = _compute(data, _Plan(PRESETS["thin"], shape, spacing), 1)
        # Ridge strengths are σ²-scaled differences of eigenvalues: their
        # float32 rounding scales with σ² (16 at σ = 4).
        np.testing.assert_allclose(compute_features(image, "thin"), reference,
                                   rtol=1e-5, atol=4e-5)


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("depth", [1, 5])
def test_fused_labels_equal_the_full_stack(ndim, depth):
    shape = (83, 77) if ndim == 2 else (29, 41, 37)
    image, truth = tissue_phantom(shape, random_state=3 + ndim)
    seeds = scribble_seeds(truth, strokes_per_class=3, random_state=1)
    spacing = (2.0, 1.0, 1.0) if ndim == 3 else None
    model = SeededModel("fast_forest", "thin")
    inputs, finite = model.compute_inputs(image, spacing=spacing)
    ref = SeededModel("fast_forest", "thin").fit_inputs(inputs, seeds, finite)
    expected = ref.predict_inputs(inputs, finite, proba=True)
    steps = model.iter_fit_predict(image, seeds, spacing=spacing, return_proba=True,
                                   chunk_pixels=depth * int(np.prod(image.shape[1:])))
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            got = stop.value
            break
    np.testing.assert_array_equal(got[1], expected)


def test_seed_features_equal_full_features_at_seeds():
    image, truth = tissue_phantom((24, 48, 48), random_state=0)
    seeds = np.zeros(truth.shape, np.uint8)
    seeds[3, 10:14, 10:30] = 1
    seeds[17:19, 20:22, 20:40] = 2
    spec = FeatureSpec((("intensity", 0.0), ("ridge", 1.5), ("contrast", 3.0), ("line", 2.0)))
    spacing = (2.0, 1.0, 0.8)
    X, _ = seed_features(image, seeds, spec, spacing=spacing, max_per_class=None)
    full = compute_features(image, spec, spacing=spacing)
    index, _ = balanced_seed_indices(seeds, max_per_class=None)
    np.testing.assert_allclose(X, full.reshape(-1, full.shape[-1])[index], atol=1e-5)
