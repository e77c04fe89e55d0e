"""Clean-up effects on shapes whose answer is known."""

import numpy as np
import pytest

from napari_seglab import postprocess
from napari_seglab.core.phantoms import tissue_phantom
from napari_seglab.postprocess import fill_holes, keep_largest, remove_small_objects, smooth


def _ball(shape, centre, radius, spacing=(1, 1, 1)):
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    axes = zip(grids, centre, spacing, strict=True)
    return sum(((g - c) * s / radius) ** 2 for g, c, s in axes) <= 1


def test_public_module_lists_the_effects():
    assert set(postprocess.__all__) >= {"smooth", "fill_holes", "remove_small_objects",
                                        "keep_largest"}


@pytest.mark.parametrize("ndim", [2, 3])
def test_fill_holes_fills_an_enclosed_hole_and_not_an_open_bay(ndim):
    shape = (20,) * ndim
    labels = np.zeros(shape, np.uint16)
    labels[(slice(3, 17),) * ndim] = 1
    hole = (slice(8, 11),) * ndim
    labels[hole] = 0
    bay = (slice(0, 17),) + (slice(4, 6),) * (ndim - 1)  # reaches the border
    labels[bay] = 0
    before = labels.copy()
    filled = fill_holes(labels)
    assert (filled[hole] == 1).all()
    assert (filled[bay] == 0).all()
    assert filled.dtype == labels.dtype
    np.testing.assert_array_equal(labels, before)  # input untouched


def test_fill_holes_keeps_a_segment_inside_and_gives_nested_pockets_to_the_inner_ring():
    labels = np.zeros((21, 21), np.uint8)
    labels[1:20, 1:20] = 1          # outer ring
    labels[4:17, 4:17] = 0
    labels[7:14, 7:14] = 2          # inner ring inside the outer one
    labels[9:12, 9:12] = 0          # pocket inside the inner ring
    filled = fill_holes(labels)
    assert (filled[9:12, 9:12] == 2).all()           # innermost enclosing segment
    assert (filled[4:7, 4:17] == 1).all()            # gap between the rings: outer
    assert (filled[7:14, 7:14] != 0).all()
    only_2 = fill_holes(labels, label=2)
    assert (only_2[4:7, 4:17] == 0).all()             # label=1's hole left alone
    assert (only_2[9:12, 9:12] == 2).all()


def test_island_of_known_volume_removed_with_anisotropic_spacing_one_just_above_kept():
    spacing = (2.5, 0.5, 0.8)                       # 1 mm³ per voxel
    labels = np.zeros((10, 30, 30), np.int32)
    labels[2:8, 2:20, 2:20] = 3                     # the main body
    labels[1, 25:27, 25:28] = 3                     # 6 voxels = 6 mm³
    labels[6:8, 25:27, 2:4] = 3                     # 8 voxels = 8 mm³
    cleaned, removed = remove_small_objects(labels, 7.0, spacing=spacing,
                                            return_count=True)
    assert removed == 1
    assert (cleaned[1, 25:27, 25:28] == 0).all()
    assert (cleaned[6:8, 25:27, 2:4] == 3).all()
    # Exactly the threshold is kept, though 2.5 * 0.5 * 0.8 is not exact in binary.
    assert (remove_small_objects(labels, 8.0, spacing=spacing)[6:8, 25:27, 2:4] == 3).all()
    assert (remove_small_objects(labels, 8.01, spacing=spacing)[6:8, 25:27, 2:4] == 0).all()


def test_islands_touching_by_a_corner_are_one_island():
    labels = np.zeros((6, 6), np.uint8)
    labels[1, 1] = labels[2, 2] = 1
    assert remove_small_objects(labels, 2).sum() == 2


def test_keep_largest_per_segment_and_label_option():
    labels = np.zeros((12, 12), np.uint8)
    labels[0:5, 0:5] = 1
    labels[10, 10] = 1
    labels[7:9, 0:8] = 2
    labels[0, 10:12] = 2
    kept, removed = keep_largest(labels, return_count=True)
    assert removed == 2 and kept[10, 10] == 0 and kept[0, 10] == 0
    assert (kept[0:5, 0:5] == 1).all() and (kept[7:9, 0:8] == 2).all()
    only_1 = keep_largest(labels, label=1)
    assert only_1[10, 10] == 0 and (only_1[0, 10:12] == 2).all()


