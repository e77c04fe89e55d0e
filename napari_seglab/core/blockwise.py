"""Blockwise prediction with dask: a fitted model applied to volumes beyond memory.

Each output block is computed from its input block plus a margin (the
feature bank's halo): the block is read with that margin (clipped at the
image borders, which the features reflect, as the whole-image computation
does) and the fused evaluator (:mod:`.tiles`, the one ``SeededModel`` uses)
labels its inner part slab by slab, never holding the block's whole feature
stack. The result equals :meth:`SeededModel.predict` on the whole image.
Chunks are chosen from the halo and a memory budget per block; the input's
own chunks are only read, never rechunked, so a chunk smaller than the halo
is fine.

The model travels to dask workers as the bytes of its data-only model file
(:func:`~napari_seglab.core.model_io.save_model`), loaded once per worker
process; never as a pickled Python object.

dask is an optional dependency (``pip install "napari-seglab[scale]"``),
imported inside the functions that need it.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import threading
import uuid

import numpy as np

from .features import feature_halo

__all__ = [
    "DEFAULT_BLOCK_BYTES",
    "block_margin",
    "choose_chunks",
    "confusion_blockwise",
    "model_from_bytes",
    "model_to_bytes",
    "predict_blockwise",
]

#: Peak memory one block may take while it is computed (its data, one slab's
#: features and scratch: larger blocks than a whole-block feature stack allowed).
DEFAULT_BLOCK_BYTES = 512 * 2**20

_MODEL_CACHE: dict = {}
_MODEL_LOCK = threading.Lock()


def _need_dask():
    try:
        import dask  # noqa: F401
        import dask.array as da
    except ImportError:  # pragma: no cover - the extra is installed in CI
        raise ImportError(
            'blockwise processing needs dask: pip install "napari-seglab[scale]"'
        ) from None
    return da


# --------------------------------------------------------------------------
# The model as data


def model_to_bytes(model) -> bytes:
    """The bytes of ``model``'s data-only model file (no pickle).

    Examples
    --------
    >>> from napari_seglab.core.phantoms import tissue_phantom, scribble_seeds
    >>> from napari_seglab.core.pipeline import SeededModel
    >>> image, truth = tissue_phantom((48, 48), random_state=0)
    >>> model = SeededModel("nearest_mean").fit(image, scribble_seeds(truth))
    >>> model_from_bytes(model_to_bytes(model)).classes_.tolist()
    [1, 2, 3]
    """
    from .model_io import save_model

    with tempfile.TemporaryDirectory(prefix="seglab-model-") as folder:
        path = os.path.join(folder, "model.npz")
        save_model(path, model)
        with open(path, "rb") as fh:
            return fh.read()


def model_from_bytes(data: bytes):
    """The model in ``data`` (:func:`model_to_bytes`), loaded once per process."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"model data must be bytes; got {type(data).__name__}")
    key = hashlib.sha256(data).hexdigest()
    with _MODEL_LOCK:
        model = _MODEL_CACHE.get(key)
        if model is None:
            from .model_io import load_model

            with tempfile.TemporaryDirectory(prefix="seglab-model-") as folder:
                path = os.path.join(folder, "model.npz")
                with open(path, "wb") as fh:
                    fh.write(bytes(data))
                model = load_model(path)
            _MODEL_CACHE.clear()  # one model at a time per process: bounded memory
            _MODEL_CACHE[key] = model
    return model


# --------------------------------------------------------------------------
# Margins and chunks


