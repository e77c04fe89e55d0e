"""Compiled prediction of a fitted scikit-learn tree ensemble over float32 rows.

scikit-learn's forests predict tree by tree, each over every row, with a
float64 copy of the input and one probability array per tree: on 2 cores
a 50-tree forest took 4–8 s for 4 M voxels. Here the trees are flattened
into a few arrays once (:func:`flatten_trees`) and a numba kernel walks
every tree for one row at a time (the row stays in cache), in row blocks
spread over a thread pool (the kernel releases the GIL).

The kernel can stop early (a cascade, :func:`predict_forest_proba`'s
``first_trees`` / ``confidence``): after the first trees, a row whose
averaged probability of one class already reaches ``confidence`` keeps
that average; only the rows where the first trees hesitate (typically a
few per cent of an image: borders, thin structures) are read by every tree.
"""

from __future__ import annotations

import functools

import numpy as np

from ..threads import run_blocks

__all__ = ["flatten_trees", "predict_forest_proba"]

#: Rows per block handed to one kernel call.
_BLOCK_ROWS = 1 << 15


def _float32_at_most(threshold):
    """The largest float32 ≤ each float64 threshold: for a float32 ``x``,
    ``x <= t32`` is then exactly scikit-learn's ``x <= threshold``."""
    t32 = threshold.astype(np.float32)
    above = t32.astype(np.float64) > threshold
    t32[above] = np.nextafter(t32[above], np.float32(-np.inf))
    return t32


def flatten_trees(estimators, n_classes):
    """The trees of a fitted ensemble as flat arrays.

    Parameters
    ----------
    estimators : sequence of fitted ``DecisionTreeClassifier``
    n_classes : int

    Returns
    -------
    dict of ndarray
        Per node, every tree's nodes one after the other: ``feature``
        (int32, -1 at a leaf), ``threshold`` (float32, rounded down so that
        ``x <= threshold`` is scikit-learn's float64 comparison exactly),
        ``left`` / ``right`` (int32 indices into the concatenation; at a leaf
        ``left`` is its row of ``value``); ``value`` (float32,
        ``(n_leaves, n_classes)``, class fractions) and ``roots`` (int32).
    """
    feature, threshold, left, right, value, roots = [], [], [], [], [], []
    offset = leaves = 0
    for est in estimators:
        t = est.tree_
        n = t.node_count
        leaf = t.children_left < 0
        n_leaves = int(leaf.sum())
        feature.append(np.where(leaf, -1, t.feature).astype(np.int32))
        threshold.append(_float32_at_most(np.asarray(t.threshold, np.float64)))
        lt = np.where(leaf, 0, t.children_left + offset).astype(np.int32)
        lt[leaf] = leaves + np.arange(n_leaves)
        left.append(lt)
        right.append(np.where(leaf, 0, t.children_right + offset).astype(np.int32))
        v = np.asarray(t.value, np.float64)[leaf, 0, :]
        # A tree fitted on fewer classes than the ensemble maps its columns.
        full = np.zeros((n_leaves, n_classes), np.float64)
        full[:, np.asarray(est.classes_, np.intp)] = v
        sums = full.sum(axis=1, keepdims=True)
        value.append((full / np.where(sums > 0, sums, 1.0)).astype(np.float32))
        roots.append(offset)
        offset += n
        leaves += n_leaves
    return {"feature": np.concatenate(feature), "threshold": np.concatenate(threshold),
            "left": np.concatenate(left), "right": np.concatenate(right),
            "value": np.concatenate(value), "roots": np.asarray(roots, np.int32)}


def _walk_rows(X, feature, threshold, left, right, value, roots, first, confidence, out):
    """Average every tree's leaf fractions into ``out``, one row at a time
    (the row stays in registers and cache), stopping a row after ``first``
    trees when one class already has ``confidence``."""
    n, k = X.shape[0], value.shape[1]
    n_trees = roots.shape[0]
    for i in range(n):
        for c in range(k):
            out[i, c] = 0.0
        used = n_trees
        for t in range(n_trees):
            node = roots[t]
            f = feature[node]
            while f >= 0:
                node = left[node] if X[i, f] <= threshold[node] else right[node]
                f = feature[node]
            leaf = left[node]
            for c in range(k):
                out[i, c] += value[leaf, c]
            if t + 1 == first and first < n_trees:
                best = out[i, 0]
                for c in range(1, k):
                    best = max(best, out[i, c])
                if best >= confidence * first:
                    used = first
                    break
        for c in range(k):
            out[i, c] /= used


@functools.lru_cache(maxsize=1)
def _walk():
    """The compiled kernel (numba is imported on first use: seconds at import)."""
    import numba

    return numba.njit(nogil=True, cache=True)(_walk_rows)


def predict_forest_proba(X, trees, *, first_trees=0, confidence=1.0, threads=None):
    """Averaged class fractions of the flattened trees, float32 ``(n, n_classes)``.

    Parameters
    ----------
    X : ndarray of float32, shape (n, n_features), C-contiguous
    trees : dict
        From :func:`flatten_trees`.
    first_trees : int, default 0
        With ``0 < first_trees < n_trees``: rows whose average over the first
        ``first_trees`` trees gives one class at least ``confidence`` stop
        there (the cascade); 0 = every tree for every row.
    confidence : float, default 1.0
    threads : int, optional
        Thread count (default: the CPU count).
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    k = trees["value"].shape[1]
    out = np.empty((X.shape[0], k), np.float32)
    args = (trees["feature"], trees["threshold"], trees["left"], trees["right"],
            trees["value"], trees["roots"], int(first_trees), np.float32(confidence))

    walk = _walk()

    def run(start):
        rows = slice(start, start + _BLOCK_ROWS)
        walk(X[rows], *args, out[rows])

    run_blocks(run, X.shape[0], _BLOCK_ROWS, threads)
    return out
