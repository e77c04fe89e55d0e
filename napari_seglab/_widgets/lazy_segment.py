"""*Segment* on a lazy (dask / zarr) volume: only the slice on screen.

A volume opened lazily (the zarr / OME-Zarr reader gives a dask array) may
be far larger than memory; reading it whole to press *Segment* would stall
napari or run it out of memory. Instead, as the live preview does, the model
is trained on the seeds and predicts the slice on screen: only a window of
slices is read (that slice and the seeded slices near it, each with the
feature bank's halo along the first axis, so the features of the slice on
screen are those of the whole volume). The result is a one-slice Labels
layer placed at that slice. The status says so and points to *Segment whole
volume to zarr…* for the whole volume.
"""

from __future__ import annotations

import time

import numpy as np
from napari.utils.notifications import show_info

from ..core.live import segment_slice
from .jobs import Failure
from .layers import InputError, write_labels
from .methods import METHODS, humanize

__all__ = ["LIVE_PAUSED_ON_LAZY", "MAX_WINDOW_BYTES", "is_lazy", "slice_window", "start_lazy_segmentation"]

#: Most float32 input bytes one *Segment* on a lazy layer reads (all channels).
MAX_WINDOW_BYTES = 256 * 2**20

WHOLE_VOLUME_HINT = ("For the whole volume: Plugins › Seeded Segmentation Lab › Whole volume "
                     "to zarr (blockwise, in the background), or `seglab apply` in a terminal.")


LIVE_PAUSED_ON_LAZY = ("Live update is paused: the image is read lazily (too large to load "
                       "whole). Press Segment to label the slice on screen.")


def is_lazy(layer) -> bool:
    """True for an image layer whose data is read on demand (dask or zarr), not in memory."""
    data = getattr(layer, "data", None)
    if data is None or isinstance(data, np.ndarray) or getattr(layer, "multiscale", False):
        return False
    return hasattr(data, "chunks") and hasattr(data, "shape")


def slice_window(index, seeded, n_slices, halo, max_slices):
    """The slices ``[start, stop)`` to read for the slice ``index``.

    The slice on screen and its halo first, then seeded slices (nearest
    first, each with its halo) while the window stays within ``max_slices``.

    Parameters
    ----------
    index : int
        The slice on screen.
    seeded : sequence of int
        Slices holding seeds.
    n_slices : int
        Slices in the volume.
    halo : int
        Slices each slice's features read on either side.
    max_slices : int
        Most slices to read (at least the slice and its halo are read).

    Returns
    -------
    start, stop : int
    used : list of int
        The seeded slices inside the window.

    Examples
    --------
    >>> slice_window(50, [10, 48, 90], 100, 2, 20)
    (46, 53, [48])
    >>> slice_window(50, [], 100, 2, 20)
    (48, 53, [])
    """
    start, stop = index - halo, index + halo + 1
    used = []
    for z in sorted((int(z) for z in seeded), key=lambda z: (abs(z - index), z)):
        lo, hi = min(start, z - halo), max(stop, z + halo + 1)
        if min(hi, n_slices) - max(lo, 0) <= max_slices:
            start, stop = lo, hi
            used.append(z)
    return max(start, 0), min(stop, n_slices), sorted(used)


def _z_halo(method, features, shape, spacing):
    """Slices the features of one slice read on either side (0 without features)."""
    from ..core.features import feature_halo, resolve_spec
    from ..core.segmenters import SEGMENTERS

    segmenter = SEGMENTERS[method]
    if segmenter.input != "features":
        return 0
    spec = resolve_spec(features, segmenter.default_features)
    if spec.mode == "2d":
        return 0
    return int(feature_halo(spec, shape, spacing)[0])


def _segment_window(arrays, seeds, start, index, method, features, params, spacing):
    """Read the window of every channel, train on its seeds, label slice ``index``."""
    began = time.perf_counter()
    try:
        stop = start + seeds.shape[0]
        window = np.stack([np.asarray(a[start:stop], dtype=np.float32) for a in arrays],
                          axis=-1)
        labels = segment_slice(window, seeds, index - start, method=method, features=features,
                               params=params, spacing=spacing)
    except (ValueError, TypeError) as exc:
        return Failure(humanize(str(exc)))
    return labels, time.perf_counter() - began


