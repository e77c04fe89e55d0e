"""The npe2 reader and writers: layers in true units, problems as notifications."""

import numpy as np
import pytest
from test_io_dicom import write_series

from napari_seglab import _reader, _writer
from napari_seglab._ct_sample import CT_ORIGIN, CT_SPACING, REPO_FOLDER, ct_phantom
from napari_seglab.io import read_image


@pytest.fixture
def notes(monkeypatch):
    """Notifications the reader and writers show, by kind."""
    import napari.utils.notifications as notifications

    shown = {"warning": [], "error": []}
    monkeypatch.setattr(notifications, "show_warning", shown["warning"].append)
    monkeypatch.setattr(notifications, "show_error", shown["error"].append)
    return shown


def test_reader_declines_what_it_cannot_read(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "empty").mkdir()
    assert _reader.napari_get_reader(str(tmp_path / "notes.txt")) is None
    assert _reader.napari_get_reader(str(tmp_path / "missing.nii")) is None
    assert _reader.napari_get_reader(str(tmp_path / "empty")) is None
    assert _reader.napari_get_reader(12345) is None  # never raises


def test_dicom_folder_becomes_an_image_layer_in_mm():
    folder = str(REPO_FOLDER / "dicom")
    reader = _reader.napari_get_reader(folder)
    assert reader is not None
    ((data, kwargs, kind),) = reader(folder)
    assert kind == "image"
    np.testing.assert_array_equal(data, ct_phantom()[0])
    assert kwargs["scale"] == CT_SPACING and kwargs["translate"] == CT_ORIGIN
    assert kwargs["contrast_limits"] == (-160.0, 240.0)  # window 40 / 400
    assert kwargs["metadata"]["dicom"]["Modality"] == "CT"
    assert len(kwargs["metadata"]["files"]) == 32
    # one file of the series opens the whole series
    ((data_from_file, _, _),) = _reader.napari_get_reader(
        str(REPO_FOLDER / "dicom" / "CT0010.dcm"))(str(REPO_FOLDER / "dicom" / "CT0010.dcm"))
    assert data_from_file.shape == data.shape


def test_label_files_come_as_labels_layers():
    path = str(REPO_FOLDER / "truth.nii.gz")
    ((data, kwargs, kind),) = _reader.napari_get_reader(path)(path)
    assert kind == "labels"
    assert kwargs["scale"] == CT_SPACING and kwargs["translate"] == CT_ORIGIN


def test_reader_turns_warnings_and_errors_into_notifications(tmp_path, notes, monkeypatch):
    write_series(tmp_path / "gap", n=5, skip=(2,))
    layers = _reader.read_files(str(tmp_path / "gap"))
    assert layers[0][0].shape[0] == 5
    assert any("missing slice" in n for n in notes["warning"])

    from pydicom.data import get_testdata_file
    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEG2000Lossless

    monkeypatch.setattr(get_decoder(JPEG2000Lossless), "_available", {})
    path = get_testdata_file("emri_small_jpeg_2k_lossless.dcm")
    assert _reader.read_files(path) == []
    (error,) = notes["error"]
    assert "emri_small_jpeg_2k_lossless.dcm" in error and "napari-seglab[dicom]" in error


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".tif", ".npy"])
def test_writer_and_reader_round_trip_a_labels_layer(tmp_path, suffix):
    truth = ct_phantom()[1]
    attributes = {"scale": CT_SPACING, "translate": CT_ORIGIN, "metadata": {}}
    (written,) = _writer.write_labels_layer(str(tmp_path / f"seg{suffix}"), truth, attributes)
    ((data, kwargs, kind),) = _reader.napari_get_reader(written)(written)
    assert kind == "labels"
    np.testing.assert_array_equal(data, truth)
    assert kwargs["scale"] == CT_SPACING and kwargs["translate"] == CT_ORIGIN


def test_dicom_seg_writer_needs_and_finds_the_source(tmp_path, notes):
    write_series(tmp_path / "series", n=4)
    image = read_image(tmp_path / "series")
    labels = (image.data > image.data.mean()).astype(np.uint8)
    plain = {"scale": image.spacing, "translate": image.origin, "metadata": {}}
    assert _writer.write_dicom_seg_layer(str(tmp_path / "a.dcm"), labels, plain) == []
    assert "needs the DICOM series" in notes["error"][0]
    drawn_on = dict(plain, metadata=image.metadata)
    (written,) = _writer.write_dicom_seg_layer(str(tmp_path / "b.dcm"), labels, drawn_on)
    np.testing.assert_array_equal(read_image(written).data, labels)
