"""Benchmark of napari_seglab.metrics (issue 6): speed and published numbers.

Run:  python bench/metrics.py [--classes 4] [--side 512] [--repeat 3]

1. Confusion matrix + every score (binary scores, per-class table, multi-class
   summary) for a pair of uint8 label volumes (default 512^3, 4 classes),
   against scikit-learn's ``confusion_matrix`` on the same data. scikit-learn
   is timed on a contiguous subset and extrapolated linearly to the whole
   volume (it would take minutes and several GB otherwise); the output says
   so. Goal: <= 1 s for ours.
2. The published KESM vessel numbers (../shared/data/kesm), reproduced.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from napari_seglab import metrics

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def best_time(f, repeat):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t0)
    return best, out


def volumes(side, classes, seed=0):
    rng = np.random.default_rng(seed)
    shape = (side,) * 3
    truth = rng.integers(0, classes, shape, dtype=np.uint8)
    pred = truth.copy()
    flat = pred.reshape(-1)
    idx = rng.integers(0, flat.size, flat.size // 10)  # ~10 % relabelled
    flat[idx] = rng.integers(0, classes, idx.size, dtype=np.uint8)
    return truth, pred


def all_metrics(truth, pred):
    cm = metrics.confusion_matrix(truth, pred)
    labels = list(range(cm.shape[0]))
    return (
        cm,
        metrics.summary_from_confusion(cm, labels),
        metrics.per_class_from_confusion(cm, labels),
        metrics.scores_from_confusion(
            np.array([[cm[0, 0], cm[0, 1:].sum()], [cm[1:, 0].sum(), cm[1:, 1:].sum()]])
        ),
    )


def bench_speed(side, classes, repeat, subset):
    from sklearn.metrics import confusion_matrix as sk_confusion_matrix

    truth, pred = volumes(side, classes)
    n = truth.size
    t_ours, (cm, summ, _, _) = best_time(lambda: all_metrics(truth, pred), repeat)
    t_scores, _ = best_time(lambda: metrics.scores(truth, pred), repeat)

    m = min(subset, n)
    ts, ps = truth.reshape(-1)[:m], pred.reshape(-1)[:m]
    t_sub, sk_cm = best_time(lambda: sk_confusion_matrix(ts, ps), 1)
    np.testing.assert_array_equal(sk_cm, metrics.confusion_matrix(ts, ps))
    t_sk = t_sub * n / m
    rows = [
        (
            "ours: confusion matrix + all scores",
            f"{t_ours:8.3f} s",
            f"{n / t_ours / 1e6:8.0f} Mvox/s",
        ),
        (
            "ours: scores() binary, from arrays",
            f"{t_scores:8.3f} s",
            f"{n / t_scores / 1e6:8.0f} Mvox/s",
        ),
        (
            f"sklearn confusion_matrix ({m / 1e6:.1f} Mvox measured)",
            f"{t_sub:8.3f} s",
            f"{m / t_sub / 1e6:8.1f} Mvox/s",
        ),
        ("sklearn, extrapolated to the volume", f"{t_sk:8.1f} s", f"{t_sk / t_ours:6.0f}x ours"),
    ]
    print(f"\n{side}^3 uint8 label volumes ({n:,} voxels), {classes} classes, best of {repeat}")
    print(f"{'':46s} {'time':>10s} {'':>14s}")
    for r in rows:
        print(f"{r[0]:46s} {r[1]:>10s} {r[2]:>14s}")
    print(
        f"(sklearn timed on the first {m:,} voxels, extrapolated linearly; "
        f"its matrix on them equals ours)"
    )
    print(
        f"goal <= 1 s: {'met' if t_ours <= 1 else 'NOT met'};  accuracy {summ['accuracy']:.4f}, "
        f"mean Dice {summ['mean_dice']:.4f}, MCC (R_K) {summ['mcc']:.4f}"
    )


def bench_kesm():
    if not (SHARED / "kesm").is_dir():
        print(f"\nKESM: skipped, {SHARED / 'kesm'} is absent")
        return
    from scipy import ndimage as ndi
    from skimage.filters import threshold_otsu
    from skimage.io import imread

    gray = imread(SHARED / "kesm" / "grayscale.png")
    truth = imread(SHARED / "kesm" / "groundtruth.png")
    filtered = ndi.median_filter(255 - gray, size=3)
    threshold = threshold_otsu(filtered)
    s = metrics.scores(truth > 0, filtered > threshold)
    published = {
        "tn": 254564,
        "fp": 122,
        "fn": 1863,
        "tp": 5595,
        "accuracy": 0.9924278259277344,
        "f1": 0.8493358633776091,
        "mcc": 0.8533910225863214,
    }
    print(f"\nKESM vessels: 255 - img, 3x3 median (reflect), Otsu = {threshold}")
    print(f"{'':10s} {'ours':>20s} {'published':>20s} {'|diff|':>9s}")
    for key, ref in published.items():
        diff = abs(s[key] - ref)
        print(f"{key:10s} {s[key]!s:>20s} {ref!s:>20s} {diff:9.1e}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--subset", type=int, default=1 << 23, help="voxels given to sklearn")
    args = parser.parse_args()
    bench_speed(args.side, args.classes, args.repeat, args.subset)
    bench_kesm()


if __name__ == "__main__":
    main()
