"""The blend: a kNN vote on smooth columns averaged with a learnt rule on all of them.

Measured on ``bench/accuracy.py --quick`` (docs/accuracy.md, "A fast
default"): kNN on smooth intensities wins the brain tissues and carries over
between subjects; a logistic regression (or a small MLP) on a bank with
Hessian ridges and wide Gaussians finds thin vessels and membranes that no
distance rule on intensities finds. Their averaged probabilities keep most
of each. At ``knn_weight`` ≥ 0.5 a unanimous kNN vote always wins: the blend
is kNN where the neighbours agree and the learner where they split, and
``predict`` runs the learner there only. Both predict by small matrix
products (the kNN by its grid route), so a whole volume stays within a few
times the kNN's cost (the ``"blend"`` features take most of it).
"""

from __future__ import annotations

import functools

import numpy as np
from sklearn.base import ClassifierMixin

from ..threads import run_blocks
from .base import (
    _SCORE_ROWS,
    _check_choice,
    _check_int,
    _check_supervised_y,
    _GrowOnProba,
    _Segmenter,
)
from .knn import KNNSegmenter

__all__ = ["BlendSegmenter", "knn_columns_for"]

#: Filters the kNN half reads by default: the intensity and the Gaussians up
#: to σ = 1.6 (the ``"smooth"`` preset's view, the kNN default's).
_KNN_FILTERS = (("intensity", 0.0), ("gaussian", 0.7), ("gaussian", 1.6))


def check_knn_columns(knn_columns, n_features):
    """``knn_columns`` (None = every column) as an index array into rows of ``n_features``."""
    cols = np.arange(n_features) if knn_columns is None else np.asarray(
        knn_columns, dtype=np.intp).ravel()
    if cols.size == 0 or cols.min() < 0 or cols.max() >= n_features:
        raise ValueError(f"knn_columns must be column indices of X (0..{n_features - 1}); "
                         f"got {knn_columns}")
    return cols


def knn_columns_for(spec, n_channels=1, ndim=2, filters=_KNN_FILTERS):
    """Columns of ``spec``'s feature stack computed by one of ``filters``.

    Parameters
    ----------
    spec : FeatureSpec
    n_channels, ndim : int
        Of the image the stack is computed on.
    filters : sequence of (name, sigma)
        The filters to select.

    Returns
    -------
    tuple of int
        Column indices, channel by channel; empty when no filter matches.

    Examples
    --------
    >>> from napari_seglab.core.features import PRESETS
    >>> knn_columns_for(PRESETS["blend"], n_channels=2)
    (0, 1, 2, 13, 14, 15)
    """
    wanted = {(n, float(s)) for n, s in filters}
    entries = spec.entry_of_feature(n_channels, ndim)
    return tuple(int(j) for j, e in enumerate(entries)
                 if (spec.filters[e][0], float(spec.filters[e][1])) in wanted)


