"""The "Segmentation Lab" dock: every section of the plugin in one panel that scrolls.

The sections come in the order of the work: seeds and method, where to
paint next, features,
evaluation, then grow from seeds, clean-up, effects, measurements, the feature space
and large volumes. Each is a collapsible block; the panel scrolls instead of
forcing the window taller, so it fits a 1280×800 screen beside napari's own
layer list. Every section is also its own dock in the Plugins menu, for users
who want two side by side.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from qtpy.QtCore import QEvent, QObject, Qt, QTimer
from qtpy.QtWidgets import (
    QAbstractScrollArea,
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QFormLayout,
    QFrame,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from . import gc_pauses
from .evaluation import EvaluationWidget
from .feature_grid import FeatureGrid
from .guidance import GuidanceWidget
from .segmentation import SegmentationWidget
from .session import SessionBar

if TYPE_CHECKING:
    import napari

__all__ = ["SECTIONS", "SeglabPanel"]

#: Later sections, in workflow order: (title, module, class, open at start).
#: A section whose module cannot be imported (an optional dependency
#: missing) is left out, with the reason as its tooltip-free absence.
SECTIONS = (
    ("Grow from seeds", "grow", "GrowFromSeedsWidget", False),
    ("Clean up", "cleanup", "CleanUpWidget", False),
    ("Effects", "effects", "EffectsWidget", False),
    ("Measure", "measure", "MeasureWidget", False),
    ("Feature space", "feature_space", "FeatureSpaceWidget", False),
    ("Large volumes", "blockwise", "BlockwiseWidget", False),
)


class _Section(QWidget):
    """A header button that shows or hides its body."""

    def __init__(self, title: str, body: QWidget, expanded: bool, parent=None):
        super().__init__(parent)
        self.title = title
        self.body = body
        self.header = QToolButton(self)
        self.header.setText(title.replace("&", "&&"))  # "&" alone marks a shortcut
        self.header.setCheckable(True)
        self.header.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.header.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.header.setStyleSheet("QToolButton { font-weight: bold; text-align: left; }")
        self.header.toggled.connect(self.set_expanded)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.header)
        layout.addWidget(body)
        self.set_expanded(expanded)

    @property
    def expanded(self) -> bool:
        return self.header.isChecked()

    def set_expanded(self, expanded: bool):
        if self.header.isChecked() != expanded:
            self.header.setChecked(expanded)  # comes back here through `toggled`
            return
        self.header.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
        self.body.setVisible(expanded)


def _wrap_labels(root: QWidget) -> None:
    """Let every text label wrap, so no section is wider than a narrow dock."""
    for label in root.findChildren(QLabel):
        label.setWordWrap(True)
        label.setMinimumWidth(0)


#: Narrowest a table, list or plot gets: below it, it scrolls inside itself.
MIN_VIEW_WIDTH = 120
#: Characters a combo needs at the least (longer names are elided).
MIN_COMBO_CHARS = 8


def _fit_narrow(root: QWidget) -> None:
    """Let every section shrink to a narrow dock: combos elide, long form rows wrap,
    tables and plots scroll inside themselves instead of widening the panel."""
    for combo in root.findChildren(QComboBox):
        _fit_narrow_combo(combo)
    for view in root.findChildren(QAbstractScrollArea):
        view.setMinimumWidth(min(view.minimumWidth() or MIN_VIEW_WIDTH, MIN_VIEW_WIDTH))
    for form in root.findChildren(QFormLayout):
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
    for widget in root.findChildren(QWidget):
        # plots (pyqtgraph) ask for their drawing size as a minimum: a hint only
        if type(widget).__name__.endswith("Plot") or type(widget).__name__ == "SliceCurve":
            widget.setMinimumWidth(MIN_VIEW_WIDTH)


def _fit_narrow_combo(combo: QComboBox) -> None:
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(min(combo.minimumContentsLength() or MIN_COMBO_CHARS,
                                       MIN_COMBO_CHARS))


class _WheelScrollsPanel(QObject):
    """The mouse wheel over a combo, spin box or slider scrolls the panel, unless it has focus.

    Qt gives the wheel to whatever is under the pointer, so scrolling down a
    long panel changed the value of every combo passing under it.
    """

    def __init__(self, scroll: QScrollArea):
        super().__init__(scroll)
        self.scroll = scroll

    def watch(self, root: QWidget) -> None:
        """Watch the controls in ``root``, and those sections add later (mapping combos)."""
        self._root = root
        root.installEventFilter(self)
        self._scan()

    def _scan(self):
        seen = self.__dict__.setdefault("_seen", set())
        for widget in self._root.findChildren((QComboBox, QAbstractSpinBox, QAbstractSlider)):
            if id(widget) not in seen and widget is not self.scroll.verticalScrollBar():
                seen.add(id(widget))
                widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # no focus by wheel
                widget.installEventFilter(self)
                if isinstance(widget, QComboBox):
                    _fit_narrow_combo(widget)

    def eventFilter(self, obj, event):  # noqa: N802 (Qt's name)
        kind = event.type()
        if obj is self._root:
            if kind == QEvent.Type.LayoutRequest:
                self._scan()  # controls a section made since (e.g. Truth → class)
            return False
        if kind == QEvent.Type.Wheel and not obj.hasFocus():
            QApplication.sendEvent(self.scroll.verticalScrollBar(), event)
            return True
        return False


def _native(widget) -> QWidget:
    return widget.native if hasattr(widget, "native") else widget


class SeglabPanel(QWidget):
    """Seeds & method · Next stroke · Features · Evaluation · Grow · Clean up · Measure · Feature space."""

    def __init__(self, napari_viewer: napari.Viewer):
        super().__init__()
        # The Plugins menu hands out a public-only proxy of the viewer; the
        # sections are our own code and get the viewer itself.
        napari_viewer = getattr(napari_viewer, "__wrapped__", napari_viewer)
        self.viewer = napari_viewer
        self.segmentation = SegmentationWidget(napari_viewer)
        seg = self.segmentation
        self.features = FeatureGrid(napari_viewer, lambda: (seg.image.value, seg.seeds.value),
                                    method_default=seg.method_default_features())
        self.guidance = GuidanceWidget(napari_viewer, seg)
        self.evaluation = EvaluationWidget(napari_viewer)
        self.widgets = {"Seeds & method": seg, "Next stroke": self.guidance,
                        "Features": self.features, "Evaluation": self.evaluation}
        self.sections: dict[str, _Section] = {}
        self.missing: dict[str, str] = {}

        content = QWidget()
        self._layout = QVBoxLayout(content)
        self._layout.setContentsMargins(4, 4, 4, 4)
        self._layout.setSpacing(4)
        self._add("Seeds & method", seg, True)
        self._add("Next stroke", self.guidance, True)
        self._add("Features", self.features, False)
        self._add("Evaluation", self.evaluation, True)
        for title, module, name, expanded in SECTIONS:
            try:
                cls = getattr(importlib.import_module(f"{__package__}.{module}"), name)
            except (ImportError, AttributeError) as exc:
                self.missing[title] = str(exc)
                continue
            widget = cls(napari_viewer)
            self.widgets[title] = widget
            self._add(title, widget, expanded)
        if "Measure" in self.widgets:  # volume ± range from each Segment run's probabilities
            self.widgets["Measure"].follow_runs(seg)
        self._layout.addStretch(1)
        _wrap_labels(content)
        seg.attach_feature_grid(self.features, reveal=lambda: self.expand("Features"))

        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(content)
        self.scroll = scroll
        _fit_narrow(content)
        self.wheel = _WheelScrollsPanel(scroll)
        self.wheel.watch(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        # Save session… / Open session…: above the sections, always in reach.
        self.session = SessionBar(self)
        outer.addWidget(self.session)
        outer.addWidget(scroll)
        # Never ask the window for more height than a small screen has: the
        # sections scroll instead.
        self.setMinimumHeight(200)
        # Docking the panel narrows the canvas after napari fitted the image
        # to it, so the view starts cropped: fit it again once docked, unless
        # the user has moved the camera since.
        self._camera_at_start = self._camera_state()
        self._fitted_once = False
        # Full garbage collections, out of the strokes (see gc_pauses).
        self._freeze_timer = QTimer(self, singleShot=True, interval=0)
        self._freeze_timer.timeout.connect(self._freeze_heap)
        self._refreeze_timer = QTimer(self, singleShot=True, interval=500)
        self._refreeze_timer.timeout.connect(self._refreeze)
        self.viewer.layers.events.removed.connect(self._layer_removed)

    def _camera_state(self):
        camera = self.viewer.camera
        return (tuple(camera.center), float(camera.zoom), tuple(camera.angles))

    def showEvent(self, event):  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if not self._fitted_once:
            self._fitted_once = True
            QTimer.singleShot(0, self._fit_view_if_untouched)
        if not event.spontaneous() and not gc_pauses.held(id(self)):
            # after this turn: the window and its canvas exist by then
            self._freeze_timer.start()

    def hideEvent(self, event):  # noqa: N802 (Qt's name)
        super().hideEvent(event)
        if not event.spontaneous():  # not a minimised window: docked away or closed
            self._freeze_timer.stop()
            gc_pauses.release(id(self))

    def _freeze_heap(self):
        if self.isVisible() and not gc_pauses.held(id(self)):
            gc_pauses.hold(id(self))

    def _layer_removed(self, *_):
        if gc_pauses.held(id(self)):
            self._refreeze_timer.start()

    def _refreeze(self):
        if gc_pauses.held(id(self)):
            gc_pauses.refreeze()

    def _fit_view_if_untouched(self):
        if self._camera_state() == self._camera_at_start and len(self.viewer.layers):
            self.viewer.reset_view()

    def _add(self, title, widget, expanded):
        section = _Section(title, _native(widget), expanded)
        self.sections[title] = section
        self._layout.addWidget(section)

    def expand(self, title: str) -> None:
        """Open section ``title`` and scroll to it."""
        section = self.sections[title]
        section.set_expanded(True)
        self.scroll.ensureWidgetVisible(section.header)

    def reset_choices(self, *args):
        for widget in self.widgets.values():
            reset = getattr(widget, "reset_choices", None)
            if callable(reset):
                reset()
