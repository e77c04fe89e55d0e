"""Segmentation metrics (core, no GUI): known values, scikit-learn agreement,
edge cases, masks, tiles, surface distances, 64-bit counts, published numbers."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.spatial.distance import cdist

from napari_seglab import metrics
from napari_seglab.core import metrics as core_metrics

nan = float("nan")


def same(a, b):
    """Equal floats, nan equal to nan."""
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-12, abs=1e-12)


# ---------------------------------------------------------------- public API


def test_public_names_are_reexported():
    for name in core_metrics.__all__:
        assert getattr(metrics, name) is getattr(core_metrics, name)
    for name in ("scores", "per_class", "summary", "scores_from_confusion", "hausdorff95"):
        assert name in metrics.__all__


# -------------------------------------------------------------- known values


def test_confusion_matrix_known_values():
    cm = metrics.confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2])
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(cm, [[1, 0, 0], [0, 1, 1], [0, 0, 1]])
    # labels: order kept; pixels with other values not counted; absent label -> zeros
    cm = metrics.confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], labels=[2, 1, 9])
    np.testing.assert_array_equal(cm, [[1, 0, 0], [1, 1, 0], [0, 0, 0]])


@pytest.mark.parametrize(
    "truth, pred",
    [
        ([-3, 5, 5, 1000], [5, -3, 1000, 1000]),  # wide range -> general path
        (np.array([250, 3], np.uint8), np.array([3, 3], np.int16)),  # mixed dtypes
        (np.array([-128, 127], np.int8), np.array([127, 127], np.int8)),  # int8 extremes
        (np.array([2**63 + 5, 2**63 + 5], np.uint64), np.array([2**63 + 5, 2**63 + 6], np.uint64)),
        (np.array([True, False, True]), np.array([True, True, False])),
    ],
)
def test_confusion_matrix_value_paths(truth, pred):
    t, p = np.asarray(truth), np.asarray(pred)
    labels = np.union1d(t, p)
    expected = [[int(np.sum((t == a) & (p == b))) for b in labels] for a in labels]
    np.testing.assert_array_equal(metrics.confusion_matrix(t, p), expected)


def test_confusion_matrix_strided_and_odd_sizes():
    rng = np.random.default_rng(1)
    t = rng.integers(0, 3, (33, 17, 9))
    p = rng.integers(0, 3, (33, 17, 9))
    expected = metrics.confusion_matrix(t.copy(), p.copy())
    assert expected.sum() == t.size  # odd number of pixels
    np.testing.assert_array_equal(
        metrics.confusion_matrix(t.T, p.T), expected
    )  # Fortran order, via buffered iteration
    sub = metrics.confusion_matrix(t[::2, :, 1:], p[::2, :, 1:])
    np.testing.assert_array_equal(
        sub, metrics.confusion_matrix(t[::2, :, 1:].copy(), p[::2, :, 1:].copy())
    )


def test_confusion_matrix_in_chunks(monkeypatch):
    rng = np.random.default_rng(2)
    t = rng.integers(0, 4, 1001).astype(np.uint8)
    p = rng.integers(0, 4, 1001).astype(np.uint8)
    expected = metrics.confusion_matrix(t, p)
    monkeypatch.setattr(core_metrics, "_CHUNK", 7)
    np.testing.assert_array_equal(metrics.confusion_matrix(t, p), expected)
    np.testing.assert_array_equal(metrics.confusion_matrix(t[::-1], p[::-1]), expected)
    wide = metrics.confusion_matrix(t.astype(int) * 100, p.astype(int) * 100)
    np.testing.assert_array_equal(wide, expected)


def test_scores_known_values():
    s = metrics.scores([0, 0, 1, 1, 1], [0, 1, 1, 1, 0])
    assert (s["tp"], s["fp"], s["fn"], s["tn"], s["n"]) == (2, 1, 1, 1, 5)
    assert all(type(s[k]) is int for k in ("tp", "fp", "fn", "tn", "n"))
    assert all(type(s[k]) is float for k in ("accuracy", "precision", "recall", "f1", "mcc"))
    assert s["accuracy"] == 3 / 5
    assert s["precision"] == 2 / 3
    assert s["recall"] == 2 / 3
    assert s["specificity"] == 1 / 2
    assert s["f1"] == s["dice"] == 2 / 3
    assert s["jaccard"] == 2 / 4
    assert s["mcc"] == pytest.approx((2 * 1 - 1 * 1) / math.sqrt(3 * 3 * 2 * 2), rel=1e-15)


def test_scores_positive_label():
    truth = [0, 0, 3, 3, 7]
    pred = [0, 3, 3, 0, 3]
    s = metrics.scores(truth, pred, positive=3)
    assert (s["tp"], s["fp"], s["fn"], s["tn"]) == (1, 2, 1, 1)
    s = metrics.scores(truth, pred)  # non-zero is foreground: 7 counts as foreground
    assert (s["tp"], s["fp"], s["fn"], s["tn"]) == (2, 1, 1, 1)


def test_dice_keeps_its_contract():
    assert metrics.dice([0, 1, 1, 1], [0, 1, 1, 0]) == {0: 2 / 3, 1: 0.8}
    d = metrics.dice([0, 1, 1, 2], [0, 1, 1, 1], labels=[1, 5])
    assert d[1] == 2 * 2 / (2 + 3)  # the unlisted label 2 still counts as a false negative
    assert math.isnan(d[5])
    assert list(d) == [1, 5]


def test_overlap_mapping():
    assert metrics.overlap_mapping([0, 0, 7, 7, 8], [1, 1, 2, 2, 2]) == {0: 1, 7: 2, 8: 2}
    assert metrics.overlap_mapping([5, 5], [2, 1]) == {5: 1}  # tie -> smallest label


# ------------------------------------------------------- published numbers


def test_reproduces_published_kesm_numbers(shared_data):
    from scipy import ndimage as ndi
    from skimage.filters import threshold_otsu
    from skimage.io import imread

    gray = imread(shared_data / "kesm" / "grayscale.png")
    truth = imread(shared_data / "kesm" / "groundtruth.png")
    filtered = ndi.median_filter(255 - gray, size=3)  # default border mode "reflect"
    assert threshold_otsu(filtered) == 79
    s = metrics.scores(truth > 0, filtered > 79)
    assert (s["tn"], s["fp"], s["fn"], s["tp"]) == (254564, 122, 1863, 5595)
    assert s["accuracy"] == pytest.approx(0.9924278259277344, abs=1e-12)
    assert s["f1"] == pytest.approx(0.8493358633776091, abs=1e-12)
    assert s["mcc"] == pytest.approx(0.8533910225863214, abs=1e-12)
    # Same numbers with the raw 0/255 truth and the label form of the prediction.
    s2 = metrics.scores(truth, (filtered > 79).astype(np.uint8) * 255, positive=255)
    assert s2 == s


# ------------------------------------------------- scikit-learn agreement

labelings = st.integers(1, 60).flatmap(
    lambda n: st.tuples(
        hnp.arrays(np.int64, n, elements=st.integers(0, 4)),
        hnp.arrays(np.int64, n, elements=st.integers(0, 4)),
    )
)


def _quiet(f, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*args, **kwargs)


@settings(max_examples=50, deadline=None)
@given(labelings)
def test_agrees_with_sklearn_multiclass(tp_pair):
    from sklearn import metrics as skm

    truth, pred = tp_pair
    labels = np.union1d(truth, pred)
    cm = metrics.confusion_matrix(truth, pred)
    np.testing.assert_array_equal(cm, _quiet(skm.confusion_matrix, truth, pred, labels=labels))

    s = metrics.summary(truth, pred)
    assert s["labels"] == labels.tolist()
    assert s["accuracy"] == pytest.approx(_quiet(skm.accuracy_score, truth, pred), rel=1e-12)
    assert s["mcc"] == pytest.approx(
        _quiet(skm.matthews_corrcoef, truth, pred), rel=1e-9, abs=1e-12
    )

    table = metrics.per_class(truth, pred)
    kw = dict(labels=labels, average=None, zero_division=np.nan)
    expected = {
        "precision": _quiet(skm.precision_score, truth, pred, **kw),
        "recall": _quiet(skm.recall_score, truth, pred, **kw),
        "f1": _quiet(skm.f1_score, truth, pred, **kw),
    }
    # jaccard_score has no zero_division=nan: it reports 0 where ours is nan.
    jaccard = _quiet(skm.jaccard_score, truth, pred, labels=labels, average=None, zero_division=0)
    for i, label in enumerate(labels.tolist()):
        for key, values in expected.items():
            assert same(table[label][key], float(values[i])), (label, key)
        ours = table[label]["jaccard"]
        assert (0.0 if math.isnan(ours) else ours) == pytest.approx(jaccard[i], rel=1e-12)
        one_t, one_p = truth == label, pred == label
        assert same(table[label]["mcc"], _quiet(skm.matthews_corrcoef, one_t, one_p))
        assert table[label]["dice"] == s["dice"][label]


@settings(max_examples=50, deadline=None)
@given(labelings, st.sampled_from([None, 1, 2]))
def test_agrees_with_sklearn_binary(tp_pair, positive):
    from sklearn import metrics as skm

    truth, pred = tp_pair
    if positive is None:
        t, p = truth != 0, pred != 0
    else:
        t, p = truth == positive, pred == positive
    s = metrics.scores(truth, pred, positive=positive)
    (tn, fp), (fn, tp) = _quiet(skm.confusion_matrix, t, p, labels=[False, True])
    assert (s["tn"], s["fp"], s["fn"], s["tp"]) == (tn, fp, fn, tp)
    kw = dict(zero_division=np.nan)
    assert same(s["accuracy"], _quiet(skm.accuracy_score, t, p))
    assert same(s["precision"], _quiet(skm.precision_score, t, p, **kw))
    assert same(s["recall"], _quiet(skm.recall_score, t, p, **kw))
    assert same(s["f1"], _quiet(skm.f1_score, t, p, **kw))
    jaccard = _quiet(skm.jaccard_score, t, p, zero_division=0)
    assert (0.0 if math.isnan(s["jaccard"]) else s["jaccard"]) == pytest.approx(jaccard)
    assert s["mcc"] == pytest.approx(_quiet(skm.matthews_corrcoef, t, p), rel=1e-9, abs=1e-12)


# ---------------------------------------------------------------- edge cases


def test_no_foreground_anywhere():
    z = np.zeros((4, 4), np.uint8)
    s = metrics.scores(z, z)
    assert (s["tp"], s["fp"], s["fn"], s["tn"]) == (0, 0, 0, 16)
    assert s["accuracy"] == 1.0
    assert s["specificity"] == 1.0
    for key in ("precision", "recall", "f1", "dice", "jaccard"):
        assert math.isnan(s[key]), key  # undefined, not 0 and not 1
    assert s["mcc"] == 0.0  # zero denominator -> 0 (scikit-learn's convention)


def test_empty_truth_and_empty_prediction():
    z = np.zeros(6, int)
    some = np.array([0, 1, 1, 0, 0, 0])
    s = metrics.scores(z, some)  # empty truth
    assert (s["precision"], s["f1"], s["jaccard"], s["mcc"]) == (0.0, 0.0, 0.0, 0.0)
    assert math.isnan(s["recall"])
    s = metrics.scores(some, z)  # empty prediction
    assert (s["recall"], s["f1"], s["jaccard"], s["mcc"]) == (0.0, 0.0, 0.0, 0.0)
    assert math.isnan(s["precision"])


def test_everything_one_class():
    ones = np.ones((3, 3), int)
    s = metrics.scores(ones, ones)
    assert (s["tp"], s["tn"]) == (9, 0)
    assert (s["precision"], s["recall"], s["f1"], s["jaccard"]) == (1.0, 1.0, 1.0, 1.0)
    assert math.isnan(s["specificity"])
    assert s["mcc"] == 0.0
    summ = metrics.summary(ones * 4, ones * 4)
    assert summ["labels"] == [4]
    assert (summ["accuracy"], summ["mean_dice"], summ["mcc"]) == (1.0, 1.0, 0.0)


def test_zero_mcc_denominator_multiclass():
    # prediction constant: the correlation is undefined -> 0.0
    s = metrics.summary([0, 1, 2, 2], [2, 2, 2, 2])
    assert s["mcc"] == 0.0
    assert s["accuracy"] == 0.5


def test_nothing_scored():
    for s in (
        metrics.scores([], []),
        metrics.scores([1, 0], [1, 1], mask=np.zeros(2, bool)),
        metrics.scores_from_confusion(np.zeros((2, 2), int)),
    ):
        assert (s["tp"], s["fp"], s["fn"], s["tn"], s["n"]) == (0, 0, 0, 0, 0)
        for key in ("accuracy", "precision", "recall", "f1", "jaccard", "mcc"):
            assert math.isnan(s[key]), key
    summ = metrics.summary([], [])
    assert summ["labels"] == [] and summ["n"] == 0
    assert math.isnan(summ["accuracy"]) and math.isnan(summ["mcc"])
    assert math.isnan(summ["mean_dice"])
    assert metrics.confusion_matrix([], []).shape == (0, 0)
    assert metrics.per_class([], []) == {}


def test_absent_label_in_per_class_and_summary():
    table = metrics.per_class([0, 1], [0, 1], labels=[1, 3])
    assert table[1]["dice"] == 1.0
    assert table[3]["tn"] == 2 and math.isnan(table[3]["dice"])
    s = metrics.summary([0, 1], [0, 1], labels=[0, 1, 3])
    assert math.isnan(s["dice"][3])
    assert s["mean_dice"] == 1.0  # mean over classes with a defined Dice


# --------------------------------------------------------------------- masks


def test_mask_limits_scored_pixels():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 3, (20, 30))
    pred = rng.integers(0, 3, (20, 30))
    mask = rng.random((20, 30)) < 0.4
    assert metrics.scores(truth, pred, mask=mask) == metrics.scores(truth[mask], pred[mask])
    assert metrics.scores(truth, pred, positive=2, mask=mask) == metrics.scores(
        truth[mask], pred[mask], positive=2
    )
    np.testing.assert_array_equal(
        metrics.confusion_matrix(truth, pred, mask=mask),
        metrics.confusion_matrix(truth[mask], pred[mask]),
    )
    assert metrics.per_class(truth, pred, mask=mask) == metrics.per_class(truth[mask], pred[mask])
    assert metrics.dice(truth, pred, mask=mask) == metrics.dice(truth[mask], pred[mask])
    full = metrics.scores(truth, pred, mask=np.ones_like(mask))
    assert full == metrics.scores(truth, pred)


def test_bad_inputs_are_explained():
    with pytest.raises(TypeError, match="mask must be a boolean array; got dtype int"):
        metrics.scores([0, 1], [0, 1], mask=[1, 0])
    with pytest.raises(ValueError, match=r"mask must have the shape .*\(2,\); got \(3,\)"):
        metrics.scores([0, 1], [0, 1], mask=np.ones(3, bool))
    with pytest.raises(ValueError, match=r"same shape; got \(2,\) and \(3,\)"):
        metrics.confusion_matrix([0, 1], [0, 1, 1])
    with pytest.raises(TypeError, match="truth must hold integer labels; got dtype float64"):
        metrics.scores([0.5, 1.0], [0, 1])
    with pytest.raises(TypeError, match="positive must be an integer label"):
        metrics.scores([0, 1], [0, 1], positive=1.5)
    with pytest.raises(ValueError, match=r"labels must be distinct values; got \[1, 1\]"):
        metrics.per_class([0, 1], [0, 1], labels=[1, 1])
    with pytest.raises(ValueError, match=r"must be 2 x 2; got shape \(3, 3\)"):
        metrics.scores_from_confusion(np.eye(3, dtype=int))
    with pytest.raises(ValueError, match="counts >= 0; got minimum -1"):
        metrics.scores_from_confusion([[1, -1], [0, 1]])
    with pytest.raises(TypeError, match="integer counts; got dtype float64"):
        metrics.summary_from_confusion([[1.5, 0], [0, 1]])
    with pytest.raises(ValueError, match=r"name the 2 rows .* got 3 labels"):
        metrics.per_class_from_confusion([[1, 0], [0, 1]], labels=[1, 2, 3])


# --------------------------------------------------------------------- tiles


def test_summed_tile_matrices_equal_the_whole():
    rng = np.random.default_rng(4)
    truth = rng.integers(0, 3, (64, 48))
    pred = np.where(rng.random((64, 48)) < 0.8, truth, rng.integers(0, 3, (64, 48)))
    labels = [0, 1, 2]
    tiles = [(slice(r, r + 16), slice(c, c + 24)) for r in range(0, 64, 16) for c in (0, 24)]

    cm = sum(metrics.confusion_matrix(truth[t], pred[t], labels=labels) for t in tiles)
    np.testing.assert_array_equal(cm, metrics.confusion_matrix(truth, pred, labels=labels))
    whole = metrics.summary(truth, pred, labels=labels)
    summed = metrics.summary_from_confusion(cm, labels)
    for key in ("accuracy", "mean_dice", "mcc", "dice", "labels", "n"):
        assert summed[key] == whole[key], key
    assert metrics.per_class_from_confusion(cm, labels) == metrics.per_class(truth, pred)

    bcm = sum(metrics.binary_confusion(truth[t], pred[t], positive=2) for t in tiles)
    whole_binary = metrics.scores(truth, pred, positive=2)
    assert metrics.scores_from_confusion(bcm) == whole_binary
    # ... whereas averaging per-tile F1 is not the F1 of the whole.
    mean_f1 = np.mean([metrics.scores(truth[t], pred[t], positive=2)["f1"] for t in tiles])
    assert mean_f1 != whole_binary["f1"]


# ------------------------------------------------------------ 64-bit counts


def test_scores_from_huge_counts_do_not_overflow():
    # Products like tp * tn exceed int64; the scores must still be exact.
    tp, fp, fn, tn = 3 * 10**12, 10**11, 2 * 10**11, 7 * 10**12
    s = metrics.scores_from_confusion(np.array([[tn, fp], [fn, tp]], np.int64))
    assert s["tn"] == tn
    expected = (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    assert s["mcc"] == pytest.approx(expected, rel=1e-15)
    summ = metrics.summary_from_confusion([[tn, fp], [fn, tp]])
    assert summ["mcc"] == pytest.approx(expected, rel=1e-12)
    assert summ["n"] == tp + fp + fn + tn


@pytest.mark.slow
def test_counts_beyond_int32_from_a_broadcast_view():
    n = 2**31 + 3  # more pixels than int32 holds; a zero-stride view uses no memory
    truth = np.broadcast_to(np.array([0, 1], np.uint8)[:, None], (2, n // 2 + 1))
    pred = np.broadcast_to(np.uint8(1), truth.shape)
    cm = metrics.confusion_matrix(truth, pred)
    half = n // 2 + 1
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(cm, [[0, half], [0, half]])
    assert metrics.scores(truth, pred)["fp"] == half > 2**30


# ----------------------------------------------------------- surface distances


def _square(shape, lo, hi):
    a = np.zeros(shape, bool)
    a[tuple(slice(a_, b_) for a_, b_ in zip(lo, hi))] = True
    return a


def test_surface_distances_concentric_squares_by_hand():
    # truth: 21 x 21 square; pred: the same grown by k = 2 on every side.
    # truth's 80 boundary pixels are all 2 from pred's boundary; of pred's
    # 96 boundary pixels, 84 face an edge of truth (2), and each corner has
    # two at sqrt(5) and one at sqrt(8).
    truth = _square((40, 40), (10, 10), (31, 31))
    pred = _square((40, 40), (8, 8), (33, 33))
    d_t, d_p = metrics.surface_distances(truth, pred)
    np.testing.assert_allclose(np.sort(d_t), [2.0] * 80)
    np.testing.assert_allclose(
        np.sort(d_p), [2.0] * 84 + [math.sqrt(5)] * 8 + [math.sqrt(8)] * 4
    )
    assert metrics.hausdorff_distance(truth, pred) == pytest.approx(math.sqrt(8))
    assert metrics.hausdorff95(truth, pred) == pytest.approx(math.sqrt(5))
    expected_assd = (80 * 2 + 84 * 2 + 8 * math.sqrt(5) + 4 * math.sqrt(8)) / 176
    assert metrics.assd(truth, pred) == pytest.approx(expected_assd)
    assert metrics.assd(pred, truth) == pytest.approx(expected_assd)  # symmetric
    assert metrics.hausdorff95(truth, truth) == 0.0


@pytest.mark.parametrize(
    "spacing, expected", [(None, 3.0), (2.0, 6.0), ((0.5, 1.0, 1.0), 1.5), ((1.0, 4.0, 9.0), 3.0)]
)
def test_hausdorff_shifted_cubes_anisotropic(spacing, expected):
    truth = _square((16, 12, 12), (2, 2, 2), (8, 9, 9))
    pred = np.roll(truth, 3, axis=0)  # shifted by 3 voxels along axis 0
    assert metrics.hausdorff_distance(truth, pred, spacing=spacing) == pytest.approx(expected)
    assert metrics.hausdorff95(truth, pred, spacing=spacing) <= expected + 1e-12


def _brute_force(truth, pred, spacing):
    from scipy import ndimage as ndi

    def boundary(m):
        return m & ~ndi.binary_erosion(m, ndi.generate_binary_structure(m.ndim, 1))

    pt = np.argwhere(boundary(truth)) * spacing
    pp = np.argwhere(boundary(pred)) * spacing
    d = cdist(pt, pp)
    return d.min(axis=1), d.min(axis=0)


@pytest.mark.parametrize(
    "shape, spacing", [((30, 25), (0.7, 2.0)), ((12, 14, 10), (3.0, 1.0, 0.5))]
)
def test_surface_distances_match_brute_force(shape, spacing):
    from scipy import ndimage as ndi

    rng = np.random.default_rng(5)
    truth = ndi.gaussian_filter(rng.random(shape), 2) > 0.5
    pred = ndi.gaussian_filter(rng.random(shape), 2) > 0.5
    d_t, d_p = metrics.surface_distances(truth, pred, spacing=spacing)
    b_t, b_p = _brute_force(truth, pred, np.array(spacing))
    np.testing.assert_allclose(np.sort(d_t), np.sort(b_t))
    np.testing.assert_allclose(np.sort(d_p), np.sort(b_p))
    assert metrics.hausdorff95(truth, pred, spacing) == pytest.approx(
        max(np.percentile(b_t, 95), np.percentile(b_p, 95))
    )
    assert metrics.assd(truth, pred, spacing) == pytest.approx(
        np.concatenate([b_t, b_p]).mean()
    )


def test_surface_distance_empty_sets():
    z = np.zeros((5, 5), int)
    a = z.copy()
    a[1:3, 1:3] = 7
    d_t, d_p = metrics.surface_distances(a, z)
    assert d_t.size == 4 and np.all(np.isinf(d_t)) and d_p.size == 0
    for f in (metrics.hausdorff95, metrics.hausdorff_distance, metrics.assd):
        assert f(a, z) == math.inf and f(z, a) == math.inf  # one empty: inf
        assert math.isnan(f(z, z))  # both empty: undefined


def test_surface_distance_bad_inputs():
    a = np.ones((3, 3), bool)
    with pytest.raises(ValueError, match=r"one number per axis \(2\); got \(1, 2, 3\)"):
        metrics.hausdorff95(a, a, spacing=(1, 2, 3))
    with pytest.raises(ValueError, match=r"finite and > 0; got \(1, 0\)"):
        metrics.assd(a, a, spacing=(1, 0))
    with pytest.raises(ValueError, match=r"percentile must be in \[0, 100\]; got 101"):
        metrics.hausdorff_distance(a, a, percentile=101)


def test_per_slice_matrices_sum_to_the_whole_and_dice_matches():
    rng = np.random.default_rng(5)
    t = rng.integers(0, 3, (6, 16, 16))
    p = np.where(rng.random(t.shape) < 0.8, t, rng.integers(0, 3, t.shape))
    for axis in (0, 2):
        cms = metrics.confusion_per_slice(t, p, axis=axis)
        np.testing.assert_array_equal(cms.sum(axis=0), metrics.confusion_matrix(t, p))
    dice, labels = metrics.dice_per_slice(t, p)
    assert labels.tolist() == [0, 1, 2]
    for i in range(t.shape[0]):
        assert dice[i] == pytest.approx(list(metrics.dice(t[i], p[i]).values()))
    # A label absent from both arrays of a slice has no defined Dice.
    t[2][t[2] == 1] = 0
    p[2][p[2] == 1] = 0
    assert np.isnan(metrics.dice_per_slice(t, p)[0][2, 1])
    keep = np.ones(t.shape, bool)
    keep[0] = False
    assert metrics.confusion_per_slice(t, p, mask=keep)[0].sum() == 0
