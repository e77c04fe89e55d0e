"""The method names: SEGMENTERS (name -> class) and make_segmenter."""

from __future__ import annotations

from .blend import BlendSegmenter
from .clustering import KMeansSegmenter, NearestMeanSegmenter
from .context import ContextForestSegmenter
from .fast_forest import FastForestSegmenter
from .forest import RandomForestSegmenter
from .knn import KNNSegmenter
from .mixture import GaussianMixtureSegmenter
from .thresholds import (
    LiSegmenter,
    LocalThresholdSegmenter,
    ManualThresholdSegmenter,
    MinimumSegmenter,
    OtsuSegmenter,
    TriangleSegmenter,
    YenSegmenter,
)

__all__ = ["DEFAULT_METHOD", "SEGMENTERS", "make_segmenter"]

#: The method used when none is named: segment(), SeededModel, the live
#: preview, sessions, the CLI and the panel's first Method entry
#: (docs/accuracy.md: the best across kinds and stroke protocols at the
#: speed targets). Every other method stays reachable by name.
DEFAULT_METHOD = "fast_forest"

#: method name -> segmenter class, as ``napari_seglab.segment(method=...)`` takes it.
SEGMENTERS = {
    "fast_forest": FastForestSegmenter,
    "knn": KNNSegmenter,
    "blend": BlendSegmenter,
    "nearest_mean": NearestMeanSegmenter,
    "kmeans": KMeansSegmenter,
    "gmm": GaussianMixtureSegmenter,
    "random_forest": RandomForestSegmenter,
    "context_forest": ContextForestSegmenter,
    "manual": ManualThresholdSegmenter,
    "otsu": OtsuSegmenter,
    "li": LiSegmenter,
    "yen": YenSegmenter,
    "triangle": TriangleSegmenter,
    "minimum": MinimumSegmenter,
    "local": LocalThresholdSegmenter,
}


def make_segmenter(method: str, /, **params):
    """Build the segmenter for ``method`` with ``params``.

    Raises
    ------
    ValueError
        For an unknown method.
    TypeError
        For a parameter the method does not take (named in the message).
    """
    if not isinstance(method, str):
        raise TypeError(f"method must be a string; got {type(method).__name__}")
    if method not in SEGMENTERS:
        raise ValueError(
            f"unknown method {method!r}; methods are {', '.join(SEGMENTERS)}"
        )
    return SEGMENTERS[method]().set_params(**params)
