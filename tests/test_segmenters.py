"""Segmenters in core: known answers, probabilities, determinism, parameters."""

from pathlib import Path

import numpy as np
import pytest
import skimage.filters as skf
from sklearn.neighbors import KNeighborsClassifier

import napari_seglab
from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom
from napari_seglab.core.pipeline import SeededModel
from napari_seglab.core.segmenters import (
    SEGMENTERS,
    KNNSegmenter,
    NotFittedError,
    make_segmenter,
    try_all_thresholds,
    uncertainty,
)
from napari_seglab.core.training import balanced_seed_indices

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SUPERVISED = ["fast_forest", "knn", "blend", "nearest_mean", "random_forest", "context_forest"]
CLUSTERING = ["kmeans", "gmm"]
GLOBAL_THRESHOLDS = ["otsu", "li", "yen", "triangle", "minimum"]


@pytest.fixture(scope="module")
def phantom():
    image, truth = tissue_phantom((128, 128), random_state=0)
    seeds = scribble_seeds(truth, strokes_per_class=4, random_state=0)
    return image, truth, seeds


def mean_dice(truth, labels, classes):
    return np.mean([2 * np.sum((truth == c) & (labels == c))
                    / (np.sum(truth == c) + np.sum(labels == c)) for c in classes])


@pytest.mark.parametrize("method", SUPERVISED + CLUSTERING)
def test_seeded_methods_find_the_phantom_classes(phantom, method):
    image, truth, seeds = phantom
    labels = napari_seglab.segment(image, seeds, method, features="minimal")
    assert labels.shape == truth.shape
    assert mean_dice(truth + 1, labels, (1, 2, 3)) > 0.9
    assert np.array_equal(labels[seeds > 0], seeds[seeds > 0])


@pytest.mark.parametrize("method", CLUSTERING)
def test_unsupervised_clusters_ordered_by_intensity(phantom, method):
    image, truth, _ = phantom
    labels = napari_seglab.segment(image, None, method, features="minimal",
                                   **{("n_clusters" if method == "kmeans" else "n_components"): 3})
    assert mean_dice(truth + 1, labels, (1, 2, 3)) > 0.9


@pytest.mark.parametrize("method", GLOBAL_THRESHOLDS)
def test_thresholds_match_skimage(phantom, method):
    image = phantom[0]
    expected = getattr(skf, f"threshold_{method}")(image.ravel())
    seg = make_segmenter(method).fit(image.reshape(-1, 1))
    assert seg.threshold_ == pytest.approx(float(expected), rel=1e-6)
    labels = napari_seglab.segment(image, None, method)
    assert np.array_equal(labels, np.where(image > seg.threshold_, 2, 1))


def test_local_threshold_matches_skimage(phantom):
    image = phantom[0]
    expected = image > skf.threshold_local(image, 35, offset=0.01)
    labels = napari_seglab.segment(image, None, "local", offset=0.01)
    assert np.array_equal(labels, np.where(expected, 2, 1))


def test_manual_threshold_and_brighter_seed_class_above(phantom):
    image = phantom[0]
    seeds = np.zeros(image.shape, np.uint8)
    seeds[5, 5] = 7  # dark (background)
    seeds[64, 64] = 4  # bright (tissue)
    labels = napari_seglab.segment(image, seeds, "manual", threshold=0.3)
    assert set(np.unique(labels)) == {4, 7}
    assert np.array_equal(labels == 4, image > 0.3)
    with pytest.raises(ValueError, match="threshold="):
        napari_seglab.segment(image, None, "manual")


def test_try_all_thresholds(phantom):
    image = phantom[0]
    gallery = try_all_thresholds(image)
    assert set(gallery) == {"otsu", "li", "yen", "triangle", "minimum", "local"}
    for labels in gallery.values():
        assert labels.shape == image.shape and set(np.unique(labels)) <= {1, 2}


