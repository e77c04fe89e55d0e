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

from qtpy.QtWidgets import QButtonGroup, QHBoxLayout, QPushButton, QWidget

from .layers import unwrap

if TYPE_CHECKING:
    import napari

#: Plane name -> (sliced axis, displayed rows, displayed columns) of a (z, y, x) volume.
PLANES = {
    "Axial": (0, 1, 2),
    "Coronal": (1, 0, 2),
    "Sagittal": (2, 0, 1),
}


def plane_order(plane: str, ndim: int) -> tuple[int, ...]:
    """The ``viewer.dims.order`` that shows ``plane`` of the last three axes.

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
    return tuple(range(lead)) + tuple(lead + axis for axis in PLANES[plane])


def current_plane(order, ndim: int) -> str | None:
    """The plane shown by ``order``, or None for another arrangement."""
    for plane in PLANES:
        if ndim >= 3 and tuple(order) == plane_order(plane, ndim):
            return plane
    return None


class OrthogonalViews(QWidget):
    """Three buttons, *Axial*, *Coronal*, *Sagittal*, showing that plane.

    The canvas switches to 2D display (painting happens on slices); the
    buttons are disabled while the viewer holds no volume.
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
        self.viewer.dims.events.order.connect(self._sync)
        self.viewer.dims.events.ndim.connect(self._sync)
        self.viewer.dims.events.ndisplay.connect(self._sync)
        # Inside another dock this widget is deleted with it, without a closeEvent.
        self.destroyed.connect(lambda *_: self._unhook())
        self._sync()

    def show_plane(self, plane: str) -> None:
        """Roll the viewer's axes so that ``plane`` is displayed in 2D."""
        dims = self.viewer.dims
        order = plane_order(plane, dims.ndim)
        dims.ndisplay = 2
        dims.order = order
        self._sync()

    def _sync(self, event=None) -> None:
        dims = self.viewer.dims
        volume = dims.ndim >= 3
        for button in self.buttons.values():
            button.setEnabled(volume)
        plane = current_plane(dims.order, dims.ndim) if dims.ndisplay == 2 else None
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
