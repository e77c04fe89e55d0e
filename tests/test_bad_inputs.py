"""A headless catalogue of bad inputs: every reader, writer and call answers clearly.

Cases are tables, run against every entry of the tables they apply to:

* ``READERS``: a file reader (``read(path)``), the format name its messages
  carry, a small valid file to start from and how to compare two loads.
  Every ``PATH_CASES``, ``FILE_CASES`` entry and the mutation fuzz run
  against each reader (model files and session files): add a reader with
  one entry naming the members the cases edit.
* ``FILE_CASES``: hostile or damaged files built from a reader's valid
  file (``case(valid_bytes) -> bytes``) and the reason the error must give.
* ``PATH_CASES``: paths that are not regular files (a FIFO must not block).
* ``WRITERS``: file writers; each must leave the previous file intact and no
  temporary file behind when the write fails midway.
* ``MODEL_EDITS``: model files whose header or arrays are edited to
  out-of-range or inconsistent values.
* ``API_CASES``: calls with bad arguments and the exception they must raise;
  ``SEGMENT_CASES``: the same for ``napari_seglab.segment``, whose seeds
  must come back unmodified.

Every refusal from a reader is a ``ValueError`` reading ``"<path>: not a
valid <format> file: <reason>"``, reached within bounded memory (hostile
files declare gigabytes; the reader must refuse before allocating).
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import struct
import threading
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from napari_seglab.core.model_io import SeededModel, load_model, save_model
from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom
from napari_seglab.core.session import (
    SeedsState,
    Session,
    image_ref,
    load_session,
    save_session,
)

#: Peak Python/NumPy allocation a refusal may take (hostile files declare GiBs).
MAX_REFUSAL_BYTES = 64 << 20
GIB = 1 << 30


# --------------------------------------------------------------------------
# Building zip archives by hand (what np.savez cannot write)


def npy(array) -> bytes:
    out = io.BytesIO()
    np.save(out, np.asarray(array), allow_pickle=False)
    return out.getvalue()


def npy_header(descr, shape) -> bytes:
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": descr, "fortran_order": False,
                                               "shape": tuple(shape)})
    return out.getvalue()


def deflate(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def deflated_zeros(prefix: bytes, n_zeros: int) -> bytes:
    """A raw deflate stream of ``prefix`` + ``n_zeros`` zero bytes, built in milliseconds.

    After a sync flush, every further MiB of zeros compresses to the same
    bytes, so a 1 GiB stream is one block repeated (about 1 MB).
    """
    mib = 1 << 20
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(prefix + b"\0" * mib) + c.flush(zlib.Z_SYNC_FLUSH)
    block = c.compress(b"\0" * mib) + c.flush(zlib.Z_SYNC_FLUSH)
    n_blocks, rest = divmod(n_zeros - mib, mib)
    return first + block * n_blocks + c.compress(b"\0" * rest) + c.flush()


@dataclass
class Member:
    name: str
    data: bytes  # as stored (compressed when method == 8)
    size: int  # uncompressed, as the directory declares it
    crc: int
    method: int = zipfile.ZIP_DEFLATED
    flags: int = 0

    @classmethod
    def of(cls, name, raw: bytes, method=zipfile.ZIP_DEFLATED):
        data = deflate(raw) if method == zipfile.ZIP_DEFLATED else raw
        return cls(name, data, len(raw), zlib.crc32(raw), method)


def build_zip(members) -> bytes:
    """A zip of ``members`` exactly as given (sizes, CRCs, methods, flags unchecked)."""
    out, central = bytearray(), bytearray()
    for m in members:
        name = m.name.encode()
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, m.flags, m.method, 0, 0x21,
                           m.crc, len(m.data), m.size, len(name), 0) + name + m.data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, m.flags, m.method,
                               0, 0x21, m.crc, len(m.data), m.size, len(name), 0, 0, 0, 0,
                               0, offset) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members),
                      len(central), len(out), 0)
    return bytes(out + central + end)


def members_of(data: bytes) -> list[Member]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [Member.of(i.filename, z.read(i)) for i in z.infolist()]


def header_of(data: bytes) -> dict:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        raw = np.load(io.BytesIO(z.read("header.npy")), allow_pickle=False)
    return json.loads(str(raw))


def with_header(data: bytes, header=None, text=None) -> bytes:
    """``data`` with its header member replaced (a dict, or raw JSON text)."""
    text = json.dumps(header) if text is None else text
    return build_zip([Member.of("header.npy", npy(np.array(text))) if m.name == "header.npy"
                      else m for m in members_of(data)])


def replaced(data: bytes, name: str, member: Member) -> bytes:
    return build_zip([member if m.name == name else m for m in members_of(data)])


def patched(data: bytes, edit) -> bytes:
    header = header_of(data)
    edit(header)
    return with_header(data, header)


# --------------------------------------------------------------------------
# Readers


@dataclass(frozen=True)
class Reader:
    read: Callable
    format_name: str
    write_valid: Callable  # write_valid(path): a small valid file
    same: Callable  # same(a, b): two loads hold the same thing
    big: str = "train_X"  # a float array member the cases edit
    small: str = "train_y"  # an integer array member
    extra: str = "state.junk"  # a member name the format allows, undeclared


class Valid(bytes):
    """A reader's valid file, with the names of the members the cases edit."""


_IMAGE, _TRUTH = tissue_phantom((32, 32), random_state=0)
_SEEDS = scribble_seeds(_TRUTH, strokes_per_class=2, random_state=0)
_MODELS = {}


def fitted(method="nearest_mean", **params):
    key = (method, tuple(sorted(params.items())))
    if key not in _MODELS:
        use = None if method in ("local", "otsu") else _SEEDS
        _MODELS[key] = SeededModel(method, "minimal", params or None).fit(
            _IMAGE, use, spacing=(1.0, 1.0))
    return _MODELS[key]


def _same_model(a, b) -> bool:
    return (a.method == b.method and np.array_equal(a.classes_, b.classes_)
            and np.array_equal(a.predict_proba(_IMAGE), b.predict_proba(_IMAGE)))


def _session():
    """A small session: embedded image and truth, seeds, features, a kNN model."""
    from napari_seglab.core.blockwise import model_to_bytes

    return Session(images=[image_ref("image", _IMAGE.astype(np.float32))],
                   seeds=SeedsState(_SEEDS.astype(np.uint8), classes={1: "a"}),
                   truth=image_ref("truth", _TRUTH.astype(np.uint8), role="truth"),
                   features="minimal", method="knn", params={"n_neighbors": 3},
                   model=model_to_bytes(fitted("knn")), model_trained_on="image")


