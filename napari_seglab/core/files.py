"""Safe file writing: one atomic-replace helper for files and folders.

A failed write never destroys what it replaces, and nothing is replaced
unasked: :func:`atomic_replace` writes under a temporary name beside the
target and swaps it in only when complete; with ``overwrite=False`` an
existing target is refused before anything is written.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from pathlib import Path

__all__ = ["atomic_replace", "atomic_write", "refuse_existing"]


def refuse_existing(path, *, overwrite=False, hint="pass --overwrite to replace it"):
    """Raise ``FileExistsError`` naming ``path`` when it exists and ``overwrite`` is False."""
    path = Path(path)
    if not overwrite and (path.exists() or path.is_symlink()):
        kind = "folder" if path.is_dir() else "file"
        raise FileExistsError(f"{path} exists (a {kind}); {hint}")


def _default_bits(path):
    """The mode a plain open() would give: the replaced file's own or the umask's."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


@contextlib.contextmanager
def atomic_replace(path, *, folder=False, overwrite=True):
    """Yield a temporary path beside ``path``; when the block succeeds it replaces ``path``.

    The caller writes a file (or, with ``folder=True``, fills a folder) at
    the yielded path. On success it is fsynced (files) and swapped in with
    :func:`os.replace`: a reader sees the old target or the new one, never
    half of one. If the block raises (full disk, a failed encoder, Ctrl-C),
    the temporary file or folder is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : str or os.PathLike
        The file or folder to write.
    folder : bool, default False
        Write a folder (a zarr store); the yielded folder does not exist yet.
    overwrite : bool, default True
        False: an existing ``path`` raises ``FileExistsError`` before anything
        is written (the command line without ``--overwrite``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_replace(target) as tmp:
    ...     _ = pathlib.Path(tmp).write_text("done")
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    refuse_existing(path, overwrite=overwrite)
    if folder:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.partial-", dir=path.parent))
        os.rmdir(tmp)  # the writer creates it (zarr wants a new folder)
    else:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        tmp = Path(name)
        with contextlib.suppress(OSError, AttributeError):  # no fchmod on Windows
            os.fchmod(fd, _default_bits(path))  # mkstemp makes it private (0600)
        os.close(fd)
    try:
        yield tmp
        if folder:
            _swap_folder(tmp, path)
        else:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)
    except BaseException:
        if folder:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise


def _swap_folder(tmp: Path, out: Path):
    """Move the finished folder ``tmp`` to ``out``; an older ``out`` goes only once it has."""
    if out.exists() or out.is_symlink():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.rmdir(old)
        os.replace(out, old)
        try:
            os.replace(tmp, out)
        except BaseException:
            os.replace(old, out)  # put the old one back
            raise
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink()
    else:
        os.replace(tmp, out)


@contextlib.contextmanager
def atomic_write(path, mode="wb", *, overwrite=True, **kwargs):
    """Open a temporary file beside ``path``; on success it replaces ``path``.

    :func:`atomic_replace` for a file object: flushed and fsynced before the
    swap; a block that raises leaves ``path`` as it was and no temporary file.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    mode : {"wb", "w"}, default "wb"
        Binary or text.
    overwrite : bool, default True
        False: refuse an existing ``path`` (``FileExistsError``).
    **kwargs
        Passed to :func:`open` (``encoding``, ``newline``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "table.csv"
    >>> with atomic_write(target, "w") as fh:
    ...     _ = fh.write("label,dice\\n")
    >>> target.read_text()
    'label,dice\\n'
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w'; got {mode!r}")
    with atomic_replace(path, overwrite=overwrite) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh
        fh.flush()
