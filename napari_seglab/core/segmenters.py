"""Pixel classifiers with a scikit-learn-style interface.

Every segmenter has ``fit(X, y)``, ``predict(X)`` and ``get_params`` /
``set_params``; ``X`` is ``(n_samples, n_features)`` (one row per pixel)
and ``y`` holds label values.

Two kinds:

* supervised (``unsupervised = False``): ``fit`` sees only seeded pixels,
  ``y`` holds their labels (any integers; ``classes_`` keeps them).
* unsupervised (``unsupervised = True``, k-means and thresholds): ``fit``
  sees a sample of *all* pixels; ``y`` is optional and uses the project's
  seed convention, ``0`` = not seeded.
"""

from __future__ import annotations

import inspect

import numpy as np

__all__ = [
    "SEGMENTERS",
    "KMeansSegmenter",
    "KNNSegmenter",
    "NearestMeanSegmenter",
    "OtsuSegmenter",
    "NotFittedError",
    "make_segmenter",
]


class NotFittedError(ValueError, AttributeError):
    """Raised when predicting with a segmenter that has not been fitted."""


class _Segmenter:
    """get_params / set_params and shared checks (no BaseEstimator needed)."""

    unsupervised = False
    #: "features": X is the feature stack; "intensity": X is one column, the
    #: image intensity (mean over channels), and features are not computed.
    input = "features"

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self, deep=True) -> dict:
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        valid = self._param_names()
        for key, value in params.items():
            if key not in valid:
                raise TypeError(
                    f"{type(self).__name__} has no parameter {key!r}; "
                    f"its parameters are {', '.join(valid) or 'none'}"
                )
            setattr(self, key, value)
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _check_fitted(self):
        if not hasattr(self, "n_features_in_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(X, y) first"
            )

    def _check_X(self, X, *, fitting=False) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2:
            raise ValueError(
                f"X must be 2D (n_samples, n_features); got shape {X.shape}"
            )
        if fitting:
            if X.shape[0] == 0:
                raise ValueError("X has no samples; paint seeds first")
            if not np.isfinite(X).all():
                raise ValueError("X holds NaN or infinite values; drop those rows")
        else:
            self._check_fitted()
            if X.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has {X.shape[1]} features, but {type(self).__name__} was "
                    f"fitted with {self.n_features_in_}"
                )
        return X

    def _fit_scaling(self, X):
        if getattr(self, "scale", False):
            self.mean_ = X.mean(axis=0)
            std = X.std(axis=0)
            self.scale_ = np.where(std > 0, std, 1.0).astype(np.float32)
        else:
            self.mean_ = np.zeros(X.shape[1], np.float32)
            self.scale_ = np.ones(X.shape[1], np.float32)

    def _transform(self, X):
        return (X - self.mean_) / self.scale_


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
            f"({', '.join(map(str, classes))})"
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


