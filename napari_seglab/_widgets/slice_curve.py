"""A small per-slice score curve; clicking it picks a slice.

Plain Qt (no plotting library): a volume's Dice per slice shows at a glance
where a segmentation fails, and a click takes the viewer there.
"""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import QPointF, Qt, Signal
from qtpy.QtGui import QColor, QPainter, QPen, QPolygonF
from qtpy.QtWidgets import QSizePolicy, QWidget


class SliceCurve(QWidget):
    """Values in [0, 1] per slice, drawn left to right; ``nan`` leaves a gap."""

    #: The slice index under a mouse click.
    clicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumHeight(70)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Mean Dice per slice (seeds excluded as set above); "
                        "click to go to that slice.")
        self.values = np.zeros(0)
        self.current = None

    def set_values(self, values, current=None):
        self.values = np.asarray(values, float)
        self.current = current
        self.update()

    def index_at(self, x: float) -> int:
        """The slice drawn at horizontal position ``x`` (pixels)."""
        n = self.values.size
        return int(np.clip(x / max(self.width(), 1) * n, 0, n - 1))

    def x_of(self, index: int) -> float:
        return (index + 0.5) * self.width() / max(self.values.size, 1)

    def mousePressEvent(self, event):
        if self.values.size:
            self.clicked.emit(self.index_at(event.position().x()))

    def paintEvent(self, event):
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(38, 41, 48))
        h = self.height() - 4
        if self.current is not None and self.values.size:
            painter.setPen(QPen(QColor(120, 120, 140), 1, Qt.PenStyle.DashLine))
            x = self.x_of(self.current)
            painter.drawLine(QPointF(x, 0), QPointF(x, self.height()))
        painter.setPen(QPen(QColor(0, 220, 220), 2))
        run = QPolygonF()
        for i, v in enumerate(self.values):
            if np.isfinite(v):
                run.append(QPointF(self.x_of(i), 2 + (1 - v) * h))
            elif run.size():
                painter.drawPolyline(run)
                run = QPolygonF()
        if run.size():
            painter.drawPolyline(run)
        painter.end()
