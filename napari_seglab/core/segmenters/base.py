"""The segmenters' shared base: scikit-learn estimator, state arrays, checks, linear scoring."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

__all__ = ["NotFittedError", "PixelInputs", "uncertainty"]

# ``NotFittedError`` is scikit-learn's own (a ValueError and an AttributeError):
# ``except NotFittedError`` catches ours and scikit-learn's alike.


@dataclass(frozen=True)
class PixelInputs:
    """The per-pixel inputs of a threshold: the intensity, and its local statistic.

    The intensity is the mean over channels (column 0). With
    ``local_block_size``, column 1 is the ``local_statistic`` of the
    intensity over a ``local_block_size`` neighbourhood, exactly as
    :func:`skimage.filters.threshold_local` computes it with ``offset=0``.
    """

    local_block_size: int | None = None
    local_statistic: str = "gaussian"

    def n_features(self, n_channels: int = 1, ndim: int = 2) -> int:
        """Columns of ``X``: 1, or 2 with the local statistic."""
        return 1 if self.local_block_size is None else 2

    def compute(self, data: np.ndarray) -> np.ndarray:
        """``spatial + (n_features,)`` float32 from ``spatial + (C,)`` finite data."""
        intensity = data.mean(axis=-1, dtype=np.float32)
        if self.local_block_size is None:
            return intensity[..., np.newaxis]
        from skimage.filters import threshold_local

        local = threshold_local(intensity, int(self.local_block_size),
                                method=self.local_statistic, offset=0.0)
        return np.stack([intensity, local.astype(np.float32, copy=False)], axis=-1)


class _Segmenter(BaseEstimator):
    """get_params / set_params (scikit-learn's), state arrays and shared checks."""

    unsupervised = False
    #: Read-only compatibility name of what the segmenter reads (model files
    #: of format 1 record it; the widgets ask it whether features are used):
    #: "features", "intensity" (the channel mean) or "image" (the local
    #: threshold). The pipeline asks :meth:`inputs` instead.
    input = "features"
    #: Feature preset used when the caller gives none. Distance-based methods
    #: want smooth intensity features: edge and ridge responses are near
    #: constant inside a seed stroke, so z-scoring them on the seeds blows
    #: them up and they outvote the intensity (Dice 0.5 instead of 0.99 on
    #: noisy phantoms from one stroke per class). A forest picks what helps.
    default_features = "smooth"
    #: The fitted state cannot be rebuilt from arrays: refit from the
    #: training samples instead (deterministic with ``random_state``).
    refit_on_load = False
    #: The pipeline keeps the training samples with the model (model files
    #: save them); False for the local threshold, whose samples say nothing.
    keeps_samples = True
    #: Fitted attributes that make the state: name -> (dtype kind, shape).
    #: Shapes use "K" (classes), "F" (features) or other letters (any size,
    #: the same wherever the letter recurs).
    _state_spec = {}

    def memory_bytes(self, n_samples: int, n_features: int, n_classes: int) -> int:
        """Bytes fitting and holding the segmenter take, beyond the training samples.

        The pipeline counts it in a run's memory plan. Plain-array segmenters
        hold a few vectors per class: 0. Used before fitting (sizes from the
        seeds) and after (the fitted model's own sizes).
        """
        return 0

    def predict_row_bytes(self, n_features: int, n_classes: int) -> int:
        """Bytes predicting one pixel takes beyond the pipeline's own row buffers."""
        return 0

    def inputs(self, spec):
        """What the pipeline computes for ``X``, one row per pixel.

        The one input hook: ``spec`` (the caller's feature spec) by default;
        thresholds return a :class:`PixelInputs` (the channel mean, and for
        the local threshold its neighbourhood mean too).
        """
        return spec

    def layout_fit_params(self, spec, n_channels: int, ndim: int) -> dict:
        """Keyword arguments of ``fit`` that depend on the columns' layout.

        The pipeline, the live path and model loading call it with the
        feature spec, channel count and dimensionality of the stack that
        ``X``'s rows come from, and pass the result to ``fit``. Most
        segmenters read every column alike: ``{}``.
        """
        return {}

    def get_state(self) -> dict:
        """The fitted state as plain arrays (name -> ndarray)."""
        self._check_fitted()
        names = ("classes_", "n_features_in_") + tuple(self._state_spec)
        return {name: np.asarray(getattr(self, name)) for name in names}

    def set_state(self, state: dict):
        """Restore a fitted state from :meth:`get_state`'s arrays.

        Every array is checked (names, dtype kind, shape, finite values);
        a bad one raises ValueError naming it.
        """
        spec = {"classes_": ("iu", ("K",)), "n_features_in_": ("iu", ())}
        spec.update(self._state_spec)
        if not isinstance(state, dict) or set(state) != set(spec):
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(
                f"{type(self).__name__} state needs arrays {sorted(spec)}; got {got}"
            )
        sizes = {}
        arrays = {}
        for name, (kinds, shape) in spec.items():
            a = np.asarray(state[name])
            if a.dtype.kind not in kinds:
                raise ValueError(
                    f"state array {name!r} must have dtype kind {kinds!r}; got {a.dtype}"
                )
            if a.ndim != len(shape):
                raise ValueError(
                    f"state array {name!r} must have {len(shape)} axes; got shape {a.shape}"
                )
            for letter, n in zip(shape, a.shape, strict=True):
                if sizes.setdefault(letter, n) != n:
                    raise ValueError(
                        f"state array {name!r} has shape {a.shape}, inconsistent with "
                        f"the other arrays ({letter} = {sizes[letter]})"
                    )
            if a.dtype.kind == "f" and not np.isfinite(a).all():
                raise ValueError(f"state array {name!r} holds NaN or infinite values")
            arrays[name] = a
        classes = arrays["classes_"]
        if classes.size < 1 or np.unique(classes).size != classes.size:
            raise ValueError(f"state 'classes_' must be distinct labels; got {classes}")
        n_features = int(arrays["n_features_in_"])
        if n_features < 1 or sizes.get("F", n_features) != n_features:
            raise ValueError(
                f"state 'n_features_in_' = {n_features} does not match the arrays"
            )
        for name, a in arrays.items():
            setattr(self, name, a if a.ndim else a[()])
        self.n_features_in_ = n_features
        self._after_set_state()
        return self

    def _after_set_state(self):
        """Rebuild caches derived from the state arrays."""

    def set_params(self, **params):
        """Set parameters; TypeError names one the estimator does not take."""
        valid = self._get_param_names()
        for key in params:
            if key not in valid:
                raise TypeError(
                    f"{type(self).__name__} has no parameter {key!r}; "
                    f"its parameters are {', '.join(valid) or 'none'}"
                )
        return super().set_params(**params)

    def __repr__(self, N_CHAR_MAX=700):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def __sklearn_is_fitted__(self):
        return hasattr(self, "n_features_in_")

    def _check_fitted(self):
        check_is_fitted(self, msg=f"this {type(self).__name__} is not fitted yet; "
                                  "call fit(X, y) first")

    def _check_X(self, X, *, fitting=False) -> np.ndarray:
        X = _as_float32_rows(X)
        if fitting:
            if X.shape[0] == 0:
                raise ValueError("X has no samples; paint seeds first")
            if not np.isfinite(X).all():
                raise ValueError("X holds NaN or infinite values; drop those rows")
        else:
            self._check_fitted()
            if X.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has {X.shape[1]} features, but {type(self).__name__} is "
                    f"expecting {self.n_features_in_} features as input (it was fitted "
                    f"with {self.n_features_in_})"
                )
        return X

    def _fit_scaling(self, X):
        # Statistics in float64: float32 squares overflow beyond |x| ~ 1e19.
        if getattr(self, "scale", False):
            mean = X.mean(axis=0, dtype=np.float64)
            std = X.std(axis=0, dtype=np.float64)
            self.mean_ = mean.astype(np.float32)
            self.scale_ = np.where(std > 0, std, 1.0).astype(np.float32)
        else:
            self.mean_ = np.zeros(X.shape[1], np.float32)
            self.scale_ = np.ones(X.shape[1], np.float32)

    def _transform(self, X):
        return (X - self.mean_) / self.scale_