class NearestMeanSegmenter(_Segmenter):
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
    """

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

    def _distances(self, X):
        X = self._check_X(X)
        return _sq_distances(self._transform(X), self.centroids_)

    def predict(self, X):
        return self.classes_[np.argmin(self._distances(X), axis=1)]

    def predict_proba(self, X):
        """Softmax of negative squared distances (a soft nearest mean)."""
        d = -0.5 * self._distances(X)
        d -= d.max(axis=1, keepdims=True)
        np.exp(d, out=d)
        d /= d.sum(axis=1, keepdims=True)
        return d


class KNNSegmenter(_Segmenter):
    """k-nearest-neighbour vote among the seeded pixels.

    Parameters
    ----------
    n_neighbors : int, default 5
        Number of neighbours that vote.
    weights : {"uniform", "distance"}, default "uniform"
        ``"distance"`` weighs each vote by the inverse distance.
    scale : bool, default True
        Standardise each feature (z-score from the training samples).

    Attributes
    ----------
    classes_ : ndarray
        Labels seen in ``fit``, sorted.
    X_, y_ : ndarray
        The scaled training samples and their class indices.
    """

    def __init__(self, n_neighbors=5, weights="uniform", scale=True):
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.scale = scale

    def fit(self, X, y):
        if isinstance(self.n_neighbors, bool) or not isinstance(
            self.n_neighbors, (int, np.integer)
        ):
            raise TypeError(f"n_neighbors must be an int; got {self.n_neighbors!r}")
        if self.n_neighbors < 1:
            raise ValueError(f"n_neighbors must be >= 1; got {self.n_neighbors}")
        if self.weights not in ("uniform", "distance"):
            raise ValueError(
                f"weights must be 'uniform' or 'distance'; got {self.weights!r}"
            )
        X = self._check_X(X, fitting=True)
        self.classes_, y_index = _check_supervised_y(X, y)
        self._fit_scaling(X)
        self.X_ = np.ascontiguousarray(self._transform(X), dtype=np.float32)
        self.y_ = y_index.astype(np.intp)
        self._X_sq = np.einsum("ij,ij->i", self.X_, self.X_)
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X, *, chunk_size=8192):
        """Fraction of (weighted) neighbour votes per class, ``(n, n_classes)``."""
        X = self._check_X(X)
        k = min(int(self.n_neighbors), self.X_.shape[0])
        n_classes = self.classes_.size
        proba = np.empty((X.shape[0], n_classes), np.float32)
        for start in range(0, X.shape[0], chunk_size):
            xs = self._transform(X[start : start + chunk_size])
            d = _sq_distances(xs, self.X_, self._X_sq)
            if k < d.shape[1]:
                idx = np.argpartition(d, k - 1, axis=1)[:, :k]
            else:
                idx = np.broadcast_to(np.arange(d.shape[1]), d.shape)
            votes = self.y_[idx]
            if self.weights == "distance":
                w = 1.0 / (np.sqrt(np.take_along_axis(d, idx, axis=1)) + 1e-12)
            else:
                w = np.ones(idx.shape, np.float32)
            p = np.zeros((xs.shape[0], n_classes), np.float32)
            rows = np.repeat(np.arange(xs.shape[0]), k)
            np.add.at(p, (rows, votes.ravel()), w.ravel())
            p /= p.sum(axis=1, keepdims=True)
            proba[start : start + chunk_size] = p
        return proba

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


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


class KMeansSegmenter(_Segmenter):
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
    max_samples : int, default 200_000
        Cluster a random subsample of at most this many pixels, then assign
        every pixel to its nearest centre (the result barely changes; the
        time drops on volumes).
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

    def __init__(
        self, n_clusters=None, max_iter=100, tol=1e-4, max_samples=200_000,
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
        seeded = None
        if y is not None:
            y = np.asarray(y)
            if y.shape != (X.shape[0],):
                raise ValueError(
                    f"y must have one label per row of X ({X.shape[0]}); got {y.shape}"
                )
            if (y < 0).any():
                raise ValueError("seed labels must be >= 0 (0 = not seeded)")
            seeded = y > 0
            if not seeded.any():
                seeded = None
        seed_classes = np.unique(y[seeded]) if seeded is not None else np.array([], int)
        n_clusters = self.n_clusters
        if n_clusters is None:
            n_clusters = max(seed_classes.size, 2)
        if isinstance(n_clusters, bool) or not isinstance(n_clusters, (int, np.integer)):
            raise TypeError(f"n_clusters must be an int; got {n_clusters!r}")
        if n_clusters < max(seed_classes.size, 1):
            raise ValueError(
                f"n_clusters={n_clusters} is less than the {seed_classes.size} seed "
                f"classes painted; use n_clusters >= {max(seed_classes.size, 1)}"
            )
        if n_clusters > X.shape[0]:
            raise ValueError(
                f"n_clusters={n_clusters} exceeds the {X.shape[0]} pixels given"
            )

        self._fit_scaling(X)
        Xs = self._transform(X)
        init = [Xs[y == c].mean(axis=0) for c in seed_classes]
        sample = Xs
        if Xs.shape[0] > self.max_samples:
            sample = Xs[rng.choice(Xs.shape[0], self.max_samples, replace=False)]
        centres = _kmeans_plusplus(sample, init, n_clusters - len(init), rng)

        for self.n_iter_ in range(1, int(self.max_iter) + 1):
            assign = np.argmin(_sq_distances(sample, centres), axis=1)
            counts = np.bincount(assign, minlength=n_clusters)
            new = np.zeros_like(centres)
            for j in range(sample.shape[1]):
                new[:, j] = np.bincount(assign, sample[:, j], minlength=n_clusters)
            empty = counts == 0
            new[~empty] /= counts[~empty, None]
            new[empty] = centres[empty]  # an empty cluster keeps its centre
            shift = np.abs(new - centres).max()
            centres = new
            if shift <= self.tol:
                break

        if seed_classes.size:
            start = int(seed_classes.max()) + 1
            extra = np.arange(start, start + n_clusters - seed_classes.size)
            self.classes_ = np.concatenate([seed_classes, extra])
        else:
            order = np.argsort(centres[:, 0] * self.scale_[0] + self.mean_[0], kind="stable")
            centres = centres[order]
            self.classes_ = np.arange(1, n_clusters + 1)
        self.cluster_centers_ = centres.astype(np.float32)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X, *, chunk_size=65536):
        X = self._check_X(X)
        out = np.empty(X.shape[0], self.classes_.dtype)
        for start in range(0, X.shape[0], chunk_size):
            d = _sq_distances(self._transform(X[start : start + chunk_size]),
                              self.cluster_centers_)
            out[start : start + chunk_size] = self.classes_[np.argmin(d, axis=1)]
        return out


class OtsuSegmenter(_Segmenter):
    """Otsu's threshold on the intensity (the first column of X).

    Without seeds, pixels at or below the threshold get label 1 and those
    above get 2. With two seed classes, the class whose seeds are brighter
    (higher mean) gets the pixels above the threshold.

    Attributes
    ----------
    threshold_ : float
    classes_ : ndarray, shape (2,)
        ``[label below, label above]``.
    """

    unsupervised = True
    input = "intensity"

    def __init__(self):
        pass

    def fit(self, X, y=None):
        from skimage.filters import threshold_otsu

        X = self._check_X(X, fitting=True)
        values = X[:, 0]
        if values.min() == values.max():
            raise ValueError(
                f"the image is uniform (every pixel is {values.min():g}); "
                "a threshold cannot split it"
            )
        self.threshold_ = float(threshold_otsu(values))
        self.classes_ = np.array([1, 2])
        if y is not None:
            y = np.asarray(y)
            seeded = y > 0
            seed_classes = np.unique(y[seeded])
            if seed_classes.size == 1 or seed_classes.size > 2:
                raise ValueError(
                    f"Otsu splits pixels in two: paint seeds of exactly two classes "
                    f"(or none); got {seed_classes.size} "
                    f"({', '.join(map(str, seed_classes))})"
                )
            if seed_classes.size == 2:
                means = [values[y == c].mean() for c in seed_classes]
                self.classes_ = seed_classes[np.argsort(means, kind="stable")]
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X):
        X = self._check_X(X)
        return self.classes_[(X[:, 0] > self.threshold_).astype(np.intp)]


#: method name -> segmenter class, as ``napari_seglab.segment(method=...)`` takes it.
SEGMENTERS = {
    "knn": KNNSegmenter,
    "nearest_mean": NearestMeanSegmenter,
    "kmeans": KMeansSegmenter,
    "otsu": OtsuSegmenter,
}


def make_segmenter(method: str, **params):
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
