"""Sessions: save and reopen the panel's state; damaged files refused, nothing open lost."""

import json
import os
import zipfile

import numpy as np
import pytest
from gui_helpers import scribble_and_segment

from napari_seglab.core.blockwise import model_to_bytes
from napari_seglab.core.datafile import InvalidFileError
from napari_seglab.core.features import FeatureSpec
from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom
from napari_seglab.core.pipeline import SeededModel
from napari_seglab.core.session import (
    MAX_EMBED_BYTES,
    SeedsState,
    Session,
    image_ref,
    load_session,
    save_session,
)

SPEC = FeatureSpec((("intensity", 0.0), ("gaussian", 1.0)), normalize=True)


@pytest.fixture(scope="module")
def phantom():
    image, truth = tissue_phantom((40, 48), random_state=0)
    return image.astype(np.float32), truth.astype(np.uint8), scribble_seeds(truth)


def _session(phantom, image_path=None, **kwargs):
    image, truth, seeds = phantom
    model = SeededModel("knn", SPEC, params={"n_neighbors": 3}).fit(image, seeds)
    fields = {"images": [image_ref("phantom", image, path=image_path, scale=(2.0, 0.5))],
              "seeds": SeedsState(seeds, name="seeds", classes={1: "tissue", 2: "fluid"},
                                  colors={1: "#ff0000"}, scale=(2.0, 0.5)),
              "truth": image_ref("ground truth", truth, role="truth", scale=(2.0, 0.5)),
              "features": SPEC.to_dict(), "method": "knn", "params": {"n_neighbors": 3},
              "model": model_to_bytes(model), "model_trained_on": "phantom",
              "ui": {"live": False, "expanded": ["Evaluation"]}}
    fields.update(kwargs)
    return Session(**fields), model


# --------------------------------------------------------------------------
# Headless round trip


def test_round_trip_keeps_everything_and_the_model_predicts_the_same(tmp_path, phantom):
    session, model = _session(phantom)
    path = tmp_path / "s.seglab-session.npz"
    save_session(path, session)
    again = load_session(path)
    image, truth, seeds = phantom
    assert again.method == "knn" and again.params == {"n_neighbors": 3}
    assert again.feature_value() == SPEC
    assert again.images[0].name == "phantom" and again.images[0].scale == (2.0, 0.5)
    np.testing.assert_array_equal(again.images[0].data, image)
    np.testing.assert_array_equal(again.seeds.data, seeds)
    assert again.seeds.classes == {1: "tissue", 2: "fluid"}
    assert again.seeds.colors == {1: "#ff0000"}
    np.testing.assert_array_equal(again.truth.data, truth)
    assert again.model == session.model and again.model_trained_on == "phantom"
    assert again.ui == {"live": False, "expanded": ["Evaluation"]}
    np.testing.assert_array_equal(again.load_model().predict(image), model.predict(image))
    # Plain data: numpy opens it without pickle.
    with np.load(path, allow_pickle=False) as archive:
        assert json.loads(str(archive["header"]))["format"] == "napari-seglab-session"


