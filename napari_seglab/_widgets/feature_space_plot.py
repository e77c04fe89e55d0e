"""The feature-space plot canvas: a density image, seeds, centres, a lasso.

pyqtgraph, not matplotlib: the density of millions of pixels is one
``ImageItem`` (a 256² texture, redrawn in a millisecond whatever the pixel
count), the seeds one ``ScatterPlotItem`` (a few thousand points), and a
drag is handled in the view box without redrawing the figure, so the lasso
and the highlight follow the mouse. Matplotlib's Qt canvas redraws the whole
figure per change (tens of ms even for an image), and vispy would need our
own axes.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from napari.utils.notifications import show_error
from qtpy.QtCore import QBuffer, QByteArray, QIODevice, QRectF, Qt, Signal
from qtpy.QtWidgets import QFileDialog, QSizePolicy, QVBoxLayout, QWidget

from ..core.feature_space import class_histograms
from ..core.files import atomic_write

__all__ = ["FeatureSpacePlot", "TOOLS", "density_picture", "rgba255"]

#: Mouse tools of the plot: drag a lasso, drag a rectangle, or pan/zoom.
TOOLS = ("lasso", "rectangle", "pan")
#: Height of the plot in pixels (fits a 1280×800 screen with the controls).
PLOT_HEIGHT = 300


_REGION_ALPHA = 0.45


def rgba255(color):
    """A napari colour (floats in [0, 1]) as 0-255 RGBA."""
    c = np.asarray(color, float).ravel()[:4]
    if c.size == 3:
        c = np.r_[c, 1.0]
    return tuple(int(round(255 * v)) for v in c)


def density_picture(counts, regions=None, colors=None):
    """An (nx, ny, 4) uint8 picture: regions shaded beneath a log density.

    Empty bins show the background (or the region colour); occupied bins
    go from faint to white with ``log(1 + count)``.
    """
    nx, ny = counts.shape
    out = np.zeros((nx, ny, 3), np.float32)
    out[:] = (24, 26, 32)
    if regions is not None:
        lut = np.zeros((int(regions.max()) + 1, 3), np.float32)
        for label, rgba in colors.items():
            if 0 <= label < lut.shape[0]:
                lut[label] = rgba[:3]
        # regions live on their own grid; sample them at the density's bins
        ri = (np.arange(nx) * regions.shape[0] // nx)[:, None]
        rj = (np.arange(ny) * regions.shape[1] // ny)[None, :]
        shade = lut[regions[ri, rj]]
        out = out * (1 - _REGION_ALPHA) + shade * _REGION_ALPHA
    logc = np.log1p(counts)
    top = logc.max()
    a = (logc / top if top > 0 else logc)[..., None].astype(np.float32)
    a = np.where(counts[..., None] > 0, 0.25 + 0.75 * a, 0.0)
    out = out * (1 - a) + 255.0 * a
    rgba = np.empty((nx, ny, 4), np.uint8)
    rgba[..., :3] = np.clip(out, 0, 255)
    rgba[..., 3] = 255
    return rgba


class _SelectViewBox(pg.ViewBox):
    """A view box whose left drag draws a lasso or rectangle (right drag zooms)."""

    def __init__(self, owner):
        super().__init__()
        self._owner = owner

    def mouseDragEvent(self, ev, axis=None):
        if self._owner.tool == "pan" or ev.button() != Qt.MouseButton.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        point = self.mapSceneToView(ev.scenePos())
        if ev.isStart():
            start = self.mapSceneToView(ev.buttonDownScenePos())
            self._owner.begin_drag((start.x(), start.y()))
        self._owner.extend_drag((point.x(), point.y()))
        if ev.isFinish():
            self._owner.finish_drag()


def plot_title(shape, z, regions_method=None, kmeans=False) -> str:
    """The plot's title: how many pixels of what, the regions' method, the k-means mark.

    ``shape`` is the spatial shape of the pixels shown, ``z`` the slice (None:
    the whole image or volume).
    """
    where = ("whole volume" if z is None and len(shape) == 3
             else "image" if z is None else f"slice {z}")
    parts = [f"{int(np.prod(shape)):,} pixels ({where})"]
    if regions_method:
        parts.append(f"{regions_method} regions, retrained on the 2 shown features")
    if kmeans:
        parts.append("◆ k-means centres")
    return " · ".join(parts)


class FeatureSpacePlot(QWidget):
    """A plot of two features: density image, seed points, markers, selection.

    Signals
    -------
    polygon_changed(ndarray)
        The lasso/rectangle while it is dragged, shape (N, 2), data units.
    polygon_finished(ndarray)
        The final polygon on release.
    """

    polygon_changed = Signal(object)
    polygon_finished = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.tool = "lasso"
        self._drag = []
        self._drag_start = None
        self.view = _SelectViewBox(self)
        self.plot = pg.PlotWidget(viewBox=self.view, background=(24, 26, 32))
        self.plot.setMinimumHeight(200)
        self.plot.setFixedHeight(PLOT_HEIGHT)
        self.plot.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.plot.showGrid(x=False, y=False)
        self.plot.getPlotItem().titleLabel.setMaximumHeight(18)
        self.image = pg.ImageItem(axisOrder="col-major")
        self.seed_items = []  # one scatter per class: one brush each (fast)
        self.centres = pg.ScatterPlotItem(size=16, symbol="d", pxMode=True,
                                          pen=pg.mkPen("k", width=2),
                                          brush=pg.mkBrush(255, 255, 255))
        self.centres.setZValue(8)
        self.hover = pg.ScatterPlotItem(size=22, symbol="+", pxMode=True,
                                        pen=pg.mkPen((255, 230, 0), width=3),
                                        brush=pg.mkBrush(255, 230, 0))
        self.hover.setZValue(10)
        self.outline = pg.PlotCurveItem(pen=pg.mkPen((255, 230, 0), width=2))
        self.outline.setZValue(9)
        for item in (self.image, self.centres, self.hover, self.outline):
            self.plot.addItem(item)
        self.curves = []
        self.lines = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)

    # -- drawing ------------------------------------------------------------

    def clear_1d(self):
        for item in self.curves + self.lines:
            self.plot.removeItem(item)
        self.curves, self.lines = [], []

    def hide_2d(self):
        """Hide the density picture, the centres and the seeds (a 1D mode, or nothing)."""
        self.image.setVisible(False)
        self.centres.setData([], [])
        self.set_seeds([])

    def set_image(self, rgba, xedges, yedges):
        """Show an (nx, ny, 4) uint8 picture over the bins' extent."""
        self.image.setImage(rgba, autoLevels=False, levels=(0, 255))
        x0, x1, y0, y1 = xedges[0], xedges[-1], yedges[0], yedges[-1]
        self.image.setRect(QRectF(x0, y0, max(x1 - x0, 1e-12), max(y1 - y0, 1e-12)))
        self.image.setVisible(True)

    def set_points(self, item, x, y, colors=None):
        if colors is None:
            item.setData(x=np.asarray(x), y=np.asarray(y))
        else:
            brushes = [pg.mkBrush(*c) for c in colors]
            item.setData(x=np.asarray(x), y=np.asarray(y), brush=brushes)

    def set_seeds(self, groups):
        """Seed points per class: a list of ``(x, y, rgba255)``."""
        while len(self.seed_items) > len(groups):
            self.plot.removeItem(self.seed_items.pop())
        while len(self.seed_items) < len(groups):
            item = pg.ScatterPlotItem(size=5, pen=None, pxMode=True)
            item.setZValue(5)
            self.plot.addItem(item)
            self.seed_items.append(item)
        for item, (x, y, color) in zip(self.seed_items, groups, strict=True):
            item.setData(x=np.asarray(x), y=np.asarray(y), brush=pg.mkBrush(*color))

    def n_seed_points(self) -> int:
        return sum(len(item.data) for item in self.seed_items)

    def set_hover(self, point):
        if point is None:
            self.hover.setData([], [])
        else:
            self.hover.setData([point[0]], [point[1]])

    def set_outline(self, polygon):
        if polygon is None or len(polygon) < 2:
            self.outline.setData([], [])
            return
        closed = np.vstack([polygon, polygon[:1]])
        self.outline.setData(closed[:, 0], closed[:, 1])

    def add_curve(self, x, y, color, *, step=False, width=2, name=None):
        pen = pg.mkPen(color, width=width)
        curve = pg.PlotCurveItem(x, y, pen=pen, stepMode="center" if step else None, name=name)
        self.plot.addItem(curve)
        self.curves.append(curve)
        return curve

    def add_vline(self, x, label, color=(200, 200, 200)):
        line = pg.InfiniteLine(pos=x, angle=90, pen=pg.mkPen(color, style=Qt.PenStyle.DashLine),
                               label=label, labelOpts={"position": 0.92, "color": color})
        self.plot.addItem(line)
        self.lines.append(line)

    def show_histograms(self, x, where, labels, colors, xname, bins=128):
        """1D mode: all pixels (grey), each seed class, try-all thresholds as lines."""
        from skimage import filters

        everyone = np.ones(x.size, np.int64)
        all_counts, edges, _ = class_histograms(x, everyone, bins=bins)
        full = np.zeros(x.size, np.int64)
        full[where] = labels
        counts, _, classes = class_histograms(x, full, bins=bins, range=(edges[0], edges[-1]))
        self.add_curve(edges, all_counts[0] / max(all_counts.max(), 1), (170, 170, 170),
                       step=True, width=1)
        for k, c in enumerate(classes):
            self.add_curve(edges, counts[k] / max(counts[k].max(), 1), colors[int(c)],
                           step=True)
        sample = x if x.size <= 1_000_000 else x[:: x.size // 1_000_000 + 1]
        for name in ("otsu", "li", "yen", "triangle"):
            try:
                t = float(getattr(filters, f"threshold_{name}")(sample))
            except (ValueError, RuntimeError):
                continue
            self.add_vline(t, name)
        self.set_labels("all pixels (grey) and seed classes, each scaled to its peak; "
                        "thresholds of the try-all gallery", xname, "relative count")
        self.view.autoRange()

    def show_class_means(self, classes, means, colors, what="feature"):
        """Class-mean spectra: one curve per class against channel/feature index."""
        idx = np.arange(means.shape[1] if means.ndim == 2 else 0, dtype=float)
        for k, c in enumerate(classes):
            self.add_curve(idx, means[k], colors[int(c)], width=2)
        self.set_labels(f"class-mean {what}s of the seeds", f"{what} index", "mean")
        self.view.autoRange()

    def set_labels(self, title, xlabel, ylabel):
        self.plot.setTitle(title, size="9pt")
        self.plot.setLabel("bottom", xlabel)
        self.plot.setLabel("left", ylabel)

    def fit_view(self, xedges, yedges):
        self.view.setRange(xRange=(xedges[0], xedges[-1]), yRange=(yedges[0], yedges[-1]),
                           padding=0.02)

    # -- the drag -----------------------------------------------------------

    def begin_drag(self, point):
        self._drag = [point]
        self._drag_start = point

    def _polygon(self):
        if self.tool == "rectangle" and self._drag:
            (x0, y0), (x1, y1) = self._drag_start, self._drag[-1]
            return np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], float)
        return np.asarray(self._drag, float)

    def extend_drag(self, point):
        if self._drag_start is None:
            self.begin_drag(point)
        if self.tool == "rectangle":
            self._drag = [self._drag_start, point]
        else:
            self._drag.append(point)
        polygon = self._polygon()
        self.set_outline(polygon)
        self.polygon_changed.emit(polygon)

    def finish_drag(self):
        polygon = self._polygon()
        self._drag, self._drag_start = [], None
        self.polygon_finished.emit(polygon)

    # -- export -------------------------------------------------------------

    def export(self, path):
        """Write the plot as a PNG file (twice the on-screen width, at least 800 px)."""
        from pyqtgraph import exporters

        path = str(path)
        item = self.plot.getPlotItem()
        if not path.lower().endswith(".png"):
            # pyqtgraph 0.14's SVG writer fails on these items with Qt 6
            # (its coordinate rewrite), so only PNG is offered
            raise ValueError(f"the plot is exported as PNG; got {path!r}")
        if True:
            exporter = exporters.ImageExporter(item)
            exporter.parameters()["width"] = max(800, int(self.plot.width()) * 2)
            qimage = exporter.export(toBytes=True)
            buffer = QByteArray()
            device = QBuffer(buffer)
            device.open(QIODevice.OpenModeFlag.WriteOnly)
            qimage.save(device, "PNG")
            device.close()
            data = bytes(buffer.data())
        with atomic_write(path, "wb") as fh:
            fh.write(data)
        return path

    def export_dialog(self):
        """Ask where, then :meth:`export`; a failed write is a notification."""
        path, _ = QFileDialog.getSaveFileName(self, "Export plot", "feature_space.png",
                                              "PNG (*.png)")
        if path:
            try:
                self.export(path)
            except (OSError, ValueError) as err:
                show_error(f"Feature space: could not write {path}: {err}")