@pytest.mark.parametrize("method", list(SEGMENTERS))
def test_deterministic_and_proba_consistent(phantom, method):
    image, truth, seeds = phantom
    params = {"threshold": 0.3} if method == "manual" else {}
    use_seeds = seeds if method in SUPERVISED + CLUSTERING else None
    a, pa = napari_seglab.segment(image, use_seeds, method, features="minimal",
                                  return_proba=True, **params)
    b, pb = napari_seglab.segment(image, use_seeds, method, features="minimal",
                                  return_proba=True, **params)
    assert np.array_equal(a, b) and np.array_equal(pa, pb)
    assert pa.dtype == np.float32 and pa.shape == image.shape + (pa.shape[-1],)
    np.testing.assert_allclose(pa.sum(axis=-1), 1, atol=1e-5)
    classes = np.unique(a[(use_seeds if use_seeds is not None else a) == 0]) \
        if use_seeds is not None else np.unique(a)
    argmax_labels = classes[np.argmax(pa, axis=-1)] if classes.size == pa.shape[-1] else None
    if argmax_labels is not None:
        free = a if use_seeds is None else np.where(use_seeds > 0, argmax_labels, a)
        assert np.array_equal(argmax_labels, free)
    u = uncertainty(pa)
    assert u.shape == image.shape and u.min() >= 0 and u.max() <= 1


@pytest.mark.parametrize("method", SUPERVISED + CLUSTERING)
def test_predict_proba_argmax_is_predict(phantom, method):
    image, truth, seeds = phantom
    X = np.stack([image.ravel(), image.ravel() ** 2], axis=1)
    y = seeds.ravel()
    seg = make_segmenter(method)
    if seg.unsupervised:
        seg.fit(X, y)
    else:
        seg.fit(X[y > 0], y[y > 0])
    proba = seg.predict_proba(X)
    assert proba.shape == (X.shape[0], seg.classes_.size)
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert np.array_equal(seg.classes_[proba.argmax(axis=1)], seg.predict(X))


@pytest.mark.parametrize("algorithm", ["grid", "kdtree", "sklearn", "brute"])
@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_fast_knn_agrees_with_sklearn(algorithm, weights):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 3)).astype(np.float32)
    y = (X[:, 0] + 0.5 * rng.normal(size=600) > 0).astype(int) + 1
    Q = rng.normal(size=(3000, 3)).astype(np.float32)
    ours = KNNSegmenter(7, weights=weights, scale=False, algorithm=algorithm).fit(X, y)
    ref = KNeighborsClassifier(7, weights=weights).fit(X, y)
    assert (ours.predict(Q) == ref.predict(Q)).mean() > 0.999
    np.testing.assert_allclose(ours.predict_proba(Q), ref.predict_proba(Q), atol=1e-4)


def knn_on_image(image, seeds, k=5, weights="uniform", max_per_class=5000):
    """Pixels' features and the default-route kNN fitted on the image's seeds."""
    model = SeededModel("knn", params={"n_neighbors": k, "weights": weights},
                        max_per_class=max_per_class)
    inputs, _ = model.compute_inputs(image)
    model.fit_inputs(inputs, seeds)
    return inputs.reshape(-1, inputs.shape[-1]), model.segmenter_


def assert_grid_is_exact(X, grid, min_certified):
    """Same labels and probabilities as the k-d tree route; sklearn agrees."""
    assert grid.algorithm_ == "grid"
    exact = KNNSegmenter(**{**grid.get_params(), "algorithm": "kdtree"})
    exact.set_state(grid.get_state())
    labels = grid.predict(X)
    assert np.array_equal(labels, exact.predict(X))
    assert np.array_equal(grid.predict_proba(X), exact.predict_proba(X))
    reference = KNeighborsClassifier(grid.n_neighbors, weights=grid.weights)
    reference.fit(grid.X_, grid.y_)
    sklearn = grid.classes_[reference.predict(grid._transform(X))]
    assert np.mean(labels == sklearn) >= 0.999
    # The fast path really decided most pixels (not a silent fallback).
    assert np.mean(grid._certified(X) >= 0) > min_certified