class BlendSegmenter(_GrowOnProba, ClassifierMixin, _Segmenter):
    """Average of a kNN vote (on some columns) and a learnt rule (on all columns).

    Parameters
    ----------
    learner : {"logistic", "mlp"}, default "logistic"
        The rule on every column: a multinomial logistic regression
        (L-BFGS, a few milliseconds to fit) or a multilayer perceptron with
        two ReLU layers of ``hidden_units`` (Adam, ``max_iter`` epochs).
    knn_weight : float, default 0.5
        Share of the kNN's probabilities in the blend (0 = the learner
        only, 1 = the kNN only).
    n_neighbors : int, default 5
    C : float, default 1.0
        Inverse L2 penalty of the logistic regression.
    hidden_units : int, default 16
    alpha : float, default 0.01
        L2 penalty of the MLP.
    max_iter : int, default 500
        Iterations of the learner's solver.
    random_state : int, default 0
        The MLP's initial weights and batch order (the logistic regression
        is deterministic anyway): the same seeds give the same model.
    grow : bool, default False
        Labels by :func:`~napari_seglab.core.refine.grow_from_seeds` on the
        blend's probabilities, from the seeds of the image being segmented:
        each class spreads from its own strokes through the pixels it is
        probable at (one compact object: a tumour, a lesion; on the bench's
        MR tumour, Dice 0.02 → 0.66 after corrections). The whole image is
        then needed at once (:attr:`spatial`); applied to another image
        (no seeds), the most probable class.

    Attributes
    ----------
    classes_ : ndarray
    knn_columns_ : ndarray of int
        The columns the kNN reads (``fit``'s ``knn_columns``).
    knn_ : KNNSegmenter
    mean_, scale_ : ndarray
        The z-scoring of the learner's inputs (from the training samples).
    layers_ : list of (ndarray, ndarray)
        The learner's (weights, bias) per layer, float32; ReLU between
        layers. The last layer has one unit (logistic) for two classes,
        one per class (softmax) above.
    n_iter_ : int
        Iterations the learner's solver ran.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.r_[np.zeros((20, 2)), np.ones((20, 2))].astype(np.float32)
    >>> X += np.random.default_rng(0).normal(0, 0.1, X.shape).astype(np.float32)
    >>> model = BlendSegmenter().fit(X, np.repeat([3, 7], 20))
    >>> model.predict(X[[0, -1]]).tolist()
    [3, 7]
    """

    def __init__(self, learner="logistic", knn_weight=0.5, n_neighbors=5, C=1.0,
                 hidden_units=16, alpha=0.01, max_iter=500, random_state=0, grow=False):
        self.learner = learner
        self.knn_weight = knn_weight
        self.n_neighbors = n_neighbors
        self.C = C
        self.hidden_units = hidden_units
        self.alpha = alpha
        self.max_iter = max_iter
        self.random_state = random_state
        self.grow = grow

    default_features = "blend"
    #: Refitted from the training samples on load (deterministic), as the
    #: forest is: the learner's weights depend on scikit-learn's solvers.
    refit_on_load = True
    #: Keep every seeded pixel (up to max_per_class): cutting a correction
    #: stroke down to the smallest class throws it away (see the context forest).
    cut_to_smallest_class = False

    def layout_fit_params(self, spec, n_channels, ndim):
        """The kNN's columns: the intensity and Gaussians σ ≤ 1.6 of ``spec``.

        Edge and ridge responses, z-scored on the seeds, would outvote the
        intensity in a distance (see ``default_features`` in :mod:`.base`).
        A spec without those filters lets the kNN read every column.
        """
        from ..features import FeatureSpec

        if not isinstance(spec, FeatureSpec):
            return {}
        return {"knn_columns": knn_columns_for(spec, n_channels, ndim) or None}

    def _check_params(self):
        _check_choice("learner", self.learner, ("logistic", "mlp"))
        _check_int("hidden_units", self.hidden_units, 1)
        _check_int("max_iter", self.max_iter, 1)
        if not 0.0 <= float(self.knn_weight) <= 1.0:
            raise ValueError(f"knn_weight must be within [0, 1]; got {self.knn_weight}")
        if not float(self.C) > 0:
            raise ValueError(f"C must be > 0; got {self.C}")
        if not float(self.alpha) >= 0:
            raise ValueError(f"alpha must be >= 0; got {self.alpha}")

    def fit(self, X, y, knn_columns=None):
        """Fit the kNN on ``X[:, knn_columns]`` (None = every column), the learner on ``X``.

        Parameters
        ----------
        X : ndarray, shape (n_samples, n_features)
        y : ndarray of int, shape (n_samples,)
        knn_columns : sequence of int, optional
            From :meth:`layout_fit_params` in the pipeline.

        Returns
        -------
        self
        """
        self._check_params()
        X = self._check_X(X, fitting=True)
        self.classes_, y_index = _check_supervised_y(X, y)
        cols = self.knn_columns_ = check_knn_columns(knn_columns, X.shape[1])
        self.knn_ = KNNSegmenter(n_neighbors=self.n_neighbors).fit(X[:, cols], y_index)
        mean = X.mean(axis=0, dtype=np.float64)
        std = X.std(axis=0, dtype=np.float64)
        self.mean_ = mean.astype(np.float32)
        self.scale_ = np.where(std > 0, std, 1.0).astype(np.float32)
        Z = (X - self.mean_) / self.scale_
        # One BLAS thread: the solvers' products on a few hundred rows are
        # tiny, and OpenBLAS threads on busy cores wait on each other (a
        # logistic fit took 120 ms instead of 7 ms while another job ran).
        # No warning filters here: this runs in worker threads, and
        # warnings.catch_warnings swaps the process-wide filters under the
        # GUI thread's feet. So the solvers below never warn.
        with _blas_controller().limit(limits=1, user_api="blas"):
            if self.learner == "logistic":
                weights, biases, self.n_iter_ = _fit_logistic(
                    Z, y_index, self.classes_.size, C=float(self.C), max_iter=int(self.max_iter))
            else:
                weights, biases, self.n_iter_ = _fit_mlp(
                    Z, y_index, self.classes_.size, hidden=int(self.hidden_units),
                    alpha=float(self.alpha), max_iter=int(self.max_iter),
                    random_state=self.random_state)
        self.layers_ = [(np.asarray(w, np.float32), np.asarray(b, np.float32))
                        for w, b in zip(weights, biases, strict=True)]
        self.n_features_in_ = X.shape[1]
        return self

    def get_state(self):
        raise TypeError("the blend is refitted from its training samples "
                        "(refit_on_load = True)")

    def set_state(self, state):
        self.get_state()

    def _learner_proba(self, X):
        """The learner's class probabilities, float32, in row blocks over both cores.

        Blocks of ``_SCORE_ROWS`` keep the temporaries in cache; the blocks
        are spread over a thread pool (NumPy releases the GIL in products).
        """
        out = np.empty((X.shape[0], self.classes_.size), np.float32)
        (w0, b0), rest = self.layers_[0], self.layers_[1:]
        # Fold the z-scoring into the first layer: one pass less per block.
        w0s = (w0 / self.scale_[:, None]).astype(np.float32)
        b0s = (b0 - (self.mean_ / self.scale_) @ w0).astype(np.float32)
        layers = [(w0s, b0s)] + list(rest)

        def run(start):
            rows = slice(start, start + _SCORE_ROWS)
            a = X[rows]
            for i, (w, b) in enumerate(layers):
                a = a @ w
                a += b
                if i < len(layers) - 1:
                    np.maximum(a, 0, out=a)
            out[rows] = _output_proba(a)

        # One BLAS thread per product: OpenBLAS threads (8192, 16) @ (16, 16),
        # and on busy cores its threads wait on each other (the 4 M-voxel
        # volume took 6-8 s instead of 0.4 s while another job ran).
        with _blas_controller().limit(limits=1, user_api="blas"):
            run_blocks(run, X.shape[0], _SCORE_ROWS)
        return out

    def predict_proba(self, X):
        """``knn_weight`` × kNN votes + (1 − ``knn_weight``) × the learner's probabilities."""
        X = self._check_X(X)
        w = float(self.knn_weight)
        proba = self._learner_proba(X)
        if w > 0:
            proba *= 1.0 - w
            proba += w * self.knn_.predict_proba(X[:, self.knn_columns_])
        return proba

    def predict(self, X):
        """Labels: ``argmax`` of :meth:`predict_proba`, the learner run only where it can matter.

        With ``knn_weight`` ≥ 0.5, a pixel whose ``k`` neighbours all vote
        for one class gets that class whatever the learner says: its blended
        score is ``w + (1 - w) p`` against at most ``(1 - w)(1 - p)`` for any
        other class, and the learner's ``p`` is kept above 0
        (:func:`_output_proba`). So the learner runs on the split votes only
        (a few per cent of the pixels on the bench images).
        """
        X = self._check_X(X)
        w = float(self.knn_weight)
        if w < 0.5:
            return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        votes = self.knn_.predict_proba(X[:, self.knn_columns_])
        index = np.argmax(votes, axis=1)
        split = np.flatnonzero(votes[np.arange(votes.shape[0]), index] < 1)
        if split.size:
            proba = self._learner_proba(X[split])
            proba *= 1.0 - w
            proba += w * votes[split]
            index[split] = np.argmax(proba, axis=1)
        return self.classes_[index]