def _check_model(model):
    model._check_fitted()
    kind = model.segmenter_.input
    if kind == "image":
        raise ValueError(
            f"method {model.method!r} thresholds each pixel against its neighbourhood "
            "statistics over the whole image and cannot run block by block: use a "
            "global threshold (otsu, li, ...) or a pixel classifier (knn, random_forest)"
        )
    if getattr(model.segmenter_, "spatial", False):
        raise ValueError(
            f"method {model.method!r} with smoothing, prior correction, auto-context or grow "
            "reads the whole image's probabilities and cannot run block by block: retrain "
            "it with those off (smooth_sigma=0, prior_correction=False, context_sigmas=(), "
            "grow=False), or use random_forest"
        )
    if kind == "features" and model.spec_.normalize:
        raise ValueError(
            "this model z-scores its features over the whole image (spec.normalize), "
            "which blocks cannot reproduce: retrain it with normalize=False "
            "(the presets do not z-score), or predict in memory"
        )
    return kind


def _spatial(shape, channel_axis):
    shape = list(shape)
    if channel_axis is not None:
        del shape[channel_axis]
    return tuple(int(n) for n in shape)


def _spacing(spacing, ndim):
    if spacing is None:
        return (1.0,) * ndim
    if np.ndim(spacing) == 0:
        return (float(spacing),) * ndim
    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != ndim or not all(np.isfinite(s) and s > 0 for s in spacing):
        raise ValueError(
            f"spacing must be {ndim} positive numbers, one per spatial axis; got {spacing}"
        )
    return spacing


def block_margin(model, shape, spacing=None) -> tuple:
    """Voxels per spatial axis each block reads around itself.

    The feature bank's halo (``feature_halo``), widened where needed so that
    a block clipped at a border still spans twice the largest σ (the size
    :func:`~napari_seglab.core.features.compute_features` checks). Zero for
    models that read the intensity only.

    Parameters
    ----------
    model : SeededModel
        Fitted.
    shape : tuple of int
        Spatial shape of the image.
    spacing : sequence of float, optional
        Voxel size per axis (σ are physical); ``None`` = 1.

    Returns
    -------
    tuple of int

    Examples
    --------
    >>> from napari_seglab.core.phantoms import tissue_phantom, scribble_seeds
    >>> from napari_seglab.core.pipeline import SeededModel
    >>> image, truth = tissue_phantom((48, 48), random_state=0)
    >>> model = SeededModel("otsu").fit(image)
    >>> block_margin(model, image.shape)
    (0, 0)
    """
    shape = tuple(int(n) for n in shape)
    if _check_model(model) != "features":
        return (0,) * len(shape)
    spacing = _spacing(spacing, len(shape))
    spec = model.spec_
    halo = feature_halo(spec, shape, spacing)  # also checks σ against the image
    filtered = range(1, len(shape)) if (spec.mode == "2d" and len(shape) == 3) \
        else range(len(shape))
    biggest = max(s for _, s in spec.filters)
    out = []
    for a, h in enumerate(halo):
        need = math.ceil(2 * biggest / spacing[a]) + 1 if a in filtered else 0
        out.append(int(max(h, need)))
    return tuple(out)


def _block_bytes(model, padded, n_channels, spacing):
    """Peak bytes while one padded block is labelled (fused: one slab's features)."""
    voxels = math.prod(padded)
    base = voxels * (4 * n_channels * 2 + 16)  # float32 input and its filled copy, labels, masks
    if model.segmenter_.input != "features":
        return base + 8 * voxels
    from .tiles import slab_bytes, slab_depth

    n_inputs = model.spec_.n_features(n_channels, len(padded))
    row = 200 + 8 * n_inputs + model.segmenter_.predict_row_bytes(n_inputs,
                                                                  model.classes_.size)
    # Two slabs' features at once: one predicted while the next is computed.
    return base + 2 * slab_bytes(model.spec_, padded, n_channels, spacing,
                                 slab_depth(padded), row_bytes=row)