class _GrowOnProba:
    """``grow``: labels grown from the seeds on the probabilities (the pipeline's
    whole-image hooks, :attr:`spatial` with ``grow``). Mixed into a segmenter
    with a ``grow`` parameter and row-wise ``fit`` / ``predict_proba``."""

    @property
    def spatial(self) -> bool:
        """True with ``grow``: the labels depend on the whole image, not one pixel."""
        return bool(self.grow)

    def fit_grid(self, inputs, train, y, *, finite=None, spacing=None, **fit_params):
        """:meth:`fit` on the rows ``train`` of ``inputs`` (``spatial + (F,)``)."""
        return self.fit(inputs.reshape(-1, inputs.shape[-1])[train], y, **fit_params)

    def predict_proba_grid(self, inputs, finite=None, *, spacing=None):
        """``spatial + (n_classes,)`` probabilities (0 at non-finite pixels)."""
        flat = inputs.reshape(-1, inputs.shape[-1])
        proba = np.zeros((flat.shape[0], self.classes_.size), np.float32)
        keep = slice(None) if finite is None else np.asarray(finite).ravel()
        proba[keep] = self.predict_proba(flat[keep])
        return proba.reshape(inputs.shape[:-1] + (-1,))

    def predict_grid(self, proba, seeds=None, *, spacing=None):
        """Labels from :meth:`predict_proba_grid`'s output (with ``grow``: from ``seeds``)."""
        from ..refine import grow_from_seeds

        if self.grow and seeds is not None and (np.asarray(seeds) > 0).any():
            return grow_from_seeds(proba, seeds, spacing=spacing, classes=self.classes_)[0]
        return self.classes_[np.argmax(proba, axis=-1)]


