"""The fast forest: a few randomised trees on a ridge-aware bank, predicted by compiled code.

Forests find thin vessels and membranes that distance rules and linear
models miss (docs/accuracy.md), but scikit-learn's prediction of 50–100
trees costs seconds per million pixels here. This one fits scikit-learn's
trees and predicts them with :mod:`.tree_predict` (a numba kernel, one row
through every tree at a time) as a cascade: the first trees everywhere,
the rest only where those hesitate. Averaged with a kNN vote on the smooth
columns: where every stroke hugs a sparse structure, trees alone
extrapolate to it far from the strokes (KESM: 77 % of the tile labelled
vessel); the neighbours on the intensity do not. The vote weighs 0.4 where
a pixel lies outside the range the strokes covered (where the trees
extrapolate), 0.2 within it (:mod:`.seed_range`).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin

from .base import _check_choice, _check_int, _check_supervised_y, _GrowOnProba, _Segmenter
from .blend import check_knn_columns, knn_columns_for
from .knn import KNNSegmenter
from .seed_range import SeedRange
from .tree_predict import flatten_trees, predict_forest_proba

__all__ = ["FastForestSegmenter"]


class FastForestSegmenter(_GrowOnProba, ClassifierMixin, _Segmenter):
    """Extra-trees (or a random forest) with a compiled cascade prediction.

    Parameters
    ----------
    n_estimators : int, default 32
    max_depth : int or None, default 16
    min_samples_leaf : int, default 1
    max_features : {"sqrt", "log2"}, int, float or None, default "sqrt"
    kind : {"extra", "random"}, default "extra"
        :class:`~sklearn.ensemble.ExtraTreesClassifier` (random thresholds:
        smoother probabilities, faster to fit) or
        :class:`~sklearn.ensemble.RandomForestClassifier`.
    class_weight : {"balanced", "balanced_subsample", "sqrt"} or None, default "balanced"
        ``"sqrt"``: the square root of ``"balanced"``'s weights.
    builder : {"numba", "sklearn"}, default "numba"
        Who grows extra-trees: :func:`.tree_build.build_extra_trees` (compiled,
        straight into the flat arrays) or scikit-learn. ``kind="random"`` always
        uses scikit-learn.
    first_trees : int, default 8
        The cascade: rows whose average over the first ``first_trees`` trees
        gives one class at least ``confidence`` stop there; 0 = every tree.
    confidence : float, default 0.95
    knn_weight : float, default 0.4
        Share of a kNN vote (``n_neighbors``, on the intensity and Gaussian
        σ ≤ 1.6 columns, :meth:`layout_fit_params`) in the probabilities.
    knn_share : {"constant", "outside"}, default "outside"
        ``"outside"``: the share is ``knn_inside`` where a row lies within the
        range of every column the training rows covered, and grows to
        ``knn_weight`` at ``outside_margin`` training standard deviations
        beyond it (:class:`.seed_range.SeedRange`, :meth:`knn_shares`):
        the kNN takes over where the trees extrapolate.
    outside_margin : float, default 0.0
        0 = a step at the range's edge.
    knn_inside : float, default 0.2
        At most ``knn_weight`` is used (``knn_weight=0``: no kNN anywhere).
    n_neighbors : int, default 5
    linear_weight : float, default 0.0
        Share of a logistic regression on every column (z-scored, ``C``).
    C : float, default 1.0
    n_jobs : int, default -1
    random_state : int, default 0
    grow : bool, default False
        Labels by :func:`~napari_seglab.core.refine.grow_from_seeds` on the
        probabilities, from the seeds of the image being segmented (one
        compact object: a tumour, a lesion); as the blend's ``grow``.

    Attributes
    ----------
    classes_ : ndarray
    trees_ : dict of ndarray
        The flattened trees (:func:`.tree_predict.flatten_trees`).
    knn_ : KNNSegmenter or None
    knn_columns_ : ndarray of int

    Examples
    --------
    >>> import numpy as np
    >>> X = np.r_[np.zeros((20, 2)), np.ones((20, 2))].astype(np.float32)
    >>> model = FastForestSegmenter(n_estimators=4).fit(X, np.repeat([3, 7], 20))
    >>> model.predict(X[[0, -1]]).tolist()
    [3, 7]
    """

    default_features = "blend"
    #: Refitted from the training samples on load (deterministic with
    #: ``random_state``), as the random forest is.
    refit_on_load = True
    #: Keep every seeded pixel (up to max_per_class) and weigh the classes:
    #: a correction stroke adds samples instead of being cut to the smallest class.
    cut_to_smallest_class = False
    #: A saved model's parameters missing from its file, as they were when it was
    #: written: scikit-learn grew the trees before the compiled builder, and the
    #: kNN's share was constant before the share outside the strokes' range.
    params_before = {"builder": "sklearn", "knn_share": "constant"}

    def __init__(self, n_estimators=32, max_depth=16, min_samples_leaf=1, max_features="sqrt",
                 kind="extra", class_weight="balanced", first_trees=4, confidence=1.0,
                 knn_weight=0.4, n_neighbors=5, linear_weight=0.0, C=1.0, n_jobs=-1,
                 random_state=0, grow=False, knn_share="outside", outside_margin=0.0,
                 knn_inside=0.2, builder="numba"):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.kind = kind
        self.class_weight = class_weight
        self.first_trees = first_trees
        self.confidence = confidence
        self.knn_weight = knn_weight
        self.n_neighbors = n_neighbors
        self.linear_weight = linear_weight
        self.C = C
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.grow = grow
        self.knn_share = knn_share
        self.outside_margin = outside_margin
        self.knn_inside = knn_inside
        self.builder = builder

    def layout_fit_params(self, spec, n_channels, ndim):
        """The kNN's columns (the intensity and Gaussians σ ≤ 1.6), when it is used."""
        from ..features import FeatureSpec

        if not float(self.knn_weight) or not isinstance(spec, FeatureSpec):
            return {}
        return {"knn_columns": knn_columns_for(spec, n_channels, ndim) or None}

    def _check_params(self):
        _check_int("n_estimators", self.n_estimators, 1)
        if self.max_depth is not None:
            _check_int("max_depth", self.max_depth, 1)
        _check_int("first_trees", self.first_trees, 0)
        _check_choice("kind", self.kind, ("extra", "random"))
        _check_choice("builder", self.builder, ("numba", "sklearn"))
        _check_choice("class_weight", self.class_weight,
                      ("balanced", "balanced_subsample", "sqrt", None))
        _check_choice("knn_share", self.knn_share, ("constant", "outside"))
        if not float(self.outside_margin) >= 0:
            raise ValueError(f"outside_margin must be >= 0; got {self.outside_margin}")
        if not 0.0 <= float(self.knn_inside) <= 1.0:
            raise ValueError(f"knn_inside must be within [0, 1]; got {self.knn_inside}")
        for name in ("knn_weight", "linear_weight"):
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]; got {getattr(self, name)}")
        if float(self.knn_weight) + float(self.linear_weight) > 1.0:
            raise ValueError("knn_weight + linear_weight must be at most 1; got "
                             f"{self.knn_weight} + {self.linear_weight}")
        if not float(self.C) > 0:
            raise ValueError(f"C must be > 0; got {self.C}")
        if not 0.0 < float(self.confidence) <= 1.0:
            raise ValueError(f"confidence must be within (0, 1]; got {self.confidence}")

    def fit(self, X, y, knn_columns=None):
        """Fit the trees on ``X`` (and the kNN on ``X[:, knn_columns]`` with ``knn_weight``).

        Returns
        -------
        self
        """
        from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

        self._check_params()
        X = self._check_X(X, fitting=True)
        self.classes_, y_index = _check_supervised_y(X, y)
        cols = self.knn_columns_ = check_knn_columns(knn_columns, X.shape[1])
        # Few hundred seeds: threads cost more than they save.
        n_jobs = 1 if X.shape[0] < 2000 else self.n_jobs
        if self.kind == "extra" and self.builder == "numba":
            self.trees_ = _build_trees(self, X, y_index, n_jobs)
        else:
            forest = ExtraTreesClassifier if self.kind == "extra" else RandomForestClassifier
            est = forest(n_estimators=int(self.n_estimators), max_depth=self.max_depth,
                         min_samples_leaf=self.min_samples_leaf, max_features=self.max_features,
                         class_weight=_class_weight(self.class_weight, y_index), n_jobs=n_jobs,
                         random_state=self.random_state).fit(X, y_index)
            self.trees_ = flatten_trees(est.estimators_, self.classes_.size)
        self.knn_ = None
        if float(self.knn_weight) > 0:
            self.knn_ = KNNSegmenter(n_neighbors=self.n_neighbors).fit(X[:, cols], y_index)
        self.range_ = None
        if self.knn_ is not None and self.knn_share == "outside":
            self.range_ = SeedRange(X)
        self.linear_ = None
        if float(self.linear_weight) > 0:
            self.linear_ = _fit_linear(X, y_index, self.classes_.size, C=float(self.C))
        self.n_features_in_ = X.shape[1]
        return self

    def get_state(self):
        raise TypeError("the fast forest is refitted from its training samples "
                        "(refit_on_load = True)")

    def set_state(self, state):
        self.get_state()

    def memory_bytes(self, n_samples, n_features, n_classes):
        """The flattened trees: at most ``2 n_samples`` nodes a tree, 16 bytes each + the
        leaves' class fractions (and scikit-learn's trees while fitting: counted alike)."""
        nodes = 2 * max(int(n_samples), 1)
        if self.max_depth is not None:
            nodes = min(nodes, 2 ** (int(self.max_depth) + 1))
        return 2 * int(self.n_estimators) * nodes * (16 + 4 * max(int(n_classes), 2))

    def predict_row_bytes(self, n_features, n_classes):
        return 8 * max(int(n_classes), 2)

    def predict_proba(self, X):
        """The trees' averaged class fractions (blended with the kNN vote with ``knn_weight``)."""
        X = self._check_X(X)
        from joblib import effective_n_jobs

        proba = predict_forest_proba(X, self.trees_, first_trees=int(self.first_trees),
                                     confidence=float(self.confidence),
                                     threads=max(int(effective_n_jobs(self.n_jobs)), 1))
        w_knn, w_lin = float(self.knn_weight), float(self.linear_weight)
        if self.knn_ is None:
            w_knn = 0.0
        share = None if getattr(self, "range_", None) is None or not w_knn else self.knn_shares(X)
        if w_knn + w_lin > 0:
            proba *= 1.0 - (0.0 if share is not None else w_knn) - w_lin
        if share is not None:
            # The trees give up to the kNN only where the share is > 0.
            rows = slice(None) if share.min() > 0 else np.flatnonzero(share > 0)
            part = X[:, self.knn_columns_] if isinstance(rows, slice) else X[
                np.ix_(rows, self.knn_columns_)]
            if part.shape[0]:
                knn = self.knn_.predict_proba(part)
                proba[rows] += share[rows, None] * (knn - proba[rows] / (1.0 - w_lin))
        elif w_knn > 0:
            proba += w_knn * self.knn_.predict_proba(X[:, self.knn_columns_])
        if self.linear_ is not None and w_lin > 0:
            proba += w_lin * _linear_proba(X, *self.linear_)
        return proba

    def knn_shares(self, X):
        """Per row, the kNN vote's share with ``knn_share="outside"``: ``knn_inside``
        (at most ``knn_weight``) within the range of every column the training rows covered, growing to
        ``knn_weight`` at ``outside_margin`` training standard deviations beyond it.
        (With ``knn_share="constant"``: ``knn_weight`` everywhere.)"""
        X = self._check_X(X)
        w = float(self.knn_weight)
        inside = min(float(self.knn_inside), w)
        if self.knn_ is None or getattr(self, "range_", None) is None:
            return np.full(X.shape[0], w if self.knn_ is not None else 0.0, np.float32)
        from joblib import effective_n_jobs

        excess = self.range_.excess(X, threads=max(int(effective_n_jobs(self.n_jobs)), 1))
        margin = float(self.outside_margin)
        ramp = (excess > 0).astype(np.float32) if margin == 0 else np.minimum(
            excess / np.float32(margin), np.float32(1))
        return (inside + (w - inside) * ramp).astype(np.float32)

    def predict(self, X):
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


