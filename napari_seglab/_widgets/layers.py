"""Turn napari layers into arrays for core, and write results back as layers.

Everything here is napari-side glue; errors a user can fix are raised as
:class:`InputError` with a message that says what to do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .jobs import Failure

if TYPE_CHECKING:
    import napari

#: Key of our bookkeeping in ``layer.metadata``.
META_KEY = "napari_seglab"


class InputError(ValueError):
    """A problem with the user's layers, worded as what to do about it."""


#: A user-fixable problem found in a worker, carried back to the GUI thread.
_Failure = Failure


def layer_role(layer) -> str | None:
    """``"segmentation"``, ``"confusion"``... for layers we made, else None."""
    info = layer.metadata.get(META_KEY) if hasattr(layer, "metadata") else None
    return info.get("role") if isinstance(info, dict) else None


def image_arrays(layer) -> tuple[np.ndarray, int | None, tuple[float, ...]]:
    """The image data, its channel axis and its voxel size (the layer scale).

    Raises
    ------
    InputError
        No layer, a multiscale pyramid, or a layer that is not 2D/3D.
    """
    if layer is None:
        raise InputError(
            "No image layer: open an image (File > Open) or a sample "
            "(File > Open Sample > Seeded Segmentation Lab), then pick it here."
        )
    if getattr(layer, "multiscale", False):
        raise InputError(
            f"'{layer.name}' is a multiscale pyramid; seglab needs a single-scale "
            "image. Open the full-resolution level as its own layer."
        )
    data = np.asarray(layer.data)
    channel_axis = -1 if getattr(layer, "rgb", False) else None
    spatial_ndim = data.ndim - (1 if channel_axis is not None else 0)
    if spatial_ndim not in (2, 3):
        raise InputError(
            f"'{layer.name}' has {spatial_ndim} dimensions {data.shape}; seglab "
            "segments 2D images and 3D volumes. For a time series or a stack of "
            "channels, keep one time point (e.g. slice it in the console: "
            "viewer.add_image(layer.data[t])) or open the channels as separate layers."
        )
    spacing = tuple(float(s) for s in layer.scale[-spatial_ndim:])
    return data, channel_axis, spacing


def stacked_arrays(layer, extra_layers=()) -> tuple[np.ndarray, int | None,
                                                    tuple[float, ...]]:
    """:func:`image_arrays` of ``layer`` with ``extra_layers`` added as channels.

    Several contrasts of one subject (a T1 and a FLAIR MRI) become one
    multichannel image, channel axis last. Without extra layers this is
    :func:`image_arrays` itself.

    Raises
    ------
    InputError
        What :func:`image_arrays` raises, or an extra layer whose spatial
        shape is not the image's.
    """
    data, channel_axis, spacing = image_arrays(layer)
    if not extra_layers:
        return data, channel_axis, spacing
    shape = spatial_shape(data, channel_axis)
    parts = [data if channel_axis is not None else data[..., np.newaxis]]
    for extra in extra_layers:
        more, more_axis, _ = image_arrays(extra)
        if spatial_shape(more, more_axis) != shape:
            raise InputError(
                f"'{extra.name}' has shape {spatial_shape(more, more_axis)}, but "
                f"'{layer.name}' has {shape}: channels must be registered images of "
                "the same shape. Untick it under 'Add channels'."
            )
        parts.append(more if more_axis is not None else more[..., np.newaxis])
    return np.concatenate([np.asarray(p, np.float32) for p in parts], axis=-1), -1, spacing


def spatial_shape(data: np.ndarray, channel_axis) -> tuple[int, ...]:
    return data.shape if channel_axis is None else data.shape[:-1]


def seeds_array(seeds_layer, image_layer, shape, *, copy=True) -> np.ndarray:
    """A snapshot of the seeds (a copy: painting may go on while we compute).

    With ``copy=False`` the layer's own array is returned, for a caller that
    copies it in its worker (a 48×512×512 volume's copy froze the brush on
    every live-preview stroke).

    Raises
    ------
    InputError
        No seeds layer, or one whose shape is not the image's.
    """
    if seeds_layer is None:
        raise InputError(
            "No seeds layer: press 'New seeds layer' and paint a few strokes per "
            "class (label 1, 2, ...) with the brush."
        )
    seeds = np.asarray(seeds_layer.data)
    if seeds.shape != tuple(shape):
        raise InputError(
            f"The seeds layer '{seeds_layer.name}' has shape {seeds.shape}, but the "
            f"image '{image_layer.name}' has {tuple(shape)}. Press 'New seeds layer' "
            "to make one that fits this image."
        )
    return seeds.copy() if copy else seeds