@pytest.mark.parametrize("k, weights", [(5, "uniform"), (1, "uniform"), (9, "distance")])
def test_grid_knn_equals_exact_knn_on_a_phantom(k, weights):
    image, truth = tissue_phantom((256, 256), random_state=3)
    seeds = scribble_seeds(truth, strokes_per_class=5, length=20, random_state=2)
    X, grid = knn_on_image(image, seeds, k, weights)
    assert_grid_is_exact(X, grid, 0.95)
    # Against exact kNN by another route (float32 distances by matrix product,
    # no tree): equal up to distance ties, which float32 rounding may break.
    brute = KNNSegmenter(**{**grid.get_params(), "algorithm": "brute"})
    brute.set_state(grid.get_state())
    assert np.mean(grid.predict(X) == brute.predict(X)) >= 0.999


@pytest.mark.skipif(not (DATA / "kesm").is_dir(),
                    reason="needs ../shared/data/kesm (the shared real-data folder)")
def test_grid_knn_equals_exact_knn_on_kesm_vessels():
    from skimage import io

    image = io.imread(DATA / "kesm" / "grayscale.png").astype(np.float32)
    vessels = (io.imread(DATA / "kesm" / "groundtruth.png") > 127).astype(np.uint8)
    # Many thin-vessel strokes: classes overlap, so the finer grid levels work.
    seeds = scribble_seeds(vessels, strokes_per_class=60, length=15, margin=1)
    X, grid = knn_on_image(image, seeds)
    assert_grid_is_exact(X, grid, 0.9)


@pytest.mark.skipif(not (DATA / "brains").is_dir(),
                    reason="needs ../shared/data/brains (the shared real-data folder)")
def test_grid_knn_equals_exact_knn_on_an_mr_slice():
    import tifffile

    image = tifffile.imread(DATA / "brains" / "2_1_t1.tif").astype(np.float32)
    gt = tifffile.imread(DATA / "brains" / "2_1_gt.tif")
    # Background, WM, GM, CSF from the full ground truth, 2000 samples each:
    # tissues overlap in intensity, so half the pixels are near a boundary.
    tissue = np.select([np.isin(gt, (2, 5)), np.isin(gt, (3, 7)), np.isin(gt, (4, 8))],
                       [2, 3, 4], 1)
    X, grid = knn_on_image(image, tissue, max_per_class=2000)
    assert_grid_is_exact(X, grid, 0.4)


def test_grid_knn_exact_for_rows_far_outside_the_seeds():
    image, truth = tissue_phantom((128, 128), random_state=5)
    seeds = scribble_seeds(truth, strokes_per_class=4, random_state=5)
    X, grid = knn_on_image(image, seeds)
    X = X.copy()
    X[::7] *= 50  # far beyond the training range: outside the grid's box
    X[1::11] = -1e6
    exact = KNNSegmenter(algorithm="kdtree").set_state(grid.get_state())
    assert np.array_equal(grid.predict(X), exact.predict(X))


def test_auto_knn_route_by_feature_count():
    rng = np.random.default_rng(0)
    y = np.repeat([1, 2], 20)
    assert KNNSegmenter().fit(rng.normal(size=(40, 8)), y).algorithm_ == "grid"
    assert KNNSegmenter().fit(rng.normal(size=(40, 9)), y).algorithm_ == "sklearn"
    assert KNNSegmenter(algorithm="kdtree").fit(rng.normal(size=(40, 2)), y).algorithm_ \
        == "kdtree"


def test_balanced_sampling():
    seeds = np.zeros((100, 100), np.uint8)
    seeds[:60] = 1  # 6000 pixels
    seeds[90, :50] = 2  # 50 pixels
    idx, classes = balanced_seed_indices(seeds)
    assert list(classes) == [1, 2]
    assert np.bincount(seeds.ravel()[idx]).tolist() == [0, 50, 50]
    idx, _ = balanced_seed_indices(seeds, balance=False, max_per_class=1000)
    assert np.bincount(seeds.ravel()[idx]).tolist() == [0, 1000, 50]
    again, _ = balanced_seed_indices(seeds, balance=False, max_per_class=1000)
    assert np.array_equal(idx, again)