def choose_chunks(model, shape, *, spacing=None, n_channels=1,
                  block_bytes=DEFAULT_BLOCK_BYTES) -> tuple:
    """Cube-like output chunks whose padded blocks fit ``block_bytes``.

    The largest side ``s`` (a multiple of 16 from 64 on) such that a block of
    ``s`` voxels per axis plus :func:`block_margin` on each side, times the
    memory its features take per voxel, stays within ``block_bytes``.

    Returns
    -------
    tuple of int
        One chunk size per spatial axis (at most the axis length).

    Examples
    --------
    >>> from napari_seglab.core.phantoms import tissue_phantom, scribble_seeds
    >>> from napari_seglab.core.pipeline import SeededModel
    >>> image, truth = tissue_phantom((64, 64), random_state=0)
    >>> model = SeededModel("otsu").fit(image)
    >>> choose_chunks(model, (5000, 6000))
    (4096, 4096)
    """
    shape = tuple(int(n) for n in shape)
    margin = block_margin(model, shape, spacing)
    spacing = _spacing(spacing, len(shape))

    def cost(side):
        padded = [min(min(side, n) + 2 * m, n) for n, m in zip(shape, margin, strict=False)]
        return _block_bytes(model, padded, n_channels, spacing)
    side = 4096
    while side > 8 and cost(side) > block_bytes:
        side = side - 16 if side > 64 else side - 8
        if side > 64:
            side -= side % 16
    return tuple(min(side, n) for n in shape)


def _check_chunks(chunks, spatial):
    if chunks is None:
        return None
    if np.ndim(chunks) == 0:
        chunks = (chunks,) * len(spatial)
    try:
        chunks = tuple(int(c) for c in chunks)
    except (TypeError, ValueError):
        raise TypeError(f"chunks must be an int or one int per spatial axis; got {chunks!r}") \
            from None
    if len(chunks) != len(spatial) or min(chunks) < 1:
        raise ValueError(
            f"chunks must be {len(spatial)} positive sizes (one per spatial axis "
            f"{spatial}); got {chunks}"
        )
    return tuple(min(c, n) for c, n in zip(chunks, spatial, strict=False))


# --------------------------------------------------------------------------
# One block


def _fill_stats(source, crop, channel_axis):
    """Per-channel (sum of finite values in float64, finite count, any non-finite)."""
    data = np.asarray(source if crop is None else source[crop])
    data = data[..., np.newaxis] if channel_axis is None else np.moveaxis(data, channel_axis, -1)
    flat = data.reshape(-1, data.shape[-1])
    ok = np.isfinite(flat)
    sums = np.where(ok, flat, 0).sum(axis=0, dtype=np.float64)
    return np.stack([sums, ok.sum(axis=0).astype(np.float64),
                     (~ok).sum(axis=0).astype(np.float64)])


def _fill_values(*stats):
    total = np.sum(stats, axis=0)
    if not total[2].any():
        return None
    if (total[1] == 0).any():
        c = int(np.flatnonzero(total[1] == 0)[0])
        raise ValueError(f"channel {c} has no finite pixel; nothing to segment")
    return (total[0] / total[1]).astype(np.float32)


def _channel_moments(source, crop, channel_axis):
    """Per-channel (count, sum, sum of squares) of the finite values, float64."""
    data = np.asarray(source if crop is None else source[crop])
    data = data[..., np.newaxis] if channel_axis is None else np.moveaxis(data, channel_axis, -1)
    flat = data.reshape(-1, data.shape[-1]).astype(np.float64)
    ok = np.isfinite(flat).all(axis=1)
    flat = flat[ok]
    return np.stack([np.full(flat.shape[1], flat.shape[0], np.float64), flat.sum(axis=0),
                     (flat * flat).sum(axis=0)])


def _intensity_match(target, *moments):
    """``(stats, target)`` for :func:`~.intensity.match_channels`, None when alike."""
    from .intensity import same_stats

    n, s, ss = np.sum(moments, axis=0)
    n = np.maximum(n, 1)
    mean = s / n
    std = np.sqrt(np.maximum(ss / n - mean * mean, 0))
    stats = (mean, np.where(std > 0, std, 1.0))
    return None if same_stats(stats, target, rtol=1e-5) else (stats, target)


