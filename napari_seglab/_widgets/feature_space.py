"""The Feature space dock: every pixel a point, classes as clouds, the classifier as regions.

Two features of the current spec (as the Features panel names them) span
the plane; every pixel of the slice or volume is counted into a log-scaled
2D histogram (never a scatter of millions of points), the seeds are drawn on
top in their layer's colours, and a classifier retrained on the two shown
features shades its decision regions. A lasso or rectangle in the plot
highlights its pixels in the viewer (layer ``feature-space selection``) and
can be painted as seeds (undoable) or kept as a mask; hovering the image
marks the pixel's point; strokes, undo and another slice update the plot.

Heavy work (features, the bin index, decision regions, a volume's
selection) runs in thread workers; a generation counter per job drops
results of outdated requests.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QTimer
from qtpy.QtGui import QCloseEvent
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..core.feature_space import (
    FeatureSpaceIndex,
    class_mean_spectra,
    decision_regions,
    flat_nonzero,
)
from ..core.features import PRESETS, compute_features
from ..core.segmenters import make_segmenter
from .feature_space_plot import TOOLS, FeatureSpacePlot, density_picture, plot_title, rgba255
from .layers import InputError, image_arrays, spatial_shape
from .panel_model import LayerPicker, model_for
from .visibility import hidden_in_shown_window

if TYPE_CHECKING:
    import napari

__all__ = ["FeatureSpaceWidget", "SELECTION_LAYER", "REGION_METHODS"]

#: Name of the Labels layer that shows the plot's selection in the viewer.
SELECTION_LAYER = "feature-space selection"
#: Decision-region methods offered (display name -> segmenter method).
REGION_METHODS = {"none": None, "kNN": "knn", "nearest mean": "nearest_mean",
                  "k-means": "kmeans", "random forest": "random_forest"}
MODES = ("2D density", "1D histogram", "class means")
SCOPES = ("current slice", "whole volume")
#: Feature-combo entry: the raw channels of a multichannel image.
CHANNELS = "channels"
#: Bins of the density (and of the bin index that selections use).
BINS = 256
#: Grid of the decision regions.
REGION_RESOLUTION = 128
#: Seed points drawn at most (a random, fixed subset beyond).
MAX_SEED_POINTS = 20_000
#: Pixels k-means is fitted on for its regions and centres.
KMEANS_SAMPLE = 50_000
#: Up to this many pixels the selection may follow the lasso while dragging.
LIVE_POINTS = 4_000_000
#: A drag selects as it goes (every LIVE_INTERVAL_MS) only while one selection
#: costs at most LIVE_SELECT_MS, so a mouse move stays within a 60 Hz frame;
#: else on release. The outline follows the mouse either way.
LIVE_SELECT_MS, LIVE_INTERVAL_MS = 12, 50


class FeatureSpaceWidget(QWidget):
    """Dock widget *Feature space*.

    Public methods drive it like the mouse does: :meth:`select_polygon`
    (a lasso or rectangle in plot units), :meth:`paint_selection`,
    :meth:`make_mask`, :meth:`export_plot`, :meth:`refresh`.
    """

    def __init__(self, napari_viewer: napari.Viewer):
        super().__init__()
        self.viewer = napari_viewer
        self._gen = {"features": 0, "pair": 0, "regions": 0, "select": 0}
        self._current = None  # the shown pair: x, y, bin index, counts
        self.seed_points = None
        self.hover_point = None
        self._workers = set()
        self._data = None  # dict of the current scope's features and pair
        self._seed_layer_hooked = None
        self._seed_cache = None
        self._following = True
        self._stale = False  # work skipped while hidden, done on show
        self._stale_features = False  # ... and it was a refresh, not a redraw
        self._seeds_timer = QTimer(self, singleShot=True, interval=0)
        self._selection = None  # bool mask of the scope's pixels
        self._regions = None
        self._centres = None
        self._polygon = None
        self._build()
        self._refresh_layer_choices()
        ev = self.viewer.layers.events
        ev.inserted.connect(self._refresh_layer_choices)
        ev.removed.connect(self._refresh_layer_choices)
        self.viewer.dims.events.current_step.connect(self._on_step)
        self.viewer.cursor.events.position.connect(self._on_cursor)
        # paint and labels_update both follow one edit: one redraw per turn
        self._seeds_timer.timeout.connect(self._redraw_seeds)
        self._step_timer = QTimer(self, singleShot=True, interval=60)
        self._step_timer.timeout.connect(self._on_step_settled)
        self._live_timer = QTimer(self, singleShot=True, interval=LIVE_INTERVAL_MS)
        self._live_timer.timeout.connect(self._select_live)
        self._pending_polygon = None
        self._live_cost = (None, 0.0)  # (scope, seconds of its last selection)
        self.refresh()

    # -- building -----------------------------------------------------------

    def _build(self):
        # The image and seeds roles: Paint as seeds writes only into the seeds.
        model = model_for(self.viewer)
        self.image_combo = LayerPicker(model, "image")
        model.classes_changed.connect(self._redraw_seeds)
        self.seeds_combo = LayerPicker(model, "seeds")
        self.spec_combo = QComboBox()
        self.x_combo = QComboBox()
        self.y_combo = QComboBox()
        self.mode_combo = QComboBox()
        self.mode_combo.addItems(MODES)
        self.scope_combo = QComboBox()
        self.scope_combo.addItems(SCOPES)
        self.normalize_check = QCheckBox("normalised")
        self.normalize_check.setToolTip("Z-score both axes over the pixels shown")
        self.method_combo = QComboBox()
        self.method_combo.addItems(REGION_METHODS)
        self.method_combo.setCurrentText("kNN")
        self.method_combo.setToolTip("Decision regions: the method retrained on the two "
                                     "shown features (seeds as training data)")
        self.kmeans_check = QCheckBox("k-means centres")
        self.tool_combo = QComboBox()
        self.tool_combo.addItems(TOOLS)
        self.class_spin = QSpinBox()
        self.class_spin.setRange(1, 255)
        self.class_spin.setPrefix("class ")
        # the style adds − / + buttons the size hint leaves out: never ":lass 1"
        self.class_spin.setMinimumWidth(self.class_spin.sizeHint().width() + 36)
        self.paint_button = QPushButton("Paint as seeds")
        self.paint_button.setToolTip("Add the selected pixels to the seeds layer (undoable)")
        self.mask_button = QPushButton("Make mask")
        self.clear_button = QPushButton("Clear")
        self.export_button = QPushButton("Export…")
        self.plot = FeatureSpacePlot(self)
        self.progress = QProgressBar()
        self.progress.setMaximumHeight(10)
        self.progress.setTextVisible(False)
        self.progress.setRange(0, 1)
        self.status = QLabel("")
        self.status.setWordWrap(True)

        for name in PRESETS:
            self.spec_combo.addItem(name)
        # the cheapest preset first: intensity against a blur, the classic picture
        self.spec_combo.setCurrentText("minimal" if "minimal" in PRESETS else
                                       next(iter(PRESETS)))
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setVerticalSpacing(2)
        form.addRow("Image", self.image_combo)
        form.addRow("Seeds", self.seeds_combo)
        form.addRow("Features", self.spec_combo)

        def row(*widgets):
            box = QHBoxLayout()
            box.setContentsMargins(0, 0, 0, 0)
            for w in widgets:
                box.addWidget(w)
            return box

        form.addRow("X / Y", row(self.x_combo, self.y_combo))
        form.addRow("View", row(self.mode_combo, self.scope_combo, self.normalize_check))
        form.addRow("Regions", row(self.method_combo, self.kmeans_check))
        form.addRow("Select", row(self.tool_combo, self.class_spin, self.paint_button))
        form.addRow("", row(self.mask_button, self.clear_button, self.export_button))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        layout.addLayout(form)
        layout.addWidget(self.plot)
        # The classes by name, as the Seeds & method legend names them.
        self.legend = QLabel("")
        self.legend.setWordWrap(True)
        layout.addWidget(self.legend)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)

        self.image_combo.currentIndexChanged.connect(self._on_image_changed)
        self.seeds_combo.currentIndexChanged.connect(self._on_seeds_changed)
        self.spec_combo.currentIndexChanged.connect(self._on_spec_changed)
        for combo in (self.x_combo, self.y_combo):
            combo.currentIndexChanged.connect(self._on_pair_changed)
        self.normalize_check.toggled.connect(self._on_pair_changed)
        self.mode_combo.currentIndexChanged.connect(self._on_mode_changed)
        self.scope_combo.currentIndexChanged.connect(lambda *_: self.refresh())
        self.method_combo.currentIndexChanged.connect(self._start_regions)
        self.kmeans_check.toggled.connect(self._start_regions)
        self.tool_combo.currentTextChanged.connect(self._set_tool)
        self.paint_button.clicked.connect(self.paint_selection)
        self.mask_button.clicked.connect(self.make_mask)
        self.clear_button.clicked.connect(self.clear_selection)
        self.export_button.clicked.connect(self.plot.export_dialog)
        self.plot.polygon_changed.connect(self._on_polygon_changed)
        self.plot.polygon_finished.connect(self.select_polygon)

    def _on_mode_changed(self, *_):
        self._redraw_all()
        if self._current is not None and self.mode_combo.currentText() == MODES[0]:
            self.plot.fit_view(self._current["index"].xedges, self._current["index"].yedges)

    def _set_tool(self, name):
        self.plot.tool = name

    # -- layers -------------------------------------------------------------

    def _refresh_layer_choices(self, *_):
        # the pickers fill themselves from the panel model
        self._hook_seeds()
        if self._data is None or self._data.get("image") is not self.image_layer:
            self._on_image_changed()

    @property
    def image_layer(self):
        return self.image_combo.layer

    @property
    def seeds_layer(self):
        return self.seeds_combo.layer

    def _hook_seeds(self):
        layer = self.seeds_layer
        if layer is self._seed_layer_hooked:
            return
        old = self._seed_layer_hooked
        if old is not None:
            for event in (old.events.paint, old.events.data, old.events.labels_update):
                event.disconnect(self._on_seeds_edited)
        if layer is not None:
            for event in (layer.events.paint, layer.events.data, layer.events.labels_update):
                event.connect(self._on_seeds_edited)
        self._seed_layer_hooked = layer

    # -- what is shown ------------------------------------------------------

    def _image_info(self):
        data, channel_axis, spacing = image_arrays(self.image_layer)
        shape = spatial_shape(data, channel_axis)
        return data, channel_axis, tuple(abs(s) for s in spacing), shape

    def _feature_names(self):
        layer = self.image_layer
        if layer is None:
            return []
        try:
            data, channel_axis, _, shape = self._image_info()
        except InputError:
            return []
        n_ch = 1 if channel_axis is None else data.shape[channel_axis]
        if self.spec_combo.currentText() == CHANNELS:
            return [f"channel {c}" for c in range(n_ch)]
        return PRESETS[self.spec_combo.currentText()].names(n_ch, len(shape))

    def _on_image_changed(self, *_):
        layer = self.image_layer
        n_ch = 1
        if layer is not None:
            try:
                data, channel_axis, _, _ = self._image_info()
                n_ch = 1 if channel_axis is None else data.shape[channel_axis]
            except InputError:
                pass
        try:
            self.scope_combo.setEnabled(len(self._image_info()[3]) == 3)
        except InputError:
            pass
        has = self.spec_combo.findText(CHANNELS) >= 0
        self.spec_combo.blockSignals(True)
        if n_ch > 1 and not has:
            self.spec_combo.addItem(CHANNELS)
        elif n_ch == 1 and has:
            if self.spec_combo.currentText() == CHANNELS:
                self.spec_combo.setCurrentText("default")
            self.spec_combo.removeItem(self.spec_combo.findText(CHANNELS))
        self.spec_combo.blockSignals(False)
        self._on_spec_changed()

    def _on_spec_changed(self, *_):
        names = self._feature_names()
        for combo, default in ((self.x_combo, 0), (self.y_combo, len(names) - 1)):
            current = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            if current in names:
                combo.setCurrentText(current)
            elif names:
                combo.setCurrentIndex(max(0, default))
            combo.blockSignals(False)
        self.refresh()

    def set_axes(self, x_name, y_name):
        """Choose the two features by name (as listed in the X / Y pickers)."""
        for combo, name in ((self.x_combo, x_name), (self.y_combo, y_name)):
            if combo.findText(name) < 0:
                raise ValueError(f"no feature {name!r}; features are "
                                 f"{[combo.itemText(i) for i in range(combo.count())]}")
        self.x_combo.blockSignals(True)
        self.x_combo.setCurrentText(x_name)
        self.x_combo.blockSignals(False)
        self.y_combo.setCurrentText(y_name)
        self._on_pair_changed()

    def _scope(self):
        """``None`` for the whole image, else the current slice index."""
        try:
            _, _, _, shape = self._image_info()
        except InputError:
            return None
        if len(shape) == 2 or self.scope_combo.currentText() == "whole volume":
            return None
        layer = self.image_layer
        world = self.viewer.dims.point
        z = layer.world_to_data(world)[-len(shape)] if layer is not None else 0
        return int(np.clip(np.round(z), 0, shape[0] - 1))

    # -- features (worker) --------------------------------------------------

    def showEvent(self, event):  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if self._stale:
            self._stale = False
            if self._stale_features:  # a refresh redraws the seeds too (_pair_ready)
                self._stale_features = False
                self.refresh()
            else:
                self._redraw_seeds()

    def refresh(self, *_):
        """Recompute the features of the slice or volume, then redraw."""
        if hidden_in_shown_window(self):
            self._stale = self._stale_features = True  # redone in showEvent
            return
        layer = self.image_layer
        if layer is None:
            self._data = None
            self._clear_plot("Open an image to see its feature space.")
            return
        try:
            data, channel_axis, spacing, shape = self._image_info()
        except InputError as err:
            show_warning(str(err))
            return
        spec_name = self.spec_combo.currentText()
        z = self._scope()
        key = (id(layer), id(layer.data), spec_name, z)
        if self._data is not None and self._data.get("key") == key:
            self._on_pair_changed()
            return
        self._gen["features"] += 1
        gen = self._gen["features"]

        def work():
            if spec_name == CHANNELS:
                img = np.asarray(data, np.float32)
                feats = np.moveaxis(img, channel_axis, -1)
                feats = feats[z] if z is not None else feats
            else:
                feats = compute_features(data, spec_name, spacing=spacing,
                                         channel_axis=channel_axis,
                                         region=None if z is None else (z,))
            return np.ascontiguousarray(feats, np.float32)

        self._start(work, lambda feats: self._features_ready(gen, key, layer, z, feats),
                    "features")

    def _start(self, fn, on_done, job):
        worker = create_worker(fn, _start_thread=False, _ignore_errors=True)
        self._workers.add(worker)
        self.progress.setRange(0, 0)

        def finished():
            self._workers.discard(worker)
            if not self._workers:
                try:
                    self.progress.setRange(0, 1)
                except RuntimeError:  # the dock was closed while the job ran
                    pass

        def done(result):
            try:
                self.x_combo.objectName()
            except RuntimeError:  # the dock was deleted while the job ran
                return
            on_done(result)

        worker.returned.connect(done)
        worker.errored.connect(lambda err: self._failed(job, err))
        worker.finished.connect(finished)
        worker.start()
        return worker

    def _failed(self, job, err):
        if isinstance(err, (ValueError, TypeError, MemoryError)):
            show_error(f"Feature space ({job}): {err}")
        else:
            show_error(f"Feature space ({job}) failed: {type(err).__name__}: {err}")

    def _features_ready(self, gen, key, layer, z, feats):
        if gen != self._gen["features"]:
            return
        self._data = {"key": key, "image": layer, "z": z, "features": feats,
                      "pairs": {}}
        self._selection = None
        self._on_pair_changed()

    def _on_pair_changed(self, *_):
        d = self._data
        if d is None:
            return
        i, j = self.x_combo.currentIndex(), self.y_combo.currentIndex()
        n = d["features"].shape[-1]
        if not (0 <= i < n and 0 <= j < n):
            return
        norm = self.normalize_check.isChecked()
        pair = (i, j, norm)
        d["pair"] = pair
        if pair in d["pairs"]:
            self._pair_ready(d, pair, d["pairs"][pair])
            return
        self._gen["pair"] += 1
        gen = self._gen["pair"]
        feats = d["features"]

        def work():
            flat = feats.reshape(-1, feats.shape[-1])
            cols = []
            for c in (i, j):
                v = np.ascontiguousarray(flat[:, c])
                if norm:
                    sd = float(v.std())
                    v = ((v - v.mean()) / (sd if sd > 0 else 1.0)).astype(np.float32)
                cols.append(v)
            index = FeatureSpaceIndex(cols[0], cols[1], bins=BINS)
            n = cols[0].size
            # a fixed subset for k-means and the medians (cheap to reuse per stroke)
            sample = (np.arange(n) if n <= KMEANS_SAMPLE else
                      np.random.default_rng(0).integers(0, n, KMEANS_SAMPLE))
            return {"x": cols[0], "y": cols[1], "index": index, "counts": index.density(),
                    "sample": np.c_[cols[0][sample], cols[1][sample]]}

        def done(result):
            if gen != self._gen["pair"] or self._data is not d:
                return
            d["pairs"][pair] = result
            self._pair_ready(d, pair, result)

        self._start(work, done, "bin index")

    def _pair_ready(self, d, pair, result):
        if d.get("pair") != pair:
            return
        self._current = result
        self._selection = None
        self._polygon = None
        self.plot.set_outline(None)
        self._redraw_all()
        self.plot.fit_view(result["index"].xedges, result["index"].yedges)
        self._start_regions()

    # -- seeds --------------------------------------------------------------

    def _seeds_in_scope(self):
        """(flat pixel indices, labels) of the seeds in the slice or volume.

        Cached until the seeds, their layer or the scope change: one scan of
        the seeds per edit, whoever asks.
        """
        layer = self.seeds_layer
        d = self._data
        key = (id(layer), None if d is None else d["key"])
        if self._seed_cache is not None and self._seed_cache[0] == key:
            return self._seed_cache[1]
        result = np.zeros(0, np.int64), np.zeros(0, np.int64)
        if layer is not None and d is not None:
            seeds = np.asarray(layer.data)
            shape = d["features"].shape[:-1]
            if d["z"] is not None and seeds.ndim == len(shape) + 1:
                seeds = seeds[d["z"]]
            if seeds.shape == shape:
                flat = seeds.reshape(-1)
                where = flat_nonzero(flat)
                result = where, flat[where].astype(np.int64)
        self._seed_cache = (key, result)
        return result

    def _colors(self, labels):
        layer = self.seeds_layer
        return {int(k): rgba255(layer.get_color(int(k))) if layer is not None
                else (255, 255, 255, 255) for k in np.unique(labels)}

    def _on_seeds_edited(self, *_):
        self._seed_cache = None
        self._seeds_timer.start()

    def _redraw_seeds(self):
        if self._data is None or self._current is None:
            return
        if hidden_in_shown_window(self):
            self._stale = True  # redrawn in showEvent
            return
        self._draw_seeds()
        if self.mode_combo.currentText() != MODES[0]:
            self._redraw_all()
        self._start_regions()

    def _on_seeds_changed(self, *_):
        self._seed_cache = None
        self._hook_seeds()
        self._redraw_seeds()

    def _show_legend(self, labels):
        from .class_editor import legend_html

        self.legend.setText(legend_html(model_for(self.viewer), np.unique(labels)))

    def _draw_seeds(self):
        cur = self._current
        where, labels = self._seeds_in_scope()
        self._show_legend(labels)
        if where.size > MAX_SEED_POINTS:
            keep = np.random.default_rng(0).choice(where.size, MAX_SEED_POINTS, replace=False)
            where, labels = where[keep], labels[keep]
        xs, ys = cur["x"][where], cur["y"][where]
        self.seed_points = (xs, ys, labels)
        if self.mode_combo.currentText() != MODES[0]:
            self.plot.set_seeds([])
            return
        order = np.argsort(labels, kind="stable")
        classes, starts = np.unique(labels[order], return_index=True)
        colors = self._colors(classes)
        groups = []
        parts = np.split(order, starts[1:]) if labels.size else []
        for c, part in zip(classes, parts, strict=True):
            groups.append((xs[part], ys[part], colors[int(c)]))
        self.plot.set_seeds(groups)

    # -- decision regions (worker) -----------------------------------------

    def _start_regions(self, *_):
        cur = self._current
        if cur is None:
            return
        method = REGION_METHODS[self.method_combo.currentText()]
        want_kmeans = self.kmeans_check.isChecked()
        self._gen["regions"] += 1
        gen = self._gen["regions"]
        where, labels = self._seeds_in_scope()
        classes = np.unique(labels)
        if (method is None and not want_kmeans) or classes.size < 1 or (
                method not in (None, "kmeans") and classes.size < 2):
            self._regions, self._centres = None, None
            self._redraw_all()
            return
        x, y = cur["x"], cur["y"]
        index = cur["index"]
        xlim = (index.xedges[0], index.xedges[-1])
        ylim = (index.yedges[0], index.yedges[-1])
        X_train = np.c_[x[where], y[where]]
        X_sample = cur["sample"]

        def kmeans_fit():
            X_all = np.r_[X_sample, X_train]
            y_all = np.r_[np.zeros(len(X_sample), np.int64), labels]
            km = make_segmenter("kmeans", n_clusters=max(2, int(classes.size)))
            return decision_regions(km, 0, 1, X_train=X_all, y_train=y_all, xlim=xlim,
                                    ylim=ylim, resolution=REGION_RESOLUTION)

        def work():
            regions, centres = None, None
            if method == "kmeans":
                regions = kmeans_fit()
            elif method is not None:
                regions = decision_regions(make_segmenter(method), 0, 1, X=X_sample,
                                           X_train=X_train, y_train=labels, xlim=xlim,
                                           ylim=ylim, resolution=REGION_RESOLUTION)
            if regions is not None and method in ("kmeans", "nearest_mean"):
                seg = regions.segmenter
                c = getattr(seg, "cluster_centers_", getattr(seg, "centroids_", None))
                centres = c * seg.scale_ + seg.mean_
            if want_kmeans and method != "kmeans":
                seg = kmeans_fit().segmenter
                km = seg.cluster_centers_ * seg.scale_ + seg.mean_
                centres = km if centres is None else np.r_[centres, km]
            return regions, centres

        def done(result):
            if gen != self._gen["regions"]:
                return
            self._regions, self._centres = result
            self._redraw_all()

        self._start(work, done, "decision regions")

    # -- drawing ------------------------------------------------------------

    def _clear_plot(self, message=""):
        self.plot.clear_1d()
        self.plot.hide_2d()
        self.plot.set_hover(None)
        self.status.setText(message)

    def _redraw_all(self, *_):
        cur = self._current
        if self._data is None or cur is None:
            return
        mode = self.mode_combo.currentText()
        self.plot.clear_1d()
        norm = " (z-score)" if self.normalize_check.isChecked() else ""
        xname, yname = self.x_combo.currentText() + norm, self.y_combo.currentText() + norm
        if mode == MODES[0]:
            regions = colors = None
            if self._regions is not None:
                regions = self._regions.labels
                colors = self._colors(np.unique(regions))
            index = cur["index"]
            self.plot.set_image(density_picture(cur["counts"], regions, colors),
                                index.xedges, index.yedges)
            self._draw_seeds()
            if self._centres is not None:
                self.plot.set_points(self.plot.centres, self._centres[:, 0],
                                     self._centres[:, 1])
            else:
                self.plot.centres.setData([], [])
            method = self.method_combo.currentText() if self._regions is not None else None
            title = plot_title(self._data["features"].shape[:-1], self._data["z"], method,
                               self.kmeans_check.isChecked())
            self.plot.set_labels(title, xname, yname)
        else:
            self.plot.hide_2d()
            if mode == MODES[1]:
                self._draw_histograms(cur, xname)
            else:
                self._draw_class_means()
        self.status.setText("Drag in the plot to select (tool: "
                            f"{self.tool_combo.currentText()}); hover the image to find "
                            "a pixel's point.")

    def _draw_histograms(self, cur, xname):
        where, labels = self._seeds_in_scope()
        self.plot.show_histograms(cur["x"], where, labels, self._colors(labels), xname)

    def _draw_class_means(self):
        feats = self._data["features"]
        where, labels = self._seeds_in_scope()
        full = np.zeros(feats.shape[:-1], np.int64)
        full.reshape(-1)[where] = labels
        classes, means = class_mean_spectra(feats, full)
        what = "channel" if self.spec_combo.currentText() == CHANNELS else "feature"
        self.plot.show_class_means(classes, means, self._colors(classes), what)

    # -- hover --------------------------------------------------------------

    def _on_cursor(self, *_):
        cur = self._current
        d = self._data
        layer = self.image_layer
        if cur is None or d is None or layer is None:
            return
        shape = d["features"].shape[:-1]
        ndim = len(shape) + (1 if d["z"] is not None else 0)
        pos = np.round(layer.world_to_data(self.viewer.cursor.position)[-ndim:]).astype(int)
        if d["z"] is not None:
            if pos[0] != d["z"]:
                self.plot.set_hover(None)
                return
            pos = pos[1:]
        if np.any(pos < 0) or np.any(pos >= np.array(shape)):
            self.plot.set_hover(None)
            self.hover_point = None
            return
        k = int(np.ravel_multi_index(tuple(pos), shape))
        self.hover_point = (float(cur["x"][k]), float(cur["y"][k]))
        self.plot.set_hover(self.hover_point if self.mode_combo.currentText() == MODES[0]
                            else None)

    # -- selection ----------------------------------------------------------

    def live_selection(self) -> bool:
        """Does the selection follow a drag (one costs at most ``LIVE_SELECT_MS``)?"""
        cur = self._current
        scope, seconds = self._live_cost
        return (cur is not None and cur["x"].size <= LIVE_POINTS
                and (scope is not cur or 1000 * seconds <= LIVE_SELECT_MS))

    def _on_polygon_changed(self, polygon):
        """A mouse move of a drag (the plot drew the outline): throttled, cheap selection."""
        if self._current is not None and len(polygon) >= 3 and self.live_selection():
            self._pending_polygon = polygon
            if not self._live_timer.isActive():  # moves meanwhile only update the polygon
                self._live_timer.start()

    def _select_live(self):
        cur = self._current
        if self._pending_polygon is not None and cur is not None:
            polygon, self._pending_polygon = self._pending_polygon, None
            self._timed_selection(cur, polygon)

    def select_polygon(self, polygon):
        """Select the pixels whose point lies in ``polygon`` ((N, 2), plot units).

        A rectangle is its 4 corners. The pixels are highlighted in the
        ``feature-space selection`` layer; small scopes are selected at once,
        a volume in a worker (the newest request wins).
        """
        cur = self._current
        if cur is None:
            show_warning("Feature space: nothing plotted yet to select from.")
            return
        polygon = np.asarray(polygon, float)
        self._pending_polygon = None
        self._live_timer.stop()
        self.plot.set_outline(polygon)
        if cur["x"].size <= LIVE_POINTS:
            self._timed_selection(cur, polygon)
            return
        self._gen["select"] += 1
        gen = self._gen["select"]
        index = cur["index"]

        def done(mask):
            if gen == self._gen["select"] and self._current is cur:
                self._apply_selection(polygon, mask)

        self._start(lambda: index.select(polygon), done, "selection")

    def _timed_selection(self, cur, polygon):
        """Select at once, and remember what it cost (the layer's creation aside)."""
        existed = SELECTION_LAYER in self.viewer.layers
        start = time.perf_counter()
        self._apply_selection(polygon, cur["index"].select(polygon))
        if existed:
            self._live_cost = (cur, time.perf_counter() - start)

    def _apply_selection(self, polygon, mask):
        d = self._data
        shape = d["features"].shape[:-1]
        self._polygon = polygon
        self._selection = mask.reshape(shape)
        self._write_highlight()
        self.status.setText(f"{int(mask.sum()):,} pixels selected")

    def _full_shape(self):
        return self._image_info()[3]

    def _write_highlight(self):
        """Show the selection in the viewer: our own Labels layer, rewritten in place."""
        from napari.utils.colormaps import DirectLabelColormap

        d = self._data
        full_shape = self._full_shape()
        layer = (self.viewer.layers[SELECTION_LAYER] if SELECTION_LAYER in self.viewer.layers else None)
        if layer is None or layer.data.shape != tuple(full_shape):
            if layer is not None:
                self.viewer.layers.remove(layer)
            image = self.image_layer
            nd = len(full_shape)
            cmap = DirectLabelColormap(color_dict={0: "transparent", 1: (1.0, 0.9, 0.0, 1.0),
                                                   None: "transparent"})
            layer = self.viewer.add_labels(
                np.zeros(full_shape, np.uint8), name=SELECTION_LAYER, colormap=cmap,
                opacity=0.6, scale=image.scale[-nd:], translate=image.translate[-nd:],
                metadata={"napari_seglab": {"role": "feature_space_selection"}})
            self._keep_seeds_active()
        data = layer.data
        if d["z"] is None:
            np.copyto(data, self._selection, casting="unsafe")
        else:
            data[...] = 0
            data[d["z"]] = self._selection
        layer.refresh()

    def _keep_seeds_active(self):
        seeds = self.seeds_layer
        if seeds is not None:
            self.viewer.layers.selection.active = seeds

    def selection_indices(self):
        """Spatial indices (tuple of arrays) of the selected pixels, or None."""
        if self._selection is None:
            return None
        idx = np.nonzero(self._selection)
        z = self._data["z"]
        if z is not None:
            idx = (np.full(idx[0].size, z, np.intp),) + idx
        return idx

    def paint_selection(self, *_, label=None):
        """Paint the selected pixels as seeds of ``label`` (default: the class box)."""
        idx = self.selection_indices()
        seeds = self.seeds_layer
        if idx is None or idx[0].size == 0:
            show_warning("Feature space: select pixels in the plot first (drag a lasso).")
            return
        if seeds is None:
            show_warning("Feature space: pick a seeds layer to paint into.")
            return
        if seeds.data.shape != tuple(self._full_shape()):
            show_error(f"Feature space: seeds layer '{seeds.name}' has shape "
                       f"{seeds.data.shape}, the image {self._full_shape()}.")
            return
        value = int(self.class_spin.value() if label is None else label)
        seeds.data_setitem(idx, value)
        self._keep_seeds_active()
        show_info(f"Painted {idx[0].size:,} pixels as class {value}.")

    def make_mask(self, *_):
        """Add the selection as a new Labels layer (1 = selected)."""
        idx = self.selection_indices()
        if idx is None:
            show_warning("Feature space: select pixels in the plot first.")
            return None
        image = self.image_layer
        mask = np.zeros(self._full_shape(), np.uint8)
        mask[idx] = 1
        nd = mask.ndim
        layer = self.viewer.add_labels(mask, name=f"{image.name} feature-space mask",
                                       scale=image.scale[-nd:],
                                       translate=image.translate[-nd:])
        self._keep_seeds_active()
        return layer

    def clear_selection(self, *_):
        self._selection = None
        self._polygon = None
        self.plot.set_outline(None)
        if SELECTION_LAYER in self.viewer.layers:
            layer = self.viewer.layers[SELECTION_LAYER]
            layer.data[...] = 0
            layer.refresh()

    # -- slices, export -----------------------------------------------------

    def _on_step(self, *_):
        if self._data is not None and self._data["z"] is not None:
            self._step_timer.start()

    def _on_step_settled(self):
        if self._data is not None and self._scope() != self._data["z"]:
            self.refresh()

    def export_plot(self, path):
        """Write the plot as a PNG file; ValueError for another extension."""
        return self.plot.export(path)

    def closeEvent(self, event):
        """Stop following the viewer (its events outlive this dock)."""
        self._stop_following()
        if isinstance(event, QCloseEvent):
            super().closeEvent(event)

    def _stop_following(self):
        if self._following is False:
            return
        self._following = False
        ev = self.viewer.layers.events
        for emitter, slot in ((ev.inserted, self._refresh_layer_choices),
                              (ev.removed, self._refresh_layer_choices),
                              (self.viewer.dims.events.current_step, self._on_step),
                              (self.viewer.cursor.events.position, self._on_cursor)):
            emitter.disconnect(slot)
        old = self._seed_layer_hooked
        if old is not None:
            for event in (old.events.paint, old.events.data, old.events.labels_update):
                event.disconnect(self._on_seeds_edited)
            self._seed_layer_hooked = None
        self._seeds_timer.stop()
        self._step_timer.stop()

    @property
    def busy(self) -> bool:
        return bool(self._workers)