def test_unbalanced_seeds_do_not_swamp_small_class():
    rng = np.random.default_rng(1)
    image = np.concatenate([rng.normal(0, 1, (50, 100)), rng.normal(2.2, 1, (50, 100))])
    seeds = np.zeros(image.shape, np.uint8)
    seeds[:50, :] = 1
    seeds[60, 40:50] = 2
    labels = napari_seglab.segment(image, seeds, "knn", features="minimal", n_neighbors=9)
    assert (labels[50:] == 2).mean() > 0.8


def test_unknown_parameter_and_method():
    with pytest.raises(TypeError, match="n_trees"):
        napari_seglab.segment(np.zeros((8, 8)), None, "random_forest", n_trees=3)
    with pytest.raises(TypeError, match="block"):
        make_segmenter("local", block=3)
    with pytest.raises(ValueError, match="unknown method 'svm'"):
        make_segmenter("svm")


def test_not_fitted_and_feature_count():
    with pytest.raises(NotFittedError, match="not fitted"):
        KNNSegmenter().predict(np.zeros((3, 2)))
    seg = make_segmenter("nearest_mean").fit(np.eye(2), [1, 2])
    with pytest.raises(ValueError, match="3 features.*fitted with 2"):
        seg.predict(np.zeros((4, 3)))


def test_bad_parameter_values():
    X, y = np.eye(4)[:, :2], np.array([1, 1, 2, 2])
    with pytest.raises(ValueError, match="weights"):
        KNNSegmenter(weights="far").fit(X, y)
    with pytest.raises(ValueError, match="block_size must be odd"):
        make_segmenter("local", block_size=4).fit(np.zeros((8, 8)) + np.eye(8))
    with pytest.raises(ValueError, match="exactly two classes"):
        make_segmenter("otsu").fit(np.arange(9.0)[:, None], np.arange(9) % 3 + 1)


def blobs(n, random_state=0, offset=0.0):
    """Three Gaussian clusters in 3 features (70 %, 28 %, 2 %), and their labels.

    The small cluster lies far out: nearer, k-means' best (least squares)
    answer splits the large cluster instead.
    """
    rng = np.random.default_rng(random_state)
    centres = np.array([[0.0, 0.0, 0.0], [4.0, 1.0, -2.0], [12.0, -4.0, 5.0]])
    truth = rng.choice(3, size=n, p=[0.70, 0.28, 0.02])
    X = centres[truth] + rng.normal(size=(n, 3)) * [1.0, 0.5, 0.8]
    return (X + offset).astype(np.float32), truth + 1


@pytest.mark.parametrize("offset", [0.0, 1e4])
@pytest.mark.parametrize("method", ["nearest_mean", "kmeans"])
def test_linear_rule_equals_nearest_centre(method, offset):
    # Far from zero (offset 1e4, features of spread ~1) the float32 product
    # must still pick the nearest centre.
    X, truth = blobs(20_000, offset=offset)
    seg = make_segmenter(method)
    if method == "kmeans":
        seg.fit(X, np.where(np.arange(truth.size) % 50 == 0, truth, 0))
        centres = seg.cluster_centers_
    else:
        seg.fit(X[::50], truth[::50])
        centres = seg.centroids_
    z = (X.astype(np.float64) - seg.mean_) / seg.scale_
    d = ((z[:, None, :] - centres.astype(np.float64)) ** 2).sum(axis=2)
    nearest = seg.classes_[d.argmin(axis=1)]
    sorted_d = np.sort(d, axis=1)
    clear = sorted_d[:, 1] - sorted_d[:, 0] > 1e-3  # not a tie within rounding
    assert clear.mean() > 0.99
    assert np.array_equal(seg.predict(X)[clear], nearest[clear])
    soft = np.exp(-0.5 * (d - d.min(axis=1, keepdims=True)))
    soft /= soft.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(seg.predict_proba(X), soft, atol=1e-4)


