"""Scoring a segmentation against a ground truth: :func:`evaluate` and its :class:`Evaluation`.

The Evaluation panel renders exactly what :func:`evaluate` returns, so a
script gets the panel's numbers: the truth mapped to the segmentation's
classes, pixels outside a field of view ignored, seed pixels (training data)
left out, every score from one confusion matrix.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

import numpy as np

from .metrics import (
    _check_labels_array,
    confusion_matrix,
    per_class_from_confusion,
    summary_from_confusion,
)

__all__ = ["CSV_COLUMNS", "ClassScore", "Evaluation", "evaluate", "map_truth"]

#: Columns of :meth:`Evaluation.to_csv`, one row per class.
CSV_COLUMNS = ("class", "name", "dice", "precision", "recall", "jaccard",
               "truth_voxels", "predicted_voxels")


@dataclass(frozen=True)
class ClassScore:
    """One class against the rest: overlap scores and voxel counts."""

    label: int
    dice: float
    precision: float
    recall: float
    jaccard: float
    truth_voxels: int
    predicted_voxels: int
    name: str = ""
    #: Every one-vs-rest score (tp, fp, fn, tn, specificity, mcc, ...), as
    #: :func:`~napari_seglab.core.metrics.scores_from_confusion` gives them.
    scores: dict = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate` found; every number comes from ``confusion``.

    Attributes
    ----------
    labels : list of int
        The classes, in the order of the rows and columns of ``confusion``.
    classes : list of ClassScore
        Per-class scores, in ``labels`` order.
    confusion : ndarray of int64, (K, K)
        Rows truth (mapped), columns prediction; excluded pixels left out.
    confusion_with_excluded : ndarray of int64, (K, K)
        The same with the excluded pixels counted (still inside ``within``).
    mean_dice, accuracy, mcc : float
        The multi-class summary of ``confusion`` (see
        :func:`~napari_seglab.core.metrics.summary_from_confusion`).
    mean_dice_with_excluded, accuracy_with_excluded, mcc_with_excluded : float
        The same summary with the excluded pixels counted.
    n : int
        Pixels scored.
    n_excluded : int
        Pixels left out by ``exclude`` (inside ``within``).
    """

    labels: list
    classes: list
    confusion: np.ndarray
    confusion_with_excluded: np.ndarray
    mean_dice: float
    accuracy: float
    mcc: float
    mean_dice_with_excluded: float
    accuracy_with_excluded: float
    mcc_with_excluded: float
    n: int
    n_excluded: int
    dice: dict = field(default_factory=dict)

    def row(self, label) -> ClassScore:
        """The :class:`ClassScore` of ``label`` (KeyError if absent)."""
        for c in self.classes:
            if c.label == label:
                return c
        raise KeyError(label)

    def to_csv(self) -> str:
        """The per-class table as CSV (:data:`CSV_COLUMNS`), floats at full precision."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for c in self.classes:
            values = {"class": c.label, **{k: getattr(c, k) for k in CSV_COLUMNS[1:]}}
            writer.writerow([repr(float(v)) if isinstance(v, float) else v
                             for v in (values[k] for k in CSV_COLUMNS)])
        return out.getvalue()


def map_truth(truth, mapping) -> np.ndarray:
    """Ground-truth values → classes; values missing from ``mapping`` become -1 (no class).

    Examples
    --------
    >>> map_truth(np.array([0, 7, 8, 9]), {0: 1, 7: 2, 8: 2}).tolist()
    [1, 2, 2, -1]
    """
    t = np.asarray(truth).astype(np.int64, copy=False)
    if not mapping:
        return np.full(t.shape, -1, np.int64)
    values = np.array(sorted(mapping), np.int64)
    targets = np.array([mapping[v] for v in values.tolist()], np.int64)
    pos = np.clip(np.searchsorted(values, t), 0, values.size - 1)
    return np.where(values[pos] == t, targets[pos], -1)


def _bool_mask(name, mask, shape):
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.shape != tuple(shape):
        raise ValueError(f"{name} must have the segmentation's shape {tuple(shape)}; "
                         f"got {m.shape}")
    return m if m.dtype == bool else m != 0


def evaluate(truth, pred, *, exclude=None, within=None, mapping=None, labels=None,
             names=None) -> Evaluation:
    """Score ``pred`` against ``truth``: per-class Dice, precision, recall; mean Dice, accuracy, MCC.

    Parameters
    ----------
    truth, pred : array-like of int, same shape
        Ground truth and segmentation (any number of dimensions).
    exclude : array-like, optional
        Pixels left out of the scores where non-zero or True: typically the
        seeds the segmentation was trained on. The scores with them counted
        are returned beside (``*_with_excluded``).
    within : array-like, optional
        Only pixels where non-zero or True are scored at all (a field of
        view).
    mapping : dict, optional
        ``{truth value: class}``; truth values it omits count as no class
        (their pixels are not scored). ``None`` = identity.
    labels : sequence of int, optional
        The classes reported, in order. ``None`` = the values of ``pred``
        and the mapped truth (scored pixels).
    names : dict, optional
        ``{class: name}`` shown in :attr:`ClassScore.name`.

    Returns
    -------
    Evaluation

    Raises
    ------
    TypeError
        Non-integer label arrays.
    ValueError
        Shapes that differ.

    Examples
    --------
    >>> truth = np.array([[0, 0, 5, 5], [0, 0, 5, 5]])
    >>> pred = np.array([[1, 1, 2, 1], [1, 1, 2, 2]])
    >>> seeds = np.array([[1, 0, 0, 0], [0, 0, 2, 0]])
    >>> ev = evaluate(truth, pred, exclude=seeds, mapping={0: 1, 5: 2})
    >>> ev.labels, ev.n, ev.n_excluded
    ([1, 2], 6, 2)
    >>> round(ev.row(2).dice, 4), round(ev.mean_dice, 4)
    (0.8, 0.8286)
    """
    p = np.asarray(pred)
    _check_labels_array("pred", p)
    t = np.asarray(truth)
    _check_labels_array("truth", t)
    if t.shape != p.shape:
        raise ValueError(f"truth {t.shape} and segmentation {p.shape} differ in shape")
    if mapping is not None:
        t = map_truth(t, mapping)
    within = _bool_mask("within", within, p.shape)
    exclude = _bool_mask("exclude", exclude, p.shape)
    if labels is None:
        scored = (slice(None),) if within is None else within
        present = np.union1d(np.unique(p[scored]), np.unique(t[scored]))
        labels = [int(v) for v in present if v >= 0]
    labels = [int(v) for v in labels]
    cm_all = confusion_matrix(t, p, labels=labels, mask=within)
    cm = cm_all
    n_excluded = 0
    if exclude is not None:
        left_out = exclude if within is None else exclude & within
        n_excluded = int(np.count_nonzero(left_out))
        if n_excluded:
            cm = cm_all - confusion_matrix(t, p, labels=labels, mask=left_out)
    table = per_class_from_confusion(cm, labels) if labels else {}
    summ = summary_from_confusion(cm, labels) if labels else _empty_summary()
    summ_all = summary_from_confusion(cm_all, labels) if labels else summ
    names = names or {}
    truth_n, pred_n = cm.sum(axis=1), cm.sum(axis=0)
    classes = [
        ClassScore(label=c, dice=table[c]["dice"], precision=table[c]["precision"],
                   recall=table[c]["recall"], jaccard=table[c]["jaccard"],
                   truth_voxels=int(truth_n[i]), predicted_voxels=int(pred_n[i]),
                   name=names.get(c, ""), scores=dict(table[c]))
        for i, c in enumerate(labels)]
    return Evaluation(
        labels=labels, classes=classes, confusion=cm, confusion_with_excluded=cm_all,
        mean_dice=summ["mean_dice"], accuracy=summ["accuracy"], mcc=summ["mcc"],
        mean_dice_with_excluded=summ_all["mean_dice"],
        accuracy_with_excluded=summ_all["accuracy"], mcc_with_excluded=summ_all["mcc"],
        n=int(cm.sum()), n_excluded=n_excluded, dice=dict(summ["dice"]))


def _empty_summary():
    nan = float("nan")
    return {"mean_dice": nan, "accuracy": nan, "mcc": nan, "dice": {}}
