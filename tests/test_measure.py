"""Segment statistics, surfaces and resampling in physical units."""

import numpy as np
import pytest

from napari_seglab._ct_sample import CT_SPACING, TISSUE_HU, ct_phantom
from napari_seglab.io import world_affine
from napari_seglab.measure import (
    resample,
    resample_to_axes,
    resampled_shape,
    segment_statistics,
    surface,
    surface_area,
    volume_range,
)

SPACING = (2.5, 0.7, 0.7)
RADIUS = 12.0


def _sphere(spacing=SPACING, radius=RADIUS, shape=(20, 50, 50)):
    axes = [np.arange(n) * s - (n - 1) * s / 2 for n, s in zip(shape, spacing, strict=True)]
    z, y, x = np.meshgrid(*axes, indexing="ij")
    return ((z ** 2 + y ** 2 + x ** 2) <= radius ** 2).astype(np.uint8)


def test_sphere_volume_in_mm3_with_anisotropic_spacing():
    labels = _sphere()
    row = segment_statistics(labels, spacing=SPACING).row(1)
    assert row["volume_mm3"] == pytest.approx(4 / 3 * np.pi * RADIUS ** 3, rel=0.01)
    assert row["voxels"] * np.prod(SPACING) == pytest.approx(row["volume_mm3"])
    assert row["mean"] is None
    # the same sphere at the other spacing has the same volume, other voxel count
    other = segment_statistics(_sphere((1.0, 1.0, 1.0), shape=(30, 30, 30)),
                               spacing=(1, 1, 1)).row(1)
    assert other["volume_mm3"] == pytest.approx(row["volume_mm3"], rel=0.02)
    assert other["voxels"] != row["voxels"]


def test_statistics_of_the_ct_phantom_give_the_tissue_hu():
    hu, truth = ct_phantom()
    table = segment_statistics(truth, hu, spacing=CT_SPACING)
    assert [r["label"] for r in table] == [1, 2, 3]  # background has no row
    for row in table:
        assert row["mean"] == pytest.approx(TISSUE_HU[row["label"]], abs=1.0)
        assert 8 < row["std"] < 12  # the phantom's noise
        mask = truth == row["label"]
        assert row["min"] == hu[mask].min() and row["max"] == hu[mask].max()
        box = tuple(slice(a, b) for a, b in zip(row["bbox"][:3], row["bbox"][3:], strict=True))
        assert mask[box].sum() == mask.sum()
    csv = table.to_csv(names={1: "fat", 2: "soft tissue", 3: "bone"})
    header, first = csv.splitlines()[:2]
    assert header == ("label,name,voxels,volume_mm3,mean,std,min,max,bbox,surface_mm2,"
                      "sphericity,feret_mm,centroid_mm")
    assert first.startswith("1,fat,")


@pytest.mark.parametrize("spacing", [(2.5, 0.7, 0.7), (1.0, 1.0, 1.0), (3.0, 1.0, 0.5)])
def test_sphere_area_sphericity_feret_and_centroid(spacing):
    shape = tuple(int(2 * RADIUS / s) + 8 for s in spacing)
    labels = _sphere(spacing, shape=shape) * 4
    origin = (-100.0, 20.0, 5.0)
    row = segment_statistics(labels, spacing=spacing, origin=origin).row(4)
    assert row["surface_mm2"] == pytest.approx(4 * np.pi * RADIUS ** 2, rel=0.03)
    assert row["sphericity"] == pytest.approx(1.0, abs=0.03)
    assert row["feret_mm"] == pytest.approx(2 * RADIUS, abs=max(spacing) / 2)  # half a slice
    centre = (np.asarray(shape) - 1) * spacing / 2 + origin
    np.testing.assert_allclose(row["centroid_mm"], centre, atol=0.05)
    table = segment_statistics(labels, spacing=spacing, shape=False)
    assert table.row(4)["surface_mm2"] is None and table.row(4)["feret_mm"] is None


