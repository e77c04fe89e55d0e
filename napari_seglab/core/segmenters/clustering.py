"""Nearest-mean classifier and k-means clustering (seeded by the painted classes)."""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin, ClusterMixin

from .base import (
    _SCALE_STATE,
    _argmax_rows,
    _check_int,
    _check_supervised_y,
    _nearest_centre_rule,
    _Segmenter,
    _softmax_rows,
    _sq_distances,
)

__all__ = ["KMeansSegmenter", "NearestMeanSegmenter"]


class _NearestCentre:
    """Prediction by the nearest centre (``self._centres()``) in the learnt scaling.

    The rule is one linear score per centre, evaluated as float32 matrix
    products in row blocks (:func:`~.base._argmax_rows`).
    """

    def _rule(self):
        return _nearest_centre_rule(self.mean_, self.scale_, self._centres())

    def predict(self, X):
        X = self._check_X(X)
        return self.classes_[_argmax_rows(X, self._rule())]

    def predict_proba(self, X):
        """Softmax of negative half squared distances to the centres."""
        X = self._check_X(X)
        return _softmax_rows(X, self._rule())


class NearestMeanSegmenter(_NearestCentre, ClassifierMixin, _Segmenter):
    """Assign each pixel to the class whose mean feature vector is nearest.

    Parameters
    ----------
    scale : bool, default True
        Standardise each feature (z-score from the training samples) so
        that features in different units weigh alike.

    Attributes
    ----------
    classes_ : ndarray
        Labels seen in ``fit``, sorted.
    centroids_ : ndarray, shape (n_classes, n_features)
        Class means in the scaled feature space.

    Notes
    -----
    The nearest mean in the scaled space is a linear rule: with the scaling
    folded into weights, ``predict`` is one float32 matrix product and an
    argmax per block of pixels (no distances are formed).
    """

    _state_spec = {**_SCALE_STATE, "centroids_": ("f", ("K", "F"))}

    def __init__(self, scale=True):
        self.scale = scale

    def fit(self, X, y):
        X = self._check_X(X, fitting=True)
        self.classes_, y_index = _check_supervised_y(X, y)
        self._fit_scaling(X)
        Xs = self._transform(X)
        self.centroids_ = np.stack(
            [Xs[y_index == k].mean(axis=0) for k in range(self.classes_.size)]
        ).astype(np.float32)
        self.n_features_in_ = X.shape[1]
        return self

    def _centres(self):
        return self.centroids_


def _fit_sample(X, y, max_samples, rng):
    """The rows an unsupervised fit learns from, and the seeded rows.

    Returns ``(sample, seeded_X, seeded_y)``: ``sample`` is ``X`` itself when
    it has at most ``max_samples`` rows, else ``max_samples`` rows drawn at
    random (sorted, for memory locality). Drawn with replacement: drawing
    without permutes all row indices (a quarter second on a 4 M-voxel
    volume), and a repeated row in 100 k changes no statistic that matters.
    """
    sample = X
    if X.shape[0] > max_samples:
        sample = X[np.sort(rng.integers(0, X.shape[0], max_samples))]
    if y is None:
        return sample, X[:0], np.zeros(0, np.int64)
    seeded = np.flatnonzero(y)
    return sample, X[seeded], y[seeded]


def _seed_means(Xs_seeded, y_seeded, seed_classes):
    return [Xs_seeded[y_seeded == c].mean(axis=0, dtype=np.float64) for c in seed_classes]


def _nearest_centre(S, centres):
    """Index of the nearest centre of every (already scaled) row."""
    ones = np.ones(S.shape[1])
    return _argmax_rows(S, _nearest_centre_rule(np.zeros_like(ones), ones, centres))


def _lloyd(S, centres, max_iter, tol):
    """Lloyd's k-means iterations on the scaled rows ``S``.

    Returns the centres and the iterations run; stops when no centre moves
    more than ``tol``. An emptied cluster keeps its centre.
    """
    n_clusters = centres.shape[0]
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - the count is returned
        assign = _nearest_centre(S, centres)
        counts = np.bincount(assign, minlength=n_clusters)
        new = np.zeros_like(centres)
        for j in range(S.shape[1]):
            new[:, j] = np.bincount(assign, S[:, j], minlength=n_clusters)
        empty = counts == 0
        new[~empty] /= counts[~empty, None]
        new[empty] = centres[empty]
        shift = np.abs(new - centres).max()
        centres = new
        if shift <= tol:
            break
    return centres, n_iter


def _kmeans_plusplus(X, centres, n_extra, rng):
    """Add ``n_extra`` centres by D² sampling, given ``centres`` (may be empty)."""
    centres = list(centres)
    if not centres:
        centres.append(X[rng.integers(X.shape[0])])
        n_extra -= 1
    for _ in range(n_extra):
        d = _sq_distances(X, np.asarray(centres, np.float32)).min(axis=1)
        total = d.sum()
        i = rng.choice(X.shape[0], p=d / total) if total > 0 else rng.integers(X.shape[0])
        centres.append(X[i])
    return np.asarray(centres, np.float32)


