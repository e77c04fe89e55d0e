"""Guidance: where the next stroke helps most."""

import numpy as np
import pytest

from napari_seglab.core.guidance import (
    margin_uncertainty,
    next_region,
    slice_uncertainty,
    suggest_regions,
)


def _two_class(shape):
    p = np.zeros(shape + (2,), np.float32)
    p[..., 0] = 1
    return p


def test_margin_uncertainty_three_classes():
    p = np.array([[[0.5, 0.3, 0.2], [0.4, 0.4, 0.2], [1.0, 0.0, 0.0]]], np.float32)
    np.testing.assert_allclose(margin_uncertainty(p), [[0.8, 1.0, 0.0]], atol=1e-6)


def test_largest_uncertain_region_first_and_seeded_pixels_left_out():
    p = _two_class((40, 40))
    p[2:6, 2:6] = 0.5  # small, very uncertain
    p[20:32, 20:32] = (0.6, 0.4)  # large, fairly uncertain: more to gain
    found = suggest_regions(p)
    assert [s.bbox for s in found] == [((20, 32), (20, 32)), ((2, 6), (2, 6))]
    assert 20 <= found[0].centre[0] < 32 and 20 <= found[0].centre[1] < 32
    seeds = np.zeros((40, 40), np.uint8)
    seeds[20:32, 20:32] = 1  # the user painted it: nothing left to suggest there
    assert next_region(p, seeds=seeds).bbox == ((2, 6), (2, 6))


def test_volume_suggestion_names_its_slice():
    p = _two_class((6, 16, 16))
    p[4, 3:12, 3:12] = 0.5
    p[1, 0:2, 0:2] = 0.5
    best = next_region(p)
    assert best.slice == 4 and best.centre[0] == 4
    assert int(slice_uncertainty(p).argmax()) == 4


def test_nothing_uncertain_gives_none():
    assert next_region(_two_class((8, 8))) is None
    assert suggest_regions(_two_class((8, 8))) == []


def test_suggestion_lies_in_the_band_the_strokes_did_not_teach():
    from napari_seglab.core.pipeline import SeededModel

    rng = np.random.default_rng(0)
    image = np.zeros((64, 64), np.float32)
    image[:, 24:40] = 0.5  # a tissue between the two painted ones
    image[:, 40:] = 1.0
    image += rng.normal(0, 0.05, image.shape).astype(np.float32)
    seeds = np.zeros((64, 64), np.uint8)
    seeds[10:50, 5] = 1
    seeds[10:50, 55] = 2
    proba = SeededModel("nearest_mean", "minimal").fit(image, seeds).predict_proba(image)
    best = next_region(proba, seeds=seeds)
    assert 24 <= best.centre[1] < 40
    assert best.bbox[1][0] >= 20 and best.bbox[1][1] <= 44


@pytest.mark.parametrize("bad, match", [
    (dict(threshold=1.5), "threshold"),
    (dict(n=0), "n must be"),
    (dict(seeds=np.zeros((3, 3), int)), "spatial shape"),
])
def test_bad_arguments_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        suggest_regions(_two_class((8, 8)), **bad)


def test_bad_proba():
    with pytest.raises(ValueError, match="n_classes"):
        margin_uncertainty(np.zeros((4, 4, 1), np.float32))
    with pytest.raises(TypeError, match="floats"):
        margin_uncertainty(np.zeros((4, 4, 2), np.int64))
