"""Radiological planes and window presets: on a DICOM series and NIfTI files."""

import numpy as np
import pytest

from napari_seglab._ct_sample import ct_phantom_sample, series_folder
from napari_seglab._reader import read_layers
from napari_seglab._widgets.views import OrthogonalViews
from napari_seglab.core.windowing import (
    CT_PRESETS,
    display_window,
    plane_axes,
    robust_window,
    usable_window,
)


def test_planes_of_an_axial_a_ras_and_a_sagittal_acquisition():
    # axial LPS stack (DICOM's usual): z superior, y posterior, x left
    assert plane_axes("Axial") == ((0, 1, 2), ("down", "right"))
    assert plane_axes("Coronal") == ((1, 0, 2), ("up", "right"))
    assert plane_axes("Sagittal") == ((2, 0, 1), ("up", "right"))
    # NIfTI in RAS: y runs anterior, x to the right -> flip both in-plane axes
    ras = np.diag([1.0, -1.0, -1.0])
    assert plane_axes("Axial", ras) == ((0, 1, 2), ("up", "left"))
    assert plane_axes("Coronal", ras) == ((1, 0, 2), ("up", "left"))
    assert plane_axes("Sagittal", ras) == ((2, 0, 1), ("up", "left"))
    # sagittal slices: axis 0 to the left, axis 1 inferior, axis 2 posterior
    sagittal = np.array([[0, 0, 1], [-1, 0, 0], [0, 1, 0]], float)
    assert plane_axes("Sagittal", sagittal) == ((0, 1, 2), ("down", "right"))
    assert plane_axes("Coronal", sagittal) == ((2, 1, 0), ("down", "right"))
    assert plane_axes("Axial", sagittal) == ((1, 2, 0), ("down", "right"))
    with pytest.raises(ValueError, match="plane must be one of"):
        plane_axes("Oblique")


def _superior_is_up(viewer, layer):
    """Whether the voxel nearer the head is drawn higher on the screen."""
    direction = np.asarray(layer.metadata["direction"])
    vertical = viewer.dims.order[-2]
    towards_head = np.sign(direction[vertical, 0])       # + when the index runs superior
    grows_down = viewer.camera.orientation2d[0] == "down"
    return (towards_head > 0) != grows_down


def _left_is_right(viewer, layer):
    direction = np.asarray(layer.metadata["direction"])
    horizontal = viewer.dims.order[-1]
    towards_left = np.sign(direction[horizontal, 2])
    grows_right = viewer.camera.orientation2d[1] == "right"
    return (towards_left > 0) == grows_right


def test_dicom_series_planes_are_radiological(make_napari_viewer, qtbot):
    import pydicom

    viewer = make_napari_viewer()
    for data, kwargs, kind in ct_phantom_sample()[:1]:
        getattr(viewer, f"add_{kind}")(data, **kwargs)
    image = viewer.layers[0]
    # the series' own geometry: the slices go up the body (z of ImagePositionPatient)
    files = image.metadata["files"]
    first, last = (pydicom.dcmread(files[i], stop_before_pixels=True) for i in (0, -1))
    assert float(last.ImagePositionPatient[2]) > float(first.ImagePositionPatient[2])
    views = OrthogonalViews(viewer)
    qtbot.addWidget(views)
    views.buttons["Coronal"].click()
    assert tuple(viewer.dims.order) == (1, 0, 2)
    assert tuple(viewer.camera.orientation2d) == ("up", "right")
    assert _superior_is_up(viewer, image) and _left_is_right(viewer, image)
    assert views.buttons["Coronal"].isChecked()
    views.buttons["Sagittal"].click()
    assert tuple(viewer.dims.order) == (2, 0, 1) and _superior_is_up(viewer, image)
    views.buttons["Axial"].click()
    assert tuple(viewer.camera.orientation2d) == ("down", "right")  # anterior up
    assert _left_is_right(viewer, image)
    np.testing.assert_array_equal(image.data, ct_phantom_sample()[0][0])  # data untouched
    views.buttons["Coronal"].click()
    viewer.layers.clear()                                   # a 2D image next: no flip left
    viewer.add_image(np.zeros((8, 8)))
    assert tuple(viewer.camera.orientation2d) == ("down", "right")


