"""The "Seeded segmentation" dock widget: pick layers and a method, press Segment.

Thin by design: it turns layers into arrays, runs
:func:`napari_seglab.segment` in a worker thread, and writes the result
back as the ``segmentation`` Labels layer.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    PushButton,
    Select,
    SpinBox,
)
from napari.layers import Image
from napari.utils.notifications import show_info, show_warning
from psygnal import Signal
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QSizePolicy

from ..api import prepare_segment
from ..core.feature_cache import FeatureCache
from ..core.segmenters import SEGMENTERS, THRESHOLD_METHODS, uncertainty
from .class_editor import ClassEditor
from .feature_choice import FeatureChoiceMixin
from .feature_grid import METHOD_DEFAULT
from .jobs import Failure as _Failure
from .jobs import Job, make_progress_bar
from .layers import (
    META_KEY,
    InputError,
    PaintedCounts,
    class_color_hex,
    class_names,
    follow_undo,
    image_arrays,
    layer_role,
    looks_like_labels,
    seeds_array,
    spatial_shape,
    stacked_arrays,
    write_labels,
)
from .lazy_segment import is_lazy, start_lazy_segmentation
from .live_preview import LivePreviewMixin
from .methods import METHODS, humanize
from .model_files import ModelFilesMixin
from .panel_model import bind_combo, model_choices, model_for
from .threshold_gallery import ThresholdGalleryMixin

if TYPE_CHECKING:
    import napari


def _segment_in_thread(data, seeds, method, spacing, channel_axis, features, params,
                       with_uncertainty=False):
    """Train on ``seeds`` and label ``data``, yielding ``(stage, done, total)`` steps.

    Returns ``(labels, seconds, uncertainty or None, model, proba or None)``
    or a :class:`_Failure`. A generator, so that Cancel stops it between steps.
    """
    start = time.perf_counter()
    try:
        model, prepared, seeds = prepare_segment(data, seeds, method, channel_axis=channel_axis,
                                                 features=features, params=params)
        result = yield from model.iter_fit_predict(prepared, seeds, spacing=spacing,
                                                   channel_axis=-1,
                                                   return_proba=with_uncertainty)
    except (ValueError, TypeError) as exc:
        return _Failure(humanize(str(exc)))
    labels, proba = result if with_uncertainty else (result, None)
    doubt = None if proba is None else uncertainty(proba)
    return labels, time.perf_counter() - start, doubt, model, proba


def _compact_list(select):
    """A short list box that does not take the dock's spare height."""
    select.native.setFixedHeight(60)
    select.native.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)