def start_lazy_segmentation(widget):
    """*Segment* for a lazy image layer: train on the seeds, label the slice on screen.

    ``widget`` is the :class:`SegmentationWidget`. Returns the worker, or
    ``None`` when nothing can run (the status and a notification say why).
    """
    image, seeds_layer = widget.image.value, widget.seeds.value
    method = METHODS[widget.method.value]
    method_name = widget.method.value
    layers = [image, *(layer for layer in widget.channels.value if layer is not image)]
    try:
        shape = _lazy_shape(layers)
        if widget.viewer.dims.ndisplay == 3:
            raise InputError(
                f"'{image.name}' is read lazily (too large to load whole): Segment labels "
                "the slice on screen, in the 2D view. " + WHOLE_VOLUME_HINT)
        if seeds_layer is None:
            raise InputError("No seeds layer: press 'New seeds layer' and paint a few "
                             "strokes per class (label 1, 2, ...) with the brush.")
        if tuple(seeds_layer.data.shape) != shape:
            raise InputError(
                f"The seeds layer '{seeds_layer.name}' has shape {tuple(seeds_layer.data.shape)}"
                f", but the image '{image.name}' has {shape}. Press 'New seeds layer' to "
                "make one that fits this image.")
        spacing = tuple(abs(float(s)) for s in image.scale[-3:])
        features, note = widget._spec_for(method, shape, spacing)
        halo = _z_halo(method, features, shape, spacing)
    except InputError as exc:
        widget.status.value = str(exc)
        show_info(str(exc))
        widget.finished_run.emit(None)
        return None
    except ValueError as exc:  # a σ too large for the volume: the core says which
        widget.status.value = humanize(str(exc))
        show_info(humanize(str(exc)))
        widget.finished_run.emit(None)
        return None
    index = widget._visible_slice(image, shape[0])
    seeds_data = seeds_layer.data
    seeded = np.flatnonzero(np.asarray(seeds_data).reshape(shape[0], -1).any(axis=1))
    slice_bytes = 4 * len(layers) * shape[1] * shape[2]
    max_slices = max(2 * halo + 1, MAX_WINDOW_BYTES // max(slice_bytes, 1))
    start, stop, used = slice_window(index, seeded, shape[0], halo, max_slices)
    seeds = np.array(seeds_data[start:stop])  # a copy: painting goes on meanwhile
    left_out = len(seeded) - len(used)
    what = (f"Segmenting slice {index} of lazy '{image.name}' with {method_name} "
            f"(reads slices {start}–{stop - 1})")
    return widget.job.start(
        _segment_window, [layer.data for layer in layers], seeds, start, index, method,
        features, widget._params(), spacing,
        on_result=lambda result: _show_slice(widget, result, image, seeds_layer, index,
                                             method_name, left_out, note),
        what=what, reads=(image, seeds_layer, *widget.channels.value))


def _lazy_shape(layers):
    image = layers[0]
    if getattr(image, "rgb", False) or image.data.ndim != 3:
        raise InputError(
            f"'{image.name}' is read lazily and has shape {tuple(image.data.shape)}: Segment "
            "on a lazy layer labels one slice of a 3D volume. " + WHOLE_VOLUME_HINT)
    shape = tuple(int(n) for n in image.data.shape)
    for layer in layers[1:]:
        if tuple(layer.data.shape) != shape:
            raise InputError(
                f"The added channel '{layer.name}' has shape {tuple(layer.data.shape)}, but "
                f"'{image.name}' has {shape}: pick channels of the same size.")
    return shape


def _show_slice(widget, result, image, seeds_layer, index, method_name, left_out, note):
    labels, seconds = result
    scale = tuple(image.scale[-3:])
    translate = list(image.translate[-3:])
    translate[0] += index * scale[0]  # the one-slice layer sits at the slice it labels
    layer = write_labels(
        widget.viewer, labels[np.newaxis], role="segmentation", source=image.name,
        name="segmentation (slice on screen)", like=seeds_layer, scale=scale,
        translate=translate, opacity=0.5,
        info={"trained_on": image.name, "seeds": seeds_layer.name, "slice": index})
    layer.translate = translate  # a re-used layer follows the newest slice
    skipped = (f" {left_out} seeded slice(s) too far from it were left out of training."
               if left_out else "")
    text = (f"{method_name}: slice {index} only ({seconds:.2f} s): '{image.name}' is read "
            f"lazily, so Segment labels the slice on screen.{skipped} {WHOLE_VOLUME_HINT}"
            + (f" {note}" if note else ""))
    widget.status.value = text
    show_info(f"Segmented slice {index} of '{image.name}' (lazy volume). {WHOLE_VOLUME_HINT}")
    widget.finished_run.emit(layer)
