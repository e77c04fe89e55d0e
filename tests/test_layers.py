"""Layer <-> array glue, without Qt (napari's ViewerModel)."""

import numpy as np
import pytest
from napari.components import ViewerModel
from napari.layers import Image

from napari_seglab._sample_data import phantom_2d, phantom_3d
from napari_seglab._widgets.layers import (
    InputError,
    class_names,
    image_arrays,
    seeds_array,
    write_labels,
)


def test_image_arrays_rgb_scale_and_bad_dims():
    rgb = Image(np.zeros((20, 30, 3), np.uint8), rgb=True, scale=(0.5, 2.0))
    data, channel_axis, spacing = image_arrays(rgb)
    assert channel_axis == -1 and spacing == (0.5, 2.0)
    with pytest.raises(InputError, match="4 dimensions"):
        image_arrays(Image(np.zeros((2, 3, 20, 20))))
    with pytest.raises(InputError, match="No image layer"):
        image_arrays(None)


def test_seeds_array_is_a_copy_and_checks_shape():
    viewer = ViewerModel()
    image = viewer.add_image(np.zeros((10, 12)))
    seeds = viewer.add_labels(np.zeros((10, 12), np.uint8), name="seeds")
    snapshot = seeds_array(seeds, image, (10, 12))
    snapshot[0, 0] = 5
    assert seeds.data[0, 0] == 0
    with pytest.raises(InputError, match="shape"):
        seeds_array(seeds, image, (10, 13))
    with pytest.raises(InputError, match="New seeds layer"):
        seeds_array(None, image, (10, 12))


def test_write_labels_reuses_until_hand_edited():
    viewer = ViewerModel()
    first = write_labels(viewer, np.ones((8, 8), np.uint8), role="segmentation",
                         source="img", name="segmentation")
    again = write_labels(viewer, np.full((8, 8), 2, np.uint8), role="segmentation",
                         source="img", name="segmentation")
    assert again is first and len(viewer.layers) == 1
    assert (first.data == 2).all()
    # A hand correction (with undo history) protects the layer.
    first.data_setitem((np.array([0]), np.array([0])), 7)
    third = write_labels(viewer, np.full((8, 8), 3, np.uint8), role="segmentation",
                         source="img", name="segmentation")
    assert third is not first and len(viewer.layers) == 2
    assert first.data[0, 0] == 7 and (first.data[1:] == 2).all()


@pytest.mark.parametrize("make, ndim", [(phantom_2d, 2), (phantom_3d, 3)])
def test_sample_data_has_image_truth_and_named_seeds(make, ndim):
    layers = make()
    kinds = [kind for _, _, kind in layers]
    assert kinds == ["image", "labels", "labels"]
    (image, _, _), (truth, _, _), (seeds, meta, _) = layers
    assert image.ndim == ndim and truth.shape == image.shape == seeds.shape
    assert set(np.unique(truth)) == {0, 1, 2} and not seeds.any()
    viewer = ViewerModel()
    layer = viewer.add_labels(seeds, **meta)
    assert class_names(layer) == {1: "background", 2: "tissue", 3: "fluid"}
