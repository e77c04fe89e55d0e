"""Threshold segmenters: the global ones built by one factory, manual, and local (adaptive)."""

from __future__ import annotations

import numpy as np
from sklearn.base import ClusterMixin

from .base import PixelInputs, _check_choice, _check_int, _Segmenter

__all__ = [
    "THRESHOLD_METHODS", "LiSegmenter", "LocalThresholdSegmenter", "ManualThresholdSegmenter",
    "MinimumSegmenter", "OtsuSegmenter", "ThresholdSegmenter", "TriangleSegmenter",
    "YenSegmenter", "try_all_thresholds",
]


def _threshold_classes(values, y):
    """``[label below, label above]`` from optional seeds (0 = not seeded)."""
    if y is None:
        return np.array([1, 2])
    y = np.asarray(y)
    if y.shape != values.shape:
        raise ValueError(
            f"seeds must match the intensities' shape {values.shape}; got {y.shape}"
        )
    if not np.issubdtype(y.dtype, np.integer) and y.dtype != bool:
        raise TypeError(f"y must hold integer labels; got dtype {y.dtype}")
    seed_classes = np.unique(y[y > 0])
    if seed_classes.size == 0:
        return np.array([1, 2])
    if seed_classes.size != 2:
        raise ValueError(
            f"a threshold splits pixels in two: paint seeds of exactly two classes "
            f"(or none); got {seed_classes.size} ({', '.join(map(str, seed_classes))})"
        )
    means = [values[y == c].mean() for c in seed_classes]
    return seed_classes[np.argsort(means, kind="stable")]


def _one_hot(above):
    proba = np.zeros(above.shape + (2,), np.float32)
    proba[..., 1] = above
    proba[..., 0] = 1 - proba[..., 1]
    return proba



class ThresholdSegmenter(ClusterMixin, _Segmenter):
    """A global threshold on the intensity (the first column of X).

    Pixels at or below the threshold get label 1, those above get 2; with
    seeds of two classes, the class whose seeds are brighter (higher mean)
    gets the pixels above. Subclasses say how the threshold is found;
    ``predict_proba`` is hard (0 or 1).

    Attributes
    ----------
    threshold_ : float
    classes_ : ndarray, shape (2,)
        ``[label below, label above]``.
    """

    unsupervised = True
    input = "intensity"
    _state_spec = {"threshold_": ("f", ())}

    def inputs(self, spec):
        """The intensity (mean over channels), whatever the feature spec."""
        return PixelInputs()

    def _threshold(self, values):  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, X, y=None):
        X = self._check_X(X, fitting=True)
        values = X[:, 0]
        if values.size < 2:
            raise ValueError("n_samples=1: a threshold needs at least two pixels")
        if values.min() == values.max():
            raise ValueError(
                f"the image is uniform (every pixel is {values.min():g}); "
                "a threshold cannot split it"
            )
        threshold = self._threshold(values)
        self.classes_ = _threshold_classes(values, y)
        self.threshold_ = float(threshold)
        self.n_features_in_ = X.shape[1]
        return self

    def _after_set_state(self):
        if self.classes_.size != 2:
            raise ValueError(f"a threshold has 2 classes; state has {self.classes_.size}")
        self.threshold_ = float(self.threshold_)

    def predict(self, X):
        X = self._check_X(X)
        return self.classes_[(X[:, 0] > self.threshold_).astype(np.intp)]

    def predict_proba(self, X):
        X = self._check_X(X)
        return _one_hot(X[:, 0] > self.threshold_)



def _global_threshold(class_name, name, doc):
    """A :class:`ThresholdSegmenter` whose threshold is ``skimage.filters.threshold_<name>``."""

    def _threshold(self, values):
        import skimage.filters as filters

        try:
            return getattr(filters, f"threshold_{name}")(values)
        except RuntimeError as err:  # threshold_minimum: no two peaks
            raise ValueError(f"the {name!r} threshold failed on this image: {err}") from None

    return type(class_name, (ThresholdSegmenter,), {
        "__doc__": doc, "__module__": __name__, "__qualname__": class_name,
        "_threshold": _threshold})


OtsuSegmenter = _global_threshold(
    "OtsuSegmenter", "otsu", "Otsu's threshold (:func:`skimage.filters.threshold_otsu`).")
LiSegmenter = _global_threshold(
    "LiSegmenter", "li",
    "Li's minimum cross-entropy threshold (:func:`skimage.filters.threshold_li`).")
YenSegmenter = _global_threshold(
    "YenSegmenter", "yen", "Yen's threshold (:func:`skimage.filters.threshold_yen`).")
TriangleSegmenter = _global_threshold(
    "TriangleSegmenter", "triangle",
    "Triangle threshold (:func:`skimage.filters.threshold_triangle`).")
MinimumSegmenter = _global_threshold(
    "MinimumSegmenter", "minimum",
    "Minimum between the two histogram peaks (:func:`skimage.filters.threshold_minimum`).\n\n"
    "    Raises ValueError when the smoothed histogram does not have two peaks.\n    ")


class ManualThresholdSegmenter(ThresholdSegmenter):
    """A threshold the user gives.

    Parameters
    ----------
    threshold : float
        Required; pixels above it get the upper label.
    """

    def __init__(self, threshold=None):
        self.threshold = threshold

    def _threshold(self, values):
        if self.threshold is None:
            raise ValueError("method 'manual' needs threshold=<a number>")
        if isinstance(self.threshold, bool) or not isinstance(
                self.threshold, (int, float, np.integer, np.floating)):
            raise TypeError(f"threshold must be a number; got {self.threshold!r}")
        if not np.isfinite(self.threshold):
            raise ValueError(f"threshold must be finite; got {self.threshold}")
        return float(self.threshold)

    def fit(self, X, y=None):
        X = self._check_X(X, fitting=True)
        values = X[:, 0]
        self.threshold_ = self._threshold(values)
        self.classes_ = _threshold_classes(values, y)
        self.n_features_in_ = X.shape[1]
        return self



