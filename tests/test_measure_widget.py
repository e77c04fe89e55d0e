"""The Measure widget on the DICOM CT sample: table values, edits, surface, exports."""

import numpy as np
import pytest

from napari_seglab._ct_sample import CT_ORIGIN, CT_SPACING, TISSUE_HU, ct_phantom_sample
from napari_seglab._widgets.measure import MeasureWidget
from napari_seglab.io import read_image

pytestmark = pytest.mark.gui


@pytest.fixture
def ct_viewer(make_napari_viewer):
    viewer = make_napari_viewer()
    for data, kwargs, kind in ct_phantom_sample():  # the series through the reader
        getattr(viewer, f"add_{kind}")(data, **kwargs)
    truth = viewer.layers["ground truth"]
    viewer.add_labels(truth.data.copy(), name="segmentation", scale=truth.scale,
                      translate=truth.translate, features=truth.features)
    return viewer


def _row(widget, label):
    return widget.table_data.row(label)


def test_table_follows_the_segmentation(ct_viewer, qtbot):
    widget = MeasureWidget(ct_viewer)
    qtbot.addWidget(widget)
    assert widget.labels_combo.currentText() == "segmentation"
    assert widget.image_combo.currentText() == "1 CT phantom"
    qtbot.waitUntil(lambda: widget.table.rowCount() == 3, timeout=10_000)
    seg = ct_viewer.layers["segmentation"].data
    voxel = float(np.prod(CT_SPACING))
    for label in (1, 2, 3):
        row = _row(widget, label)
        assert row["volume_mm3"] == pytest.approx((seg == label).sum() * voxel)
        assert row["mean"] == pytest.approx(TISSUE_HU[label], abs=1.0)
    assert widget.table.item(2, 1).text() == "bone"
    assert widget.table.item(2, 4).text() == f"{_row(widget, 3)['mean']:.1f}"

    # a paint stroke (through napari's paint path) updates the table
    layer = ct_viewer.layers["segmentation"]
    before = _row(widget, 3)["voxels"]
    layer.brush_size = 5
    layer.paint((16, 10, 10), 3)
    qtbot.waitUntil(lambda: _row(widget, 3)["voxels"] > before, timeout=10_000)
    # and so does undo
    layer.undo()
    qtbot.waitUntil(lambda: _row(widget, 3)["voxels"] == before, timeout=10_000)



def test_csv_surface_export_and_resample(ct_viewer, qtbot, tmp_path):
    widget = MeasureWidget(ct_viewer)
    qtbot.addWidget(widget)
    qtbot.waitUntil(lambda: widget.table.rowCount() == 3, timeout=10_000)

    path = widget.export_csv(tmp_path / "stats.csv")
    lines = path.read_text().splitlines()
    assert lines[0].startswith("label,name,voxels,volume_mm3,mean")
    assert lines[3].startswith("3,bone,")

    ct_viewer.dims.ndisplay = 3
    widget.show_surface(3)
    name = "segmentation surface 3"
    qtbot.waitUntil(lambda: name in ct_viewer.layers, timeout=20_000)
    mesh = ct_viewer.layers[name]
    assert tuple(mesh.translate) == CT_ORIGIN
    vertices = mesh.data[0]
    # in mm from voxel 0, inside the volume's extent (closed half a voxel out)
    low, high = vertices.min(axis=0), vertices.max(axis=0)
    assert np.all(low >= -np.asarray(CT_SPACING) / 2 - 1e-3)
    assert np.all(high <= (np.array([32, 128, 128]) - 0.5) * CT_SPACING + 1e-3)
    seg_layer = ct_viewer.layers["segmentation"]
    np.testing.assert_allclose(mesh.vertex_colors[0], seg_layer.get_color(3), atol=1e-6)

    nifti = widget.export_labels(tmp_path / "seg.nii.gz")
    back = read_image(nifti)
    np.testing.assert_array_equal(back.data, seg_layer.data)
    assert back.spacing == CT_SPACING and back.origin == CT_ORIGIN
    seg = widget.export_labels(tmp_path / "seg.dcm")
    np.testing.assert_array_equal(read_image(seg).data, seg_layer.data)

    widget.spacing_edit.setText("")  # isotropic at the finest spacing
    widget.resample_image()
    qtbot.waitUntil(lambda: any(layer.name.startswith("1 CT phantom (0.7")
                                for layer in ct_viewer.layers), timeout=20_000)
    fine = next(layer for layer in ct_viewer.layers if layer.name.startswith("1 CT phantom (0.7"))
    assert tuple(fine.scale) == (0.7, 0.7, 0.7) and tuple(fine.translate) == CT_ORIGIN
    assert fine.data.shape == (111, 128, 128)


def test_oblique_series_resamples_onto_the_patient_axes(make_napari_viewer, qtbot, tmp_path):
    from test_io_dicom import write_series

    from napari_seglab._reader import read_layers

    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    write_series(tmp_path, n=4, orientation=(1, 0, 0, 0, c, s))
    viewer = make_napari_viewer()
    with pytest.warns(UserWarning, match="oblique"):
        ((data, kwargs, kind),) = read_layers(tmp_path)
    viewer.add_image(data, **kwargs)
    widget = MeasureWidget(viewer)
    qtbot.addWidget(widget)
    widget.resample_image()
    qtbot.waitUntil(lambda: len(viewer.layers) == 2, timeout=20_000)
    aligned = viewer.layers[-1]
    assert "axis-aligned" in aligned.name
    assert aligned.metadata["direction"] == np.eye(3).tolist()
    assert tuple(aligned.scale) == (0.5, 0.5, 0.5)  # the finest spacing of the series


