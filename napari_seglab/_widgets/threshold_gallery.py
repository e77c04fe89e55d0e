"""Thresholds in the Seeded segmentation dock: the manual range and the gallery of all."""

from __future__ import annotations

import numpy as np
from napari.utils.notifications import show_warning

from ..api import prepare_image
from ..core.segmenters import THRESHOLD_METHODS, try_all_thresholds
from .jobs import Failure
from .layers import InputError, spatial_shape, write_labels
from .methods import METHODS

#: Methods that split the image in two (an intensity threshold).
TWO_CLASS_METHODS = ("manual", *THRESHOLD_METHODS)


def _thresholds_in_thread(data, channel_axis, seeds):
    try:
        intensity = prepare_image(data, channel_axis).mean(axis=-1)
    except (ValueError, TypeError) as exc:
        return Failure(str(exc))
    if not np.isfinite(intensity).all():
        return Failure("The image has NaN or infinite pixels; the threshold gallery "
                        "needs finite intensities (Segment with a threshold method "
                        "handles them).")
    return try_all_thresholds(intensity, seeds)




class ThresholdGalleryMixin:
    """Manual-threshold range and *Try all thresholds* of :class:`SegmentationWidget`."""

    def _offer_thresholds(self, n_classes: int):
        """Grey out the threshold methods in the Method combo while seeds hold > 2 classes.

        A threshold splits the image in two; offering it for three painted
        classes only led to a refusal after pressing Segment.
        """
        why = (f"A threshold splits the image in two classes; the seeds hold {n_classes}. "
               "Use kNN, Random forest or another classifier (or erase a class)."
               if n_classes > 2 else "")
        combo = self.method.native
        items = combo.model()
        for row in range(combo.count()):
            if METHODS.get(combo.itemText(row)) in TWO_CLASS_METHODS:
                item = items.item(row)
                item.setEnabled(not why)
                item.setToolTip(why)
        if why and METHODS[self.method.value] in TWO_CLASS_METHODS:
            self.status.value = f"{self.method.value}: {why}"

    def _fit_threshold_range(self):
        """Range and step of the threshold box from the image's intensities."""
        image = self.image.value
        if image is None:
            return
        data = np.asarray(image.data, dtype=np.float32)
        low, high = np.nanmin(data), np.nanmax(data)
        if not (np.isfinite(low) and np.isfinite(high)) or high <= low:
            return
        current = self.threshold.value
        step = float(10 ** np.floor(np.log10((high - low) / 100)))
        self.threshold.native.setDecimals(max(3, int(2 - np.log10(step))))
        self.threshold.min, self.threshold.max = float(low), float(high)
        self.threshold.step = step
        if not low < current < high:
            self.threshold.value = float((low + high) / 2)

    def try_all_thresholds(self, *args):
        """Every automatic threshold on the image: one layer each, to compare."""
        image = self.image.value
        try:
            data, channel_axis, _ = self._inputs()
        except InputError as exc:
            show_warning(str(exc))
            return None
        seeds_layer = self.seeds.value
        shape = spatial_shape(data, channel_axis)
        seeds = None  # seeds of exactly two classes say which one is "above"
        if seeds_layer is not None and seeds_layer.data.shape == shape:
            painted = np.asarray(seeds_layer.data)
            if np.unique(painted[painted > 0]).size == 2:
                seeds = painted.copy()
        return self.job.start(
            _thresholds_in_thread, data, channel_axis, seeds,
            on_result=lambda result: self._show_thresholds(result, image),
            what=f"Trying every threshold on '{image.name}'", reads=(image,))

    def _show_thresholds(self, results, image):
        ndim = len(image.data.shape) - (1 if image.rgb else 0)
        shown, failed = [], []
        for name, labels in results.items():
            if isinstance(labels, Exception):
                failed.append(f"{name} ({labels})")
                continue
            write_labels(self.viewer, labels, role=f"threshold {name}", source=image.name,
                         name=f"{name} threshold", visible=not shown, opacity=0.5,
                         scale=image.scale[-ndim:], translate=image.translate[-ndim:])
            shown.append(name)
        message = f"Thresholds: {', '.join(shown)} (one layer each; grid view compares them)"
        if failed:
            message += "; could not split: " + "; ".join(failed)
        self.status.value = message
        self.finished_run.emit(None)

