"""Pixel classifiers with a scikit-learn-style interface.

Every segmenter has ``fit(X, y)``, ``predict(X)`` and ``get_params`` /
``set_params``; ``X`` is ``(n_samples, n_features)`` (one row per pixel)
and ``y`` holds label values.

Two kinds:

* supervised (``unsupervised = False``): ``fit`` sees only seeded pixels,
  ``y`` holds their labels (any integers; ``classes_`` keeps them).
* unsupervised (``unsupervised = True``, k-means, Gaussian mixture and
  thresholds): ``fit`` sees a sample of *all* pixels; ``y`` is optional and
  uses the project's seed convention, ``0`` = not seeded.

Every fitted segmenter also has ``predict_proba(X)``, shaped
``(n_samples, n_classes)``, columns in ``classes_`` order, rows summing to 1,
``argmax`` agreeing with ``predict``.

What ``X`` is depends on the class attribute ``input``:

* ``"features"``: the feature stack, one row per pixel;
* ``"intensity"``: one column, the image intensity (mean over channels);
* ``"image"``: the intensity *image* itself (2D or 3D, spatial), for
  spatial methods (local threshold); ``y`` is then a seed image of the same
  shape and ``predict`` returns a label image.

A segmenter's fitted state is plain arrays (:meth:`_Segmenter.get_state`,
``set_state``), so it can be saved without pickle (see
:mod:`napari_seglab.core.model_io`); the random forest is the exception
(``refit_on_load = True``): it is refitted from its training samples.
"""

from __future__ import annotations

import functools
import inspect

import numpy as np

__all__ = [
    "SEGMENTERS",
    "THRESHOLD_METHODS",
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
    "RandomForestSegmenter",
    "ThresholdSegmenter",
    "TriangleSegmenter",
    "YenSegmenter",
    "make_segmenter",
    "try_all_thresholds",
    "uncertainty",
]


class NotFittedError(ValueError, AttributeError):
    """Raised when predicting with a segmenter that has not been fitted."""


class _Segmenter:
    """get_params / set_params, state arrays and shared checks."""

    unsupervised = False
    #: "features": X is the feature stack; "intensity": X is one column, the
    #: image intensity (mean over channels), and features are not computed;
    #: "image": X is the spatial intensity image.
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
    #: Fitted attributes that make the state: name -> (dtype kind, shape).
    #: Shapes use "K" (classes), "F" (features) or other letters (any size,
    #: the same wherever the letter recurs).
    _state_spec = {}

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
            for letter, n in zip(shape, a.shape):
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

    def _rule(self):
        return _nearest_centre_rule(self.mean_, self.scale_, self.centroids_)

    def predict(self, X):
        X = self._check_X(X)
        return self.classes_[_argmax_rows(X, self._rule())]

    def predict_proba(self, X):
        """Softmax of negative half squared distances (a soft nearest mean)."""
        X = self._check_X(X)
        return _softmax_rows(X, self._rule())


