"""Fused tile-wise evaluation: features of one slab at a time, straight into prediction.

The feature stack of a whole image is never held. :class:`TileEvaluator`
walks the image in slabs of planes along its first axis (a volume's slices,
a 2D image's rows) with :func:`~.features.slabs.iter_feature_slabs`, which
smooths each plane once, in fixed blocks of planes, reading only the raw
image around them; each slab's features go to the estimator's ``predict``
(and ``predict_proba`` when asked), its labels are written out and its
features dropped (two buffers, reused: the next slab is computed in a second
thread while this one is predicted). Training reads features at the seeded
pixels only (the seeded planes, or the slabs that hold them).

The slab is the tile: whole planes, so the filters' margin is only along
the first axis and costs nothing (each plane's smoothing is computed once
and shared by the two slabs it borders) where square tiles would recompute
a 4σ halo on every side.

The estimator is any fitted object with ``predict(X)`` / ``predict_proba(X)``
on feature rows (scikit-learn style); the evaluator never looks inside it.
``SeededModel`` (``segment``, ``predict``), the live slice
(:mod:`.live`) and the blockwise dask path (:mod:`.blockwise`) all label
through :meth:`TileEvaluator.iter_predict`.
"""

from __future__ import annotations

import math

import numpy as np

from .features import FeatureSpec
from .features.engine import _Plan, _radius
from .features.memory import estimate_memory
from .features.slabs import (
    SLAB_VOXELS,
    block_planes,
    default_depth,
    iter_feature_slabs,
    streamable,
)

__all__ = ["SLAB_VOXELS", "TileEvaluator", "iter_predict_features", "slab_bytes",
           "slab_depth"]



def slab_depth(spatial, max_depth=None) -> int:
    """Planes per slab for an image of spatial shape ``spatial``.

    Depends on the shape only (and an upper bound from a memory budget), so
    that every path over the same image cuts the same slabs and computes
    the same bits.
    """
    depth = default_depth(spatial)
    if max_depth is not None:
        depth = min(depth, max(1, int(max_depth)))
    return int(depth)


def slab_bytes(spec, spatial, n_channels, spacing, depth, *, row_bytes=0) -> int:
    """Bytes one slab of ``depth`` planes holds at its peak.

    Per scale and channel, the blocks of smoothed planes a slab holds (the
    slab and a block on each side), its padded copy and the raw planes a
    block reads; the slab's features and the prediction's temporaries
    (``row_bytes`` per pixel).
    Full-image filters (median, structure tensor) are computed per slab with
    their margin: :func:`~.features.estimate_memory` of the padded slab.
    """
    spec = FeatureSpec.from_dict(spec.to_dict()) if not isinstance(spec, FeatureSpec) else spec
    plane = math.prod(spatial[1:])
    n_features = spec.n_features(n_channels, len(spatial))
    out = 4 * depth * plane * n_features + depth * plane * int(row_bytes)
    spacing = (1.0,) * len(spatial) if spacing is None else tuple(spacing)
    if not streamable(spec):
        plan = _Plan(spec, tuple(spatial), spacing, check=False)
        padded = (min(spatial[0], depth + 2 * plan.halo[0]),) + tuple(spatial[1:])
        return out + estimate_memory(padded, spec, n_channels).peak
    plan = _Plan(spec, tuple(spatial), spacing, check=False)
    group = block_planes(spatial)
    held = min(depth + 2 + 2 * group, spatial[0] + 2)
    planes = 2 * held * len(plan.smooth)  # held blocks and the padded slab, per scale
    widest = max((_radius(plan.vox(s)[0]) for s in plan.smooth), default=0)
    planes += 2 * (group + 2 * widest)  # a border block's reflected raw planes, scratch
    return out + 4 * n_channels * planes * (plane + 4 * max(spatial[1:], default=1))


