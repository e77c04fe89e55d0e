"""Random forest segmenter (scikit-learn's forest; refitted from its samples on load)."""

from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np
from sklearn.base import ClassifierMixin

from .base import _check_choice, _check_int, _check_supervised_y, _Segmenter

__all__ = ["RandomForestSegmenter"]

#: Bytes of one tree node in scikit-learn (its ``Node`` struct), besides the
#: node's float64 class values.
_NODE_BYTES = 64
#: Resident bytes a prediction or fit thread keeps beyond its buffers (its
#: stack and malloc arena: measured ~12 MiB a thread on the first predict).
_THREAD_BYTES = 16 * 2**20
#: scikit-learn's ensemble and tree modules, loaded by the first fit (17 MiB).
_MODULE_BYTES = 24 * 2**20
#: Rows scikit-learn predicts at once: its per-thread float64 buffers stay a
#: few MiB whatever the pipeline's chunk, at no cost in speed.
_PREDICT_BLOCK_ROWS = 1 << 16
#: Bytes per training sample of one fit thread: bootstrap weights and indices,
#: the sorted feature values and their sample order.
_FIT_SAMPLE_BYTES = 40


def _malloc_trim():
    """glibc's ``malloc_trim``, or None elsewhere (other C libraries return memory)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _malloc_trim()


def _release_freed_memory():
    """Give the prediction threads' freed buffers back to the system.

    glibc keeps what a thread frees in that thread's arena: predicting a
    320³ volume block by block left ~60 MiB resident beyond any buffer
    alive (the forest's overshoot of its budget); a trim after each block
    keeps it under 1 MiB, for ~5 % of the prediction time.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


class RandomForestSegmenter(ClassifierMixin, _Segmenter):
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

    def _threads(self) -> int:
        from joblib import effective_n_jobs

        return max(int(effective_n_jobs(self.n_jobs)), 1)

    def memory_bytes(self, n_samples, n_features, n_classes):
        """The trees, every fit thread's sample buffers, the threads and modules.

        A tree has at most ``2 ** (max_depth + 1) - 1`` nodes and at most
        ``2 * n_samples / min_samples_leaf`` (each leaf holds a sample or
        more); a node is a 64-byte struct and ``n_classes`` float64 values.
        """
        n_samples, n_classes = max(int(n_samples), 1), max(int(n_classes), 2)
        leaf = self.min_samples_leaf
        leaf = max(int(leaf), 1) if isinstance(leaf, (int, np.integer)) else 1
        nodes = 2 * -(-n_samples // leaf) - 1
        if self.max_depth is not None:
            nodes = min(nodes, 2 ** (int(self.max_depth) + 1) - 1)
        trees = int(self.n_estimators) * nodes * (_NODE_BYTES + 8 * n_classes)
        threads = self._threads()
        fit = n_samples * (8 + threads * _FIT_SAMPLE_BYTES)  # y as float64, per thread
        # One block of scikit-learn's predict_proba: the float64 sum, and per
        # thread one tree's float64 probabilities, leaf indices and normaliser.
        block = _PREDICT_BLOCK_ROWS * (8 * n_classes + threads * (8 * n_classes + 16))
        return trees + fit + block + threads * _THREAD_BYTES + _MODULE_BYTES

    def predict_row_bytes(self, n_features, n_classes):
        """The float32 probabilities and the argmax (scikit-learn's buffers are
        per block: :meth:`memory_bytes`)."""
        return 4 * max(int(n_classes), 2) + 8

    def get_state(self):
        raise TypeError("a random forest is not plain arrays; refit it from its "
                        "training samples (refit_on_load = True)")

    def set_state(self, state):
        self.get_state()

    def predict_proba(self, X):
        X = self._check_X(X)
        out = np.empty((X.shape[0], self.classes_.size), np.float32)
        for start in range(0, X.shape[0], _PREDICT_BLOCK_ROWS):
            rows = slice(start, start + _PREDICT_BLOCK_ROWS)
            out[rows] = self.estimator_.predict_proba(X[rows])
            _release_freed_memory()
        return out

    def predict(self, X):
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