#: kNN routes "auto" takes: the certified grid up to this many features,
#: scikit-learn's tree above. Measured (kNN k=5, 512² phantoms and
#: MRBrainS T1+T2): the grid (whose leftovers go to the k-d tree) beat
#: scikit-learn 2-30x at 4-8 features (6x at 12 on a phantom) and the k-d
#: tree 1.2-25x; at 21 features scikit-learn's tree was 1.8x faster.
_GRID_MAX_FEATURES = 8
#: Edge of the first level's grid cells in units of the training samples'
#: RMS spread (z-scores when ``scale``); each further level divides it by 4
#: and bins only the rows still uncertified. Coarse cells are few and
#: certify the bulk of a class; fine ones reach closer to class boundaries
#: (a 512² KESM slice with 880 samples: 51 % certified at 0.2, 95 % at 0.05).
_GRID_CELL = 0.2
_GRID_LEVELS = 3
#: Certifying a cell costs about this many exact row queries (a k-neighbour
#: query and a radius count, from a centre that may lie off the data): only
#: cells holding at least this many rows are certified; the rows of the
#: others go on to the next level or the k-d tree.
_GRID_CELL_COST = 4
#: Largest dense table of cells (int32 entries); beyond it cells are found by
#: sorting the rows' cell keys.
_GRID_TABLE_MAX = 1 << 22
#: Fewer rows than this go straight to the k-d tree (the grid's fixed costs
#: would not pay off).
_GRID_MIN_ROWS = 4096
#: Smaller k-d tree queries run on one thread.
_PARALLEL_MIN_QUERIES = 16384


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
    algorithm : {"auto", "grid", "kdtree", "sklearn", "brute"}, default "auto"
        How neighbours are found; all are exact (they differ from
        scikit-learn's ``KNeighborsClassifier`` only at exact distance
        ties).

        * ``"grid"``: rows are binned into cubic cells of the scaled
          feature space and each occupied cell's centre is queried once: a
          cell is *certified* when, for every point it can hold, all ``k``
          neighbours are of one class (the nearest sample of any other
          class is farther from the centre than that class's ``k``-th
          nearest plus the cell's diagonal). Certified rows get that class
          (probability 1, as the exact vote gives); the others are binned
          again in cells 4× smaller (up to 3 levels; only cells holding 4
          rows or more are queried), and what is left is searched with the
          k-d tree, so labels and probabilities equal ``"kdtree"``'s.
          Images have few distinct feature values at cell scale and most
          pixels lie far from class boundaries: 99.5 % of a 512² phantom
          slice is certified from about 450 cell queries.
        * ``"kdtree"``: :class:`scipy.spatial.cKDTree` queried on all cores,
          fast in low dimension (2-3× scikit-learn at 2 features).
        * ``"sklearn"``: :class:`sklearn.neighbors.NearestNeighbors` (its
          tree copes better with 20 features and more).
        * ``"brute"``: float32 distances by matrix product in chunks and
          ``argpartition``.
        * ``"auto"``: the grid up to 8 features, scikit-learn above.

    Attributes
    ----------
    classes_ : ndarray
        Labels seen in ``fit``, sorted.
    X_, y_ : ndarray
        The scaled training samples and their class indices.
    """

    _state_spec = {**_SCALE_STATE, "X_": ("f", ("N", "F")), "y_": ("iu", ("N",))}

    def __init__(self, n_neighbors=5, weights="uniform", scale=True, algorithm="auto"):
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.scale = scale
        self.algorithm = algorithm

    def _check_params(self):
        _check_int("n_neighbors", self.n_neighbors, 1)
        _check_choice("weights", self.weights, ("uniform", "distance"))
        _check_choice("algorithm", self.algorithm,
                      ("auto", "grid", "kdtree", "sklearn", "brute"))

    def fit(self, X, y):
        self._check_params()
        X = self._check_X(X, fitting=True)
        self.classes_, y_index = _check_supervised_y(X, y)
        self._fit_scaling(X)
        self.X_ = np.ascontiguousarray(self._transform(X), dtype=np.float32)
        self.y_ = y_index.astype(np.intp)
        self.n_features_in_ = X.shape[1]
        self._after_set_state()
        return self

    def _after_set_state(self):
        self._check_params()
        if self.y_.size and (self.y_.min() < 0 or self.y_.max() >= self.classes_.size):
            raise ValueError("state 'y_' holds class indices outside classes_")
        self.X_ = np.ascontiguousarray(self.X_, dtype=np.float32)
        self.y_ = self.y_.astype(np.intp)
        self._X_sq = np.einsum("ij,ij->i", self.X_, self.X_)
        # Search structures are rebuilt on first use (never saved).
        self._tree = None
        self._other_class_trees = None

    @property
    def algorithm_(self):
        """The route ``predict`` takes ("grid", "kdtree", "sklearn" or "brute")."""
        if self.algorithm != "auto":
            return self.algorithm
        return "grid" if self.n_features_in_ <= _GRID_MAX_FEATURES else "sklearn"

    def kneighbors(self, X, *, chunk_size=8192):
        """Squared distances and indices of the ``k`` nearest training samples.

        The ``"grid"`` route answers this with the k-d tree (cells certify
        votes, not neighbours).
        """
        X = self._check_X(X)
        return self._kneighbors_scaled(self._transform(X), chunk_size=chunk_size)

    def _kneighbors_scaled(self, Xs, *, chunk_size=8192):
        k = min(int(self.n_neighbors), self.X_.shape[0])
        route = self.algorithm_
        if route in ("kdtree", "grid"):
            d, idx = self._kdtree().query(Xs, k=k, workers=_workers(Xs.shape[0]))
            d = np.square(d, dtype=np.float32)
            if k == 1:
                d, idx = d[:, None], idx[:, None]
            return d, idx
        if route == "sklearn":
            from sklearn.neighbors import NearestNeighbors

            if self._tree is None:
                self._tree = NearestNeighbors(n_neighbors=k, n_jobs=-1).fit(self.X_)
            d, idx = self._tree.kneighbors(Xs, k)
            return np.square(d, dtype=np.float32), idx
        dist = np.empty((Xs.shape[0], k), np.float32)
        index = np.empty((Xs.shape[0], k), np.intp)
        for start in range(0, Xs.shape[0], chunk_size):
            d = _sq_distances(Xs[start : start + chunk_size], self.X_, self._X_sq)
            if k < d.shape[1]:
                idx = np.argpartition(d, k - 1, axis=1)[:, :k]
            else:
                idx = np.broadcast_to(np.arange(d.shape[1]), d.shape)
            dist[start : start + chunk_size] = np.take_along_axis(d, idx, axis=1)
            index[start : start + chunk_size] = idx
        return dist, index

    def _kdtree(self):
        from scipy.spatial import cKDTree

        if self._tree is None:
            self._tree = cKDTree(self.X_.astype(np.float64))
        return self._tree

    def _vote(self, d, idx):
        """Fraction of (weighted) neighbour votes per class, ``(n, n_classes)``."""
        votes = self.y_[idx]
        n_classes = self.classes_.size
        proba = np.zeros((idx.shape[0], n_classes), np.float32)
        if self.weights == "distance":
            w = 1.0 / (np.sqrt(d) + 1e-6)
            for c in range(n_classes):
                proba[:, c] = np.where(votes == c, w, 0).sum(axis=1)
        else:
            for c in range(n_classes):
                proba[:, c] = np.count_nonzero(votes == c, axis=1)
        proba /= proba.sum(axis=1, keepdims=True)
        return proba

    def _certified(self, X):
        """Class index of every row the grid certifies (-1 for the others).

        ``X`` is checked but not scaled. On routes other than ``"grid"``,
        and for few rows, nothing is certified.
        """
        certified = np.full(X.shape[0], -1, np.intp)
        if self.algorithm_ != "grid":
            return certified
        rows = None  # all of them
        cell = self._grid_cell()
        for _ in range(_GRID_LEVELS):
            part = X if rows is None else X[rows]
            if part.shape[0] < _GRID_MIN_ROWS:
                break
            cells = _grid_cells(part, self.mean_, self.scale_, cell, self.X_)
            if cells is None:
                break
            cell_of_row, centres, half_diagonal = cells
            occupancy = np.bincount(cell_of_row + 1, minlength=centres.shape[0] + 1)[1:]
            worth = np.flatnonzero(occupancy >= _GRID_CELL_COST)
            if worth.size == 0:
                break
            cell_class = np.full(centres.shape[0], -1, np.intp)
            cell_class[worth] = self._certify_cells(centres[worth], half_diagonal)
            # Rows outside the grid (cell -1) pick the trailing -1.
            got = np.append(cell_class, -1)[cell_of_row]
            if rows is None:
                certified, rows = got, np.flatnonzero(got < 0)
            else:
                certified[rows] = got
                rows = rows[got < 0]
            cell /= 4
        return certified

    def _grid_cell(self):
        """Cell edge in scaled units: ``_GRID_CELL`` times the samples' RMS spread."""
        spread = float(np.sqrt(self.X_.var(axis=0).mean()))
        return _GRID_CELL * (spread if spread > 0 else 1.0)

    def _certify_cells(self, centres, half_diagonal):
        """Per cell, the class all ``k`` neighbours of its every point share, or -1.

        A cell whose centre's ``k`` neighbours are all of class ``L``, the
        ``k``-th at distance ``r``, is certified when no sample of another
        class lies within ``r + 2 * half_diagonal`` of the centre: moving
        within the cell, the ``k``-th class-``L`` distance grows and every
        other distance shrinks by at most the half-diagonal.
        """
        from scipy.spatial import cKDTree

        k = min(int(self.n_neighbors), self.X_.shape[0])
        d, idx = self._kdtree().query(centres, k=k, workers=_workers(centres.shape[0]))
        d, idx = d.reshape(-1, k), idx.reshape(-1, k)
        votes = self.y_[idx]
        cell_class = np.where((votes == votes[:, :1]).all(axis=1), votes[:, 0], -1)
        if self._other_class_trees is None:
            # One tree per class of the samples of every *other* class: a
            # radius count in it answers "anyone else that close?". (Nearest
            # per-class queries from far-away centres were 10x slower in 8D.)
            self._other_class_trees = [
                cKDTree(self.X_[self.y_ != c].astype(np.float64))
                for c in range(self.classes_.size)]
        radius = d[:, -1] + 2 * half_diagonal
        for c, others in enumerate(self._other_class_trees):
            cells = np.flatnonzero(cell_class == c)
            if cells.size and others.n:
                close = others.query_ball_point(centres[cells], radius[cells],
                                                return_length=True,
                                                workers=_workers(cells.size))
                cell_class[cells[close > 0]] = -1
        return cell_class

    def predict_proba(self, X):
        """Fraction of (weighted) neighbour votes per class, ``(n, n_classes)``."""
        X = self._check_X(X)
        certified = self._certified(X)
        proba = np.zeros((X.shape[0], self.classes_.size), np.float32)
        done = np.flatnonzero(certified >= 0)
        proba[done, certified[done]] = 1
        rest = np.flatnonzero(certified < 0)
        if rest.size:
            proba[rest] = self._vote(*self._kneighbors_scaled(self._transform(X[rest])))
        return proba

    def predict(self, X):
        X = self._check_X(X)
        certified = self._certified(X)
        rest = np.flatnonzero(certified < 0)
        if rest.size:
            votes = self._vote(*self._kneighbors_scaled(self._transform(X[rest])))
            certified[rest] = np.argmax(votes, axis=1)
        return self.classes_[certified]


def _workers(n_queries):
    """Threads for a k-d tree query: all cores unless it is too small to pay
    for starting them (a few thousand queries take well under a millisecond)."""
    return -1 if n_queries >= _PARALLEL_MIN_QUERIES else 1


def _grid_cells(X, mean, scale, cell, X_train):
    """Bin rows into cubic cells of the scaled feature space.

    Parameters
    ----------
    X : ndarray of float32, shape (n, F)
        Unscaled rows.
    mean, scale : ndarray, shape (F,)
        The scaling, ``(X - mean) / scale``.
    cell : float
        Cell edge in scaled units.
    X_train : ndarray, shape (N, F)
        Scaled training samples: the grid spans their range widened by that
        range (plus 10 cells) on each side; rows outside get no cell.

    Returns
    -------
    cell_of_row : ndarray of int, shape (n,)
        Index into ``centres``; -1 for rows outside the grid.
    centres : ndarray of float64, shape (m, F)
        Centres of the occupied cells (scaled units).
    half_diagonal : float
        Bound on the distance from a row to its cell's centre, with a
        margin for float32 rounding.

    None when the cell keys would not be exact in float64.
    """
    n, n_features = X.shape
    a = 1.0 / (scale.astype(np.float64) * cell)
    b = mean * a
    # One contiguous row per feature, so that every step below is a scalar
    # operation over n values (a length-F vector broadcast over (n, F)
    # rows costs ten times as much).
    q = np.empty((n_features, n), np.float32)
    for j in range(n_features):
        np.multiply(X[:, j], np.float32(a[j]), out=q[j])
        q[j] -= np.float32(b[j])
    np.floor(q, out=q)  # cell coordinates
    lo, hi = q.min(axis=1), q.max(axis=1)
    train_lo = np.floor(X_train.min(axis=0) / cell)
    train_hi = np.floor(X_train.max(axis=0) / cell)
    width = train_hi - train_lo + 10
    box_lo = np.maximum(lo, train_lo - width)
    box_hi = np.minimum(hi, train_hi + width)
    outside = np.zeros(n, bool)
    for j in np.flatnonzero((lo < box_lo) | (hi > box_hi)):
        outside |= (q[j] < box_lo[j]) | (q[j] > box_hi[j])
        np.clip(q[j], box_lo[j], box_hi[j], out=q[j])
    extent = box_hi - box_lo + 1
    size = float(np.prod(extent))
    if size >= 2.0**53:
        return None
    # Row-major cell key, accumulated in floats (exact below 2**24 resp. 2**53).
    key = np.zeros(n, np.float32 if size <= 2.0**24 else np.float64)
    for j in range(n_features):
        q[j] -= np.float32(box_lo[j])
        key *= key.dtype.type(extent[j])
        key += q[j]
    keys = key.astype(np.intp)
    shape = tuple(int(e) for e in extent)
    if size <= _GRID_TABLE_MAX:
        occupied = np.zeros(int(size), bool)
        occupied[keys] = True
        cell_keys = np.flatnonzero(occupied)
        table = np.empty(int(size), np.int32)
        table[cell_keys] = np.arange(cell_keys.size, dtype=np.int32)
        cell_of_row = table[keys]
    else:
        cell_keys, cell_of_row = np.unique(keys, return_inverse=True)
        cell_of_row = cell_of_row.ravel()
    cell_of_row[outside] = -1
    centres = (np.stack(np.unravel_index(cell_keys, shape), axis=1)
               + box_lo + 0.5) * cell
    # Rows were binned with float32 arithmetic: allow for its rounding, far
    # above float32's 6e-8 relative error at these magnitudes.
    magnitude = cell * (max(np.abs(box_lo).max(), np.abs(box_hi).max()) + 1
                        + np.abs(b).max())
    half_diagonal = 0.5 * cell * np.sqrt(n_features) + 1e-5 * (1 + magnitude)
    return cell_of_row, centres, float(half_diagonal)


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
    for n_iter in range(1, max_iter + 1):
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


def _precision_cholesky(covariances):
    """Cholesky factors ``P`` of the precisions, ``(x - m) @ P`` whitening."""
    try:
        chol = np.linalg.cholesky(covariances)
    except np.linalg.LinAlgError:
        raise ValueError(
            "a mixture component's covariance is not positive definite (a "
            "component collapsed onto too few distinct pixels); increase reg_covar"
        ) from None
    return np.linalg.inv(chol).transpose(0, 2, 1)


def _gaussian_rule(mean, scale, means, precisions_cholesky, weights):
    """Log-density of every component as ``const - ½‖x @ W + b‖²`` per block.

    Returns ``(rule, const)``: ``rule`` scores all components with one
    matrix product, ``(n, n_components * n_features)``; ``const`` holds each
    component's log weight, log determinant and normalisation.
    """
    n_components, n_features = np.shape(means)
    pc = np.asarray(precisions_cholesky, np.float64)
    W = pc.transpose(1, 0, 2).reshape(n_features, n_components * n_features)
    b = -np.einsum("kf,kfg->kg", np.asarray(means, np.float64), pc).reshape(-1)
    const = (np.log(np.diagonal(pc, axis1=1, axis2=2)).sum(axis=1)
             + np.log(np.asarray(weights, np.float64))
             - 0.5 * n_features * np.log(2 * np.pi))
    return _fold_scaling(mean, scale, W, b), const.astype(np.float32)


def _gaussian_log_prob_blocks(X, rule, const):
    """Yield ``(rows slice, weighted log-density under every component)``."""
    n_features = rule[1].shape[1] // const.size
    # -½ times the sum of each component's squares, as a product: numpy's
    # sum over a short last axis is several times slower.
    half_sum = np.kron(np.eye(const.size, dtype=np.float32),
                       np.full((n_features, 1), -0.5, np.float32))
    for rows, z in _linear_scores(X, *rule):
        z *= z
        block = z @ half_sum
        block += const
        yield rows, block


def _gaussian_log_prob(X, rule, const):
    """Weighted log-density of every row under every component (float32)."""
    out = np.empty((X.shape[0], const.size), np.float32)
    for rows, block in _gaussian_log_prob_blocks(X, rule, const):
        out[rows] = block
    return out


class _Moments:
    """Responsibility-weighted sums of rows and of their squares, by block.

    Every sum is a matrix product: numpy's ``sum(axis=0)`` of a narrow
    float32 block is several times slower. The rows should be centred (the
    EM centres its sample), so that ``E[x x'] - m m'`` loses little.
    ``mixture`` turns the sums into weights, means and covariances
    (scikit-learn's M-step).
    """

    def __init__(self, n_components, n_features, diagonal):
        self.diagonal = diagonal
        self.nk = np.zeros(n_components)
        self.first = np.zeros((n_components, n_features))
        self.second = np.zeros((n_components, n_features) if diagonal
                               else (n_components, n_features, n_features))

    def add(self, block, resp):
        self.nk += np.ones(block.shape[0], np.float32) @ resp
        self.first += resp.T @ block
        if self.diagonal:
            self.second += resp.T @ (block * block)
        else:
            for k in range(resp.shape[1]):
                self.second[k] += (block * resp[:, k : k + 1]).T @ block

    def mixture(self, reg_covar):
        """``(weights, means, covariances)``; a tiny floor keeps an emptied
        component finite (as scikit-learn's ``10 * eps``)."""
        nk = self.nk + 10 * np.finfo(np.float32).eps
        means = self.first / nk[:, None]
        if self.diagonal:
            var = np.maximum(self.second / nk[:, None] - means**2, 0)
            covariances = np.stack([np.diag(v) for v in var])
        else:
            covariances = (self.second / nk[:, None, None]
                           - means[:, :, None] * means[:, None, :])
        n_features = means.shape[1]
        covariances[:, np.arange(n_features), np.arange(n_features)] += reg_covar
        return nk / nk.sum(), means, covariances


def _gaussian_mixture_em(S, means, covariances, weights, *, diagonal, reg_covar,
                         tol, max_iter):
    """EM on the scaled float32 sample ``S``, from the given start.

    Block by block, the E-step is one float32 matrix product
    (``_gaussian_rule``) and the M-step's sums follow on the same rows.
    Stops when the mean log-likelihood changes by less than ``tol``
    (scikit-learn's ``GaussianMixture`` rule).

    Returns ``(means, precisions_cholesky, weights, n_iter, converged)``.
    """
    n_features = S.shape[1]
    identity = (np.zeros(n_features), np.ones(n_features))
    # Centred rows: the M-step's E[x x'] - m m' then keeps its digits.
    centre = S.mean(axis=0, dtype=np.float64)
    S = S - centre.astype(np.float32)
    means = np.asarray(means, np.float64) - centre
    precisions_cholesky = _precision_cholesky(covariances)
    bound = -np.inf
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        rule, const = _gaussian_rule(*identity, means, precisions_cholesky, weights)
        moments = _Moments(*means.shape, diagonal)
        log_likelihood = 0.0
        for rows, log_prob in _gaussian_log_prob_blocks(S, rule, const):
            # Column-wise max and sum: numpy reduces a short last axis slowly.
            top = functools.reduce(np.maximum, log_prob.T)
            log_prob -= top[:, None]
            resp = np.exp(log_prob, out=log_prob)
            total = functools.reduce(np.add, resp.T)
            log_likelihood += float(np.sum(top + np.log(total), dtype=np.float64))
            resp /= total[:, None]
            moments.add(S[rows], resp)
        weights, means, covariances = moments.mixture(reg_covar)
        precisions_cholesky = _precision_cholesky(covariances)
        new_bound = log_likelihood / S.shape[0]
        if abs(new_bound - bound) < tol:
            converged = True
            break
        bound = new_bound
    return means + centre, precisions_cholesky, weights, n_iter, converged


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

    def _rule(self):
        return _nearest_centre_rule(self.mean_, self.scale_, self.cluster_centers_)

    def predict(self, X):
        X = self._check_X(X)
        return self.classes_[_argmax_rows(X, self._rule())]

    def predict_proba(self, X):
        """Softmax of negative half squared distances to the centres."""
        X = self._check_X(X)
        return _softmax_rows(X, self._rule())


class GaussianMixtureSegmenter(_Segmenter):
    """Gaussian mixture model (EM), seeded by the painted classes.

    With seeds, component ``i`` starts from the mean and covariance of seed
    class ``i`` and keeps its label; extra components start at k-means++
    points with unit covariance and get labels after the largest seed.
    Without seeds, components start from k-means (k-means++ centres, then
    Lloyd iterations, as :class:`sklearn.mixture.GaussianMixture` does by
    default) and are labelled ``1..n`` by ascending mean of the first
    feature (the intensity). EM (scikit-learn's updates and stopping rule,
    in float32 matrix products) runs on a random subsample of at most
    ``max_samples`` pixels, which also gives the scaling; prediction scores
    every component with one matrix product per block of pixels.

    On smooth MR-like phantoms with the "smooth" features the mixture scores
    lower than k-means (mean Dice 0.82 on an 80³ phantom, k-means 0.98;
    0.89 and 0.99 at 160³). Not a start problem (a k-means start ends the
    same) nor the small class: the background's smoothed features barely
    vary inside it (sd 0.06 z at σ 1.6 and 3.5), so its component is
    narrow, and background voxels a few voxels from any border, where wide
    Gaussians carry some tissue, fit the broad tissue component better
    (98 % of the errors; that component takes 37 % of the volume, truth
    21 %). The classes are not Gaussian in those features. ``"diag"``
    reaches 0.94 there, the "minimal" features (no wide Gaussians) 0.93.

    Parameters
    ----------
    n_components : int or None, default None
        ``None`` = the number of seed classes, or 2 without seeds.
    covariance_type : {"full", "diag"}, default "full"
    max_iter : int, default 100
    tol : float, default 1e-3
    reg_covar : float, default 1e-4
        Added to the covariance diagonals (in scaled units).
    max_samples : int, default 50_000
        Pixels EM sees at most (a random subsample, ``random_state``).
    scale : bool, default True
    random_state : int, default 0

    Attributes
    ----------
    means_ : ndarray, shape (n_components, n_features)
    precisions_cholesky_ : ndarray, shape (n_components, n_features, n_features)
        Cholesky factors of the precisions (full matrices, also for "diag").
    weights_ : ndarray, shape (n_components,)
    converged_ : bool
    """

    unsupervised = True
    _state_spec = {
        **_SCALE_STATE,
        "means_": ("f", ("K", "F")),
        "precisions_cholesky_": ("f", ("K", "F", "F")),
        "weights_": ("f", ("K",)),
    }

    def __init__(self, n_components=None, covariance_type="full", max_iter=100,
                 tol=1e-3, reg_covar=1e-4, max_samples=50_000, scale=True,
                 random_state=0):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.max_iter = max_iter
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_samples = max_samples
        self.scale = scale
        self.random_state = random_state

    def fit(self, X, y=None):
        _check_choice("covariance_type", self.covariance_type, ("full", "diag"))
        X = self._check_X(X, fitting=True)
        y, seed_classes = _check_seed_y(X, y)
        n = _n_groups("n_components", self.n_components, seed_classes, X.shape[0])
        max_samples = _check_int("max_samples", self.max_samples, n)
        max_iter = _check_int("max_iter", self.max_iter, 1)
        diagonal = self.covariance_type == "diag"
        rng = np.random.default_rng(self.random_state)
        sample, X_seeded, y_seeded = _fit_sample(X, y, max_samples, rng)
        self._fit_scaling(sample)
        sample = self._transform(sample)
        n_features = X.shape[1]
        if seed_classes.size:
            Xs_seeded = self._transform(X_seeded).astype(np.float64)
            means = _seed_means(Xs_seeded, y_seeded, seed_classes)
            covariances = []
            for c in seed_classes:
                members = Xs_seeded[y_seeded == c]
                cov = (np.cov(members, rowvar=False).reshape(n_features, n_features)
                       if members.shape[0] > 1 else np.zeros((n_features,) * 2))
                # A stroke covers little of its class: widen its variances.
                var = np.diag(cov) + self.reg_covar + 1e-2
                covariances.append(cov - np.diag(np.diag(cov)) + np.diag(var)
                                   if not diagonal else np.diag(var))
            extra = _kmeans_plusplus(sample, means, n - seed_classes.size,
                                     rng)[seed_classes.size:]
            means = np.concatenate([np.asarray(means), extra]) if extra.size else \
                np.asarray(means)
            covariances = np.concatenate(
                [np.asarray(covariances), np.broadcast_to(np.eye(n_features),
                                                          (len(extra),) + (n_features,) * 2)])
            weights = np.full(n, 1.0 / n)
        else:
            # k-means (k-means++, then Lloyd), each pixel given to its cluster:
            # scikit-learn's default start. k-means++ centres alone missed
            # the 1 % fluid class of a 128² phantom for one random_state.
            centres, _ = _lloyd(sample, _kmeans_plusplus(sample, [], n, rng), max_iter,
                                1e-4)
            centre = sample.mean(axis=0)
            moments = _Moments(n, n_features, diagonal)
            moments.add(sample - centre,
                        np.eye(n, dtype=np.float32)[_nearest_centre(sample, centres)])
            weights, means, covariances = moments.mixture(self.reg_covar)
            means += centre
        means, pc, weights, self.n_iter_, self.converged_ = _gaussian_mixture_em(
            sample, means, covariances, weights, diagonal=diagonal,
            reg_covar=self.reg_covar, tol=self.tol, max_iter=max_iter)
        means, pc, weights = (a.astype(np.float32) for a in (means, pc, weights))
        if seed_classes.size:
            self.classes_ = _group_labels(seed_classes, n)
        else:
            order = np.argsort(means[:, 0], kind="stable")
            means, pc, weights = means[order], pc[order], weights[order]
            self.classes_ = np.arange(1, n + 1)
        self.means_, self.precisions_cholesky_, self.weights_ = means, pc, weights
        self.n_features_in_ = n_features
        return self

    def _after_set_state(self):
        if (self.weights_ <= 0).any():
            raise ValueError("state 'weights_' must be positive")
        diag = np.diagonal(self.precisions_cholesky_, axis1=1, axis2=2)
        if (diag <= 0).any():
            raise ValueError("state 'precisions_cholesky_' must have a positive diagonal")

    def _log_resp(self, X):
        X = self._check_X(X)
        return _gaussian_log_prob(X, *_gaussian_rule(
            self.mean_, self.scale_, self.means_, self.precisions_cholesky_, self.weights_))

    def predict(self, X):
        d = self._log_resp(X)
        return self.classes_[np.argmax(d, axis=1)]

    def predict_proba(self, X):
        """Posterior probability of each component."""
        return _softmax(self._log_resp(X))


class RandomForestSegmenter(_Segmenter):
    """Random forest (:class:`sklearn.ensemble.RandomForestClassifier`).

    Trees are depth-limited so that prediction stays fast; classes are
    weighted inversely to their seed counts. The fitted forest is not plain
    arrays: a saved model keeps the training samples and refits on load
    (deterministic with ``random_state``).

    Parameters
    ----------
    n_estimators : int, default 50
    max_depth : int or None, default 10
    min_samples_leaf : int, default 1
    max_features : {"sqrt", "log2"}, int, float or None, default "sqrt"
    class_weight : {"balanced", "balanced_subsample"} or None, default "balanced"
    n_jobs : int, default -1
        Threads for fitting and prediction (-1 = all cores).
    random_state : int, default 0

    Attributes
    ----------
    classes_ : ndarray
    estimator_ : RandomForestClassifier
    """

    refit_on_load = True
    default_features = "default"  # the full bank: trees choose

    def __init__(self, n_estimators=50, max_depth=10, min_samples_leaf=1,
                 max_features="sqrt", class_weight="balanced", n_jobs=-1,
                 random_state=0):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.class_weight = class_weight
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X, y):
        from sklearn.ensemble import RandomForestClassifier

        _check_int("n_estimators", self.n_estimators, 1)
        if self.max_depth is not None:
            _check_int("max_depth", self.max_depth, 1)
        _check_choice("class_weight", self.class_weight,
                      ("balanced", "balanced_subsample", None))
        X = self._check_X(X, fitting=True)
        self.classes_, y_index = _check_supervised_y(X, y)
        self.estimator_ = RandomForestClassifier(
            n_estimators=int(self.n_estimators), max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf, max_features=self.max_features,
            class_weight=self.class_weight, n_jobs=self.n_jobs,
            random_state=self.random_state,
        ).fit(X, y_index)
        self.n_features_in_ = X.shape[1]
        return self

    def get_state(self):
        raise TypeError("a random forest is not plain arrays; refit it from its "
                        "training samples (refit_on_load = True)")

    def set_state(self, state):
        self.get_state()

    def predict_proba(self, X):
        X = self._check_X(X)
        return self.estimator_.predict_proba(X).astype(np.float32)

    def predict(self, X):
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