def _fit_logistic(Z, y, n_classes, *, C, max_iter, tol=1e-4):
    """L2-penalised logistic regression by L-BFGS: (weights, biases, iterations).

    scikit-learn's ``LogisticRegression(C=C)`` objective (mean log-loss +
    ‖W‖² / (2 C n), intercepts not penalised; one unit for two classes, a
    softmax over every class above) and its solver options, without its
    ConvergenceWarning: a few hundred seeds rarely reach the tolerance in
    ``max_iter`` and the weights are good long before.
    """
    from scipy.optimize import minimize
    from scipy.special import expit, log_expit, logsumexp

    Z = np.asarray(Z, np.float64)
    n, d = Z.shape
    units = 1 if n_classes == 2 else n_classes
    onehot = np.eye(n_classes)[y] if units > 1 else y[:, None].astype(np.float64)
    penalty = 1.0 / (C * n)

    def loss_grad(theta):
        W, b = theta[:d * units].reshape(d, units), theta[d * units:]
        z = Z @ W + b
        if units == 1:
            loss = -np.sum(onehot * log_expit(z) + (1 - onehot) * log_expit(-z)) / n
            residual = (expit(z) - onehot) / n
        else:
            lse = logsumexp(z, axis=1, keepdims=True)
            loss = np.sum(lse - np.sum(z * onehot, axis=1, keepdims=True)) / n
            residual = (np.exp(z - lse) - onehot) / n
        loss += 0.5 * penalty * np.sum(W * W)
        grad = np.concatenate([(Z.T @ residual + penalty * W).ravel(), residual.sum(axis=0)])
        return loss, grad

    res = minimize(loss_grad, np.zeros(d * units + units), jac=True, method="L-BFGS-B",
                   options={"maxiter": max_iter, "maxls": 50, "gtol": tol,
                            "ftol": 64 * np.finfo(float).eps})
    W, b = res.x[:d * units].reshape(d, units), res.x[d * units:]
    return [W], [b], int(res.nit)