def _build_trees(params, X, y_index, n_jobs):
    """:func:`.tree_build.build_extra_trees` with the segmenter's parameters; without
    bootstrap, "balanced_subsample" weighs as "balanced" (as in scikit-learn)."""
    from joblib import effective_n_jobs

    from .tree_build import build_extra_trees

    n_classes = int(y_index.max()) + 1
    weight = None
    if params.class_weight is not None:
        weight = _balanced_weights(y_index, sqrt=params.class_weight == "sqrt")[y_index]
    return build_extra_trees(X, y_index, n_classes, n_estimators=params.n_estimators,
                             max_depth=params.max_depth,
                             min_samples_leaf=params.min_samples_leaf,
                             max_features=params.max_features, sample_weight=weight,
                             random_state=params.random_state,
                             threads=max(int(effective_n_jobs(n_jobs)), 1))


def _class_weight(class_weight, y_index):
    """scikit-learn's ``class_weight``; ``"sqrt"``: the square root of
    ``"balanced"``'s weights (between balanced and none: a class of 12 % of the
    seeds weighs 1.4 ×, not 4 ×, the others)."""
    if class_weight != "sqrt":
        return class_weight
    weights = _balanced_weights(y_index, sqrt=True)
    return {int(c): float(weights[c]) for c in np.flatnonzero(np.bincount(y_index))}


