"""Fewer features or channels: principal components of channels, feature ranking and a suggested subset."""

from __future__ import annotations

import numpy as np

from .spec import FeatureSpec, _resolve_spec

# --------------------------------------------------------------------------
# Channel reduction, feature ranking


def reduce_channels(image, n_components: int, *, channel_axis: int = -1,
                    max_samples: int = 200_000, random_state: int = 0) -> np.ndarray:
    """Project many channels (e.g. a spectral stack) on their principal components.

    Parameters
    ----------
    image : array-like
        Image with a channel axis.
    n_components : int
        Number of principal components to keep (≤ number of channels).
    channel_axis : int, optional
        Axis holding the channels.
    max_samples : int, optional
        Pixels (a fixed random subset) used to estimate the covariance.
    random_state : int, optional
        Seed of that subset.

    Returns
    -------
    reduced : ndarray of float32, shape ``spatial + (n_components,)``
        Components by decreasing variance, channel axis last; signs are
        fixed so that each component's largest loading is positive.

    Raises
    ------
    ValueError
        If ``n_components`` is not in ``1..n_channels``.

    Examples
    --------
    >>> cube = np.random.default_rng(0).random((20, 20, 30))
    >>> reduce_channels(cube, 3).shape
    (20, 20, 3)
    """
    data = np.moveaxis(np.asarray(image, dtype=np.float32), channel_axis, -1)
    C = data.shape[-1]
    if not 1 <= int(n_components) <= C:
        raise ValueError(f"n_components must be in 1..{C} (the number of channels); "
                         f"got {n_components}")
    flat = data.reshape(-1, C)
    rng = np.random.default_rng(random_state)
    sample = flat if flat.shape[0] <= max_samples else flat[
        np.sort(rng.choice(flat.shape[0], max_samples, replace=False))]
    sample = sample.astype(np.float64)
    mean = sample.mean(axis=0)
    cov = np.cov(sample - mean, rowvar=False).reshape(C, C)
    w, v = np.linalg.eigh(cov)
    v = v[:, ::-1][:, :int(n_components)]
    v *= np.sign(v[np.abs(v).argmax(axis=0), np.arange(v.shape[1])])
    out = (flat - mean.astype(np.float32)) @ v.astype(np.float32)
    return out.reshape(data.shape[:-1] + (v.shape[1],)).astype(np.float32, copy=False)


def rank_features(X, y, names=None, *, method: str = "forest", n_estimators: int = 100,
                  cv: int = 3, random_state: int = 0) -> list[tuple[str, float]]:
    """Score each feature from seed samples, best first.

    Parameters
    ----------
    X : array-like, shape (n_samples, n_features)
        Features of the seed pixels.
    y : array-like, shape (n_samples,)
        Their labels.
    names : sequence of str, optional
        Feature names (e.g. :meth:`FeatureSpec.names`); default ``"f0"``...
    method : {"forest", "drop_one"}, optional
        ``"forest"``: random-forest impurity importances (fast).
        ``"drop_one"``: cross-validated accuracy lost when the feature is
        removed (slower, one forest per feature).
    n_estimators : int, optional
        Trees per forest.
    cv : int, optional
        Folds for ``"drop_one"``.
    random_state : int, optional
        Seed; the ranking is deterministic.

    Returns
    -------
    ranking : list of (str, float)
        ``(name, score)`` sorted by decreasing score.

    Raises
    ------
    ValueError
        For mismatched shapes, fewer than two classes or an unknown method.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3)); y = (X[:, 1] > 0).astype(int)
    >>> rank_features(X, y, ["a", "b", "c"])[0][0]
    'b'
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"X must be (n_samples, n_features) and y (n_samples,); got "
                         f"{X.shape} and {y.shape}")
    if np.unique(y).size < 2:
        raise ValueError("ranking features needs seeds of at least two classes")
    names = [f"f{i}" for i in range(X.shape[1])] if names is None else list(names)
    if len(names) != X.shape[1]:
        raise ValueError(f"{len(names)} names for {X.shape[1]} features")

    def forest():
        return RandomForestClassifier(n_estimators=n_estimators, random_state=random_state,
                                      n_jobs=1)

    if method == "forest":
        scores = forest().fit(X, y).feature_importances_
    elif method == "drop_one":
        folds = StratifiedKFold(cv, shuffle=True, random_state=random_state)
        base = cross_val_score(forest(), X, y, cv=folds).mean()
        scores = np.array([
            base - cross_val_score(forest(), np.delete(X, i, axis=1), y, cv=folds).mean()
            for i in range(X.shape[1])
        ])
    else:
        raise ValueError(f"method must be 'forest' or 'drop_one'; got {method!r}")
    order = sorted(range(len(names)), key=lambda i: (-scores[i], i))
    return [(names[i], float(scores[i])) for i in order]


def suggest_features(X, y, spec, *, n_channels: int = 1, ndim: int = 2,
                     max_filters: int = 6, keep_intensity: bool = True,
                     random_state: int = 0) -> FeatureSpec:
    """A smaller spec: the ``max_filters`` most useful (filter, σ) entries.

    Forest importances of the features (see :func:`rank_features`) are
    summed over the outputs of each spec entry (channels, eigenvalues).

    Parameters
    ----------
    X, y : array-like
        Seed features (computed with ``spec``) and labels.
    spec : FeatureSpec or str
        The spec ``X`` was computed with.
    n_channels, ndim : int, optional
        Image channels and spatial dimensions (to map columns to entries).
    max_filters : int, optional
        Number of entries to keep.
    keep_intensity : bool, optional
        Always keep ``intensity`` if the spec has it (it is free).
    random_state : int, optional
        Seed of the forest.

    Returns
    -------
    FeatureSpec
        The chosen entries in their original order, same mode and
        normalisation.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> spec = FeatureSpec((("intensity", 0), ("gaussian", 1), ("gaussian", 2)))
    >>> X = rng.normal(size=(100, 3)); y = (X[:, 2] > 0).astype(int)
    >>> suggest_features(X, y, spec, max_filters=1, keep_intensity=False).filters
    (('gaussian', 2.0),)
    """
    spec = _resolve_spec(spec)
    entry = spec.entry_of_feature(n_channels, ndim)
    X = np.asarray(X)
    if X.shape[1] != entry.size:
        raise ValueError(f"X has {X.shape[1]} features but {spec} gives {entry.size} "
                         f"for n_channels={n_channels}, ndim={ndim}")
    ranking = rank_features(X, y, [str(i) for i in range(X.shape[1])],
                            random_state=random_state)
    per_entry = np.zeros(len(spec.filters))
    for name, score in ranking:
        per_entry[entry[int(name)]] += score
    order = sorted(range(len(spec.filters)), key=lambda i: (-per_entry[i], i))
    keep = set(order[:max(1, int(max_filters))])
    if keep_intensity:
        keep |= {i for i, (n, _) in enumerate(spec.filters) if n == "intensity"}
    chosen = tuple(f for i, f in enumerate(spec.filters) if i in keep)
    return FeatureSpec(chosen, mode=spec.mode, normalize=spec.normalize)
