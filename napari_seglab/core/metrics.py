"""Segmentation metrics computed from one confusion matrix.

Label values are taken literally: ``0`` is a label like any other. Counts
are 64-bit so volumes cannot overflow them.
"""

from __future__ import annotations

import numpy as np

__all__ = ["confusion_matrix", "dice", "overlap_mapping"]


def _as_label_arrays(truth, pred):
    truth = np.asarray(truth)
    pred = np.asarray(pred)
    if truth.shape != pred.shape:
        raise ValueError(
            f"truth and pred must have the same shape; got {truth.shape} and {pred.shape}"
        )
    for name, a in (("truth", truth), ("pred", pred)):
        if not (np.issubdtype(a.dtype, np.integer) or a.dtype == bool):
            raise TypeError(f"{name} must hold integer labels; got dtype {a.dtype}")
    return truth.ravel(), pred.ravel()


def confusion_matrix(truth, pred, labels=None) -> np.ndarray:
    """Count pixels per (true label, predicted label) pair, in one pass.

    Parameters
    ----------
    truth, pred : array-like of int, same shape
    labels : sequence of int, optional
        Rows/columns to report, in this order; pixels whose truth or
        prediction is not among them are not counted. ``None`` means the
        sorted union of the values in both arrays.

    Returns
    -------
    cm : ndarray of int64, shape (n_labels, n_labels)
        ``cm[i, j]`` = pixels with truth ``labels[i]`` predicted ``labels[j]``.

    Examples
    --------
    >>> confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2])
    array([[1, 0, 0],
           [0, 1, 1],
           [0, 0, 1]])
    """
    t, p = _as_label_arrays(truth, pred)
    if labels is None:
        labels = np.union1d(np.unique(t), np.unique(p))
    labels = np.asarray(labels)
    if labels.ndim != 1 or np.unique(labels).size != labels.size:
        raise ValueError(f"labels must be distinct values; got {labels.tolist()}")
    n = labels.size
    if n == 0:
        return np.zeros((0, 0), np.int64)
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]

    def index(a):
        i = np.searchsorted(sorted_labels, a)
        i = np.minimum(i, n - 1)
        valid = sorted_labels[i] == a
        return order[i], valid

    ti, tv = index(t)
    pi, pv = index(p)
    keep = tv & pv
    flat = ti[keep] * n + pi[keep]
    return np.bincount(flat, minlength=n * n).astype(np.int64).reshape(n, n)


def dice(truth, pred, labels=None) -> dict:
    """Dice coefficient ``2|A∩B| / (|A|+|B|)`` per label.

    Parameters
    ----------
    truth, pred : array-like of int, same shape
    labels : sequence of int, optional
        Labels to report, in this order; ``None`` means the sorted union.

    Returns
    -------
    dict
        ``{label: dice}``. A label absent from both arrays has no defined
        Dice and reports ``nan``.

    Examples
    --------
    >>> dice([0, 1, 1, 1], [0, 1, 1, 0])
    {0: 0.6666666666666666, 1: 0.8}
    """
    t, p = _as_label_arrays(truth, pred)
    if labels is None:
        labels = np.union1d(np.unique(t), np.unique(p))
    labels = list(np.asarray(labels).tolist())
    # Count against "everything else" so pixels outside `labels` still count
    # as false positives/negatives of the labels reported.
    cm = confusion_matrix(t, p, labels=None)
    all_labels = np.union1d(np.unique(t), np.unique(p)).tolist()
    index = {v: i for i, v in enumerate(all_labels)}
    out = {}
    for label in labels:
        if label not in index:
            out[label] = float("nan")
            continue
        i = index[label]
        tp = cm[i, i]
        denom = cm[i, :].sum() + cm[:, i].sum()
        out[label] = float(2 * tp / denom) if denom else float("nan")
    return out


def overlap_mapping(truth, pred) -> dict:
    """Map each truth value to the predicted label it overlaps most.

    Ground truth often numbers classes differently from the seeds (0 for
    background, several tissue labels for one class). This gives a default
    correspondence to show and let the user change.

    Returns
    -------
    dict
        ``{truth_value: pred_label}`` for every value in ``truth``.
    """
    t, p = _as_label_arrays(truth, pred)
    t_labels = np.unique(t)
    p_labels = np.unique(p)
    labels = np.union1d(t_labels, p_labels)
    cm = confusion_matrix(t, p, labels=labels)
    rows = np.searchsorted(labels, t_labels)
    cols = np.searchsorted(labels, p_labels)
    sub = cm[np.ix_(rows, cols)]
    return {int(v): int(p_labels[np.argmax(sub[i])]) for i, v in enumerate(t_labels)}