def _check_seed_y(X, y):
    """Seed classes of an unsupervised fit's optional ``y`` (0 = not seeded)."""
    if y is None:
        return None, np.array([], np.int64)
    y = np.asarray(y)
    if y.shape != (X.shape[0],):
        raise ValueError(
            f"y must have one label per row of X ({X.shape[0]}); got shape {y.shape}"
        )
    if not np.issubdtype(y.dtype, np.integer) and y.dtype != bool:
        raise TypeError(f"y must hold integer labels; got dtype {y.dtype}")
    if (y < 0).any():
        raise ValueError("seed labels must be >= 0 (0 = not seeded)")
    seeded = y > 0
    if not seeded.any():
        return None, np.array([], np.int64)
    return y, np.unique(y[seeded])


def _n_groups(name, value, seed_classes, n_samples):
    if value is None:
        value = max(seed_classes.size, 2)
    value = _check_int(name, value, 1)
    if value < max(seed_classes.size, 1):
        raise ValueError(
            f"{name}={value} is less than the {seed_classes.size} seed classes "
            f"painted; use {name} >= {max(seed_classes.size, 1)}"
        )
    if value > n_samples:
        raise ValueError(f"{name}={value} exceeds the {n_samples} pixels given")
    return value


def _group_labels(seed_classes, n):
    start = int(seed_classes.max()) + 1
    return np.concatenate([seed_classes, np.arange(start, start + n - seed_classes.size)])


class KMeansSegmenter(_NearestCentre, ClusterMixin, _Segmenter):
    """k-means clustering, seeded by the painted classes when there are any.

    With seeds, cluster ``i`` starts at the mean feature vector of seed class
    ``i``, so clusters keep the seeds' labels; extra clusters (when
    ``n_clusters`` exceeds the number of seed classes) start by k-means++
    and get labels after the largest seed label. Without seeds, clusters
    start by k-means++ and are labelled ``1..n_clusters`` in ascending order
    of their centre along the first feature (the intensity, in the stacks
    :func:`~napari_seglab.core.features.compute_features` makes).

    Parameters
    ----------
    n_clusters : int or None, default None
        Number of clusters; ``None`` means the number of seed classes, or 2
        without seeds.
    max_iter : int, default 100
        Lloyd iterations at most.
    tol : float, default 1e-4
        Stop when no centre moves more than ``tol`` (scaled units).
    max_samples : int, default 100_000
        Cluster a random subsample of at most this many pixels (the scaling
        is learned on it too), then assign every pixel to its nearest
        centre: the fit costs the same on a slice and on a volume, and live
        mode stays interactive.
    scale : bool, default True
        Standardise each feature (z-score over the pixels clustered).
    random_state : int, default 0
        Seed for subsampling and k-means++.

    Attributes
    ----------
    classes_ : ndarray
        Label of each cluster.
    cluster_centers_ : ndarray, shape (n_clusters, n_features)
        Centres in the scaled feature space.
    n_iter_ : int
        Iterations run.
    """

    unsupervised = True
    _state_spec = {**_SCALE_STATE, "cluster_centers_": ("f", ("K", "F"))}

    def __init__(
        self, n_clusters=None, max_iter=100, tol=1e-4, max_samples=100_000,
        scale=True, random_state=0,
    ):
        self.n_clusters = n_clusters
        self.max_iter = max_iter
        self.tol = tol
        self.max_samples = max_samples
        self.scale = scale
        self.random_state = random_state

    def fit(self, X, y=None):
        X = self._check_X(X, fitting=True)
        rng = np.random.default_rng(self.random_state)
        y, seed_classes = _check_seed_y(X, y)
        n_clusters = _n_groups("n_clusters", self.n_clusters, seed_classes, X.shape[0])
        max_samples = _check_int("max_samples", self.max_samples, n_clusters)

        sample, X_seeded, y_seeded = _fit_sample(X, y, max_samples, rng)
        self._fit_scaling(sample)
        sample = self._transform(sample)
        init = _seed_means(self._transform(X_seeded), y_seeded, seed_classes)
        centres = _kmeans_plusplus(sample, init, n_clusters - len(init), rng)

        centres, self.n_iter_ = _lloyd(sample, centres, int(self.max_iter), self.tol)

        if seed_classes.size:
            self.classes_ = _group_labels(seed_classes, n_clusters)
        else:
            order = np.argsort(centres[:, 0] * self.scale_[0] + self.mean_[0], kind="stable")
            centres = centres[order]
            self.classes_ = np.arange(1, n_clusters + 1)
        self.cluster_centers_ = centres.astype(np.float32)
        self.n_features_in_ = X.shape[1]
        return self

    def _centres(self):
        return self.cluster_centers_
