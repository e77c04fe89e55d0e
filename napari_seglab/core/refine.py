"""What strokes cannot teach: the image's spatial structure and class frequencies.

A forest trained on a few strokes learns the stroke cores: class borders are
never labelled, and balanced training over-predicts small classes. These
steps work on the class probabilities of any seeded model:

- :func:`smooth_proba`: Gaussian smoothing of the probabilities (spatial
  regularisation: isolated pixels follow their neighbourhood);
- :func:`correct_priors`: re-weight probabilities from the balanced training
  priors to the class frequencies estimated on the image itself (EM of
  Saerens et al. 2002);
- :func:`context_features`: smoothed probabilities at several scales, the
  extra features of an auto-context second stage;
- :class:`ContextForest`: features → forest → (context → second forest) →
  smoothing → prior correction, fitted on one image's seeds.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .features import PRESETS, FeatureSpec

__all__ = ["ContextForest", "context_features", "correct_priors", "smooth_proba",
           "grow_from_seeds", "local_update", "OCTAVES", "bench_variants"]


def _voxel_sigma(sigma, spacing, ndim):
    if spacing is None:
        return (float(sigma),) * ndim
    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != ndim:
        raise ValueError(f"spacing needs {ndim} values; got {spacing}")
    return tuple(float(sigma) / s for s in spacing)


def _check_proba(proba):
    proba = np.asarray(proba, dtype=np.float32)
    if proba.ndim not in (3, 4) or proba.shape[-1] < 2:
        raise ValueError(
            f"proba must be spatial (2D or 3D) + (n_classes >= 2,); got shape {proba.shape}"
        )
    return proba


def smooth_proba(proba, *, sigma=1.0, spacing=None):
    """Gaussian-smoothed class probabilities, renormalised to sum 1.

    Parameters
    ----------
    proba : ndarray, shape ``spatial + (n_classes,)``
    sigma : float, default 1.0
        In the units of ``spacing`` (pixels without it); 0 returns a copy.
    spacing : sequence of float, optional

    Returns
    -------
    ndarray of float32, the shape of ``proba``

    Raises
    ------
    ValueError
        For a negative ``sigma`` or a ``proba`` that is not spatial + classes.

    Examples
    --------
    >>> p = np.zeros((5, 5, 2), np.float32); p[..., 0] = 1; p[2, 2] = (0, 1)
    >>> int(smooth_proba(p, sigma=1.0).argmax(-1)[2, 2])  # the lone pixel joins its neighbours
    0
    """
    proba = _check_proba(proba)
    if not (np.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma must be >= 0; got {sigma}")
    out = proba.copy()
    if sigma == 0:
        return out
    vs = _voxel_sigma(sigma, spacing, proba.ndim - 1)
    for c in range(proba.shape[-1]):
        ndi.gaussian_filter(proba[..., c], vs, output=out[..., c], mode="reflect",
                            truncate=3.0)
    out /= np.maximum(out.sum(axis=-1, keepdims=True), 1e-12)
    return out


def correct_priors(proba, *, train_priors=None, n_iter=10, tol=1e-4, mask=None):
    """Adjust probabilities to the class frequencies of the image (Saerens EM).

    A classifier trained with balanced classes assumes equal priors; a
    class covering 12 % of the image is then over-predicted. This
    estimates the image's priors by expectation–maximisation on the
    probabilities themselves and re-weights them accordingly.

    Parameters
    ----------
    proba : ndarray, shape ``(..., n_classes)``
    train_priors : sequence of float, optional
        The priors the classifier was trained with (default: uniform, as
        after balanced training).
    n_iter : int, default 10
    tol : float, default 1e-4
        Stop when no prior moves more than this.
    mask : ndarray of bool, optional
        Pixels that estimate the priors (e.g. inside the field of view).

    Returns
    -------
    proba : ndarray of float32, the shape of ``proba``
    priors : ndarray of float64, shape ``(n_classes,)``

    Raises
    ------
    ValueError
        For fewer than two classes or ``train_priors`` of the wrong length.

    References
    ----------
    M. Saerens, P. Latinne, C. Decaestecker, "Adjusting the outputs of a
    classifier to new a priori probabilities", Neural Computation 14 (2002).

    Examples
    --------
    >>> p = np.array([[0.6, 0.4]] * 9 + [[0.1, 0.9]], np.float32)
    >>> q, priors = correct_priors(p)
    >>> int((q.argmax(-1) == 1).sum()), bool(priors[0] > 0.5)
    (1, True)
    """
    proba = np.asarray(proba, dtype=np.float32)
    k = proba.shape[-1]
    if k < 2:
        raise ValueError(f"proba needs at least 2 classes on its last axis; got {proba.shape}")
    flat = proba.reshape(-1, k)
    sample = flat if mask is None else flat[np.asarray(mask).ravel()]
    base = (np.full(k, 1.0 / k) if train_priors is None
            else np.asarray(train_priors, dtype=np.float64))
    if base.shape != (k,):
        raise ValueError(f"train_priors needs {k} values; got {base.shape}")
    priors = base.copy()
    for _ in range(int(n_iter)):
        w = (priors / base).astype(np.float32)
        adj = sample * w
        adj /= np.maximum(adj.sum(axis=1, keepdims=True), 1e-12)
        new = adj.mean(axis=0, dtype=np.float64)
        new = np.maximum(new, 1e-6)
        new /= new.sum()
        done = np.abs(new - priors).max() < tol
        priors = new
        if done:
            break
    w = (priors / base).astype(np.float32)
    out = proba * w
    out /= np.maximum(out.sum(axis=-1, keepdims=True), 1e-12)
    return out.astype(np.float32, copy=False), priors


def context_features(proba, *, sigmas=(1.0, 4.0), spacing=None):
    """Smoothed probabilities at each σ: ``spatial + (len(sigmas) * n_classes,)``.

    The auto-context features of a second stage: what the first stage
    thinks of each pixel's neighbourhood at several scales. The last class
    is dropped (the probabilities sum to one).

    Examples
    --------
    >>> p = np.random.default_rng(0).random((8, 8, 3)).astype(np.float32)
    >>> context_features(p, sigmas=(1.0, 2.0)).shape
    (8, 8, 4)
    """
    proba = _check_proba(proba)
    parts = []
    for s in sigmas:
        vs = _voxel_sigma(s, spacing, proba.ndim - 1)
        for c in range(proba.shape[-1] - 1):
            parts.append(ndi.gaussian_filter(proba[..., c], vs, mode="reflect", truncate=3.0))
    return np.stack(parts, axis=-1).astype(np.float32)


def grow_from_seeds(proba, seeds, *, spacing=None, classes=None):
    """Label each pixel by the class whose seeds reach it most cheaply.

    A geodesic step on the probability map: crossing a pixel costs
    ``1 - p_c`` for class ``c``, so a class spreads from its own seeds
    through the pixels it is probable at, and a region that looks like
    class ``c`` but is cut off from its seeds by other classes (a bright
    vessel far from a painted tumour) goes to a class that reaches it.

    Parameters
    ----------
    proba : ndarray, shape ``spatial + (n_classes,)``
    seeds : ndarray of int, the spatial shape
        0 = not seeded; labels from ``classes``.
    spacing : sequence of float, optional
        Path lengths in these units.
    classes : sequence of int, optional
        The label of each column of ``proba`` (default ``1..n_classes``).

    Returns
    -------
    labels : ndarray of int, the spatial shape
    distance : ndarray of float32, ``spatial + (n_classes,)``
        Each class's geodesic cost (inf where it has no seeds).

    Raises
    ------
    ValueError
        For mismatched shapes.

    Examples
    --------
    >>> p = np.zeros((5, 9, 2), np.float32); p[..., 0] = 1
    >>> p[:, 1:3] = (0, 1); p[:, 6:8] = (0, 1)   # two look-alike bands
    >>> seeds = np.zeros((5, 9), int); seeds[2, 1] = 2; seeds[2, 4] = 1
    >>> grow_from_seeds(p, seeds)[0][2].tolist()  # the band without a seed stays 1
    [2, 2, 2, 1, 1, 1, 1, 1, 1]
    """
    from skimage.graph import MCP_Geometric

    proba = _check_proba(proba)
    seeds = np.asarray(seeds)
    if seeds.shape != proba.shape[:-1]:
        raise ValueError(f"seeds must have the spatial shape {proba.shape[:-1]}; "
                         f"got {seeds.shape}")
    k = proba.shape[-1]
    classes = np.arange(1, k + 1) if classes is None else np.asarray(classes)
    if classes.shape != (k,):
        raise ValueError(f"classes needs {k} labels; got {classes.tolist()}")
    dist = np.full(proba.shape, np.inf, np.float32)
    for i, c in enumerate(classes):
        starts = np.argwhere(seeds == c)
        if starts.size == 0:
            continue
        cost = np.clip(1.0 - proba[..., i], 1e-3, None).astype(np.float64)
        mcp = MCP_Geometric(cost, sampling=None if spacing is None else tuple(spacing))
        d, _ = mcp.find_costs([tuple(s) for s in starts])
        dist[..., i] = d
    return classes[np.argmin(dist, axis=-1)], dist


def local_update(previous, new, stroke, *, radius=None):
    """Apply a refit's changes only where the correction stroke asked for them.

    After a correction stroke, a refitted model changes labels near the
    stroke (what the user meant) and, by chance, elsewhere (a different
    forest). Keeping only the changed regions connected to the stroke (and,
    with ``radius``, every change within that distance of it) makes each
    correction local: what was right elsewhere stays right.

    Parameters
    ----------
    previous, new : ndarray of int, same shape
        Labels before and after refitting with the stroke.
    stroke : ndarray of bool, same shape
        The pixels of the new stroke.
    radius : float, optional
        Also keep every change within this many pixels of the stroke.

    Returns
    -------
    ndarray, ``previous`` with the accepted changes of ``new``

    Raises
    ------
    ValueError
        For arrays of different shapes.

    Examples
    --------
    >>> prev = np.ones((3, 8), int); new = prev.copy()
    >>> new[:, 0:3] = 2; new[:, 6:] = 2          # a fix at the stroke, a flip far away
    >>> stroke = np.zeros((3, 8), bool); stroke[1, 1] = True
    >>> local_update(prev, new, stroke)[1].tolist()
    [2, 2, 2, 1, 1, 1, 1, 1]
    """
    previous, new, stroke = np.asarray(previous), np.asarray(new), np.asarray(stroke, bool)
    if not previous.shape == new.shape == stroke.shape:
        raise ValueError(f"previous, new and stroke must have one shape; got "
                         f"{previous.shape}, {new.shape}, {stroke.shape}")
    changed = previous != new
    comp, _ = ndi.label(changed, ndi.generate_binary_structure(changed.ndim, changed.ndim))
    near = ndi.binary_dilation(stroke, iterations=1)
    keep = np.isin(comp, np.unique(comp[near & changed]))
    if radius:
        keep |= changed & (ndi.distance_transform_edt(~stroke) <= radius)
    out = previous.copy()
    out[keep] = new[keep]
    return out


def _training_indices(seeds, max_per_class, rng):
    flat = seeds.ravel()
    idx = np.flatnonzero(flat > 0)
    picked = []
    for c in np.unique(flat[idx]):
        members = idx[flat[idx] == c]
        if max_per_class is not None and members.size > max_per_class:
            members = np.sort(rng.choice(members, max_per_class, replace=False))
        picked.append(members)
    return np.concatenate(picked) if picked else idx


class ContextForest:
    """A seeded forest with auto-context, smoothing and prior correction.

    Works on a features grid (``compute_features`` output, ``spatial +
    (F,)``) and a seeds image of the same spatial shape.

    Parameters
    ----------
    features : FeatureSpec or str, default "default"
        The spec the inputs are computed with (kept for callers; the model
        reads the grid it is given).
    n_estimators : int, default 100
    max_depth : int or None, default None
    context_sigmas : sequence of float, default ()
        σ of the auto-context features (empty = one stage).
    smooth_sigma : float, default 0.0
        Gaussian σ on the final probabilities (0 = none).
    prior_correction : bool, default False
        Re-weight to the image's estimated class frequencies.
    grow : bool, default False
        Final labels by :func:`grow_from_seeds` from the training seeds
        (kept by :meth:`fit`) on the probabilities.
    pseudo_labels : int, default 0
        Self-training: after a first forest on the seeds, this many pixels
        drawn at random among those it labels with probability at least
        ``pseudo_confidence`` join the seeds as labelled samples (with the
        image's own class frequencies), and the forest is fitted again.
    pseudo_confidence : float, default 0.7
    pseudo_weight : float, default 1.0
        Total weight of the pseudo-labels relative to the seeds'.
    max_per_class : int or None, default 5000
    random_state : int, default 0
    n_jobs : int, default -1

    Attributes
    ----------
    classes_ : ndarray
    stages_ : list of fitted segmenters
    priors_ : ndarray or None
        The class frequencies estimated at the last prediction.

    Examples
    --------
    >>> from napari_seglab.core.features import compute_features
    >>> from napari_seglab.core.phantoms import tissue_phantom, scribble_seeds
    >>> image, truth = tissue_phantom((48, 48), random_state=0)
    >>> F = compute_features(image, "smooth")
    >>> model = ContextForest(n_estimators=10, context_sigmas=(2.0,)).fit(
    ...     F, scribble_seeds(truth))
    >>> model.predict(F).shape
    (48, 48)
    """

    def __init__(self, features="default", n_estimators=100, max_depth=None,
                 context_sigmas=(), smooth_sigma=0.0, prior_correction=False,
                 grow=False, pseudo_labels=0, pseudo_confidence=0.7, pseudo_weight=1.0,
                 max_per_class=5000, random_state=0, n_jobs=-1):
        self.features = features
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.context_sigmas = context_sigmas
        self.smooth_sigma = smooth_sigma
        self.prior_correction = prior_correction
        self.grow = grow
        self.pseudo_labels = pseudo_labels
        self.pseudo_confidence = pseudo_confidence
        self.pseudo_weight = pseudo_weight
        self.max_per_class = max_per_class
        self.random_state = random_state
        self.n_jobs = n_jobs

    @property
    def spec(self) -> FeatureSpec:
        return PRESETS[self.features] if isinstance(self.features, str) else self.features

    def _forest(self, X, y, weight=None):
        """A fitted forest; classes weigh alike unless ``weight`` is given."""
        from sklearn.ensemble import RandomForestClassifier

        forest = RandomForestClassifier(
            n_estimators=int(self.n_estimators), max_depth=self.max_depth,
            class_weight="balanced" if weight is None else None,
            n_jobs=self.n_jobs, random_state=self.random_state)
        return forest.fit(X, y, sample_weight=weight)

    def _pseudo(self, forest, flat, seeded, rng):
        """Indices and labels of confident unseeded pixels (a random draw)."""
        free = np.flatnonzero(~seeded)
        pool = np.sort(rng.choice(free, min(free.size, 20 * int(self.pseudo_labels)),
                                  replace=False))
        proba = forest.predict_proba(flat[pool])
        confident = proba.max(axis=1) >= self.pseudo_confidence
        pool, proba = pool[confident], proba[confident]
        take = np.sort(rng.choice(pool.size, min(pool.size, int(self.pseudo_labels)),
                                  replace=False))
        return pool[take], forest.classes_[proba[take].argmax(axis=1)]

    def _check(self, F, seeds=None):
        F = np.asarray(F, dtype=np.float32)
        if F.ndim not in (3, 4):
            raise ValueError(f"features must be spatial (2D or 3D) + (F,); got shape {F.shape}")
        if seeds is not None:
            seeds = np.asarray(seeds)
            if seeds.shape != F.shape[:-1]:
                raise ValueError(
                    f"seeds must have the features' spatial shape {F.shape[:-1]}; "
                    f"got {seeds.shape}")
            if not np.issubdtype(seeds.dtype, np.integer):
                raise TypeError(f"seeds must hold integer labels; got dtype {seeds.dtype}")
        return F, seeds

    def fit(self, F, seeds, *, spacing=None):
        """Train every stage on the seeded pixels of ``F``; returns self."""
        F, seeds = self._check(F, seeds)
        rng = np.random.default_rng(self.random_state)
        train = _training_indices(seeds, self.max_per_class, rng)
        y = seeds.ravel()[train]
        if np.unique(y).size < 2:
            raise ValueError(
                f"ContextForest needs seeds of at least two classes; got {np.unique(y).tolist()}")
        flat = F.reshape(-1, F.shape[-1])
        stage = self._forest(flat[train], y)
        self.classes_ = stage.classes_
        if self.pseudo_labels:
            extra, y_extra = self._pseudo(stage, flat, seeds.ravel() > 0, rng)
            counts = np.bincount(np.searchsorted(self.classes_, y))
            w_seed = (y.size / (self.classes_.size * counts))[np.searchsorted(self.classes_, y)]
            w_extra = np.full(extra.size, self.pseudo_weight * y.size / max(extra.size, 1))
            train = np.concatenate([train, extra])
            y = np.concatenate([y, y_extra])
            stage = self._forest(flat[train], y, np.concatenate([w_seed, w_extra]))
        self.stages_ = [stage]
        if len(self.context_sigmas):
            proba = stage.predict_proba(flat).reshape(F.shape[:-1] + (-1,))
            C = context_features(proba, sigmas=self.context_sigmas, spacing=spacing)
            X2 = np.concatenate([flat[train], C.reshape(-1, C.shape[-1])[train]], axis=1)
            self.stages_.append(self._forest(X2, y))
        self.n_features_in_ = F.shape[-1]
        self.seeds_ = seeds if self.grow else None
        return self

    def predict_proba(self, F, *, spacing=None, mask=None):
        """``spatial + (n_classes,)`` probabilities (columns follow ``classes_``)."""
        if not hasattr(self, "stages_"):
            raise ValueError("this ContextForest is not fitted yet; call fit first")
        F, _ = self._check(F)
        if F.shape[-1] != self.n_features_in_:
            raise ValueError(f"features have {F.shape[-1]} columns; the model was "
                             f"trained with {self.n_features_in_}")
        flat = F.reshape(-1, F.shape[-1])
        proba = self.stages_[0].predict_proba(flat).reshape(F.shape[:-1] + (-1,))
        if len(self.stages_) > 1:
            C = context_features(proba, sigmas=self.context_sigmas, spacing=spacing)
            X2 = np.concatenate([flat, C.reshape(-1, C.shape[-1])], axis=1)
            proba = self.stages_[1].predict_proba(X2).reshape(F.shape[:-1] + (-1,))
        if self.smooth_sigma:
            proba = smooth_proba(proba, sigma=self.smooth_sigma, spacing=spacing)
        self.priors_ = None
        if self.prior_correction:
            proba, self.priors_ = correct_priors(proba, mask=mask)
        return proba

    def predict(self, F, *, spacing=None, mask=None):
        """Labels (``classes_`` values), the spatial shape of ``F``."""
        proba = self.predict_proba(F, spacing=spacing, mask=mask)
        if self.grow and self.seeds_ is not None and self.seeds_.shape == proba.shape[:-1]:
            return grow_from_seeds(proba, self.seeds_, spacing=spacing,
                                   classes=self.classes_)[0]
        return self.classes_[np.argmax(proba, axis=-1)]


#: The feature bank of scikit-image's ``multiscale_basic_features`` defaults
#: (the ``"octaves"`` preset).
OCTAVES = PRESETS["octaves"]


def bench_variants():
    """Named model factories compared by ``bench/accuracy.py``.

    A ``+localR`` suffix makes the bench apply :func:`local_update` (radius
    ``R``, 0 = connected changes only) after each correction stroke.
    """
    return {
        "forest100 oct": lambda: ContextForest(features=OCTAVES),
        "forest50 d10 oct": lambda: ContextForest(features=OCTAVES, n_estimators=50,
                                                  max_depth=10),
        "forest30 d12 oct": lambda: ContextForest(features=OCTAVES, n_estimators=30,
                                                  max_depth=12),
        "forest100 oct +local0": lambda: ContextForest(features=OCTAVES),
        "forest100 oct +grow": lambda: ContextForest(features=OCTAVES, grow=True),
    }
