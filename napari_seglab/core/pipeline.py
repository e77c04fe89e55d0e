"""The pipeline: features + segmenter, fitted on one image's seeds, applied to any image.

:class:`SeededModel` is the one object the API, the widgets, the model files
and the command line share: it computes the features (or the intensity) of an
image, trains a segmenter on the seeded pixels, and labels images, whole or
slab by slab within a memory budget, as generators that report progress.
"""

from __future__ import annotations

import numpy as np

from .features import (
    FeatureSpec, _resolve_spec, compute_features, estimate_memory, feature_halo,
    fill_non_finite, total_ram,
)
from .segmenters import SEGMENTERS, make_segmenter
from .training import MAX_SAMPLES_PER_CLASS, balanced_seed_indices

__all__ = ["CHUNK_PIXELS", "FEATURE_RAM_FRACTION", "SeededModel"]

#: Pixels per prediction chunk: bounds memory and paces progress bars.
CHUNK_PIXELS = 1 << 20
#: Share of the RAM the features of one image may take (peak) before a run is refused.
FEATURE_RAM_FRACTION = 0.6


def _prepare(image, channel_axis):
    """``spatial + (C,)`` float32, non-finite pixels filled, and the finite mask."""
    data = np.asarray(image)
    if data.dtype == object or np.issubdtype(data.dtype, np.complexfloating) or not (
            np.issubdtype(data.dtype, np.number) or data.dtype == bool):
        raise TypeError(f"image must hold real numbers; got dtype {data.dtype}")
    data = data[..., np.newaxis] if channel_axis is None else np.moveaxis(
        data, channel_axis, -1)
    if data.ndim - 1 not in (2, 3):
        raise ValueError(
            f"image must be 2D or 3D spatially; got spatial shape {data.shape[:-1]}"
        )
    data = np.ascontiguousarray(data, dtype=np.float32)
    return fill_non_finite(data)


