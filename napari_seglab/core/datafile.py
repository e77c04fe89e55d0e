"""Data files: one JSON header and named NumPy arrays in a zip, read defensively.

The container behind model files (and sessions): a NumPy ``.npz`` archive
that ``np.load(path, allow_pickle=False)`` also opens, holding

``header.npy``
    A 0-d unicode array: a JSON object with at least ``"format"`` (a name),
    ``"version"`` (an int) and ``"arrays"`` (``{name: {"dtype": str,
    "shape": [int, ...]}}``, written by :func:`write_datafile`).
``<name>.npy``
    One plain numeric array (bool, int, uint or float; never objects) per
    name the header declares.

:func:`write_datafile` replaces the file atomically (a failed write leaves
the old one). :func:`read_datafile` trusts nothing in the file: it refuses a
path that is not a regular file before opening it (a FIFO or a device would
block), reads the header member first and within a size limit, accepts only
declared members from a list of known names, checks each member's size in
the zip directory and its ``.npy`` header (dtype, shape) against the
declaration and a byte budget *before* decompressing it, reads no byte past
the declared size, and turns every failure into one :class:`InvalidFileError`
(a ``ValueError``) naming the path, the format and the reason.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import struct
import tokenize
import zipfile
import zlib

import numpy as np

from .files import atomic_write

__all__ = ["InvalidFileError", "read_datafile", "write_datafile"]

#: Largest header member (bytes, uncompressed) a reader accepts.
MAX_HEADER_BYTES = 1 << 20
#: Most members a file may hold.
MAX_MEMBERS = 256
#: Largest ``.npy`` header inside a member (numpy writes ~128 bytes).
_MAX_NPY_HEADER = 4096
_READ_CHUNK = 1 << 20
_MAX_REASON = 300
_HEADER = "header"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]{0,63})?")
#: dtype kinds arrays may have: bool, signed and unsigned ints, floats.
_KINDS = "biuf"
#: Exceptions that reading a damaged or hostile file raises from zipfile,
#: zlib, numpy's .npy parser and json (e.g. NotImplementedError for an
#: unknown compression, RecursionError for deeply nested JSON).
_READ_ERRORS = (ValueError, TypeError, KeyError, IndexError, OSError, EOFError,
                zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, struct.error,
                NotImplementedError, RecursionError, MemoryError, OverflowError,
                UnicodeError, SyntaxError, tokenize.TokenError)


class InvalidFileError(ValueError):
    """A file that is damaged, truncated, hostile or of another format.

    ``str(err)`` is ``"<path>: not a valid <format> file: <reason>"``.
    """

    def __init__(self, path, format_name, reason):
        if len(reason) > _MAX_REASON:  # a reason may quote the file: keep it readable
            reason = reason[:_MAX_REASON - 1] + "…"
        self.path, self.format_name, self.reason = os.fspath(path), format_name, reason
        super().__init__(f"{self.path}: not a valid {format_name} file: {reason}")


def write_datafile(path, header: dict, arrays: dict) -> None:
    """Write ``header`` (JSON) and ``arrays`` to ``path``, atomically.

    ``header["arrays"]`` is set to the arrays' dtypes and shapes (what
    :func:`read_datafile` checks).

    Parameters
    ----------
    path : str or os.PathLike
    header : dict
        JSON-serialisable; NaN and infinities are refused.
    arrays : dict of str to ndarray
        Names like ``"train_X"`` or ``"state.centroids_"``; plain numeric
        arrays (bool, int, uint, float).

    Raises
    ------
    ValueError
        A header that is not JSON, a bad name or an array of another dtype.
    OSError
        The write failed (full disk, permission); ``path`` is left as it was.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "demo.npz"
    >>> write_datafile(path, {"format": "demo", "version": 1}, {"x": np.arange(3)})
    >>> header, arrays = read_datafile(path, format_name="demo", max_version=1,
    ...                                allowed_members={"x"}, max_bytes=1 << 20)
    >>> header["version"], arrays["x"].tolist()
    (1, [0, 1, 2])
    """
    if not isinstance(header, dict):
        raise TypeError(f"header must be a dict; got {type(header).__name__}")
    checked = {}
    for name, value in arrays.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name) or name == _HEADER:
            raise ValueError(f"array name {name!r} is not allowed (letters, digits, _, "
                             "one optional '.'; not 'header')")
        value = np.asarray(value)
        if value.dtype.kind not in _KINDS or value.dtype.fields is not None:
            raise ValueError(f"array {name!r} has dtype {value.dtype}; only bool, int, "
                             "uint and float arrays are stored")
        checked[name] = value
    header = dict(header)
    header["arrays"] = {k: {"dtype": v.dtype.str, "shape": list(v.shape)}
                        for k, v in checked.items()}
    try:
        text = json.dumps(header, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"the header cannot be written as JSON: {err}") from None
    with atomic_write(path, "wb") as fh, zipfile.ZipFile(
            fh, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for name, value in [(_HEADER, np.array(text))] + list(checked.items()):
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, value, allow_pickle=False)


def read_datafile(path, *, format_name, max_version, allowed_members, max_bytes,
                  max_header_bytes=MAX_HEADER_BYTES):
    """Read a file written by :func:`write_datafile`, checking everything first.

    Parameters
    ----------
    path : str or os.PathLike
    format_name : str
        The header's ``"format"`` must equal it.
    max_version : int
        Highest ``"version"`` this reader knows (versions start at 1).
    allowed_members : collection of str
        Array names the format may hold; a name ending in ``"*"`` is a
        prefix (``"state.*"`` allows ``"state.X_"``).
    max_bytes : int
        Most bytes all arrays may take once read (the zip directory's and
        the ``.npy`` headers' sizes are checked against it before reading).
    max_header_bytes : int, default 1 MiB
        Largest header member.

    Returns
    -------
    header : dict
        The parsed JSON header (``"arrays"`` included).
    arrays : dict of str to ndarray
        Exactly the arrays the header declares, with the declared dtypes
        and shapes.

    Raises
    ------
    TypeError
        ``path`` is not a path (an int would be taken as a file descriptor).
    InvalidFileError
        (a ``ValueError``) The path is not a regular file, or the file is
        damaged, truncated, too large, of another format or a newer version,
        or holds undeclared or unknown members.
    FileNotFoundError, PermissionError
        The path does not exist or cannot be read (Python's own errors).
    """
    if isinstance(path, int) or not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike; got {type(path).__name__}")
    try:
        info = os.stat(path)
    except (FileNotFoundError, PermissionError):
        raise
    except (OSError, ValueError) as err:  # a name too long, a NUL byte
        raise InvalidFileError(path, format_name, f"cannot read it ({err})") from None
    if not stat.S_ISREG(info.st_mode):
        raise InvalidFileError(path, format_name, f"not a regular file ({_kind(info)})")
    # O_NONBLOCK: if the path was swapped for a FIFO since stat, open() must not wait.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        fh = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with fh:
        try:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ValueError(f"not a regular file ({_kind(info)})")
            if info.st_size > max_bytes + max_header_bytes + (1 << 20):
                raise ValueError(f"{info.st_size} bytes is larger than any such file "
                                 f"({max_bytes} bytes of arrays at most)")
            return _read_archive(fh, format_name, max_version, allowed_members, max_bytes,
                                 max_header_bytes)
        except InvalidFileError:
            raise
        except _READ_ERRORS as err:
            raise InvalidFileError(path, format_name, _reason(err)) from None


def _kind(info) -> str:
    mode = info.st_mode
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a file"


def _reason(err) -> str:
    if isinstance(err, RecursionError):
        return "the header is nested too deeply"
    if isinstance(err, MemoryError):
        return "a member is too large to read"
    if isinstance(err, NotImplementedError):
        return f"unsupported zip feature ({err})"
    text = str(err) or type(err).__name__
    return text if isinstance(err, ValueError) else f"{type(err).__name__}: {text}"


def _read_archive(fh, format_name, max_version, allowed_members, max_bytes,
                  max_header_bytes):
    start = fh.read(6)
    fh.seek(0)
    if start == b"\x93NUMPY":
        raise ValueError("a single NumPy .npy array, not a .npz archive")
    if not zipfile.is_zipfile(fh):
        raise ValueError("not a readable .npz archive (not a zip file)")
    fh.seek(0)
    with zipfile.ZipFile(fh) as archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ValueError(f"{len(infos)} entries; such files hold {MAX_MEMBERS} at most")
        members = {}
        for zinfo in infos:
            name = zinfo.filename
            if not name.endswith(".npy") or not _NAME.fullmatch(name[:-4]):
                raise ValueError(f"unexpected entry {name!r}")
            if name[:-4] in members:
                raise ValueError(f"entry {name!r} appears twice")
            if zinfo.flag_bits & 0x1:
                raise ValueError(f"entry {name!r} is encrypted")
            if zinfo.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise ValueError(f"entry {name!r} uses an unsupported compression "
                                 f"(method {zinfo.compress_type})")
            members[name[:-4]] = zinfo
        if _HEADER not in members:
            raise ValueError("a .npz archive without a 'header' entry (entries: "
                             f"{_names(sorted(members))[1:-1] or 'none'})")
        try:
            text = _read_header_text(archive, members.pop(_HEADER), max_header_bytes)
        except _READ_ERRORS as err:
            raise _Damaged(_HEADER, err) from None
        header = _parse_header(text, format_name, max_version)
        declared = _declared_arrays(header, allowed_members, max_bytes)
        extra, missing = sorted(set(members) - set(declared)), sorted(set(declared) - set(members))
        if extra:
            raise ValueError(f"entries {_names(extra)} are not declared in the header")
        if missing:
            raise ValueError(f"entries {_names(missing)} that the header declares are missing")
        for name, (dtype, shape, nbytes) in declared.items():
            size = members[name].file_size
            if not nbytes < size <= nbytes + _MAX_NPY_HEADER:
                raise ValueError(f"entry {name!r} holds {size} bytes; the header declares "
                                 f"{dtype.str} {list(shape)} ({nbytes} bytes)")
        arrays = {}
        for name, (dtype, shape, nbytes) in declared.items():
            try:
                arrays[name] = _read_member(archive, members[name], name, dtype, shape,
                                            nbytes)
            except _READ_ERRORS as err:
                raise _Damaged(name, err) from None
    return header, arrays


class _Damaged(ValueError):
    def __init__(self, name, err):
        reason = _reason(err)
        super().__init__(reason if isinstance(err, _Damaged) or f"entry {name!r}" in reason
                         else f"entry {name!r} is damaged ({reason})")


def _names(names, most=6) -> str:
    shown = ", ".join(repr(n) for n in names[:most])
    return f"[{shown}{', ...' if len(names) > most else ''}]"


def _read_header_text(archive, zinfo, max_header_bytes):
    if zinfo.file_size > max_header_bytes:
        raise ValueError(f"entry 'header' holds {zinfo.file_size} bytes "
                         f"(at most {max_header_bytes})")
    with archive.open(zinfo) as fp:
        dtype, shape, fortran = _npy_header(fp, "header")
        if dtype.kind != "U" or shape != ():
            raise ValueError(f"entry 'header' must be a JSON string; got {dtype} {shape}")
        data = _read_exact(fp, dtype.itemsize, "header")
    return str(np.frombuffer(data, dtype)[0])


def _parse_header(text, format_name, max_version):
    try:
        header = json.loads(text, parse_constant=_refuse_constant,
                            object_pairs_hook=_unique_keys)
    except RecursionError:
        raise ValueError("'header' is nested too deeply to be a header") from None
    except ValueError as err:
        raise ValueError(f"'header' is not valid JSON ({err})") from None
    if not isinstance(header, dict):
        raise ValueError("'header' is not a JSON object")
    if header.get("format") != format_name:
        raise ValueError(f"format is {header.get('format')!r}, not {format_name!r} "
                         "(a foreign file?)")
    version = header.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"header 'version' must be an int >= 1; got {version!r}")
    if version > max_version:
        raise ValueError(f"format version {version} is not supported; this napari-seglab "
                         f"reads up to version {max_version} (made by a newer "
                         "napari-seglab?)")
    return header


def _refuse_constant(name):
    raise ValueError(f"the header holds {name}; numbers must be finite")


def _unique_keys(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the header repeats the key {key!r}")
        out[key] = value
    return out


def _allowed(name, allowed_members) -> bool:
    return any(name == a or (a.endswith("*") and name.startswith(a[:-1])
                             and len(name) > len(a) - 1) for a in allowed_members)


def _declared_arrays(header, allowed_members, max_bytes):
    """``name -> (dtype, shape, nbytes)`` from the header, within ``max_bytes``."""
    declared = header.get("arrays")
    if not isinstance(declared, dict):
        raise ValueError(f"header 'arrays' must be an object; got {declared!r:.80}")
    out, total = {}, 0
    for name, spec in declared.items():
        if not _NAME.fullmatch(name) or name == _HEADER or not _allowed(name, allowed_members):
            raise ValueError(f"entry {name!r} is not one such files hold")
        if not (isinstance(spec, dict) and set(spec) == {"dtype", "shape"}
                and isinstance(spec["dtype"], str) and len(spec["dtype"]) <= 8
                and isinstance(spec["shape"], list) and len(spec["shape"]) <= 8
                and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0
                        for n in spec["shape"])):
            raise ValueError(f"header entry {name!r} must be {{'dtype': str, 'shape': "
                             f"[int, ...]}}; got {spec!r:.120}")
        dtype = np.dtype(spec["dtype"])
        if dtype.kind not in _KINDS or dtype.fields is not None or dtype.str != spec["dtype"]:
            raise ValueError(f"entry {name!r} has dtype {spec['dtype']!r}; only bool, int, "
                             "uint and float arrays are read")
        shape = tuple(spec["shape"])
        nbytes = math.prod(shape) * dtype.itemsize
        total += nbytes
        if total > max_bytes:
            raise ValueError(f"the arrays declared ({name!r}: {dtype.str} {list(shape)}) "
                             f"exceed the {max_bytes} bytes such a file may hold")
        out[name] = dtype, shape, nbytes
    return out


def _npy_header(fp, name):
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
    else:
        raise ValueError(f"entry {name!r} has .npy version {version}; 1.0 or 2.0 expected")
    if dtype.hasobject:
        raise ValueError(f"entry {name!r} holds Python objects; data files hold none")
    return dtype, shape, fortran


def _read_exact(fp, nbytes, name, out=None):
    """``nbytes`` from ``fp`` (into ``out``, a uint8 buffer), then the member's end."""
    buffer = bytearray() if out is None else None
    done = 0
    while done < nbytes:
        chunk = fp.read(min(_READ_CHUNK, nbytes - done))
        if not chunk:
            raise ValueError(f"entry {name!r} is truncated ({done} of {nbytes} bytes)")
        if out is None:
            buffer += chunk
        else:
            out[done:done + len(chunk)] = np.frombuffer(chunk, np.uint8)
        done += len(chunk)
    if fp.read(1):  # also makes zipfile check the CRC
        raise ValueError(f"entry {name!r} holds more data than its header declares")
    return bytes(buffer) if out is None else out


def _read_member(archive, zinfo, name, dtype, shape, nbytes):
    with archive.open(zinfo) as fp:
        got_dtype, got_shape, fortran = _npy_header(fp, name)
        if got_dtype != dtype or got_dtype.str != dtype.str or got_shape != shape:
            raise ValueError(f"entry {name!r} is {got_dtype.str} {list(got_shape)}, but the "
                             f"header says {dtype.str} {list(shape)}")
        if zinfo.file_size != fp.tell() + nbytes:
            raise ValueError(f"entry {name!r} holds {zinfo.file_size - fp.tell()} data "
                             f"bytes; {dtype.str} {list(shape)} takes {nbytes}")
        raw = _read_exact(fp, nbytes, name, np.empty(nbytes, np.uint8))
    return raw.view(dtype).reshape(shape, order="F" if fortran else "C")
