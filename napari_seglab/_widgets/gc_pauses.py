"""Keep Python's full garbage collections from freezing the brush.

A full (oldest-generation) collection walks every object the collector
tracks: with napari, Qt, vispy and our panel that is ~400,000 objects, and
one walk takes 170–350 ms on a 2-core machine. It fires every so often while
the user paints (its trigger counts the objects that survive), and it runs
on the GUI thread: it was the longest stall of ``bench/event_loop.py``.

While a panel is on screen, the heap that exists is frozen (:func:`gc.freeze`):
later collections walk only what was made since (a full one then takes
~6 ms). Frozen objects are still freed by reference counting; only *cyclic*
garbage among them waits for the next collection that sees them. The one
frequent source of that, a layer removed from the viewer (napari layers sit
in cycles with their events), triggers a new freeze at the next idle turn:
unfreeze, collect, freeze. Hiding or closing the last panel unfreezes.

Set the environment variable ``SEGLAB_GC_FREEZE=0`` to leave the collector
alone.
"""

from __future__ import annotations

import gc
import os

__all__ = ["enabled", "hold", "held", "refreeze", "release"]

ENV = "SEGLAB_GC_FREEZE"

_holders: set[int] = set()  # panels on screen


def enabled() -> bool:
    """False when ``SEGLAB_GC_FREEZE`` is ``0``, ``false``, ``no`` or ``off``."""
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def refreeze() -> None:
    """Collect everything once (unfrozen), then freeze what is left."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def hold(key: int) -> bool:
    """Panel ``key`` is on screen: freeze the heap (after one full collection).

    Returns whether the heap is now frozen for it.
    """
    if not enabled():
        return False
    _holders.add(key)
    refreeze()
    return True


def release(key: int) -> None:
    """Panel ``key`` left the screen: unfreeze, or re-freeze for the others."""
    if key not in _holders:
        return
    _holders.discard(key)
    if _holders:
        refreeze()  # another viewer still paints: collect what this one left
    else:
        gc.unfreeze()


def held(key: int) -> bool:
    """Whether panel ``key`` holds the heap frozen."""
    return key in _holders
