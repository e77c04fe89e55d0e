"""What the *Effects* section needs from napari: which layer to edit, the viewing
axis, shapes drawn on the view as a mask, and a paint mask on a labels layer.

No widgets here: plain functions and one small class, testable with a
:class:`napari.components.ViewerModel`.
"""

from __future__ import annotations

import numpy as np
from napari.layers import Labels
from qtpy.QtCore import QTimer
from skimage.draw import polygon2mask

from ..core.effects import extrude
from .layers import META_KEY
from .panel_model import is_helper, model_for

__all__ = ["HELPER_ROLE", "PaintMask", "is_helper", "segmentation_layers",
           "shapes_region", "viewing_axis"]

#: ``metadata[META_KEY]["role"]`` of the layers the section makes for display
#: (threshold preview, scissors shapes): never offered as inputs.
HELPER_ROLE = "effects helper"

def segmentation_layers(viewer) -> list:
    """The labels layers an effect may edit, the panel model's segmentation first.

    The panel model's candidates for the segmentation role: never a layer the
    plugin made for display, the ground truth or the seeds.
    """
    model = model_for(viewer)
    layers = [layer for layer in model.candidates("segmentation")
              if isinstance(layer, Labels)]
    current = model.get("segmentation")
    layers.sort(key=lambda layer: not (current is not None and layer == current))
    return layers


def viewing_axis(viewer, layer) -> int | None:
    """The layer's axis across the view (the slices), or None for a 2D layer.

    In a 3D view, the first axis (the slices of a volume as read).
    """
    if layer.ndim < 3:
        return None
    offset = viewer.dims.ndim - layer.ndim
    hidden = [axis - offset for axis in range(viewer.dims.ndim)
              if axis not in viewer.dims.displayed and axis >= offset]
    return hidden[-1] if viewer.dims.ndisplay == 2 and hidden else 0


def _ellipse_polygon(corners, n=64):
    """Points on the ellipse inscribed in a (possibly rotated) box of 4 corners."""
    centre = corners.mean(axis=0)
    a = (corners[1] - corners[0]) / 2
    b = (corners[3] - corners[0]) / 2
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)[:, None]
    return centre + np.cos(t) * a + np.sin(t) * b


def shapes_region(shapes, shape, axis, *, all_slices=True):
    """The region of the polygons, rectangles and ellipses of ``shapes``.

    Parameters
    ----------
    shapes : napari Shapes layer
        Drawn on the view, with the labels layer's scale and translation
        (its data coordinates are the labels' indices).
    shape : tuple of int
        The labels' shape.
    axis : int or None
        The viewing axis; None for a 2D image.
    all_slices : bool
        Through every slice along ``axis``, or only the slice each shape
        was drawn on.

    Returns
    -------
    region : ndarray of bool, of ``shape``
    skipped : int
        Lines and paths, which enclose nothing.
    """
    plane_axes = [i for i in range(len(shape)) if i != axis]
    plane_shape = tuple(shape[i] for i in plane_axes)
    region = np.zeros(shape, bool)
    skipped = 0
    for vertices, kind in zip(shapes.data, shapes.shape_type, strict=True):
        vertices = np.asarray(vertices, float)
        points = vertices[:, plane_axes]
        if kind == "ellipse":
            points = _ellipse_polygon(points)
        elif kind not in ("polygon", "rectangle"):
            skipped += 1
            continue
        plane = polygon2mask(plane_shape, points)
        index = None
        if axis is not None and not all_slices:
            index = int(np.clip(round(vertices[0, axis]), 0, shape[axis] - 1))
        region |= extrude(plane, shape, axis=axis, index=index)
    return region, skipped


class PaintMask:
    """Keep a labels layer's brush, fill and polygon strokes inside a mask.

    After each stroke (the layer's ``paint`` event), the voxels it changed
    outside ``mask`` get their old values back, and that correction joins the
    stroke's own undo step, so one Ctrl+Z still undoes the whole stroke.
    As 3D Slicer's *editable intensity range*. Set ``paused`` while writing an
    effect's result: effects decide themselves where they write.
    """

    def __init__(self, layer, mask):
        self.layer = layer
        self.mask = np.asarray(mask, bool)
        self.reverted = 0
        self.paused = False
        layer.events.paint.connect(self._on_paint)

    def disconnect(self):
        self.layer.events.paint.disconnect(self._on_paint)

    def _on_paint(self, event):
        item = getattr(event, "value", None)
        if self.paused or not isinstance(item, list) or not item:
            return
        # napari announces a single paint() call before it writes the voxels
        # (a mouse stroke after): correct once the write is done.
        QTimer.singleShot(0, lambda: self._revert_outside(item))

    def _revert_outside(self, item):
        data = self.layer.data
        outside = []
        for atom in item:
            for indices, old in _changed(atom, data.ndim):
                keep = ~self.mask[indices]
                if keep.any():
                    outside.append((tuple(i[keep] for i in indices), old[keep]))
        if not outside:
            return
        indices = tuple(np.concatenate([o[0][d] for o in outside]) for d in range(data.ndim))
        old = np.concatenate([o[1] for o in outside])
        painted = np.array(data[indices], copy=True)
        data[indices] = old
        # The stroke's history item is the event's value: the undo of this
        # correction runs first, then the stroke's own.
        item.append((indices, painted, old))
        self.layer.refresh()
        self.reverted += int(old.size)


def _changed(atom, ndim):
    """``(indices, old values)`` of the voxels one history atom changed."""
    if hasattr(atom, "slice_key"):  # napari's masked paint atom
        starts = [s.start or 0 for s in atom.slice_key]
        if atom.mask is None:
            old = np.asarray(atom.old_values)
            local = np.indices(old.shape).reshape(ndim, -1)
            old = old.ravel()
        else:
            local = np.nonzero(atom.mask)
            old = np.asarray(atom.old_values).ravel()
        indices = tuple(np.asarray(i) + s for i, s in zip(local, starts, strict=True))
        yield indices, old
    else:
        indices, old, _ = atom
        indices = tuple(np.asarray(i) for i in indices)
        yield indices, np.broadcast_to(np.asarray(old), indices[0].shape)


#: For layers the section adds: the helper tag.
def helper_metadata(source: str) -> dict:
    return {META_KEY: {"role": HELPER_ROLE, "source": source}}
