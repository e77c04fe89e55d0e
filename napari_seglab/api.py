"""The headless entry point: ``napari_seglab.segment``."""

from __future__ import annotations

import warnings

import numpy as np

from .core.pipeline import SeededModel
from .core.segmenters import DEFAULT_METHOD
from .core.validation import check_image, check_seeds, check_spacing, image_layout

__all__ = ["GROW_FROM_SEEDS", "segment", "prepare_image", "prepare_seeds", "prepare_segment"]


def prepare_image(image, channel_axis=None) -> np.ndarray:
    """Validate ``image`` and return it as ``spatial + (C,)`` float32.

    :func:`napari_seglab.core.validation.check_image` (kept here for callers).

    Raises
    ------
    TypeError
        For non-numeric or complex data.
    ValueError
        For a spatial part that is not 2D or 3D, or a bad ``channel_axis``.
    """
    return check_image(image, channel_axis)


def prepare_seeds(seeds, spatial_shape) -> np.ndarray | None:
    """Validate seeds against the image's spatial shape; ``None`` passes through.

    :func:`napari_seglab.core.validation.check_seeds` (kept here for callers).
    """
    return check_seeds(seeds, spatial_shape)


def _result_dtype(max_label: int):
    return np.min_scalar_type(max(int(max_label), 1))


def segment(
    image,
    seeds=None,
    method=DEFAULT_METHOD,
    *,
    spacing=None,
    channel_axis=None,
    features=None,
    return_proba=False,
    **params,
) -> np.ndarray:
    """Label every pixel of ``image`` from a few seeded pixels.

    Parameters
    ----------
    image : array-like
        2D or 3D spatial image, plus one channel axis if ``channel_axis`` is
        given (RGB, several MR contrasts, ...).
    seeds : array-like of int, optional
        The image's spatial shape; 0 = not seeded, other values are class
        labels. Required (with at least two classes) for supervised methods
        (``"knn"``, ``"nearest_mean"``); optional for ``"kmeans"`` and
        ``"otsu"``.
    method : str, default "fast_forest"
        Supervised: ``"fast_forest"`` (the default, ``DEFAULT_METHOD``: 32
        randomised trees on the ``"blend"`` bank, predicted by compiled
        code as a cascade; forest-grade on thin vessels and membranes under
        every stroke protocol of ``bench/accuracy.py``, 11× faster than
        scikit-image's forest on a 4 M-voxel volume; see :class:`napari_seglab.core.segmenters.FastForestSegmenter`
        and docs/accuracy.md), ``"blend"`` (a kNN vote averaged with a
        logistic regression on the ``"blend"`` bank: the previous default,
        steady on brain tissue; see
        :class:`napari_seglab.core.segmenters.BlendSegmenter`), ``"knn"``
        (the fastest; best when training on one image and applying to
        another of other contrast), ``"nearest_mean"``, ``"random_forest"``,
        ``"context_forest"`` (100 full-depth trees on the ``"octaves"`` bank,
        the most accurate after correction strokes, ~30× slower than kNN;
        image-wide steps ``context_sigmas`` (auto-context), ``smooth_sigma``,
        ``prior_correction``, ``grow`` (grow from seeds on the probabilities:
        one compact object, a tumour); see
        :class:`napari_seglab.core.segmenters.ContextForestSegmenter`).
        ``"grow_from_seeds"``: 3D Slicer's Grow from seeds on the intensity
        (parameters ``seed_locality``, ``intensity_range``, ``mask``; see
        :class:`napari_seglab.GrowFromSeeds`).
        Unsupervised (seeds optional, seeded initialisation):
        ``"kmeans"``, ``"gmm"``. Thresholds on the intensity (seeds
        optional): ``"manual"`` (needs ``threshold=``), ``"otsu"``,
        ``"li"``, ``"yen"``, ``"triangle"``, ``"minimum"``, ``"local"``
        (adaptive; ``block_size``, ``offset``). See
        :data:`napari_seglab.core.segmenters.SEGMENTERS`.
    spacing : sequence of float, optional
        Voxel size per spatial axis in the image's axis order (the napari
        layer scale, e.g. mm). Filter σ are in these units. ``None`` = 1.
    channel_axis : int, optional
        Axis of ``image`` holding channels.
    features : FeatureSpec, str or None, optional
        The per-pixel features (a spec or a preset name); ``None`` = the
        method's own preset: ``"smooth"`` (intensity and Gaussians) for kNN,
        nearest mean, k-means and GMM, the ``"default"`` filter bank for the
        random forest, ``"octaves"`` for the context forest, ``"blend"`` for the blend and the fast forest. Not used by the thresholds, which use the
        intensity (the mean over channels).
    return_proba : bool, default False
        Also return the class probabilities.
    **params
        Parameters of the method, with scikit-learn's names:
        ``n_neighbors``/``weights`` (knn), ``n_clusters``/``random_state``
        (kmeans), ``n_components`` (gmm), ``n_estimators``/``max_depth``
        (random_forest, context_forest), ``threshold`` (manual), ``block_size``/``offset``
        (local). ``random_state`` defaults to 0: the same input gives the
        same result.

    Returns
    -------
    labels : ndarray of unsigned int, the image's spatial shape
        Seed labels for every pixel; seeded pixels keep their own. Without
        seeds, k-means gives ``1..n_clusters`` by ascending mean intensity
        and thresholds give 1 (below) and 2 (above the threshold); with
        seeds of two classes, the brighter class is above.
    proba : ndarray of float32, spatial shape + (n_classes,)
        Only with ``return_proba``. The last axis follows the sorted labels
        the method gives: the sorted seed labels (k-means/GMM extra
        clusters numbered after the largest seed), or ``1..n`` without
        seeds. Thresholds give hard 0/1. Non-finite pixels get 0.
        :func:`napari_seglab.core.segmenters.uncertainty` turns it into
        ``1 - max``.

    Raises
    ------
    TypeError
        Bad types: non-numeric image, non-integer seeds, an unknown
        parameter of the method (named).
    ValueError
        Bad values: unknown method, wrong shapes, too few seed classes.

    Notes
    -----
    Non-finite pixels (NaN, ±inf in any channel) are missing data: they are
    filled with the channel's finite mean for filtering, never used for
    training, and get label 0 in the result, unless seeded. An image with
    no finite pixel raises ValueError.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((40, 40)); img[:, 20:] = 1
    >>> img += np.random.default_rng(0).normal(0, 0.2, img.shape)
    >>> seeds = np.zeros((40, 40), np.uint8); seeds[5, 2:10] = 1; seeds[5, 30:38] = 2
    >>> labels = segment(img, seeds, method="nearest_mean")
    >>> int(labels[20, 5]), int(labels[20, 35])
    (1, 2)
    """
    if method == GROW_FROM_SEEDS:
        return _grow(image, seeds, spacing, channel_axis, features, return_proba, params)
    if features is None:
        features = _default_spec_for(image, method, spacing, channel_axis)
    model, data, seeds = prepare_segment(image, seeds, method, channel_axis=channel_axis,
                                         features=features, params=params)
    return model.fit_predict(data, seeds, spacing=spacing, channel_axis=-1,
                             return_proba=return_proba)