def class_names(labels_layer) -> dict[int, str]:
    """Names of the classes from a Labels layer's ``features`` (``index``, ``name``)."""
    features = getattr(labels_layer, "features", None)
    if features is None or "name" not in features:
        return {}
    index = features["index"] if "index" in features else range(len(features))
    return {int(i): str(n) for i, n in zip(index, features["name"])}


def painted_counts(labels) -> tuple[np.ndarray, np.ndarray]:
    """Labels painted (> 0) in ``labels`` and their pixel counts, in increasing order.

    Seeds are sparse: counting only the painted pixels takes a few ms on a
    48×512×512 volume, where ``np.unique`` of the whole array (a sort) took
    ~150 ms and froze the brush on every stroke.
    """
    data = np.asarray(labels)
    painted = data[data > 0] if data.dtype.kind in "iu" else data[data != 0]
    return np.unique(painted, return_counts=True)


class PaintedCounts:
    """Pixel counts per painted label of one seeds layer, recounted where strokes went.

    The legend and the Grow list need the counts after every stroke; a
    stroke changes a few slices, so only the blocks along the first axis
    that a ``paint`` event names are counted again (a 48×512×512 volume:
    one slice, well under a millisecond). Anything else (a ``data`` event,
    undo, another layer) recounts the whole array.
    """

    #: Pixels per block along the first axis (a 512×512 slice).
    BLOCK_PIXELS = 2**18

    def __init__(self):
        self._key = None  # (id, shape, dtype) of the array counted
        self._blocks: list = []  # per block: (values, counts)
        self._dirty: set | None = None  # blocks to recount; None = all

    def _rows_per_block(self, shape) -> int:
        per_row = int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1
        return max(1, self.BLOCK_PIXELS // max(per_row, 1))

    def touched(self, event=None, shape=None):
        """Note a ``paint`` event: only the blocks its edits touch change."""
        rows = _touched_rows(getattr(event, "value", None))
        if rows is None or shape is None or self._dirty is None:
            self._dirty = None
            return
        step = self._rows_per_block(shape)
        self._dirty.update(range(rows[0] // step, rows[1] // step + 1))

    def reset(self, *args):
        """Count everything again at the next :meth:`counts`."""
        self._dirty = None

    def counts(self, labels) -> tuple[np.ndarray, np.ndarray]:
        """``(values, counts)`` of the labels > 0 of ``labels`` (as :func:`painted_counts`)."""
        data = np.asarray(labels)
        key = (id(labels), data.shape, data.dtype.str)
        if data.ndim == 0:
            return painted_counts(data)
        step = self._rows_per_block(data.shape)
        n_blocks = -(-data.shape[0] // step)
        if key != self._key or self._dirty is None or len(self._blocks) != n_blocks:
            self._key, self._blocks = key, [None] * n_blocks
            dirty = range(n_blocks)
        else:
            dirty = sorted(b for b in self._dirty if b < n_blocks)
        for block in dirty:
            self._blocks[block] = painted_counts(data[block * step:(block + 1) * step])
        self._dirty = set()
        total: dict[int, int] = {}
        for values, counts in self._blocks:
            for value, count in zip(values.tolist(), counts.tolist()):
                total[value] = total.get(value, 0) + count
        values = np.array(sorted(total), dtype=data.dtype)
        return values, np.array([total[v] for v in values.tolist()], dtype=np.int64)


def _touched_rows(atoms):
    """First and last index along axis 0 that napari's paint history ``atoms`` edit.

    None when unknown (no atoms: undo/redo as :func:`follow_undo` reports them).
    """
    if not atoms:
        return None
    low, high = None, None
    for atom in atoms:
        key = getattr(atom, "slice_key", None)  # napari >= 0.6: masked paint atoms
        if key is not None:
            first = key[0]
            if not isinstance(first, slice) or first.start is None or first.stop is None:
                return None
            lo, hi = int(first.start), int(first.stop) - 1
        else:
            try:
                rows = np.asarray(atom[0][0])  # (indices, old values, new values)
                lo, hi = int(rows.min()), int(rows.max())
            except (TypeError, IndexError, ValueError):
                return None
        low = lo if low is None else min(low, lo)
        high = hi if high is None else max(high, hi)
    return low, high


def class_color_hex(labels_layer, label: int) -> str:
    rgba = np.asarray(labels_layer.get_color(label), float).ravel()
    if rgba.size < 3:
        return "#000000"
    return "#" + "".join(f"{int(round(255 * c)):02x}" for c in rgba[:3])


def _mark_edited(layer, event=None):
    info = layer.metadata.get(META_KEY)
    if isinstance(info, dict) and not info.get("writing"):
        info["edited"] = True


def _track_edits(layer):
    layer.events.paint.connect(lambda e: _mark_edited(layer, e))
    layer.events.data.connect(lambda e: _mark_edited(layer, e))


def find_output(viewer: napari.Viewer, role: str, source: str, shape):
    """The newest layer we made for ``role`` and ``source`` that we may overwrite."""
    for layer in reversed(list(viewer.layers)):
        info = layer.metadata.get(META_KEY)
        if (
            isinstance(info, dict)
            and info.get("role") == role
            and info.get("source") == source
            and not info.get("edited")
            and layer.data.shape == tuple(shape)
        ):
            return layer
    return None


def write_labels(viewer: napari.Viewer, data: np.ndarray, *, role: str, source: str,
                 name: str, like=None, info=None, **kwargs):
    """Show ``data`` in our output layer for (``role``, ``source``).

    The layer is re-used while the user has not edited it by hand; once
    they have, a new layer is added so no correction is ever overwritten.

    Parameters
    ----------
    like : Labels layer, optional
        Colours and class names are copied from it (the seeds layer).
    info : dict, optional
        More bookkeeping for ``metadata[META_KEY]`` (e.g. ``trained_on``), in
        place before any observer sees the data.
    **kwargs
        Layer attributes for a new layer (``scale``, ``translate``, ...).
    """
    style = {}
    if like is not None:
        style["colormap"] = like.colormap
        if "name" in getattr(like, "features", {}):
            style["features"] = like.features
    layer = find_output(viewer, role, source, data.shape)
    if layer is None:
        # A new layer becomes napari's active layer: give it back to the one
        # the user was painting, so the next stroke needs no click.
        active = viewer.layers.selection.active
        mode = getattr(active, "mode", None)
        layer = viewer.add_labels(
            data, name=name,
            metadata={META_KEY: {"role": role, "source": source, "edited": False,
                                 # anything but a result is a display layer
                                 **({} if role == "segmentation" else {"helper": True}),
                                 **(info or {})}},
            **style, **kwargs,
        )
        _track_edits(layer)
        if active is not None and active in viewer.layers:
            viewer.layers.selection.active = active
            if mode is not None:
                active.mode = mode
    else:
        for key, value in style.items():  # before the data: observers see both
            setattr(layer, key, value)
        meta = layer.metadata[META_KEY]
        meta.update(info or {})
        meta["writing"] = True
        try:
            layer.data = data
        finally:
            meta["writing"] = False
    if role == "segmentation":
        from .panel_model import model_for

        # the newest result is the segmentation the next tool edits
        model_for(viewer).set("segmentation", layer)
    return layer


def unwrap(obj):
    """The object behind napari's ``PublicOnlyProxy`` (itself if not a proxy)."""
    return getattr(obj, "__wrapped__", obj)


def follow_undo(layer) -> None:
    """Make undo and redo on a Labels layer emit ``paint``, as a stroke does.

    napari's ``Labels.undo``/``redo`` change the pixels but emit neither
    ``paint`` nor ``data``, so whatever follows the seeds (legend, live
    preview, grow from seeds, Evaluation) would keep the undone stroke.
    Wrapping the layer's methods covers Ctrl+Z and the layer-controls
    buttons alike; idempotent.
    """
    # Widgets added from the Plugins menu see napari's public-only proxies of
    # the viewer and its layers; the history lives on the layer itself.
    layer = unwrap(layer)
    if getattr(layer, "_seglab_follows_undo", False):
        return
    for name in ("undo", "redo"):
        original = getattr(layer, name)

        def wrapped(_original=original):
            # Always tell: an undo with nothing to undo costs one recount, and
            # napari's history lists are private.
            _original()
            layer.events.paint(value=[])

        setattr(layer, name, wrapped)
    layer._seglab_follows_undo = True


def looks_like_labels(layer) -> bool:
    """An integer or boolean image with few distinct values (or a telling name): a label map.

    Such layers are offered as ground truth (converted on use) and never as
    extra channels (training on the answer would leak it). The rule is the
    reader's (:func:`napari_seglab.io.looks_like_labels`).
    """
    from ..io import looks_like_labels as _looks_like_labels

    data = getattr(layer, "data", None)
    if data is None or getattr(layer, "rgb", False) or getattr(layer, "multiscale", False):
        return False
    return _looks_like_labels(data, getattr(layer, "name", ""))
