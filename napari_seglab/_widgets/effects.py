"""The *Effects* section: 3D Slicer's Segment Editor effects on the segmentation.

Threshold (live preview, paint mask), Margin, Hollow, Logical operators,
Islands, Scissors and Fill between slices. Each runs in a worker on a copy
of the layer (:class:`~napari_seglab._widgets.jobs.Job`); the voxels it
changed are written back with one ``Labels.data_setitem``, so one Ctrl+Z on
the layer undoes the whole effect. The edited segment is the layer's
selected label (the one the brush paints), as Slicer's selected segment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from napari.layers import Image, Labels, Shapes
from napari.utils.colormaps import DirectLabelColormap
from napari.utils.notifications import show_warning
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..core import effects, postprocess, slice_interpolation
from .cleanup import _unit
from .effect_tools import (
    HELPER_ROLE,
    PaintMask,
    helper_metadata,
    is_helper,
    segmentation_layers,
    shapes_region,
    viewing_axis,
)
from .jobs import Failure, Job, make_progress_bar
from .layers import META_KEY, unwrap, write_labels

if TYPE_CHECKING:
    import napari

__all__ = ["EFFECTS", "EffectsWidget"]

#: The effects, in the order of Slicer's Segment Editor.
EFFECTS = ("Threshold", "Margin", "Hollow", "Logical operators", "Islands", "Scissors",
           "Fill between slices")
PREVIEW_NAME = "threshold preview"
SCISSORS_NAME = "scissors"
MASK_NAME = "threshold mask"
#: The preview in one colour no segment has by default (Slicer's is the segment's).
PREVIEW_COLORS = DirectLabelColormap(color_dict={None: "transparent", 0: "transparent",
                                                 1: (1.0, 0.9, 0.0, 1.0)})

LOGICAL = {"Copy other into segment": "copy", "Add other (union)": "union",
           "Subtract other": "subtract", "Intersect with other": "intersect",
           "Invert": "invert", "Clear": "clear"}
ISLANDS = ("Split islands into segments", "Keep selected island", "Remove small islands",
           "Keep largest island")
SCISSORS = {"Erase inside": "erase_inside", "Erase outside": "erase_outside",
            "Fill inside": "fill_inside", "Fill outside": "fill_outside"}
OTHER_SEGMENT = "(another segment)"
VIEWING_AXIS = "across the view"


def _spin(low, high, value, decimals=2, suffix=""):
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setDecimals(decimals)
    box.setValue(value)
    box.setSuffix(suffix)
    return box


def _form(*rows):
    page = QWidget()
    form = QFormLayout(page)
    form.setContentsMargins(0, 0, 0, 0)
    for label, widget in rows:
        if label is None:
            form.addRow(widget)
        else:
            form.addRow(label, widget)
    return page


class EffectsWidget(QWidget):
    """Segment Editor effects on a labels layer, one undo step each.

    Parameters
    ----------
    napari_viewer : napari.Viewer
    """

    def __init__(self, napari_viewer: napari.Viewer):
        super().__init__()
        self.viewer = unwrap(napari_viewer)
        self.paint_mask: PaintMask | None = None
        self._picking_island = False

        self.layer_combo = QComboBox()
        self.layer_combo.setSizePolicy(QSizePolicy.Policy.Expanding,
                                       QSizePolicy.Policy.Fixed)
        self.segment = QSpinBox()
        self.segment.setRange(1, 2**31 - 1)
        self.segment.setToolTip("The segment to edit: the layer's selected label (the brush's)")
        self.effect = QComboBox()
        self.effect.addItems(EFFECTS)
        # One page of parameters per effect; only the current one is shown (a
        # hidden page takes no room, unlike a QStackedWidget's).
        self.pages: list[QWidget] = []
        self._build_pages()
        self.apply_button = QPushButton("Apply")
        self.apply_button.setToolTip("Run the effect (Ctrl+Z on the layer undoes it)")
        self.progress = make_progress_bar()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.job = Job("Effect", self, self.status.setText, bar=self.progress,
                       viewer=self.viewer)

        top = QFormLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addRow("Segmentation", self.layer_combo)
        top.addRow("Segment", self.segment)
        top.addRow("Effect", self.effect)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        for page in self.pages:
            layout.addWidget(page)
        layout.addWidget(self.apply_button)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        self._effect_changed(0)

        self.effect.currentIndexChanged.connect(self._effect_changed)
        self.layer_combo.currentTextChanged.connect(self._layer_changed)
        self.segment.valueChanged.connect(self._segment_changed)
        self.apply_button.clicked.connect(self.apply)
        events = self.viewer.layers.events
        events.inserted.connect(self._refresh_choices)
        events.removed.connect(self._refresh_choices)
        self.viewer.dims.events.ndisplay.connect(self._update_axis_hint)
        self.destroyed.connect(lambda *_: self._unhook())  # deleted docks get no closeEvent
        self._followed = None
        self._refresh_choices()

    # -- pages ---------------------------------------------------------------------
    def _build_pages(self):
        # Threshold
        self.image_combo = QComboBox()
        self.low = _spin(-1e9, 1e9, 0.0)
        self.high = _spin(-1e9, 1e9, 1.0)
        self.auto_button = QPushButton("Auto (Otsu)")
        self.auto_button.setToolTip("Low = Otsu's threshold of the image, high = its maximum")
        self.preview = QCheckBox("Live preview")
        self.use_as_mask = QCheckBox("Use as paint mask")
        self.use_as_mask.setToolTip("Brush, fill and polygon strokes on the segmentation "
                                    "change only voxels in this range")
        self.mask_button = QPushButton("Keep as a mask layer")
        self.mask_button.setToolTip(f"Adds '{MASK_NAME}' (1 = in the range): a mask for "
                                    "Grow from seeds, or the other of Logical operators")
        bounds = QHBoxLayout()
        bounds.addWidget(self.low)
        bounds.addWidget(QLabel("to"))
        bounds.addWidget(self.high)
        bounds_row = QWidget()
        bounds_row.setLayout(bounds)
        bounds.setContentsMargins(0, 0, 0, 0)
        self.pages.append(_form(("Image", self.image_combo), ("Range", bounds_row),
                                   (None, self.auto_button), (None, self.preview),
                                   (None, self.use_as_mask), (None, self.mask_button)))
        # Margin
        self.margin = _spin(-1e4, 1e4, 1.0, 3, " mm")
        self.margin.setToolTip("Grow (> 0) or shrink (< 0) the segment by this distance; "
                               "it never takes another segment's voxels")
        self.pages.append(_form(("Grow / shrink by", self.margin)))
        # Hollow
        self.thickness = _spin(0.001, 1e4, 1.0, 3, " mm")
        self.pages.append(_form(("Shell thickness", self.thickness)))
        # Logical
        self.logical_op = QComboBox()
        self.logical_op.addItems(list(LOGICAL))
        self.other_layer = QComboBox()
        self.other_layer.setToolTip("Another segment of this layer, or a labels layer as "
                                    "a mask (nonzero = in)")
        self.other_segment = QSpinBox()
        self.other_segment.setRange(1, 2**31 - 1)
        self.other_segment.setValue(2)
        self.pages.append(_form(("Operation", self.logical_op),
                                   ("Other", self.other_layer),
                                   ("Other segment", self.other_segment)))
        # Islands
        self.islands_mode = QComboBox()
        self.islands_mode.addItems(ISLANDS)
        self.min_size = _spin(0.0, 1e12, 0.0, 3, " mm³")
        self.min_size.setToolTip("Islands smaller than this are removed")
        self.pages.append(_form(("Operation", self.islands_mode),
                                   ("Min size", self.min_size)))
        # Scissors
        self.draw_button = QPushButton("Draw a shape")
        self.draw_button.setToolTip("Adds a 'scissors' shapes layer: draw polygons, "
                                    "rectangles or ellipses on the view, then Apply")
        self.scissors_op = QComboBox()
        self.scissors_op.addItems(list(SCISSORS))
        self.all_slices = QCheckBox("Through all slices")
        self.all_slices.setChecked(True)
        self.pages.append(_form((None, self.draw_button),
                                   ("Operation", self.scissors_op),
                                   (None, self.all_slices)))
        # Fill between slices
        self.axis_combo = QComboBox()
        self.axis_combo.addItems([VIEWING_AXIS, "0", "1", "2"])
        self.all_segments = QCheckBox("All segments")
        self.method = QComboBox()
        self.method.addItem("Shape-based (distance maps)", "shape")
        self.method.addItem("Morphological contours (ITK)", "itk")
        if not slice_interpolation.itk_available():
            self.method.model().item(1).setEnabled(False)
            self.method.setItemData(1, "pip install 'napari-seglab[interpolation]'",
                                    3)  # Qt.ToolTipRole
        self.axis_hint = QLabel("")
        self.pages.append(_form(("Slices along", self.axis_combo),
                                   (None, self.all_segments), ("Method", self.method),
                                   (None, self.axis_hint)))

        for box in (self.low, self.high):
            box.valueChanged.connect(self._threshold_changed)
        self.image_combo.currentTextChanged.connect(self._threshold_changed)
        self.preview.toggled.connect(self._threshold_changed)
        self.use_as_mask.toggled.connect(self._update_paint_mask)
        self.auto_button.clicked.connect(self.auto_range)
        self.mask_button.clicked.connect(self.keep_mask_layer)
        self.draw_button.clicked.connect(self.draw_shape)
        self.islands_mode.currentIndexChanged.connect(self._islands_changed)
        self.other_layer.currentTextChanged.connect(
            lambda text: self.other_segment.setEnabled(text == OTHER_SEGMENT))
        self.logical_op.currentTextChanged.connect(self._logical_changed)
        self._islands_changed()

    def _islands_changed(self, *args):
        self.min_size.setEnabled(self.islands_mode.currentText() in ISLANDS[::2])

    def _logical_changed(self, *args):
        needs_other = LOGICAL[self.logical_op.currentText()] not in ("invert", "clear")
        self.other_layer.setEnabled(needs_other)
        self.other_segment.setEnabled(needs_other
                                      and self.other_layer.currentText() == OTHER_SEGMENT)

    # -- layers --------------------------------------------------------------------
    @property
    def labels_layer(self):
        name = self.layer_combo.currentText()
        layer = self.viewer.layers[name] if name in self.viewer.layers else None
        return layer if isinstance(layer, Labels) else None

    @property
    def image_layer(self):
        name = self.image_combo.currentText()
        layer = self.viewer.layers[name] if name in self.viewer.layers else None
        return layer if isinstance(layer, Image) else None

    def _refresh_choices(self, event=None):
        for layer in self.viewer.layers:
            layer.events.name.connect(self._refresh_choices)  # twice is a no-op
        names = [layer.name for layer in segmentation_layers(self.viewer)]
        images = [layer.name for layer in self.viewer.layers
                  if isinstance(layer, Image) and not is_helper(layer)
                  and not getattr(layer, "rgb", False)]
        masks = [OTHER_SEGMENT] + [layer.name for layer in self.viewer.layers
                                   if isinstance(layer, Labels) and not is_helper(layer)]
        for combo, items in ((self.layer_combo, names), (self.image_combo, images),
                             (self.other_layer, masks)):
            if [combo.itemText(i) for i in range(combo.count())] == items:
                continue
            current = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(items)
            if current in items:
                combo.setCurrentText(current)
            combo.blockSignals(False)
        removed = event.value if getattr(event, "type", None) == "removed" else None
        if removed is not None and removed.name == PREVIEW_NAME and is_helper(removed):
            self.preview.setChecked(False)  # the user deleted it: preview off
        self._layer_changed()
        # Follow the layers, never add one: while napari removes every layer
        # (closing), a preview added back would be removed again, forever.
        self._update_preview(create=False)
        if self.paint_mask is not None:
            self._update_paint_mask()

    def _layer_changed(self, *args):
        layer = self.labels_layer
        if layer is not self._followed:
            if self._followed is not None:
                self._followed.events.selected_label.disconnect(self._follow_selected)
            if layer is not None:
                layer.events.selected_label.connect(self._follow_selected)
            self._followed = layer
            self._update_paint_mask()
        unit = _unit(layer) if layer is not None else "mm"
        ndim = layer.ndim if layer is not None else 3
        for box in (self.margin, self.thickness):
            box.setSuffix(f" {unit}")
        self.min_size.setSuffix(f" {unit}" + ("³" if ndim == 3 else "²"))
        if layer is not None:
            self._follow_selected()
        self._update_axis_hint()

    def _follow_selected(self, event=None):
        layer = self.labels_layer
        if layer is not None and layer.selected_label > 0:
            self.segment.blockSignals(True)
            self.segment.setValue(int(layer.selected_label))
            self.segment.blockSignals(False)

    def _segment_changed(self, value):
        layer = self.labels_layer
        if layer is not None and layer.selected_label != value:
            layer.selected_label = value

    def _update_axis_hint(self, *args):
        layer = self.labels_layer
        axis = viewing_axis(self.viewer, layer) if layer is not None else None
        self.axis_hint.setText("" if axis is None
                               else f"Across the view: axis {axis} (the slices you scroll)")

    def _effect_changed(self, index):
        for i, page in enumerate(self.pages):
            page.setVisible(i == index)
        if EFFECTS[index] != "Threshold":
            self.preview.setChecked(False)  # the preview belongs to the effect

    # -- threshold -----------------------------------------------------------------
    def threshold_mask(self):
        """The current range's mask on the chosen image, or None (no usable image)."""
        image = self.image_layer
        layer = self.labels_layer
        if image is None or (layer is not None and image.data.shape != layer.data.shape):
            return None
        return effects.threshold_mask(np.asarray(image.data), self.low.value(),
                                      self.high.value())

    def auto_range(self):
        from skimage.filters import threshold_otsu

        image = self.image_layer
        if image is None:
            show_warning("Pick an image to threshold.")
            return
        data = np.asarray(image.data)
        finite = data[np.isfinite(data)] if data.dtype.kind == "f" else data
        if finite.size == 0 or finite.min() == finite.max():
            show_warning(f"'{image.name}' is uniform: nothing to threshold.")
            return
        for box in (self.low, self.high):
            box.blockSignals(True)
        self.low.setValue(float(threshold_otsu(finite)))
        self.high.setValue(float(finite.max()))
        for box in (self.low, self.high):
            box.blockSignals(False)
        self._threshold_changed()

    def keep_mask_layer(self):
        """Add the range's mask as a labels layer of the user's (1 = in the range)."""
        mask = self.threshold_mask()
        if mask is None:
            show_warning("Pick an image of the segmentation's shape to threshold.")
            return None
        image = self.image_layer
        layer = self.viewer.add_labels(
            mask.astype(np.uint8), name=MASK_NAME, scale=image.scale,
            translate=image.translate, opacity=0.4,
            metadata={"threshold": {"image": image.name, "low": self.low.value(),
                                    "high": self.high.value()}})
        self.status.setText(f"'{layer.name}': {int(mask.sum())} voxels in "
                            f"[{self.low.value():g}, {self.high.value():g}].")
        return layer

    def _threshold_changed(self, *args):
        self._update_preview()
        if self.paint_mask is not None:
            self._update_paint_mask()

    def _update_preview(self, create=True):
        existing = [layer for layer in self.viewer.layers
                    if layer.name == PREVIEW_NAME and is_helper(layer)]
        mask = self.threshold_mask() if self.preview.isChecked() else None
        if mask is None:
            for layer in existing:
                self.viewer.layers.remove(layer)
            return
        if not existing and not create:
            return
        image = self.image_layer
        # Thresholding is one comparison per voxel (a few ms for 10⁷): on the
        # GUI thread, so the preview follows the spin boxes as they turn.
        layer = write_labels(self.viewer, mask.view(np.uint8), role=HELPER_ROLE,
                             source=image.name, name=PREVIEW_NAME, scale=image.scale,
                             translate=image.translate, opacity=0.6,
                             colormap=PREVIEW_COLORS)
        layer.metadata[META_KEY]["edited"] = False  # ours: always overwritable

    def _update_paint_mask(self, *args):
        if self.paint_mask is not None:
            self.paint_mask.disconnect()
            self.paint_mask = None
        if not self.use_as_mask.isChecked() or self.labels_layer is None:
            return
        mask = self.threshold_mask()
        if mask is None:
            show_warning("The paint mask needs an image of the segmentation's shape.")
            self.use_as_mask.setChecked(False)
            return
        self.paint_mask = PaintMask(self.labels_layer, mask)

    # -- scissors ------------------------------------------------------------------
    def scissors_layer(self, create=False):
        for layer in self.viewer.layers:
            if isinstance(layer, Shapes) and layer.name == SCISSORS_NAME and is_helper(layer):
                return layer
        layer = self.labels_layer
        if not create or layer is None:
            return None
        return self.viewer.add_shapes(
            ndim=layer.ndim, name=SCISSORS_NAME, scale=layer.scale,
            translate=layer.translate, edge_color="yellow", face_color="#ffff0033",
            metadata=helper_metadata(layer.name))

    def draw_shape(self):
        shapes = self.scissors_layer(create=True)
        if shapes is None:
            show_warning("Pick a segmentation layer first.")
            return
        self.viewer.layers.selection.active = shapes
        shapes.mode = "add_polygon"
        self.status.setText("Draw on the view (polygon: click the corners, double-click "
                            "to close), then Apply.")

    # -- islands: keep the clicked one ---------------------------------------------
    def _arm_island_pick(self):
        if not self._picking_island:
            self.viewer.mouse_drag_callbacks.append(self._pick_island)
            self._picking_island = True
        self.status.setText("Click the island to keep (pan/zoom mode, not the brush).")

    def _pick_island(self, viewer, event):
        if event.type != "mouse_press":
            return
        self.viewer.mouse_drag_callbacks.remove(self._pick_island)
        self._picking_island = False
        layer = self.labels_layer
        if layer is None:
            return
        point = np.round(layer.world_to_data(event.position)).astype(int)
        self._run(layer, "Keep selected island", _keep_island,
                  tuple(int(p) for p in point), self.segment.value())

    # -- apply ---------------------------------------------------------------------
    def apply(self) -> None:
        """Run the chosen effect on the segmentation (one undo step)."""
        layer = self.labels_layer
        if layer is None:
            show_warning("No segmentation to edit: make a 'segmentation' (Segment, or Grow "
                         "from seeds > Apply) or add a Labels layer.")
            return
        effect = self.effect.currentText()
        try:
            call = self._effect_call(layer, effect)
        except ValueError as exc:
            self.status.setText(str(exc))
            show_warning(str(exc))
            return
        if call is not None:
            self._run(layer, effect, *call)

    def _effect_call(self, layer, effect):
        """``(function, *args)`` for the worker, or None when the effect waits for a click."""
        label = self.segment.value()
        spacing = tuple(abs(float(s)) for s in layer.scale)
        if effect == "Threshold":
            mask = self.threshold_mask()
            if mask is None:
                raise ValueError("Pick an image of the segmentation's shape to threshold.")
            return _logical, "copy", label, mask
        if effect == "Margin":
            return _margin, float(self.margin.value()), label, spacing
        if effect == "Hollow":
            return _hollow, float(self.thickness.value()), label, spacing
        if effect == "Logical operators":
            op = LOGICAL[self.logical_op.currentText()]
            other = None
            if op not in ("invert", "clear"):
                name = self.other_layer.currentText()
                if name == OTHER_SEGMENT:
                    other = self.other_segment.value()
                else:
                    other = np.asarray(self.viewer.layers[name].data) != 0
                    if other.shape != layer.data.shape:
                        raise ValueError(f"'{name}' has shape {other.shape}, the "
                                         f"segmentation {layer.data.shape}: pick a mask "
                                         "of the same shape.")
            return _logical, op, label, other
        if effect == "Islands":
            mode = self.islands_mode.currentText()
            if mode == "Keep selected island":
                self._arm_island_pick()
                return None
            return _islands, mode, label, spacing, float(self.min_size.value())
        if effect == "Scissors":
            return self._scissors_call(layer, label)
        return self._fill_call(layer, label)

    def _scissors_call(self, layer, label):
        shapes = self.scissors_layer()
        if shapes is None or len(shapes.data) == 0:
            raise ValueError("Draw a shape first (Draw a shape, then click on the view).")
        if self.viewer.dims.ndisplay != 2 and layer.ndim == 3:
            raise ValueError("Scissors cut across the view: switch to the 2D view.")
        axis = viewing_axis(self.viewer, layer)
        region, skipped = shapes_region(shapes, layer.data.shape, axis,
                                        all_slices=self.all_slices.isChecked())
        if skipped:
            show_warning(f"{skipped} lines or paths enclose nothing and were left out.")
        op = SCISSORS[self.scissors_op.currentText()]
        shapes.selected_data = set(range(len(shapes.data)))
        shapes.remove_selected()  # used: the next cut starts afresh, as in Slicer
        return _scissors, region, op, label

    def _fill_call(self, layer, label):
        if layer.ndim != 3:
            raise ValueError("Fill between slices needs a volume (3D segmentation).")
        text = self.axis_combo.currentText()
        axis = viewing_axis(self.viewer, layer) if text == VIEWING_AXIS else int(text)
        spacing = tuple(abs(float(s)) for s in layer.scale)
        chosen = None if self.all_segments.isChecked() else label
        return _fill, chosen, axis, spacing, self.method.currentData()

    def _run(self, layer, effect, function, *args):
        before = np.array(layer.data)  # a copy: the core never writes into it
        self.job.start(_guarded, function, before, *args,
                       on_result=lambda result: self._write(layer, before, effect, result),
                       what=f"{effect} on '{layer.name}'", reads=(layer,), name=effect)

    def _write(self, layer, before, effect, result):
        if layer not in self.viewer.layers:
            return
        if not np.array_equal(np.asarray(layer.data), before):
            self.status.setText(f"'{layer.name}' changed during {effect}; press Apply again.")
            return
        indices = np.nonzero(result != before)
        if indices[0].size == 0:
            self.status.setText(f"{effect}: nothing to change.")
            return
        mask = self.paint_mask if self.paint_mask and self.paint_mask.layer is layer else None
        if mask is not None:
            mask.paused = True
        try:
            layer.data_setitem(indices, result[indices])  # one undo step
        finally:
            if mask is not None:
                mask.paused = False
        self.status.setText(f"{effect}: {indices[0].size} voxels changed (Ctrl+Z on "
                            f"'{layer.name}' undoes it).")

    # -- teardown ------------------------------------------------------------------
    def _unhook(self):
        """Disconnect from the viewer (no Qt calls: also runs on destroy)."""
        events = self.viewer.layers.events
        events.inserted.disconnect(self._refresh_choices)
        events.removed.disconnect(self._refresh_choices)
        self.viewer.dims.events.ndisplay.disconnect(self._update_axis_hint)
        for layer in self.viewer.layers:
            layer.events.name.disconnect(self._refresh_choices)
        if self._followed is not None:
            self._followed.events.selected_label.disconnect(self._follow_selected)
        if self.paint_mask is not None:
            self.paint_mask.disconnect()
        if self._picking_island and self._pick_island in self.viewer.mouse_drag_callbacks:
            self.viewer.mouse_drag_callbacks.remove(self._pick_island)

    def closeEvent(self, event):  # noqa: N802 (Qt name)
        self._unhook()
        super().closeEvent(event)