def _predict_block(model, source, crop, fill, inner, spacing, channel_axis, num_workers,
                   match=None):
    """Labels of ``block[inner]``, ``block = source[crop]`` being inner plus its margin.

    ``model`` is a SeededModel (in-process schedulers) or its file's bytes;
    ``crop`` is None when ``source`` is the block already.
    """
    if not hasattr(model, "predict_inputs"):
        model = model_from_bytes(model)
    block = source if crop is None else source[crop]
    data = np.asarray(block)
    data = data[..., np.newaxis] if channel_axis is None else np.moveaxis(data, channel_axis, -1)
    data = np.ascontiguousarray(data, dtype=np.float32)
    finite = block_finite = None
    if fill is not None:
        ok = np.isfinite(data)
        if not ok.all():
            data = data.copy() if np.shares_memory(data, block) else data
            for c in range(data.shape[-1]):
                data[..., c][~ok[..., c]] = fill[c]
            block_finite = ok.all(axis=-1)
            finite = np.ascontiguousarray(block_finite[inner])
    if match is not None:  # the whole image's channels onto the training image's
        from .intensity import match_channels

        data = match_channels(data, *match)
    if model.segmenter_.input != "features":
        inputs = data[inner].mean(axis=-1, dtype=np.float32)[..., np.newaxis]
        return model.predict_inputs(inputs, finite)
    # The fused evaluator on the padded block: its features slab by slab,
    # labels of the inner part only (the rest is the filters' margin).
    return model.predict_block(data, inner, spacing=spacing, finite=block_finite,
                               num_workers=num_workers)


# --------------------------------------------------------------------------
# The whole array