def _same_session(a, b) -> bool:
    return (a.method == b.method and a.params == b.params and a.features == b.features
            and a.model == b.model and np.array_equal(a.seeds.data, b.seeds.data)
            and np.array_equal(a.images[0].data, b.images[0].data))


READERS = {
    "model": Reader(load_model, "napari-seglab-model",
                    lambda path: save_model(path, fitted()), _same_model),
    "session": Reader(load_session, "napari-seglab-session",
                      lambda path: save_session(path, _session()), _same_session,
                      big="image_0", small="seeds", extra="image_7"),
}


@pytest.fixture(scope="module", params=list(READERS))
def reader(request, tmp_path_factory):
    entry = READERS[request.param]
    path = tmp_path_factory.mktemp(request.param) / "valid"
    entry.write_valid(path)
    valid = Valid(path.read_bytes())
    valid.big, valid.small, valid.extra = entry.big, entry.small, entry.extra
    return entry, valid


def refuse(entry: Reader, path, match=None):
    """Read ``path``: a ValueError with the format's message, in bounded memory."""
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=f"not a valid {entry.format_name} file") as err:
            entry.read(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(err.value).startswith(f"{path}: ")
    if match:
        assert err.match(match)
    assert "allow_pickle" not in str(err.value)
    assert len(str(err.value)) < len(str(path)) + 400, "a message that echoes the file"
    assert peak < MAX_REFUSAL_BYTES, f"refusing took {peak / 2**20:.0f} MiB"
    return err.value


# --------------------------------------------------------------------------
# Files that are not regular: refused before open() (which would block on a FIFO)


def _fifo(folder):
    path = folder / "pipe.npz"
    os.mkfifo(path)
    return path


def _link_to_fifo(folder):
    link = folder / "link.npz"
    link.symlink_to(_fifo(folder))
    return link


PATH_CASES = {
    "a folder": (lambda folder: folder, "not a regular file \\(a folder\\)"),
    "a FIFO": (_fifo, "not a regular file \\(a named pipe\\)"),
    "a symlink to a FIFO": (_link_to_fifo, "a named pipe"),
    "a character device": (lambda folder: "/dev/zero", "a character device"),
    "a NUL byte in the name": (lambda folder: f"{folder}/a\0b.npz", "cannot read it"),
}


@pytest.mark.parametrize("case", list(PATH_CASES))
def test_paths_that_are_not_regular_files_are_refused_without_blocking(reader, tmp_path,
                                                                       case):
    if not hasattr(os, "mkfifo") and "FIFO" in case:
        pytest.skip("no FIFOs on this platform")
    if case == "a character device" and not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    entry, _ = reader
    make, message = PATH_CASES[case]
    path = make(tmp_path)
    outcome = []

    def run():
        try:
            entry.read(path)
        except Exception as err:  # noqa: BLE001 - reported below
            outcome.append(err)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(60)  # a guard against a hang, not a speed test
    if worker.is_alive():
        with open(path, "wb"):  # unblock the reader's open() so the thread ends
            pass
        pytest.fail(f"reading {case} blocked")
    assert outcome and isinstance(outcome[0], ValueError), outcome
    assert f"not a valid {entry.format_name} file" in str(outcome[0])
    assert message is None or __import__("re").search(message, str(outcome[0]))


def test_a_missing_file_is_file_not_found(reader, tmp_path):
    entry, _ = reader
    with pytest.raises(FileNotFoundError):
        entry.read(tmp_path / "nowhere.npz")
    with pytest.raises(TypeError, match="path must be"):
        entry.read(3)  # a file descriptor is not a path


# --------------------------------------------------------------------------
# Damaged, foreign and hostile files


def _bomb_declared(data):
    """The header declares a 1 GiB float array and the member really inflates to it."""
    n = GIB // 4
    header = header_of(data)
    header["arrays"][data.big] = {"dtype": "<f4", "shape": [n, 1]}
    prefix = npy_header("<f4", (n, 1))
    bomb = Member(f"{data.big}.npy", deflated_zeros(prefix, GIB), len(prefix) + GIB, 0)
    return replaced(with_header(data, header), f"{data.big}.npy", bomb)


def _bomb_undeclared(data):
    """A 1 GiB member the header does not declare (a 3 MB file holding 3 GiB, smaller)."""
    prefix = npy_header("|u1", (GIB,))
    bomb = Member(f"{data.extra}.npy", deflated_zeros(prefix, GIB), len(prefix) + GIB, 0)
    return build_zip(members_of(data) + [bomb])


def _directory_lies(data):
    """The directory gives the real size; the stream inflates to 1 GiB."""
    name = f"{data.big}.npy"
    real = next(m for m in members_of(data) if m.name == name)
    stream = deflated_zeros(b"", GIB)
    return replaced(data, name, Member(name, stream, real.size, real.crc))


def _npy_declares(data, n_rows):
    """The float array's own .npy header declares ``n_rows`` rows (the JSON the real shape)."""
    name = f"{data.big}.npy"
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        raw = z.read(name)
    fp = io.BytesIO(raw)
    np.lib.format.read_magic(fp)
    shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
    body = raw[fp.tell():]
    return replaced(data, name, Member.of(name, npy_header("<f4", (n_rows, shape[1])) + body))


def _json_declares_tb(data):
    header = header_of(data)
    header["arrays"][data.big]["shape"] = [300_000_000_000, 1]
    return with_header(data, header)


def _method(data, name, method):
    return build_zip([Member(m.name, m.data, m.size, m.crc,
                             method if m.name == name else m.method)
                      for m in members_of(data)])


def _flag_encrypted(data):
    return build_zip([Member(m.name, m.data, m.size, m.crc, m.method, 1)
                      for m in members_of(data)])


def _stored_with_bad_crc(data):
    name = f"{data.small}.npy"
    ms = members_of(data)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        raw = bytearray(z.read(name))
    raw[-1] ^= 0xFF
    good = next(m for m in ms if m.name == name)
    return replaced(data, name, Member(name, bytes(raw), len(raw), good.crc,
                                       zipfile.ZIP_STORED))


def _object_member(data):
    name = f"{data.small}.npy"
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        raw = z.read(name)
    fp = io.BytesIO(raw)
    np.lib.format.read_magic(fp)
    shape, _, _ = np.lib.format.read_array_header_1_0(fp)
    body = raw[fp.tell():]
    head = npy_header("|O", shape)
    return replaced(data, name, Member.of(name, head + body))


def _npy_version_3(data):
    name = f"{data.small}.npy"
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        raw = bytearray(z.read(name))
    raw[6] = 3
    return replaced(data, name, Member.of(name, bytes(raw)))


def _pickled_npy():
    out = io.BytesIO()
    np.save(out, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return out.getvalue()


def _rename(data, old, new):
    return build_zip([Member(new if m.name == old else m.name, m.data, m.size, m.crc,
                             m.method) for m in members_of(data)])


FILE_CASES = {
    "an empty file": (lambda d: b"", "not a readable .npz archive"),
    "text": (lambda d: b"hello, world\n", "not a readable .npz archive"),
    "a .npy array": (lambda d: npy(np.arange(3)), "a single NumPy .npy array"),
    "a pickle .npy": (lambda d: _pickled_npy(), "a single NumPy .npy array"),
    "a foreign .npz": (lambda d: build_zip([Member.of("a.npy", npy(np.arange(3)))]),
                       "without a 'header' entry \\(entries: 'a'\\)"),
    "half a file": (lambda d: d[: len(d) // 2], "not a readable .npz archive"),
    "the directory cut off": (lambda d: d[:-30], "not a readable .npz archive"),
    "a 1 GiB member the header declares": (_bomb_declared, "exceed the \\d+ bytes"),
    "a 1 GiB member the header does not declare": (_bomb_undeclared,
                                                    "\\['[\\w.]+'\\] are not declared"),
    "a member inflating past its declared size": (_directory_lies,
                                                  "entry '\\w+' is damaged"),
    "an .npy header declaring 1.2 TB": (lambda d: _npy_declares(d, 300_000_000_000),
                                        "entry '\\w+' holds \\d+ bytes|but the header"),
    "an .npy header declaring fewer rows": (lambda d: _npy_declares(d, 1),
                                            "entry '\\w+' (holds|is)"),
    "a header declaring 1.2 TB": (_json_declares_tb, "exceed the \\d+ bytes"),
    "an unknown compression": (lambda d: _method(d, f"{d.big}.npy", 99),
                               "unsupported compression \\(method 99\\)"),
    "bzip2 compression": (lambda d: _method(d, f"{d.big}.npy", zipfile.ZIP_BZIP2),
                          "unsupported compression"),
    "encrypted entries": (_flag_encrypted, "encrypted"),
    "a bad CRC": (_stored_with_bad_crc, "entry '\\w+' is damaged.*CRC"),
    "a member of Python objects": (_object_member, "Python objects"),
    "an .npy version 3": (_npy_version_3, ".npy version \\(3, 0\\)"),
    "a member outside the archive's names": (lambda d: _rename(d, f"{d.small}.npy",
                                                               f"../{d.small}.npy"),
                                             "unexpected entry '\\.\\./\\w+\\.npy'"),
    "a member twice": (lambda d: build_zip(members_of(d) + members_of(d)[-1:]),
                       "appears twice"),
    "thousands of members": (lambda d: build_zip(
        [Member.of(f"m{i}.npy", b"") for i in range(300)]), "300 entries"),
    "a 2 MiB header": (lambda d: with_header(d, text=" " * (1 << 19) + json.dumps(
        header_of(d))), "entry 'header' holds \\d+ bytes"),
    "a header that is not a string": (lambda d: replaced(
        d, "header.npy", Member.of("header.npy", npy(np.arange(3)))), "must be a JSON string"),
    "a header nested 100,000 deep": (lambda d: with_header(
        d, text="[" * 100_000 + "]" * 100_000), "nested too deeply"),
    "a header that is a list": (lambda d: with_header(d, text="[1, 2]"),
                                "not a JSON object"),
    "a header holding NaN": (lambda d: with_header(d, text=re.sub(
        r'"version": \d+', '"version": NaN', json.dumps(header_of(d)))), "holds NaN"),
    "a header repeating a key": (lambda d: with_header(d, text=json.dumps(
        header_of(d))[:-1] + ', "version": 1}'), "repeats the key 'version'"),
    "a 5000-digit number": (lambda d: with_header(d, text=re.sub(
        r'"version": \d+', '"version": ' + "9" * 5000, json.dumps(header_of(d)))),
        "not valid JSON"),
    "invalid code points": (lambda d: with_header(d, text="{\ud800}"), "not valid JSON"),
    "another format": (lambda d: patched(d, lambda h: h.update(format="ilastik")),
                       "format is 'ilastik'"),
    "a newer version": (lambda d: patched(d, lambda h: h.update(version=99)),
                        "version 99 is not supported.*newer"),
    "a version that is not an int": (lambda d: patched(d, lambda h: h.update(version="1")),
                                     "'version' must be an int"),
    "an undeclared dtype": (lambda d: patched(
        d, lambda h: h["arrays"][d.small].update(dtype="|O")), "dtype '\\|O'"),
    "a declaration that is not a shape": (lambda d: patched(
        d, lambda h: h["arrays"][d.small].update(shape=[-1])), "must be \\{'dtype'"),
}


@pytest.mark.parametrize("case", list(FILE_CASES))
def test_damaged_and_hostile_files_are_refused(reader, tmp_path, case):
    entry, valid = reader
    build, message = FILE_CASES[case]
    path = tmp_path / "bad.npz"
    path.write_bytes(build(valid))
    refuse(entry, path, message)


def test_mutated_files_are_refused_or_load_unchanged(reader, tmp_path):
    """Truncations and flipped bytes anywhere: a clear refusal, or the same content."""
    entry, valid = reader
    original_path = tmp_path / "valid.npz"
    original_path.write_bytes(valid)
    original = entry.read(original_path)
    n = len(valid)
    variants = [("cut", valid[:cut]) for cut in range(0, n, max(n // 40, 1))]
    for spot in range(0, n, max(n // 120, 1)):
        for value in (0x00, 0xFF):
            data = bytearray(valid)
            if data[spot] != value:
                data[spot] = value
                variants.append((f"byte {spot}={value:#x}", bytes(data)))
    refused = 0
    tracemalloc.start()
    try:
        for what, data in variants:
            path = tmp_path / "mutated.npz"
            path.write_bytes(data)
            try:
                loaded = entry.read(path)
            except ValueError as err:
                assert f"not a valid {entry.format_name} file" in str(err), (what, err)
                refused += 1
            else:
                assert not what.startswith("cut"), f"{what}: a truncated file loaded"
                assert entry.same(loaded, original), f"{what}: loaded something else"
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert refused > len(variants) // 2
    assert peak < MAX_REFUSAL_BYTES


# --------------------------------------------------------------------------
# Writers: a failed write leaves the previous file and no temporary file


@dataclass(frozen=True)
class Writer:
    write: Callable  # write(path)
    read: Callable  # read(path), to check the previous file still reads


WRITERS = {
    "save_model": Writer(lambda path: save_model(path, fitted("knn")), load_model),
    "save_session": Writer(lambda path: save_session(path, _session()), load_session),
}


def _full_disk_midway(monkeypatch):
    real = np.lib.format.write_array
    calls = []

    def write_array(fp, array, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            fp.write(b"\0" * 64)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fp, array, *args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", write_array)


def _fsync_fails(monkeypatch):
    def fsync(fd):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", fsync)


FAILURES = {"the disk fills up midway": _full_disk_midway, "fsync fails": _fsync_fails}


@pytest.mark.parametrize("failure", list(FAILURES))
@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch, writer, failure):
    entry = WRITERS[writer]
    path = tmp_path / "file.npz"
    path.write_bytes(b"previous")
    with monkeypatch.context() as patch:
        FAILURES[failure](patch)
        with pytest.raises(OSError):
            entry.write(path)
    assert path.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["file.npz"]
    entry.write(path)  # and a write that succeeds replaces it
    entry.read(path)


# --------------------------------------------------------------------------
# Model files with out-of-range or inconsistent fields


def _model_file(method, params=None, edit_header=None, edit_arrays=None) -> bytes:
    """A model file of ``method`` edited, declarations kept consistent with the arrays."""
    buffer = io.BytesIO()
    model = fitted(method, **(params or {}))
    folder = __import__("tempfile").mkdtemp()
    path = os.path.join(folder, "m.npz")
    save_model(path, model)
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    os.unlink(path)
    os.rmdir(folder)
    header = json.loads(str(arrays.pop("header")))
    if edit_header:
        edit_header(header)
    if edit_arrays:
        edit_arrays(arrays)
    header["arrays"] = {k: {"dtype": v.dtype.str, "shape": list(v.shape)}
                        for k, v in arrays.items()}
    text = json.dumps(header).replace(f'"{_INFINITE}"', "1e400")  # JSON parses it as inf
    np.savez_compressed(buffer, header=np.array(text), **arrays)
    return buffer.getvalue()


_INFINITE = "<a number too large for a float>"


def _params(**values):
    return lambda h: h["params"].update(values)


def _more_samples(n):
    def edit(arrays):
        reps = -(-n // arrays["train_X"].shape[0])
        arrays["train_X"] = np.tile(arrays["train_X"], (reps, 1))[:n]
        arrays["train_y"] = np.tile(arrays["train_y"], reps)[:n]
    return edit


def _empty_knn_state(arrays):
    arrays["state.X_"] = arrays["state.X_"][:0]
    arrays["state.y_"] = arrays["state.y_"][:0]


def _nan_threshold(arrays):
    arrays["state.threshold_"] = np.array(np.nan)


MODEL_EDITS = {
    "a forest of 10**6 trees": ("random_forest", _params(n_estimators=10**6), None,
                                "n_estimators=1000000 is outside \\[1, 1000\\]"),
    "a forest refit beyond the work cap": (
        "random_forest", _params(n_estimators=1000), _more_samples(6000),
        "refitting 1000 trees on 6000 samples exceeds"),
    "a forest of float trees": ("random_forest", _params(n_estimators=2.5), None,
                                "'n_estimators' must be an int"),
    "n_neighbors=10**9": ("knn", _params(n_neighbors=10**9), None, "outside \\[1, 10000\\]"),
    "more neighbours than samples": ("knn", _params(n_neighbors=5000), None,
                                     "n_neighbors=5000 exceeds the \\d+ training samples"),
    "an empty kNN state": ("knn", None, _empty_knn_state, "state array '(X|y)_' is empty"),
    "10**9 EM iterations": ("gmm", _params(max_iter=10**9), None, "max_iter"),
    "a block of 10**9 pixels": ("local", _params(block_size=10**9), None, "block_size"),
    "an infinite offset": ("local", _params(offset=_INFINITE), None, "'offset' must be a finite"),
    "a parameter that is a list": ("knn", _params(weights=["uniform"] * 3), None,
                                   "'weights' must be a finite number, a string"),
    "an unknown parameter": ("knn", _params(n_trees=3), None, "bad parameters.*n_trees"),
    "a parameter name of 100,000 characters": ("knn", _params(**{"k" * 100_000: 1}), None,
                                               "is not a parameter name"),
    "a method name of 100,000 characters": ("knn", lambda h: h.update(method="m" * 100_000),
                                            None, "unknown method"),
    "undeclared members by the hundred": ("knn", None, lambda a: a.update(
        {f"state.extra{i}": np.zeros(1) for i in range(200)}), "state array|state needs"),
    "a feature σ of 10**9": ("knn", lambda h: h["features"].update(
        filters=[["intensity", 0.0], ["gaussian", 1e9]]), None, "σ of 1e\\+09 pixels"),
    "10,000 filters": ("knn", lambda h: h["features"].update(
        filters=[["gaussian", 1.0 + i] for i in range(10_000)]), None, "1 to 256 filters"),
    "a filter that is not a pair": ("knn", lambda h: h["features"].update(
        filters=[["gaussian"]]), None, "must be \\[name, sigma\\]"),
    "10**6 channels": ("knn", lambda h: h.update(n_channels=10**6), None, "'n_channels'"),
    "ndim 4": ("knn", lambda h: h.update(ndim=4), None, "'ndim'"),
    "a zero spacing": ("knn", lambda h: h.update(spacing=[0.0, 1.0]), None, "spacing"),
    "a label beyond int64": ("knn", lambda h: h.update(classes=[1, 2**70]), None, "classes"),
    "unsorted classes": ("knn", lambda h: h.update(classes=[3, 2, 1]), None, "sorted"),
    "a NaN threshold": ("otsu", None, _nan_threshold, "NaN or infinite"),
    "a NaN sample": ("knn", None, lambda a: a["train_X"].__setitem__((0, 0), np.nan), "NaN"),
    "a refit flag that lies": ("knn", lambda h: h.update(refit_on_load=True), None,
                               "refit_on_load=True does not match"),
    "an input that lies": ("otsu", lambda h: h.update(input="features"), None,
                           "input 'features' does not match"),
}


@pytest.mark.parametrize("case", list(MODEL_EDITS))
def test_model_fields_out_of_range_are_refused(tmp_path, case):
    method, edit_header, edit_arrays, message = MODEL_EDITS[case]
    data = _model_file(method, edit_header=edit_header, edit_arrays=edit_arrays)
    path = tmp_path / "edited.npz"
    path.write_bytes(data)
    refuse(READERS["model"], path, message)


# --------------------------------------------------------------------------
# API calls with bad arguments


def _save_to_a_folder(tmp_path):
    (tmp_path / "folder").mkdir()
    save_model(tmp_path / "folder", fitted())


API_CASES = {
    "save_model of a string": (lambda tmp: save_model(tmp / "m.npz", "model"), TypeError,
                               "must be a SeededModel"),
    "save_model of an unfitted model": (lambda tmp: save_model(
        tmp / "m.npz", SeededModel("knn")), ValueError, "not fitted"),
    "save_model onto a folder": (_save_to_a_folder, OSError, None),
    "save_model into a missing folder": (lambda tmp: save_model(
        tmp / "no" / "m.npz", fitted()), FileNotFoundError, None),
    "save_model with a NaN parameter": (lambda tmp: save_model(
        tmp / "m.npz", _with_params(fitted("local"), offset=float("nan"))), ValueError,
        "cannot be saved: parameter 'offset' must be a finite number"),
    "load_model of None": (lambda tmp: load_model(None), TypeError, "path must be"),
}


def _with_params(model, **params):
    import copy

    model = copy.deepcopy(model)
    model.segmenter_.set_params(**params)
    return model


@pytest.mark.parametrize("case", list(API_CASES))
def test_bad_api_calls_raise_clear_errors(tmp_path, case):
    call, kind, message = API_CASES[case]
    with pytest.raises(kind, match=message):
        call(tmp_path)
    left = [p.name for p in tmp_path.rglob("*") if p.name != "folder"]
    assert left == [], "a file was written or a temporary file left"


# The headless entry point: (changes to the arguments, exception, words the message has).
SEGMENT_CASES = {
    "an unknown method": ({"method": "svm"}, ValueError, "unknown method 'svm'"),
    "seeds of another shape": ({"seeds": _SEEDS[:5]}, ValueError, "shape"),
    "negative seeds": ({"seeds": -_SEEDS.astype(np.int8)}, ValueError, ">= 0"),
    "float seeds": ({"seeds": _SEEDS.astype(float)}, TypeError, "integer"),
    "one seed class": ({"seeds": (_SEEDS == 1).astype(np.uint8)}, ValueError, "two classes"),
    "no seeds": ({"seeds": np.zeros_like(_SEEDS)}, ValueError, "seeds"),
    "a complex image": ({"image": _IMAGE.astype(complex)}, TypeError, "real numbers"),
    "an image of strings": ({"image": np.full(_IMAGE.shape, "a")}, TypeError, "real numbers"),
    "a 1D image": ({"image": _IMAGE[0], "seeds": _SEEDS[0]}, ValueError, "2D or 3D"),
    "an unknown parameter": ({"n_trees": 3}, TypeError, "n_trees"),
}


@pytest.mark.parametrize("case", list(SEGMENT_CASES))
def test_bad_segment_calls_raise_clear_errors_and_keep_the_seeds(case):
    import napari_seglab

    changes, kind, words = SEGMENT_CASES[case]
    args = {"image": _IMAGE, "seeds": _SEEDS, "method": "knn", "features": "minimal",
            **changes}
    seeds = np.asarray(args["seeds"])
    before = seeds.copy()
    with pytest.raises(kind, match=words):
        napari_seglab.segment(args.pop("image"), args.pop("seeds"), **args)
    assert np.array_equal(seeds, before), "the seeds were modified"


# --------------------------------------------------------------------------
# Image files (issue 26): one front door, nothing read from outside, nothing hangs.
# Tiny hostile files made here; every refusal names the file and is never empty.

import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

from napari_seglab.io import read_image  # noqa: E402
from napari_seglab.io.dicom import read_dicom  # noqa: E402


def within_seconds(call, seconds=30):
    """``call()``'s outcome (value or exception); fails if it blocks (a FIFO)."""
    outcome = []

    def run():
        try:
            outcome.append(call())
        except BaseException as err:  # noqa: BLE001 - reported to the test
            outcome.append(err)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)  # a guard against a hang, not a speed test
    assert not worker.is_alive(), "blocked"
    return outcome[0]


def refused(call, *words, path=None):
    """``call()`` raises a ValueError naming ``path`` and ``words``; never blocks."""
    err = within_seconds(call)
    assert isinstance(err, ValueError), repr(err)
    text = str(err)
    if path is not None:
        assert str(path) in text, text
    for word in words:
        assert word in text, text
    assert not text.rstrip().endswith(":") and "Traceback" not in text
    return text


def _nhdr(folder, data_file, sizes="4 3 2", extra=""):
    header = folder / "volume.nhdr"
    header.write_text(f"NRRD0004\ntype: uint8\ndimension: 3\nsizes: {sizes}\n"
                      f"encoding: raw\n{extra}data file: {data_file}\n")
    return header


def _outside(tmp_path):
    secret = tmp_path / "outside" / "secret.raw"
    secret.parent.mkdir()
    secret.write_bytes(bytes(range(24)))
    case = tmp_path / "case" / "deeper"
    case.mkdir(parents=True)
    return case, secret


@pytest.mark.parametrize("how", ["climbing", "absolute"])
def test_an_nrrd_data_file_outside_its_folder_is_not_read(tmp_path, how):
    from napari_seglab import _reader

    case, secret = _outside(tmp_path)
    name = "../../outside/secret.raw" if how == "climbing" else str(secret)
    header = _nhdr(case, name)
    refused(lambda: read_image(header), "outside", path=header)
    refused(lambda: _reader.read_layers(header), "outside", path=header)
    (case / "inside.raw").write_bytes(bytes(range(24)))  # beside it: read
    good = _nhdr(case, "inside.raw")
    assert read_image(good).data.shape == (2, 3, 4)


def test_an_image_named_by_a_session_is_confined_to_its_folder(tmp_path):
    image = np.arange(12, dtype=np.float32).reshape(3, 4)
    for where in ("a/data", "b/data", "b/proj/data"):
        (tmp_path / where).mkdir(parents=True)
    np.save(tmp_path / "a/data/img.npy", image)
    session = Session(images=[image_ref("img", image, path=str(tmp_path / "a/data/img.npy"))],
                      seeds=SeedsState(np.zeros((3, 4), np.uint8)))
    (tmp_path / "a/proj").mkdir()
    save_session(tmp_path / "a/proj/s.npz", session)  # relative_path ../data/img.npy
    os.replace(tmp_path / "a/proj/s.npz", tmp_path / "b/proj/s.npz")
    os.replace(tmp_path / "a/data/img.npy", tmp_path / "b/data/img.npy")  # outside b/proj
    with pytest.warns(UserWarning, match="outside"):
        loaded = load_session(tmp_path / "b/proj/s.npz")
    assert loaded.images[0].path == str(tmp_path / "a/data/img.npy")  # not followed: missing
    # a project folder moved as a whole still finds its image
    save_session(tmp_path / "b/s.npz", Session(
        images=[image_ref("img", image, path=str(tmp_path / "b/proj/data/img.npy"))],
        seeds=SeedsState(np.zeros((3, 4), np.uint8))))
    np.save(tmp_path / "b/proj/data/img.npy", image)
    os.rename(tmp_path / "b", tmp_path / "c")
    assert load_session(tmp_path / "c/s.npz").images[0].path == \
        str(tmp_path / "c/proj/data/img.npy")


def test_ome_zarr_labels_outside_the_image_are_not_opened(tmp_path):
    zarr = pytest.importorskip("zarr")
    from napari_seglab.io.zarr_store import create_labels_array, open_zarr

    other = tmp_path / "other.zarr"
    create_labels_array(other, (4, 4), (4, 4), np.uint8, name="stolen")
    path = tmp_path / "deep" / "img.zarr"
    root = zarr.open_group(str(path), mode="w")
    root.create_array("0", data=np.zeros((4, 4), np.float32))
    root.attrs["ome"] = {"version": "0.5", "multiscales": [{
        "axes": [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [1.0, 1.0]}]}]}]}
    labels = root.create_group("labels")
    labels.attrs["ome"] = {"version": "0.5",
                           "labels": ["../../../other.zarr/stolen", str(other / "stolen")]}
    with pytest.warns(UserWarning, match="outside the image folder"):
        image = open_zarr(path)
    assert image.labels == {}
    # a dataset path that climbs out is refused outright
    root.attrs["ome"] = {**root.attrs["ome"], "multiscales": [{
        "axes": [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
        "datasets": [{"path": "../../other.zarr/stolen/0"}]}]}
    refused(lambda: open_zarr(path), "outside the image folder", path=path)


def test_fifos_are_never_opened(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    from pydicom.data import get_testdata_file

    from napari_seglab import _reader, cli

    # a FIFO inside a DICOM folder is skipped (named), the series read
    folder = tmp_path / "series"
    folder.mkdir()
    (folder / "a.dcm").write_bytes(Path(get_testdata_file("CT_small.dcm")).read_bytes())
    os.mkfifo(folder / "b.dcm")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        volumes = within_seconds(lambda: read_dicom(folder))
    assert len(volumes) == 1 and volumes[0].data.shape == (1, 128, 128)
    assert any("a named pipe" in str(w.message) for w in caught)
    # a FIFO as NRRD data file, as an image, as a session's image
    os.mkfifo(tmp_path / "data.raw")
    header = _nhdr(tmp_path, "data.raw")
    refused(lambda: read_image(header), "named pipe")
    for name in ("pipe.nii", "pipe.npy", "pipe.nrrd", "pipe.tif"):
        os.mkfifo(tmp_path / name)
        refused(lambda n=name: read_image(tmp_path / n), "named pipe", path=tmp_path / name)
        assert within_seconds(lambda n=name: _reader.napari_get_reader(str(tmp_path / n))) \
            is None
    assert within_seconds(lambda n=name: cli.main(["evaluate", str(tmp_path / "pipe.npy"),
                                                   str(tmp_path / "pipe.npy")])) == 1
    image = np.zeros((3, 4), np.float32)
    session = Session(images=[image_ref("img", image, path=str(tmp_path / "pipe.npy"))],
                      seeds=SeedsState(np.zeros((3, 4), np.uint8)))
    save_session(tmp_path / "s.npz", session)
    refused(lambda: load_session(tmp_path / "s.npz"), "named pipe")


def test_declared_sizes_are_checked_before_allocating(tmp_path):
    import nibabel as nib

    zarr = pytest.importorskip("zarr")
    from napari_seglab.io.zarr_store import open_zarr

    huge = tmp_path / "huge.zarr"
    zarr.create_array(str(huge), shape=(10**8,) * 3, chunks=(1, 1, 1), dtype="uint8")
    many = tmp_path / "many.zarr"
    zarr.create_array(str(many), shape=(10**4,) * 3, chunks=(1, 1, 1), dtype="uint8")
    nrrd_file = tmp_path / "big.nrrd"
    nrrd_file.write_bytes(b"NRRD0004\ntype: float\ndimension: 3\nsizes: 4096 4096 4096\n"
                          b"encoding: raw\n\n" + bytes(64))
    npy_file = tmp_path / "big.npy"
    npy_file.write_bytes(npy_header("<f8", (100_000, 100_000)) + bytes(64))
    nii = nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), np.eye(4))
    nii.header.set_data_shape((2048, 2048, 2048))
    nii_file = tmp_path / "big.nii"
    nii_file.write_bytes(nii.header.binaryblock + bytes(4 + 64))
    import tifffile

    tif_file = tmp_path / "big.tif"
    tifffile.imwrite(tif_file, np.zeros((64, 64), np.uint8), metadata=None)
    tags = bytearray(tif_file.read_bytes())  # ImageWidth / ImageLength (LONG 64) → 60000
    for tag in (256, 257):
        at = tags.find(struct.pack("<HHII", tag, 4, 1, 64))
        assert at > 0
        tags[at + 8:at + 12] = struct.pack("<I", 60000)
    tif_file.write_bytes(bytes(tags))
    tracemalloc.start()
    try:
        refused(lambda: open_zarr(huge), path=huge)
        refused(lambda: open_zarr(many), "chunks", path=many)
        for path in (nrrd_file, npy_file, nii_file, tif_file):
            refused(lambda p=path: read_image(p), "truncated", path=path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MAX_REFUSAL_BYTES, f"refusing took {peak / 2**20:.0f} MiB"


def test_dicom_positions_cannot_inflate_a_volume(tmp_path):
    from test_io_dicom import write_series

    write_series(tmp_path, n=3, step=1.0)
    for path, z in zip(sorted(tmp_path.iterdir()), (0.0, 0.002, 200.0), strict=True):
        ds = __import__("pydicom").dcmread(path)
        ds.ImagePositionPatient = [0.0, 0.0, z]
        ds.save_as(path)
    with pytest.warns(UserWarning, match="empty slices"):
        (volume,) = read_dicom(tmp_path)
    assert volume.data.shape[0] == 3


@pytest.mark.parametrize("tag, value, expect", [
    ("ImagePositionPatient", [0.0, float("nan"), 0.0], "ImagePositionPatient"),
    ("ImagePositionPatient", [0.0, 0.0, float("inf")], "ImagePositionPatient"),
    ("RescaleSlope", "NaN", "RescaleSlope"),
    ("PixelSpacing", [float("inf"), 1.0], "PixelSpacing"),
    ("ImageOrientationPatient", [1, 0, 0, 1, 0, 0], "degenerate"),
])
def test_non_finite_or_degenerate_dicom_geometry_is_refused(tmp_path, tag, value, expect):
    import pydicom
    from test_io_dicom import write_series

    write_series(tmp_path, n=3)
    victim = sorted(tmp_path.iterdir())[1]
    ds = pydicom.dcmread(victim)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's note on an invalid DS
        if tag == "RescaleSlope":
            ds[tag].value = value  # a DS string as found in the file
        else:
            setattr(ds, tag, value)
        ds.save_as(victim)
    refused(lambda: read_dicom(tmp_path), expect, path=victim)


@pytest.mark.parametrize("case", ["nan", "singular"])
def test_a_nifti_affine_must_be_finite_and_invertible(tmp_path, case):
    import nibabel as nib

    affine = np.eye(4)
    if case == "nan":
        affine[0, 3] = np.nan
    else:
        affine[2] = [0, 0, 0, 0]
    image = nib.Nifti1Image(np.zeros((4, 4, 4), np.uint8), None)
    image.header.set_sform(affine, code=1)
    path = tmp_path / f"{case}.nii"
    path.write_bytes(image.header.binaryblock + bytes(4) + bytes(64))
    refused(lambda: read_image(path), "sform", path=path)


def test_nrrd_and_zarr_geometry_must_be_finite(tmp_path):
    zarr = pytest.importorskip("zarr")
    from napari_seglab.io.zarr_store import open_zarr

    (tmp_path / "d.raw").write_bytes(bytes(24))
    header = _nhdr(tmp_path, "d.raw", extra="space: left-posterior-superior\n"
                   "space directions: (1,0,0) (0,1,0) (0,0,1)\nspace origin: (nan,0,0)\n")
    refused(lambda: read_image(header), "'space origin'", path=header)
    path = tmp_path / "img.zarr"
    root = zarr.open_group(str(path), mode="w")
    root.create_array("0", data=np.zeros((4, 4), np.float32))
    root.attrs["ome"] = {"version": "0.5", "multiscales": [{
        "axes": [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [float("nan"), 1.0]}]}]}]}
    refused(lambda: open_zarr(path), "scale", path=path)


@pytest.mark.parametrize("damage", ["no datasets path", "axes of another rank",
                                    "labels refer to themselves", "multiscales a string",
                                    "bad zarr.json"])
def test_malformed_ome_zarr_is_one_clear_message(tmp_path, damage):
    zarr = pytest.importorskip("zarr")
    from napari_seglab.io.zarr_store import open_zarr

    path = tmp_path / "img.zarr"
    root = zarr.open_group(str(path), mode="w")
    root.create_array("0", data=np.zeros((4, 4), np.float32))
    ms = {"axes": [{"name": "y"}, {"name": "x"}], "datasets": [{"path": "0"}]}
    if damage == "no datasets path":
        ms["datasets"] = [{"coordinateTransformations": []}]
    elif damage == "axes of another rank":
        ms["axes"] = [{"name": "z"}, {"name": "y"}, {"name": "x"}]
    elif damage == "multiscales a string":
        ms = "yes"
    root.attrs["ome"] = {"version": "0.5", "multiscales": [ms] if ms != "yes" else ms}
    if damage == "labels refer to themselves":
        root.create_group("labels").attrs["ome"] = {"version": "0.5", "labels": ["."]}
        label_group = zarr.open_group(str(path / "labels"), mode="r+")
        label_group.attrs["ome"] = {"version": "0.5", "labels": ["..", "."]}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = within_seconds(lambda: open_zarr(path))
        assert not isinstance(image, BaseException) and image.labels == {}
        return
    if damage == "bad zarr.json":
        (path / "zarr.json").write_text("{ not json")
    refused(lambda: open_zarr(path), path=path)


def test_a_syntax_no_package_decodes_is_named_without_an_install_hint(tmp_path):
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.encaps import encapsulate
    from pydicom.uid import MPEG2MPML

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.file_meta.TransferSyntaxUID = MPEG2MPML
    ds.PixelData = encapsulate([bytes(ds.PixelData)])
    ds["PixelData"].VR = "OB"
    path = tmp_path / "video.dcm"
    ds.save_as(path, enforce_file_format=True)
    text = refused(lambda: read_image(path), "MPEG2", path=path)
    assert "napari-seglab[dicom]" not in text


def test_messages_of_damaged_image_files_are_never_empty(tmp_path):
    cases = {"empty.nii": b"", "zeros.nii": bytes(400), "junk.nrrd": b"NRRD0004\nsizes: x\n",
             "junk.npy": b"\x93NUMPY\x01\x00", "junk.tif": b"II*\x00junk", "empty.nii.gz": b""}
    for name, payload in cases.items():
        (tmp_path / name).write_bytes(payload)
        text = refused(lambda n=name: read_image(tmp_path / n), path=tmp_path / name)
        assert not text.endswith(": ") and len(text) > len(str(tmp_path / name)) + 10


# --------------------------------------------------------------------------
# Long jobs stop cleanly (issue 26): an input removed or reshaped, the section
# closed. Real widgets; waits on conditions, never fixed sleeps.


@pytest.fixture
def volume_model():
    image, truth = tissue_phantom((12, 40, 40), random_state=0)
    model = SeededModel("nearest_mean", "minimal").fit(image, scribble_seeds(truth))
    return image.astype(np.float32), model


def _whole_volume(make_napari_viewer, qtbot, volume_model, tmp_path, register=True):
    from napari_seglab._widgets.blockwise import BlockwiseWidget

    image, model = volume_model
    viewer = make_napari_viewer()
    layer = viewer.add_image(image, name="vol")
    widget = BlockwiseWidget(viewer)
    if register:  # a section that is deleted in the test is not qtbot's to close
        qtbot.addWidget(widget)
    widget.set_model(model)
    worker = widget.run(str(tmp_path / "out" / "whole.zarr"), chunks=4)
    return viewer, layer, widget, worker


@pytest.mark.gui
@pytest.mark.parametrize("event", ["removed", "reshaped", "section closed"])
def test_whole_volume_to_zarr_stops_and_leaves_nothing(make_napari_viewer, qtbot,
                                                       volume_model, tmp_path, event):
    (tmp_path / "out").mkdir()
    viewer, layer, widget, worker = _whole_volume(make_napari_viewer, qtbot, volume_model,
                                                  tmp_path, register=event != "section closed")
    from napari_seglab._widgets.jobs import alive

    finished = []
    worker.finished.connect(lambda: finished.append(True))  # before any event runs
    if event == "removed":
        viewer.layers.remove(layer)
    elif event == "reshaped":
        layer.data = np.zeros((3, 5, 5), np.float32)
    else:
        widget.close()
        widget.deleteLater()
        qtbot.waitUntil(lambda: not alive(widget))
        viewer.layers.remove(layer)  # the deleted section is not told (no error)
    qtbot.waitUntil(lambda: bool(finished), timeout=60_000)
    qtbot.waitUntil(lambda: not list((tmp_path / "out").iterdir()), timeout=10_000)
    assert "vol whole-volume labels" not in viewer.layers
    if event != "section closed":
        assert "stopped" in widget.status.text() and "'vol'" in widget.status.text()
        assert widget.run_button.isEnabled() and not widget.job.running


@pytest.mark.gui
def test_whole_volume_dialog_asks_about_the_folder_it_will_replace(make_napari_viewer, qtbot,
                                                                    volume_model, tmp_path,
                                                                    monkeypatch):
    from qtpy.QtWidgets import QFileDialog, QMessageBox

    from napari_seglab._widgets import blockwise

    image, model = volume_model
    existing = tmp_path / "input.zarr"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    viewer = make_napari_viewer()
    viewer.add_image(image, name="vol")
    widget = blockwise.BlockwiseWidget(viewer)
    qtbot.addWidget(widget)
    widget.set_model(model)
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *a, **k: (str(tmp_path / "input"), ""))
    asked = []

    def answer(parent, title, text, *args):
        asked.append(text)
        return QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "question", answer)
    assert widget._choose_output() is None
    assert len(asked) == 1 and str(existing) in asked[0]
    assert (existing / "keep.txt").read_text() == "mine" and not widget.job.running
    assert widget.run(str(existing)) is None  # no confirmation: refused
    assert (existing / "keep.txt").read_text() == "mine"
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a: QMessageBox.StandardButton.Yes)
    assert widget._choose_output() is not None
    qtbot.waitUntil(lambda: "vol whole-volume labels" in viewer.layers, timeout=60_000)
    assert not (existing / "keep.txt").exists() and (existing / "zarr.json").exists()


def _growing(make_napari_viewer, qtbot, register=True):
    from napari_seglab._widgets.grow import GrowFromSeedsWidget

    viewer = make_napari_viewer()
    image, _ = tissue_phantom((24, 96, 96), random_state=4)
    viewer.add_image(image, name="phantom")
    seeds = np.zeros(image.shape, np.uint8)
    seeds[12, 10:20, 10:20], seeds[12, 60:70, 60:70] = 1, 2
    viewer.add_labels(seeds, name="seeds")
    widget = GrowFromSeedsWidget(viewer)
    if register:
        qtbot.addWidget(widget)
    widget._update_segment_list()
    widget.request_preview()
    assert widget.busy
    return viewer, widget


@pytest.mark.gui
@pytest.mark.parametrize("event", ["image removed", "seeds removed", "image reshaped",
                                   "section closed"])
def test_grow_preview_stops_cleanly(make_napari_viewer, qtbot, event):
    viewer, widget = _growing(make_napari_viewer, qtbot, register=event != "section closed")
    finished = []
    widget._worker.finished.connect(lambda: finished.append(True))  # before any event runs
    if event == "image removed":
        viewer.layers.remove("phantom")
    elif event == "seeds removed":
        viewer.layers.remove("seeds")
    elif event == "image reshaped":
        viewer.layers["phantom"].data = np.zeros((4, 8, 8), np.float32)
    else:
        widget.close()
        widget.deleteLater()
    qtbot.waitUntil(lambda: bool(finished), timeout=60_000)
    from napari_seglab._widgets.jobs import alive

    if event == "section closed":
        qtbot.waitUntil(lambda: not alive(widget))
        return
    qtbot.waitUntil(lambda: not widget.busy)
    assert "Growing" not in widget.status.text()
    assert widget.preview_layer is None  # nothing shown from the stopped run
    if event == "image reshaped":  # stopped, then the next request says what to fix
        assert "shape" in widget.status.text()


@pytest.mark.gui
@pytest.mark.parametrize("event", ["removed", "reshaped"])
def test_clean_up_stops_when_its_layer_goes(make_napari_viewer, qtbot, event):
    from napari_seglab._widgets.cleanup import CleanUpWidget

    viewer = make_napari_viewer()
    labels = np.zeros((20, 64, 64), np.uint8)
    labels[::3, ::3, ::3] = 1
    layer = viewer.add_labels(labels, name="segmentation")
    widget = CleanUpWidget(viewer)
    qtbot.addWidget(widget)
    widget.apply()
    assert widget.busy  # the result can only arrive once the event loop runs
    if event == "removed":
        viewer.layers.remove(layer)
    else:
        layer.data = np.zeros((4, 4, 4), np.uint8)
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    assert "stopped" in widget.status.text() and "nothing was written" in widget.status.text()
    if event == "reshaped":
        assert not layer.data.any()


@pytest.mark.gui
def test_live_update_stops_when_the_image_changes_shape(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-seglab", "phantom_2d")
    _, panel = viewer.window.add_plugin_dock_widget("napari-seglab", "Segmentation Lab")
    seg = panel.segmentation
    seeds = viewer.layers["seeds"]
    scribbles = scribble_seeds(viewer.layers["ground truth"].data)
    index = np.nonzero(scribbles)
    seeds.data_setitem(index, scribbles[index])
    seg.live.value = True
    qtbot.waitUntil(lambda: not seg.live_job.running, timeout=60_000)
    worker = seg.start_live_preview()
    assert worker is not None
    finished, shown = [], []
    worker.finished.connect(lambda: finished.append(True))  # before any event runs
    seg.live_shown.connect(shown.append)
    viewer.layers["phantom 2D"].data = np.zeros((30, 30), np.float32)
    qtbot.waitUntil(lambda: bool(finished), timeout=60_000)
    qtbot.waitUntil(lambda: not seg.live_job.running, timeout=60_000)
    assert "shape" in seg.status.value  # stopped; the next preview says what to fix
    assert all(generation is None for generation in shown)  # the stale result not shown


@pytest.mark.gui
def test_a_session_with_a_huge_seed_label_is_saved(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-seglab", "phantom_2d")
    _, panel = viewer.window.add_plugin_dock_widget("napari-seglab", "Segmentation Lab")
    seeds = viewer.layers["seeds"]
    data = np.zeros(seeds.data.shape, np.uint32)
    data[5, 5:9], data[20, 20:24] = 1, 3_000_000_000
    seeds.data = data
    path = tmp_path / "huge.seglab-session.npz"
    assert panel.session.save(path=path) == path
    assert load_session(path).seeds.data.max() == 3_000_000_000
