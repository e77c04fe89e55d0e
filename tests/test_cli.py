"""``seglab`` train / apply / evaluate: files in, files out, exit codes, Ctrl-C, a cluster."""

import json

import numpy as np
import pytest

pytest.importorskip("dask")
zarr = pytest.importorskip("zarr")

from napari_seglab import cli  # noqa: E402
from napari_seglab.core.model_io import load_model  # noqa: E402
from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom  # noqa: E402
from napari_seglab.io.zarr_store import open_zarr  # noqa: E402
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


# --------------------------------------------------------------------------
# The command line as a peer of the panel (issue 26): nothing replaced unasked,
# every format, segment()'s and metrics.evaluate's conventions, bad numbers.


@pytest.fixture(scope="module")
def flat(tmp_path_factory):
    """A 2D image, its seeds and a model trained with the default method (no --method)."""
    folder = tmp_path_factory.mktemp("flat")
    image, truth = tissue_phantom((40, 44), random_state=1)
    seeds = scribble_seeds(truth, random_state=1)
    np.save(folder / "img.npy", image.astype(np.float32))
    np.save(folder / "seeds.npy", seeds)
    assert cli.main(["train", str(folder / "img.npy"), str(folder / "seeds.npy"), "-o",
                     str(folder / "model.npz")]) == 0
    return folder, image.astype(np.float32), seeds


def test_train_uses_segments_default_method_and_preparation(flat):
    import inspect

    from napari_seglab import segment

    folder, image, seeds = flat
    default = inspect.signature(segment).parameters["method"].default
    model = load_model(folder / "model.npz")
    assert cli.default_method() == default == model.method
    np.testing.assert_array_equal(model.predict(image), segment(image, seeds))


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("target", ["img.npy", "seeds.npy"])
def test_train_never_replaces_an_input(flat, target, capsys):
    folder, _, _ = flat
    before = _snapshot(folder)
    assert cli.main(["train", str(folder / "img.npy"), str(folder / "seeds.npy"), "-o",
                     str(folder / target), "--overwrite"]) == 2
    assert "is an input of this run" in capsys.readouterr().err
    assert _snapshot(folder) == before


def test_train_asks_before_replacing_a_model(flat, capsys):
    folder, _, _ = flat
    before = (folder / "model.npz").read_bytes()
    assert cli.main(["train", str(folder / "img.npy"), str(folder / "seeds.npy"), "-o",
                     str(folder / "model.npz"), "--method", "nearest_mean"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (folder / "model.npz").read_bytes() == before


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".tif", ".npy", ".zarr"])
def test_every_output_format_keeps_2d_as_2d(flat, suffix, capsys):
    from napari_seglab.io import read_image

    folder, image, _ = flat
    out = folder / f"labels2d{suffix}"
    assert cli.main(["apply", str(folder / "model.npz"), str(folder / "img.npy"), "-o",
                     str(out), "--overwrite"]) == 0, capsys.readouterr().err
    got = (zarr.open_array(str(out), mode="r")[...] if suffix == ".zarr"
           else read_image(out).data)
    np.testing.assert_array_equal(got, load_model(folder / "model.npz").predict(image))
    capsys.readouterr()
    assert cli.main(["evaluate", str(out), str(out), "--json"]) == 0  # 2D reads back as 2D
    assert json.loads(capsys.readouterr().out)["mean_dice"] == 1.0


def test_two_inputs_of_one_name_are_refused_before_writing(flat, tmp_path, capsys):
    folder, image, _ = flat
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        np.save(tmp_path / sub / "x.npy", image)
    out = tmp_path / "out"
    assert cli.main(["apply", str(folder / "model.npz"), str(tmp_path / "a" / "x.npy"),
                     str(tmp_path / "b" / "x.npy"), "-o", str(out), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "would both be written to" in err and "x.zarr" in err
    assert not out.exists()


def test_labels_folder_output_keeps_the_other_label_images(files, capsys):
    folder, image, _, model = files
    path = folder / "siblings.ome.zarr"
    root = zarr.open_group(str(path), mode="w")
    root.create_array("0", data=image)
    root.attrs["ome"] = {"version": "0.5", "multiscales": [{
        "axes": [{"name": a, "type": "space"} for a in "zyx"],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [1.0, 1.0, 1.0]}]}]}]}
    from napari_seglab.io.zarr_store import create_labels_array

    create_labels_array(path / "labels", image.shape, image.shape, np.uint8,
                        name="expert")[...] = 7
    labels = path / "labels"
    args = ["apply", str(model), str(path), "-o", str(labels), "--chunks", "9,20,22"]
    assert cli.main(args) == 0
    capsys.readouterr()
    assert cli.main(args) == 2  # labels/seglab exists: asks
    assert "labels/seglab exists" in capsys.readouterr().err
    assert cli.main(args + ["--overwrite"]) == 0
    opened = open_zarr(path)
    assert set(opened.labels) == {"expert", "seglab"}
    assert (np.asarray(opened.labels["expert"].array) == 7).all()
    np.testing.assert_array_equal(opened.labels["seglab"].array[...],
                                  load_model(model).predict(image))
    assert not [p for p in labels.iterdir() if p.name.startswith(".")]  # no temporary left


