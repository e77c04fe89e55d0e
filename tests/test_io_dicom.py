"""DICOM reading: geometry from positions, true units, the recurring failure cases."""

import os
import random

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from napari_seglab._ct_sample import CT_ORIGIN, CT_SPACING, REPO_FOLDER, ct_phantom, write_ct_series
from napari_seglab.io import MissingDecoderError, read_dicom, read_image


def _slice_values(k, shape):
    """Stored values that say which slice they are (k * 100 + a gradient)."""
    return (k * 100 + np.arange(np.prod(shape)).reshape(shape) % 50).astype(np.uint16)


def write_series(folder, n=6, *, shape=(8, 10), pixel_spacing=(0.5, 0.8), step=2.5,
                 thickness=5.0, slope=1, intercept=-1024, skip=(), shuffle=True,
                 reverse_numbers=True, orientation=(1, 0, 0, 0, 1, 0), origin=(-10, -20, 30),
                 series_uid=None, description="test series", number=1):
    """A CT series written with pydicom; file names shuffled, InstanceNumber reversed."""
    os.makedirs(folder, exist_ok=True)
    series_uid = series_uid or generate_uid()
    row, col = np.asarray(orientation[:3], float), np.asarray(orientation[3:], float)
    normal = np.cross(row, col)
    names = [f"IM{i:03d}" for i in range(n)]
    if shuffle:
        random.Random(n).shuffle(names)
    for k in range(n):
        if k in skip:
            continue
        ds = pydicom.Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, ds.file_meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.SeriesInstanceUID, ds.StudyInstanceUID = "CT", series_uid, "1.2.3"
        ds.FrameOfReferenceUID = "1.2.3.4"
        ds.SeriesDescription, ds.SeriesNumber = description, number
        ds.InstanceNumber = n - k if reverse_numbers else k + 1
        ds.ImagePositionPatient = list(np.asarray(origin, float) + k * step * normal)
        ds.ImageOrientationPatient = list(orientation)
        ds.PixelSpacing = list(pixel_spacing)
        ds.SliceThickness = thickness
        ds.Rows, ds.Columns = shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
        ds.WindowCenter, ds.WindowWidth = 40, 400
        ds.PixelData = _slice_values(k, shape).tobytes()
        pydicom.dcmwrite(os.path.join(folder, names[k]), ds, enforce_file_format=True)
    return series_uid


def test_shuffled_files_reversed_numbers_thickness_and_pixel_spacing(tmp_path):
    write_series(tmp_path, n=6, pixel_spacing=(0.5, 0.8), step=2.5, thickness=5.0)
    volume = read_image(tmp_path)
    assert volume.kind == "dicom"
    assert volume.data.shape == (6, 8, 10)
    # ordered by position, not by InstanceNumber (reversed) or file name (shuffled)
    for k in range(6):
        np.testing.assert_array_equal(volume.data[k], _slice_values(k, (8, 10)).astype(int) - 1024)
    # z from the positions (not SliceThickness 5), y = row spacing, x = column spacing
    assert volume.spacing == (2.5, 0.5, 0.8)
    assert volume.origin == (30.0, -20.0, -10.0)
    assert volume.data.dtype == np.int16
    assert volume.metadata["window"] == [40.0, 400.0]
    assert volume.metadata["dicom"]["SliceThickness"] == 5.0
    assert len(volume.metadata["files"]) == 6


def test_slope_and_intercept(tmp_path):
    write_series(tmp_path / "int", n=2, slope=2, intercept=-1000)
    volume = read_image(tmp_path / "int")
    assert volume.data.dtype == np.int16
    np.testing.assert_array_equal(volume.data[1], _slice_values(1, (8, 10)).astype(int) * 2 - 1000)
    write_series(tmp_path / "float", n=2, slope=0.5, intercept=-10.25)
    volume = read_image(tmp_path / "float")
    assert volume.data.dtype == np.float32
    np.testing.assert_allclose(volume.data[1], _slice_values(1, (8, 10)) * 0.5 - 10.25)


def test_two_series_in_one_folder(tmp_path):
    write_series(tmp_path, n=3, description="axial A", number=2)
    write_series(tmp_path / "sub", n=4, description="axial B", number=5, shape=(6, 6))
    volumes = read_dicom(tmp_path)
    assert [v.name for v in volumes] == ["2 axial A", "5 axial B"]
    assert [v.data.shape for v in volumes] == [(3, 8, 10), (4, 6, 6)]
    with pytest.raises(ValueError, match=r"holds 2 series: \[0\] 2 axial A .*\[1\] 5 axial B"):
        read_image(tmp_path)
    assert read_image(tmp_path, series=1).data.shape == (4, 6, 6)
    assert read_image(tmp_path, series="2 axial A").data.shape == (3, 8, 10)


def test_a_file_reads_its_whole_series_only(tmp_path):
    write_series(tmp_path, n=4, description="wanted", shuffle=False)
    write_series(tmp_path, n=2, description="other", shape=(6, 6), number=9)
    one_file = sorted(tmp_path.iterdir())[0]
    (volume,) = read_dicom(one_file)
    assert volume.data.shape[0] in (2, 4)
    assert volume.name.endswith(pydicom.dcmread(one_file).SeriesDescription)