class TileEvaluator:
    """Features of ``spec`` slab by slab, fed to an estimator's prediction.

    Parameters
    ----------
    spec : FeatureSpec
    spacing : tuple of float or None
        Voxel size per spatial axis (σ are physical).
    depth : int, optional
        Planes per slab; ``None``: :func:`slab_depth`.
    num_workers : int, optional
        Threads inside a slab (filters, products; ``None``: every core).

    Examples
    --------
    >>> from napari_seglab.core.features import PRESETS, compute_features
    >>> from napari_seglab.core.segmenters import NearestMeanSegmenter
    >>> image = np.random.default_rng(0).random((40, 30, 1)).astype(np.float32)
    >>> X = compute_features(image, "smooth", channel_axis=-1).reshape(-1, 3)
    >>> est = NearestMeanSegmenter().fit(X[:200], np.repeat([1, 2], 100))
    >>> labels = np.zeros((40, 30), np.uint8)
    >>> steps = TileEvaluator(PRESETS["smooth"], None, depth=7).iter_predict(
    ...     image, est.predict, labels=labels)
    >>> list(steps)[-1], bool((labels == est.predict(X).reshape(40, 30)).all())
    ((6, 6), True)
    """

    def __init__(self, spec, spacing=None, *, depth=None, num_workers=None):
        self.spec = spec
        self.spacing = spacing
        self.depth = depth
        self.num_workers = num_workers

    def _slabs(self, spatial, start=0, stop=None):
        depth = slab_depth(spatial, self.depth)
        stop = spatial[0] if stop is None else stop
        return depth, [(z, min(z + depth, stop)) for z in range(start, stop, depth)]

    def _iter(self, data, start, stop, want=None, depth=None):
        spatial = data.shape[:-1]
        spacing = (1.0,) * len(spatial) if self.spacing is None else tuple(self.spacing)
        depth = slab_depth(spatial, self.depth) if depth is None else depth
        return iter_feature_slabs(data, self.spec, spacing, depth=depth,
                                  num_workers=self.num_workers, start=start, stop=stop,
                                  want=want)

    def features_at(self, data, index, *, keep_bytes=0):
        """Feature rows at the flat pixel indices ``index`` (sorted or not).

        Only the slabs that hold one of them are computed (the window of
        smoothed planes walks over the others without filtering them).

        Parameters
        ----------
        data : ndarray of float32, shape ``spatial + (C,)``, finite
        index : ndarray of int
            Flat indices into ``spatial``.
        keep_bytes : int, optional
            Keep the features of the slabs computed here, up to this many
            bytes, for :meth:`iter_predict` to reuse (``kept``).

        Returns
        -------
        X : ndarray of float32, shape ``(index.size, n_features)``
        kept : dict
            ``z0 -> features`` of kept slabs.
        """
        spatial = data.shape[:-1]
        index = np.asarray(index, np.intp).ravel()
        n_features = self.spec.n_features(data.shape[-1], len(spatial))
        X = np.empty((index.size, n_features), np.float32)
        kept = {}
        if index.size == 0:
            return X, kept
        plane = math.prod(spatial[1:])
        z = index // plane
        depth, _ = self._slabs(spatial)
        planes = np.unique(z)
        if planes.size * 4 <= spatial[0]:
            # Strokes on a few slices of a volume: those planes only, one at a
            # time (their neighbours are smoothed in-plane, not filtered).
            depth, wanted, keep_bytes = 1, set(planes.tolist()), 0
        else:
            wanted = {int(v) // depth * depth for v in planes}
        held = 0
        for z0, z1, feats in self._iter(data, 0, spatial[0], want=wanted.__contains__,
                                        depth=depth):
            rows = np.flatnonzero((z >= z0) & (z < z1))
            flat = feats.reshape(-1, n_features)
            X[rows] = flat[index[rows] - z0 * plane]
            if held + feats.nbytes <= keep_bytes:
                kept[z0] = feats.copy()
                held += feats.nbytes
        return X, kept

    def iter_predict(self, data, predict, *, predict_proba=None, finite=None, labels=None,
                     proba=None, kept=None, start=0, stop=None, plane_region=None):
        """Label every pixel of planes ``[start, stop)``, slab by slab.

        The next slab's features are computed in a second thread while this
        slab is predicted (two feature buffers, alternating).

        Parameters
        ----------
        data : ndarray of float32, shape ``spatial + (C,)``, finite
        predict : callable
            ``predict(X) -> labels`` on feature rows.
        predict_proba : callable, optional
            ``predict_proba(X) -> (n, K)``; needed with ``proba``.
        finite : ndarray of bool, shape ``spatial``, optional
            Pixels to label; the others get 0 (probabilities 0).
        labels : ndarray, shape ``(stop - start,) + plane``
            Written in place (cast to its dtype); ``None`` skips labels.
            ``plane`` is ``spatial[1:]``, or the shape ``plane_region`` cuts.
        proba : ndarray of float32, shape ``labels.shape + (K,)``, optional
            Written in place.
        kept : dict, optional
            Slab features from :meth:`features_at` (used, then dropped).
        plane_region : tuple of slice, optional
            Label only this part of every plane (a block's inner part: the
            rest of the plane is the filters' margin).

        Yields
        ------
        done, total : int
            Slabs labelled, after each slab; closing the generator stops.
        """
        from concurrent.futures import ThreadPoolExecutor

        spatial = data.shape[:-1]
        stop = spatial[0] if stop is None else int(stop)
        depth, slabs = self._slabs(spatial, start, stop)
        kept = {} if kept is None else kept
        total = len(slabs)
        n_features = self.spec.n_features(data.shape[-1], len(spatial))
        cut = (slice(None),) + (tuple(plane_region) if plane_region is not None else ())

        def label(z0, z1, feats):
            _label_slab(feats[cut], None if finite is None else finite[z0:z1][cut],
                        [(None if out is None else out[z0 - start:z1 - start], fn)
                         for out, fn in ((labels, predict), (proba, predict_proba))])

        buffers = [None, None]
        turn = [0]

        def buffer(z0, z1):
            i = turn[0] % 2
            turn[0] += 1
            if buffers[i] is None:
                buffers[i] = np.empty((depth,) + spatial[1:] + (n_features,), np.float32)
            return buffers[i][:z1 - z0]

        reuse = {z0 for z0, _ in slabs if z0 in kept}
        spacing = (1.0,) * len(spatial) if self.spacing is None else tuple(self.spacing)
        computed = iter_feature_slabs(data, self.spec, spacing, depth=depth,
                                      num_workers=self.num_workers, start=start, stop=stop,
                                      want=lambda z0: z0 not in reuse, out=buffer)
        pending = None
        with ThreadPoolExecutor(1) as prefetch:
            try:
                if len(reuse) < len(slabs):
                    pending = prefetch.submit(next, computed)
                for done, (z0, z1) in enumerate(slabs, 1):
                    if z0 in reuse:
                        feats = kept.pop(z0)
                    else:
                        c0, _, feats = pending.result()
                        pending = None
                        assert c0 == z0
                        if done < total and any(z not in reuse for z, _ in slabs[done:]):
                            pending = prefetch.submit(next, computed)
                    label(z0, z1, feats)
                    del feats
                    yield done, total
            finally:
                if pending is not None:
                    pending.exception()  # let the computing thread finish its slab
                kept.clear()
                computed.close()


def _label_slab(feats, finite, outputs):
    """Predict the rows of one slab's ``feats`` into each ``(out, fn)`` of ``outputs``."""
    n_features = feats.shape[-1]
    rows = feats.reshape(-1, n_features)
    keep = None if finite is None else finite.ravel()
    X = rows if keep is None or keep.all() else rows[keep]
    for out, fn in outputs:
        if out is None:
            continue
        flat = out.reshape((-1,) + out.shape[feats.ndim - 1:])
        res = fn(X) if X.shape[0] else np.zeros((0,) + flat.shape[1:], flat.dtype)
        if X is rows:
            flat[...] = res
        else:
            flat[...] = 0
            flat[keep] = res


def iter_predict_features(features, predict, *, depth, predict_proba=None, finite=None,
                          labels=None, proba=None):
    """:meth:`TileEvaluator.iter_predict` on features already at hand (a cache's).

    Slabs of ``depth`` planes of ``features`` (``spatial + (F,)``) predicted
    one after the other, as the evaluator predicts the slabs it computes;
    yields ``(done, total)`` after each.
    """
    n = features.shape[0]
    starts = range(0, n, max(1, int(depth)))
    for done, z0 in enumerate(starts, 1):
        z1 = min(n, z0 + max(1, int(depth)))
        _label_slab(features[z0:z1], None if finite is None else finite[z0:z1],
                    [(None if out is None else out[z0:z1], fn)
                     for out, fn in ((labels, predict), (proba, predict_proba))])
        yield done, len(starts)
