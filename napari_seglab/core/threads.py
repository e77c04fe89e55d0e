"""How many threads a computation may use: all cores, or all but a few.

An interactive caller (the live preview beside a GUI thread that draws the
brush, and, with software OpenGL, rasterises it on the CPU too) leaves a core
free with :func:`leave_cores`; :func:`available` is what parallel code asks.
"""

from __future__ import annotations

import contextvars
import os
from contextlib import contextmanager

__all__ = ["available", "leave_cores", "run_blocks"]

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


def run_blocks(run, n_rows: int, block_rows: int, threads: int | None = None) -> None:
    """Call ``run(start)`` for each block of ``block_rows`` rows, over a thread pool.

    ``threads`` defaults to every core; one block, or one thread, runs inline.
    ``run`` writes its own rows (callers pass functions that release the GIL:
    NumPy products, numba ``nogil`` kernels).

    Examples
    --------
    >>> seen = []
    >>> run_blocks(seen.append, 10, 4, threads=1)
    >>> seen
    [0, 4, 8]
    """
    from concurrent.futures import ThreadPoolExecutor

    starts = range(0, n_rows, block_rows)
    threads = min(threads or os.cpu_count() or 1, len(starts))
    if threads <= 1:
        for start in starts:
            run(start)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(run, starts))
