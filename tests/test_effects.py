"""Segment Editor effects on shapes whose answer is known, at anisotropic spacing."""

import numpy as np
import pytest

from napari_seglab import postprocess
from napari_seglab.postprocess import (
    extrude,
    fill_between_slices,
    hollow,
    itk_available,
    keep_island,
    logical,
    margin,
    scissors,
    split_islands,
    threshold_mask,
)

SPACING = (2.0, 0.5, 0.5)  # thick slices, fine in-plane: 4:1
SHAPE = (21, 80, 80)
CENTRE = (10, 40, 40)


def _radius_mm(shape=SHAPE, centre=CENTRE, spacing=SPACING):
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    return np.sqrt(sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre, spacing,
                                                              strict=True)))


r_mm = _radius_mm()
#: A voxel's half diagonal: how far a voxel centre may lie from a continuous surface.
SLACK = 0.5 * float(np.linalg.norm(SPACING))


def _sphere(radius, value=1, dtype=np.uint8):
    return np.where(r_mm <= radius, value, 0).astype(dtype)


def test_public_module_lists_the_effects():
    assert set(postprocess.__all__) >= {
        "margin", "hollow", "logical", "split_islands", "keep_island", "scissors",
        "threshold_mask", "fill_between_slices", "smooth", "keep_largest"}


@pytest.mark.parametrize("mm", [3.0, 1.0])
def test_margin_grows_a_sphere_by_mm_within_a_voxel(mm):
    labels = _sphere(8.0)
    before = labels.copy()
    grown = margin(labels, mm, label=1, spacing=SPACING)
    np.testing.assert_array_equal(labels, before)  # input untouched
    assert grown.dtype == labels.dtype
    assert (grown[r_mm <= 8.0 + mm - SLACK] == 1).all()
    assert not grown[r_mm > 8.0 + mm].any()


def test_margin_shrinks_a_sphere_by_mm_within_a_voxel():
    shrunk = margin(_sphere(10.0), -3.0, label=1, spacing=SPACING)
    assert (shrunk[r_mm < 7.0] == 1).all()
    assert not shrunk[r_mm > 7.0 + SLACK].any()


def test_growth_never_takes_another_segment_and_other_segments_stay():
    labels = _sphere(6.0)
    labels[:, :, 56:60] = 2                  # a wall 2 mm beyond the sphere's edge
    labels[0, 0, 0] = 3
    grown = margin(labels, 6.0, label=1, spacing=SPACING)
    np.testing.assert_array_equal(grown == 2, labels == 2)
    assert grown[0, 0, 0] == 3
    assert (grown[r_mm <= 12.0 - SLACK][:] != 0).all()
    # distances are straight: background beyond the 2 mm wall is within 6 mm too
    assert (grown[10, 40, 60:63] == 1).all() and not grown[10, 40, 65]
    shrunk = margin(labels, -2.0, label=1, spacing=SPACING)
    np.testing.assert_array_equal(shrunk == 2, labels == 2)


def test_margin_refuses_an_absent_segment_and_bad_spacing():
    labels = _sphere(5.0)
    with pytest.raises(ValueError, match="label 4 is not in the labels"):
        margin(labels, 1.0, label=4, spacing=SPACING)
    with pytest.raises(ValueError, match="spacing must be 3 positive"):
        margin(labels, 1.0, label=1, spacing=(1, 1))
    with pytest.raises(TypeError, match="mm must be a number"):
        margin(labels, "far", label=1)


def test_hollow_leaves_a_shell_of_the_thickness():
    labels = _sphere(9.0, value=5)
    labels[0, 0, 0] = 2
    shell = hollow(labels, 2.5, label=5, spacing=SPACING)
    assert not shell[r_mm < 9.0 - 2.5].any()                       # the cavity
    assert (shell[(r_mm >= 9.0 - 2.5 + SLACK) & (r_mm <= 9.0)] == 5).all()
    assert shell[0, 0, 0] == 2


def test_a_shell_thinner_than_the_slices_stays_closed():
    """0.5 mm on 2 mm slices: the caps stay, so the shell still encloses its cavity."""
    from scipy import ndimage as ndi

    sphere = _sphere(8.0)
    shell = hollow(sphere, 0.5, label=1, spacing=SPACING)
    assert shell.sum() < sphere.sum() / 2
    np.testing.assert_array_equal(ndi.binary_fill_holes(shell), sphere.astype(bool))
    with pytest.raises(ValueError, match="must be > 0"):
        hollow(sphere, 0, label=1)


# --- logical operators -----------------------------------------------------------

#: Voxels: (segment 1, mask) for each of background / segment 1 / segment 3.
ROW = np.array([[0, 0, 1, 1, 3, 3]], np.uint8)
MASK = np.array([[0, 1, 0, 1, 0, 1]], bool)
TRUTH = {
    "copy":      [0, 1, 0, 1, 3, 3],
    "union":     [0, 1, 1, 1, 3, 3],
    "subtract":  [0, 0, 1, 0, 3, 3],
    "intersect": [0, 0, 0, 1, 3, 3],
    "invert":    [1, 1, 0, 0, 3, 3],
    "clear":     [0, 0, 0, 0, 3, 3],
}