# --------------------------------------------------------------------------
# Thresholds


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


class ThresholdSegmenter(_Segmenter):
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

    def _threshold(self, values):  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, X, y=None):
        X = self._check_X(X, fitting=True)
        values = X[:, 0]
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


def _skimage_threshold(name):
    import skimage.filters as filters

    function = getattr(filters, f"threshold_{name}")

    def _threshold(self, values):
        try:
            return function(values)
        except RuntimeError as err:  # threshold_minimum: no two peaks
            raise ValueError(f"the {name!r} threshold failed on this image: {err}") from None

    return _threshold


class OtsuSegmenter(ThresholdSegmenter):
    """Otsu's threshold (:func:`skimage.filters.threshold_otsu`)."""

    def __init__(self):
        pass

    _threshold = _skimage_threshold("otsu")


class LiSegmenter(ThresholdSegmenter):
    """Li's minimum cross-entropy threshold (:func:`skimage.filters.threshold_li`)."""

    def __init__(self):
        pass

    _threshold = _skimage_threshold("li")


class YenSegmenter(ThresholdSegmenter):
    """Yen's threshold (:func:`skimage.filters.threshold_yen`)."""

    def __init__(self):
        pass

    _threshold = _skimage_threshold("yen")


class TriangleSegmenter(ThresholdSegmenter):
    """Triangle threshold (:func:`skimage.filters.threshold_triangle`)."""

    def __init__(self):
        pass

    _threshold = _skimage_threshold("triangle")


