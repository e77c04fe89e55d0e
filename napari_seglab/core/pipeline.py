"""The pipeline: per-pixel inputs + segmenter, fitted on one image's seeds, applied to any image.

:class:`SeededModel` is the one object the API, the widgets, the model files
and the command line share: it trains the segmenter on features at the
seeded pixels and labels images through the fused tile evaluator
(:mod:`.tiles`: features of one slab at a time, fed straight to the
segmenter, never the whole stack), as generators that report progress.
Methods that read every pixel at once (k-means and the Gaussian mixture
fitting on all pixels, image-wide steps, thresholds, z-scored specs) compute
the inputs of the whole image. Memory is planned before any copy
(:mod:`.run_plan`).
"""

from __future__ import annotations

import math

import numpy as np

from .features import FeatureSpec, compute_features, fill_non_finite, resolve_spec, total_ram
from .intensity import channel_stats, match_channels, same_stats
from .memory import RAM_FRACTION
from .run_plan import CHUNK_PIXELS, count_samples, model_bytes, plan_run
from .segmenters import DEFAULT_METHOD, SEGMENTERS, NotFittedError, make_segmenter
from .tiles import TileEvaluator
from .training import MAX_SAMPLES_PER_CLASS, balanced_seed_indices
from .validation import (
    check_image,
    check_seeds,
    check_spacing,
    float32_copy_bytes,
    image_layout,
)

__all__ = ["CHUNK_PIXELS", "FEATURE_RAM_FRACTION", "SeededModel"]

#: Share of the RAM one run (features, prediction, labels) may take before it
#: is refused.
FEATURE_RAM_FRACTION = RAM_FRACTION  # the one budget (core.memory), named here for callers


def _compute_inputs(data, what, spacing, region=None):
    """What a segmenter reads: ``spatial + (n_inputs,)`` float32 from finite ``data``."""
    if isinstance(what, FeatureSpec):
        return compute_features(data, what, spacing=spacing, channel_axis=-1, region=region)
    part = data if region is None else data[region]
    return what.compute(part)