@pytest.mark.parametrize("op", list(TRUTH))
def test_logical_truth_table_with_a_mask_never_takes_a_third_segment(op):
    result = logical(ROW, op, label=1, other=MASK)
    np.testing.assert_array_equal(result[0], TRUTH[op])


def test_logical_with_another_segment_merges_or_moves_it():
    labels = np.array([[0, 1, 1, 2, 2, 3]], np.uint8)
    np.testing.assert_array_equal(logical(labels, "union", label=1, other=2)[0],
                                  [0, 1, 1, 1, 1, 3])
    np.testing.assert_array_equal(logical(labels, "copy", label=1, other=2)[0],
                                  [0, 0, 0, 1, 1, 3])
    np.testing.assert_array_equal(logical(labels, "subtract", label=1, other=2), labels)
    np.testing.assert_array_equal(logical(labels, "copy", label=4, other=3)[0],
                                  [0, 1, 1, 2, 2, 4])  # a new segment
    with pytest.raises(ValueError, match="another segment"):
        logical(labels, "union", label=1, other=1)
    with pytest.raises(ValueError, match="op must be one of"):
        logical(labels, "xor", label=1, other=2)
    with pytest.raises(ValueError, match="shape"):
        logical(labels, "union", label=1, other=np.ones((2, 6), bool))


# --- islands ---------------------------------------------------------------------

def _three_islands():
    """Balls of 6, 4 and 2 mm radius of segment 1, and a segment 2 elsewhere."""
    labels = np.zeros(SHAPE, np.uint8)
    for centre, radius in (((10, 20, 20), 6.0), ((10, 60, 60), 4.0), ((10, 20, 64), 2.0)):
        labels[_radius_mm(centre=centre) <= radius] = 1
    labels[0:2, 70:80, 0:10] = 2
    return labels


def test_split_islands_numbers_islands_by_size_and_removes_small_ones():
    labels = _three_islands()
    split, new = split_islands(labels, label=1, spacing=SPACING, return_values=True)
    assert new == [3, 4]
    volumes = {v: (split == v).sum() * np.prod(SPACING) for v in (1, 3, 4)}
    assert volumes[1] > volumes[3] > volumes[4] > 0
    assert np.array_equal(split == 2, labels == 2)
    assert np.array_equal(split != 0, labels != 0)
    # the 2 mm ball is ~33 mm³, the 4 mm one ~268 mm³
    split, new = split_islands(labels, label=1, spacing=SPACING, min_size_mm3=100.0,
                               return_values=True)
    assert new == [3]
    assert set(np.unique(split)) == {0, 1, 2, 3}
    assert not split[10, 20, 64]


def test_split_islands_says_when_the_dtype_is_too_small():
    labels = np.zeros((3, 40), np.uint8)
    labels[1, ::2] = 1
    labels[0, 0] = 250
    with pytest.raises(ValueError, match="uint16"):
        split_islands(labels, label=1)


def test_keep_island_keeps_the_one_at_the_point():
    labels = _three_islands()
    kept = keep_island(labels, (10, 60, 60))
    assert np.array_equal(kept == 1, (labels == 1) & (_radius_mm(centre=(10, 60, 60)) <= 4))
    assert np.array_equal(kept == 2, labels == 2)
    with pytest.raises(ValueError, match="background"):
        keep_island(labels, (0, 0, 40))
    with pytest.raises(ValueError, match="not on segment 1"):
        keep_island(labels, (0, 75, 5), label=1)


# --- threshold and scissors ------------------------------------------------------

def test_threshold_mask_is_inclusive_and_ignores_nan():
    image = np.array([[-1.0, 0.0, 5.0, np.nan, 10.0, 11.0]])
    np.testing.assert_array_equal(threshold_mask(image, 0, 10)[0],
                                  [False, True, True, False, True, False])
    np.testing.assert_array_equal(threshold_mask(image, high=0)[0],
                                  [True, True, False, False, False, False])
    with pytest.raises(ValueError, match="low must be <= high"):
        threshold_mask(image, 5, 1)


def test_scissors_through_all_slices_or_one():
    labels = np.zeros((4, 6, 6), np.uint8)
    labels[:, :, :3] = 1
    labels[:, :, 3:] = 2
    square = np.zeros((6, 6), bool)
    square[1:5, 1:5] = True
    erased = scissors(labels, extrude(square, labels.shape, axis=0), "erase_inside")
    assert not erased[:, 1:5, 1:5].any() and erased[:, 0, 0] .all()
    only_1 = scissors(labels, extrude(square, labels.shape, axis=0), "erase_outside", label=1)
    assert (only_1[:, 0, :3] == 0).all() and (only_1[:, 0, 3:] == 2).all()
    one_slice = extrude(square, labels.shape, axis=0, index=2)
    cleared = scissors(labels, one_slice, "erase_inside")
    assert cleared[2, 1:5, 1:5].sum() == 0 and (cleared[1] == labels[1]).all()
    filled = scissors(np.zeros_like(labels), one_slice, "fill_inside", label=3)
    assert (filled == 3).sum() == 16
    across = extrude(np.ones((4, 6), bool), labels.shape, axis=2, index=0)
    assert across[:, :, 0].all() and not across[:, :, 1:].any()