class LocalThresholdSegmenter(ClusterMixin, _Segmenter):
    """Local (adaptive) threshold (:func:`skimage.filters.threshold_local`).

    Per pixel, like every segmenter: ``X`` has two columns, the intensity
    and its neighbourhood statistic (:meth:`inputs` asks the pipeline for
    them: :class:`~napari_seglab.core.segmenters.base.PixelInputs`, the
    same ``block_size`` and ``statistic`` as ``threshold_local``). A pixel
    is "above" when its intensity exceeds the statistic minus ``offset``:
    the labels of ``image > threshold_local(image, block_size, statistic,
    offset=offset)``. Labels as in :class:`ThresholdSegmenter`;
    ``predict_proba`` is hard (0 or 1).

    Parameters
    ----------
    block_size : int, default 35
        Odd neighbourhood size in pixels.
    offset : float, default 0.0
        Finite.
    statistic : {"gaussian", "mean", "median"}, default "gaussian"
        How the neighbourhood is averaged (skimage's ``method``).

    Examples
    --------
    >>> import numpy as np
    >>> from skimage.filters import threshold_local
    >>> image = np.random.default_rng(0).random((32, 32), dtype=np.float32)
    >>> seg = LocalThresholdSegmenter(block_size=7, offset=0.01)
    >>> X = seg.inputs(None).compute(image[..., None]).reshape(-1, 2)
    >>> above = seg.fit(X).predict(X).reshape(image.shape) == 2
    >>> bool((above == (image > threshold_local(image, 7, offset=0.01))).all())
    True
    """

    unsupervised = True
    input = "image"  # format-1 model files record it
    keeps_samples = False
    _state_spec = {}

    def __init__(self, block_size=35, offset=0.0, statistic="gaussian"):
        self.block_size = block_size
        self.offset = offset
        self.statistic = statistic

    def _check_params(self):
        block = _check_int("block_size", self.block_size, 3)
        if block % 2 == 0:
            raise ValueError(f"block_size must be odd; got {block}")
        _check_choice("statistic", self.statistic, ("gaussian", "mean", "median"))
        if isinstance(self.offset, bool) or not isinstance(
                self.offset, (int, float, np.integer, np.floating)):
            raise TypeError(f"offset must be a number; got {self.offset!r}")
        if not np.isfinite(self.offset):
            raise ValueError(f"offset must be finite; got {self.offset}")
        return block

    def inputs(self, spec):
        """The intensity and its ``statistic`` over ``block_size`` pixels."""
        return PixelInputs(self._check_params(), self.statistic)

    def _check_columns(self, X, fitting=False):
        X = self._check_X(X, fitting=fitting)
        if X.shape[1] != 2:
            raise ValueError(
                "the local threshold reads 2 columns (the intensity and its local "
                f"statistic: LocalThresholdSegmenter.inputs); got {X.shape[1]}"
            )
        return X

    def fit(self, X, y=None):
        self._check_params()
        X = self._check_columns(X, fitting=True)
        self.classes_ = _threshold_classes(X[:, 0], None if y is None else np.ravel(y))
        self.n_features_in_ = 2
        return self

    def get_state(self) -> dict:
        """The fitted state; ``n_features_in_`` is 1 as format-1 model files record it."""
        state = super().get_state()
        state["n_features_in_"] = np.asarray(1)
        return state

    def _after_set_state(self):
        if self.classes_.size != 2:
            raise ValueError(f"a threshold has 2 classes; state has {self.classes_.size}")
        self._check_params()
        # Format-1 files record 1 input (the image itself); the columns are 2.
        self.n_features_in_ = 2

    def _above(self, X):
        X = self._check_columns(X)
        # As threshold_local: (statistic - offset) in float32, then compare.
        return X[:, 0] > X[:, 1] - float(self.offset)

    def predict(self, X):
        above = self._above(X)
        return self.classes_[above.astype(np.intp)]

    def predict_proba(self, X):
        return _one_hot(self._above(X))


THRESHOLD_METHODS = ("otsu", "li", "yen", "triangle", "minimum", "local")



def try_all_thresholds(image, seeds=None, *, methods=THRESHOLD_METHODS):
    """Every threshold method on one intensity image, like skimage's gallery.

    Parameters
    ----------
    image : ndarray, 2D or 3D
        The intensity (average channels first); must be finite.
    seeds : ndarray of int, optional
        Same shape; with two seed classes, the brighter one is "above".
    methods : sequence of str
        Method names from :data:`THRESHOLD_METHODS` (default: all).

    Returns
    -------
    dict
        ``{method: labels}`` (labels 1 below / 2 above, or the seed
        labels). A method that cannot split this image (e.g. "minimum"
        without two histogram peaks) maps to the ValueError it raised.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((20, 20), np.float32); image[:, 10:] = 1
    >>> sorted(np.unique(try_all_thresholds(image, methods=["otsu"])["otsu"]).tolist())
    [1, 2]
    """
    from .registry import make_segmenter

    image = np.asarray(image, dtype=np.float32)
    y = None if seeds is None else np.asarray(seeds).reshape(-1)
    out = {}
    for name in methods:
        segmenter = make_segmenter(name)
        try:
            X = segmenter.inputs(None).compute(image[..., np.newaxis])
            X = X.reshape(-1, X.shape[-1])
            out[name] = segmenter.fit(X, y).predict(X).reshape(image.shape)
        except ValueError as err:
            out[name] = err
    return out