def _fit_mlp(Z, y, n_classes, *, hidden, alpha, max_iter, random_state,
             tol=1e-4, n_iter_no_change=10):
    """Two ReLU layers of ``hidden`` units by Adam: (weights, biases, epochs).

    One ``partial_fit`` epoch at a time, stopped as ``MLPClassifier.fit``
    stops (training loss not better by ``tol`` for ``n_iter_no_change``
    epochs) or at ``max_iter``, without its ConvergenceWarning.
    """
    from sklearn.neural_network import MLPClassifier

    # One random stream across the epochs, as fit draws it (an int would
    # restart it on each partial_fit: the same batch order every epoch).
    est = MLPClassifier(hidden_layer_sizes=(hidden, hidden), alpha=alpha,
                        random_state=np.random.RandomState(random_state))
    classes = np.arange(n_classes)
    best, stalled, epochs = np.inf, 0, 0
    while epochs < max_iter and stalled <= n_iter_no_change:
        est.partial_fit(Z, y, classes=classes)
        epochs += 1
        stalled = stalled + 1 if est.loss_ > best - tol else 0
        best = min(best, est.loss_)
    return est.coefs_, est.intercepts_, epochs


@functools.lru_cache(maxsize=1)
def _blas_controller():
    """threadpoolctl's controller, made once: ``threadpool_limits`` scans the
    loaded libraries on every call (3 ms, a tenth of a live stroke)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


#: Least probability the learner gives a class: a unanimous kNN vote then
#: always wins the blend at knn_weight >= 0.5 (no exact ties with a
#: saturated learner; see BlendSegmenter.predict).
_MIN_PROBA = 1e-6


def _output_proba(z):
    """Probabilities from the last layer: logistic for one unit, softmax above,
    each at least ``_MIN_PROBA`` (rows still sum to 1)."""
    if z.shape[1] == 1:
        p1 = 1.0 / (1.0 + np.exp(-np.clip(z[:, 0], -60, 60)))
        z = np.stack([1.0 - p1, p1], axis=1)
    else:
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
    z += _MIN_PROBA
    z /= 1.0 + z.shape[1] * _MIN_PROBA
    return z
