"""Segmentation metrics computed from one confusion matrix.

Every overlap metric here is a function of pixel counts, and all counts come
from one confusion matrix, built in a single pass over the images with
:func:`numpy.bincount`. Counts are 64-bit so volumes cannot overflow them.

Label values are taken literally: ``0`` is a label like any other, except in
the *binary* functions (:func:`scores`, :func:`binary_confusion`, surface
distances) where, without ``positive=``, non-zero means foreground.

Conventions
-----------
These are defined once, here, and hold in every function of the module.

* **No pixels scored** (empty arrays, or an all-``False`` ``mask``): every
  ratio is ``nan``; counts are ``0``.
* **Zero denominators of ratios** (precision with no predicted foreground,
  recall / sensitivity with no true foreground, specificity with no true
  background, Dice / F1 / Jaccard when neither array has the class): the
  ratio is *undefined* and reported as ``nan`` — not ``0`` and not ``1``.
  In particular the Dice of two empty sets is ``nan``; "no foreground
  anywhere" is perfect agreement on background, which ``accuracy`` (``1.0``)
  and ``tn`` already say. Use :func:`numpy.nanmean` to average such tables.
  Note that F1 / Dice is computed as ``2 tp / (2 tp + fp + fn)``, so it is
  defined (``0.0``) when only one of precision and recall is undefined.
* **Zero MCC denominator** (all pixels in one class in truth or in the
  prediction, e.g. everything one class): ``mcc`` is ``0.0``, the usual
  statistical convention (scikit-learn's ``matthews_corrcoef``) — the
  correlation with a constant is taken as "no better than chance". (Some
  tutorials map it to ``-1``; we do not.)
* **Multi-class MCC** is Gorodkin's R_K statistic computed from the K x K
  matrix, as scikit-learn's ``matthews_corrcoef``; for two classes it equals
  the binary MCC.
* **Tiles**: metrics are not averaged over tiles. Sum the confusion matrices
  (``confusion_matrix(..., labels=L)`` with the same ``L`` for every tile,
  or :func:`binary_confusion`) and call :func:`scores_from_confusion`,
  :func:`per_class_from_confusion` or :func:`summary_from_confusion` on the
  sum: the result equals the metrics of the whole image exactly.
* **Surface distances** (:func:`surface_distances`, :func:`hausdorff95`,
  :func:`hausdorff_distance`, :func:`assd`) are measured in physical units
  (``spacing=``, one value per axis) between the boundary pixels of the two
  foregrounds (foreground pixels with a background face-neighbour; the image
  border counts as background). If exactly one foreground is empty the
  distance is ``inf``; if both are empty it is ``nan`` (undefined, as the
  Dice of two empty sets). The 95th-percentile Hausdorff distance is the
  larger of the two directed 95th percentiles (NumPy's linear
  interpolation), so ``percentile=100`` gives the Hausdorff distance.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "confusion_matrix",
    "confusion_per_slice",
    "dice_per_slice",
    "binary_confusion",
    "dice",
    "overlap_mapping",
    "scores",
    "scores_from_confusion",
    "per_class",
    "per_class_from_confusion",
    "summary",
    "summary_from_confusion",
]

#: Pixels handled per step (bounds temporary memory to a few MiB).
_CHUNK = 1 << 20
#: Largest value range counted directly with one bincount over range x range.
_MAX_RANGE = 512


# --------------------------------------------------------------------------
# Input checking
# --------------------------------------------------------------------------


def _check_labels_array(name, a):
    a = np.asarray(a)
    if a.size == 0 and a.dtype.kind in "fO":  # e.g. [] : no labels at all
        a = a.astype(np.int64)
    if not (np.issubdtype(a.dtype, np.integer) or a.dtype == bool):
        raise TypeError(f"{name} must hold integer labels; got dtype {a.dtype}")
    return a


def _as_label_arrays(truth, pred, mask=None):
    """Checked label arrays (original shape) and the checked mask or None."""
    truth = _check_labels_array("truth", truth)
    pred = _check_labels_array("pred", pred)
    if truth.shape != pred.shape:
        raise ValueError(
            f"truth and pred must have the same shape; got {truth.shape} and {pred.shape}"
        )
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype != bool:
            raise TypeError(f"mask must be a boolean array; got dtype {mask.dtype}")
        if mask.shape != truth.shape:
            raise ValueError(
                f"mask must have the shape of truth and pred {truth.shape}; got {mask.shape}"
            )
    return truth, pred, mask


def _check_confusion(cm):
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"a confusion matrix must be square 2-D; got shape {cm.shape}")
    if not np.issubdtype(cm.dtype, np.integer):
        raise TypeError(f"a confusion matrix must hold integer counts; got dtype {cm.dtype}")
    if cm.size and cm.min() < 0:
        raise ValueError(f"a confusion matrix must hold counts >= 0; got minimum {cm.min()}")
    return cm.astype(np.int64, copy=False)


def _check_labels(labels, n=None):
    labels = np.asarray(labels)
    if labels.ndim != 1 or np.unique(labels).size != labels.size:
        raise ValueError(f"labels must be distinct values; got {labels.tolist()}")
    if n is not None and labels.size != n:
        raise ValueError(
            f"labels must name the {n} rows of the confusion matrix; got {labels.size} labels"
        )
    return labels


# --------------------------------------------------------------------------
# Counting
# --------------------------------------------------------------------------


def _flat_chunks(a, b):
    """Matching 1-D chunks of two same-shape arrays (views when contiguous)."""
    if a.flags.c_contiguous and b.flags.c_contiguous:
        a, b = a.reshape(-1), b.reshape(-1)
        for s in range(0, a.size, _CHUNK):
            yield a[s : s + _CHUNK], b[s : s + _CHUNK]
    elif a.size:
        # Strided or broadcast views: buffered iteration, never a full copy.
        it = np.nditer(
            [a, b],
            flags=["external_loop", "buffered", "zerosize_ok"],
            op_flags=[["readonly"], ["readonly"]],
            buffersize=_CHUNK,
        )
        yield from it


def _range_counts(t, p, lo, r):
    """Counts over the value range ``lo .. lo + r - 1`` (an r x r matrix)."""
    small = r * r <= 256
    work = np.uint8 if small else np.intp
    lo_w = np.array(lo).astype(work)
    r_w = work(r)
    a_buf = np.empty(_CHUNK, work)
    b_buf = np.empty(_CHUNK, work)
    if small:
        # Codes fit in one byte: count *pairs* of pixels as one uint16 code,
        # which halves the work of bincount; fold the pair table afterwards.
        pairs = np.zeros(1 << 16, np.int64)
        single = np.zeros(256, np.int64)
    else:
        counts = np.zeros(r * r, np.int64)
    for tc, pc in _flat_chunks(t, p):
        m = tc.size
        a, b = a_buf[:m], b_buf[:m]
        # Modular (wrapping) arithmetic in the work type is exact here because
        # the final code is known to lie in [0, r*r).
        if lo:
            np.subtract(tc, lo_w, out=a, dtype=work, casting="unsafe")
            np.subtract(pc, lo_w, out=b, dtype=work, casting="unsafe")
        else:
            np.copyto(a, tc, casting="unsafe")
            np.copyto(b, pc, casting="unsafe")
        np.multiply(a, r_w, out=a)
        a += b
        if small:
            even = m - (m & 1)
            pairs += np.bincount(a[:even].view(np.uint16), minlength=1 << 16)
            if m & 1:
                single[a[-1]] += 1
        else:
            counts += np.bincount(a, minlength=r * r)
    if small:
        table = pairs.reshape(256, 256)
        # Either byte of a pair is one pixel's code (endianness irrelevant).
        counts = (table.sum(axis=0) + table.sum(axis=1) + single)[: r * r]
    return counts.reshape(r, r)


def _general_counts(t, p):
    """Counts over the sorted union of arbitrary integer values."""
    t, p = t.reshape(-1), p.reshape(-1)
    values = np.union1d(np.unique(t), np.unique(p))
    n = values.size
    counts = np.zeros(n * n, np.int64)
    for tc, pc in _flat_chunks(t, p):
        code = np.searchsorted(values, tc).astype(np.intp) * n
        code += np.searchsorted(values, pc)
        counts += np.bincount(code, minlength=n * n)
    return values, counts.reshape(n, n)


def _value_counts(truth, pred, mask=None):
    """``(values, cm)``: sorted candidate values and counts over them.

    ``values`` may include values present in neither array (their rows and
    columns are zero); callers drop or keep them.
    """
    t, p, mask = _as_label_arrays(truth, pred, mask)
    if t.dtype == bool:
        t = t.view(np.uint8)
    if p.dtype == bool:
        p = p.view(np.uint8)
    if mask is not None:
        t, p = t[mask], p[mask]
    if t.size == 0:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.int64)
    lo = min(int(t.min()), int(p.min()))
    hi = max(int(t.max()), int(p.max()))
    r = hi - lo + 1
    if r <= _MAX_RANGE:
        dtype = np.int64 if hi <= np.iinfo(np.int64).max else np.uint64
        values = np.arange(r, dtype=dtype) + np.array(lo).astype(dtype)
        return values, _range_counts(t, p, lo, r)
    return _general_counts(t, p)


def _present(values, cm):
    keep = (cm.sum(axis=0) + cm.sum(axis=1)) > 0
    return values[keep], cm[np.ix_(keep, keep)]


def _select(values, cm, labels):
    """Rows/columns of ``cm`` for ``labels`` (zero for values not counted)."""
    labels = np.asarray(labels)
    n = labels.size
    out = np.zeros((n, n), np.int64)
    if values.size == 0 or n == 0:
        return out
    pos = np.minimum(np.searchsorted(values, labels), values.size - 1)
    found = values[pos] == labels
    idx = pos[found]
    out[np.ix_(found, found)] = cm[np.ix_(idx, idx)]
    return out


def confusion_matrix(truth, pred, labels=None, mask=None) -> np.ndarray:
    """Count pixels per (true label, predicted label) pair, in one pass.

    Parameters
    ----------
    truth, pred : array-like of int or bool, same shape
        Label images (any number of dimensions).
    labels : sequence of int, optional
        Rows/columns to report, in this order; pixels whose truth or
        prediction is not among them are not counted. ``None`` means the
        sorted union of the values in both arrays. Pass the same ``labels``
        for every tile to sum tiles' matrices.
    mask : array of bool, same shape, optional
        Only pixels where ``mask`` is true are counted.

    Returns
    -------
    cm : ndarray of int64, shape (n_labels, n_labels)
        ``cm[i, j]`` = pixels with truth ``labels[i]`` predicted ``labels[j]``.

    Raises
    ------
    TypeError
        If an array does not hold integer labels, or ``mask`` is not boolean.
    ValueError
        If the shapes differ or ``labels`` are not distinct.

    Notes
    -----
    Small value ranges (up to 512 distinct values between the minimum and
    the maximum, e.g. any ``uint8`` image) are counted with one
    :func:`numpy.bincount` over ``(truth - lo) * range + (pred - lo)``, in
    chunks; other labels go through a sorted lookup. Strided and broadcast
    views are read in chunks without a full copy.

    Examples
    --------
    >>> confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2])
    array([[1, 0, 0],
           [0, 1, 1],
           [0, 0, 1]])
    >>> confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], labels=[2, 1])
    array([[1, 0],
           [1, 1]])
    """
    if labels is not None:
        labels = _check_labels(labels)
    values, cm = _value_counts(truth, pred, mask)
    if labels is None:
        return _present(values, cm)[1]
    return _select(values, cm, labels)


def binary_confusion(truth, pred, positive=None, mask=None) -> np.ndarray:
    """The 2 x 2 confusion matrix of a foreground/background problem.

    Parameters
    ----------
    truth, pred : array-like of int or bool, same shape
    positive : int, optional
        Foreground label in both arrays. ``None``: non-zero is foreground.
    mask : array of bool, same shape, optional
        Only pixels where ``mask`` is true are counted.

    Returns
    -------
    cm : ndarray of int64, shape (2, 2)
        ``[[tn, fp], [fn, tp]]`` (rows: truth background, foreground), the
        layout of scikit-learn's ``confusion_matrix(..., labels=[0, 1])``.
        Matrices of tiles can be summed, then given to
        :func:`scores_from_confusion`.

    Raises
    ------
    TypeError
        As :func:`confusion_matrix`, or if ``positive`` is not an integer.
    ValueError
        As :func:`confusion_matrix`.

    Examples
    --------
    >>> binary_confusion([0, 0, 3, 3], [0, 5, 3, 0])
    array([[1, 1],
           [1, 1]])
    >>> binary_confusion([0, 0, 3, 3], [0, 5, 3, 0], positive=3)
    array([[2, 0],
           [1, 1]])
    """
    if positive is not None and not isinstance(positive, (numbers.Integral, np.bool_)):
        raise TypeError(
            f"positive must be an integer label (or None for non-zero); got {positive!r}"
        )
    values, cm = _value_counts(truth, pred, mask)
    if positive is None:
        fg = values != 0
    else:
        fg = values == int(positive)
    bg = ~fg
    return np.array(
        [
            [cm[np.ix_(bg, bg)].sum(), cm[np.ix_(bg, fg)].sum()],
            [cm[np.ix_(fg, bg)].sum(), cm[np.ix_(fg, fg)].sum()],
        ],
        dtype=np.int64,
    )


# --------------------------------------------------------------------------
# Scores from counts
# --------------------------------------------------------------------------


def _ratio(num, den):
    return float(num / den) if den else float("nan")


def _counts_scores(tp, fp, fn, tn):
    tp, fp, fn, tn = int(tp), int(fp), int(fn), int(tn)
    n = tp + fp + fn + tn
    den = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)  # exact Python int
    if n == 0:
        mcc = float("nan")
    elif den == 0:
        mcc = 0.0
    else:
        mcc = float((tp * tn - fp * fn) / math.sqrt(den))
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "n": n,
        "accuracy": _ratio(tp + tn, n),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "f1": f1,
        "dice": f1,
        "jaccard": _ratio(tp, tp + fp + fn),
        "mcc": mcc,
    }


def scores_from_confusion(cm) -> dict:
    """Binary scores from a 2 x 2 confusion matrix ``[[tn, fp], [fn, tp]]``.

    Use it on the *sum* of tiles' :func:`binary_confusion` matrices: the
    result equals :func:`scores` of the whole image.

    Parameters
    ----------
    cm : array-like of int, shape (2, 2)
        Rows: truth background, foreground; columns: predicted background,
        foreground.

    Returns
    -------
    dict
        Keys ``tp``, ``fp``, ``fn``, ``tn``, ``n`` (Python ints) and
        ``accuracy``, ``precision``, ``recall``, ``specificity``, ``f1``,
        ``dice`` (= ``f1``), ``jaccard``, ``mcc`` (Python floats). Undefined
        ratios are ``nan`` and a zero MCC denominator gives ``0.0`` (see the
        module docstring).

    Raises
    ------
    ValueError
        If ``cm`` is not 2 x 2 or holds negative counts.
    TypeError
        If ``cm`` does not hold integers.

    Examples
    --------
    >>> s = scores_from_confusion([[5, 1], [2, 4]])
    >>> s["tp"], s["f1"], round(s["mcc"], 6)
    (4, 0.7272727272727273, 0.507093)
    """
    cm = _check_confusion(cm)
    if cm.shape != (2, 2):
        raise ValueError(f"a binary confusion matrix must be 2 x 2; got shape {cm.shape}")
    (tn, fp), (fn, tp) = cm.tolist()
    return _counts_scores(tp, fp, fn, tn)


def scores(truth, pred, positive=None, mask=None) -> dict:
    """Binary segmentation scores: counts, accuracy, precision, recall, F1, MCC...

    Parameters
    ----------
    truth, pred : array-like of int or bool, same shape
    positive : int, optional
        Foreground label in both arrays. ``None``: non-zero is foreground in
        both arrays.
    mask : array of bool, same shape, optional
        Only pixels where ``mask`` is true are scored.

    Returns
    -------
    dict
        As :func:`scores_from_confusion`: ``tp``, ``fp``, ``fn``, ``tn``,
        ``n`` (ints), ``accuracy``, ``precision``, ``recall``,
        ``specificity``, ``f1``, ``dice``, ``jaccard``, ``mcc`` (floats).

    Raises
    ------
    TypeError
        If an array does not hold integer labels, ``mask`` is not boolean or
        ``positive`` is not an integer.
    ValueError
        If the shapes differ.

    Examples
    --------
    >>> s = scores([0, 0, 1, 1, 1], [0, 1, 1, 1, 0])
    >>> s["tp"], s["fp"], s["fn"], s["tn"], s["f1"]
    (2, 1, 1, 1, 0.6666666666666666)
    >>> scores([0, 0], [0, 0])["dice"]  # no foreground anywhere: undefined
    nan
    """
    return scores_from_confusion(binary_confusion(truth, pred, positive, mask))


def per_class_from_confusion(cm, labels=None) -> dict:
    """One-vs-rest scores of every class of a K x K confusion matrix.

    Parameters
    ----------
    cm : array-like of int, shape (K, K)
        ``cm[i, j]`` = pixels of true class ``i`` predicted ``j`` (e.g. a sum
        of tiles' :func:`confusion_matrix` with the same ``labels``).
    labels : sequence, optional
        Names of the K classes (default ``0 .. K-1``).

    Returns
    -------
    dict
        ``{label: scores}`` with the keys of :func:`scores_from_confusion`;
        class ``k`` is the foreground, every other class the background.

    Raises
    ------
    ValueError
        If ``cm`` is not square, holds negative counts, or ``labels`` do not
        name its rows.
    TypeError
        If ``cm`` does not hold integers.

    Examples
    --------
    >>> t = per_class_from_confusion([[3, 1], [0, 2]], labels=[10, 20])
    >>> t[20]["precision"], t[20]["recall"]
    (0.6666666666666666, 1.0)
    """
    cm = _check_confusion(cm)
    k = cm.shape[0]
    labels = np.arange(k) if labels is None else _check_labels(labels, k)
    total = int(cm.sum())
    rows, cols, diag = cm.sum(axis=1), cm.sum(axis=0), np.diagonal(cm)
    out = {}
    for i, label in enumerate(labels.tolist()):
        tp = int(diag[i])
        fp = int(cols[i]) - tp
        fn = int(rows[i]) - tp
        out[label] = _counts_scores(tp, fp, fn, total - tp - fp - fn)
    return out


def per_class(truth, pred, labels=None, mask=None) -> dict:
    """One-vs-rest scores per class, all from one confusion matrix.

    Parameters
    ----------
    truth, pred : array-like of int or bool, same shape
    labels : sequence of int, optional
        Classes to report, in this order (default: the sorted union of the
        values). Values not listed still count as "rest" (false positives /
        negatives of the listed classes); a listed class absent from both
        arrays has ``nan`` ratios.
    mask : array of bool, same shape, optional
        Only pixels where ``mask`` is true are scored.

    Returns
    -------
    dict
        ``{label: scores}`` with the keys of :func:`scores`.

    Raises
    ------
    TypeError, ValueError
        As :func:`confusion_matrix`.

    Examples
    --------
    >>> t = per_class([0, 1, 1, 2], [0, 1, 2, 2])
    >>> t[1]["recall"], t[2]["precision"], t[0]["dice"]
    (0.5, 0.5, 1.0)
    """
    if labels is not None:
        labels = _check_labels(labels)
    values, cm = _value_counts(truth, pred, mask)
    values, cm = _present(values, cm)
    table = per_class_from_confusion(cm, values)
    if labels is None:
        return table
    total = int(cm.sum())
    return {
        label: table[label] if label in table else _counts_scores(0, 0, 0, total)
        for label in labels.tolist()
    }


def summary_from_confusion(cm, labels=None) -> dict:
    """Multi-class summary of a K x K confusion matrix.

    Parameters
    ----------
    cm : array-like of int, shape (K, K)
    labels : sequence, optional
        Names of the K classes (default ``0 .. K-1``).

    Returns
    -------
    dict
        ``labels`` (list), ``confusion`` (the int64 matrix), ``n`` (int),
        ``accuracy`` (trace / n), ``dice`` (``{label: dice}``, ``nan`` for a
        class absent from both), ``mean_dice`` (mean over classes with a
        defined Dice; ``nan`` if none) and ``mcc`` (Gorodkin's R_K, as
        scikit-learn's multi-class ``matthews_corrcoef``; ``0.0`` when its
        denominator is zero, ``nan`` when ``n == 0``).

    Raises
    ------
    ValueError, TypeError
        As :func:`per_class_from_confusion`.

    Examples
    --------
    >>> s = summary_from_confusion([[2, 0, 0], [0, 1, 1], [0, 0, 1]])
    >>> s["accuracy"], round(s["mean_dice"], 4), round(s["mcc"], 4)
    (0.8, 0.7778, 0.75)
    """
    cm = _check_confusion(cm)
    k = cm.shape[0]
    labels = np.arange(k) if labels is None else _check_labels(labels, k)
    rows = [int(v) for v in cm.sum(axis=1)]
    cols = [int(v) for v in cm.sum(axis=0)]
    diag = [int(v) for v in np.diagonal(cm)]
    n = sum(rows)
    c = sum(diag)
    # R_K with exact integer arithmetic, one float division at the end.
    cov_tp = c * n - sum(r * q for r, q in zip(rows, cols))
    cov_tt = n * n - sum(r * r for r in rows)
    cov_pp = n * n - sum(q * q for q in cols)
    if n == 0:
        mcc = float("nan")
    elif cov_tt * cov_pp == 0:
        mcc = 0.0
    else:
        mcc = float(cov_tp / math.sqrt(cov_tt * cov_pp))
    dice_ = {
        label: _ratio(2 * diag[i], rows[i] + cols[i]) for i, label in enumerate(labels.tolist())
    }
    defined = [v for v in dice_.values() if not math.isnan(v)]
    return {
        "labels": labels.tolist(),
        "confusion": cm,
        "n": n,
        "accuracy": _ratio(c, n),
        "dice": dice_,
        "mean_dice": float(np.mean(defined)) if defined else float("nan"),
        "mcc": mcc,
    }


def summary(truth, pred, labels=None, mask=None) -> dict:
    """Multi-class summary: accuracy, per-class and mean Dice, R_K MCC, matrix.

    Parameters
    ----------
    truth, pred : array-like of int or bool, same shape
    labels : sequence of int, optional
        Classes, in this order (default: the sorted union of the values).
        As in :func:`confusion_matrix`, pixels whose truth or prediction is
        not among them are not scored; use ``mask`` for other selections.
    mask : array of bool, same shape, optional
        Only pixels where ``mask`` is true are scored.

    Returns
    -------
    dict
        As :func:`summary_from_confusion`.

    Raises
    ------
    TypeError, ValueError
        As :func:`confusion_matrix`.

    Examples
    --------
    >>> s = summary([0, 0, 1, 1, 2], [0, 0, 1, 2, 2])
    >>> s["labels"], s["accuracy"], s["dice"][2]
    ([0, 1, 2], 0.8, 0.6666666666666666)
    """
    if labels is not None:
        labels = _check_labels(labels)
    values, cm = _value_counts(truth, pred, mask)
    if labels is None:
        values, cm = _present(values, cm)
        return summary_from_confusion(cm, values)
    return summary_from_confusion(_select(values, cm, labels), labels)


def dice(truth, pred, labels=None, mask=None) -> dict:
    """Dice coefficient ``2|A∩B| / (|A|+|B|)`` per label.

    Parameters
    ----------
    truth, pred : array-like of int, same shape
    labels : sequence of int, optional
        Labels to report, in this order; ``None`` means the sorted union.
        Values not listed still count as false positives / negatives.
    mask : array of bool, same shape, optional
        Only pixels where ``mask`` is true are counted.

    Returns
    -------
    dict
        ``{label: dice}``. A label absent from both arrays has no defined
        Dice and reports ``nan``.

    Raises
    ------
    TypeError, ValueError
        As :func:`confusion_matrix`.

    Examples
    --------
    >>> dice([0, 1, 1, 1], [0, 1, 1, 0])
    {0: 0.6666666666666666, 1: 0.8}
    """
    if labels is not None:
        labels = np.asarray(labels)
    table = per_class(truth, pred, labels=labels, mask=mask)
    return {label: s["dice"] for label, s in table.items()}


def overlap_mapping(truth, pred) -> dict:
    """Map each truth value to the predicted label it overlaps most.

    Ground truth often numbers classes differently from the seeds (0 for
    background, several tissue labels for one class). This gives a default
    correspondence to show and let the user change.

    Parameters
    ----------
    truth, pred : array-like of int, same shape

    Returns
    -------
    dict
        ``{truth_value: pred_label}`` for every value in ``truth``; ties go
        to the smallest predicted label.

    Raises
    ------
    TypeError, ValueError
        As :func:`confusion_matrix`.

    Examples
    --------
    >>> overlap_mapping([0, 0, 7, 7, 8], [1, 1, 2, 2, 2])
    {0: 1, 7: 2, 8: 2}
    """
    values, cm = _value_counts(truth, pred)
    t_rows = np.flatnonzero(cm.sum(axis=1) > 0)
    p_cols = np.flatnonzero(cm.sum(axis=0) > 0)
    sub = cm[np.ix_(t_rows, p_cols)]
    return {
        int(values[i]): int(values[p_cols[np.argmax(sub[k])]]) for k, i in enumerate(t_rows)
    }


def confusion_per_slice(truth, pred, labels=None, *, axis=0, mask=None) -> np.ndarray:
    """One confusion matrix per slice of a volume along ``axis``.

    Parameters
    ----------
    truth, pred : array-like of int, same shape
    labels : sequence of int, optional
        As in :func:`confusion_matrix`; ``None`` = the sorted union over the
        whole volume, so every slice has the same rows and columns.
    axis : int, default 0
        The slicing axis.
    mask : array-like of bool, optional
        Only pixels where ``mask`` is True are counted.

    Returns
    -------
    ndarray of int64, shape ``(n_slices, n_labels, n_labels)``
        Summing over the first axis gives :func:`confusion_matrix` of the
        whole volume.

    Examples
    --------
    >>> t = np.array([[0, 1], [1, 1]]); p = np.array([[0, 1], [0, 1]])
    >>> confusion_per_slice(t, p)[:, 1, 1].tolist()
    [1, 1]
    """
    truth = np.asarray(truth)
    pred = np.asarray(pred)
    if truth.shape != pred.shape:
        raise ValueError(
            f"truth and pred must have the same shape; got {truth.shape} and {pred.shape}")
    if truth.ndim < 2:
        raise ValueError(f"need at least 2 axes to slice; got shape {truth.shape}")
    if labels is None:
        labels = np.union1d(np.unique(truth), np.unique(pred))
    truth = np.moveaxis(truth, axis, 0)
    pred = np.moveaxis(pred, axis, 0)
    if mask is not None:
        mask = np.moveaxis(np.broadcast_to(np.asarray(mask, bool), truth.shape), axis, 0)
    return np.stack([
        confusion_matrix(truth[i], pred[i], labels=labels,
                         mask=None if mask is None else mask[i])
        for i in range(truth.shape[0])])


def dice_per_slice(truth, pred, labels=None, *, axis=0, mask=None):
    """Dice per label for every slice: the curve of a volume's quality.

    Parameters
    ----------
    truth, pred, labels, axis, mask
        As in :func:`confusion_per_slice`.

    Returns
    -------
    dice : ndarray of float, shape ``(n_slices, n_labels)``
        ``nan`` where a label is absent from both slices (undefined).
    labels : ndarray
        The labels of the columns.
    """
    if labels is None:
        t, p = np.asarray(truth), np.asarray(pred)
        labels = np.union1d(np.unique(t), np.unique(p))
    labels = np.asarray(labels)
    cms = confusion_per_slice(truth, pred, labels, axis=axis, mask=mask)
    tp = np.diagonal(cms, axis1=1, axis2=2).astype(float)
    denom = cms.sum(axis=2) + cms.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        dice = np.where(denom > 0, 2 * tp / denom, np.nan)
    return dice, labels