def _default_spec_for(image, method, spacing, channel_axis):
    """None (the method's preset), or its per-slice form for a volume too thin for it (warned)."""
    from .core.features import spec_for_shape
    from .core.segmenters import SEGMENTERS

    segmenter = SEGMENTERS.get(method)
    if segmenter is None or getattr(segmenter, "input", None) != "features":
        return None
    spatial = image_layout(image, channel_axis)[1]
    if len(spatial) != 3:
        return None
    spec, note = spec_for_shape(segmenter.default_features, spatial,
                                check_spacing(spacing, 3))
    if not note:
        return None
    warnings.warn(f"{note[0].upper()}{note[1:]}; pass features= to choose others.",
                  UserWarning, stacklevel=3)
    return spec


#: ``segment``'s name for 3D Slicer's *Grow from seeds* (shortest-path competition on
#: the intensities; no features, no training: :class:`~napari_seglab.GrowFromSeeds`).
GROW_FROM_SEEDS = "grow_from_seeds"
_GROW_PARAMS = ("seed_locality", "intensity_range", "mask")


def _grow(image, seeds, spacing, channel_axis, features, return_proba, params):
    from .core.growcut import grow_from_seeds

    unknown = sorted(set(params) - set(_GROW_PARAMS))
    if unknown:
        raise TypeError(f"grow_from_seeds takes {', '.join(_GROW_PARAMS)}; got "
                        f"{', '.join(unknown)}")
    if features is not None:
        raise ValueError("grow_from_seeds works on the intensities: features must be None")
    if return_proba:
        raise ValueError("grow_from_seeds gives labels, not probabilities: "
                         "return_proba must be False")
    if seeds is None:
        raise ValueError("grow_from_seeds grows from seeds: paint a few strokes per segment")
    data = check_image(image, channel_axis)
    intensity = data[..., 0] if data.shape[-1] == 1 else data.mean(axis=-1)
    return grow_from_seeds(intensity, check_seeds(seeds, intensity.shape), spacing=spacing,
                           **params)


def prepare_segment(image, seeds=None, method=DEFAULT_METHOD, *, channel_axis=None, features=None,
                    params=None):
    """Validate :func:`segment`'s inputs: ``(model, data, seeds)`` ready to fit.

    ``model`` is an unfitted :class:`~napari_seglab.core.model_io.SeededModel`,
    ``data`` the ``spatial + (C,)`` float32 image (channel axis last) and
    ``seeds`` the validated seeds or ``None``. For callers that drive
    ``model.iter_fit_predict(data, seeds, channel_axis=-1)`` step by step
    (progress bars, cancellation) with the same checks as :func:`segment`.
    Raises what :func:`segment` raises.
    """
    model = SeededModel(method, features, dict(params or {}))
    segmenter = model.make_segmenter()  # unknown method / parameter: fail early
    seeds = prepare_seeds(seeds, image_layout(image, channel_axis)[1])
    if seeds is None and not segmenter.unsupervised:
        raise ValueError(
            f"method {method!r} learns from seeds: paint seeds of at least two classes"
        )
    # Refuse what cannot fit the memory budget before the float32 copy.
    model.check_memory(image, seeds, channel_axis=channel_axis)
    return model, prepare_image(image, channel_axis), seeds
