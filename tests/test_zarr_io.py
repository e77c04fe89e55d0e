"""Zarr / OME-Zarr: lazy reading (every scale, voxel size), label groups written chunk by chunk."""

import numpy as np
import pytest

zarr = pytest.importorskip("zarr")
da = pytest.importorskip("dask.array")

from napari_seglab._reader import napari_get_reader  # noqa: E402
from napari_seglab.io.zarr_store import (  # noqa: E402
    create_labels_array,
    create_plain_array,
    is_zarr,
    open_zarr,
    read_zarr,
)


def write_ome(path, levels, axes, scale):
    """An OME-Zarr 0.5 image written by hand (what ome-zarr-py writes, in a few lines)."""
    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    datasets = []
    for i, level in enumerate(levels):
        a = root.create_array(str(i), shape=level.shape, chunks=(4,) + level.shape[1:],
                              dtype=level.dtype)
        a[...] = level
        factor = [1.0] * (len(axes) - 2) + [2.0**i, 2.0**i]
        datasets.append({"path": str(i), "coordinateTransformations": [
            {"type": "scale", "scale": [s * f for s, f in zip(scale, factor, strict=False)]}]})
    root.attrs["ome"] = {"version": "0.5", "multiscales": [{
        "axes": [{"name": a, "type": "channel" if a == "c" else "space"} for a in axes],
        "datasets": datasets}]}


@pytest.fixture
def ome_image(tmp_path):
    data = np.arange(8 * 32 * 32, dtype=np.uint16).reshape(8, 32, 32)
    path = tmp_path / "vol.ome.zarr"
    write_ome(path, [data], "zyx", [2.0, 0.5, 0.5])
    return path, data


def test_plain_array_opens_lazily(tmp_path):
    a = create_plain_array(tmp_path / "a.zarr", (10, 12), (5, 6), np.float32)
    a[...] = 3.0
    assert is_zarr(tmp_path / "a.zarr") and not is_zarr(tmp_path)
    image = open_zarr(tmp_path / "a.zarr")
    assert image.spacing is None and image.channel_axis is None
    assert isinstance(image.array, zarr.Array) and image.array.chunks == (5, 6)
    assert float(image.array[2, 3]) == 3.0


def test_ome_zarr_scale_and_labels_round_trip(ome_image):
    path, data = ome_image
    image = open_zarr(path)
    assert image.ome_version == "0.5" and image.axes == ("z", "y", "x")
    assert image.spacing == (2.0, 0.5, 0.5)
    np.testing.assert_array_equal(image.array[2:4, :5, :5], data[2:4, :5, :5])
    labels = create_labels_array(path / "labels", data.shape, (4, 16, 16), np.uint8, like=image)
    labels[...] = (data % 3).astype(np.uint8)
    again = open_zarr(path)
    assert list(again.labels) == ["seglab"]
    lab = again.labels["seglab"]
    assert lab.is_label and lab.spacing == (2.0, 0.5, 0.5)
    np.testing.assert_array_equal(lab.array[...], data % 3)