@pytest.mark.parametrize("method", CLUSTERING)
def test_subsampled_clustering_recovers_known_clusters(method):
    X, truth = blobs(300_000)
    size = "n_clusters" if method == "kmeans" else "n_components"
    small = make_segmenter(method, max_samples=20_000, **{size: 3}).fit(X)
    labels = small.predict(X)
    # Without seeds clusters are numbered by ascending first feature: the truth's order.
    assert (labels == truth).mean() > 0.99  # the clusters overlap a little
    assert (labels[truth == 3] == 3).mean() > 0.99  # the 2 % cluster is found
    whole = make_segmenter(method, max_samples=X.shape[0], **{size: 3}).fit(X)
    assert (whole.predict(X) == labels).mean() > 0.999


@pytest.mark.parametrize("method", CLUSTERING)
def test_subsampled_clustering_is_deterministic(method):
    X, truth = blobs(100_000, random_state=3)
    seeds = np.where(np.arange(truth.size) % 500 == 0, truth, 0)
    states = [make_segmenter(method, max_samples=10_000).fit(X, seeds).get_state()
              for _ in range(2)]
    for name in states[0]:
        assert np.array_equal(states[0][name], states[1][name]), name
    other = make_segmenter(method, max_samples=10_000, random_state=1).fit(X, seeds)
    assert not np.array_equal(other.get_state()["mean_"], states[0]["mean_"])
    assert (other.predict(X) == make_segmenter(method, max_samples=10_000).fit(
        X, seeds).predict(X)).mean() > 0.995


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_gmm_em_matches_sklearn(covariance_type):
    from sklearn.mixture import GaussianMixture

    X, truth = blobs(30_000, random_state=4)
    seeds = np.where(np.arange(truth.size) % 300 == 0, truth, 0)
    ours = make_segmenter("gmm", covariance_type=covariance_type, scale=False,
                          tol=1e-6, max_iter=500).fit(X, seeds)
    # The same start: seed class means, widened seed covariances, equal weights.
    means, precisions = [], []
    for c in (1, 2, 3):
        members = X[seeds == c].astype(np.float64)
        cov = np.cov(members, rowvar=False)
        var = np.diag(cov) + 1e-4 + 1e-2
        if covariance_type == "full":
            precisions.append(np.linalg.inv(cov - np.diag(np.diag(cov)) + np.diag(var)))
        else:
            precisions.append(1 / var)
        means.append(members.mean(axis=0))
    ref = GaussianMixture(3, covariance_type=covariance_type, tol=1e-6, max_iter=500,
                          reg_covar=1e-4, means_init=means, precisions_init=precisions,
                          weights_init=np.full(3, 1 / 3)).fit(X.astype(np.float64))
    np.testing.assert_allclose(ours.means_, ref.means_, atol=2e-3)
    np.testing.assert_allclose(ours.weights_, ref.weights_, atol=1e-3)
    ref_labels = ref.predict(X) + 1
    assert (ours.predict(X) == ref_labels).mean() > 0.999
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-3)


@pytest.mark.parametrize("method", CLUSTERING)
def test_subsample_smaller_than_the_clusters_is_refused(method):
    X, _ = blobs(1000)
    size = "n_clusters" if method == "kmeans" else "n_components"
    with pytest.raises(ValueError, match="max_samples must be >= 3; got 2"):
        make_segmenter(method, max_samples=2, **{size: 3}).fit(X)


@pytest.mark.parametrize("shape, block, statistic, offset", [
    ((64, 80), 35, "gaussian", 0.01), ((64, 80), 15, "mean", -0.02),
    ((20, 40, 40), 9, "gaussian", 0.0), ((20, 40, 40), 7, "median", 0.05)])
