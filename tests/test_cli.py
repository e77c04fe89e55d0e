"""``seglab`` train / apply / evaluate: files in, files out, exit codes, Ctrl-C, a cluster."""

import json

import numpy as np
import pytest

pytest.importorskip("dask")
zarr = pytest.importorskip("zarr")

from napari_seglab import cli  # noqa: E402
from napari_seglab.io.zarr_store import open_zarr  # noqa: E402
from napari_seglab.core.model_io import load_model  # noqa: E402
from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom  # noqa: E402
from napari_seglab.metrics import summary  # noqa: E402

# Derivatives at two scales (a halo of several voxels) and no eigenvalues.
SPEC = json.dumps({"filters": [["intensity", 0], ["gaussian", 1.0],
                               ["gradient_magnitude", 1.0], ["laplacian", 2.0]]})


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    image, truth = tissue_phantom((18, 40, 44), random_state=0)
    image = image.astype(np.float32)
    np.save(folder / "img.npy", image)
    np.save(folder / "seeds.npy", scribble_seeds(truth))
    np.save(folder / "truth.npy", (truth + 1).astype(np.uint8))  # seeds label classes 1..3
    model = folder / "model.npz"
    code = cli.main(["train", str(folder / "img.npy"), str(folder / "seeds.npy"), "-o",
                     str(model), "--method", "knn", "--features", SPEC])
    assert code == 0
    return folder, image, truth + 1, model


def test_train_apply_evaluate_round_trip(files, capsys):
    folder, image, truth, model = files
    expected = load_model(model).predict(image)
    out = folder / "labels.zarr"
    assert cli.main(["apply", str(model), str(folder / "img.npy"), "-o", str(out),
                     "--chunks", "5,16,16", "--overwrite"]) == 0
    stored = zarr.open_array(str(out), mode="r")
    assert stored.chunks == (5, 16, 16)
    np.testing.assert_array_equal(stored[...], expected)
    assert "[" in capsys.readouterr().err  # the progress bar
    for name in ("labels.npy", "labels.tif"):
        assert cli.main(["apply", str(model), str(folder / "img.npy"), "-o",
                         str(folder / name), "--chunks", "7", "--overwrite"]) == 0
    import tifffile

    np.testing.assert_array_equal(np.load(folder / "labels.npy"), expected)
    np.testing.assert_array_equal(tifffile.imread(folder / "labels.tif"), expected)
    capsys.readouterr()
    assert cli.main(["evaluate", str(folder / "truth.npy"), str(out), "--json",
                     "--chunks", "4"]) == 0
    scores = json.loads(capsys.readouterr().out)
    whole = summary(truth, expected)
    assert scores["labels"] == whole["labels"] and scores["mean_dice"] > 0.6
    assert scores["confusion"] == whole["confusion"].tolist()
    assert scores["mean_dice"] == pytest.approx(whole["mean_dice"])
    assert cli.main(["evaluate", str(folder / "truth.npy"), str(folder / "labels.tif"),
                     "--csv"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].startswith("label,tp,fp,fn,tn") and len(rows) == 1 + len(whole["labels"])


def test_ome_zarr_input_gets_a_labels_group(files):
    folder, image, _, model = files
    path = folder / "vol.ome.zarr"
    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    root.create_array("0", shape=image.shape, chunks=(6, 20, 22), dtype=image.dtype)[...] = image
    root.attrs["ome"] = {"version": "0.5", "multiscales": [{
        "axes": [{"name": a, "type": "space"} for a in "zyx"],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [1.0, 1.0, 1.0]}]}]}]}
    assert cli.main(["apply", str(model), str(path), "-o", str(path / "labels"),
                     "--chunks", "9,20,22"]) == 0
    labels = open_zarr(path).labels["seglab"]
    assert labels.is_label and labels.spacing == (1.0, 1.0, 1.0)
    np.testing.assert_array_equal(labels.array[...], load_model(model).predict(image))


