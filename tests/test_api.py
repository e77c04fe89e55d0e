"""The headless contract: ``napari_seglab.segment`` and ``napari_seglab.metrics``."""

import numpy as np
import pytest

import napari_seglab
from napari_seglab.core.features import FeatureSpec
from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom


def regions(shape, n_regions, noise, seed=0):
    """Vertical bands of increasing brightness plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    truth = (np.arange(shape[-1]) * n_regions // shape[-1]).astype(np.uint8)
    truth = np.broadcast_to(truth, shape).copy()
    image = truth.astype(np.float32) + rng.normal(0, noise, shape).astype(np.float32)
    return image, truth


def strokes(truth, length=8):
    """One short stroke in the middle of each band (label = band + 1)."""
    seeds = np.zeros(truth.shape, np.uint8)
    middle = tuple(s // 2 for s in truth.shape[:-1])
    for value in np.unique(truth):
        cols = np.flatnonzero(truth[middle] == value)
        centre = cols[cols.size // 2]
        seeds[middle + (slice(centre - length // 2, centre + length // 2),)] = value + 1
    return seeds


def mean_dice(truth, labels, offset=1):
    d = napari_seglab.metrics.dice(truth + offset, labels.astype(np.int64),
                                   labels=np.unique(truth) + offset)
    return np.mean(list(d.values()))


@pytest.mark.parametrize("method", ["knn", "nearest_mean"])
@pytest.mark.parametrize("shape, n_regions", [((64, 96), 2), ((64, 96), 3),
                                              ((12, 40, 60), 3)])
def test_supervised_methods_recover_noisy_regions(method, shape, n_regions):
    image, truth = regions(shape, n_regions, noise=0.45)
    seeds = strokes(truth)
    labels = napari_seglab.segment(image, seeds, method=method)
    assert labels.shape == shape and np.issubdtype(labels.dtype, np.integer)
    assert mean_dice(truth, labels) > 0.95
    seeded = seeds > 0
    np.testing.assert_array_equal(labels[seeded], seeds[seeded])


def test_knn_on_the_mr_phantom_from_scribbles():
    image, truth = tissue_phantom((128, 128))
    seeds = scribble_seeds(truth, strokes_per_class=2, length=12)
    labels = napari_seglab.segment(image, seeds, method="knn", n_neighbors=7)
    assert mean_dice(truth, labels) > 0.85


def test_kmeans_cluster_ids_follow_the_seeds():
    image, truth = regions((48, 90), 3, noise=0.2)
    seeds = strokes(truth)
    # Non-contiguous labels, painted in the "wrong" order of brightness.
    relabel = np.array([0, 9, 4, 6], np.uint8)
    seeds = relabel[seeds]
    labels = napari_seglab.segment(image, seeds, method="kmeans")
    assert set(np.unique(labels)) == {4, 6, 9}
    for band, label in zip(range(3), (9, 4, 6), strict=True):
        assert np.mean(labels[truth == band] == label) > 0.95


def test_unsupervised_kmeans_orders_clusters_by_intensity():
    image, truth = regions((40, 90), 3, noise=0.1)
    flipped = image[:, ::-1]  # brightest band first: ids must not follow position
    labels = napari_seglab.segment(flipped, None, method="kmeans", n_clusters=3)
    means = [flipped[labels == k].mean() for k in (1, 2, 3)]
    assert means == sorted(means)
    assert mean_dice(truth[:, ::-1], labels) > 0.97


def test_otsu_without_and_with_seeds():
    image, truth = regions((40, 80), 2, noise=0.05)
    labels = napari_seglab.segment(image, method="otsu")
    np.testing.assert_array_equal(labels, truth + 1)
    # Two seed classes: the brighter seeds' label goes above the threshold.
    seeds = np.zeros(truth.shape, np.uint8)
    seeds[20, 5:10] = 7   # dark band
    seeds[20, 60:65] = 3  # bright band
    labels = napari_seglab.segment(image, seeds, method="otsu")
    assert (labels[truth == 1] == 3).all() and (labels[truth == 0] == 7).all()


def test_same_input_same_result():
    image, truth = tissue_phantom((96, 96), random_state=3)
    seeds = scribble_seeds(truth)
    for method in ("knn", "nearest_mean", "kmeans", "otsu"):
        a = napari_seglab.segment(image, seeds if method != "otsu" else None, method)
        b = napari_seglab.segment(image, seeds if method != "otsu" else None, method)
        np.testing.assert_array_equal(a, b)


def test_channels_are_segmented_together():
    # Two halves of equal mean intensity, told apart only by the channels.
    rgb = np.zeros((30, 40, 3), np.float32)
    rgb[:, :20, 0] = 1.0
    rgb[:, 20:, 1] = 1.0
    seeds = np.zeros((30, 40), np.uint8)
    seeds[15, 2:6] = 1
    seeds[15, 34:38] = 2
    labels = napari_seglab.segment(rgb, seeds, "nearest_mean", channel_axis=-1)
    assert (labels[:, :20] == 1).all() and (labels[:, 20:] == 2).all()
    first = napari_seglab.segment(np.moveaxis(rgb, -1, 0), seeds, "nearest_mean",
                                  channel_axis=0)
    np.testing.assert_array_equal(first, labels)


def test_sigma_is_in_physical_units():
    image, truth = regions((48, 64), 2, noise=0.6)
    seeds = strokes(truth)
    in_voxels = napari_seglab.segment(
        image, seeds, "nearest_mean", features=FeatureSpec((("gaussian", 2.0),)))
    in_mm = napari_seglab.segment(
        image, seeds, "nearest_mean", spacing=(0.5, 0.5),
        features=FeatureSpec((("gaussian", 1.0),)))
    np.testing.assert_array_equal(in_voxels, in_mm)


def test_default_features_go_per_slice_on_a_volume_too_thin_for_them():
    # The default (the blend) reads a σ = 8 Gaussian: a 10-slice stack cannot
    # hold it in 3D. As the panel does, segment() then filters each slice in
    # 2D and says so; features the caller chose are never changed.
    from dataclasses import replace

    from napari_seglab.core.features import PRESETS

    volume, truth = tissue_phantom((10, 64, 64), random_state=3)
    seeds = scribble_seeds(truth, strokes_per_class=3, random_state=3)
    with pytest.warns(UserWarning, match="too thin along its first axis .10 slices"):
        labels = napari_seglab.segment(volume, seeds)
    flat = napari_seglab.segment(volume, seeds, features=replace(PRESETS["blend"], mode="2d"))
    assert np.array_equal(labels, flat)
    assert np.mean(labels == truth + 1) > 0.9
    with pytest.raises(ValueError, match="sigma=8"):
        napari_seglab.segment(volume, seeds, features="blend")


def test_non_finite_pixels_get_label_zero_unless_seeded():
    image, truth = regions((40, 60), 2, noise=0.2)
    seeds = strokes(truth)
    image[5, 5] = np.nan
    image[30, 50] = np.inf
    image[20, 27:33] = np.nan  # under a seed stroke
    labels = napari_seglab.segment(image, seeds, "knn")
    assert labels[5, 5] == 0 and labels[30, 50] == 0
    assert (labels[seeds > 0] == seeds[seeds > 0]).all()
    others = np.isfinite(image) & (seeds == 0)
    assert np.mean(labels[others] == truth[others] + 1) > 0.97
    with pytest.raises(ValueError, match="no finite pixel"):
        napari_seglab.segment(np.full((10, 10), np.nan), None, "kmeans")


@pytest.mark.parametrize("call, error, match", [
    (lambda img, s: napari_seglab.segment(img, s, "svm"), ValueError, "unknown method 'svm'"),
    (lambda img, s: napari_seglab.segment(img, s, "knn", n_neigbors=3), TypeError,
     "n_neigbors"),
    (lambda img, s: napari_seglab.segment(img, s[:-1], "knn"), ValueError,
     r"spatial shape \(20, 30\)"),
    (lambda img, s: napari_seglab.segment(img, s.astype(float), "knn"), TypeError,
     "integer labels"),
    (lambda img, s: napari_seglab.segment(img, None, "knn"), ValueError,
     "at least two classes"),
    (lambda img, s: napari_seglab.segment(img, np.where(s == 2, 0, s), "nearest_mean"),
     ValueError, "at least two classes"),
    (lambda img, s: napari_seglab.segment(img.astype(complex), s, "knn"), TypeError,
     "real numbers"),
    (lambda img, s: napari_seglab.segment(np.zeros((2, 2, 20, 30)), s, "knn"),
     ValueError, "2D or 3D"),
    (lambda img, s: napari_seglab.segment(img, s, "knn", channel_axis=5), ValueError,
     "channel_axis=5"),
    (lambda img, s: napari_seglab.segment(img, s, "knn", spacing=(1, 0)), ValueError,
     "spacing"),
    (lambda img, s: napari_seglab.segment(img, s, "knn", features="huge"), ValueError,
     "preset"),
])
def test_bad_input_says_what_is_wrong(call, error, match):
    image, truth = regions((20, 30), 2, noise=0.1)
    with pytest.raises(error, match=match):
        call(image, strokes(truth, length=4))


def test_metrics_contract():
    truth = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 1, 1, 1, 2, 0])
    cm = napari_seglab.metrics.confusion_matrix(truth, pred)
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 2, 0], [1, 0, 1]])
    # `labels` picks rows/columns and their order; 0 is a label like any other.
    np.testing.assert_array_equal(
        napari_seglab.metrics.confusion_matrix(truth, pred, labels=[2, 0]),
        [[1, 1], [0, 1]])
    d = napari_seglab.metrics.dice(truth, pred)
    assert d == pytest.approx({0: 2 / 4, 1: 4 / 5, 2: 2 / 3})
    assert list(napari_seglab.metrics.dice(truth, pred, labels=[2, 1])) == [2, 1]