def test_ome_zarr_04_labels_stay_in_zarr_v2(tmp_path):
    root = zarr.open_group(str(tmp_path / "old.zarr"), mode="w", zarr_format=2)
    root.create_array("0", shape=(16, 16), chunks=(8, 8), dtype=np.uint8)
    root.attrs["multiscales"] = [{"version": "0.4", "axes": [
        {"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [0.3, 0.3]}]}]}]
    image = open_zarr(tmp_path / "old.zarr")
    assert image.ome_version == "0.4" and image.spacing == (0.3, 0.3)
    out = create_labels_array(tmp_path / "old.zarr" / "labels", (16, 16), (8, 8), np.uint8,
                              like=image)
    assert out.metadata.zarr_format == 2
    assert open_zarr(tmp_path / "old.zarr").labels["seglab"].spacing == (0.3, 0.3)


def test_napari_reader_gives_lazy_multiscale_layers(tmp_path):
    path = tmp_path / "pyramid.ome.zarr"
    full = np.ones((2, 64, 64), np.float32)
    write_ome(path, [full, full[:, ::2, ::2]], "cyx", [1.0, 0.3, 0.3])
    assert napari_get_reader(str(tmp_path)) is None
    assert napari_get_reader(str(tmp_path / "missing.zarr")) is None
    reader = napari_get_reader(str(path))
    (data, kwargs, kind), = reader(str(path))
    assert kind == "image" and kwargs["multiscale"] and kwargs["channel_axis"] == 0
    assert all(isinstance(level, da.Array) for level in data)
    assert data[0].shape == (2, 64, 64) and data[1].shape[1] < 64
    assert kwargs["scale"] == (0.3, 0.3)
    layers = read_zarr([str(path)])
    assert layers[0][2] == "image"


def test_group_without_metadata_names_the_fix(tmp_path):
    root = zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    root.create_array("a", shape=(2, 2), dtype=np.uint8)
    root.create_array("b", shape=(2, 2), dtype=np.uint8)
    with pytest.raises(ValueError, match="point at the array folder"):
        open_zarr(tmp_path / "g.zarr")
    with pytest.raises(ValueError, match="not a zarr folder"):
        open_zarr(tmp_path)


# -- the "Segment whole volume to zarr…" section --------------------------------


@pytest.fixture
def trained(tmp_path):
    from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom
    from napari_seglab.core.pipeline import SeededModel

    image, truth = tissue_phantom((12, 40, 40), random_state=0)
    model = SeededModel("nearest_mean", features="minimal").fit(image, scribble_seeds(truth))
    return image.astype(np.float32), model


def test_widget_writes_the_whole_volume_and_opens_it_lazily(make_napari_viewer, qtbot,
                                                           trained, tmp_path):
    from napari_seglab._widgets.blockwise import BlockwiseWidget

    image, model = trained
    viewer = make_napari_viewer()
    viewer.add_image(image, name="vol", scale=(2.0, 1.0, 1.0))
    seeds = viewer.add_labels(np.zeros(image.shape, np.uint8), name="seeds")
    widget = BlockwiseWidget(viewer)
    qtbot.addWidget(widget)
    assert widget.image_combo.currentText() == "vol"
    widget.set_model(model)
    out = tmp_path / "whole.zarr"
    worker = widget.run(str(out))
    with qtbot.waitSignal(worker.finished, timeout=60000):
        pass
    qtbot.waitUntil(lambda: "vol whole-volume labels" in viewer.layers, timeout=10000)
    layer = viewer.layers["vol whole-volume labels"]
    assert isinstance(layer.data, da.Array)  # lazy
    assert tuple(layer.scale) == (2.0, 1.0, 1.0)
    expected = model.predict(image, spacing=(2.0, 1.0, 1.0))
    np.testing.assert_array_equal(np.asarray(layer.data), expected)
    assert widget.status.text() == f"wrote {out}"
    assert widget.run_button.isEnabled() and not widget.cancel_button.isEnabled()
    assert viewer.layers.selection.active is seeds


def test_widget_cancel_leaves_no_output(make_napari_viewer, qtbot, trained, tmp_path):
    from napari_seglab._widgets.blockwise import BlockwiseWidget, iter_write_blockwise

    image, model = trained
    out = tmp_path / "cut.zarr"
    steps = iter_write_blockwise(model, image, out, chunks=4, batch=1)
    assert next(steps)[0] == 1
    steps.close()  # what Cancel does between blocks
    assert not out.exists() and not list(tmp_path.iterdir())
    viewer = make_napari_viewer()
    viewer.add_image(image, name="vol")
    widget = BlockwiseWidget(viewer)
    qtbot.addWidget(widget)
    widget.run(str(out))  # no model yet: refused with a notification, nothing runs
    assert not widget.job.running
    widget.set_model(model)
    worker = widget.run(str(out))
    with qtbot.waitSignal(worker.finished, timeout=60000):
        widget.cancel()
    qtbot.waitUntil(lambda: not any(p.name.startswith(".cut") for p in tmp_path.iterdir()),
                    timeout=10000)
    assert "vol whole-volume labels" not in viewer.layers
    assert widget.run_button.isEnabled()