@pytest.mark.parametrize("kind", ["ras", "sagittal"])
def test_nifti_with_a_known_patient_direction(make_napari_viewer, qtbot, tmp_path, kind):
    nib = pytest.importorskip("nibabel")
    shape = (20, 24, 16)                                  # file order i, j, k
    data = np.random.default_rng(1).normal(100, 20, shape).astype(np.float32)
    if kind == "ras":   # i right, j anterior, k superior (the NIfTI default)
        affine = np.diag([0.8, 0.8, 3.0, 1.0])
    else:               # sagittal slices: i posterior, j inferior, k left
        affine = np.array([[0, 0, -2.0, 0], [-0.9, 0, 0, 0], [0, -0.9, 0, 0], [0, 0, 0, 1]])
    path = tmp_path / f"{kind}.nii.gz"
    nib.save(nib.Nifti1Image(data, affine), path)
    viewer = make_napari_viewer()
    for array, kwargs, layer_kind in read_layers(path):
        getattr(viewer, f"add_{layer_kind}")(array, **kwargs)
    image = viewer.layers[0]
    assert image.metadata["direction"] is not None
    views = OrthogonalViews(viewer)
    qtbot.addWidget(views)
    for plane in ("Axial", "Coronal", "Sagittal"):
        views.buttons[plane].click()
        assert views.buttons[plane].isChecked()
        direction = np.asarray(image.metadata["direction"])
        sliced = viewer.dims.order[0]
        patient_axis = {"Axial": 0, "Coronal": 1, "Sagittal": 2}[plane]
        assert np.argmax(np.abs(direction[sliced])) == patient_axis   # the right plane
        assert _left_is_right(viewer, image) or plane == "Sagittal"
        if plane != "Axial":
            assert _superior_is_up(viewer, image), (kind, plane)
    if kind == "ras":
        views.buttons["Coronal"].click()
        assert tuple(viewer.camera.orientation2d) == ("up", "left")


def test_window_of_an_mr_with_a_ct_window_and_the_presets(make_napari_viewer, qtbot):
    rng = np.random.default_rng(0)
    mr = np.zeros((6, 64, 64), np.int16)
    mr[:, 8:56, 8:56] = rng.normal(700, 80, (6, 48, 48)).astype(np.int16)
    metadata = {"window": [40.0, 400.0], "dicom": {"Modality": "MR"}}
    assert not usable_window(mr, (-160, 240))              # all black
    low, high = display_window(mr, metadata)
    assert low == pytest.approx(np.percentile(mr[mr > 0], 0.5), abs=2)
    assert high == pytest.approx(np.percentile(mr[mr > 0], 99.5), abs=2)
    ct = np.full((4, 32, 32), -1000, np.int16)
    ct[:, 4:28, 4:28] = 40
    assert display_window(ct, {"window": [40.0, 400.0]}) == (-160.0, 240.0)  # CT: the file's

    viewer = make_napari_viewer()
    layer = viewer.add_image(mr, metadata=metadata)
    views = OrthogonalViews(viewer)
    qtbot.addWidget(views)
    for name, (level, width) in CT_PRESETS.items():
        views.window.activated.emit(views.window.findText(name))
        assert tuple(layer.contrast_limits) == pytest.approx((level - width / 2,
                                                              level + width / 2))
    views.window.activated.emit(views.window.findText("Auto (robust)"))
    assert tuple(layer.contrast_limits) == pytest.approx(robust_window(mr))
    assert views.window.currentIndex() == 0                # a menu of actions


def test_the_reader_shows_the_ct_series_in_its_own_window():
    data, kwargs, _ = read_layers(series_folder())[0]
    low, high = kwargs["contrast_limits"]
    assert usable_window(data, (low, high))