class SeededModel:
    """Per-pixel inputs + segmenter, trained on one image's seeds, applied to any image.

    Parameters
    ----------
    method : str, default "fast_forest" (``DEFAULT_METHOD``)
        A key of :data:`~napari_seglab.core.segmenters.SEGMENTERS`.
    features : FeatureSpec, str or None, default None
        Feature spec or preset name; ``None`` = the method's own preset
        (``"smooth"`` for distance-based methods, ``"default"`` for the
        random forest: ``SEGMENTERS[method].default_features``). Ignored
        by threshold methods (they read the intensity, the channel mean).
    params : dict, optional
        Parameters of the method, as a dict (kept for existing calls
        ``SeededModel(method, features, params)``); the same as keywords.
    max_per_class : int or None, default 5000
        Seeded pixels kept per class for supervised training.
    balance : bool, default True
        Cut every class to the smallest class's count (see
        :func:`~napari_seglab.core.training.balanced_seed_indices`).
    max_feature_bytes : int or None, default None
        Memory one run may take: the image's float32 copy, the model, the
        labels (and probabilities) and either one slab's features and
        prediction (the fused route: the slab is made as deep as the budget
        allows) or, for methods that read every pixel at once, the whole
        image's inputs (:mod:`~napari_seglab.core.run_plan`). A run that
        does not fit even so is refused, before allocating, with a
        ValueError that says what to do. ``None``:
        :data:`FEATURE_RAM_FRACTION` of the RAM.
    **segmenter_params
        Parameters of the method (``make_segmenter(method, **params)``).

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
        The training samples (inputs of the balanced seeded pixels).

    Examples
    --------
    >>> from napari_seglab.core.phantoms import tissue_phantom, scribble_seeds
    >>> a, truth = tissue_phantom((64, 64), random_state=0)
    >>> b, _ = tissue_phantom((64, 64), random_state=1)
    >>> model = SeededModel("nearest_mean").fit(a, scribble_seeds(truth))
    >>> model.predict(b).shape, model.classes_.tolist()
    ((64, 64), [1, 2, 3])
    >>> SeededModel("knn", n_neighbors=3).make_segmenter().n_neighbors
    3
    """

    def __init__(self, method=DEFAULT_METHOD, features=None, params=None, *,
                 max_per_class=MAX_SAMPLES_PER_CLASS, balance=True,
                 max_feature_bytes=None, **segmenter_params):
        if params is not None and not isinstance(params, dict):
            raise TypeError(f"params must be a dict or None; got {type(params).__name__}")
        both = set(params or {}) & set(segmenter_params)
        if both:
            raise TypeError(f"parameter(s) {sorted(both)} given both in params and as keywords")
        merged = {**(params or {}), **segmenter_params}
        self.method = method
        self.features = features
        self.params = merged if (merged or params is not None) else None
        self.max_per_class = max_per_class
        self.balance = balance
        self.max_feature_bytes = max_feature_bytes

    def _budget(self) -> int:
        return (int(FEATURE_RAM_FRACTION * total_ram()) if self.max_feature_bytes is None
                else int(self.max_feature_bytes))

    # -- building blocks (cache compute_inputs' result for live updates) --

    def make_segmenter(self):
        """The unfitted segmenter; TypeError names an unknown parameter."""
        params = {} if self.params is None else dict(self.params)
        return make_segmenter(self.method, **params)

    def _spec(self) -> FeatureSpec:
        """The features asked for, or the method's own default preset."""
        default = getattr(SEGMENTERS.get(self.method), "default_features", "default")
        return resolve_spec(self.features, default)

    def _what(self, segmenter=None):
        """What the segmenter reads per pixel (its ``inputs`` hook)."""
        segmenter = self.make_segmenter() if segmenter is None else segmenter
        return segmenter.inputs(self._spec())

    def _model_bytes(self, n_inputs, n_classes, seeds, *, fit):
        """Bytes of the training samples and the segmenter, and per predicted row."""
        segmenter = self.make_segmenter() if fit else self.segmenter_
        n_samples = (count_samples(seeds, n_classes, self.max_per_class) if fit
                     else int(np.size(getattr(self, "y_train_", ()))))
        return model_bytes(segmenter, n_inputs, n_classes, n_samples=n_samples,
                           keeps_samples=segmenter.keeps_samples)

    def _route(self, what, fit) -> str:
        """``"fused"`` (slab by slab) or ``"whole"`` (the inputs of every pixel at once)."""
        segmenter = self.make_segmenter() if fit else self.segmenter_
        if (not isinstance(what, FeatureSpec) or what.normalize
                or getattr(segmenter, "spatial", False) or (fit and segmenter.unsupervised)):
            return "whole"
        return "fused"

    def _plan(self, what, spatial, n_channels, *, copy_bytes, fit, seeds, return_proba,
              n_classes, spacing=None, chunk_pixels=CHUNK_PIXELS, route=None):
        """The run's :class:`~.run_plan.RunPlan` within the budget (or its ValueError)."""
        n_inputs = what.n_features(n_channels, len(spatial))
        held, row = self._model_bytes(n_inputs, n_classes, seeds, fit=fit)
        return plan_run(what, spatial, n_channels, route=route or self._route(what, fit),
                        budget=self._budget(), copy_bytes=copy_bytes, model_bytes_=held,
                        model_row_bytes=row, return_proba=return_proba,
                        n_classes=n_classes, spacing=spacing, chunk_pixels=chunk_pixels,
                        method=self.method,
                        fused_depth=max(1, int(chunk_pixels) // max(1, math.prod(spatial[1:]))))

    def compute_inputs(self, image, *, spacing=None, channel_axis=None):
        """What the segmenter reads, for :meth:`fit_inputs` / :meth:`predict_inputs`.

        Returns
        -------
        inputs : ndarray of float32, shape ``spatial + (n_inputs,)``
            The features, or the intensity (and its local statistic), per pixel.
        finite : ndarray of bool or None
            Pixels finite in every channel (``None`` = all).

        Raises
        ------
        ValueError
            Inputs that would not fit the memory budget (before computing).
        """
        data, finite, spacing, what = self._prepare(image, spacing, channel_axis,
                                                    route="whole")
        return _compute_inputs(data, what, spacing), finite

    def check_memory(self, image, seeds=None, *, spacing=None, channel_axis=None,
                     return_proba=False) -> int:
        """Refuse, before any copy, a fit on ``image`` that cannot fit the budget.

        For callers that convert the image themselves
        (:func:`napari_seglab.api.prepare_segment`): the float32 copy they
        are about to make is also counted in the next fit's budget.

        Returns
        -------
        int
            Bytes the run needs at the least (its slabs one plane deep).

        Raises
        ------
        ValueError
            What the run would need and what to do (fewer features, a crop).

        Examples
        --------
        >>> import numpy as np
        >>> huge = np.broadcast_to(np.uint8(1), (2000, 2000, 2000))
        >>> SeededModel("otsu").check_memory(huge)
        Traceback (most recent call last):
        ...
        ValueError: this 2000×2000×2000 image needs about ...
        """
        view, spatial, n_channels = image_layout(image, channel_axis)
        what = self._what()
        copy_bytes = float32_copy_bytes(view, -1)
        plan = self._plan(what, spatial, n_channels, copy_bytes=copy_bytes, fit=True,
                          seeds=seeds, return_proba=return_proba,
                          n_classes=self._n_classes_bound(seeds, fit=True),
                          spacing=check_spacing(spacing, len(spatial)))
        self._copy_held_by_caller = copy_bytes
        return plan.need

    def _n_classes_bound(self, seeds, *, fit):
        if not fit and hasattr(self, "classes_"):
            return int(self.classes_.size)
        return max(2, 0 if seeds is None else min(int(seeds.max(initial=0)), 256))

    def _prepare(self, image, spacing, channel_axis, *, seeds=None, fit=True,
                 return_proba=False, chunk_pixels=CHUNK_PIXELS, route=None):
        """Validate, plan within the budget, then make the float32 copy (in that order)."""
        view, spatial, n_channels = image_layout(image, channel_axis)
        spacing = check_spacing(spacing, len(spatial))
        segmenter = self.make_segmenter() if fit else self.segmenter_
        what = segmenter.inputs(self._spec())
        n_classes = self._n_classes_bound(seeds, fit=fit)
        plan_args = dict(fit=fit, seeds=seeds, return_proba=return_proba,
                         n_classes=n_classes, spacing=spacing, chunk_pixels=chunk_pixels,
                         route=route)
        # A copy the caller made for this run (check_memory) is held too.
        held = self.__dict__.pop("_copy_held_by_caller", 0)
        copy_bytes = float32_copy_bytes(view, -1) or held
        self._last_plan = self._plan(what, spatial, n_channels, copy_bytes=copy_bytes,
                                     **plan_args)
        data = check_image(view, -1)
        if not np.isfinite(data).all():
            # Filling the missing pixels copies the image once more: count it.
            self._last_plan = self._plan(what, spatial, n_channels,
                                         copy_bytes=copy_bytes + 4 * data.size, **plan_args)
        data, finite = fill_non_finite(data)
        self._last_channels = n_channels
        if fit:
            self.input_stats_ = channel_stats(data, finite)
        else:
            data = self.match_intensity(data, finite)
        return data, finite, spacing, what

    #: Applied to another image, map its channels onto the training image's
    #: mean and spread first ("zscore"), or not (None). Models from files
    #: written before it (no statistics recorded) are applied as they are.
    normalize_input = "zscore"
    #: The training image's per-channel ``(mean, std)`` (None: not known,
    #: e.g. fitted on precomputed inputs).
    input_stats_ = None

    def match_intensity(self, data, finite=None):
        """``data`` (``spatial + (C,)`` float32) mapped onto the training image's channels.

        :func:`~.intensity.match_channels` with the model's ``input_stats_``
        when ``normalize_input == "zscore"``; ``data`` itself when the
        statistics are not known, normalisation is off, or ``data`` already
        has them (the training image).
        """
        target = self.input_stats_
        if self.normalize_input != "zscore" or target is None:
            return data
        stats = channel_stats(data, finite)
        if same_stats(stats, target):
            return data
        return match_channels(data, stats, target)

    def fit_inputs(self, inputs, seeds=None, finite=None):
        """Fit on :meth:`compute_inputs`' output and ``seeds`` (0 = not seeded)."""
        inputs = np.asarray(inputs)
        seeds = check_seeds(seeds, inputs.shape[:-1])
        self.input_stats_ = None  # the image is not seen here
        return self._fit_inputs(self.make_segmenter(), inputs, seeds, finite)

    def _spatial(self, fit) -> bool:
        """Does the segmenter read the whole image (the context forest's image-wide steps)?"""
        segmenter = self.make_segmenter() if fit else getattr(self, "segmenter_", None)
        return bool(getattr(segmenter, "spatial", False))

    def _fit_inputs(self, segmenter, inputs, seeds, finite, spacing=None):
        spatial, n_in = inputs.shape[:-1], inputs.shape[-1]
        if seeds is not None and not (seeds > 0).any():
            seeds = None
        if seeds is None and not segmenter.unsupervised:
            raise ValueError(
                f"method {self.method!r} learns from seeds: paint seeds of at least "
                "two classes"
            )
        X_train = np.zeros((0, n_in), np.float32)
        y_train = np.zeros(0, np.int64)
        train = None
        if seeds is not None:
            train, classes = balanced_seed_indices(
                seeds, mask=finite, max_per_class=self.max_per_class,
                balance=self._balance(segmenter), random_state=self._random_state())
            if not segmenter.unsupervised:
                self._check_classes(classes, seeds)
            X_train = inputs.reshape(-1, n_in)[train]
            y_train = seeds.ravel()[train].astype(np.int64)
        if getattr(segmenter, "spatial", False):
            segmenter.fit_grid(inputs, train, y_train, finite=finite, spacing=spacing,
                               **self._layout_params(segmenter, n_in, len(spatial)))
        elif not segmenter.unsupervised:
            segmenter.fit(X_train, y_train, **self._layout_params(segmenter, n_in, len(spatial)))
        else:
            flat = inputs.reshape(-1, n_in)
            y = None if seeds is None else seeds.ravel()
            if finite is not None:
                keep = finite.ravel()
                flat = flat[keep]
                y = None if y is None else y[keep]
            segmenter.fit(flat, y)
        return self._keep_fitted(segmenter, X_train, y_train, spatial)

    def _layout_params(self, segmenter, n_inputs, ndim) -> dict:
        """``fit``'s layout arguments (:meth:`~.segmenters.base._Segmenter.layout_fit_params`)."""
        spec = self._spec()
        what = segmenter.inputs(spec)
        if not isinstance(what, FeatureSpec):
            return {}
        per_channel = what.n_features(1, ndim)
        n_channels = n_inputs // per_channel if per_channel else 1
        return segmenter.layout_fit_params(what, n_channels, ndim)

    def _balance(self, segmenter) -> bool:
        """Cut classes to the smallest one's count, unless the segmenter weighs them itself."""
        return self.balance and getattr(segmenter, "cut_to_smallest_class", True)

    def _random_state(self):
        return (self.params or {}).get("random_state", 0)

    def _check_classes(self, classes, seeds):
        """Two seed classes at least; say why when missing pixels took one away."""
        if classes.size >= 2:
            return
        painted = np.unique(seeds[seeds > 0])
        lost = [int(c) for c in painted if c not in classes]
        why = ""
        if lost:
            why = (f": every seed of label {', '.join(map(str, lost))} lies on a missing "
                   "pixel (NaN, ±inf, or a value beyond float32's range), which is never "
                   "used for training; paint it on valid pixels")
        raise ValueError(
            f"method {self.method!r} needs seeds of at least two classes; got "
            f"{classes.size}" + (f" (label {classes[0]})" if classes.size else "") + why
        )

    def _keep_fitted(self, segmenter, X_train, y_train, spatial):
        if not segmenter.keeps_samples:
            # Model files record no samples for it, and one input (the intensity).
            X_train, y_train = np.zeros((0, 1), np.float32), np.zeros(0, np.int64)
        n_in = X_train.shape[1]
        spec = self._spec()
        what = segmenter.inputs(spec)
        per_channel = what.n_features(1, len(spatial))
        n_channels = (n_in // per_channel if isinstance(what, FeatureSpec) and per_channel
                      else getattr(self, "_last_channels", 1))
        return self._set_fitted(segmenter, spec=spec, n_channels=n_channels, n_features=n_in,
                                ndim=len(spatial), X_train=X_train, y_train=y_train)

    def _set_fitted(self, segmenter, *, spec, n_channels, n_features, ndim, X_train, y_train):
        self.segmenter_ = segmenter
        self.classes_ = np.sort(np.asarray(segmenter.classes_))
        self._order = np.argsort(segmenter.classes_, kind="stable")
        self.spec_ = spec
        self.n_channels_, self.n_features_, self.ndim_ = (
            int(n_channels), int(n_features), int(ndim))
        self.X_train_ = np.ascontiguousarray(X_train, dtype=np.float32)
        self.y_train_ = np.asarray(y_train).astype(np.int64, copy=False)
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
        model._set_fitted(segmenter, spec=model._spec(), n_channels=n_channels,
                          n_features=n_features, ndim=ndim, X_train=X_train, y_train=y_train)
        model.spacing_ = None if spacing is None else check_spacing(spacing, int(ndim))
        return model

    def _check_fitted(self):
        if not hasattr(self, "segmenter_"):
            raise NotFittedError("this SeededModel is not fitted yet; call fit first")

    def predict_inputs(self, inputs, finite=None, *, proba=False):
        """Labels (or ``spatial + (n_classes,)`` probabilities) from inputs.

        Non-finite pixels get label 0 (probabilities 0).
        """
        self._check_fitted()
        inputs = np.asarray(inputs)
        spatial = inputs.shape[:-1]
        n_in = int(self.segmenter_.n_features_in_)
        if inputs.shape[-1] != n_in:
            raise ValueError(
                f"the image gives {inputs.shape[-1]} features; the model was "
                f"trained with {n_in} (same channels and features needed)"
            )
        flat = inputs.reshape(-1, n_in)
        keep = None if finite is None else np.asarray(finite).ravel()
        X = flat if keep is None else flat[keep]
        res = self.segmenter_.predict_proba(X) if proba else self.segmenter_.predict(X)
        if keep is None:
            out = res
        else:
            out = np.zeros((flat.shape[0],) + res.shape[1:], res.dtype)
            out[keep] = res
        if proba:
            out = np.ascontiguousarray(out[:, self._order], dtype=np.float32)
            return out.reshape(spatial + (self.classes_.size,))
        labels = out.astype(np.min_scalar_type(max(int(self.classes_.max()), 1)))
        return labels.reshape(spatial)

    def iter_predict_inputs(self, inputs, finite=None, *, proba=False,
                            chunk_pixels=CHUNK_PIXELS, out=None):
        """:meth:`predict_inputs` in chunks of pixels: a generator for progress.

        Yields ``(done, total)`` chunk counts after each chunk and returns
        (as ``StopIteration.value``) what :meth:`predict_inputs` returns
        (written into ``out`` when given). Closing the generator between
        chunks stops the work.
        """
        self._check_fitted()
        spatial = inputs.shape[:-1]
        flat = inputs.reshape(-1, inputs.shape[-1])
        keep = None if finite is None else np.asarray(finite).ravel()
        n = flat.shape[0]
        step = max(int(chunk_pixels), 1)
        total = max(-(-n // step), 1)
        flat_out = None if out is None else out.reshape((n,) + out.shape[len(spatial):])
        for i, start in enumerate(range(0, n, step)):
            rows = slice(start, start + step)
            part = self.predict_inputs(flat[rows], None if keep is None else keep[rows],
                                       proba=proba)
            if flat_out is None:
                out = np.empty(spatial + part.shape[1:], part.dtype)
                flat_out = out.reshape((n,) + part.shape[1:])
            flat_out[rows] = part
            yield i + 1, total
        if out is None:  # no pixel
            out = self.predict_inputs(inputs, finite, proba=proba)
            yield 1, 1
        return out

    # -- whole images --

    def _check_image_channels(self, image, channel_axis):
        _, spatial, n = image_layout(image, channel_axis)
        if n != self.n_channels_:
            raise ValueError(
                f"the image has {n} channel(s); the model was trained on "
                f"{self.n_channels_}"
            )
        if len(spatial) != self.ndim_:
            raise ValueError(
                f"the image is {len(spatial)}D; the model was trained on a "
                f"{self.ndim_}D image"
            )

    def fit(self, image, seeds=None, *, spacing=None, channel_axis=None):
        """Compute the inputs of ``image`` and fit on ``seeds``; returns self.

        ``spacing`` is the layer scale (a number = isotropic; negative
        values count as their absolute value, as a flipped layer has).
        """
        _run(self._iter_label(image, seeds, spacing, channel_axis, False, CHUNK_PIXELS,
                              fit=True, predict=False))
        return self

    def iter_predict(self, image, *, spacing=None, channel_axis=None, return_proba=False,
                     chunk_pixels=CHUNK_PIXELS):
        """:meth:`predict` in steps: a generator for progress bars and cancellation.

        Yields ``(stage, done, total)``: stage ``"features"``, then
        ``"predicting"`` once per chunk of at most ``chunk_pixels`` pixels
        (fewer when the memory budget asks; twice as many with
        ``return_proba``). Returns (``StopIteration.value``) the labels, or
        ``(labels, proba)`` with ``return_proba``.
        """
        self._check_fitted()
        self._check_image_channels(image, channel_axis)
        return (yield from self._iter_label(image, None, spacing, channel_axis,
                                            return_proba, chunk_pixels, fit=False))

    def iter_fit_predict(self, image, seeds=None, *, spacing=None, channel_axis=None,
                         return_proba=False, chunk_pixels=CHUNK_PIXELS):
        """:meth:`fit_predict` in steps: a generator for progress bars and cancellation.

        Yields ``(stage, done, total)`` after each step: ``"features"``,
        ``"training"``, then ``"predicting"`` once per chunk of at most
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

    def _iter_label(self, image, seeds, spacing, channel_axis, return_proba,
                    chunk_pixels, *, fit, predict=True):
        """Validate once, plan, then fit and/or label by the plan's route."""
        _, spatial, _ = image_layout(image, channel_axis)
        if fit:
            seeds = check_seeds(seeds, spatial)
            segmenter = self.make_segmenter()  # unknown parameter: before any work
        data, finite, spacing, what = self._prepare(
            image, spacing, channel_axis, seeds=seeds, fit=fit, return_proba=return_proba,
            chunk_pixels=chunk_pixels)
        plan = self._last_plan
        if plan.route == "fused":
            return (yield from self._iter_label_fused(
                data, finite, seeds if fit else None, spacing, what, return_proba, plan,
                segmenter if fit else None, predict=predict))
        if not predict:
            inputs = _compute_inputs(data, what, spacing)
            self._fit_inputs(segmenter, inputs, seeds, finite, spacing)
            self.spacing_ = spacing
            return None
        n_chunks = max(-(-math.prod(spatial) // plan.chunk), 1)
        total = (2 if fit else 1) + n_chunks * (2 if return_proba else 1)
        inputs = _compute_inputs(data, what, spacing)
        del data  # the inputs hold what is needed
        yield "features", 1, total
        done = 1
        if fit:
            self._fit_inputs(segmenter, inputs, seeds, finite, spacing)
            self.spacing_ = spacing
            done += 1
            yield "training", done, total
        if getattr(self.segmenter_, "spatial", False):
            yield "predicting", total - 1, total
            outputs = self._predict_grid(inputs, finite, return_proba, seeds if fit else None,
                                         spacing)
            yield "predicting", total, total
            return self._with_seeds(outputs, seeds, return_proba)
        outputs = []
        for proba in (False, True) if return_proba else (False,):
            steps = self.iter_predict_inputs(inputs, finite, proba=proba,
                                             chunk_pixels=plan.chunk)
            while True:
                try:
                    next(steps)
                except StopIteration as stop:
                    outputs.append(stop.value)
                    break
                done = min(done + 1, total)
                yield "predicting", done, total
        return self._with_seeds(outputs, seeds, return_proba)

    def _predict_grid(self, inputs, finite, return_proba, seeds=None, spacing=None):
        """Labels (and probabilities) of a segmenter with image-wide steps, in one go."""
        n_in = int(self.segmenter_.n_features_in_)
        if inputs.shape[-1] != n_in:
            raise ValueError(
                f"the image gives {inputs.shape[-1]} features; the model was "
                f"trained with {n_in} (same channels and features needed)"
            )
        proba = self.segmenter_.predict_proba_grid(inputs, finite, spacing=spacing)
        labels = self.segmenter_.predict_grid(proba, seeds, spacing=spacing)
        labels = labels.astype(np.min_scalar_type(max(int(self.classes_.max()), 1)))
        if finite is not None:
            labels[~finite] = 0
        proba = np.ascontiguousarray(proba[..., self._order], dtype=np.float32)
        return [labels, proba] if return_proba else [labels]

    def _iter_label_fused(self, data, finite, seeds, spacing, spec, return_proba, plan,
                          segmenter, *, predict=True):
        """Train on the seeded pixels' features, label slab by slab (:mod:`.tiles`)."""
        spatial = data.shape[:-1]
        evaluator = TileEvaluator(spec, spacing, depth=plan.depth)
        n_slabs = len(evaluator._slabs(spatial)[1]) if predict else 0
        total = (2 if segmenter is not None else 0) + n_slabs
        done = 0
        kept = {}
        if segmenter is not None:
            if seeds is None or not (seeds > 0).any():
                raise ValueError(f"method {self.method!r} learns from seeds: paint seeds "
                                 "of at least two classes")
            index, classes = balanced_seed_indices(
                seeds, mask=finite, max_per_class=self.max_per_class,
                balance=self._balance(segmenter), random_state=self._random_state())
            self._check_classes(classes, seeds)
            X_train, kept = evaluator.features_at(
                data, index, keep_bytes=plan.keep_bytes if predict else 0)
            y_train = seeds.ravel()[index].astype(np.int64)
            done += 1
            yield "features", done, total
            segmenter.fit(X_train, y_train,
                          **self._layout_params(segmenter, X_train.shape[1], len(spatial)))
            self._keep_fitted(segmenter, X_train, y_train, spatial)
            self.spacing_ = spacing
            done += 1
            yield "training", done, total
        if not predict:
            return None
        labels = np.empty(spatial, self._labels_dtype())
        proba = (np.empty(spatial + (self.classes_.size,), np.float32) if return_proba
                 else None)
        steps = evaluator.iter_predict(
            data, self.segmenter_.predict, predict_proba=self._proba_rows, finite=finite,
            labels=labels, proba=proba, kept=kept)
        for _ in steps:
            done += 1
            yield "predicting", done, total
        return self._with_seeds([labels] if proba is None else [labels, proba], seeds,
                                return_proba)

    def predict_block(self, data, inner, *, spacing=None, finite=None, num_workers=None):
        """Labels of ``data[inner]``, ``data`` being that block plus the filters' margin.

        The fused evaluator on the padded block (features slab by slab, only
        the inner part of each plane predicted): what the blockwise path runs
        per block.

        Parameters
        ----------
        data : ndarray of float32, shape ``spatial + (C,)``
            Finite values, channels last.
        inner : tuple of slice
            The block inside ``data``, one step-1 slice per spatial axis.
        spacing : tuple of float, optional
        finite : ndarray of bool, shape ``spatial``, optional
            Pixels to label (the others get 0).
        num_workers : int, optional
            Threads inside the block.
        """
        self._check_fitted()
        evaluator = TileEvaluator(self.spec_, spacing, num_workers=num_workers)
        labels = np.empty(tuple(s.stop - s.start for s in inner), self._labels_dtype())
        for _ in evaluator.iter_predict(data, self.segmenter_.predict, finite=finite,
                                        labels=labels, start=inner[0].start,
                                        stop=inner[0].stop, plane_region=inner[1:]):
            pass
        return labels

    def _labels_dtype(self):
        return np.min_scalar_type(max(int(self.classes_.max()), 1))

    def _proba_rows(self, X):
        """``predict_proba`` of the segmenter, columns in ``classes_`` order, float32."""
        return np.ascontiguousarray(self.segmenter_.predict_proba(X)[:, self._order],
                                    dtype=np.float32)

    def _with_seeds(self, outputs, seeds, return_proba):
        labels = outputs[0]
        if seeds is not None:
            seeded = seeds > 0
            if seeded.any():
                max_label = max(int(labels.max(initial=0)), int(seeds.max()))
                labels = labels.astype(np.min_scalar_type(max(max_label, 1)), copy=False)
                labels[seeded] = seeds[seeded]
        return (labels, outputs[1]) if return_proba else labels

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


def _run(steps):
    """Drive a step generator to its end and return its value."""
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value
