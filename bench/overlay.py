"""Evaluation refresh cost: the live overlay and scores after an edit.

Times, on a 1024x1024 slice and on a 48x512x512 volume, what the
Evaluation panel recomputes after each edit: the confusion matrix and
scores (``napari_seglab.metrics``), the TP/FP/FN overlay codes, and for
volumes the per-slice Dice curve; beside scikit-learn's
``confusion_matrix`` on the same data. Goal: a 1024^2 slice in <= 16 ms.

    .venv/bin/python bench/overlay.py
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from napari_seglab import metrics
from napari_seglab._widgets.evaluation import confusion_codes


def best_ms(fn, repeat=15):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * min(times), 1000 * float(np.median(times))


def labelled(shape, seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, 4, shape, dtype=np.uint8)
    pred = np.where(rng.random(shape) < 0.9, truth, rng.integers(1, 4, shape)).astype(np.uint8)
    return truth, pred


def refresh(truth, pred):
    cm = metrics.confusion_matrix(truth, pred, labels=[1, 2, 3])
    metrics.per_class_from_confusion(cm, labels=[1, 2, 3])
    metrics.summary_from_confusion(cm, labels=[1, 2, 3])
    return confusion_codes(truth, pred, 3)


def main():
    print(f"{'what':<52}{'best ms':>9}{'median ms':>11}")
    t2, p2 = labelled((1024, 1024))
    rows = [
        ("1024^2 slice: matrix + scores + overlay", lambda: refresh(t2, p2)),
        ("1024^2 slice: overlay codes only", lambda: confusion_codes(t2, p2, 3)),
        ("1024^2 slice: scikit-learn confusion_matrix",
         lambda: sk_confusion_matrix(t2.ravel(), p2.ravel(), labels=[1, 2, 3])),
    ]
    t3, p3 = labelled((48, 512, 512), seed=1)
    rows += [
        ("48x512x512 volume: matrix + scores + overlay", lambda: refresh(t3, p3)),
        ("48x512x512 volume: Dice per slice (curve)",
         lambda: metrics.dice_per_slice(t3, p3, [1, 2, 3])),
    ]
    for name, fn in rows:
        best, median = best_ms(fn, repeat=15 if "volume" not in name else 5)
        print(f"{name:<52}{best:>9.1f}{median:>11.1f}")


if __name__ == "__main__":
    main()