def predict_blockwise(model, array, *, chunks=None, spacing=None, channel_axis=None,
                      block_bytes=DEFAULT_BLOCK_BYTES, num_workers=1, model_as_bytes=None):
    """Labels of every pixel of ``array``, as a lazy dask array computed block by block.

    Parameters
    ----------
    model : SeededModel
        Fitted; any method that labels pixel by pixel (not the local
        threshold) and a feature spec without z-scoring.
    array : array-like
        2D/3D image plus ``channel_axis``: a NumPy array, a memory map, a
        zarr array or a dask array (only read, never rechunked).
    chunks : int or tuple of int, optional
        Output chunk size per spatial axis; ``None`` chooses them with
        :func:`choose_chunks` from the halo and ``block_bytes``. Chunks
        smaller than the halo work (each block reads its own margin).
    spacing : sequence of float, optional
        Voxel size per spatial axis (σ are physical); ``None`` = 1, as in
        :meth:`SeededModel.predict`.
    channel_axis : int, optional
        Axis of ``array`` holding channels.
    block_bytes : int, optional
        Memory budget of one block while computing (used by ``chunks=None``).
    num_workers : int, optional
        Threads of the feature engine inside one block (dask runs blocks
        in parallel: 1 avoids oversubscribing the cores).
    model_as_bytes : bool, optional
        Put the model in the task graph as its file's bytes (for workers in
        other processes) rather than as the object; ``None``: bytes when a
        ``dask.distributed`` client is active.

    Returns
    -------
    labels : dask.array.Array
        Spatial shape, chunked as chosen, dtype of ``model.predict``'s
        labels; 0 for pixels non-finite in some channel (filled, as in
        memory, with the channel's mean over the whole image, computed in
        float64 in a first pass that only runs for float inputs with
        non-finite values somewhere).

    Raises
    ------
    ValueError
        For the local threshold, a z-scoring spec, a channel count other
        than the model's, bad ``chunks`` or ``spacing``.
    ImportError
        When dask is not installed.

    Examples
    --------
    >>> from napari_seglab.core.phantoms import tissue_phantom, scribble_seeds
    >>> from napari_seglab.core.pipeline import SeededModel
    >>> image, truth = tissue_phantom((64, 64), random_state=0)
    >>> model = SeededModel("nearest_mean").fit(image, scribble_seeds(truth))
    >>> labels = predict_blockwise(model, image, chunks=16)
    >>> labels.chunksize, bool((labels.compute() == model.predict(image)).all())
    ((16, 16), True)
    """
    da = _need_dask()
    import dask

    kind = _check_model(model)
    shape = tuple(int(n) for n in np.shape(array))
    if channel_axis is not None:
        channel_axis = int(channel_axis) % len(shape)
    spatial = _spatial(shape, channel_axis)
    if len(spatial) not in (2, 3):
        raise ValueError(f"image must be 2D or 3D spatially; got spatial shape {spatial}")
    n_channels = 1 if channel_axis is None else shape[channel_axis]
    if n_channels != model.n_channels_:
        raise ValueError(
            f"the image has {n_channels} channel(s); the model was trained on "
            f"{model.n_channels_}"
        )
    dtype = np.dtype(getattr(array, "dtype", np.float32))
    if not (np.issubdtype(dtype, np.number) or dtype.kind == "b") or \
            np.issubdtype(dtype, np.complexfloating):
        raise TypeError(f"image must hold real numbers; got dtype {dtype}")
    spacing = _spacing(spacing, len(spatial))
    margin = block_margin(model, spatial, spacing)
    chunks = _check_chunks(chunks, spatial) or choose_chunks(
        model, spatial, spacing=spacing, n_channels=n_channels, block_bytes=block_bytes)
    if kind == "features":
        # Every σ is checked against the whole image before anything runs.
        feature_halo(model.spec_, spatial, spacing)

    lazy = isinstance(array, da.Array)
    # A zarr array, memory map or NumPy array is read by each block task
    # itself (one graph key for the source); a dask array is sliced.
    source = array if lazy else dask.delayed(
        array, name=f"seglab-source-{uuid.uuid4().hex}", traverse=False)
    if model_as_bytes is None:
        model_as_bytes = _client_active()
    model_task = dask.delayed(model_to_bytes(model) if model_as_bytes else model,
                              name=f"seglab-model-{uuid.uuid4().hex}", traverse=False)

    def crop_of(region):
        crop = list(region)
        if channel_axis is not None:
            crop.insert(channel_axis, slice(None))
        return tuple(crop)

    fill = None
    if np.issubdtype(dtype, np.floating):
        parts = [dask.delayed(_fill_stats, pure=True)(
            source[crop_of(region)] if lazy else source, None if lazy else crop_of(region),
            channel_axis) for region in _blocks(spatial, chunks)]
        fill = dask.delayed(_fill_values, pure=True)(*parts)
    match = None
    if model.normalize_input == "zscore" and model.input_stats_ is not None:
        match = dask.delayed(_intensity_match, pure=True)(model.input_stats_, *[
            dask.delayed(_channel_moments, pure=True)(
                source[crop_of(region)] if lazy else source, None if lazy else crop_of(region),
                channel_axis) for region in _blocks(spatial, chunks)])
    labels_dtype = np.min_scalar_type(max(int(model.classes_.max()), 1))

    starts = [range(0, n, c) for n, c in zip(spatial, chunks, strict=False)]

    def build(axis, origin):
        if axis == len(spatial):
            lo = [max(0, o - m) for o, m in zip(origin, margin, strict=False)]
            hi = [min(n, o + c + m)
                  for o, c, m, n in zip(origin, chunks, margin, spatial, strict=False)]
            stop = [min(o + c, n) for o, c, n in zip(origin, chunks, spatial, strict=False)]
            inner = tuple(slice(o - a, e - a) for o, e, a in zip(origin, stop, lo, strict=False))
            crop = crop_of(slice(a, b) for a, b in zip(lo, hi, strict=False))
            task = dask.delayed(_predict_block, pure=True)(
                model_task, source[crop] if lazy else source, None if lazy else crop,
                fill, inner, spacing, channel_axis, num_workers, match)
            block_shape = tuple(e - o for o, e in zip(origin, stop, strict=False))
            return da.from_delayed(task, shape=block_shape, dtype=labels_dtype)
        return [build(axis + 1, origin + (s,)) for s in starts[axis]]

    return da.block(build(0, ()))