def test_a_deleted_dock_lets_go_of_the_viewer(ct_viewer, qtbot):
    widget = MeasureWidget(ct_viewer)
    qtbot.waitUntil(lambda: widget.table.rowCount() == 3, timeout=10_000)
    layer = ct_viewer.layers["segmentation"]
    widget.close()
    assert not widget._timer.isActive() and widget._watched is None
    with qtbot.waitSignal(widget.destroyed, timeout=5_000):  # napari deletes a closed dock
        widget.deleteLater()
    assert widget._watched is None
    layer.paint((16, 10, 10), 3)  # no call into the deleted widget
    ct_viewer.add_labels(np.zeros((2, 2), np.uint8), name="other")


def test_new_columns_volume_range_from_a_segment_run(make_napari_viewer, qtbot):
    from napari_seglab.core.phantoms import scribble_seeds
    from napari_seglab.measure import volume_range

    viewer = make_napari_viewer()
    viewer.open_sample("napari-seglab", "phantom_2d")
    seg = viewer.window.add_plugin_dock_widget("napari-seglab", "Seeded segmentation")[1].section
    widget = MeasureWidget(viewer)
    qtbot.addWidget(widget)
    widget.follow_runs(seg)
    truth = viewer.layers["ground truth"].data
    seeds = viewer.layers["seeds"]
    painted = scribble_seeds(truth, strokes_per_class=1)
    seeds.data_setitem(np.nonzero(painted), painted[np.nonzero(painted)])
    seg.method.value = "Nearest mean"
    with qtbot.waitSignal(seg.finished_run, timeout=60_000) as blocker:
        seg.run.native.click()
    layer = blocker.args[0]
    widget.labels_combo.setCurrentText(layer.name)
    qtbot.waitUntil(lambda: widget.table_data is not None and all(
        "volume_low_mm3" in row for row in widget.table_data.rows), timeout=20_000)
    headers = [widget.table.horizontalHeaderItem(c).text()
               for c in range(widget.table.columnCount())]
    assert headers[-4:] == ["surface mm²", "sphericity", "Feret mm", "centroid mm"]
    spacing = tuple(float(v) for v in layer.scale)
    for r, row in enumerate(widget.table_data.rows):
        low, mid, high = volume_range(seg.last_proba, label=row["label"], labels=layer.data,
                                      spacing=spacing, classes=list(seg.model.classes_))
        assert low <= mid <= high and mid == pytest.approx(row["volume_mm3"])
        text = widget.table.item(r, headers.index("volume mm³")).text()
        assert text == f"{mid:.1f} ± {(high - low) / 2:.1f}"
        assert row["feret_mm"] > 0 and row["surface_mm2"] is None   # 2D: a contour
        assert widget.table.item(r, headers.index("centroid mm")).text()
    assert "volume ± half the range" in widget.status.text()
    csv = widget.table_text().splitlines()[0]
    assert csv.endswith("centroid_mm,volume_low_mm3,volume_high_mm3")


def test_show_3d_surface_picks_a_structure_switches_to_3d_and_follows_edits(ct_viewer, qtbot):
    widget = MeasureWidget(ct_viewer)
    qtbot.addWidget(widget)
    qtbot.waitUntil(lambda: widget.table.rowCount() == 3, timeout=20_000)
    layer = ct_viewer.layers["segmentation"]
    layer.features = {"index": [0, 1, 2, 3], "name": ["background", "fat", "soft tissue",
                                                      "bone"]}
    rows = widget.table_data.rows
    names = {1: "Background", 2: "soft tissue", 3: "bone"}
    assert MeasureWidget.default_surface_label(rows, names) == 2
    assert widget.surface_label.currentText() == "1"      # 'fat' is a structure
    assert ct_viewer.dims.ndisplay == 2
    widget.surface_label.setCurrentText("3")
    widget.surface_button.click()
    assert ct_viewer.dims.ndisplay == 3
    name = "segmentation surface 3"
    qtbot.waitUntil(lambda: name in ct_viewer.layers, timeout=20_000)
    before = len(ct_viewer.layers[name].data[0])
    layer.data_setitem(np.nonzero(layer.data == 3), 0)     # the bone erased ...
    layer.data_setitem((np.array([16]), np.array([60]), np.array([60])), 3)   # ... but one voxel
    qtbot.waitUntil(lambda: name in ct_viewer.layers
                    and len(ct_viewer.layers[name].data[0]) < before / 10, timeout=20_000)


def test_dicom_seg_without_frame_of_reference_offers_nifti(ct_viewer, qtbot, tmp_path,
                                                           monkeypatch):
    import pydicom

    from napari_seglab._widgets import measure as measure_module

    widget = MeasureWidget(ct_viewer)
    qtbot.addWidget(widget)
    real_dcmread = pydicom.dcmread

    def without_frame_of_reference(*args, **kwargs):
        ds = real_dcmread(*args, **kwargs)
        if "FrameOfReferenceUID" in ds:
            del ds.FrameOfReferenceUID
        return ds

    monkeypatch.setattr(pydicom, "dcmread", without_frame_of_reference)
    seen = []

    def answer(box):                                   # the user picks "Save as NIfTI"
        seen.append(box.text())
        next(b for b in box.buttons() if b.text() == "Save as NIfTI").click()

    monkeypatch.setattr(measure_module.QMessageBox, "exec", answer)
    written = widget.export_labels(tmp_path / "seg.dcm")
    assert "FrameOfReferenceUID" in seen[0]
    assert str(written).endswith("seg.nii.gz")
    back = read_image(written)
    np.testing.assert_array_equal(back.data, ct_viewer.layers["segmentation"].data)
    assert back.spacing == CT_SPACING
