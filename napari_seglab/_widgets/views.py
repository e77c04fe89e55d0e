"""Paint on axial, coronal or sagittal slices: buttons that roll the viewer's axes.

One canvas and the same layers in every plane: a seed painted on a coronal
slice lands in the seeds layer at its voxel, exactly as on an axial one.
This was chosen over extra linked canvases (napari's
``multiple_viewer_widget`` example) because it needs no second OpenGL
context (fragile on remote desktops and under Xvfb), no private napari
API to keep several viewer models in sync, and it keeps the full canvas
size for painting.

Planes assume the usual array order ``(z, y, x)`` of a volume: axial shows
``(y, x)``, coronal ``(z, x)`` and sagittal ``(z, y)``; the slider moves
along the remaining axis. Axes before the last three (time, ...) keep
their place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from napari.layers import Image
from qtpy.QtWidgets import QButtonGroup, QComboBox, QHBoxLayout, QPushButton, QWidget

from ..core.windowing import CT_PRESETS, PATIENT_PLANES, display_window, plane_axes, robust_window
from .layers import unwrap

if TYPE_CHECKING:
    import napari

#: Plane name -> (sliced axis, displayed rows, displayed columns) of an axial (z, y, x) volume.
PLANES = PATIENT_PLANES

#: Window choices besides the CT presets.
WINDOW_AUTO = "Auto (robust)"
WINDOW_FILE = "File's window"
WINDOW_PROMPT = "Window…"


def plane_order(plane: str, ndim: int, direction=None) -> tuple[int, ...]:
    """The ``viewer.dims.order`` that shows ``plane`` of the last three axes.

    ``direction`` (3×3, the array axes in patient (S, P, L) order, as the
    readers put in ``metadata["direction"]``) picks the array axis of each
    patient axis; identity (an axial stack) when omitted.

    >>> plane_order("Coronal", 3)
    (1, 0, 2)
    >>> plane_order("Sagittal", 4)
    (0, 3, 1, 2)
    """
    if plane not in PLANES:
        raise ValueError(f"plane must be one of {', '.join(PLANES)}; got {plane!r}")
    if ndim < 3:
        raise ValueError(f"orthogonal planes need a volume (3 axes); the viewer has {ndim}")
    lead = ndim - 3
    return tuple(range(lead)) + tuple(lead + axis for axis in plane_axes(plane, direction)[0])


def current_plane(order, ndim: int, direction=None) -> str | None:
    """The plane shown by ``order``, or None for another arrangement."""
    for plane in PLANES:
        if ndim >= 3 and tuple(order) == plane_order(plane, ndim, direction):
            return plane
    return None


def volume_direction(viewer):
    """The patient direction of the volume on show: the active layer's, else the first's.

    Image layers first (a label map drawn on them shares their grid), then labels.
    """
    layers = [viewer.layers.selection.active] + list(viewer.layers)
    layers = ([la for la in layers if isinstance(la, Image)]
              + [la for la in layers if not isinstance(la, Image)])
    for layer in layers:
        if layer is not None and layer.ndim >= 3:
            direction = (layer.metadata or {}).get("direction")
            if direction is not None and np.shape(direction) == (3, 3):
                return np.asarray(direction, float)
    return None


def window_target(viewer):
    """The image layer a window preset applies to: the active image, else the top one."""
    active = viewer.layers.selection.active
    if isinstance(active, Image) and not active.rgb:
        return active
    for layer in reversed(list(viewer.layers)):
        if isinstance(layer, Image) and not layer.rgb and layer.visible:
            return layer
    return None


def apply_window(layer, choice: str) -> tuple[float, float]:
    """Set ``layer``'s contrast limits to a preset, the file's window or a robust one."""
    data = layer.data[0] if getattr(layer, "multiscale", False) else layer.data
    if choice in CT_PRESETS:
        level, width = CT_PRESETS[choice]
        limits = (level - width / 2, level + width / 2)
    elif choice == WINDOW_FILE:
        limits = display_window(np.asarray(data), layer.metadata)
    else:
        limits = robust_window(np.asarray(data))
    low, high = layer.contrast_limits_range
    layer.contrast_limits_range = (min(low, limits[0]), max(high, limits[1]))
    layer.contrast_limits = limits
    return limits


class OrthogonalViews(QWidget):
    """Three buttons, *Axial*, *Coronal*, *Sagittal*, showing that plane, and window presets.

    The canvas switches to 2D display (painting happens on slices); the
    buttons are disabled while the viewer holds no volume. Planes follow the
    radiological convention from the volume's patient direction (DICOM
    direction cosines, NIfTI/NRRD affines): superior up in coronal and
    sagittal views, patient left on the screen's right; the camera flips the
    view, the data stay as they are. The window menu sets the image's
    contrast: CT presets (Slicer's), the file's window, or a robust
    percentile window (MR).
    """

    def __init__(self, napari_viewer: napari.Viewer):
        super().__init__()
        self.viewer = unwrap(napari_viewer)  # not napari's public-only proxy
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.buttons: dict[str, QPushButton] = {}
        for plane in PLANES:
            button = QPushButton(plane)
            button.setCheckable(True)
            button.setToolTip(f"Show and paint {plane.lower()} slices of the volume "
                              "(same layers, the slider moves through the volume)")
            button.clicked.connect(lambda _=False, p=plane: self.show_plane(p))
            self.group.addButton(button)
            layout.addWidget(button)
            self.buttons[plane] = button
        self.window = QComboBox()
        self.window.addItems([WINDOW_PROMPT, WINDOW_AUTO, WINDOW_FILE, *CT_PRESETS])
        self.window.setToolTip("Window / level of the active image: CT presets (HU), the "
                               "file's window, or Auto — between the 0.5 and 99.5 "
                               "percentiles of the foreground (for MR)")
        self.window.activated.connect(self._on_window)
        layout.addWidget(self.window)
        self.viewer.dims.events.order.connect(self._sync)
        self.viewer.dims.events.ndim.connect(self._sync)
        self.viewer.dims.events.ndisplay.connect(self._sync)
        # Inside another dock this widget is deleted with it, without a closeEvent.
        self.destroyed.connect(lambda *_: self._unhook())
        self._sync()

    def show_plane(self, plane: str) -> None:
        """Roll the viewer's axes so that ``plane`` is displayed in 2D, radiologically."""
        dims = self.viewer.dims
        direction = volume_direction(self.viewer)
        order = plane_order(plane, dims.ndim, direction)
        dims.ndisplay = 2
        dims.order = order
        self.viewer.camera.orientation2d = plane_axes(plane, direction)[1]
        self._oriented = True
        self._sync()

    def set_window(self, choice: str):
        """Apply a window choice (a :data:`CT_PRESETS` name, the file's, Auto) to the image."""
        layer = window_target(self.viewer)
        if layer is None:
            return None
        return apply_window(layer, choice)

    def _on_window(self, index):
        choice = self.window.itemText(index)
        if choice != WINDOW_PROMPT:
            self.set_window(choice)
        self.window.setCurrentIndex(0)  # a menu of actions, not a state

    def _sync(self, event=None) -> None:
        dims = self.viewer.dims
        volume = dims.ndim >= 3
        for button in self.buttons.values():
            button.setEnabled(volume)
        plane = (current_plane(dims.order, dims.ndim, volume_direction(self.viewer))
                 if dims.ndisplay == 2 else None)
        if getattr(self, "_oriented", False) and dims.ndisplay == 2 and plane is None:
            # our flip must not outlive our plane (a 2D image opened next, axes rolled)
            self.viewer.camera.orientation2d = ("down", "right")
            self._oriented = False
        self.group.setExclusive(False)  # allows "none checked" for other orders
        for name, button in self.buttons.items():
            button.setChecked(name == plane)
        self.group.setExclusive(True)

    def _unhook(self):
        """Disconnect from the viewer (no Qt calls: also runs on destroy)."""
        for emitter in (self.viewer.dims.events.order, self.viewer.dims.events.ndim,
                        self.viewer.dims.events.ndisplay):
            emitter.disconnect(self._sync)

    def closeEvent(self, event):  # noqa: N802 (Qt name)
        self._unhook()
        super().closeEvent(event)
