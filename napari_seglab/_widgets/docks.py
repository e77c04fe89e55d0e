"""Each section of the Segmentation Lab panel as its own dock (the Plugins menu).

A section docked beside the panel asked the window for its full height and
grew it past a small screen; here it scrolls, as the panel does. The dock is
never narrower than the section needs, so nothing is clipped at its width.
The section itself is ``dock.section``.
"""

from __future__ import annotations

import importlib

from qtpy.QtCore import QEvent, QSize, Qt
from qtpy.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget

from .panel import _fit_narrow, _native, _WheelScrollsPanel, _wrap_labels

__all__ = ["ScrollingDock", "scrolling_dock"]


class ScrollingDock(QScrollArea):
    """A section in a scroll area: vertical scrolling, no horizontal clipping."""

    #: ``"module:Class"`` of the section, in this package.
    section_path = ""

    def __init__(self, napari_viewer):
        super().__init__()
        module, _, name = self.section_path.partition(":")
        cls = getattr(importlib.import_module(f"{__package__}.{module}"), name)
        self.section = cls(napari_viewer)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(_native(self.section))
        layout.addStretch(1)  # controls at the top, not spread over a tall dock
        _wrap_labels(content)
        _fit_narrow(content)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setWidget(content)  # also makes this the content's event filter
        self.wheel = _WheelScrollsPanel(self)
        self.wheel.watch(content)
        self.setMinimumHeight(120)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        # As wide as the section's narrowest layout plus the vertical scroll bar,
        # as short as a scroll area may be.
        hint = super().minimumSizeHint()
        content = self.widget()
        if content is None:
            return hint
        width = (content.minimumSizeHint().width() + self.verticalScrollBar().sizeHint().width()
                 + 2 * self.frameWidth())
        return QSize(max(hint.width(), width), hint.height())

    def eventFilter(self, obj, event):  # noqa: N802 (Qt's name)
        if obj is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self.updateGeometry()  # the section grew wider (e.g. after Segment)
        return super().eventFilter(obj, event)

    def reset_choices(self, *args):
        """napari calls this when layers change; the section's pickers follow."""
        reset = getattr(self.section, "reset_choices", None)
        if callable(reset):
            reset()


def scrolling_dock(section_path: str) -> type[ScrollingDock]:
    """A dock class (what the manifest names) for the section at ``"module:Class"``."""
    name = section_path.partition(":")[2].removesuffix("Widget") + "Dock"
    return type(name, (ScrollingDock,), {"section_path": section_path, "__module__": __name__,
                                         "__doc__": f"The {section_path} section, scrolling."})


SegmentationDock = scrolling_dock("segmentation:SegmentationWidget")
EvaluationDock = scrolling_dock("evaluation:EvaluationWidget")
GrowFromSeedsDock = scrolling_dock("grow:GrowFromSeedsWidget")
CleanUpDock = scrolling_dock("cleanup:CleanUpWidget")
EffectsDock = scrolling_dock("effects:EffectsWidget")
MeasureDock = scrolling_dock("measure:MeasureWidget")
FeatureSpaceDock = scrolling_dock("feature_space:FeatureSpaceWidget")
BlockwiseDock = scrolling_dock("blockwise:BlockwiseWidget")