class SeededModel:
    """Features + segmenter, trained on one image's seeds, applied to any image.

    Parameters
    ----------
    method : str, default "knn"
        A key of :data:`~napari_seglab.core.segmenters.SEGMENTERS`.
    features : FeatureSpec, str or None, default None
        Feature spec or preset name; ``None`` = the method's own preset
        (``"smooth"`` for distance-based methods, ``"default"`` for the
        random forest: ``SEGMENTERS[method].default_features``). Ignored
        by threshold methods (they use the intensity, the channel mean).
    params : dict, optional
        Parameters of the method (``make_segmenter(method, **params)``).
    max_per_class : int or None, default 5000
        Seeded pixels kept per class for supervised training.
    balance : bool, default True
        Cut every class to the smallest class's count (see
        :func:`~napari_seglab.core.training.balanced_seed_indices`).
    max_feature_bytes : int or None, default None
        Peak memory the features of one image may take (estimated with
        :func:`~napari_seglab.core.features.estimate_memory` before
        computing). Above it, a volume is labelled slab by slab (features of
        one slab and its margin at a time: the same result, up to float32
        rounding) when the model is supervised, or applied after training;
        otherwise the run is refused with a ValueError that says what to
        do. ``None``: :data:`FEATURE_RAM_FRACTION` of the RAM.

    Attributes
    ----------
    segmenter_ : the fitted segmenter
    classes_ : ndarray
        Sorted labels the model gives; the last axis of ``predict_proba``.
    spec_ : FeatureSpec
    n_channels_, n_features_, ndim_ : int
    spacing_ : tuple of float or None
        Spacing of the training image (features use physical σ).
    X_train_, y_train_ : ndarray
        The training samples (raw inputs of the balanced seeded pixels).

    Examples
    --------
    >>> from napari_seglab.core.phantoms import tissue_phantom, scribble_seeds
    >>> a, truth = tissue_phantom((64, 64), random_state=0)
    >>> b, _ = tissue_phantom((64, 64), random_state=1)
    >>> model = SeededModel("nearest_mean").fit(a, scribble_seeds(truth))
    >>> model.predict(b).shape, model.classes_.tolist()
    ((64, 64), [1, 2, 3])
    """

    def __init__(self, method="knn", features=None, params=None, *,
                 max_per_class=MAX_SAMPLES_PER_CLASS, balance=True,
                 max_feature_bytes=None):
        self.method = method
        self.features = features
        self.params = params
        self.max_per_class = max_per_class
        self.balance = balance
        self.max_feature_bytes = max_feature_bytes

    def _budget(self) -> int:
        return (int(FEATURE_RAM_FRACTION * total_ram()) if self.max_feature_bytes is None
                else int(self.max_feature_bytes))

    def _check_memory(self, spatial, n_channels):
        """Refuse, with what to do, features that would not fit in memory."""
        budget = self._budget()
        spec = self._spec()
        need = estimate_memory(spatial, spec, n_channels).peak
        if need > budget:
            n = spec.n_features(n_channels, len(spatial))
            raise ValueError(
                f"the {n} features of this {'×'.join(map(str, spatial))} image need about "
                f"{_gib(need)} while computing, more than the {_gib(budget)} budget: "
                "choose fewer features (the 'smooth' "
                "or 'minimal' preset, fewer σ), or segment a cropped region"
            )

    # -- building blocks (cache compute_inputs' result for live updates) --

    def make_segmenter(self):
        """The unfitted segmenter; TypeError names an unknown parameter."""
        params = {} if self.params is None else dict(self.params)
        return make_segmenter(self.method, **params)

    def _spec(self) -> FeatureSpec:
        """The features asked for, or the method's own default preset."""
        default = getattr(SEGMENTERS.get(self.method), "default_features", "default")
        return _resolve_spec(self.features, default)

    def _input_kind(self):
        return SEGMENTERS[self.method].input if self.method in SEGMENTERS else None

    def compute_inputs(self, image, *, spacing=None, channel_axis=None):
        """What the segmenter reads, for :meth:`fit_inputs` / :meth:`predict_inputs`.

        Returns
        -------
        inputs : ndarray
            ``spatial + (n_features,)`` features, ``spatial + (1,)``
            intensity, or the spatial intensity image (method input "image").
        finite : ndarray of bool or None
            Pixels finite in every channel (``None`` = all).
        """
        segmenter = self.make_segmenter()
        data, finite = _prepare(image, channel_axis)
        if segmenter.input == "features":
            self._check_memory(data.shape[:-1], data.shape[-1])
            inputs = compute_features(data, self._spec(),
                                      spacing=spacing, channel_axis=-1)
        elif segmenter.input == "intensity":
            inputs = data.mean(axis=-1, dtype=np.float32)[..., np.newaxis]
        else:
            inputs = data.mean(axis=-1, dtype=np.float32)
        self._last_channels = data.shape[-1]
        return inputs, finite

    def fit_inputs(self, inputs, seeds=None, finite=None):
        """Fit on :meth:`compute_inputs`' output and ``seeds`` (0 = not seeded)."""
        segmenter = self.make_segmenter()
        spatial = inputs.shape if segmenter.input == "image" else inputs.shape[:-1]
        if seeds is not None:
            seeds = np.asarray(seeds)
            if not (np.issubdtype(seeds.dtype, np.integer) or seeds.dtype == bool):
                raise TypeError(f"seeds must hold integer labels; got dtype {seeds.dtype}")
            if seeds.shape != spatial:
                raise ValueError(
                    f"seeds must have the image's spatial shape {spatial}; got {seeds.shape}"
                )
            if seeds.size and seeds.min() < 0:
                raise ValueError(f"seed labels must be >= 0 (0 = not seeded); got {seeds.min()}")
            seeds = seeds.astype(np.int64)
            if not (seeds > 0).any():
                seeds = None
        if seeds is None and not segmenter.unsupervised:
            raise ValueError(
                f"method {self.method!r} learns from seeds: paint seeds of at least "
                "two classes"
            )
        n_in = 1 if segmenter.input == "image" else inputs.shape[-1]
        X_train = np.zeros((0, n_in), np.float32)
        y_train = np.zeros(0, np.int64)
        if seeds is not None:
            random_state = (self.params or {}).get("random_state", 0)
            train, classes = balanced_seed_indices(
                seeds, mask=finite, max_per_class=self.max_per_class,
                balance=self.balance, random_state=random_state)
            if not segmenter.unsupervised and classes.size < 2:
                raise ValueError(
                    f"method {self.method!r} needs seeds of at least two classes; got "
                    f"{classes.size}" + (f" (label {classes[0]})" if classes.size else "")
                )
            if segmenter.input != "image":
                X_train = inputs.reshape(-1, n_in)[train]
                y_train = seeds.ravel()[train]
        if segmenter.input == "image":
            segmenter.fit(inputs, seeds)
        elif not segmenter.unsupervised:
            segmenter.fit(X_train, y_train)
        else:
            flat = inputs.reshape(-1, n_in)
            y = None if seeds is None else seeds.ravel()
            if finite is not None:
                keep = finite.ravel()
                flat = flat[keep]
                y = None if y is None else y[keep]
            segmenter.fit(flat, y)
        return self._keep_fitted(segmenter, X_train, y_train, spatial)

    def _keep_fitted(self, segmenter, X_train, y_train, spatial):
        n_in = X_train.shape[1]
        self.segmenter_ = segmenter
        self.classes_ = np.sort(segmenter.classes_)
        self._order = np.argsort(segmenter.classes_, kind="stable")
        self.spec_ = self._spec()
        self.n_features_ = n_in
        self.ndim_ = len(spatial)
        self.n_channels_ = (n_in // self.spec_.n_features(1, len(spatial))
                            if segmenter.input == "features"
                            else getattr(self, "_last_channels", 1))
        self.X_train_ = np.ascontiguousarray(X_train, dtype=np.float32)
        self.y_train_ = y_train.astype(np.int64)
        return self

    @classmethod
    def from_fitted(cls, segmenter, *, method, features, params, classes, n_channels,
                    n_features, ndim, spacing, X_train, y_train, max_per_class=None,
                    balance=True, max_feature_bytes=None):
        """A fitted model from a fitted segmenter and what it was trained on.

        The one constructor that rebuilds a model (model files, copies):
        every fitted attribute is set here and checked against the others.

        Parameters
        ----------
        segmenter : a fitted segmenter (``classes_``, ``n_features_in_``)
        method : str
            A key of :data:`~napari_seglab.core.segmenters.SEGMENTERS`.
        features : FeatureSpec, str or None
            The spec the inputs were computed with (``None``: the method's preset).
        params : dict or None
            Parameters of the segmenter.
        classes : sequence of int
            The labels the model gives (the segmenter's, in any order).
        n_channels, n_features, ndim : int
        spacing : sequence of float or None
        X_train : ndarray of float32, shape ``(n, n_features)``
        y_train : ndarray of int, shape ``(n,)``
        max_per_class : int or None
        balance : bool
        max_feature_bytes : int or None

        Returns
        -------
        SeededModel
            Fitted, ready to predict.

        Raises
        ------
        ValueError
            ``classes`` differ from the segmenter's, or arrays of the wrong shape.

        Examples
        --------
        >>> from napari_seglab.core.phantoms import tissue_phantom, scribble_seeds
        >>> a, truth = tissue_phantom((32, 32), random_state=0)
        >>> m = SeededModel("nearest_mean").fit(a, scribble_seeds(truth))
        >>> copy = SeededModel.from_fitted(
        ...     m.segmenter_, method=m.method, features=m.spec_, params=m.params,
        ...     classes=m.classes_, n_channels=m.n_channels_, n_features=m.n_features_,
        ...     ndim=m.ndim_, spacing=m.spacing_, X_train=m.X_train_, y_train=m.y_train_,
        ...     max_per_class=m.max_per_class, balance=m.balance)
        >>> bool((copy.predict(a) == m.predict(a)).all())
        True
        """
        model = cls(method, features, None if params is None else dict(params),
                    max_per_class=max_per_class, balance=balance,
                    max_feature_bytes=max_feature_bytes)
        got = sorted(int(c) for c in np.asarray(segmenter.classes_).ravel())
        want = sorted(int(c) for c in np.asarray(classes).ravel())
        if got != want:
            raise ValueError(f"classes {want} do not match the segmenter's {got}")
        X_train = np.ascontiguousarray(X_train, dtype=np.float32)
        y_train = np.asarray(y_train).astype(np.int64, copy=False)
        if X_train.ndim != 2 or X_train.shape[1] != int(n_features):
            raise ValueError(f"X_train must be (n, {int(n_features)}); got {X_train.shape}")
        if y_train.shape != (X_train.shape[0],):
            raise ValueError(f"y_train must be ({X_train.shape[0]},); got {y_train.shape}")
        model.segmenter_ = segmenter
        model.classes_ = np.sort(np.asarray(segmenter.classes_))
        model._order = np.argsort(segmenter.classes_, kind="stable")
        model.spec_ = model._spec()
        model.n_channels_, model.n_features_, model.ndim_ = (
            int(n_channels), int(n_features), int(ndim))
        model.spacing_ = None if spacing is None else tuple(float(s) for s in spacing)
        model.X_train_, model.y_train_ = X_train, y_train
        return model

    def _check_fitted(self):
        if not hasattr(self, "segmenter_"):
            from .segmenters import NotFittedError

            raise NotFittedError("this SeededModel is not fitted yet; call fit first")

    def predict_inputs(self, inputs, finite=None, *, proba=False):
        """Labels (or ``spatial + (n_classes,)`` probabilities) from inputs.

        Non-finite pixels get label 0 (probabilities 0).
        """
        self._check_fitted()
        seg = self.segmenter_
        if seg.input == "image":
            spatial = inputs.shape
            out = seg.predict_proba(inputs) if proba else seg.predict(inputs)
            out = out.reshape((-1, out.shape[-1]) if proba else -1)
        else:
            spatial = inputs.shape[:-1]
            if inputs.shape[-1] != self.n_features_:
                raise ValueError(
                    f"the image gives {inputs.shape[-1]} features; the model was "
                    f"trained with {self.n_features_} (same channels and features needed)"
                )
            flat = inputs.reshape(-1, inputs.shape[-1])
            keep = None if finite is None else finite.ravel()
            X = flat if keep is None else flat[keep]
            res = seg.predict_proba(X) if proba else seg.predict(X)
            if keep is None:
                out = res
            else:
                shape = (flat.shape[0],) + res.shape[1:]
                out = np.zeros(shape, res.dtype)
                out[keep] = res
        if proba:
            out = np.ascontiguousarray(out[:, self._order], dtype=np.float32)
            if seg.input == "image" and finite is not None:
                out[~finite.ravel()] = 0
            return out.reshape(spatial + (self.classes_.size,))
        labels = out.astype(np.min_scalar_type(max(int(self.classes_.max()), 1)))
        if seg.input == "image" and finite is not None:
            labels[~finite.ravel()] = 0
        return labels.reshape(spatial)

    def iter_predict_inputs(self, inputs, finite=None, *, proba=False,
                            chunk_pixels=CHUNK_PIXELS):
        """:meth:`predict_inputs` in chunks of pixels: a generator for progress.

        Yields ``(done, total)`` chunk counts after each chunk and returns
        (as ``StopIteration.value``) what :meth:`predict_inputs` returns.
        Closing the generator between chunks stops the work.
        """
        self._check_fitted()
        if self.segmenter_.input == "image":  # the local threshold needs the whole image
            result = self.predict_inputs(inputs, finite, proba=proba)
            yield 1, 1
            return result
        spatial = inputs.shape[:-1]
        flat = inputs.reshape(-1, inputs.shape[-1])
        keep = None if finite is None else finite.ravel()
        n = flat.shape[0]
        step = max(int(chunk_pixels), 1)
        total = max(-(-n // step), 1)
        out = None
        for i, start in enumerate(range(0, n, step)):
            rows = slice(start, start + step)
            part = self.predict_inputs(flat[rows], None if keep is None else keep[rows],
                                       proba=proba)
            if out is None:
                out = np.empty((n,) + part.shape[1:], part.dtype)
            out[rows] = part
            yield i + 1, total
        return out.reshape(spatial + out.shape[1:])

    # -- whole images --

    def _check_image_channels(self, image, channel_axis):
        n = 1 if channel_axis is None else np.shape(image)[channel_axis]
        if n != self.n_channels_:
            raise ValueError(
                f"the image has {n} channel(s); the model was trained on "
                f"{self.n_channels_}"
            )

    def fit(self, image, seeds=None, *, spacing=None, channel_axis=None):
        """Compute the inputs of ``image`` and fit on ``seeds``; returns self."""
        inputs, finite = self.compute_inputs(image, spacing=spacing,
                                             channel_axis=channel_axis)
        self.fit_inputs(inputs, seeds, finite)
        self.spacing_ = None if spacing is None else tuple(float(s) for s in spacing)
        return self

    def iter_predict(self, image, *, spacing=None, channel_axis=None, return_proba=False,
                     chunk_pixels=CHUNK_PIXELS):
        """:meth:`predict` in steps: a generator for progress bars and cancellation.

        Yields ``(stage, done, total)``: stage ``"features"``, then
        ``"predicting"`` once per chunk of ``chunk_pixels`` pixels (twice as
        many with ``return_proba``). Returns (``StopIteration.value``) the
        labels, or ``(labels, proba)`` with ``return_proba``.
        """
        self._check_fitted()
        self._check_image_channels(image, channel_axis)
        return (yield from self._iter_label(image, None, spacing, channel_axis,
                                            return_proba, chunk_pixels, fit=False))

    def iter_fit_predict(self, image, seeds=None, *, spacing=None, channel_axis=None,
                         return_proba=False, chunk_pixels=CHUNK_PIXELS):
        """:meth:`fit_predict` in steps: a generator for progress bars and cancellation.

        Yields ``(stage, done, total)`` after each step: ``"features"``,
        ``"training"``, then ``"predicting"`` once per chunk of
        ``chunk_pixels`` pixels (twice as many with ``return_proba``).
        Returns (``StopIteration.value``) what :meth:`fit_predict` returns.
        Closing the generator between steps stops the work.

        Examples
        --------
        >>> from napari_seglab.core.phantoms import tissue_phantom, scribble_seeds
        >>> image, truth = tissue_phantom((64, 64), random_state=0)
        >>> steps = SeededModel("nearest_mean").iter_fit_predict(
        ...     image, scribble_seeds(truth), chunk_pixels=1024)
        >>> [stage for stage, done, total in steps][:3]
        ['features', 'training', 'predicting']
        """
        return (yield from self._iter_label(image, seeds, spacing, channel_axis,
                                            return_proba, chunk_pixels, fit=True))

    def _slabs(self, image, seeds, spacing, channel_axis, *, fit):
        """Slabs of a volume to compute features in, when the whole would not fit.

        ``None`` when the whole image fits the budget, or when slabs cannot
        give the same result (2D images, z-scored specs, unsupervised fits,
        non-finite pixels: those are refused by :meth:`_check_memory`).
        """
        if SEGMENTERS.get(self.method) is None or self._input_kind() != "features":
            return None
        spatial = _spatial_shape(image, channel_axis)
        n_channels = 1 if channel_axis is None else np.shape(image)[channel_axis]
        spec, budget = self._spec(), self._budget()
        if estimate_memory(spatial, spec, n_channels).peak <= budget or len(spatial) != 3:
            return None
        unsupervised = SEGMENTERS[self.method].unsupervised
        if spec.normalize or (fit and (seeds is None or unsupervised)) or not self.balance:
            return None
        # Each slab reads a margin of slices around it: count them in its cost.
        margin = feature_halo(spec, spatial, spacing)[0] if spec.mode == "3d" else 0
        per_slice = estimate_memory((1,) + spatial[1:], spec, n_channels).peak
        depth = budget // per_slice - 2 * margin
        if depth < 1:
            return None
        return [slice(z, min(z + depth, spatial[0])) for z in range(0, spatial[0], depth)]

    def _iter_label_slabs(self, image, seeds, spacing, channel_axis, return_proba,
                          slabs, *, fit):
        """:meth:`_iter_label` slab by slab: features of a slab at a time."""
        data, finite = _prepare(image, channel_axis)
        if finite is not None:
            self._check_memory(data.shape[:-1], data.shape[-1])  # refuses, says why
        spatial, spec = data.shape[:-1], self._spec()
        total = (2 if fit else 0) + len(slabs) * (2 if return_proba else 1)
        done = 0
        if fit:
            # The training samples, a slab at a time too (computing features
            # around every stroke at once could take the whole volume).
            random_state = (self.params or {}).get("random_state", 0)
            index, _ = balanced_seed_indices(np.asarray(seeds), max_per_class=self.max_per_class,
                                             random_state=random_state)
            coords = np.unravel_index(index, spatial)
            y_train = np.asarray(seeds).ravel()[index]
            X_train = np.empty((index.size, spec.n_features(data.shape[-1], 3)), np.float32)
            for z in slabs:
                rows = np.flatnonzero((coords[0] >= z.start) & (coords[0] < z.stop))
                if rows.size:
                    lo, hi = int(coords[0][rows].min()), int(coords[0][rows].max()) + 1
                    feats = compute_features(data, spec, spacing=spacing, channel_axis=-1,
                                             region=(slice(lo, hi),))
                    X_train[rows] = feats[coords[0][rows] - lo, coords[1][rows],
                                          coords[2][rows]]
                    del feats  # before the next slab's: one slab in memory at a time
            done += 1
            yield "features", done, total
            segmenter = self.make_segmenter()
            if np.unique(y_train).size < 2:
                raise ValueError(f"method {self.method!r} needs seeds of at least two "
                                 "classes")
            segmenter.fit(X_train, y_train)
            self._last_channels = data.shape[-1]
            self._keep_fitted(segmenter, X_train, y_train.astype(np.int64), spatial)
            self.spacing_ = None if spacing is None else tuple(float(s) for s in spacing)
            done += 1
            yield "training", done, total
        outputs = []
        for proba in (False, True) if return_proba else (False,):
            out = None
            for z in slabs:
                feats = compute_features(data, spec, spacing=spacing, channel_axis=-1,
                                         region=(z,))
                part = self.predict_inputs(feats, proba=proba)
                del feats
                if out is None:
                    out = np.empty(spatial + part.shape[3:], part.dtype)
                out[z] = part
                done += 1
                yield "predicting", done, total
            outputs.append(out)
        return self._with_seeds(outputs, seeds, return_proba)

    def _with_seeds(self, outputs, seeds, return_proba):
        labels = outputs[0]
        if seeds is not None:
            seeds = np.asarray(seeds)
            seeded = seeds > 0
            if seeded.any():
                max_label = max(int(labels.max(initial=0)), int(seeds.max()))
                labels = labels.astype(np.min_scalar_type(max(max_label, 1)), copy=False)
                labels[seeded] = seeds[seeded]
        return (labels, outputs[1]) if return_proba else labels

    def _iter_label(self, image, seeds, spacing, channel_axis, return_proba,
                    chunk_pixels, *, fit):
        slabs = self._slabs(image, seeds, spacing, channel_axis, fit=fit)
        if slabs is not None:
            return (yield from self._iter_label_slabs(image, seeds, spacing, channel_axis,
                                                      return_proba, slabs, fit=fit))
        n_chunks = 1
        if SEGMENTERS.get(self.method) is not None and self._input_kind() != "image":
            n_pixels = int(np.prod(_spatial_shape(image, channel_axis)))
            n_chunks = max(-(-n_pixels // max(int(chunk_pixels), 1)), 1)
        n_predict = n_chunks * (2 if return_proba else 1)
        total = (2 if fit else 1) + n_predict
        inputs, finite = self.compute_inputs(image, spacing=spacing,
                                             channel_axis=channel_axis)
        yield "features", 1, total
        done = 1
        if fit:
            self.fit_inputs(inputs, seeds, finite)
            self.spacing_ = None if spacing is None else tuple(float(s) for s in spacing)
            done += 1
            yield "training", done, total
        outputs = []
        for proba in (False, True) if return_proba else (False,):
            steps = self.iter_predict_inputs(inputs, finite, proba=proba,
                                             chunk_pixels=chunk_pixels)
            while True:
                try:
                    next(steps)
                except StopIteration as stop:
                    outputs.append(stop.value)
                    break
                done = min(done + 1, total)
                yield "predicting", done, total
        return self._with_seeds(outputs, seeds, return_proba)

    def predict(self, image, *, spacing=None, channel_axis=None):
        """Labels of every pixel of ``image`` (spatial shape; 0 = non-finite)."""
        return _run(self.iter_predict(image, spacing=spacing, channel_axis=channel_axis))

    def predict_proba(self, image, *, spacing=None, channel_axis=None):
        """``spatial + (n_classes,)`` float32, last axis in ``classes_`` order."""
        return _run(self.iter_predict(image, spacing=spacing, channel_axis=channel_axis,
                                      return_proba=True))[1]

    def fit_predict(self, image, seeds=None, *, spacing=None, channel_axis=None,
                    return_proba=False):
        """Fit and label the same image (inputs computed once).

        Seeded pixels keep their seed label. With ``return_proba``, returns
        ``(labels, proba)``.
        """
        return _run(self.iter_fit_predict(image, seeds, spacing=spacing,
                                          channel_axis=channel_axis,
                                          return_proba=return_proba))


def _gib(n_bytes) -> str:
    return f"{n_bytes / 2**30:.1f} GiB" if n_bytes >= 2**30 else f"{n_bytes / 2**20:.1f} MiB"


def _spatial_shape(image, channel_axis):
    shape = list(np.shape(image))
    if channel_axis is not None:
        del shape[channel_axis]
    return tuple(shape)


def _run(steps):
    """Drive a step generator to its end and return its value."""
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value