def test_train_on_a_crop_of_a_zarr(files):
    folder, image, _, _ = files
    path = folder / "big.zarr"
    zarr.create_array(str(path), shape=image.shape, chunks=(6, 20, 22),
                      dtype=image.dtype)[...] = image
    seeds = np.load(folder / "seeds.npy")[4:14, :, 10:40]
    np.save(folder / "crop_seeds.npy", seeds)
    model = folder / "crop_model.npz"
    assert cli.main(["train", str(path), str(folder / "crop_seeds.npy"), "-o", str(model),
                     "--method", "nearest_mean", "--features", "minimal",
                     "--crop", "4:14,:,10:40"]) == 0
    from napari_seglab.core.pipeline import SeededModel

    direct = SeededModel("nearest_mean", features="minimal").fit(image[4:14, :, 10:40], seeds)
    np.testing.assert_array_equal(load_model(model).predict(image), direct.predict(image))
    assert cli.main(["train", str(path), str(folder / "crop_seeds.npy"), "-o", str(model),
                     "--crop", "4:14,10:40"]) == 2


def test_several_inputs_go_to_a_folder(files):
    folder, image, _, model = files
    np.save(folder / "second.npy", image[:, ::-1])
    out = folder / "batch"
    assert cli.main(["apply", str(model), str(folder / "img.npy"), str(folder / "second.npy"),
                     "-o", str(out), "--format", "npy", "--workers", "1"]) == 0
    second = np.load(out / "second.npy")
    np.testing.assert_array_equal(second, load_model(model).predict(image[:, ::-1]))


@pytest.mark.parametrize("command", [[], ["train"], ["apply"], ["evaluate"]])
def test_help_exits_zero(command, capsys):
    assert cli.main(command + ["--help"]) == 0
    assert "exit codes" in capsys.readouterr().out


def test_errors_name_the_file_and_the_fix(files, capsys):
    folder, _, _, model = files
    img = str(folder / "img.npy")
    assert cli.main(["apply", str(model), str(folder / "nope.tif"), "-o", "x.zarr"]) == 2
    assert "nope.tif: no such file" in capsys.readouterr().err
    assert cli.main(["train", img, img, "-o", str(folder / "m.npz"), "--method", "magic"]) == 2
    assert "knn" in capsys.readouterr().err
    assert cli.main(["apply", str(model), img, "-o", str(folder / "out.xyz")]) == 2
    assert "end it in .zarr" in capsys.readouterr().err
    assert cli.main(["apply", str(model), img, "-o", str(folder / "img.npy")]) == 2
    assert "is an input of this run" in capsys.readouterr().err
    assert cli.main(["apply", str(model), img, "-o", str(folder / "truth.npy")]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert cli.main(["apply", str(model), img, "-o", "x.zarr", "--memory-limit", "lots"]) == 2
    assert cli.main(["apply", str(model), img, "-o", "x.zarr", "--bogus"]) == 2
    assert cli.main(["apply", img, img, "-o", str(folder / "o.zarr")]) == 1
    assert "img.npy" in capsys.readouterr().err  # not a model file: names it
    assert cli.main(["evaluate", img, str(folder / "truth.npy")]) == 1
    assert "integers" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["stopped.zarr", "stopped.npy"])
def test_ctrl_c_leaves_no_complete_looking_output(files, monkeypatch, name, capsys):
    folder, _, _, model = files
    real = cli._write_block
    calls = {"n": 0}

    def interrupted(block, target, region):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(block, target, region)

    def interrupted_slabs(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_compute(self, *args, **kwargs)

    import dask.array as da

    real_compute = da.Array.compute
    monkeypatch.setattr(cli, "_write_block", interrupted)
    monkeypatch.setattr(da.Array, "compute", interrupted_slabs)
    code = cli.main(["apply", str(model), str(folder / "img.npy"), "-o", str(folder / name),
                     "--chunks", "6,20,22", "--workers", "1"])
    assert code == 130 and "interrupted" in capsys.readouterr().err
    assert not (folder / name).exists()
    assert not [p for p in folder.iterdir() if name in p.name]  # no temporary left


def test_scheduler_address_runs_on_a_cluster(files):
    distributed = pytest.importorskip("distributed")
    folder, image, _, model = files
    out = folder / "cluster.zarr"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        assert cli.main(["apply", str(model), str(folder / "img.npy"), "-o", str(out),
                         "--scheduler", cluster.scheduler_address, "--chunks", "9,20,22"]) == 0
    np.testing.assert_array_equal(zarr.open_array(str(out), mode="r")[...],
                                  load_model(model).predict(image))


def test_parse_size():
    assert cli.parse_size("1.5GiB") == int(1.5 * 2**30)
    with pytest.raises(cli.UsageError, match="positive"):
        cli.parse_size("-3GB")