# --- what the worker runs (the labels first, then the effect's parameters) ----------

def _guarded(function, labels, *args):
    """``function(labels, *args)``; a problem with the input comes back as a message."""
    try:
        return function(labels, *args)
    except (ValueError, TypeError, ImportError) as exc:
        return Failure(str(exc))


def _logical(labels, op, label, other):
    return effects.logical(labels, op, label=label, other=other)


def _scissors(labels, region, op, label):
    return effects.scissors(labels, region, op, label=label)


def _margin(labels, mm, label, spacing):
    return effects.margin(labels, mm, label=label, spacing=spacing)


def _hollow(labels, mm, label, spacing):
    return effects.hollow(labels, mm, label=label, spacing=spacing)


def _islands(labels, mode, label, spacing, min_size):
    if mode == "Split islands into segments":
        return effects.split_islands(labels, label=label, spacing=spacing,
                                     min_size_mm3=min_size)
    if mode == "Remove small islands":
        if min_size <= 0:
            raise ValueError("Set a min size above 0 to remove small islands.")
        return postprocess.remove_small_objects(labels, min_size, spacing=spacing,
                                                label=label)
    return postprocess.keep_largest(labels, label=label)


def _keep_island(labels, point, label):
    return effects.keep_island(labels, point, label=label)


def _fill(labels, label, axis, spacing, method):
    return slice_interpolation.fill_between_slices(labels, label=label, axis=axis,
                                                   spacing=spacing, method=method)
