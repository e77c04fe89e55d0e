"""NIfTI, NRRD, TIFF, NPY and DICOM SEG: our writers' files read back identical; RLE."""

import numpy as np
import pytest

from napari_seglab._ct_sample import CT_ORIGIN, CT_SPACING, REPO_FOLDER, ct_phantom
from napari_seglab.io import read_image, rle_decode, rle_encode, write_dicom_seg, write_labels

SUFFIXES = [".nii", ".nii.gz", ".nrrd", ".tif", ".npy"]


@pytest.fixture(scope="module")
def truth():
    return ct_phantom()[1]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_label_round_trip_keeps_data_spacing_origin(tmp_path, truth, suffix):
    path = tmp_path / f"labels{suffix}"
    write_labels(path, truth, spacing=CT_SPACING, origin=CT_ORIGIN)
    volume = read_image(path)
    np.testing.assert_array_equal(volume.data, truth)
    assert volume.spacing == CT_SPACING
    assert volume.origin == CT_ORIGIN
    assert volume.is_labels
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary file left behind


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd"])
def test_rotated_geometry_round_trips(tmp_path, suffix):
    labels = np.zeros((3, 4, 5), np.uint8)
    labels[1, 2, 3] = 7
    direction = [[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    write_labels(tmp_path / f"r{suffix}", labels, spacing=(2.0, 0.5, 0.25),
                 origin=(5.0, -3.0, 1.5), direction=direction)
    volume = read_image(tmp_path / f"r{suffix}")
    np.testing.assert_array_equal(volume.data, labels)
    assert volume.spacing == (2.0, 0.5, 0.25) and volume.origin == (5.0, -3.0, 1.5)
    assert volume.metadata["direction"] == direction


def test_nifti_affine_is_ras_for_other_tools(tmp_path):
    import nibabel as nib

    labels = np.zeros((2, 3, 4), np.uint8)
    write_labels(tmp_path / "a.nii", labels, spacing=(2.5, 0.7, 0.7), origin=(10, 20, 30))
    image = nib.load(tmp_path / "a.nii")
    assert image.shape == (4, 3, 2)  # x, y, z in the file
    # LPS (30, 20, 10) is RAS (-30, -20, 10)
    np.testing.assert_allclose(image.affine[:3, 3], [-30, -20, 10])
    np.testing.assert_allclose(np.diag(image.affine)[:3], [-0.7, -0.7, 2.5], rtol=1e-6)


def test_metadata_is_json(tmp_path, truth):
    import json

    from pydicom.data import get_testdata_file

    write_labels(tmp_path / "a.nrrd", truth, spacing=CT_SPACING)
    for path in (REPO_FOLDER / "dicom", get_testdata_file("eCT_Supplemental.dcm"),
                 tmp_path / "a.nrrd"):
        json.dumps(read_image(path).metadata)


def test_dicom_seg_round_trip(tmp_path):
    from test_io_dicom import write_series

    write_series(tmp_path / "series", n=5, shape=(8, 10), pixel_spacing=(0.5, 0.8))
    source = read_image(tmp_path / "series")
    labels = np.random.default_rng(0).integers(0, 3, source.data.shape).astype(np.uint8)
    labels[labels == 2] = 7  # label values need not be consecutive
    path = tmp_path / "seg.dcm"
    write_dicom_seg(path, labels, source, names={1: "liver", 7: "lesion"})
    volume = read_image(path)
    assert volume.kind == "dicom-seg"
    np.testing.assert_array_equal(volume.data, labels)
    assert volume.spacing == source.spacing and volume.origin == source.origin
    assert volume.metadata["segment_names"]["7"] == "lesion [7]"
    assert (volume.metadata["dicom"]["FrameOfReferenceUID"]
            == source.metadata["dicom"].get("FrameOfReferenceUID", ""))


def test_dicom_seg_refuses_what_it_cannot_place(tmp_path, truth):
    source = read_image(REPO_FOLDER / "dicom")
    with pytest.raises(ValueError, match="needs the source DICOM series"):
        write_dicom_seg(tmp_path / "x.dcm", truth, {})
    with pytest.raises(ValueError, match="labels have 31 slices but the source series has 32"):
        write_dicom_seg(tmp_path / "x.dcm", truth[1:], source)
    with pytest.raises(ValueError, match="empty"):
        write_dicom_seg(tmp_path / "x.dcm", np.zeros_like(truth), source)


def test_bad_requests_are_explained(tmp_path):
    with pytest.raises(ValueError, match="choose one of"):
        write_labels(tmp_path / "a.png", np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match="spacing and origin need 3 values"):
        write_labels(tmp_path / "a.nrrd", np.zeros((2, 2, 2), np.uint8), spacing=(1, 1))
    with pytest.raises(TypeError, match="integers"):
        write_labels(tmp_path / "a.nrrd", np.zeros((2, 2, 2), np.float32))
    (tmp_path / "bad.nii").write_bytes(b"garbage" * 10)
    with pytest.raises(ValueError, match="bad.nii could not be read as NIfTI"):
        read_image(tmp_path / "bad.nii")
    with pytest.raises(ValueError, match="does not exist"):
        read_image(tmp_path / "missing.nrrd")


def test_mr_tumour_nrrd_in_true_units(shared_data):
    import nrrd

    folder = shared_data / "mr_tumour"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    image = read_image(folder / "brain2_image.nrrd")
    label = read_image(folder / "brain2_label.nrrd")
    assert image.data.shape == (23, 256, 256) and image.data.dtype == np.int16
    assert image.spacing == (6.5, 0.78125, 0.78125)
    assert not image.is_labels and label.is_labels
    assert int(label.data.sum()) == 453
    # y runs anterior in this file: kept as stored, said by the direction
    assert image.metadata["direction"][1] == [0.0, -1.0, 0.0]
    raw, header = nrrd.read(str(folder / "brain2_image.nrrd"), index_order="C")
    np.testing.assert_array_equal(image.data, raw)
    origin = header["space origin"]
    assert image.origin == pytest.approx((origin[2], -origin[1], origin[0]))
    assert label.spacing == image.spacing and label.origin == image.origin


def test_rle_known_strings_and_round_trip():
    mask = np.array([[0, 1, 1], [0, 1, 0], [1, 0, 0]])
    # column-major, 1-based: column 0 has pixel 3, column 1 pixels 4-5, column 2 pixel 7
    assert rle_encode(mask) == "3 3 7 1"
    assert rle_encode(np.zeros((3, 3))) == ""
    assert rle_encode(np.ones((2, 2))) == "1 4"
    np.testing.assert_array_equal(rle_decode("3 3 7 1", (3, 3)), mask.astype(bool))
    assert not rle_decode("", (3, 3)).any()
    rng = np.random.default_rng(0)
    for shape in [(1, 1), (5, 7), (64, 33)]:
        random_mask = rng.random(shape) > 0.6
        assert np.array_equal(rle_decode(rle_encode(random_mask), shape), random_mask)


def test_rle_rejects_the_joined_and_the_impossible():
    with pytest.raises(ValueError, match="pairs"):
        rle_decode("337", (3, 3))  # the article's mask2rle output, joined
    with pytest.raises(ValueError, match="past the end"):
        rle_decode("8 5", (3, 3))
    with pytest.raises(ValueError, match="1-based"):
        rle_decode("0 2", (3, 3))
    with pytest.raises(ValueError, match="increasing order"):
        rle_decode("4 3 5 1", (3, 3))
