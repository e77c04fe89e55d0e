"""Asking before replacing: the one confirmation, naming exactly what will be replaced.

A save dialog confirms the name typed in it; a section that then adds an
ending (``input`` → ``input.zarr``) must ask again about the name it will
really write, or it replaces a file the user was never asked about.
"""

from __future__ import annotations

import os

from qtpy.QtWidgets import QMessageBox

__all__ = ["confirm_replace"]


def confirm_replace(parent, path) -> bool:
    """True when ``path`` does not exist, or the user agreed to replace exactly it."""
    path = os.fspath(path)
    if not os.path.lexists(path):
        return True
    kind = "folder" if os.path.isdir(path) else "file"
    answer = QMessageBox.question(
        parent, "Replace?", f"{path} exists (a {kind}). Replace it? It is replaced only "
        "once the new one is complete.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes
