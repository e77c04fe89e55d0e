"""Bad and extreme inputs at the entry points: one clear message each, memory kept in budget."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import napari_seglab
from napari_seglab.core.features import estimate_memory
from napari_seglab.core.model_io import load_model, save_model
from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom
from napari_seglab.core.pipeline import SeededModel
from napari_seglab.core.validation import check_image, check_seeds, check_spacing


@pytest.fixture(scope="module")
def slice2d():
    image, truth = tissue_phantom((64, 64), random_state=0)
    return image, truth, scribble_seeds(truth, strokes_per_class=3, random_state=0)


def _accuracy(labels, truth, seeds):
    free = seeds == 0
    return np.mean(labels[free] == truth[free] + 1)


@pytest.mark.parametrize("image, kwargs, error, match", [
    (np.zeros((8, 8), complex), {}, TypeError, "real numbers"),
    (np.zeros((8, 8), object), {}, TypeError, "real numbers"),
    (np.zeros((2, 2, 8, 8)), {}, ValueError, "2D or 3D"),
    (np.zeros((8, 8, 0)), {"channel_axis": -1}, ValueError, "no channels"),
    (np.zeros((8, 8)), {"channel_axis": 5}, ValueError, "channel_axis=5"),
    (np.zeros((8, 8)), {"channel_axis": 1.0}, TypeError, "channel_axis must be an int"),
    (np.zeros((1, 8)), {}, ValueError, "at least 2 pixels"),
])
def test_bad_images_get_our_message(image, kwargs, error, match):
    with pytest.raises(error, match=match):
        check_image(image, **kwargs)
    with pytest.raises(error, match=match):  # the same through the API
        napari_seglab.segment(image, None, "otsu", **kwargs)


def test_spacing_scalar_is_isotropic_and_negative_scale_counts_as_its_size(slice2d):
    image, truth, seeds = slice2d
    assert check_spacing(2.0, 2) == (2.0, 2.0)
    assert check_spacing((-0.5, 1), 2) == (0.5, 1.0)
    iso = napari_seglab.segment(image, seeds, "knn", spacing=2.0)
    np.testing.assert_array_equal(iso, napari_seglab.segment(image, seeds, "knn",
                                                             spacing=(2.0, 2.0)))
    flipped = SeededModel("knn").fit(image, seeds, spacing=(-2.0, 2.0))
    assert flipped.spacing_ == (2.0, 2.0)
    np.testing.assert_array_equal(flipped.predict(image, spacing=(2.0, -2.0)),
                                  flipped.predict(image, spacing=2.0))


@pytest.mark.parametrize("spacing, error, match", [
    (("a", "b"), TypeError, r"spacing \(the layer scale\) must hold numbers"),
    ("ab", TypeError, "layer scale"),
    ((1.0, 0.0), ValueError, "finite non-zero"),
    ((1.0, np.nan), ValueError, "finite non-zero"),
    ((1.0, 1.0, 1.0), ValueError, "2 finite non-zero numbers"),
])
def test_bad_spacing_refused_before_any_work(slice2d, spacing, error, match):
    image, _, seeds = slice2d
    for method in ("knn", "otsu"):  # thresholds validate spacing too (at fit)
        with pytest.raises(error, match=match):
            SeededModel(method).fit(image, seeds if method == "knn" else None,
                                    spacing=spacing)


def test_threshold_model_from_a_flipped_layer_saves_and_loads(slice2d, tmp_path):
    image, _, _ = slice2d
    model = SeededModel("otsu").fit(image, spacing=(-1.0, 1.0))
    save_model(tmp_path / "otsu.npz", model)
    loaded = load_model(tmp_path / "otsu.npz")
    assert loaded.spacing_ == (1.0, 1.0)
    np.testing.assert_array_equal(loaded.predict(image), model.predict(image))


@pytest.mark.parametrize("scale", [1e20, 1e30])
@pytest.mark.parametrize("method", ["knn", "nearest_mean", "random_forest"])
def test_huge_values_segment_as_well_as_small_ones(slice2d, method, scale):
    """Huge values: float32 squares overflow (40 % wrong labels at 1e20); statistics
    are taken in float64."""
    image, truth, seeds = slice2d
    small = napari_seglab.segment(image, seeds, method, features="minimal")
    with np.errstate(over="raise"):  # no overflow either
        huge = napari_seglab.segment(image.astype(np.float64) * scale, seeds, method,
                                     features="minimal")
    assert np.mean(huge == small) > 0.99
    assert _accuracy(huge, truth, seeds) >= _accuracy(small, truth, seeds) - 0.01


def test_values_beyond_float32_are_missing_and_the_messages_say_why(slice2d):
    image, truth, seeds = slice2d
    image = image.astype(np.float64)
    image[truth == 2] = 1e300  # finite in float64, inf in float32
    with pytest.warns(UserWarning, match="beyond float32's range"):
        labels = napari_seglab.segment(image, np.where(truth == 2, 0, seeds), "knn")
    assert (labels[truth == 2] == 0).all()
    with pytest.warns(UserWarning), pytest.raises(
            ValueError, match="label 3 lies on a missing pixel.*beyond float32"):
        napari_seglab.segment(image, np.where(truth == 0, 0, seeds), "knn")


def test_seeds_of_a_class_all_on_nan_pixels_say_so(slice2d):
    image, truth, seeds = slice2d
    image = image.copy()
    image[seeds == 2] = np.nan
    two = np.where(seeds == 3, 0, seeds)
    with pytest.raises(ValueError, match=r"got 1 \(label 1\): every seed of label 2 lies on "
                                         "a missing pixel"):
        napari_seglab.segment(image, two, "nearest_mean")
    before = two.copy()
    with pytest.raises(ValueError):
        SeededModel("knn").fit(image, two)
    np.testing.assert_array_equal(two, before)  # the seeds are never modified


def test_uint64_labels_from_two_to_the_63_are_refused(slice2d):
    image, _, seeds = slice2d
    big = seeds.astype(np.uint64)
    big[big == 2] = np.uint64(2**63)
    with pytest.raises(ValueError, match=r"below 2\*\*63"):
        napari_seglab.segment(image, big, "knn")
    ok = seeds.astype(np.uint64)
    ok[ok == 2] = np.uint64(2**62)
    labels = napari_seglab.segment(image, ok, "nearest_mean")
    assert set(np.unique(labels).tolist()) == {1, 2**62, 3}
    assert check_seeds(ok, ok.shape) is not None


@pytest.mark.parametrize("offset", [np.nan, np.inf, "0.1"])
def test_local_threshold_offset_must_be_a_finite_number(slice2d, offset):
    image, _, _ = slice2d
    with pytest.raises((ValueError, TypeError), match="offset must be"):
        napari_seglab.segment(image, None, "local", offset=offset)


@pytest.mark.parametrize("method", ["otsu", "knn"])
def test_huge_inputs_refused_before_allocating(method):
    """A 2000³ broadcast volume (29.8 GiB as float32) and 30000² give our budget message."""
    volume = np.broadcast_to(np.uint8(3), (2000, 2000, 2000))
    plane = np.broadcast_to(np.float64(1.0), (30000, 30000))
    seeds = None
    if method == "knn":
        seeds = np.broadcast_to(np.uint8(0), volume.shape)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="budget"):
            napari_seglab.segment(volume, seeds, method)
        with pytest.raises(ValueError, match="budget"):
            SeededModel(method, max_feature_bytes=2**30).fit(
                plane, None if seeds is None else np.broadcast_to(np.uint8(0), plane.shape))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20  # refused from shapes and dtypes, nothing copied


@pytest.mark.parametrize("method", ["knn", "nearest_mean"])
def test_slab_path_stays_under_its_budget(method):
    """320³ kNN peaked 1.7x its budget: slabs now count the copy, labels and chunks."""
    image, truth = tissue_phantom((64, 96, 96), random_state=2)
    image = (image * 1000).astype(np.uint16)  # the float32 copy counts
    seeds = scribble_seeds(truth, strokes_per_class=3, random_state=0)
    # Three quarters of what the whole-image features would take: the slabs
    # hold a few blocks of 8 smoothed planes per scale beyond the slab itself,
    # a fixed cost that this small volume (64 slices of 96²) makes visible.
    budget = estimate_memory(image.shape, "smooth").peak * 3 // 4
    model = SeededModel(method, "smooth", max_feature_bytes=budget)
    tracemalloc.start()
    try:
        steps = list(model.iter_fit_predict(image, seeds, spacing=(2.0, 1.0, 1.0)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [s for s, _, _ in steps].count("predicting") > 8  # slabs, in chunks
    assert peak <= budget
    whole = SeededModel(method, "smooth").fit_predict(image, seeds, spacing=(2.0, 1.0, 1.0))
    assert np.mean(model.predict(image, spacing=(2.0, 1.0, 1.0)) != whole) < 1e-4