class MinimumSegmenter(ThresholdSegmenter):
    """Minimum between the two histogram peaks (:func:`skimage.filters.threshold_minimum`).

    Raises ValueError when the smoothed histogram does not have two peaks.
    """

    def __init__(self):
        pass

    _threshold = _skimage_threshold("minimum")


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


class LocalThresholdSegmenter(_Segmenter):
    """Local (adaptive) threshold (:func:`skimage.filters.threshold_local`).

    Spatial: ``X`` is the intensity *image* (2D or 3D), ``y`` an optional
    seed image of the same shape; ``predict`` returns a label image and
    ``predict_proba`` a hard ``shape + (2,)`` array. A pixel is "above" when
    it exceeds the weighted mean of its ``block_size`` neighbourhood minus
    ``offset``. Labels as in :class:`ThresholdSegmenter`.

    Parameters
    ----------
    block_size : int, default 35
        Odd neighbourhood size in pixels.
    offset : float, default 0.0
    statistic : {"gaussian", "mean", "median"}, default "gaussian"
        How the neighbourhood is averaged (skimage's ``method``).
    """

    unsupervised = True
    input = "image"

    def __init__(self, block_size=35, offset=0.0, statistic="gaussian"):
        self.block_size = block_size
        self.offset = offset
        self.statistic = statistic

    def _check_image(self, X, fitting=False):
        X = np.asarray(X, dtype=np.float32)
        if X.ndim not in (2, 3):
            raise ValueError(
                f"the local threshold needs a 2D or 3D intensity image; got shape {X.shape}"
            )
        if not fitting:
            self._check_fitted()
        if not np.isfinite(X).all():
            raise ValueError("the image holds NaN or infinite values; fill them first")
        return X

    def fit(self, X, y=None):
        block = _check_int("block_size", self.block_size, 3)
        if block % 2 == 0:
            raise ValueError(f"block_size must be odd; got {block}")
        _check_choice("statistic", self.statistic, ("gaussian", "mean", "median"))
        X = self._check_image(X, fitting=True)
        self.classes_ = _threshold_classes(X, y)
        self.n_features_in_ = 1
        return self

    def _above(self, X):
        from skimage.filters import threshold_local

        X = self._check_image(X)
        return X > threshold_local(X, int(self.block_size), method=self.statistic,
                                   offset=float(self.offset))

    def _after_set_state(self):
        if self.classes_.size != 2:
            raise ValueError(f"a threshold has 2 classes; state has {self.classes_.size}")

    def predict(self, X):
        above = self._above(X)
        return self.classes_[above.astype(np.intp)]

    def predict_proba(self, X):
        return _one_hot(self._above(X))


#: Global thresholds (method names) that :func:`try_all_thresholds` runs.
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
    """
    image = np.asarray(image, dtype=np.float32)
    out = {}
    for name in methods:
        segmenter = make_segmenter(name)
        try:
            if segmenter.input == "image":
                out[name] = segmenter.fit(image, seeds).predict(image)
            else:
                X = image.reshape(-1, 1)
                y = None if seeds is None else np.asarray(seeds).reshape(-1)
                out[name] = segmenter.fit(X, y).predict(X).reshape(image.shape)
        except ValueError as err:
            out[name] = err
    return out


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


#: method name -> segmenter class, as ``napari_seglab.segment(method=...)`` takes it.
SEGMENTERS = {
    "knn": KNNSegmenter,
    "nearest_mean": NearestMeanSegmenter,
    "kmeans": KMeansSegmenter,
    "gmm": GaussianMixtureSegmenter,
    "random_forest": RandomForestSegmenter,
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