def _client_active() -> bool:
    try:
        from distributed import get_client

        get_client()
    except (ImportError, ValueError):
        return False
    return True


# --------------------------------------------------------------------------
# Metrics over any size


def _blocks(shape, chunks):
    starts = [range(0, n, c) for n, c in zip(shape, chunks, strict=False)]
    for index in np.ndindex(*[len(s) for s in starts]):
        yield tuple(slice(starts[a][i], starts[a][i] + chunks[a]) for a, i in enumerate(index))


def confusion_blockwise(truth, pred, *, chunks=None, labels=None, progress=None):
    """Confusion matrix of two label arrays of any size, summed over blocks.

    Exactly :func:`napari_seglab.metrics.confusion_matrix` of the whole
    arrays, reading one block of each at a time.

    Parameters
    ----------
    truth, pred : array-like of int, same shape
        NumPy arrays, memory maps, zarr or dask arrays.
    chunks : int or tuple of int, optional
        Block size per axis; ``None``: about 16 M pixels per block.
    labels : sequence of int, optional
        Rows/columns to report; ``None`` = every value seen in either array.
    progress : callable, optional
        Called as ``progress(done, total)`` after each block.

    Returns
    -------
    cm : ndarray of int64, shape (K, K)
    labels : ndarray of int64, shape (K,)

    Raises
    ------
    ValueError
        If the shapes differ.

    Examples
    --------
    >>> cm, labels = confusion_blockwise(np.array([[0, 1], [1, 2]]),
    ...                                  np.array([[0, 1], [2, 2]]), chunks=1)
    >>> labels.tolist(), cm.tolist()
    ([0, 1, 2], [[1, 0, 0], [0, 1, 1], [0, 0, 1]])
    """
    from .metrics import confusion_matrix

    shape, other = tuple(np.shape(truth)), tuple(np.shape(pred))
    if shape != other:
        raise ValueError(f"truth and prediction shapes differ: {shape} vs {other}")
    if chunks is None:
        side = max(1, int(round((1 << 24) ** (1 / max(len(shape), 1)))))
        chunks = (side,) * len(shape)
    chunks = (int(chunks),) * len(shape) if np.ndim(chunks) == 0 else tuple(int(c) for c in chunks)
    fixed = None if labels is None else [int(v) for v in labels]
    counts: dict = {}
    blocks = list(_blocks(shape, chunks)) if shape else [()]
    for i, region in enumerate(blocks):
        t = np.asarray(truth[region])
        p = np.asarray(pred[region])
        values = fixed if fixed is not None else np.union1d(np.unique(t), np.unique(p)).tolist()
        if values:
            cm = confusion_matrix(t, p, labels=values)
            rows, cols = np.nonzero(cm)
            for r, c in zip(rows.tolist(), cols.tolist(), strict=False):
                key = (values[r], values[c])
                counts[key] = counts.get(key, 0) + int(cm[r, c])
            if fixed is None:
                for v in values:
                    counts.setdefault((v, v), 0)
        if progress is not None:
            progress(i + 1, len(blocks))
    out_labels = np.array(fixed if fixed is not None
                          else sorted({k[0] for k in counts} | {k[1] for k in counts}),
                          dtype=np.int64)
    index = {v: i for i, v in enumerate(out_labels.tolist())}
    cm = np.zeros((out_labels.size, out_labels.size), np.int64)
    for (t, p), n in counts.items():
        cm[index[t], index[p]] += n
    return cm, out_labels
