"""The fused tile evaluator labels exactly as the full feature stack does."""

import numpy as np
import pytest

import napari_seglab
from napari_seglab.core.features import PRESETS, FeatureSpec, compute_features
from napari_seglab.core.features.slabs import iter_feature_slabs
from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom
from napari_seglab.core.pipeline import SeededModel
from napari_seglab.core.tiles import TileEvaluator

PIXEL_METHODS = ["blend", "knn", "nearest_mean", "random_forest"]


@pytest.fixture(scope="module")
def images():
    img2, truth2 = tissue_phantom((83, 77), random_state=3)
    img3, truth3 = tissue_phantom((29, 41, 37), random_state=4)
    return {2: (img2, scribble_seeds(truth2, strokes_per_class=3, random_state=1)),
            3: (img3, scribble_seeds(truth3, strokes_per_class=3, random_state=1))}


def _full_stack(model, image, seeds, spacing, proba=False):
    """Today's route: the whole stack, then predict_inputs (the reference)."""
    inputs, finite = model.compute_inputs(image, spacing=spacing)
    ref = SeededModel(model.method, model.features, model.params)
    ref.fit_inputs(inputs, seeds, finite)
    labels = ref.predict_inputs(inputs, finite)
    seeded = seeds > 0
    labels[seeded] = seeds[seeded]
    return (labels, ref.predict_inputs(inputs, finite, proba=True)) if proba else labels


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("depth", [1, 5, 7])
@pytest.mark.parametrize("method", PIXEL_METHODS)
def test_fused_labels_equal_the_full_stack(images, ndim, depth, method):
    image, seeds = images[ndim]
    spacing = (2.0, 1.0, 1.0) if ndim == 3 else None
    model = SeededModel(method, n_estimators=10) if method == "random_forest" \
        else SeededModel(method)
    expected = _full_stack(model, image, seeds, spacing, proba=True)
    steps = model.iter_fit_predict(image, seeds, spacing=spacing, return_proba=True,
                                   chunk_pixels=depth * int(np.prod(image.shape[1:])))
    stages = []
    while True:
        try:
            stages.append(next(steps)[0])
        except StopIteration as stop:
            got = stop.value
            break
    assert stages.count("predicting") == -(-image.shape[0] // depth)  # slabs of `depth`
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])


@pytest.mark.parametrize("method", ["kmeans", "gmm", "context_forest", "otsu", "local"])
def test_whole_image_methods_are_unchanged(images, method):
    """Methods that read every pixel at once keep the whole-image route."""
    image, seeds = images[3]
    model = SeededModel(method, "smooth", n_estimators=5) if method == "context_forest" \
        else SeededModel(method)
    got = model.fit_predict(image, None if method in ("otsu", "local") else seeds)
    assert got.shape == image.shape
    # Applying the fitted model to another image goes slab by slab when the
    # segmenter labels pixel by pixel; the labels are those of the full stack.
    if method in ("kmeans", "gmm"):
        inputs, finite = model.compute_inputs(image)
        np.testing.assert_array_equal(model.predict(image), model.predict_inputs(inputs))


def test_slabs_of_any_depth_and_start_give_the_same_bits():
    rng = np.random.default_rng(0)
    data = rng.random((23, 19, 17, 2)).astype(np.float32)
    spec = PRESETS["blend"]
    whole = compute_features(data, spec, spacing=(1.5, 1.0, 1.0), channel_axis=-1)
    for depth, start, stop in ((1, 0, 23), (3, 5, 18), (8, 0, 23), (23, 0, 23)):
        got = np.concatenate([f.copy() for _, _, f in iter_feature_slabs(
            data, spec, (1.5, 1.0, 1.0), depth=depth, start=start, stop=stop)])
        np.testing.assert_array_equal(got, whole[start:stop])


def test_streamed_features_match_the_engine_reference():
    """The slab engine agrees with the whole-image engine to float32 rounding."""
    from napari_seglab.core.features.engine import _compute, _Plan, _prepare

    rng = np.random.default_rng(1)
    for shape, spec in (((31, 26, 22), PRESETS["blend"]), ((47, 39), PRESETS["default"]),
                        ((12, 30, 30), FeatureSpec(PRESETS["blend"].filters, mode="2d"))):
        image = rng.random(shape).astype(np.float32)
        data, spacing = _prepare(image, None, None)
        reference = _compute(data, _Plan(spec, shape, spacing), 1)
        np.testing.assert_allclose(compute_features(image, spec), reference,
                                   rtol=1e-5, atol=2e-6)


def test_evaluator_is_generic_over_any_estimator():
    """Any object with predict / predict_proba on feature rows (scikit-learn's own)."""
    from sklearn.linear_model import LogisticRegression

    image, truth = tissue_phantom((33, 35, 31), random_state=5)
    data = image.astype(np.float32)[..., None]
    spec = PRESETS["smooth"]
    X = compute_features(data, spec, channel_axis=-1).reshape(-1, 3)
    rows = np.random.default_rng(0).choice(X.shape[0], 600, replace=False)
    est = LogisticRegression().fit(X[rows], truth.ravel()[rows] + 1)
    labels = np.zeros(image.shape, np.uint8)
    proba = np.zeros(image.shape + (3,), np.float32)
    finite = np.ones(image.shape, bool)
    finite[3, 4:9] = False
    steps = list(TileEvaluator(spec, None, depth=4).iter_predict(
        data, est.predict, predict_proba=est.predict_proba, finite=finite,
        labels=labels, proba=proba))
    assert steps[-1] == (9, 9)
    expected = est.predict(X).reshape(image.shape)
    assert (labels[~finite] == 0).all() and (proba[~finite] == 0).all()
    np.testing.assert_array_equal(labels[finite], expected[finite])
    np.testing.assert_allclose(proba[finite], est.predict_proba(X)[finite.ravel()],
                               rtol=1e-6)


def test_training_reads_features_at_the_seeded_slabs_only(monkeypatch):
    """Seeds on two slices of a volume: training computes the slabs holding them."""
    import napari_seglab.core.features.slabs as slabs

    image, truth = tissue_phantom((60, 48, 48), random_state=6)
    seeds = np.zeros(image.shape, np.uint8)
    seeds[30] = scribble_seeds(truth[30], strokes_per_class=2, random_state=0)
    filled = []
    original = slabs._ChannelStream.fill

    def spy(self, z0, z1, out):
        filled.append((z0, z1))
        return original(self, z0, z1, out)

    monkeypatch.setattr(slabs._ChannelStream, "fill", spy)
    model = SeededModel("knn").fit(image, seeds)
    assert len(filled) == 1 and filled[0][0] <= 30 < filled[0][1]
    assert model.X_train_.shape[0] > 0


def test_segment_with_missing_pixels_equals_full_stack(images):
    image, seeds = images[2]
    image = image.copy()
    image[10:14, 20:30] = np.nan
    got = napari_seglab.segment(image, seeds, "knn")
    expected = _full_stack(SeededModel("knn"), image, seeds, None)
    np.testing.assert_array_equal(got, expected)
    assert (got[10:14, 20:30][seeds[10:14, 20:30] == 0] == 0).all()
