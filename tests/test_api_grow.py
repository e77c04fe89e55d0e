"""``segment(..., method="grow_from_seeds")`` is the core session's result, with its checks."""

import numpy as np
import pytest

import napari_seglab
from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom


def test_segment_grow_from_seeds_equals_the_session():
    image, truth = tissue_phantom((12, 48, 48), random_state=4)
    seeds = scribble_seeds(truth, length=10)
    spacing = (2.0, 0.8, 0.8)
    labels = napari_seglab.segment(image, seeds, "grow_from_seeds", spacing=spacing,
                                   seed_locality=0.5)
    session = napari_seglab.GrowFromSeeds(image, spacing=spacing, seed_locality=0.5)
    np.testing.assert_array_equal(labels, session.update(seeds))
    assert set(np.unique(labels)) <= {0, 1, 2, 3}
    # Two flat regions split exactly at their border.
    flat = np.zeros((6, 20, 20))
    flat[:, :, 10:] = 100.0
    marks = np.zeros(flat.shape, np.uint8)
    marks[:, 3, 0:20:2] = 0
    marks[:, :, 1], marks[:, :, 18] = 1, 2
    grown = napari_seglab.segment(flat, marks, "grow_from_seeds")
    assert (grown[:, :, :10] == 1).all() and (grown[:, :, 10:] == 2).all()


@pytest.mark.parametrize("kwargs, match", [
    ({"n_neighbors": 3}, "takes seed_locality"),
    ({"features": "minimal"}, "features must be None"),
    ({"return_proba": True}, "return_proba"),
])
def test_segment_grow_from_seeds_refuses_what_it_cannot_use(kwargs, match):
    image = np.zeros((8, 8))
    seeds = np.zeros((8, 8), np.uint8)
    seeds[0, 0], seeds[7, 7] = 1, 2
    with pytest.raises((TypeError, ValueError), match=match):
        napari_seglab.segment(image, seeds, "grow_from_seeds", **kwargs)


def test_segment_grow_from_seeds_needs_seeds():
    with pytest.raises(ValueError, match="paint a few strokes"):
        napari_seglab.segment(np.zeros((8, 8)), None, "grow_from_seeds")