def test_missing_slice_is_reported_and_kept_as_a_gap(tmp_path):
    write_series(tmp_path, n=7, skip=(3,))
    with pytest.warns(UserWarning, match=r"1 missing slice.*between 35.0 and 40.0 mm"):
        volume = read_image(tmp_path)
    assert volume.data.shape == (7, 8, 10)
    assert volume.spacing[0] == 2.5
    assert volume.metadata["missing_slices"] == [3]
    assert volume.metadata["files"][3] is None
    np.testing.assert_array_equal(volume.data[4], _slice_values(4, (8, 10)).astype(int) - 1024)
    assert (volume.data[3] == volume.data.min()).all()


def test_uneven_spacing_warns(tmp_path):
    write_series(tmp_path, n=3, step=2.0)
    path = next(p for p in tmp_path.iterdir() if pydicom.dcmread(p).InstanceNumber == 1)
    ds = pydicom.dcmread(path)
    ds.ImagePositionPatient = [-10, -20, 30 + 2 * 2.0 + 0.7]
    ds.save_as(path)
    with pytest.warns(UserWarning, match="uneven slice spacing"):
        read_image(tmp_path)


def test_non_dicom_and_corrupt_files_are_skipped_with_a_note(tmp_path):
    write_series(tmp_path, n=4)
    (tmp_path / "notes.txt").write_text("not an image")
    good = sorted(tmp_path.glob("IM*"))[0]
    (tmp_path / "broken.dcm").write_bytes(good.read_bytes()[:400])  # in the header
    (tmp_path / "short.dcm").write_bytes(good.read_bytes()[:900])  # in the pixels
    with pytest.warns(UserWarning) as record:
        volume = read_image(tmp_path)
    messages = " | ".join(str(w.message) for w in record)
    assert "skipped 1 non-DICOM file(s)" in messages and "notes.txt" in messages
    assert "broken.dcm" in messages and "short.dcm" in messages
    assert volume.data.shape == (4, 8, 10)


def test_oblique_series_is_said(tmp_path):
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    write_series(tmp_path, n=3, orientation=(1, 0, 0, 0, c, s))
    with pytest.warns(UserWarning, match="oblique series"):
        volume = read_image(tmp_path)
    assert volume.metadata["oblique"] is True
    assert volume.spacing[0] == pytest.approx(2.5)


def test_jpeg2000_with_decoder_matches_uncompressed():
    # these enhanced MR files lack their functional groups: said, not fatal
    with pytest.warns(UserWarning, match="frames carry no positions"):
        compressed = read_image(get_testdata_file("emri_small_jpeg_2k_lossless.dcm"))
    with pytest.warns(UserWarning, match="no PixelSpacing"):
        plain = read_image(get_testdata_file("emri_small.dcm"))
    assert compressed.data.shape == (10, 64, 64)
    np.testing.assert_array_equal(compressed.data, plain.data)


def test_jpeg2000_without_decoder_names_file_syntax_and_package(monkeypatch):
    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEG2000Lossless

    monkeypatch.setattr(get_decoder(JPEG2000Lossless), "_available", {})
    path = get_testdata_file("emri_small_jpeg_2k_lossless.dcm")
    with pytest.raises(MissingDecoderError) as info:
        read_image(path)
    message = str(info.value)
    assert "emri_small_jpeg_2k_lossless.dcm" in message
    assert "JPEG 2000" in message
    assert 'pip install "napari-seglab[dicom]"' in message


def test_enhanced_multiframe_ct():
    volume = read_image(get_testdata_file("eCT_Supplemental.dcm"))
    ds = pydicom.dcmread(get_testdata_file("eCT_Supplemental.dcm"))
    raw = ds.pixel_array.astype(int)
    assert volume.data.shape == (2, 512, 512)
    assert volume.spacing == (10.0, 0.388672, 0.388672)
    # frames sorted along the normal (the file stores them the other way)
    assert volume.metadata["frame_order"] == [1, 0]
    np.testing.assert_array_equal(volume.data[0], raw[1] - 1024)
    assert volume.metadata["window"] == [49.0, 102.0]


def test_ct_sample_round_trip_is_exact(tmp_path):
    hu, truth = ct_phantom()
    volume = read_image(REPO_FOLDER / "dicom")
    np.testing.assert_array_equal(volume.data, hu)
    assert volume.spacing == CT_SPACING and volume.origin == CT_ORIGIN
    assert read_image(REPO_FOLDER / "truth.nii.gz").data.tolist() == truth.tolist()
    # the package regenerates the committed files bit for bit (installed wheels)
    written = write_ct_series(tmp_path)
    for path in written:
        assert path.read_bytes() == (REPO_FOLDER / "dicom" / path.name).read_bytes()
    assert sum(p.stat().st_size for p in written) < 2_000_000


def test_sample_without_the_repository_writes_a_cache_and_reads_it(tmp_path, monkeypatch):
    import napari_seglab._ct_sample as ct_sample

    monkeypatch.setattr(ct_sample, "REPO_FOLDER", tmp_path / "no-repo")  # an installed wheel
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    layers = ct_sample.ct_phantom_sample()
    assert len(list((tmp_path / "cache").rglob("CT*.dcm"))) == 32
    (image, image_kwargs, kind), (truth, truth_kwargs, _), (seeds, seeds_kwargs, _) = layers
    assert kind == "image" and image_kwargs["metadata"]["files"][0].startswith(str(tmp_path))
    hu, expected_truth = ct_phantom()
    np.testing.assert_array_equal(image, hu)
    np.testing.assert_array_equal(truth, expected_truth)
    assert image_kwargs["scale"] == truth_kwargs["scale"] == seeds_kwargs["scale"] == CT_SPACING
    assert list(seeds_kwargs["features"]["name"]) == ["air", "fat", "soft tissue", "bone"]