class SegmentationWidget(FeatureChoiceMixin, ThresholdGalleryMixin, LivePreviewMixin,
                         ModelFilesMixin, Container):
    """Seeded segmentation: seeds layer + method -> ``segmentation`` layer."""

    #: Emitted when a run's outcome is shown: the result layer, or None.
    finished_run = Signal(object)
    #: Emitted when a live preview is shown (its generation) or dropped (None).
    live_shown = Signal(object)

    def __init__(self, napari_viewer: napari.Viewer):
        super().__init__(labels=True)
        self.viewer = napari_viewer
        self._legend_source = None
        self._seed_counts = PaintedCounts()  # the legend's, per stroke
        # Features per slice, reused across strokes (live preview).
        self._cache = FeatureCache(max_bytes=2 * 2**30)
        self._prepared = None  # (layer, data version, float32 array)
        self._data_versions: dict[int, int] = {}

        #: The roles, classes and mapping every section shares.
        self.panel_model = model_for(napari_viewer)
        self.image = ComboBox(label="Image", choices=model_choices(self.panel_model, "image"))
        self.channels = Select(
            label="Add channels", choices=self._channel_choices, value=[],
            tooltip="Other images of the same shape (e.g. a FLAIR beside a T1) "
                    "used as extra channels of the chosen image.")
        _compact_list(self.channels)
        self.seeds = ComboBox(label="Seeds", choices=model_choices(self.panel_model, "seeds"))
        self.new_seeds = PushButton(text="New seeds layer")
        self.method = ComboBox(label="Method", choices=list(METHODS), value=next(iter(METHODS)))
        self.n_neighbors = SpinBox(label="Neighbours (k)", value=5, min=1, max=99)
        self.n_clusters = SpinBox(
            label="Clusters", value=0, min=0, max=50,
            tooltip="0 = one per seed class (2 without seeds)",
        )
        self.threshold = FloatSpinBox(
            label="Threshold", value=0.0, min=-1e12, max=1e12, step=1.0,
            tooltip="Pixels above it get the upper class (the brighter seed class).")
        self.try_thresholds = PushButton(
            text="Try all thresholds",
            tooltip="Otsu, Li, Yen, Triangle, minimum and local side by side: "
                    "one layer each (napari's grid view shows them together).")
        # The feature choice: None (the method's preset), a preset name or a
        # FeatureSpec. The combo picks presets; the Features panel (a dock of
        # its own, opened on demand: it is tall) edits any spec.
        self.feature_value = None
        self.features = None  # FeatureGrid, once opened
        self._feature_dock = None
        self._reveal_features = None
        self.feature_choice = ComboBox(label="Features", choices=self._feature_choices,
                                       value=METHOD_DEFAULT)
        self.edit_features = PushButton(
            text="Feature grid (filters × σ, ranking)…",
            tooltip="Tick filters and scales like ilastik, see the memory they need, "
                    "look at them as layers, rank them from the seeds.")
        self.run = PushButton(text="Segment")
        self.cancel = PushButton(text="Cancel", enabled=False,
                                 tooltip="Stop waiting for the running Segment; "
                                         "its result is discarded.")
        self.grow_on_proba = CheckBox(
            text="Grow from the seeds on the probabilities", value=False,
            tooltip="Fast forest, blend or context forest: on Segment, each class spreads "
                    "from its own strokes through the pixels it is probable at. For one compact "
                    "object "
                    "(a tumour, a lesion); not for vessel trees or interleaved tissues.")
        self.show_uncertainty = CheckBox(
            text="Show uncertainty (where to paint next)", value=False,
            tooltip="An 'uncertainty' layer: 1 - the winning class's probability.")
        self.live = CheckBox(
            text="Live update on each stroke", value=False,
            tooltip="Retrain after every stroke and segment the slice on screen; "
                    "press Segment for the whole volume. Paused in the 3D view.",
        )
        self.status = Label(value="Paint seeds, then press Segment.")
        self.status.native.setWordWrap(True)
        self.progress_bar = make_progress_bar()
        self.legend = Label(value="")
        # The model of the last Segment run (or a loaded one): save it, or
        # apply it to another image ("train on one subject, test on another").
        self.model = None
        # The last Segment run's class probabilities (None without them): a
        # section that guides the next stroke sets keep_proba to have them.
        self.keep_proba = False
        self.last_proba = None
        self._model_source = None  # name of the image layer the model was trained on
        self.model_info = Label(value="No trained model yet: press Segment, or load one.")
        self.save_model = PushButton(text="Save model…", enabled=False)
        self.load_model = PushButton(text="Load model…")
        self.apply_to = ComboBox(label="Apply to", choices=self._image_choices)
        self.apply_channels = Select(
            label="with channels", choices=self._apply_channel_choices, value=[],
            tooltip="For a model trained on several images (e.g. T1 + FLAIR): the "
                    "other contrasts of the image to segment, in the same order.")
        _compact_list(self.apply_channels)
        self.apply = PushButton(text="Apply model", enabled=False,
                                tooltip="Segment the chosen image with the trained model.")
        model_files = Container(widgets=[self.save_model, self.load_model],
                                layout="horizontal", labels=False)
        self.extend([
            self.image, self.channels, self.seeds, self.new_seeds, self.method, self.n_neighbors,
            self.n_clusters, self.threshold, self.try_thresholds, self.feature_choice,
            self.edit_features, self.grow_on_proba,
            self.show_uncertainty, self.run, self.cancel,
            self.live,
            self.status,
            self.legend,
            self.model_info, model_files, self.apply_to, self.apply_channels, self.apply,
        ])

        self.native.layout().insertWidget(self.index(self.status) + 1, self.progress_bar)
        # Name and recolour the classes right under the legend.
        self.class_editor = ClassEditor(self.panel_model)
        layout = self.native.layout()
        row = next(i for i in range(layout.count()) if layout.itemAt(i).widget() is not None
                   and (layout.itemAt(i).widget() is self.legend.native
                        or layout.itemAt(i).widget().isAncestorOf(self.legend.native)))
        layout.insertWidget(row + 1, self.class_editor)
        # Jobs: Segment / Apply / thresholds share one kind (the newest wins,
        # Cancel stops it); live previews are their own kind, one at a time.
        self.job = Job("Segment", self.native, self._set_status, bar=self.progress_bar,
                       cancel_button=self.cancel, viewer=self.viewer)
        self.live_job = Job("Live update", self.native, self._set_status,
                            bar=self.progress_bar, viewer=self.viewer, quiet_failures=True,
                            busy_after_ms=300)
        self.job.done.connect(self._job_done)
        self.live_job.done.connect(self._live_done)
        self._live_pending = False
        # napari emits `paint` before it writes the pixels (data_setitem), so
        # the legend reads the seeds on a later turn of the event loop: at most
        # every 150 ms while a stroke goes on. Its text changes with every dab,
        # and each repaint of the panel recomposes the whole window (~20-40 ms
        # with a software-rendered canvas).
        self._legend_timer = QTimer(self.native)
        self._legend_timer.setSingleShot(True)
        self._legend_timer.setInterval(150)
        self._legend_timer.timeout.connect(self._update_legend)
        # Likewise a stroke's pixels are in place on the next turn.
        self._live_timer = QTimer(self.native)  # dies with the widget
        self._live_timer.setSingleShot(True)
        self._live_timer.setInterval(0)
        self._live_timer.timeout.connect(self.start_live_preview)
        self.live.changed.connect(self._schedule_live)
        self.viewer.dims.events.current_step.connect(self._schedule_live)
        self.viewer.dims.events.ndisplay.connect(self._schedule_live)

        self.new_seeds.changed.connect(self.add_seeds_layer)
        self.run.changed.connect(self.start_segmentation)
        self.save_model.changed.connect(self.save_model_file)
        self.load_model.changed.connect(self.load_model_file)
        self.apply.changed.connect(self.apply_model)
        self.apply_to.changed.connect(self._show_apply_channels)
        self.cancel.changed.connect(self.cancel_segmentation)
        self.method.changed.connect(self._show_method_params)
        self.method.changed.connect(self._features_for_method)
        self.method.changed.connect(self._schedule_live)
        self.image.changed.connect(self._show_method_params)
        self.try_thresholds.changed.connect(self.try_all_thresholds)
        self.edit_features.changed.connect(self.open_feature_grid)
        self.feature_choice.changed.connect(self._feature_chosen)
        self.image.changed.connect(self._refresh_feature_grid)
        self.seeds.changed.connect(self._follow_seeds_layer)
        self.image.changed.connect(self._update_legend)
        self.image.changed.connect(self._show_channel_choices)
        bind_combo(self.panel_model, "image", self.image)
        bind_combo(self.panel_model, "seeds", self.seeds)
        self.channels.changed.connect(lambda value: self.panel_model.set("channels", value))
        self.panel_model.classes_changed.connect(self._schedule_legend)
        self._show_method_params()
        self._features_for_method()
        self._show_apply_channels()
        self._show_channel_choices()
        self._follow_seeds_layer()

    # -- layer choices -------------------------------------------------------
    def _image_choices(self, widget=None):
        return [(layer.name, layer) for layer in self.viewer.layers
                if isinstance(layer, Image) and layer_role(layer) is None]

    def _other_contrasts(self, image):
        """Image layers that can be added to ``image`` as channels (same shape)."""
        if image is None or getattr(image, "rgb", False):
            return []
        # A mask opened as an image is an answer, not a contrast: never offered.
        return [(layer.name, layer) for layer in self.viewer.layers
                if isinstance(layer, Image) and layer_role(layer) is None
                and layer is not image and not layer.rgb
                and layer.data.shape == image.data.shape and not looks_like_labels(layer)]

    def _channel_choices(self, widget=None):
        return self._other_contrasts(self.image.value if hasattr(self, "image") else None)

    def _apply_channel_choices(self, widget=None):
        return self._other_contrasts(self.apply_to.value if hasattr(self, "apply_to")
                                     else None)

    def _inputs(self):
        """The chosen image with its added channels: ``(data, channel_axis, spacing)``."""
        image = self.image.value
        extra = [layer for layer in self.channels.value if layer is not image]
        return stacked_arrays(image, extra)

    def _seeds_choices(self, widget=None):
        return model_choices(self.panel_model, "seeds")()

    def reset_choices(self, *args):
        super().reset_choices(*args)
        self._show_channel_choices()
        self._follow_seeds_layer()

    def _show_channel_choices(self, *args):
        self.channels.reset_choices()
        self.channels.visible = bool(self._channel_choices())

    # -- actions -------------------------------------------------------------
    def add_seeds_layer(self, *args):
        """Add an empty ``seeds`` layer fitting the chosen image, ready to paint."""
        image = self.image.value
        try:
            data, channel_axis, _ = image_arrays(image)
        except InputError as exc:
            show_warning(str(exc))
            return None
        shape = spatial_shape(data, channel_axis)
        dtype = np.uint8
        layer = self.viewer.add_labels(
            np.zeros(shape, dtype), name="seeds",
            scale=image.scale[-len(shape):], translate=image.translate[-len(shape):],
        )
        layer.selected_label = 1
        layer.brush_size = max(3, min(shape[-2:]) // 64)
        layer.mode = "paint"
        self.panel_model.set("seeds", layer)
        return layer

    def _params(self) -> dict:
        method = METHODS[self.method.value]
        if method == "knn":
            return {"n_neighbors": int(self.n_neighbors.value)}
        if method in ("blend", "fast_forest"):
            return {"n_neighbors": int(self.n_neighbors.value),
                    "grow": bool(self.grow_on_proba.value)}
        if method == "manual":
            return {"threshold": float(self.threshold.value)}
        if method == "context_forest":
            return {"grow": bool(self.grow_on_proba.value)}
        if self.n_clusters.value > 0:
            if method == "kmeans":
                return {"n_clusters": int(self.n_clusters.value)}
            if method == "gmm":
                return {"n_components": int(self.n_clusters.value)}
        return {}

    def _set_status(self, text):
        self.status.value = text

    def _job_done(self, result):
        """After any Segment/Apply/threshold outcome: tell listeners, keep painting."""
        if result is None:
            self.finished_run.emit(None)

    def _spec_for(self, method, shape, spacing):
        """The features to use, and a note when a thin volume forces 2D per slice.

        Chosen automatically (and said), instead of refusing with a σ the
        user never typed (:func:`~napari_seglab.core.features.spec_for_shape`).
        """
        from ..core.features import resolve_spec, spec_for_shape

        value = self.feature_value
        if SEGMENTERS[method].input != "features" or len(shape) != 3:
            return value, ""
        spec, note = spec_for_shape(resolve_spec(value, SEGMENTERS[method].default_features),
                                    shape, spacing)
        if not note:
            return value, ""
        return spec, f"{note[0].upper()}{note[1:]}. Feature grid… changes it."

    def start_segmentation(self, *args):
        """Run the chosen method in a worker; the newest run's result wins."""
        image = self.image.value
        if is_lazy(image):  # too large to read whole: the slice on screen only
            return start_lazy_segmentation(self)
        method = METHODS[self.method.value]
        method_name = self.method.value
        try:
            data, channel_axis, spacing = self._inputs()
            shape = spatial_shape(data, channel_axis)
            seeds_layer = self.seeds.value
            if seeds_layer is None and SEGMENTERS[method].unsupervised:
                seeds = None  # unsupervised methods run without seeds
            else:
                seeds = seeds_array(seeds_layer, image, shape)
        except InputError as exc:
            show_warning(str(exc))
            self.finished_run.emit(None)
            return None
        features, note = self._spec_for(method, shape, spacing)
        if note:
            show_info(note)
        source = " + ".join(f"'{layer.name}'" for layer in (image, *self.channels.value))
        return self.job.start(
            _segment_in_thread, data, seeds, method, spacing, channel_axis, features,
            self._params(), self.show_uncertainty.value or self.keep_proba,
            on_result=lambda result, show=self.show_uncertainty.value: self._show_result(
                result, image, seeds_layer, method_name, source, show_uncertainty=show),
            what=f"Segmenting '{image.name}' with {method_name}",
            reads=(image, seeds_layer, *self.channels.value))

    def cancel_segmentation(self, *args):
        """Stop the running Segment or Apply: its result will never be shown."""
        self.job.cancel()

    def _show_result(self, result, image, seeds_layer, method_name, source, *,
                     show_uncertainty=True):
        labels, seconds, doubt, model, self.last_proba = result
        self._keep_model(model, source, trained_on=image.name)
        ndim = labels.ndim
        if doubt is not None and show_uncertainty:
            self._show_uncertainty(doubt, image)
        layer = write_labels(
            self.viewer, labels, role="segmentation", source=image.name,
            name="segmentation", like=seeds_layer,
            scale=image.scale[-ndim:], translate=image.translate[-ndim:],
            opacity=0.5, info={"trained_on": image.name,
                               "seeds": getattr(seeds_layer, "name", None)},
        )
        self.status.value = (
            f"{method_name}: {labels.size:,} pixels in {seconds:.2f} s "
            f"→ '{layer.name}'"
        )
        show_info(f"Segmented '{image.name}' in {seconds:.2f} s")
        self.finished_run.emit(layer)

    def _show_uncertainty(self, doubt, image):
        """Show ``doubt`` in our 'uncertainty' image layer (re-used across runs)."""
        ndim = doubt.ndim
        for layer in self.viewer.layers:
            if isinstance(layer, Image) and layer_role(layer) == "uncertainty" \
                    and layer.data.shape == doubt.shape:
                layer.data = doubt
                layer.visible = True
                return layer
        return self.viewer.add_image(
            doubt, name="uncertainty", colormap="magma", blending="translucent",
            contrast_limits=(0, 1), opacity=0.5,
            scale=image.scale[-ndim:], translate=image.translate[-ndim:],
            metadata={META_KEY: {"role": "uncertainty", "source": image.name}})

    # -- method-dependent controls and legend -----------------------------------
    def _show_method_params(self, *args):
        method = METHODS[self.method.value]
        self.n_neighbors.visible = method in ("knn", "blend", "fast_forest")
        self.n_clusters.visible = method in ("kmeans", "gmm")
        self.threshold.visible = method == "manual"
        self.grow_on_proba.visible = method in ("fast_forest", "blend", "context_forest")
        self.try_thresholds.visible = method in THRESHOLD_METHODS
        if method == "manual":
            self._fit_threshold_range()
        uses_features = SEGMENTERS[method].input == "features"
        self.feature_choice.visible = uses_features
        self.edit_features.visible = uses_features
        self._show_feature_choice()
        grid = self._feature_grid()
        if grid is not None:
            grid.set_method_default(SEGMENTERS[method].default_features)

    def _follow_seeds_layer(self, *args):
        layer = self.seeds.value
        if layer is self._legend_source:
            return
        if self._legend_source is not None:
            self._legend_source.events.paint.disconnect(self._seed_counts_touched)
            self._legend_source.events.paint.disconnect(self._schedule_legend)
            self._legend_source.events.paint.disconnect(self._schedule_live)
            self._legend_source.events.data.disconnect(self._seed_counts.reset)
            self._legend_source.events.data.disconnect(self._schedule_legend)
            self._legend_source.events.data.disconnect(self._schedule_live)
        self._legend_source = layer
        if layer is not None:
            follow_undo(layer)  # undo/redo emit paint: everything below follows
            layer.events.paint.connect(self._seed_counts_touched)
            layer.events.paint.connect(self._schedule_legend)
            layer.events.paint.connect(self._schedule_live)
            layer.events.data.connect(self._seed_counts.reset)
            layer.events.data.connect(self._schedule_legend)
            layer.events.data.connect(self._schedule_live)
        self._update_legend()

    def _seed_counts_touched(self, event=None):
        layer = self._legend_source
        self._seed_counts.touched(event, None if layer is None else layer.data.shape)

    def _schedule_legend(self, *args):
        if not self._legend_timer.isActive():
            self._legend_timer.start()

    def _update_legend(self, *args):
        layer = self.seeds.value
        if layer is None:
            self.legend.value = ("<b>Classes</b><br>No seeds layer yet: press <i>New seeds "
                                 "layer</i>, then paint label 1, 2, … with the brush.")
            self._offer_thresholds(0)
            self.class_editor.show_classes({})
            return
        values, counts = self._seed_counts.counts(layer.data)
        self._offer_thresholds(len(values))
        names = class_names(layer)
        rows = []
        for value, count in zip(values.tolist(), counts.tolist()):
            colour = class_color_hex(layer, value)
            name = names.get(value, f"class {value}")
            rows.append(f"<span style='color:{colour}'>■</span> {value}: {name} "
                        f"({count:,} px)")
        unpainted = [f"{i}: {n}" for i, n in names.items() if i not in values]
        if unpainted:
            rows.append("<i>not painted yet: " + ", ".join(unpainted) + "</i>")
        self.legend.value = "<b>Classes</b><br>" + "<br>".join(rows or ["none painted"])
        self.class_editor.show_classes(dict(zip(values.tolist(), counts.tolist())))
