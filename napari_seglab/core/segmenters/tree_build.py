"""Compiled extra-trees, grown straight into :mod:`.tree_predict`'s flat arrays.

scikit-learn builds each tree through Python-level validation and object
set-up that costs about a millisecond whatever the sample count: for the
few hundred seeded pixels of a live stroke, the 32 trees of the default
forest took most of the stroke. This module grows the same kind of trees
(Geurts et al.'s extremely randomised trees, as
:class:`~sklearn.ensemble.ExtraTreesClassifier` without bootstrap) in a
numba kernel, writing nodes in the layout :func:`.tree_predict.flatten_trees`
returns, so :func:`.tree_predict.predict_forest_proba` reads them unchanged.

At each node: ``max_features`` features are drawn without replacement (more
when all of those are constant within the node, until one varies, as
scikit-learn does); for each varying one, one threshold uniform between the
node's minimum and maximum; the split with the lowest weighted Gini impurity
of the children among those wins. A node is a
leaf at ``max_depth``, when pure, when it holds fewer than
``2 * min_samples_leaf`` samples, or when no drawn split leaves
``min_samples_leaf`` on each side. Leaves hold the class fractions of their
samples' weights. Each tree has its own random stream, seeded from
``random_state``: the trees do not depend on the thread count.

References
----------
.. [1] P. Geurts, D. Ernst, L. Wehenkel, "Extremely randomized trees",
   Machine Learning 63(1), 3-42, 2006.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..compiled import with_globals
from ..threads import run_blocks

__all__ = ["build_extra_trees", "resolve_max_features"]

#: Impurity at or below which a node is pure (scikit-learn's float64 epsilon).
_PURE = float(np.finfo(np.float64).eps)
#: A feature whose range in a node is at most this is constant there (scikit-learn's value).
_CONSTANT = 1e-7


def resolve_max_features(max_features, n_features):
    """Features drawn per node, as scikit-learn reads ``max_features``.

    Examples
    --------
    >>> resolve_max_features("sqrt", 25), resolve_max_features(0.5, 9), resolve_max_features(None, 4)
    (5, 4, 4)
    """
    if max_features is None:
        return n_features
    if isinstance(max_features, str):
        if max_features == "sqrt":
            return max(1, int(math.sqrt(n_features)))
        if max_features == "log2":
            return max(1, int(math.log2(n_features)))
        raise ValueError(f"max_features must be 'sqrt', 'log2', an int, a float or None; "
                         f"got {max_features!r}")
    if isinstance(max_features, (int, np.integer)) and not isinstance(max_features, bool):
        if not 1 <= max_features <= n_features:
            raise ValueError(f"max_features must be within [1, {n_features}]; got {max_features}")
        return int(max_features)
    if isinstance(max_features, (float, np.floating)) and 0.0 < max_features <= 1.0:
        return max(1, int(max_features * n_features))
    raise ValueError(f"max_features must be 'sqrt', 'log2', an int, a float in (0, 1] or None; "
                     f"got {max_features!r}")


def _next_uniform(state):
    """A uniform float64 in [0, 1) from a splitmix64 stream (``state``: one uint64)."""
    state[0] += np.uint64(0x9E3779B97F4A7C15)
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return float(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


def _grow_tree(Xt, y, weight, n_classes, max_features, max_depth, min_leaf, seed,
               feature, threshold, left, right, value):
    """Grow one tree into the given node arrays (capacity ``feature.size``);
    returns ``(n_nodes, n_leaves)``. Node indices are local to the tree; at a
    leaf ``left`` is its local row of ``value``."""
    n_features, n = Xt.shape
    samples = np.arange(n)
    features = np.arange(n_features)
    counts = np.zeros(n_classes)
    left_counts = np.zeros(n_classes)
    state = np.empty(1, np.uint64)
    state[0] = np.uint64(seed)
    # The stack of nodes to grow: start, end, depth, node index.
    stack = np.empty((max_depth + 2, 4), np.int64)
    stack[0, 0], stack[0, 1], stack[0, 2], stack[0, 3] = 0, n, 0, 0
    top = 1
    n_nodes = 1
    n_leaves = 0
    while top > 0:
        top -= 1
        start, end, depth, node = stack[top, 0], stack[top, 1], stack[top, 2], stack[top, 3]
        for c in range(n_classes):
            counts[c] = 0.0
        for i in range(start, end):
            counts[y[samples[i]]] += weight[samples[i]]
        total = 0.0
        squares = 0.0
        for c in range(n_classes):
            total += counts[c]
            squares += counts[c] * counts[c]
        impurity = 1.0 - squares / (total * total) if total > 0 else 0.0
        best_f = -1
        best_t = np.float32(0.0)
        if depth < max_depth and end - start >= 2 * min_leaf and impurity > _PURE:
            best_score = -np.inf
            visited = 0
            varying = 0
            remaining = n_features
            while remaining > 0 and (visited < max_features or varying == 0):
                # Draw a feature not drawn yet at this node (Fisher-Yates, in place).
                j = int(_next_uniform(state) * remaining)
                remaining -= 1
                f = features[j]
                features[j] = features[remaining]
                features[remaining] = f
                visited += 1
                lo = Xt[f, samples[start]]
                hi = lo
                for i in range(start + 1, end):
                    v = Xt[f, samples[i]]
                    if v < lo:
                        lo = v
                    elif v > hi:
                        hi = v
                if hi <= lo + _CONSTANT:
                    continue
                varying += 1
                t = np.float32(lo + _next_uniform(state) * (np.float64(hi) - np.float64(lo)))
                if t >= hi or t < lo:
                    t = lo
                for c in range(n_classes):
                    left_counts[c] = 0.0
                n_left = 0
                for i in range(start, end):
                    s = samples[i]
                    if Xt[f, s] <= t:
                        left_counts[y[s]] += weight[s]
                        n_left += 1
                if n_left < min_leaf or end - start - n_left < min_leaf:
                    continue
                w_left = 0.0
                sq_left = 0.0
                sq_right = 0.0
                for c in range(n_classes):
                    w_left += left_counts[c]
                    sq_left += left_counts[c] * left_counts[c]
                    r = counts[c] - left_counts[c]
                    sq_right += r * r
                w_right = total - w_left
                # Maximising this minimises the children's weighted Gini impurity.
                score = (sq_left / w_left if w_left > 0 else 0.0) + \
                    (sq_right / w_right if w_right > 0 else 0.0)
                if score > best_score:
                    best_score = score
                    best_f = f
                    best_t = t
        if best_f < 0:
            feature[node] = -1
            left[node] = n_leaves
            right[node] = 0
            threshold[node] = 0.0
            for c in range(n_classes):
                value[n_leaves, c] = counts[c] / total if total > 0 else 1.0 / n_classes
            n_leaves += 1
            continue
        # Partition the node's samples: those with x <= t first.
        i, k = start, end
        while i < k:
            if Xt[best_f, samples[i]] <= best_t:
                i += 1
            else:
                k -= 1
                s = samples[i]
                samples[i] = samples[k]
                samples[k] = s
        feature[node] = best_f
        threshold[node] = best_t
        left[node] = n_nodes
        right[node] = n_nodes + 1
        # The right child below the left: the left subtree is grown first (preorder-ish).
        stack[top, 0], stack[top, 1], stack[top, 2], stack[top, 3] = i, end, depth + 1, n_nodes + 1
        stack[top + 1, 0], stack[top + 1, 1] = start, i
        stack[top + 1, 2], stack[top + 1, 3] = depth + 1, n_nodes
        top += 2
        n_nodes += 2
    return n_nodes, n_leaves


def _grow_trees(Xt, y, weight, n_classes, max_features, max_depth, min_leaf, seeds, first,
                last, feature, threshold, left, right, value, sizes):
    """Grow trees ``first`` to ``last - 1``, each in its row of the node arrays."""
    for t in range(first, last):
        n_nodes, n_leaves = _grow_tree(Xt, y, weight, n_classes, max_features, max_depth,
                                       min_leaf, seeds[t], feature[t], threshold[t], left[t],
                                       right[t], value[t])
        sizes[t, 0] = n_nodes
        sizes[t, 1] = n_leaves


@functools.lru_cache(maxsize=1)
def _kernels():
    """The compiled kernels (numba is imported on first use: seconds at import)."""
    import numba

    jit = numba.njit(nogil=True, cache=True)
    uniform = jit(_next_uniform)
    grow_tree = jit(with_globals(_grow_tree, _next_uniform=uniform))
    return jit(with_globals(_grow_trees, _grow_tree=grow_tree))


def build_extra_trees(X, y, n_classes, *, n_estimators=32, max_depth=None, min_samples_leaf=1,
                      max_features="sqrt", sample_weight=None, random_state=0, threads=1):
    """Grow an extra-trees classifier into :func:`.tree_predict.flatten_trees`' layout.

    Parameters
    ----------
    X : ndarray of float32, shape (n_samples, n_features)
    y : ndarray of int, shape (n_samples,)
        Class indices in ``0 .. n_classes - 1``.
    n_classes : int
    n_estimators : int, default 32
    max_depth : int or None, default None
        The root is at depth 0; None = grow until pure.
    min_samples_leaf : int or float, default 1
        A float is a fraction of the samples (rounded up), as in scikit-learn.
    max_features : {"sqrt", "log2"}, int, float or None, default "sqrt"
    sample_weight : ndarray of float, shape (n_samples,), optional
        E.g. balanced class weights; None = 1 each.
    random_state : int, RandomState or None, default 0
        Draws one seed per tree.
    threads : int, default 1
        Trees are grown in this many groups over a thread pool.

    Returns
    -------
    dict of ndarray
        ``feature``, ``threshold``, ``left``, ``right``, ``value``, ``roots``
        as :func:`.tree_predict.flatten_trees` returns them.

    Examples
    --------
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]], np.float32)
    >>> trees = build_extra_trees(X, np.array([0, 0, 1, 1]), 2, n_estimators=3)
    >>> from napari_seglab.core.segmenters.tree_predict import predict_forest_proba
    >>> predict_forest_proba(X, trees).argmax(axis=1).tolist()
    [0, 0, 1, 1]
    """
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64).ravel()
    n, n_features = X.shape
    if y.shape[0] != n or n == 0:
        raise ValueError(f"X and y need as many rows, at least one; got {n} and {y.shape[0]}")
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"y must hold class indices in [0, {n_classes}); "
                         f"got {y.min()}..{y.max()}")
    weight = (np.ones(n) if sample_weight is None
              else np.asarray(sample_weight, dtype=np.float64).ravel())
    if isinstance(min_samples_leaf, (float, np.floating)):
        min_leaf = max(1, math.ceil(float(min_samples_leaf) * n))
    else:
        min_leaf = max(1, int(min_samples_leaf))
    depth = 2 ** 30 if max_depth is None else int(max_depth)
    n_estimators = int(n_estimators)
    # Nodes per tree: a binary tree of at most n leaves, and of at most 2^depth leaves.
    capacity = 2 * max(1, n // min_leaf) - 1
    if depth < 40:
        capacity = min(capacity, 2 ** (depth + 1) - 1)
    leaves = (capacity + 1) // 2
    rng = random_state if isinstance(random_state, np.random.RandomState) else \
        np.random.RandomState(random_state)
    seeds = rng.randint(0, 2 ** 63 - 1, size=n_estimators, dtype=np.int64).astype(np.uint64)
    feature = np.empty((n_estimators, capacity), np.int32)
    threshold = np.empty((n_estimators, capacity), np.float32)
    left = np.empty((n_estimators, capacity), np.int32)
    right = np.empty((n_estimators, capacity), np.int32)
    value = np.empty((n_estimators, leaves, n_classes), np.float32)
    sizes = np.zeros((n_estimators, 2), np.int64)
    Xt = np.ascontiguousarray(X.T)  # a feature's values side by side: the node loops read columns
    grow = _kernels()
    max_features = resolve_max_features(max_features, n_features)
    # The stack holds at most one pending right child per level (+ the node popped).
    stack_depth = min(depth, n)

    threads = max(1, min(int(threads), n_estimators))
    per_call = -(-n_estimators // threads)

    def run(first):
        grow(Xt, y, weight, int(n_classes), max_features, stack_depth, min_leaf, seeds, first,
             min(first + per_call, n_estimators), feature, threshold, left, right, value, sizes)

    run_blocks(run, n_estimators, per_call, threads)
    return _concatenate(feature, threshold, left, right, value, sizes)


def _concatenate(feature, threshold, left, right, value, sizes):
    """The per-tree rows joined into one forest, indices made global."""
    nodes, leaves = sizes[:, 0], sizes[:, 1]
    roots = np.r_[0, np.cumsum(nodes)[:-1]]
    leaf_offsets = np.r_[0, np.cumsum(leaves)[:-1]]
    used = np.arange(feature.shape[1]) < nodes[:, None]
    out_feature = feature[used]
    is_leaf = out_feature < 0
    # A split's children are counted from its tree's root, a leaf's row from its tree's first leaf.
    offset = np.where(feature < 0, leaf_offsets[:, None], roots[:, None])[used]
    out_right = (right[used] + np.repeat(roots, nodes)).astype(np.int32)
    out_right[is_leaf] = 0
    return {"feature": out_feature, "threshold": threshold[used],
            "left": (left[used] + offset).astype(np.int32), "right": out_right,
            "value": value[np.arange(value.shape[1]) < leaves[:, None]],
            "roots": roots.astype(np.int32)}
