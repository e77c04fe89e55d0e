"""Random forest segmenter (scikit-learn's forest; refitted from its samples on load)."""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin

from .base import _check_choice, _check_int, _check_supervised_y, _Segmenter

__all__ = ["RandomForestSegmenter"]


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
