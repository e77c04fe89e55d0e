"""Whether a section's work can wait: it is not on screen while its window is."""

from __future__ import annotations

__all__ = ["hidden_in_shown_window"]


def hidden_in_shown_window(widget) -> bool:
    """True when ``widget``'s window is on screen but ``widget`` is not.

    A collapsed section of the panel, or a dock hidden behind a tab. Such a
    widget's refresh on every stroke (a plot, a statistics table) only took
    CPU and the GIL from the brush; it can wait for its ``showEvent``. A
    widget with no window of its own on screen (a test, a notebook) is never
    deferred.
    """
    window = widget.window()
    return window is not widget and window.isVisible() and not widget.isVisible()
