"""The compiled extra-trees builder: valid trees, the stopping rules, determinism, accuracy."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import ExtraTreesClassifier

from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom
from napari_seglab.core.segmenters import FastForestSegmenter
from napari_seglab.core.segmenters.tree_build import build_extra_trees, resolve_max_features
from napari_seglab.core.segmenters.tree_predict import flatten_trees, predict_forest_proba


def _rows(n=3000, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int) + 2 * (X[:, 3] > 1)
    return X, y


def _walk(trees):
    """Per tree: each node's depth, and each leaf's (node, depth)."""
    feature, left, right = trees["feature"], trees["left"], trees["right"]
    out = []
    for root in trees["roots"]:
        depth, leaves, stack = {}, [], [(int(root), 0)]
        while stack:
            node, d = stack.pop()
            depth[node] = d
            if feature[node] < 0:
                leaves.append((node, d))
            else:
                stack += [(int(left[node]), d + 1), (int(right[node]), d + 1)]
        out.append((depth, leaves))
    return out


def _leaf_of(trees, X, tree):
    """The leaf node each row of ``X`` reaches in one tree."""
    feature, threshold = trees["feature"], trees["threshold"]
    nodes = np.full(X.shape[0], trees["roots"][tree])
    while (feature[nodes] >= 0).any():
        inner = feature[nodes] >= 0
        n = nodes[inner]
        go_left = X[inner, feature[n]] <= threshold[n]
        nodes[inner] = np.where(go_left, trees["left"][n], trees["right"][n])
    return nodes


@pytest.mark.parametrize("max_depth", [3, 16, None])
def test_trees_are_valid_and_respect_max_depth(max_depth):
    X, y = _rows(1500)
    trees = build_extra_trees(X, y, 4, n_estimators=6, max_depth=max_depth)
    n_nodes = trees["feature"].size
    assert trees["roots"][0] == 0 and np.all(np.diff(trees["roots"]) > 0)
    inner = trees["feature"] >= 0
    assert np.all(trees["feature"][inner] < X.shape[1])
    assert np.all((trees["left"][inner] < n_nodes) & (trees["right"][inner] < n_nodes))
    # Every leaf has its own row of class fractions, and they sum to 1.
    rows = np.sort(trees["left"][~inner])
    assert np.array_equal(rows, np.arange(trees["value"].shape[0]))
    np.testing.assert_allclose(trees["value"].sum(axis=1), 1, atol=1e-6)
    assert trees["value"].min() >= 0
    seen = 0
    for depth, leaves in _walk(trees):
        seen += len(depth)
        deepest = max(d for _, d in leaves)
        assert deepest <= (max_depth or np.inf)
        if max_depth == 3:
            assert deepest == 3  # 1500 noisy rows: a depth-3 tree is not pure anywhere earlier
    assert seen == n_nodes  # every node belongs to exactly one tree


def test_unlimited_trees_fit_the_training_rows_and_stop_at_pure_nodes():
    X, y = _rows(400)
    trees = build_extra_trees(X, y, 4, n_estimators=4, max_depth=None)
    for t in range(4):
        leaves = _leaf_of(trees, X, t)
        values = trees["value"][trees["left"][leaves]]
        # Each leaf is pure (distinct rows), and the row's own class is the leaf's.
        assert np.array_equal(values.argmax(axis=1), y)
        assert np.all(values.max(axis=1) == 1)
        # A pure node is never split: every split node holds rows of two classes or more.
        classes_at = {}
        nodes = np.full(X.shape[0], trees["roots"][t])
        while (trees["feature"][nodes] >= 0).any():
            inner = trees["feature"][nodes] >= 0
            for node, label in zip(nodes[inner], y[inner]):
                classes_at.setdefault(int(node), set()).add(int(label))
            n = nodes[inner]
            go_left = X[inner, trees["feature"][n]] <= trees["threshold"][n]
            nodes[inner] = np.where(go_left, trees["left"][n], trees["right"][n])
        assert min(len(c) for c in classes_at.values()) >= 2
    one_class = build_extra_trees(X, np.zeros(400, int), 2, n_estimators=3)
    assert np.all(one_class["feature"] == -1)
    np.testing.assert_array_equal(one_class["value"], [[1, 0]] * 3)


def test_a_separable_set_is_fitted_perfectly_and_held_out_rows_too():
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, size=(600, 5)).astype(np.float32)
    y = (X[:, 2] > 0.1).astype(int)
    trees = build_extra_trees(X[:300], y[:300], 2, n_estimators=16, max_depth=16)
    assert np.array_equal(predict_forest_proba(X[:300], trees).argmax(axis=1), y[:300])
    assert np.mean(predict_forest_proba(X[300:], trees).argmax(axis=1) == y[300:]) > 0.95


def test_deterministic_with_random_state_and_independent_of_threads():
    X, y = _rows(800)
    a = build_extra_trees(X, y, 4, random_state=3, threads=1)
    b = build_extra_trees(X, y, 4, random_state=3, threads=2)
    c = build_extra_trees(X, y, 4, random_state=4)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert a["feature"].size != c["feature"].size or not np.array_equal(a["threshold"],
                                                                        c["threshold"])


def test_constant_features_are_never_split_and_weights_set_the_fractions():
    rng = np.random.default_rng(2)
    X = np.zeros((200, 4), np.float32)
    X[:, 2] = rng.normal(size=200)
    y = (X[:, 2] > 0).astype(int)
    trees = build_extra_trees(X, y, 2, n_estimators=8, max_features=1)
    assert set(np.unique(trees["feature"])) == {-1, 2}
    assert np.array_equal(predict_forest_proba(X, trees).argmax(axis=1), y)
    # Identical rows cannot be split: one leaf holding the weighted class fractions.
    same = np.ones((4, 3), np.float32)
    unsplit = build_extra_trees(same, np.array([0, 0, 0, 1]), 2, n_estimators=2,
                                sample_weight=np.array([1, 1, 1, 3.0]))
    assert np.all(unsplit["feature"] == -1)
    np.testing.assert_allclose(unsplit["value"], [[0.5, 0.5]] * 2)


def test_edge_cases_two_samples_one_feature_min_samples_leaf():
    two = build_extra_trees(np.array([[0.0], [1.0]], np.float32), np.array([1, 0]), 2,
                            n_estimators=3)
    np.testing.assert_array_equal(
        predict_forest_proba(np.array([[0.0], [1.0]], np.float32), two), [[0, 1], [1, 0]])
    one = build_extra_trees(np.array([[5.0]], np.float32), np.array([1]), 3, n_estimators=2)
    np.testing.assert_array_equal(one["value"], [[0, 1, 0]] * 2)
    X, y = _rows(500)
    trees = build_extra_trees(X, y, 4, n_estimators=4, min_samples_leaf=7, max_depth=None)
    for t in range(4):
        counts = np.bincount(_leaf_of(trees, X, t))
        assert counts[counts > 0].min() >= 7
    with pytest.raises(ValueError, match="class indices"):
        build_extra_trees(X, y, 3)
    with pytest.raises(ValueError, match="max_features"):
        build_extra_trees(X, y, 4, max_features="half")
    assert resolve_max_features("sqrt", 25) == 5 and resolve_max_features("log2", 25) == 4


def test_as_accurate_as_scikit_learns_extra_trees_on_a_phantom():
    # The default's use: few seeded pixels, a 25-column bank, balanced class weights.
    image, truth = tissue_phantom((160, 160), random_state=5)
    from napari_seglab.core.features import compute_features

    feats = compute_features(image, "blend")
    feats = feats.reshape(-1, feats.shape[-1])
    scores = {}
    for builder in ("numba", "sklearn"):
        hits = []
        for draw in range(3):
            seeds = scribble_seeds(truth, strokes_per_class=3, random_state=draw).ravel()
            seeded = np.flatnonzero(seeds)
            model = FastForestSegmenter(builder=builder, knn_weight=0.0, random_state=draw,
                                        first_trees=0)
            model.fit(feats[seeded], seeds[seeded])
            unseeded = seeds == 0
            hits.append(np.mean(model.predict(feats[unseeded]) == truth.ravel()[unseeded] + 1))
        scores[builder] = np.mean(hits)
    assert abs(scores["numba"] - scores["sklearn"]) < 0.02, scores
    assert scores["numba"] > 0.8, scores


def test_same_forest_shape_as_scikit_learns():
    # Same rules: node counts and depths of the same order as scikit-learn's extra-trees.
    X, y = _rows(2000)
    ours = build_extra_trees(X, y, 4, n_estimators=16, max_depth=16)
    est = ExtraTreesClassifier(16, max_depth=16, random_state=0).fit(X, y)
    theirs = flatten_trees(est.estimators_, 4)
    ratio = ours["feature"].size / theirs["feature"].size
    assert 0.9 < ratio < 1.1, ratio
