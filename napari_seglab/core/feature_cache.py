"""A cache of feature stacks, so re-training and new strokes reuse them.

Plain Python (no napari): the caller passes the image array and a version
token it bumps whenever the data change in place.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict

import numpy as np

from .features import _resolve_spec, compute_features

__all__ = ["FeatureCache"]


class FeatureCache:
    """LRU cache of :func:`~napari_seglab.core.features.compute_features` results.

    Entries are keyed by the image object's identity, a caller-supplied
    ``version`` token, ``spacing``, ``channel_axis`` and the spec; a full
    stack and single slices (for live previews) are cached separately, and a
    slice is served from a cached full stack when there is one.

    Parameters
    ----------
    max_bytes : int, optional
        Budget; least recently used entries are evicted beyond it. A result
        larger than the budget is returned but not kept.
    num_workers : int, optional
        Threads passed to :func:`compute_features`.

    Attributes
    ----------
    hits, misses : int
        Lookups served from the cache / computed.

    Examples
    --------
    >>> img = np.random.default_rng(0).random((32, 32))
    >>> cache = FeatureCache()
    >>> a = cache.get(img, "minimal"); b = cache.get(img, "minimal")
    >>> a is b, cache.hits, cache.misses
    (True, 1, 1)
    """

    def __init__(self, max_bytes: int = 4 * 2**30, *, num_workers=None):
        self.max_bytes = int(max_bytes)
        self.num_workers = num_workers
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict = OrderedDict()
        # Live previews and Segment runs use one cache from worker threads:
        # every read-modify of the OrderedDict holds this lock (computing
        # does not, so two threads never wait for each other's features).
        self._lock = threading.RLock()

    @property
    def nbytes(self) -> int:
        """Bytes held."""
        with self._lock:
            return sum(e[1].nbytes for e in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def _key(self, image, spec, spacing=None, channel_axis=None, version=0, what="full"):
        spacing = None if spacing is None else tuple(float(s) for s in np.atleast_1d(spacing))
        return (id(image), version, spacing, channel_axis, _resolve_spec(spec), what)

    def _lookup(self, key, image):
        with self._lock:
            return self._lookup_locked(key, image)

    def _lookup_locked(self, key, image):
        entry = self._entries.get(key)
        if entry is None:
            return None
        ref, value = entry
        if ref() is not image:  # id reused by another object: stale
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def _store(self, key, image, value):
        if value.nbytes > self.max_bytes:
            return
        with self._lock:
            self._entries[key] = (weakref.ref(image), value)
            while self.nbytes > self.max_bytes:
                self._entries.popitem(last=False)

    def _fetch(self, key, image, compute):
        """The cached value for ``key``, or ``compute()`` stored under it."""
        value = self._lookup(key, image)
        if value is not None:
            self.hits += 1
            return value
        self.misses += 1
        value = compute()
        self._store(key, image, value)
        return value

    def get(self, image, spec=None, *, spacing=None, channel_axis=None, version=0):
        """The full feature stack of ``image`` (computed on first use).

        Parameters
        ----------
        image : ndarray
            The image (kept by weak reference; must support weakrefs, as
            NumPy arrays do).
        spec, spacing, channel_axis
            As in :func:`~napari_seglab.core.features.compute_features`.
        version : hashable, optional
            Token the caller changes when the data change in place.

        Returns
        -------
        ndarray of float32, shape ``spatial + (n_features,)``
            Shared with the cache: do not modify it.
        """
        key = self._key(image, spec, spacing, channel_axis, version, "full")
        return self._fetch(key, image, lambda: compute_features(
            image, spec, spacing=spacing, channel_axis=channel_axis,
            num_workers=self.num_workers))

    def get_slice(self, image, spec=None, index=0, *, spacing=None, channel_axis=None,
                  version=0):
        """Features of slice ``index`` (along the first spatial axis).

        Served from a cached full stack or block of slices when one holds
        it. Otherwise a block of slices around ``index`` is computed and
        kept (equal to the same slices of the full computation). With the
        streamed engine (:mod:`.features.slabs`) a slice costs its own
        block of smoothed planes, so the block is the 8 slices the engine
        smooths together (the next slices nearby are then free). Specs with
        full-image filters (median, structure tensor) compute their slices
        with the filters' margin: the ``2 halo + 1`` slices around ``index``
        (about twice one slice), or the whole stack when that would read
        most of the volume.

        Returns
        -------
        ndarray of float32, shape ``spatial[1:] + (n_features,)``
        """
        index = int(index)
        opts = {"spacing": spacing, "channel_axis": channel_axis, "version": version}
        full_key = self._key(image, spec, what="full", **opts)
        with self._lock:
            full = self._lookup_locked(full_key, image)
            block = None if full is not None else self._block_locked(full_key, image, index)
        if full is not None or block is not None:
            self.hits += 1
            return full[index] if full is not None else block[1][index - block[0]]
        lo, hi, whole_fits = self._block_range(image, spec, index, spacing, channel_axis)
        if whole_fits:
            return self.get(image, spec, **opts)[index]
        self.misses += 1
        feats = compute_features(image, spec, spacing=spacing, channel_axis=channel_axis,
                                 num_workers=self.num_workers, region=(slice(lo, hi),))
        self._store(full_key[:-1] + (("block", lo, hi),), image, feats)
        return feats[index - lo]

    def _block_locked(self, full_key, image, index):
        """``(lo, block)`` of a cached block of ``full_key``'s stack holding ``index``."""
        for key in list(self._entries):
            what = key[-1]
            if (key[:-1] == full_key[:-1] and isinstance(what, tuple) and what[0] == "block"
                    and what[1] <= index < what[2]):
                value = self._lookup_locked(key, image)
                if value is not None:
                    return what[1], value
        return None

    def _block_range(self, image, spec, index, spacing, channel_axis):
        """Slices ``[lo, hi)`` to compute for ``index``, and whether to compute the
        whole stack instead: its reading margin (clipped to the volume and to a
        quarter of the budget), or every slice when the margin covers most of
        the volume (then the whole stack, if it fits half the budget)."""
        from .features import feature_halo
        from .features.slabs import block_planes, streamable
        from .validation import image_layout

        _, spatial, n_channels = image_layout(image, channel_axis)
        depth = int(spatial[0])
        if streamable(_resolve_spec(spec)):
            feature_halo(spec, spatial, spacing)  # checks every σ against the volume
            group = block_planes(spatial)
            lo = index // group * group
            return lo, min(depth, lo + group), False
        slice_bytes = max(4 * _resolve_spec(spec).n_features(n_channels, len(spatial))
                          * int(np.prod(spatial[1:])), 1)
        halo = feature_halo(spec, spatial, spacing)[0]
        if 4 * halo + 1 >= depth:
            return 0, depth, depth * slice_bytes <= self.max_bytes // 2
        half = min(halo, (max(1, self.max_bytes // 4 // slice_bytes) - 1) // 2)
        return max(0, index - half), min(depth, index + half + 1), False

    def invalidate(self, image=None) -> None:
        """Drop every entry, or only those of ``image``."""
        with self._lock:
            self._invalidate_locked(image)

    def _invalidate_locked(self, image):
        if image is None:
            self._entries.clear()
            return
        for key in [k for k, (ref, _) in self._entries.items() if ref() is image]:
            del self._entries[key]
