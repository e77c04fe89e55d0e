"""Live preview: retrain on every seed edit and segment the slice on screen."""

from __future__ import annotations

import time

import numpy as np

from ..api import prepare_image
from ..core.live import segment_slice
from ..core.threads import leave_cores
from .jobs import Failure
from .layers import (
    META_KEY,
    InputError,
    find_output,
    image_arrays,
    layer_role,
    seeds_array,
    spatial_shape,
    write_labels,
)
from .lazy_segment import LIVE_PAUSED_ON_LAZY, is_lazy
from .methods import METHODS, humanize


def _live_in_thread(data, seeds, index, method, features, params, spacing, cache,
                    version, channel_axis=None, prepare=False):
    """One preview; with ``prepare``, ``data`` is first made float32 ``spatial + (C,)`` here.

    ``seeds`` is the seeds layer's own array: it is copied here, off the GUI
    thread. A dab painted during the copy may be half in it; the paint event
    queues the next preview, which sees it whole.

    Returns ``(labels, seconds, model, prepared data)`` or a :class:`Failure`.
    """
    start = time.perf_counter()
    seeds = np.array(seeds, copy=True)
    try:
        if prepare:  # a whole volume's conversion: not in the GUI thread
            data = prepare_image(data, channel_axis)
        # One core stays with the GUI thread, which draws the brush (and with
        # software OpenGL rasterises it): the brush lagged less, the preview
        # took a little longer.
        with leave_cores(1):
            labels, model = segment_slice(data, seeds, index, method=method,
                                          features=features, params=params, spacing=spacing,
                                          cache=cache, version=version, return_model=True)
    except (ValueError, TypeError) as exc:
        return Failure(humanize(str(exc)))
    return labels, time.perf_counter() - start, model, data




class LivePreviewMixin:
    """The live-preview half of :class:`SegmentationWidget` (one preview at a time)."""

    def _disconnect_viewer(self, *args):
        self.viewer.dims.events.current_step.disconnect(self._schedule_live)
        self.viewer.dims.events.ndisplay.disconnect(self._schedule_live)

    def _schedule_live(self, *args):
        try:
            live = self.live.value
        except RuntimeError:  # the dock widget was closed; the viewer lives on
            self._disconnect_viewer()
            return
        if live:
            self._live_timer.start()

    def _prepared_image(self, layers, data, channel_axis):
        """Float32 ``spatial + (C,)`` data, kept while the layers' data stay the same.

        The feature cache is keyed by this array's identity, so it must not
        be rebuilt on every stroke. Returns the array (None when it must be
        prepared again: the worker does it) and a version key that changes
        when any of ``layers`` (image and added channels) changes.
        """
        for layer in layers:
            if id(layer) not in self._data_versions:
                self._data_versions[id(layer)] = 0
                layer.events.data.connect(
                    lambda e, k=id(layer): self._bump_version(k))  # noqa: B008 (binds the key now)
        version = tuple((id(layer), self._data_versions[id(layer)]) for layer in layers)
        held = self._prepared
        if held is None or held[0] != version:
            return None, version
        return held[1], version

    def _keep_prepared(self, version, prepared):
        """Hold the worker's float32 image for the next strokes (same identity, same cache)."""
        held = self._prepared
        if held is None or held[0] != version:
            self._prepared = (version, prepared)

    def _bump_version(self, key):
        self._data_versions[key] += 1
        self._cache.invalidate()

    def _visible_slice(self, image, n_slices):
        """Index along the volume's first axis of the slice on screen."""
        position = image.world_to_data(self.viewer.dims.point[-image.ndim:])
        return min(max(int(round(float(position[-3]))), 0), n_slices - 1)

    def start_live_preview(self, *args):
        """Retrain on all seeds and segment what is on screen (one slice of a volume)."""
        if not self.live.value:
            return None
        image, seeds_layer = self.image.value, self.seeds.value
        if is_lazy(image):  # never read a lazy volume whole on every stroke
            self.status.value = LIVE_PAUSED_ON_LAZY
            return None
        method = METHODS[self.method.value]
        try:
            data, channel_axis, spacing = self._inputs()
            shape = spatial_shape(data, channel_axis)
            seeds = seeds_array(seeds_layer, image, shape, copy=False)
        except InputError as exc:
            self.status.value = f"Live update waits: {exc}"
            return None
        index = None
        if len(shape) == 3:
            if self.viewer.dims.ndisplay == 3:
                self.status.value = ("Live update is paused in the 3D view; "
                                     "press Segment for the whole volume.")
                return None
            index = self._visible_slice(image, shape[0])
        if self.live_job.running:
            # One preview at a time (they share the feature cache): the
            # newest seeds are read again when the running one is done.
            self._live_pending = True
            return None
        self._live_pending = False
        layers = (image, *self.channels.value)
        prepared, version = self._prepared_image(layers, data, channel_axis)
        features, note = self._spec_for(method, shape, spacing)
        method_name = self.method.value
        return self.live_job.start(
            _live_in_thread, data if prepared is None else prepared, seeds, index, method,
            features, self._params(), spacing, self._cache, version, channel_axis,
            prepared is None,
            on_result=lambda result: self._show_live(result, image, seeds_layer, index,
                                                     method_name, note, version),
            what=f"Live {method_name}" + ("" if index is None else f" (slice {index})"),
            reads=(image, seeds_layer, *self.channels.value))

    def _live_done(self, result):
        if result is None:
            self.live_shown.emit(None)
        if self._live_pending:
            self._schedule_live()

    def _show_live(self, result, image, seeds_layer, index, method_name, note, version):
        labels, seconds, model, prepared = result
        self._keep_prepared(version, prepared)
        if self.job.running:
            self.live_shown.emit(None)
            return  # a Segment or Apply is under way: its result comes next
        # Trained on every seed: Save model and Apply work without a Segment.
        self._keep_model(model, f"'{image.name}' (live update, all seeds)",
                         trained_on=image.name)
        for layer in self.viewer.layers:  # it described the previous result
            if layer_role(layer) == "uncertainty" and layer.visible:
                layer.visible = False
        data, channel_axis, _ = image_arrays(image)
        shape = spatial_shape(data, channel_axis)
        layer = find_output(self.viewer, "segmentation", image.name, shape)
        if index is None:
            full = labels
        elif layer is not None and np.can_cast(labels.dtype, layer.data.dtype):
            info = layer.metadata[META_KEY]
            info["writing"] = True
            try:
                layer.data[index] = labels  # our own layer: no undo history needed
                layer.data = layer.data  # tells the view and the Evaluation panel
            finally:
                info["writing"] = False
            full = None
        else:
            full = np.zeros(shape, labels.dtype) if layer is None else \
                np.asarray(layer.data).astype(np.promote_types(layer.data.dtype, labels.dtype))
            full[index] = labels
        if full is not None:
            ndim = len(shape)
            layer = write_labels(
                self.viewer, full, role="segmentation", source=image.name,
                name="segmentation", like=seeds_layer,
                scale=image.scale[-ndim:], translate=image.translate[-ndim:], opacity=0.5)
        where = "" if index is None else f" (slice {index})"
        self.status.value = (f"Live {method_name}{where}: {seconds * 1000:.0f} ms"
                             + (f". {note}" if note else ""))
        self.live_shown.emit(self.live_job.generation)