@pytest.mark.parametrize("spacing, radius", [((3.0, 1.0, 0.5), 6.0), ((6.5, 0.78, 0.78), 12.0)])
def test_a_small_ball_on_thick_slices_keeps_its_area(spacing, radius):
    """Smoothing away the staircase shrinks a small ball: the mesh is scaled back."""
    shape = tuple(int(2 * radius / s) + 8 for s in spacing)
    row = segment_statistics(_sphere(spacing, radius, shape), spacing=spacing).row(1)
    assert row["surface_mm2"] == pytest.approx(4 * np.pi * radius ** 2, rel=0.05)
    assert row["sphericity"] == pytest.approx(1.0, abs=0.06)
    assert row["feret_mm"] == pytest.approx(2 * radius, abs=max(spacing) / 2)


def test_shape_of_an_elongated_box_and_a_2d_disc():
    labels = np.zeros((26, 50, 100), np.uint8)
    labels[3:23, 5:45, 10:90] = 1                      # 20 x 40 x 80 voxels
    spacing = (2.0, 1.0, 0.5)                          # a 40 mm cube
    row = segment_statistics(labels, spacing=spacing).row(1)
    diagonal = 40 * np.sqrt(3)
    assert 0.95 * diagonal < row["feret_mm"] <= diagonal  # the smoothing rounds the corners
    cube = np.pi ** (1 / 3) * 6 ** (2 / 3) / 6          # 0.806
    assert row["sphericity"] == pytest.approx(cube, abs=0.05) and row["sphericity"] < 0.87
    yy, xx = np.mgrid[:80, :120]
    disc = ((yy - 40) * 0.5) ** 2 + ((xx - 60) * 0.25) ** 2 <= 12 ** 2   # radius 12 mm
    row = segment_statistics(disc.astype(np.uint8), spacing=(0.5, 0.25)).row(1)
    assert row["feret_mm"] == pytest.approx(24.0, rel=0.03)
    assert row["surface_mm2"] is None and row["sphericity"] is None
    np.testing.assert_allclose(row["centroid_mm"], (20.0, 15.0), atol=0.01)


def test_volume_range_of_a_soft_sphere_at_anisotropic_spacing():
    spacing = (2.5, 0.7, 0.7)
    shape = (24, 60, 60)
    axes = [np.arange(n) * s - (n - 1) * s / 2 for n, s in zip(shape, spacing, strict=True)]
    z, y, x = np.meshgrid(*axes, indexing="ij")
    distance = np.sqrt(z ** 2 + y ** 2 + x ** 2)
    width = 1.5                                         # mm of the logistic border
    inside = 1 / (1 + np.exp((distance - RADIUS) / width))
    proba = np.stack([1 - inside, inside], axis=-1)     # classes 1 (outside), 2 (sphere)
    low, mid, high = volume_range(proba, label=2, spacing=spacing, classes=[1, 2])
    ball = lambda r: 4 / 3 * np.pi * r ** 3             # noqa: E731
    # p >= 0.75 inside r - w ln 3, p >= 0.25 inside r + w ln 3, argmax inside r
    assert low == pytest.approx(ball(RADIUS - width * np.log(3)), rel=0.03)
    assert mid == pytest.approx(ball(RADIUS), rel=0.02)
    assert high == pytest.approx(ball(RADIUS + width * np.log(3)), rel=0.03)
    labels = np.where(inside >= 0.5, 2, 1)
    labels[0] = 1                                       # an edit after the run
    assert volume_range(proba, label=2, labels=labels, spacing=spacing, classes=[1, 2])[1] == \
        np.count_nonzero(labels == 2) * np.prod(spacing)
    with pytest.raises(ValueError, match="label 3 is not one of the classes"):
        volume_range(proba, label=3, classes=[1, 2])
    with pytest.raises(ValueError, match="labels shape"):
        volume_range(proba, label=2, labels=labels[1:], classes=[1, 2])


