"""What every reader checks before it opens, follows or allocates anything.

* :func:`check_regular`: only regular files are opened (a FIFO blocks
  ``open()`` forever, a device never ends), checked with :func:`os.stat`
  before the open; folders where the caller accepts them.
* :func:`confine`: a file named *inside* another file (NRRD ``data file``,
  OME-Zarr ``labels`` paths, a session's ``relative_path``) must lie in the
  folder of the file that names it. The user opening a file directly is the
  only way to read from elsewhere.
* :func:`check_size`: a declared shape is checked against the bytes on disk
  (a 612-byte header cannot hold 10²⁴ voxels) and the memory budget before
  anything is allocated.
* :func:`finite_values`: geometry tags must be finite numbers; the message
  names the tag.
* :func:`reason`: an exception as text that is never empty.
"""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path

import numpy as np

from ..core.memory import format_bytes, memory_budget

__all__ = ["check_regular", "check_size", "confine", "file_kind", "finite_values",
           "is_regular_file", "open_regular", "reason"]

#: Deflate cannot shrink data more than about 1032:1 (gzip, zlib, zstd at most ~ a few
#: thousand): a compressed file declaring more than this many times its size lies.
MAX_COMPRESSION = 4096


def file_kind(mode) -> str:
    """``"a named pipe"``, ``"a folder"``, ... for a ``st_mode``."""
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISREG, "a regular file")):
        if test(mode):
            return name
    return "not a file"


def is_regular_file(path) -> bool:
    """True for a regular file (symlinks followed); never opens, never raises."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def check_regular(path, what="file", *, folders=False):
    """Raise ``ValueError`` unless ``path`` is a regular file (or a folder, if allowed).

    Parameters
    ----------
    path : str or os.PathLike
    what : str
        What the file is for the message ("NRRD data file", "image").
    folders : bool, default False
        Accept a folder too (DICOM series, zarr stores).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        A FIFO, device, socket (or a folder when not accepted): names the
        path and what it is.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such {what}; check the path") from None
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: cannot read this {what} ({reason(err)})") from None
    if stat.S_ISREG(mode) or (folders and stat.S_ISDIR(mode)):
        return Path(path)
    raise ValueError(f"{path}: not a regular file ({file_kind(mode)}); "
                     f"choose the {what} itself")


def open_regular(path, what="file"):
    """Open a regular file for binary reading, never blocking on a FIFO.

    :func:`check_regular` first; then ``O_NONBLOCK`` (a path swapped for a
    FIFO since the check must not block ``open()``) and a second check on
    the open descriptor.
    """
    check_regular(path, what)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise ValueError(f"{path}: not a regular file ({file_kind(mode)}); "
                             f"choose the {what} itself")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def confine(name, folder, what, named_by):
    """The path ``name`` resolved inside ``folder``; ``ValueError`` if it leaves it.

    Parameters
    ----------
    name : str
        The path as written in ``named_by`` (relative to ``folder``).
    folder : str or os.PathLike
        The folder of the file that names it.
    what : str
        What it is ("NRRD data file", "OME-Zarr label image").
    named_by : str or os.PathLike
        The file that names it (for the message).

    Examples
    --------
    >>> confine("../../etc/passwd", "/data/case", "data file", "/data/case/a.nhdr")
    Traceback (most recent call last):
    ...
    ValueError: /data/case/a.nhdr: its data file '../../etc/passwd' lies outside /data/case; \
only files in the same folder are read: move the file beside it, or open it directly
    """
    text = os.fspath(name)
    base = Path(os.path.realpath(folder))
    target = Path(os.path.realpath(base / text))
    if "\0" in text or not (target == base or base in target.parents):
        raise ValueError(f"{named_by}: its {what} {text!r} lies outside {folder}; only files "
                         "in the same folder are read: move the file beside it, or open it "
                         "directly")
    return target


def check_size(shape, dtype, path, *, on_disk=None, compressed=False, budget=None,
               what="image"):
    """Refuse a declared ``shape`` that the file cannot hold or memory cannot take.

    Parameters
    ----------
    shape : sequence of int
        The declared shape.
    dtype : numpy dtype
    path : str or os.PathLike
        For the message.
    on_disk : int, optional
        Bytes available on disk for the data; declared bytes beyond it (or
        beyond :data:`MAX_COMPRESSION` times it when ``compressed``) are a
        truncated or hostile file.
    budget : int, optional
        Bytes the array may take in memory (default: the run's memory budget).

    Returns
    -------
    int
        The declared bytes.
    """
    try:
        dims = [int(n) for n in shape]
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{path}: the declared {what} shape {shape!r} is not a list of "
                         "integers; the file is damaged") from None
    if any(n < 0 for n in dims):
        raise ValueError(f"{path}: the declared {what} shape {tuple(dims)} has a negative "
                         "size; the file is damaged")
    nbytes = math.prod(dims) * np.dtype(dtype).itemsize
    if on_disk is not None:
        room = on_disk * (MAX_COMPRESSION if compressed else 1)
        if nbytes > room:
            raise ValueError(f"{path}: declares a {what} of {tuple(dims)} "
                             f"({format_bytes(nbytes)}) but holds {format_bytes(on_disk)} of "
                             "data; the file is truncated or damaged: export it again")
    budget = memory_budget() if budget is None else budget
    if nbytes > budget:
        raise ValueError(f"{path}: a {what} of {tuple(dims)} takes {format_bytes(nbytes)}, "
                         f"more than the memory budget ({format_bytes(budget)}); crop or "
                         "downsample it, or convert it to zarr to read it lazily")
    return nbytes


def finite_values(values, tag, path, *, positive=False):
    """``values`` as floats, refusing NaN / inf (and non-positive, if asked) naming the tag."""
    try:
        array = np.asarray(values, float).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"{path}: {tag} {values!r} is not a list of numbers; fix the "
                         "file's header") from None
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{path}: {tag} holds a value that is not finite "
                         f"({[float(v) for v in array]}); fix the file's header")
    if positive and not np.all(array > 0):
        raise ValueError(f"{path}: {tag} must be positive; got {[float(v) for v in array]}")
    return array


def reason(err) -> str:
    """An exception as text that says something (never ``""``)."""
    text = str(err).strip()
    if isinstance(err, KeyError) and text:
        return f"missing entry {text}"
    if isinstance(err, RecursionError):
        return "its metadata refer to themselves (nested too deeply)"
    if isinstance(err, MemoryError):
        return "it declares more data than memory can hold"
    return text if text and text not in ("None", "''") else type(err).__name__
