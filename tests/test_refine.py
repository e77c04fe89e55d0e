"""Refinement of seeded results: smoothing, priors, auto-context, grow, local updates."""

import numpy as np
import pytest

from napari_seglab.core.features import compute_features
from napari_seglab.core.refine import (
    ContextForest,
    context_features,
    correct_priors,
    grow_from_seeds,
    local_update,
    smooth_proba,
)


def _blobs(shape=(64, 64), seed=0):
    """Two bright look-alike discs on a noisy background, and their truth."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    truth = np.ones(shape, np.uint8)
    truth[(yy - 20) ** 2 + (xx - 20) ** 2 < 64] = 2
    truth[(yy - 44) ** 2 + (xx - 44) ** 2 < 64] = 2
    image = (truth == 2).astype(np.float32) + rng.normal(0, 0.3, shape).astype(np.float32)
    return image, truth


def test_smooth_proba_sums_to_one_and_follows_spacing():
    rng = np.random.default_rng(0)
    p = rng.random((6, 20, 20, 3)).astype(np.float32)
    p /= p.sum(-1, keepdims=True)
    out = smooth_proba(p, sigma=2.0, spacing=(5.0, 1.0, 1.0))
    np.testing.assert_allclose(out.sum(-1), 1, atol=1e-5)
    # thick slices: σ = 2 mm is 0.4 slice, so slices stay far more distinct than rows
    assert np.abs(np.diff(out, axis=0)).mean() > 3 * np.abs(np.diff(out, axis=1)).mean()
    np.testing.assert_array_equal(smooth_proba(p, sigma=0), p)


def test_correct_priors_recovers_a_rare_class_frequency():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, 9000), rng.normal(3, 1, 1000)])
    like = np.stack([np.exp(-x ** 2 / 2), np.exp(-(x - 3) ** 2 / 2)], -1)
    balanced = (like / like.sum(-1, keepdims=True)).astype(np.float32)  # equal priors
    adjusted, priors = correct_priors(balanced, n_iter=100)
    assert priors[1] == pytest.approx(0.1, abs=0.02)
    truth = np.r_[np.zeros(9000, int), np.ones(1000, int)]
    assert (adjusted.argmax(-1) == truth).mean() > (balanced.argmax(-1) == truth).mean()


def test_context_features_shape_and_spacing_check():
    p = np.full((8, 8, 3), 1 / 3, np.float32)
    assert context_features(p, sigmas=(1.0, 2.0, 4.0)).shape == (8, 8, 6)
    with pytest.raises(ValueError, match="spacing needs 2"):
        context_features(p, spacing=(1.0, 1.0, 1.0))


def test_grow_from_seeds_drops_the_look_alike_cut_off_from_its_seeds():
    _, truth = _blobs()
    p = np.stack([(truth == 1), (truth == 2)], -1).astype(np.float32) * 0.8 + 0.1
    seeds = np.zeros(truth.shape, np.uint8)
    seeds[20, 18:23] = 2
    seeds[5, 5:60] = 1
    labels, dist = grow_from_seeds(p, seeds, classes=[1, 2])
    assert (labels[15:25, 15:25][truth[15:25, 15:25] == 2] == 2).all()
    assert (labels[40:48, 40:48] == 1).all()  # the second disc has no tumour seed
    assert dist.shape == p.shape


def test_local_update_keeps_what_the_stroke_did_not_touch():
    prev = np.ones((20, 20), int)
    new = prev.copy()
    new[2:6, 2:6] = 2  # around the stroke
    new[15:18, 15:18] = 2  # a chance flip far away
    stroke = np.zeros((20, 20), bool)
    stroke[3, 3:5] = True
    out = local_update(prev, new, stroke)
    assert (out[2:6, 2:6] == 2).all() and (out[15:18, 15:18] == 1).all()
    assert (local_update(prev, new, stroke, radius=30) == new).all()
    with pytest.raises(ValueError, match="one shape"):
        local_update(prev, new[:5], stroke)


def test_context_forest_is_deterministic_and_learns_the_blobs():
    image, truth = _blobs()
    F = compute_features(image, "default")
    seeds = np.zeros(truth.shape, np.uint8)
    seeds[20, 16:25] = 2
    seeds[44, 40:49] = 2
    seeds[5, 5:60] = 1
    seeds[58, 5:60] = 1
    for params in (dict(), dict(context_sigmas=(2.0,)), dict(pseudo_labels=500),
                   dict(smooth_sigma=1.0)):
        a = ContextForest(n_estimators=10, **params).fit(F, seeds).predict(F)
        b = ContextForest(n_estimators=10, **params).fit(F, seeds).predict(F)
        np.testing.assert_array_equal(a, b)
        assert (a == truth).mean() > 0.95, params


def test_context_forest_errors_name_the_problem():
    image, truth = _blobs((24, 24))
    F = compute_features(image, "minimal")
    one_class = np.zeros(truth.shape, np.uint8)
    one_class[3, 3:9] = 1
    with pytest.raises(ValueError, match="at least two classes"):
        ContextForest(n_estimators=5).fit(F, one_class)
    with pytest.raises(ValueError, match="spatial shape"):
        ContextForest(n_estimators=5).fit(F, one_class[:10])
    with pytest.raises(TypeError, match="integer"):
        ContextForest(n_estimators=5).fit(F, one_class.astype(float))
    with pytest.raises(ValueError, match="not fitted"):
        ContextForest().predict(F)
    seeds = one_class.copy()
    seeds[20, 3:9] = 2
    model = ContextForest(n_estimators=5).fit(F, seeds)
    with pytest.raises(ValueError, match="trained with 2"):
        model.predict(F[..., :1])


def test_grow_makes_the_tumour_usable_from_two_strokes(tumour_crop):
    image, truth, seeds, spacing = tumour_crop
    F = compute_features(image, "default", spacing=spacing)

    def dice(labels):
        keep = seeds == 0
        a, b = labels[keep] == 2, truth[keep] == 2
        return 2 * (a & b).sum() / (a.sum() + b.sum())

    plain = ContextForest(n_estimators=30).fit(F, seeds).predict(F)
    grown = ContextForest(n_estimators=30, grow=True).fit(F, seeds).predict(F, spacing=spacing)
    # measured: 0.46 grown vs 0.29 plain (bright vessels and fat look like tumour)
    assert dice(grown) > 1.4 * dice(plain)


# -- the context forest through segment() and SeededModel ------------------------------

@pytest.mark.parametrize("steps", [{}, {"smooth_sigma": 1.0}, {"context_sigmas": (1.0, 4.0)},
                                   {"prior_correction": True}, {"grow": True}])
def test_segment_context_forest_runs_every_step(steps):
    import napari_seglab
    from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom

    image, truth = tissue_phantom((64, 64), random_state=0)
    image[3, 3] = np.nan  # missing data: label 0, probabilities 0, never trained on
    seeds = scribble_seeds(truth)
    labels, proba = napari_seglab.segment(image, seeds, "context_forest", return_proba=True,
                                          features="smooth", n_estimators=10, **steps)
    assert labels[3, 3] == 0 and proba[3, 3].sum() == 0
    assert np.allclose(np.delete(proba.reshape(-1, 3), 3 * 64 + 3, axis=0).sum(-1), 1,
                       atol=1e-5)
    assert (labels == truth + 1).mean() > 0.9
    assert np.array_equal(seeds[seeds > 0], labels[seeds > 0])


def test_context_forest_refuses_blocks_and_files_it_cannot_reproduce(tmp_path):
    from napari_seglab.core.blockwise import predict_blockwise
    from napari_seglab.core.model_io import load_model, save_model
    from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom
    from napari_seglab.core.pipeline import SeededModel

    image, truth = tissue_phantom((48, 48), random_state=0)
    seeds = scribble_seeds(truth)
    smooth = SeededModel("context_forest", "smooth", n_estimators=5,
                         smooth_sigma=1.0).fit(image, seeds)
    with pytest.raises(ValueError, match="block by block"):
        predict_blockwise(smooth, image)
    save_model(tmp_path / "smooth.npz", smooth)  # smoothing is a parameter: it travels
    np.testing.assert_array_equal(load_model(tmp_path / "smooth.npz").predict_proba(image),
                                  smooth.predict_proba(image))
    context = SeededModel("context_forest", "smooth", n_estimators=5,
                          context_sigmas=(2.0,)).fit(image, seeds)
    with pytest.raises(ValueError, match="context_sigmas=()"):
        save_model(tmp_path / "context.npz", context)
    assert not (tmp_path / "context.npz").exists()


def test_context_forest_keeps_every_stroke_and_weighs_the_classes():
    from napari_seglab.core.pipeline import SeededModel

    image = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    seeds = np.zeros((32, 32), np.uint8)
    seeds[2, 2:12] = 1
    seeds[20:30, 5:15] = 2  # a long correction: 100 pixels against 10
    cut = SeededModel("random_forest", "minimal", n_estimators=2).fit(image, seeds)
    kept = SeededModel("context_forest", "minimal", n_estimators=2).fit(image, seeds)
    assert np.bincount(cut.y_train_).tolist() == [0, 10, 10]
    assert np.bincount(kept.y_train_).tolist() == [0, 10, 100]