def _balanced_weights(y_index, *, sqrt=False):
    """Per class, ``"balanced"``'s weight ``n / (classes present × count)`` (or its
    square root); classes absent from ``y_index`` get 1."""
    counts = np.bincount(y_index).astype(np.float64)
    weights = y_index.size / (np.count_nonzero(counts) * np.where(counts > 0, counts, 1.0))
    return np.sqrt(weights) if sqrt else weights


def _fit_linear(X, y_index, n_classes, *, C):
    """A logistic regression on the z-scored rows, folded to ``(W, b)`` on raw rows."""
    from .base import _fold_scaling
    from .blend import _blas_controller, _fit_logistic

    mean = X.mean(axis=0, dtype=np.float64)
    std = X.std(axis=0, dtype=np.float64)
    scale = np.where(std > 0, std, 1.0)
    Z = (X - mean) / scale
    with _blas_controller().limit(limits=1, user_api="blas"):
        (W,), (b,), _ = _fit_logistic(Z, y_index, n_classes, C=C, max_iter=500)
    return _fold_scaling(mean, scale, W, b)


def _linear_proba(X, offset, W, b):
    """Class probabilities of :func:`_fit_linear`'s rule, float32, block by block."""
    from .base import _linear_scores
    from .blend import _output_proba

    out = np.empty((X.shape[0], max(W.shape[1], 2)), np.float32)
    for rows, scores in _linear_scores(X, offset, W, b):
        out[rows] = _output_proba(scores)
    return out
