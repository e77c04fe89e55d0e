"""Live preview in core: one slice, trained on every seed, features cached."""

import numpy as np
import pytest

import napari_seglab
from napari_seglab.core.feature_cache import FeatureCache
from napari_seglab.core.live import segment_slice
from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom


@pytest.fixture(scope="module")
def volume():
    image, truth = tissue_phantom((24, 64, 64), random_state=2)
    return image[..., None], truth, scribble_seeds(truth, length=14)


@pytest.mark.parametrize("method", ["knn", "random_forest", "otsu"])
def test_slice_equals_the_whole_volume_result(volume, method):
    image, truth, seeds = volume
    if method == "otsu":
        seeds = None  # a global threshold, unseeded
    whole = napari_seglab.segment(image[..., 0], seeds, method)
    z = 12
    part = segment_slice(image, seeds, z, method=method)
    agreement = np.mean(part == whole[z])
    # Same seeds, same features: the slice agrees with the volume's slice
    # (balanced subsampling may pick other training pixels).
    assert agreement > 0.97, agreement


def test_default_knn_route_gives_the_exact_knn_labels(volume):
    # The live default (certified grid) must not change what a stroke shows:
    # the same labels as the exact k-d tree search, stroke after stroke.
    image, truth = tissue_phantom((192, 192), random_state=7)
    seeds = scribble_seeds(truth, strokes_per_class=3, random_state=7)
    cache = FeatureCache()
    for _ in range(2):
        default = segment_slice(image[..., None], seeds, method="knn", cache=cache)
        exact = segment_slice(image[..., None], seeds, method="knn", cache=cache,
                              params={"algorithm": "kdtree"})
        assert np.array_equal(default, exact)
        assert napari_seglab.metrics.dice(truth + 1, default, labels=[1, 2, 3])[3] > 0.9
        seeds = seeds.copy()
        seeds[5, 10:60] = 1  # another background stroke
    vol_image, _, vol_seeds = volume
    assert np.array_equal(segment_slice(vol_image, vol_seeds, 12, method="knn"),
                          segment_slice(vol_image, vol_seeds, 12, method="knn",
                                        params={"algorithm": "kdtree"}))


def test_strokes_reuse_cached_slice_features(volume):
    image, truth, seeds = volume
    cache = FeatureCache()
    segment_slice(image, seeds, 5, cache=cache)
    misses = cache.misses
    assert misses > 0
    more = seeds.copy()
    z = np.flatnonzero(seeds.reshape(len(seeds), -1).any(axis=1))[0]
    more[z, 30, 30:35] = 2  # another stroke on an already seeded slice
    segment_slice(image, more, 5, cache=cache)
    assert cache.misses == misses and cache.hits > 0


def test_2d_and_bad_input(volume):
    image, truth, seeds = volume
    labels = segment_slice(image[12], None, method="kmeans", params={"n_clusters": 3})
    assert labels.shape == (64, 64)
    assert napari_seglab.metrics.dice(truth[12] + 1, labels, labels=[1, 2, 3])[2] > 0.9
    with pytest.raises(ValueError, match="outside the volume"):
        segment_slice(image, seeds, 24)
    with pytest.raises(ValueError, match="at least two classes"):
        segment_slice(image, np.where(seeds == 1, 1, 0), 3, method="knn")


def test_cache_is_reused_for_images_with_missing_pixels(volume):
    image, truth, seeds = volume
    holes = image.copy()
    holes[3, 10, 10] = np.nan
    cache = FeatureCache()
    segment_slice(holes, seeds, 5, cache=cache)
    misses = cache.misses
    labels = segment_slice(holes, seeds, 5, cache=cache)  # the next stroke
    assert cache.misses == misses and cache.hits > 0
    assert seeds[3, 10, 10] == 0  # the hole is not seeded: it must stay missing
    assert segment_slice(holes, seeds, 3, cache=cache)[10, 10] == 0
    assert labels.shape == (64, 64)


@pytest.mark.parametrize("method", ["knn", "blend"])
def test_prediction_in_blocks_equals_one_call(monkeypatch, method):
    # Live previews predict in short blocks (numpy keeps the GIL through each
    # call); the labels must be those of one call over the whole image.
    import napari_seglab.core.live as live_module
    from napari_seglab.core.pipeline import SeededModel

    image, truth = tissue_phantom((96, 80), random_state=3)
    seeds = scribble_seeds(truth, length=14)
    model = SeededModel(method).fit(image, seeds)
    inputs, _ = model.compute_inputs(image)
    whole = model.predict_inputs(inputs)
    monkeypatch.setattr(live_module, "LIVE_BLOCK_PIXELS", 1000)  # 8 blocks, the last short
    blocks = live_module._predict_in_blocks(model, inputs, None)
    assert blocks.dtype == whole.dtype and np.array_equal(blocks, whole)
    finite = np.ones(image.shape, bool)
    finite[5:9, 10:70] = False
    blocks = live_module._predict_in_blocks(model, inputs, finite)
    assert np.array_equal(blocks, np.where(finite, model.predict_inputs(inputs, finite), 0))
