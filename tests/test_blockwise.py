"""Blockwise apply: the dask result equals the in-memory result, block by block."""

import numpy as np
import pytest

from napari_seglab.core.blockwise import (
    block_margin,
    choose_chunks,
    confusion_blockwise,
    model_from_bytes,
    model_to_bytes,
    predict_blockwise,
)
from napari_seglab.core.features import FeatureSpec
from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom
from napari_seglab.core.pipeline import SeededModel
from napari_seglab.metrics import confusion_matrix

da = pytest.importorskip("dask.array")

# Small banks with derivatives and eigenvalues, so the halo matters.
SPEC = FeatureSpec((("intensity", 0.0), ("gaussian", 1.0), ("hessian_eigenvalues", 1.5)))
SPEC_2D_MODE = FeatureSpec((("gaussian", 1.0), ("gradient_magnitude", 1.0)), mode="2d")

METHODS = [
    ("knn", SPEC, None, True),
    ("nearest_mean", SPEC, None, True),
    ("random_forest", SPEC, {"n_estimators": 8}, True),
    ("kmeans", SPEC, None, False),
    ("gmm", SPEC, None, False),
    ("otsu", None, None, False),
    ("manual", None, {"threshold": 0.5}, False),
]


@pytest.fixture(scope="module")
def images():
    out = {}
    for shape in ((48, 56), (14, 26, 30)):
        image, truth = tissue_phantom(shape, random_state=0)
        out[len(shape)] = (image.astype(np.float32), truth, scribble_seeds(truth))
    return out


@pytest.mark.parametrize("ndim,chunks", [(2, 9), (3, (4, 7, 11))])
@pytest.mark.parametrize("method,spec,params,supervised", METHODS)
def test_equals_in_memory_with_tiny_chunks(images, ndim, chunks, method, spec, params,
                                           supervised):
    image, truth, seeds = images[ndim]
    model = SeededModel(method, features=spec, params=params).fit(
        image, seeds if supervised else None)
    expected = model.predict(image)
    labels = predict_blockwise(model, image, chunks=chunks)
    assert labels.chunksize == ((chunks,) * ndim if np.ndim(chunks) == 0 else chunks)
    got = labels.compute(scheduler="threads")
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


def test_chunks_smaller_than_halo_on_a_zarr_source(images, tmp_path):
    zarr = pytest.importorskip("zarr")
    image, _, seeds = images[3]
    model = SeededModel("knn", features=SPEC).fit(image, seeds)
    assert min(block_margin(model, image.shape)) > 3
    store = zarr.create_array(tmp_path / "img.zarr", shape=image.shape, chunks=(3, 5, 7),
                              dtype=image.dtype)
    store[...] = image
    got = predict_blockwise(model, store, chunks=(4, 6, 16)).compute()
    np.testing.assert_array_equal(got, model.predict(image))


def test_anisotropic_spacing_and_slice_mode(images):
    image, _, seeds = images[3]
    spacing = (2.5, 1.0, 0.8)
    model = SeededModel("knn", features=SPEC).fit(image, seeds, spacing=spacing)
    got = predict_blockwise(model, image, chunks=(3, 8, 8), spacing=spacing).compute()
    np.testing.assert_array_equal(got, model.predict(image, spacing=spacing))
    flat = SeededModel("nearest_mean", features=SPEC_2D_MODE).fit(image, seeds)
    assert block_margin(flat, image.shape)[0] == 0  # slices are filtered on their own
    got = predict_blockwise(flat, image, chunks=(1, 10, 10)).compute()
    np.testing.assert_array_equal(got, flat.predict(image))


def test_channels_and_non_finite_pixels(images):
    image, _, seeds = images[2]
    two = np.stack([image, 1.0 - image], axis=0)  # channels first
    two[0, 5:9, 20:30] = np.nan
    two[1, 30, 3] = np.inf
    model = SeededModel("knn", features="minimal").fit(two, seeds, channel_axis=0)
    expected = model.predict(two, channel_axis=0)
    got = predict_blockwise(model, da.from_array(two, chunks=(2, 13, 13)), chunks=10,
                            channel_axis=0).compute()
    assert (got[5:9, 20:30] == 0).all() and got[30, 3] == 0
    np.testing.assert_array_equal(got, expected)


def test_refusals_say_what_to_do(images):
    image, _, seeds = images[2]
    zscored = SeededModel("knn", features=FeatureSpec(SPEC.filters, normalize=True))
    zscored.fit(image, seeds)
    with pytest.raises(ValueError, match="normalize=False"):
        predict_blockwise(zscored, image)
    model = SeededModel("nearest_mean", features="minimal").fit(image, seeds)
    with pytest.raises(ValueError, match="channel"):
        predict_blockwise(model, np.stack([image, image], -1), channel_axis=-1)
    with pytest.raises(ValueError, match="positive"):
        predict_blockwise(model, image, chunks=(0, 4))
    with pytest.raises(ValueError, match="spacing"):
        predict_blockwise(model, image, spacing=(1.0, -2.0))


def test_chosen_chunks_fit_the_budget_and_cover_the_halo():
    image, truth = tissue_phantom((32, 32, 32), random_state=1)
    model = SeededModel("random_forest", features="default", params={"n_estimators": 4})
    model.fit(image, scribble_seeds(truth))
    shape = (800, 2000, 2000)
    small = choose_chunks(model, shape, block_bytes=256 * 2**20)
    big = choose_chunks(model, shape, block_bytes=2 * 2**30)
    margin = block_margin(model, shape)
    assert all(s < b for s, b in zip(small, big, strict=False))
    assert min(big) >= max(margin)  # most of a big block is useful work


def test_model_travels_as_data(images):
    image, _, seeds = images[2]
    model = SeededModel("random_forest", features=SPEC, params={"n_estimators": 5})
    model.fit(image, seeds)
    data = model_to_bytes(model)
    assert data[:2] == b"PK" and b"pickle" not in data  # an .npz zip, not a pickle
    again = model_from_bytes(data)
    assert model_from_bytes(data) is again  # loaded once per process
    np.testing.assert_array_equal(again.predict(image), model.predict(image))


def test_distributed_cluster_gives_the_same_labels(images, tmp_path):
    distributed = pytest.importorskip("distributed")
    image, truth, _ = images[2]
    rng = np.random.default_rng(0)
    seeds = np.where(rng.random(truth.shape) < 0.05, truth + 1, 0)  # enough for k = 5
    model = SeededModel("knn", features=SPEC).fit(image, seeds)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        labels = predict_blockwise(model, image, chunks=16)
        got = client.compute(labels).result()
    np.testing.assert_array_equal(got, model.predict(image))


def test_confusion_over_blocks_equals_whole(images):
    _, truth, _ = images[3]
    rng = np.random.default_rng(0)
    pred = np.where(rng.random(truth.shape) < 0.1, rng.integers(0, 5, truth.shape), truth)
    cm, labels = confusion_blockwise(truth, pred, chunks=(3, 7, 9))
    np.testing.assert_array_equal(cm, confusion_matrix(truth, pred, labels=labels))
    assert labels.tolist() == sorted(set(np.unique(truth)) | set(np.unique(pred)))
    with pytest.raises(ValueError, match="shapes differ"):
        confusion_blockwise(truth, pred[:-1])