def _as_float32_rows(X) -> np.ndarray:
    """``X`` as 2D float32; TypeError/ValueError naming what is wrong otherwise."""
    if hasattr(X, "tocsr") or hasattr(X, "toarray"):
        raise TypeError("sparse input is not supported: give a dense array")
    X = np.asarray(X)
    if X.dtype.kind == "c":
        raise ValueError("Complex data not supported: X must hold real numbers")
    if X.dtype == object:
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"X must hold real numbers; got dtype object ({err})") from None
    if X.dtype.kind not in "biuf":
        raise ValueError(f"X must hold real numbers; got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(
            f"X must be 2D (n_samples, n_features); got shape {X.shape}. Reshape your data: "
            "one row per pixel"
        )
    if X.shape[1] == 0:
        raise ValueError(
            f"0 feature(s) (shape={X.shape}) while a minimum of 1 is required."
        )
    return np.asarray(X, dtype=np.float32)


def _check_supervised_y(X, y) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y)
    if y.shape != (X.shape[0],):
        raise ValueError(
            f"y must have one label per row of X ({X.shape[0]}); got shape {y.shape}"
        )
    if not np.issubdtype(y.dtype, np.integer) and y.dtype != bool:
        raise TypeError(f"y must hold integer labels; got dtype {y.dtype}")
    classes, y_index = np.unique(y, return_inverse=True)
    if classes.size < 2:
        raise ValueError(
            f"need seeds of at least two classes to train; got {classes.size} "
            f"class{'' if classes.size == 1 else 'es'} ({', '.join(map(str, classes))})"
        )
    return classes, y_index.ravel()


def _sq_distances(X, centres, centres_sq=None):
    """Squared Euclidean distances via one matrix product (n, k)."""
    if centres_sq is None:
        centres_sq = np.einsum("ij,ij->i", centres, centres)
    d = X @ (-2.0 * centres.T)
    d += centres_sq
    d += np.einsum("ij,ij->i", X, X)[:, None]
    return np.maximum(d, 0, out=d)


