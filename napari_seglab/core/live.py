"""Live preview: retrain on every seed and predict only what is on screen.

A stroke should update the view at once, so :func:`segment_slice` trains on
the seeds of every slice but predicts one slice of a volume; features come
from a :class:`~napari_seglab.core.feature_cache.FeatureCache`, per slice,
so each slice's filters are computed once and reused across strokes.
"""

from __future__ import annotations

import numpy as np

from .feature_cache import FeatureCache
from .pipeline import SeededModel
from .segmenters import DEFAULT_METHOD
from .tiles import iter_predict_features
from .training import balanced_seed_indices
from .validation import check_seeds, check_spacing

__all__ = ["segment_slice"]


def segment_slice(image, seeds, index=None, *, method=DEFAULT_METHOD, features=None, params=None,
                  spacing=None, cache=None, version=0, return_model=False):
    """Train on all seeds, predict one slice of a volume (or a whole 2D image).

    Parameters
    ----------
    image : ndarray, shape ``spatial + (C,)``
        2D or 3D image with its channels last (as the napari side prepares it).
    seeds : ndarray of int, shape ``spatial``, or None
        0 = not seeded; ``None`` only for unsupervised methods.
    index : int, optional
        Slice along the first axis of a volume; ignored for 2D images.
    method, features, params
        As in :class:`~napari_seglab.core.pipeline.SeededModel`.
    spacing : float or sequence of float, optional
        Voxel size per spatial axis, the layer scale (σ are physical); a
        number is isotropic, negative values count as their absolute value.
    cache : FeatureCache, optional
        Reused across calls (pass the same one for every stroke).
    version : hashable, default 0
        Token the caller changes when the image data change.
    return_model : bool, default False
        Also return the fitted model (trained on every seed, as a whole-image
        fit would be), so a live-only session can save or apply it.

    Returns
    -------
    labels : ndarray of int, shape ``spatial[1:]`` for a volume, else ``spatial``
        Seeded pixels keep their label.
    model : SeededModel
        Only with ``return_model=True``.

    Raises
    ------
    ValueError
        As :func:`napari_seglab.segment` does (too few seed classes, ...).

    Examples
    --------
    >>> from napari_seglab.core.phantoms import tissue_phantom, scribble_seeds
    >>> image, truth = tissue_phantom((16, 48, 48))
    >>> seeds = scribble_seeds(truth, length=10)
    >>> segment_slice(image[..., None], seeds, 8).shape
    (48, 48)
    """
    image = np.asarray(image, dtype=np.float32)  # float32 input: no copy, same key
    spatial = image.shape[:-1]
    seeds = np.zeros(spatial, np.uint8) if seeds is None else check_seeds(seeds, spatial)
    spacing = check_spacing(spacing, len(spatial))
    model = SeededModel(method, features, params)
    volume = len(spatial) == 3
    if volume and not 0 <= int(index) < spatial[0]:
        raise ValueError(f"index {index} is outside the volume's {spatial[0]} slices")

    spec = model._spec()
    if not isinstance(model._what(), type(spec)):
        # Thresholds are cheap and global: compute them on the whole image.
        labels = model.fit_predict(image, seeds, spacing=spacing, channel_axis=-1)
        labels = _keep_seeds(labels[int(index)] if volume else labels,
                             seeds[int(index)] if volume else seeds)
        return (labels, model) if return_model else labels

    # The cache is keyed by the array's identity: give it the caller's own
    # array on every stroke (compute_features fills non-finite pixels
    # itself), never a copy made anew by each call.
    finite = np.isfinite(image).all(axis=-1)
    finite = None if finite.all() else finite
    cache = FeatureCache() if cache is None else cache
    opts = {"spacing": spacing, "channel_axis": -1, "version": version}
    if not volume:
        inputs = cache.get(image, spec, **opts)
        model.fit_inputs(inputs, seeds, finite)
        labels = _keep_seeds(_predict_in_blocks(model, inputs, finite), seeds)
        return (labels, model) if return_model else labels

    index = int(index)
    if model.make_segmenter().unsupervised:
        # Clusters learn from every pixel of the seeded slices (or this one).
        seeded = np.flatnonzero(seeds.reshape(spatial[0], -1).any(axis=1))
        train = seeded if seeded.size else np.array([index])
        inputs = np.stack([cache.get_slice(image, spec, z, **opts) for z in train])
        model.fit_inputs(inputs, seeds[train], None if finite is None else finite[train])
    else:
        # Only the training samples, slice by slice: the same samples as a
        # whole-volume fit, without stacking the features of every seeded slice.
        index_flat, classes = balanced_seed_indices(
            seeds, mask=finite, max_per_class=model.max_per_class, balance=model.balance,
            random_state=model._random_state())
        model._check_classes(classes, seeds)
        coords = np.unravel_index(index_flat, spatial)
        X_train = None
        for z in np.unique(coords[0]):
            rows = np.flatnonzero(coords[0] == z)
            feats = cache.get_slice(image, spec, int(z), **opts)
            if X_train is None:
                X_train = np.empty((index_flat.size, feats.shape[-1]), np.float32)
            X_train[rows] = feats[coords[1][rows], coords[2][rows]]
        y_train = seeds.ravel()[index_flat].astype(np.int64)
        segmenter = model.make_segmenter()
        segmenter.fit(X_train, y_train,
                      **model._layout_params(segmenter, X_train.shape[1], len(spatial)))
        model._last_channels = image.shape[-1]
        model._keep_fitted(segmenter, X_train, y_train, spatial)
    current = cache.get_slice(image, spec, index, **opts)
    labels = _predict_in_blocks(model, current, None if finite is None else finite[index])
    labels = _keep_seeds(labels, seeds[index])
    return (labels, model) if return_model else labels


#: Pixels per prediction call of a live preview (one 512² slice).
LIVE_BLOCK_PIXELS = 1 << 18


def _predict_in_blocks(model, inputs, finite):
    """Labels of cached ``inputs``, slab by slab as the fused evaluator predicts.

    :func:`~napari_seglab.core.tiles.iter_predict_features` in slabs of about
    :data:`LIVE_BLOCK_PIXELS` pixels: the same labels (every segmenter here
    predicts pixel by pixel). A live preview runs beside the GUI thread, and
    numpy keeps the GIL through one sort or fancy index of a few million
    rows: on a 2048² image that froze the brush ~200 ms per stroke. Short
    calls let the GUI thread in between.
    """
    model._check_fitted()
    spatial = inputs.shape[:-1]
    if inputs.shape[-1] != int(model.segmenter_.n_features_in_):
        return model.predict_inputs(inputs, finite)  # raises what it raises
    labels = np.empty(spatial, model._labels_dtype())
    depth = max(1, LIVE_BLOCK_PIXELS // max(1, int(np.prod(spatial[1:]))))
    for _ in iter_predict_features(inputs, model.segmenter_.predict, depth=depth,
                                   finite=finite, labels=labels):
        pass
    return labels


def _keep_seeds(labels, seeds):
    seeded = seeds > 0
    if seeded.any():
        dtype = np.promote_types(labels.dtype, np.min_scalar_type(int(seeds.max())))
        labels = labels.astype(dtype, copy=False)
        labels[seeded] = seeds[seeded]
    return labels
