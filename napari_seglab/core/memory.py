"""Memory: how much the machine has, the budget a run may use, sizes for people to read."""

from __future__ import annotations

import os

__all__ = ["RAM_FRACTION", "format_bytes", "memory_budget", "total_ram"]

#: Share of the RAM one run (features, a grow-from-seeds session, ...) may take.
RAM_FRACTION = 0.6


def total_ram() -> int:
    """Bytes of physical memory (8 GiB if the system will not say)."""
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except ImportError:
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def memory_budget(fraction: float | None = None) -> int:
    """Bytes one run may use: ``fraction`` (default :data:`RAM_FRACTION`) of the RAM.

    Examples
    --------
    >>> memory_budget(0.5) == total_ram() // 2
    True
    """
    return int((RAM_FRACTION if fraction is None else fraction) * total_ram())


def format_bytes(n: float) -> str:
    """A byte count for people: ``"512 B"``, ``"3.2 MiB"``, ``"1.5 GiB"``.

    Examples
    --------
    >>> format_bytes(512), format_bytes(3.2 * 2**20), format_bytes(1.5 * 2**30)
    ('512 B', '3.2 MiB', '1.5 GiB')
    """
    n = float(n)
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"
