"""The classes of the seeds, named and coloured by the user (the *Seeds & method* legend).

One row per class — named or painted — with a colour button and an
editable name. Edits go to the :class:`~.panel_model.PanelModel`, which
writes them on the seeds layer (its ``features`` table and colormap) and on
the results made from it, so Evaluation's table and CSV, the label-map
exports, the Feature space legend and sessions all show the same names.
"""

from __future__ import annotations

from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QColorDialog,
    QGridLayout,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QWidget,
)

from .panel_model import PanelModel

__all__ = ["ClassEditor", "legend_html"]


def legend_html(model: PanelModel, values) -> str:
    """``■ 1: name`` per class value, in its colour (the Feature space legend)."""
    names = model.class_names()
    seeds = model.seeds
    if seeds is None:
        return ""
    from .layers import class_color_hex

    return " ".join(f"<span style='color:{class_color_hex(seeds, int(v))}'>■</span> "
                    f"{int(v)}: {names.get(int(v), f'class {int(v)}')}" for v in values)


class ClassEditor(QWidget):
    """Rename and recolour the classes; *Add class* picks the next label to paint."""

    def __init__(self, model: PanelModel, parent=None):
        super().__init__(parent)
        self.model = model
        self._values: tuple = ()
        self.rows: dict[int, tuple[QPushButton, QLineEdit]] = {}
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setHorizontalSpacing(4)
        self._grid.setVerticalSpacing(2)
        self._grid.setColumnStretch(2, 1)
        self.add_button = QPushButton("Add class")
        self.add_button.setToolTip("Name a new class and paint it next (the brush's label).")
        self.add_button.clicked.connect(self.add_class)
        model.classes_changed.connect(self._restyle)
        self.destroyed.connect(lambda *_: model.classes_changed.disconnect(self._restyle))

    def show_classes(self, painted: dict) -> None:
        """Show the classes: the named ones and ``painted`` (value -> pixels)."""
        classes = self.model.classes(painted)
        values = tuple(c.value for c in classes)
        if values != self._values:
            self._rebuild(classes)
        else:
            self._restyle()

    def _rebuild(self, classes):
        while self._grid.count():
            item = self._grid.takeAt(0)
            if item.widget() is not None and item.widget() is not self.add_button:
                item.widget().deleteLater()
        self.rows = {}
        self._values = tuple(c.value for c in classes)
        for row, info in enumerate(classes):
            colour = QPushButton()
            colour.setFixedSize(22, 18)
            colour.setToolTip(f"Colour of class {info.value} (click to change)")
            colour.clicked.connect(lambda _=False, v=info.value: self.pick_colour(v))
            name = QLineEdit(info.name)
            name.setToolTip(f"Name of class {info.value}: shown in Evaluation, exports "
                            "and sessions")
            name.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            name.setMinimumWidth(40)
            name.editingFinished.connect(lambda v=info.value, w=name: self._renamed(v, w))
            self._grid.addWidget(colour, row, 0)
            number = QToolButton()
            number.setText(str(info.value))
            number.setAutoRaise(True)
            number.setToolTip(f"Paint class {info.value} next")
            number.clicked.connect(lambda _=False, v=info.value: self.paint_with(v))
            self._grid.addWidget(number, row, 1)
            self._grid.addWidget(name, row, 2)
            self.rows[info.value] = (colour, name)
        self._grid.addWidget(self.add_button, len(classes), 0, 1, 3)
        self._restyle()

    def _restyle(self, *args):
        names = self.model.class_names()
        seeds = self.model.seeds
        if seeds is None:
            return
        from .layers import class_color_hex

        for value, (colour, name) in self.rows.items():
            colour.setStyleSheet(f"background-color: {class_color_hex(seeds, value)};")
            text = names.get(value, f"class {value}")
            if not name.hasFocus() and name.text() != text:
                name.setText(text)

    def _renamed(self, value, field):
        text = field.text().strip()
        if not text:
            field.setText(self.model.class_names().get(value, f"class {value}"))
            return
        if self.model.class_names().get(value) != text:
            self.model.rename_class(value, text)

    def rename(self, value: int, name: str) -> None:
        """Rename class ``value`` as typing in its field does."""
        colour_field = self.rows[value][1]
        colour_field.setText(name)
        colour_field.editingFinished.emit()

    def pick_colour(self, value: int, colour: str | None = None) -> None:
        """Recolour class ``value`` (asks with a colour dialog when ``colour`` is None)."""
        if colour is None:
            from .layers import class_color_hex

            chosen = QColorDialog.getColor(QColor(class_color_hex(self.model.seeds, value)),
                                           self, f"Colour of class {value}")
            if not chosen.isValid():
                return
            colour = chosen.name()
        self.model.recolor_class(value, colour)

    def paint_with(self, value: int) -> None:
        """Make class ``value`` the brush's label, the seeds the active layer, in paint mode."""
        seeds = self.model.seeds
        if seeds is None:
            return
        seeds.selected_label = int(value)
        viewer = self.model.viewer
        if viewer is not None and seeds in viewer.layers:
            viewer.layers.selection.active = seeds
        if seeds.mode not in ("paint", "fill", "polygon"):
            seeds.mode = "paint"

    def add_class(self, *args) -> int | None:
        """Name the next free label and make it the brush's label."""
        seeds = self.model.seeds
        if seeds is None:
            return None
        value = max([*self._values, 0]) + 1
        self.model.rename_class(value, f"class {value}")
        self.paint_with(value)
        return value