def test_median_removes_a_spike_and_respects_physical_size():
    labels = np.zeros((9, 40, 40), np.uint8)
    labels[:, 5:35, 5:35] = 1
    labels[:, 20, 35:38] = 1                        # a 1-voxel-thin spike in x
    smoothed = smooth(labels, "median", 3.0, spacing=(5.0, 1.0, 1.0))
    assert (smoothed[:, 20, 36:38] == 0).all()
    assert (smoothed[:, 10:30, 10:30] == 1).all()
    # 3 mm is below one 5 mm slice: the kernel is flat (no mixing of slices).
    labels[4] = 0
    assert (smooth(labels, "median", 3.0, spacing=(5.0, 1.0, 1.0))[4] == 0).all()


def test_opening_removes_a_thin_bridge_and_closing_fills_a_narrow_gap():
    labels = np.zeros((30, 30), np.uint8)
    labels[5:25, 2:12] = 1
    labels[5:25, 18:28] = 1
    labels[14:16, 12:18] = 1                        # 2-pixel bridge
    opened = smooth(labels, "opening", 5.0)
    assert (opened[14:16, 13:17] == 0).all() and opened[10, 5] == 1
    gap = labels.copy()
    gap[:, 12:18] = 0
    gap[5:25, 12:14] = 1
    gap[5:25, 16:18] = 1                            # a 2-pixel gap
    assert (smooth(gap, "closing", 5.0)[8:22, 14:16] == 1).all()


def test_closing_never_takes_another_segment():
    labels = np.zeros((20, 20), np.uint8)
    labels[2:18, 2:9] = 1
    labels[2:18, 10:18] = 2
    labels[9:11, 2:18] = 1                          # 1 reaches over 2's area
    before = labels.copy()
    closed = smooth(labels, "closing", 5.0)
    assert ((before == 2) <= (closed == 2)).all()
    one = smooth(labels, "closing", 5.0, label=1)
    np.testing.assert_array_equal(one[before == 2], 2)


def test_per_segment_label_option_touches_only_that_segment():
    _, truth = tissue_phantom((16, 48, 48), random_state=3)
    truth[np.random.default_rng(1).random(truth.shape) < 0.03] = 0   # pinholes
    for method in ("median", "opening", "closing", "gaussian"):
        out = smooth(truth, method, 3.0, spacing=(2.0, 1.0, 1.0), label=1)
        changed = out != truth
        assert changed.any(), method
        assert np.isin(truth[changed], [0, 1]).all(), method
        assert np.isin(out[changed], [0, 1]).all(), method


@pytest.mark.parametrize("shape,spacing", [((64, 64), (1.0, 1.0)),
                                           ((16, 48, 48), (3.0, 1.0, 1.0))])
def test_joint_smoothing_leaves_no_gap_and_smooths_shared_borders(shape, spacing):
    _, truth = tissue_phantom(shape, random_state=2)
    rng = np.random.default_rng(0)
    noisy = truth.copy()
    flip = (rng.random(shape) < 0.05) & (truth > 0)
    noisy[flip] = rng.integers(1, 3, flip.sum())    # salt inside the head
    joint = smooth(noisy, "joint", 1.0, spacing=spacing)
    np.testing.assert_array_equal(joint != 0, noisy != 0)   # no gap, nothing unlabelled
    assert joint.dtype == noisy.dtype
    assert (joint != truth).sum() < 0.3 * (noisy != truth).sum()


@pytest.mark.parametrize("ndim", [2, 3])
def test_gaussian_removes_noise_in_2d_and_3d(ndim):
    shape = (32,) * ndim
    ball = _ball(shape, (16,) * ndim, 10, (1,) * ndim).astype(np.uint8)
    noisy = ball.copy()
    noisy[(5,) * ndim] = 1                          # an isolated voxel
    out = smooth(noisy, "gaussian", 1.0)
    assert out[(5,) * ndim] == 0
    assert out[(16,) * ndim] == 1


@pytest.mark.parametrize("call,match", [
    (lambda x: smooth(x, "blur"), "'blur'"),
    (lambda x: smooth(x, "median", -1), "-1"),
    (lambda x: smooth(x, "median", 0.4), "0.4"),
    (lambda x: smooth(x, "median", 3, spacing=(1, 2)), r"\(1, 2\)"),
    (lambda x: smooth(x, "median", 3, label=7), "label 7"),
    (lambda x: smooth(x, "joint", 3, label=1), "label=1"),
    (lambda x: fill_holes(x, label=0), "got 0"),
    (lambda x: remove_small_objects(x, 0), "got 0"),
    (lambda x: keep_largest(x, label=9), "present: 1"),
])
def test_bad_arguments_raise_value_error_echoing_the_value(call, match):
    labels = np.zeros((2, 6, 6), np.uint8)
    labels[:, 1:4, 1:4] = 1
    with pytest.raises(ValueError, match=match):
        call(labels)


def test_float_labels_are_a_type_error():
    with pytest.raises(TypeError, match="float64"):
        fill_holes(np.zeros((4, 4)))