def test_images_with_a_file_are_referenced_and_large_ones_without_a_file_are_not_embedded(
        tmp_path, phantom):
    image = phantom[0]
    np.save(tmp_path / "img.npy", image)
    referenced = image_ref("img", image, path=tmp_path / "img.npy")
    assert referenced.data is None and referenced.path == str(tmp_path / "img.npy")
    big = np.zeros(MAX_EMBED_BYTES // 4 + 1, np.float32).reshape(1, -1)
    assert image_ref("big", big).data is None
    # A project folder moved whole: the path relative to the session is used.
    session, _ = _session(phantom, image_path=tmp_path / "img.npy")
    save_session(tmp_path / "s.npz", session)
    moved = tmp_path.parent / (tmp_path.name + "-moved")
    os.rename(tmp_path, moved)
    assert load_session(moved / "s.npz").images[0].path == str(moved / "img.npy")


def test_save_refuses_seeds_that_do_not_fit_the_image(tmp_path, phantom):
    session, _ = _session(phantom, seeds=SeedsState(np.zeros((5, 5), np.uint8)))
    with pytest.raises(ValueError, match=r"seeds have shape \(5, 5\)"):
        save_session(tmp_path / "s.npz", session)
    assert not (tmp_path / "s.npz").exists()


def test_channels_and_a_volume_round_trip_and_misfits_are_refused(tmp_path):
    volume = np.random.default_rng(0).random((3, 8, 9)).astype(np.float32)
    seeds = np.zeros((3, 8, 9), np.uint16)
    seeds[1, 2, 2], seeds[1, 6, 7] = 1, 300
    session = Session(images=[image_ref("t1", volume, scale=(3.0, 1.0, 1.0)),
                              image_ref("flair", volume * 2, role="channel")],
                      seeds=SeedsState(seeds), method="random_forest",
                      params={"n_estimators": 10, "random_state": 0}, features=None)
    save_session(tmp_path / "v.npz", session)
    again = load_session(tmp_path / "v.npz")
    assert [ref.role for ref in again.images] == ["image", "channel"]
    assert again.images[0].scale == (3.0, 1.0, 1.0) and again.seeds.data.dtype == np.uint16
    assert again.params == {"n_estimators": 10, "random_state": 0} and again.model is None
    misfits = {
        "channel": dict(images=[session.images[0], image_ref("x", volume[:2], role="channel")]),
        "truth": dict(truth=image_ref("gt", seeds[:, :4], role="truth")),
        "params": dict(params={"n_estimators": 10**6}),
        "method": dict(method="magic"),
    }
    for what, change in misfits.items():
        bad = Session(**{**session.__dict__, **change})
        with pytest.raises(ValueError, match="this session cannot be saved"):
            save_session(tmp_path / f"{what}.npz", bad)
        assert not (tmp_path / f"{what}.npz").exists(), what


# --------------------------------------------------------------------------
# A catalogue of bad session files


def _rewrite(src, dst, edit_header=None, edit_arrays=None):
    """Copy a session file with its header (JSON) or arrays changed, written like ours."""
    from napari_seglab.core.datafile import write_datafile

    with np.load(src, allow_pickle=False) as archive:
        header = json.loads(str(archive["header"]))
        arrays = {k: archive[k] for k in archive.files if k != "header"}
    if edit_header:
        edit_header(header)
    if edit_arrays:
        edit_arrays(arrays)
    header.pop("arrays")
    write_datafile(dst, header, arrays)


def _huge_member(src, dst):
    """A file whose header declares a 1 TB seeds array (a decompression bomb)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename == "header.npy":
                text = str(np.load(src, allow_pickle=False)["header"])
                header = json.loads(text)
                header["arrays"]["seeds"]["shape"] = [1 << 20, 1 << 20]
                buf = __import__("io").BytesIO()
                np.save(buf, np.array(json.dumps(header)))
                data = buf.getvalue()
            zout.writestr(item, data)


def _json_bomb(src, dst):
    with zipfile.ZipFile(dst, "w") as zout:
        buf = __import__("io").BytesIO()
        np.save(buf, np.array("[" * 100_000 + "]" * 100_000))
        zout.writestr("header.npy", buf.getvalue())


def _bad_files(tmp_path, phantom):
    """``(name, path, message)`` for every damaged file, and the good file."""
    good = tmp_path / "good.npz"
    session, _ = _session(phantom)
    save_session(good, session)
    raw = good.read_bytes()
    cases = []

    def case(name, message, make):
        path = tmp_path / f"{name}.npz"
        make(path)
        cases.append((name, path, message))

    case("truncated", "not a valid napari-seglab-session file",
         lambda p: p.write_bytes(raw[: len(raw) // 2]))
    case("foreign_npz", "header", lambda p: np.savez(p, x=np.arange(3)))
    case("model_file", "format is 'napari-seglab-model'",
         lambda p: p.write_bytes(session.model))
    case("wrong_version", "'version' must be an int",
         lambda p: _rewrite(good, p, lambda h: h.update(version="1")))
    case("future_version", "format version 3 is not supported",
         lambda p: _rewrite(good, p, lambda h: h.update(version=3)))
    case("huge_member", "exceed", lambda p: _huge_member(good, p))
    case("json_bomb", "nested too deeply", lambda p: _json_bomb(good, p))
    case("seeds_shape", r"seeds have shape \(4, 4\)",
         lambda p: _rewrite(good, p, edit_arrays=lambda a: a.update(
             seeds=np.zeros((4, 4), np.uint8))))
    case("bad_param", "n_neighbors=1000000000",
         lambda p: _rewrite(good, p, lambda h: h.update(params={"n_neighbors": 10**9})))
    case("unknown_method", "unknown method",
         lambda p: _rewrite(good, p, lambda h: h.update(method="magic")))
    case("damaged_model", "its model is not valid",
         lambda p: _rewrite(good, p, edit_arrays=lambda a: a.update(
             model=a["model"][: a["model"].size // 2])))
    case("bad_scale", "'scale' must be 2 positive numbers",
         lambda p: _rewrite(good, p, lambda h: h["images"][0].update(scale=[0, 1])))
    folder = tmp_path / "a_folder.npz"
    folder.mkdir()
    cases.append(("folder", folder, r"not a regular file \(a folder\)"))
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "fifo.npz"
        os.mkfifo(fifo)
        cases.append(("fifo", fifo, r"not a regular file \(a named pipe\)"))
    return good, cases


def test_every_bad_session_file_is_refused_with_a_clear_message(tmp_path, phantom):
    _, cases = _bad_files(tmp_path, phantom)
    for name, path, message in cases:
        with pytest.raises(InvalidFileError, match=message) as caught:
            load_session(path)
        assert str(path) in str(caught.value), name


# --------------------------------------------------------------------------
# Through the real panel



def _warnings(monkeypatch):
    from napari_seglab._widgets import session as session_widget

    shown = []
    monkeypatch.setattr(session_widget, "show_warning", shown.append)
    return shown


def _panel(viewer):
    _, panel = viewer.window.add_plugin_dock_widget("napari-seglab", "Segmentation Lab")
    return panel


@pytest.mark.gui
def test_gui_round_trip_restores_layers_panel_and_model(make_napari_viewer, qtbot, tmp_path,
                                                        monkeypatch):
    shown = _warnings(monkeypatch)
    viewer = make_napari_viewer()
    viewer.open_sample("napari-seglab", "phantom_2d")
    panel = _panel(viewer)
    seg = panel.segmentation
    seeds = viewer.layers["seeds"]
    scribbles = scribble_seeds(viewer.layers["ground truth"].data)
    index = np.nonzero(scribbles)
    seeds.data_setitem(index, scribbles[index])
    seg.method.value = "kNN"
    seg.n_neighbors.value = 3
    seg.feature_choice.value = "minimal"
    with qtbot.waitSignal(seg.finished_run, timeout=60_000):
        seg.run.native.click()
    expected = seg.model.predict(viewer.layers["phantom 2D"].data)
    path = tmp_path / "project.seglab-session.npz"
    assert panel.session.save(path=path) == path and not shown
    seeds_data, seeds_scale = np.array(seeds.data), seeds.scale.tolist()
    # Everything closed and the panel changed: the session must bring it all back.
    viewer.layers.clear()
    seg.method.value = "Random forest"
    seg.n_neighbors.value = 7
    seg._set_features(None)
    seg.model = None
    other, panel2 = viewer, panel
    assert panel2.session.open(path=path) is not None, shown
    names = [layer.name for layer in other.layers if layer.name != "confusion"]
    assert names == ["phantom 2D", "ground truth", "seeds", "segmentation"]
    seg2 = panel2.segmentation
    assert seg2.image.value is other.layers["phantom 2D"]
    assert seg2.seeds.value is other.layers["seeds"]
    np.testing.assert_array_equal(other.layers["seeds"].data, seeds_data)
    assert other.layers["seeds"].scale.tolist() == seeds_scale
    assert seg2.method.value == "kNN" and seg2.n_neighbors.value == 3
    assert seg2.feature_value == "minimal"
    assert panel2.evaluation.truth.value is other.layers["ground truth"]
    assert seg2.apply.enabled and seg2._model_source == "phantom 2D"
    np.testing.assert_array_equal(seg2.model.predict(other.layers["phantom 2D"].data),
                                  expected)
    assert other.layers.selection.active is other.layers["seeds"]
    # Opening it again where the image is open reuses it; the seeds come as a new layer.
    assert panel2.session.open(path=path) is not None
    assert [layer.name for layer in other.layers if layer.name != "confusion"] == (
        names + ["seeds [1]", "segmentation [1]"])
    assert panel2.segmentation.seeds.value is other.layers["seeds [1]"]
    assert panel2.evaluation.seeds.value is other.layers["seeds [1]"]
    assert not shown


@pytest.mark.gui
def test_gui_refuses_bad_files_and_keeps_what_is_open(make_napari_viewer, tmp_path, phantom,
                                                      monkeypatch):
    shown = _warnings(monkeypatch)
    good, cases = _bad_files(tmp_path, phantom)
    # A session whose image file has gone: refused whole, naming the path.
    np.save(tmp_path / "img.npy", phantom[0])
    session, _ = _session(phantom, image_path=tmp_path / "img.npy")
    session.images[0].name = "scan"  # not open in the viewer, so its file is needed
    missing = tmp_path / "missing_image.npz"
    save_session(missing, session)
    os.remove(tmp_path / "img.npy")
    cases.append(("missing_image", missing, f"{tmp_path / 'img.npy'}, which cannot be found"))

    viewer = make_napari_viewer()
    panel = _panel(viewer)
    assert panel.session.save(path=tmp_path / "empty.npz") is None
    assert "No image chosen" in shown.pop() and not (tmp_path / "empty.npz").exists()
    assert panel.session.open(path=good) is not None, shown
    before = [(layer.name, np.array(layer.data)) for layer in viewer.layers]
    seg = panel.segmentation
    state = (seg.image.value, seg.seeds.value, seg.method.value, seg.model)
    for name, path, message in cases:
        shown.clear()
        assert panel.session.open(path=path) is None, name
        assert len(shown) == 1 and __import__("re").search(message, shown[0]), (name, shown)
        assert "Nothing was changed" in shown[0] or "not a valid" in shown[0], shown
        assert [layer.name for layer in viewer.layers] == [n for n, _ in before], name
        for layer, (_, data) in zip(viewer.layers, before):
            np.testing.assert_array_equal(layer.data, data)
        assert (seg.image.value, seg.seeds.value, seg.method.value, seg.model) == state
    # An image recorded by its path is read from it (and stays a reference when saved).
    np.save(tmp_path / "img2.npy", phantom[0])
    session, _ = _session(phantom, image_path=tmp_path / "img2.npy")
    session.images[0].name = "by path"
    save_session(tmp_path / "by_path.npz", session)
    shown.clear()
    assert panel.session.open(path=tmp_path / "by_path.npz") is not None, shown
    image = viewer.layers["by path"]
    assert os.path.samefile(image.source.path, tmp_path / "img2.npy")
    np.testing.assert_array_equal(image.data, phantom[0])
    assert image.scale.tolist() == [2.0, 0.5] and seg.image.value is image
    assert panel.session.save(path=tmp_path / "again.npz")
    assert load_session(tmp_path / "again.npz").images[0].data is None
    before = [layer.name for layer in viewer.layers]

    # napari failing halfway through a restore: what was added is taken away again.
    from napari_seglab._widgets import session as session_widget

    def fail(*args):
        raise RuntimeError("napari broke")

    monkeypatch.setattr(session_widget, "_restore_panel", fail)
    shown.clear()
    assert panel.session.open(path=good) is None
    assert "layers it had added were removed" in shown[0]
    assert [layer.name for layer in viewer.layers] == before


@pytest.mark.gui
def test_session_restores_the_model_exactly(make_napari_viewer, qtbot, tmp_path):
    """Edited segmentation, the user's mapping, class names and a hidden truth come back."""
    viewer = make_napari_viewer()
    viewer.open_sample("napari-seglab", "phantom_2d")
    panel = _panel(viewer)
    seg, ev = panel.segmentation, panel.evaluation
    result = scribble_and_segment(viewer, qtbot, panel)
    result.data_setitem((np.arange(10, 40), np.arange(10, 40)), 3)  # a hand correction
    qtbot.waitUntil(lambda: set(ev._mapping_widgets) == {0, 1, 2}, timeout=10_000)
    ev._mapping_widgets[2].value = 2  # the user's mapping, not the guess
    qtbot.waitUntil(lambda: set(seg.class_editor.rows) == {1, 2, 3}, timeout=5000)
    seg.class_editor.rename(3, "CSF")
    assert not viewer.layers["ground truth"].visible  # the sample's truth starts hidden
    edited, mapping = np.array(result.data), dict(seg.panel_model.mapping)
    path = tmp_path / "work.seglab-session.npz"
    assert panel.session.save(path=path) == path
    viewer.layers.clear()
    assert panel.session.open(path=path) is not None
    restored = viewer.layers["segmentation"]
    np.testing.assert_array_equal(restored.data, edited)
    model = seg.panel_model
    assert model.segmentation is restored and ev.pred.value is restored
    assert model.mapping == mapping == {0: 1, 1: 2, 2: 2}
    assert model.class_names()[3] == "CSF" and "CSF" in list(restored.features["name"])
    assert not viewer.layers["ground truth"].visible and viewer.layers["seeds"].visible
    qtbot.waitUntil(lambda: ev._mapping_widgets.get(2) is not None
                    and ev._mapping_widgets[2].value == 2, timeout=10_000)
    assert "from the session" in ev.mapping_note.value
    # A new Segment never overwrites the restored (edited) result.
    with qtbot.waitSignal(seg.finished_run, timeout=60_000):
        seg.run.native.click()
    np.testing.assert_array_equal(restored.data, edited)