@pytest.mark.parametrize("mapping", [None, "0:1,1:2,2:3", '{"1": 2, "2": 1}'])
def test_evaluate_agrees_with_metrics_evaluate(tmp_path, mapping, capsys):
    from napari_seglab.metrics import evaluate

    _, truth = tissue_phantom((30, 34), random_state=2)
    truth = truth.astype(np.int16)
    cases = {"negated": (-truth, truth), "shifted": (truth, truth + 1),
             "same": (truth, truth)}
    for name, (t, p) in cases.items():
        np.save(tmp_path / f"{name}_t.npy", t)
        np.save(tmp_path / f"{name}_p.npy", p)
        extra = [] if mapping is None else ["--mapping", mapping]
        assert cli.main(["evaluate", str(tmp_path / f"{name}_t.npy"),
                         str(tmp_path / f"{name}_p.npy"), "--json", "--chunks", "8"]
                        + extra) == 0
        got = json.loads(capsys.readouterr().out)
        table = None if mapping is None else cli._mapping(mapping)
        want = evaluate(t, p, mapping=table)
        assert got["labels"] == want.labels, name
        assert got["confusion"] == want.confusion.tolist(), name
        np.testing.assert_equal(got["mean_dice"], want.mean_dice)
        np.testing.assert_equal(got["accuracy"], want.accuracy)


@pytest.mark.parametrize("option", [
    ["--memory-limit", "1e999"], ["--memory-limit", "1KB"], ["--memory-limit", "nan"],
    ["--chunks", "2,2,2"], ["--chunks", "0"], ["--workers", "0"], ["--spacing", "nan,1,1"],
    ["--spacing", "1,inf,1"]])
def test_bad_numbers_are_refused_at_parse_time(files, option, capsys):
    folder, _, _, model = files
    assert cli.main(["apply", str(model), str(folder / "img.npy"), "-o",
                     str(folder / "never.zarr")] + option) == 2
    err = capsys.readouterr().err
    assert option[0] in err and "Traceback" not in err
    assert not (folder / "never.zarr").exists()


def test_chunks_smaller_than_the_margin_are_refused_before_running(files, capsys):
    folder, _, _, model = files
    assert cli.main(["apply", str(model), str(folder / "img.npy"), "-o",
                     str(folder / "tiny.zarr"), "--chunks", "4"]) == 2
    err = capsys.readouterr().err
    assert "margin" in err and "at least" in err
    assert not (folder / "tiny.zarr").exists()


def test_no_traceback_for_an_unexpected_error(files, monkeypatch, capsys):
    folder, _, _, model = files

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("napari_seglab.core.blockwise.predict_blockwise", broken)
    assert cli.main(["apply", str(model), str(folder / "img.npy"), "-o",
                     str(folder / "boom.zarr")]) == 1
    err = capsys.readouterr().err
    assert "RuntimeError: boom" in err and "Traceback" not in err


def test_a_closed_pipe_ends_quietly(files, monkeypatch, capsys):
    folder, _, truth, _ = files

    class Closed:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self):
            raise OSError("no descriptor")

    monkeypatch.setattr("sys.stdout", Closed())
    code = cli.main(["evaluate", str(folder / "truth.npy"), str(folder / "truth.npy"),
                     "--csv"])
    assert code == cli.EXIT_PIPE
    assert capsys.readouterr().err == ""


def test_a_hostile_zarr_input_is_one_clear_line(files, tmp_path, capsys):
    folder, _, _, model = files
    path = tmp_path / "huge.zarr"
    zarr.create_array(str(path), shape=(10**8,) * 3, chunks=(1, 1, 1), dtype="uint8")
    assert cli.main(["apply", str(model), str(path), "-o", str(tmp_path / "o.zarr")]) == 1
    err = capsys.readouterr().err
    assert str(path) in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_a_damaged_zarr_chunk_names_the_input(files, tmp_path, capsys):
    folder, image, _, model = files
    path = tmp_path / "damaged.zarr"
    zarr.create_array(str(path), data=image, chunks=(6, 20, 22))
    chunk = next(p for p in path.rglob("*") if p.is_file() and p.name.isdigit())
    chunk.write_bytes(b"not a compressed chunk")
    assert cli.main(["apply", str(model), str(path), "-o", str(tmp_path / "o.zarr")]) == 1
    err = capsys.readouterr().err.splitlines()[-1]
    assert str(path) in err and "damaged" in err
    assert not (tmp_path / "o.zarr").exists()