def test_local_threshold_is_a_per_pixel_rule_equal_to_skimage(shape, block, statistic, offset):
    """The local threshold reads (intensity, local statistic) rows like every segmenter."""
    image, _ = tissue_phantom(shape, random_state=4)
    expected = image > skf.threshold_local(image, block, method=statistic, offset=offset)
    labels = napari_seglab.segment(image, None, "local", block_size=block,
                                   statistic=statistic, offset=offset)
    np.testing.assert_array_equal(labels == 2, expected)
    segmenter = make_segmenter("local", block_size=block, statistic=statistic)
    assert segmenter.inputs(None).n_features() == 2  # one hook, no input switch
    # With two seed classes, the brighter one takes the pixels above.
    seeds = np.zeros(shape, np.uint8)
    seeds.flat[np.argmax(image)] = 7
    seeds.flat[np.argmin(image)] = 4
    seeded = napari_seglab.segment(image, seeds, "local", block_size=block,
                                   statistic=statistic, offset=offset)
    free = seeds == 0
    np.testing.assert_array_equal(seeded[free] == 7, expected[free])


def test_thresholds_come_from_one_factory_and_are_sklearn_estimators():
    from sklearn.base import ClassifierMixin, ClusterMixin, clone
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError

    from napari_seglab.core.segmenters import ThresholdSegmenter

    for name in ("otsu", "li", "yen", "triangle", "minimum"):
        cls = SEGMENTERS[name]
        assert issubclass(cls, ThresholdSegmenter) and cls.__init__ is object.__init__
        assert isinstance(clone(cls()), ClusterMixin)
    assert isinstance(make_segmenter("knn"), ClassifierMixin)
    assert NotFittedError is SklearnNotFittedError  # old except clauses catch both
    assert clone(make_segmenter("knn", n_neighbors=3)).get_params()["n_neighbors"] == 3


def test_seeded_model_takes_keywords_and_the_params_dict_alike():
    image, truth = tissue_phantom((48, 48), random_state=0)
    seeds = scribble_seeds(truth)
    by_dict = SeededModel("knn", None, {"n_neighbors": 3}).fit_predict(image, seeds)
    by_keyword = SeededModel("knn", n_neighbors=3).fit_predict(image, seeds)
    np.testing.assert_array_equal(by_dict, by_keyword)
    with pytest.raises(TypeError, match="both"):
        SeededModel("knn", None, {"n_neighbors": 3}, n_neighbors=4)
    with pytest.raises(TypeError, match="n_neigbors"):
        SeededModel("knn", n_neigbors=3).fit(image, seeds)


@pytest.mark.parametrize("method", ["knn", "random_forest", "otsu", "local"])
def test_from_fitted_rebuilds_the_same_model(method):
    image, truth = tissue_phantom((48, 48), random_state=0)
    seeds = scribble_seeds(truth) if method in SUPERVISED else None
    m = SeededModel(method).fit(image, seeds, spacing=(1.0, 2.0))
    copy = SeededModel.from_fitted(
        m.segmenter_, method=m.method, features=m.spec_, params=m.params,
        classes=m.classes_, n_channels=m.n_channels_, n_features=m.n_features_,
        ndim=m.ndim_, spacing=m.spacing_, X_train=m.X_train_, y_train=m.y_train_,
        max_per_class=m.max_per_class, balance=m.balance)
    np.testing.assert_array_equal(copy.predict(image, spacing=(1.0, 2.0)),
                                  m.predict(image, spacing=(1.0, 2.0)))
    assert copy.spacing_ == (1.0, 2.0)
    with pytest.raises(ValueError, match="classes"):
        SeededModel.from_fitted(
            m.segmenter_, method=m.method, features=m.spec_, params=m.params,
            classes=[9, 10], n_channels=m.n_channels_, n_features=m.n_features_,
            ndim=m.ndim_, spacing=None, X_train=m.X_train_, y_train=m.y_train_)
