"""Safe file writing: a failed write never destroys the file it replaces."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

__all__ = ["atomic_write"]


@contextlib.contextmanager
def atomic_write(path, mode="wb", **kwargs):
    """Open a temporary file beside ``path``; on success it replaces ``path``.

    The data go to a temporary file in the same folder, are flushed and
    fsynced, then ``os.replace`` swaps it in: a reader sees the old file or
    the new one, never half of one. If the block raises (full disk, a
    failed encoder, Ctrl-C), the temporary file is removed and ``path`` is
    left as it was.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    mode : {"wb", "w"}, default "wb"
        Binary or text.
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
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    # mkstemp makes the file private (0600): give it the mode a plain open()
    # would, the replaced file's own or the umask's.
    try:
        bits = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        bits = 0o666 & ~mask
    with contextlib.suppress(OSError, AttributeError):  # no fchmod on Windows
        os.fchmod(fd, bits)
    try:
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
