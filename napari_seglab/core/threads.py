"""How many threads a computation may use: all cores, or all but a few.

An interactive caller (the live preview beside a GUI thread that draws the
brush, and, with software OpenGL, rasterises it on the CPU too) leaves a core
free with :func:`leave_cores`; :func:`available` is what parallel code asks.
"""

from __future__ import annotations

import contextvars
import os
from contextlib import contextmanager

__all__ = ["available", "leave_cores"]

_SPARE = contextvars.ContextVar("napari_seglab_spare_cores", default=0)


def available() -> int:
    """Threads parallel code may start here: the cores, minus those left free (≥ 1)."""
    return max(1, (os.cpu_count() or 1) - _SPARE.get())


@contextmanager
def leave_cores(n: int = 1):
    """Within the block (and this thread), parallel code leaves ``n`` cores free.

    Examples
    --------
    >>> import os
    >>> with leave_cores(1):
    ...     available() == max(1, (os.cpu_count() or 1) - 1)
    True
    """
    token = _SPARE.set(int(n))
    try:
        yield
    finally:
        _SPARE.reset(token)