# --- fill between slices ----------------------------------------------------------

def _disc(shape, centre, radius):
    rows, cols = np.ogrid[:shape[0], :shape[1]]
    return (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius ** 2


def _cone_volume():
    labels = np.zeros((9, 48, 48), np.uint8)
    labels[0][_disc((48, 48), (24, 24), 16)] = 1
    labels[8][_disc((48, 48), (24, 24), 4)] = 1
    return labels


def test_fill_between_two_circles_gives_a_frustum_exact_on_the_painted_slices():
    labels = _cone_volume()
    labels[4, 0:3, 0:3] = 2          # another segment, never overwritten
    labels[4, 24, 20] = 2            # ... even inside the frustum
    filled = fill_between_slices(labels, label=1, axis=0, spacing=(3.0, 0.5, 0.5))
    np.testing.assert_array_equal(filled[[0, 8]], labels[[0, 8]])
    np.testing.assert_array_equal(filled == 2, labels == 2)
    rows, cols = np.ogrid[:48, :48]
    radius = np.sqrt((rows - 24) ** 2 + (cols - 24) ** 2)
    for k in range(1, 8):
        expected = 16 + (4 - 16) * k / 8
        inside = filled[k] == 1
        assert inside[(radius <= expected - 1) & (labels[k] == 0)].all(), k
        assert not inside[radius > expected + 1].any(), k


def test_fill_between_slices_along_another_axis_is_the_same_transposed():
    labels = _cone_volume()
    along_0 = fill_between_slices(labels, axis=0)
    along_2 = fill_between_slices(labels.transpose(1, 2, 0).copy(), axis=2)
    np.testing.assert_array_equal(along_2, along_0.transpose(1, 2, 0))


def test_fill_between_slices_per_segment_and_outside_the_range_untouched():
    labels = _cone_volume()
    labels[2, 5:9, 40:44] = 3
    labels[6, 5:9, 40:44] = 3
    labels[8, 5:9, 40:44] = 0
    filled = fill_between_slices(labels)
    assert (filled[3:6, 5:9, 40:44] == 3).all()
    assert not (filled[[0, 1, 7, 8], 5:9, 40:44] == 3).any()
    only_3 = fill_between_slices(labels, label=3)
    np.testing.assert_array_equal(only_3 == 1, labels == 1)


def test_fill_between_slices_refuses_a_2d_image_and_a_bad_method():
    with pytest.raises(ValueError, match="3D volume"):
        fill_between_slices(np.ones((4, 4), np.uint8))
    with pytest.raises(ValueError, match="method must be one of"):
        fill_between_slices(_cone_volume(), method="linear")


@pytest.mark.skipif(not itk_available(), reason="itk-morphologicalcontourinterpolation absent")
def test_itk_contour_interpolation_is_exact_on_painted_slices_and_tapers():
    labels = _cone_volume()
    labels[4, 0:3, 0:3] = 2
    filled = fill_between_slices(labels, label=1, axis=0, method="itk")
    np.testing.assert_array_equal(filled[[0, 8]], labels[[0, 8]])
    np.testing.assert_array_equal(filled == 2, labels == 2)
    areas = (filled == 1).sum(axis=(1, 2))
    assert (np.diff(areas) <= 0).all() and areas[4] > areas[8]
    shape_based = fill_between_slices(labels, label=1, axis=0)
    # both interpolate the same frustum to within a ring of pixels
    assert abs(int((filled == 1).sum()) - int((shape_based == 1).sum())) < 0.1 * areas.sum()


def test_itk_missing_says_what_to_install(monkeypatch):
    from napari_seglab.core import slice_interpolation

    monkeypatch.setattr(slice_interpolation, "itk_available", lambda: False)
    with pytest.raises(ImportError, match=r"napari-seglab\[interpolation\]"):
        fill_between_slices(_cone_volume(), method="itk")


def test_a_threshold_mask_keeps_grow_from_seeds_inside_it():
    from napari_seglab import GrowFromSeeds

    image = np.tile(np.linspace(0, 100, 40, dtype=np.float32), (30, 1))
    seeds = np.zeros(image.shape, np.uint8)
    seeds[10:20, 14:26] = 1             # a stroke: the crop covers the range
    mask = threshold_mask(image, 30, 70)
    session = GrowFromSeeds(image, mask=mask)
    session.warn_notes = False          # one segment inside a mask: a note, not a failure
    grown = session.update(seeds)
    assert not grown[~mask].any()                  # never beyond the range
    assert (grown[15][mask[15]] == 1).all()          # the seed's row: all of the range