def _softmax(d):
    """Row-wise softmax of ``d`` (in place)."""
    d -= d.max(axis=1, keepdims=True)
    np.exp(d, out=d)
    d /= d.sum(axis=1, keepdims=True)
    return d


#: Rows per block when scoring pixels: the block's temporaries stay in
#: cache, and OpenBLAS runs a product this small on one thread. Measured on
#: 2 busy cores, (262144, 4) @ (4, 3) float32: 48 ms in one product (its
#: threads wait on each other), 77 ms in 65536-row blocks, 2.2 ms in
#: 8192-row blocks.
_SCORE_ROWS = 8192
#: Raw features further than this many scale units from zero are centred
#: before the float32 products below: x·w would otherwise sum large terms
#: that cancel, and round the small differences that decide the class.
_CENTRE_BEYOND = 64.0


def _fold_scaling(mean, scale, W, b):
    """Fold the z-scoring ``(x - mean) / scale`` into scores ``z @ W + b``.

    Returns ``(offset, W', b')`` (float32, float32, float64) such that
    ``(x - offset) @ W' + b'`` equals ``((x - mean) / scale) @ W + b``;
    ``offset`` is ``mean`` when the raw features lie far from zero (see
    ``_CENTRE_BEYOND``), else zero (then no subtraction pass is needed).
    """
    mean = np.asarray(mean, np.float64)
    scale = np.asarray(scale, np.float64)
    W = np.asarray(W, np.float64) / scale[:, None]
    far = np.abs(mean / scale).max() > _CENTRE_BEYOND
    offset = mean if far else np.zeros_like(mean)
    b = np.asarray(b, np.float64) - (mean - offset) @ W
    return offset.astype(np.float32), W.astype(np.float32), b


def _linear_scores(X, offset, W, b, rows=_SCORE_ROWS):
    """Yield ``(rows slice, (x - offset) @ W + b)`` in float32 blocks."""
    centre = bool(offset.any())
    b = b.astype(np.float32)
    for start in range(0, X.shape[0], rows):
        block = X[start : start + rows]
        if centre:
            block = block - offset
        scores = block @ W
        scores += b
        yield slice(start, start + rows), scores


def _nearest_centre_rule(mean, scale, centres):
    """Nearest centre in z-scored space as a linear rule (offset, W, b).

    ``-½‖z - c‖² = z·c - ½‖c‖² - ½‖z‖²``, and the last term is the same for
    every centre: the largest ``z·c - ½‖c‖²`` is the nearest centre, and
    its softmax is the softmax of ``-½‖z - c‖²``.
    """
    centres = np.asarray(centres, np.float64)
    return _fold_scaling(mean, scale, centres.T, -0.5 * np.einsum("ij,ij->i", centres, centres))


def _argmax_rows(X, rule):
    """Index of the largest linear score of every row."""
    out = np.empty(X.shape[0], np.intp)
    for rows, scores in _linear_scores(X, *rule):
        out[rows] = scores.argmax(axis=1)
    return out


def _softmax_rows(X, rule):
    """Row-wise softmax of the linear scores (float32)."""
    out = np.empty((X.shape[0], rule[1].shape[1]), np.float32)
    for rows, scores in _linear_scores(X, *rule):
        out[rows] = _softmax(scores)
    return out

def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int; got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    return int(value)


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(
            f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}"
        )
    return value


_SCALE_STATE = {"mean_": ("f", ("F",)), "scale_": ("f", ("F",))}

def uncertainty(proba, axis=-1):
    """``1 - max probability`` per pixel: 0 where the vote is unanimous.

    Parameters
    ----------
    proba : ndarray
        Class probabilities along ``axis``.

    Returns
    -------
    ndarray of float32, ``proba``'s shape without ``axis``
    """
    proba = np.asarray(proba, dtype=np.float32)
    return (1.0 - proba.max(axis=axis)).astype(np.float32)