def test_statistics_reject_mismatched_input():
    labels = np.zeros((3, 3), np.uint8)
    with pytest.raises(ValueError, match=r"image shape \(2, 2\) differs"):
        segment_statistics(labels, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="spacing needs 2 positive values"):
        segment_statistics(labels, spacing=(1, 0))
    with pytest.raises(TypeError, match="integers"):
        segment_statistics(labels.astype(float))


def test_sphere_surface_area_within_a_few_percent():
    labels = _sphere()
    vertices, faces = surface(labels, 1, spacing=SPACING, smooth=1.0)
    true_area = 4 * np.pi * RADIUS ** 2
    assert surface_area(vertices, faces) == pytest.approx(true_area, rel=0.03)
    # in mm from voxel 0: the centre of the volume
    centre = (np.asarray(labels.shape) - 1) * SPACING / 2
    np.testing.assert_allclose(vertices.mean(axis=0), centre, atol=0.5)
    extent = vertices.max(axis=0) - vertices.min(axis=0)
    np.testing.assert_allclose(extent, 2 * RADIUS, atol=2.6)
    # the unsmoothed staircase overestimates the area
    staircase = surface_area(*surface(labels, 1, spacing=SPACING))
    assert staircase > 1.1 * true_area


def test_surface_refuses_an_absent_label():
    with pytest.raises(ValueError, match="label 5 has no voxel"):
        surface(_sphere(), 5, spacing=SPACING)


def test_resample_thick_slices_to_isotropic():
    hu, truth = ct_phantom()
    fine = resample(hu, CT_SPACING, 0.7)
    labels = resample(truth, CT_SPACING, 0.7, order=0)
    assert fine.shape == labels.shape == resampled_shape(hu.shape, CT_SPACING, (0.7,) * 3)
    assert fine.shape == (111, 128, 128)
    assert fine.dtype == np.float32 and labels.dtype == truth.dtype
    assert set(np.unique(labels)) <= set(np.unique(truth))
    # original slices are reproduced where the grids meet (every 2.5 / 0.7 ... at 0 and 17.5 mm)
    np.testing.assert_array_equal(fine[0], hu[0])
    np.testing.assert_array_equal(labels[25], truth[7])
    # volumes agree in mm³
    before = segment_statistics(truth, spacing=CT_SPACING).row(3)["volume_mm3"]
    after = segment_statistics(labels, spacing=(0.7,) * 3).row(3)["volume_mm3"]
    assert after == pytest.approx(before, rel=0.05)


def test_resample_rejects_bad_spacing():
    with pytest.raises(ValueError, match="new_spacing needs 3 positive values"):
        resample(np.zeros((2, 2, 2)), (1, 1, 1), (1, -1, 1))
    with pytest.raises(ValueError, match="more than"):
        resample(np.zeros((2, 2, 2)), (1, 1, 1), 1e-4)


def test_oblique_volume_resampled_onto_the_patient_axes():
    angle = np.radians(30)
    # array axes z, y, x rotated about the patient x axis
    direction = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0],
                          [0, 0, 1]])
    spacing, origin = (2.0, 1.0, 1.0), (5.0, -3.0, 2.0)
    image = np.zeros((12, 30, 20), np.float32)
    image[6, 15, 10] = 100.0
    affine = world_affine(spacing, origin, direction)
    target = affine @ [6, 15, 10, 1]
    data, new_spacing, new_origin = resample_to_axes(image, spacing, origin, direction,
                                                     new_spacing=1.0, order=0)
    assert new_spacing == (1.0, 1.0, 1.0)
    found = np.argwhere(data == 100.0)  # nearest: a few fine voxels per coarse one
    assert 1 <= len(found) <= 4
    np.testing.assert_allclose(found.mean(axis=0) * 1.0 + new_origin, target[:3], atol=1.0)
