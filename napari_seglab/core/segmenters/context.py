"""The context forest: a random forest plus the image-wide steps of :mod:`..refine`.

Per pixel it is the random forest (:class:`.forest.RandomForestSegmenter`,
here 100 full-depth trees on the ``"octaves"`` bank: the best of ours after
corrections on ``bench/accuracy.py``). On a whole image the pipeline also
runs what a row of features cannot see (:meth:`fit_grid`,
:meth:`predict_proba_grid`, :meth:`predict_grid`): auto-context, smoothing of
the probabilities, class-prior correction, and grow from seeds on them.
"""

from __future__ import annotations

import numpy as np

from .forest import RandomForestSegmenter

__all__ = ["ContextForestSegmenter"]


class ContextForestSegmenter(RandomForestSegmenter):
    """Random forest with auto-context, smoothing, prior correction and grow.

    Parameters
    ----------
    n_estimators : int, default 100
    max_depth : int or None, default None
        Full-depth trees: they learn most from each correction stroke.
    min_samples_leaf, max_features, class_weight, n_jobs, random_state
        As :class:`~.forest.RandomForestSegmenter`.
    context_sigmas : tuple of float, default ()
        σ of the auto-context features, in the units of the image's spacing
        as the feature σ are: a second forest reads the first one's
        probabilities smoothed at each σ. Empty = one stage.
    smooth_sigma : float, default 0.0
        Gaussian σ on the final probabilities, in spacing units (0 = none).
    prior_correction : bool, default False
        Re-weight the probabilities to the class frequencies estimated on
        the image (:func:`~napari_seglab.core.refine.correct_priors`).
    grow : bool, default False
        Labels by :func:`~napari_seglab.core.refine.grow_from_seeds` on the
        probabilities, from the seeds of the image being segmented (one
        compact object: a tumour, a lesion). A trained model applied to
        another image (no seeds) gives the most probable class.

    Notes
    -----
    With every image-wide step off, this is a plain per-pixel forest: it
    saves, loads and runs block by block like ``"random_forest"``. With
    ``smooth_sigma``, ``prior_correction`` or ``grow`` (:attr:`spatial`) it
    needs the whole image in memory; with ``context_sigmas`` it cannot be
    saved either (its second stage was trained on the first stage's view
    of the training image's neighbourhoods, which is not in the file).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.r_[np.zeros((5, 1)), np.ones((5, 1))].astype(np.float32)
    >>> model = ContextForestSegmenter(n_estimators=5, n_jobs=1).fit(X, np.repeat([1, 2], 5))
    >>> model.predict(X).tolist()
    [1, 1, 1, 1, 1, 2, 2, 2, 2, 2]
    """

    default_features = "octaves"
    #: Keep every seeded pixel (up to max_per_class) and weigh the classes
    #: instead: a correction stroke then adds samples instead of being cut
    #: to the smallest class (bench/accuracy.py, --quick, after 3 rounds:
    #: retina 0.701 cut vs 0.738 weighted, tumour 0.135 vs 0.517).
    cut_to_smallest_class = False

    def __init__(self, n_estimators=100, max_depth=None, min_samples_leaf=1,
                 max_features="sqrt", class_weight="balanced", n_jobs=-1, random_state=0,
                 context_sigmas=(), smooth_sigma=0.0, prior_correction=False, grow=False):
        super().__init__(n_estimators=n_estimators, max_depth=max_depth,
                         min_samples_leaf=min_samples_leaf, max_features=max_features,
                         class_weight=class_weight, n_jobs=n_jobs, random_state=random_state)
        self.context_sigmas = context_sigmas
        self.smooth_sigma = smooth_sigma
        self.prior_correction = prior_correction
        self.grow = grow

    @property
    def spatial(self) -> bool:
        """True when a step reads the whole image (not one pixel's features)."""
        return bool(len(self._sigmas()) or self.smooth_sigma or self.prior_correction
                    or self.grow)

    def _sigmas(self):
        sigmas = tuple(float(s) for s in (self.context_sigmas or ()))
        if any(not (np.isfinite(s) and s > 0) for s in sigmas):
            raise ValueError(f"context_sigmas must be positive numbers; got {self.context_sigmas}")
        return sigmas

    def _check_steps(self):
        self._sigmas()
        if not (np.isfinite(float(self.smooth_sigma)) and float(self.smooth_sigma) >= 0):
            raise ValueError(f"smooth_sigma must be >= 0; got {self.smooth_sigma}")

    def fit(self, X, y):
        self._check_steps()
        self.context_estimator_ = None
        return super().fit(X, y)

    # -- whole images (the pipeline calls these when ``spatial``) --------------
    def fit_grid(self, inputs, train, y, *, finite=None, spacing=None):
        """Fit on the grid: the forest on rows ``train``, then the context stage.

        ``inputs`` is ``spatial + (F,)``, ``train`` flat indices of the
        training pixels, ``y`` their labels, ``finite`` the mask of valid
        pixels (None = all), ``spacing`` the image's. Returns self.
        """
        from sklearn.ensemble import RandomForestClassifier

        flat = inputs.reshape(-1, inputs.shape[-1])
        self.fit(flat[train], y)
        sigmas = self._sigmas()
        if sigmas:
            context = self._context(self._stage1(flat, finite, inputs.shape[:-1]), spacing)
            X2 = np.concatenate([flat[train], context[train]], axis=1)
            _, y_index = np.unique(y, return_inverse=True)
            self.context_estimator_ = RandomForestClassifier(
                n_estimators=int(self.n_estimators), max_depth=self.max_depth,
                min_samples_leaf=self.min_samples_leaf, max_features=self.max_features,
                class_weight=self.class_weight, n_jobs=self.n_jobs,
                random_state=self.random_state).fit(X2, y_index)
        return self

    def _stage1(self, flat, finite, spatial):
        proba = np.zeros((flat.shape[0], self.classes_.size), np.float32)
        keep = slice(None) if finite is None else np.asarray(finite).ravel()
        proba[keep] = self.predict_proba(flat[keep])
        return proba.reshape(tuple(spatial) + (-1,))

    def _context(self, proba, spacing):
        from ..refine import context_features

        context = context_features(proba, sigmas=self._sigmas(), spacing=spacing)
        return context.reshape(-1, context.shape[-1])

    def predict_proba_grid(self, inputs, finite=None, *, spacing=None):
        """``spatial + (n_classes,)`` probabilities, columns in ``classes_`` order."""
        from ..refine import correct_priors, smooth_proba

        self._check_fitted()
        spatial = inputs.shape[:-1]
        flat = inputs.reshape(-1, inputs.shape[-1])
        proba = self._stage1(flat, finite, spatial)
        if getattr(self, "context_estimator_", None) is not None:
            X2 = np.concatenate([flat, self._context(proba, spacing)], axis=1)
            proba = self.context_estimator_.predict_proba(X2).astype(np.float32).reshape(
                proba.shape)
        if self.smooth_sigma:
            proba = smooth_proba(proba, sigma=float(self.smooth_sigma), spacing=spacing)
        if self.prior_correction:
            proba, _ = correct_priors(proba, mask=finite)
        if finite is not None:
            proba[~np.asarray(finite)] = 0
        return proba

    def predict_grid(self, proba, seeds=None, *, spacing=None):
        """Labels from :meth:`predict_proba_grid`'s output (with ``grow``: from ``seeds``)."""
        from ..refine import grow_from_seeds

        if self.grow and seeds is not None and (np.asarray(seeds) > 0).any():
            return grow_from_seeds(proba, seeds, spacing=spacing, classes=self.classes_)[0]
        return self.classes_[np.argmax(proba, axis=-1)]
