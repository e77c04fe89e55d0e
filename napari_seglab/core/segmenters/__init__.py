"""Pixel classifiers with scikit-learn's estimator interface, one row per pixel.

Every segmenter is a scikit-learn estimator (``BaseEstimator`` with
``ClassifierMixin`` or ``ClusterMixin``): ``fit(X, y)``, ``predict(X)``,
``predict_proba(X)`` and ``get_params`` / ``set_params``. ``X`` is always
``(n_pixels, n_features)``, one row per pixel; what its columns hold is the
segmenter's one input hook, :meth:`inputs(spec) <base._Segmenter.inputs>`:
the feature stack of ``spec`` for the learned methods, the intensity (mean
over channels) for the global thresholds, the intensity and its local
statistic for the local threshold (:class:`~.base.PixelInputs`).

Two kinds:

* supervised (``unsupervised = False``): ``fit`` sees only seeded pixels,
  ``y`` holds their labels (any integers; ``classes_`` keeps them).
* unsupervised (``unsupervised = True``, k-means, Gaussian mixture and
  thresholds): ``fit`` sees a sample of *all* pixels; ``y`` is optional and
  uses the project's seed convention, ``0`` = not seeded.

``predict_proba(X)`` is ``(n_pixels, n_classes)``, columns in ``classes_``
order, rows summing to 1, ``argmax`` agreeing with ``predict``.

A segmenter's fitted state is plain arrays (``get_state`` / ``set_state``),
so it can be saved without pickle (:mod:`napari_seglab.core.model_io`); the
random forest is the exception (``refit_on_load = True``): it is refitted
from its training samples.

Modules: :mod:`.base` (shared base, checks, linear scoring), :mod:`.knn` and
:mod:`.knn_grid`, :mod:`.blend` (kNN averaged with a logistic regression or
a small MLP), :mod:`.clustering` (nearest mean, k-means), :mod:`.mixture`
(GMM), :mod:`.forest`, :mod:`.context` (the forest with image-wide steps),
:mod:`.fast_forest` (the default: extra-trees predicted by :mod:`.tree_predict`'s
compiled cascade, with a kNN share), :mod:`.thresholds`, :mod:`.registry`
(names, ``DEFAULT_METHOD``).
"""

from .base import NotFittedError, PixelInputs, uncertainty
from .blend import BlendSegmenter
from .clustering import KMeansSegmenter, NearestMeanSegmenter
from .context import ContextForestSegmenter
from .fast_forest import FastForestSegmenter
from .forest import RandomForestSegmenter
from .knn import KNNSegmenter
from .mixture import GaussianMixtureSegmenter
from .registry import DEFAULT_METHOD, SEGMENTERS, make_segmenter
from .thresholds import (
    THRESHOLD_METHODS,
    LiSegmenter,
    LocalThresholdSegmenter,
    ManualThresholdSegmenter,
    MinimumSegmenter,
    OtsuSegmenter,
    ThresholdSegmenter,
    TriangleSegmenter,
    YenSegmenter,
    try_all_thresholds,
)

__all__ = [
    "DEFAULT_METHOD",
    "SEGMENTERS",
    "THRESHOLD_METHODS",
    "BlendSegmenter",
    "ContextForestSegmenter",
    "FastForestSegmenter",
    "GaussianMixtureSegmenter",
    "KMeansSegmenter",
    "KNNSegmenter",
    "LiSegmenter",
    "LocalThresholdSegmenter",
    "ManualThresholdSegmenter",
    "MinimumSegmenter",
    "NearestMeanSegmenter",
    "NotFittedError",
    "OtsuSegmenter",
    "PixelInputs",
    "RandomForestSegmenter",
    "ThresholdSegmenter",
    "TriangleSegmenter",
    "YenSegmenter",
    "make_segmenter",
    "try_all_thresholds",
    "uncertainty",
]
