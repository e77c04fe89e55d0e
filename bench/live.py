"""Stroke -> retrained and re-predicted 512x512 slice, features cached.

For each method: median time over 50 strokes (each adds a short stroke to
the seeds, then :func:`napari_seglab.core.live.segment_slice` retrains and
predicts the slice), and the mean Dice of the last result. The peer, in the
same run: scikit-image's ``fit_segmenter`` / ``predict_segmenter`` with a
100-tree forest on its own precomputed ``multiscale_basic_features``.

    .venv/bin/python bench/live.py [n_strokes]
"""

from __future__ import annotations

import sys
import time

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from skimage.feature import multiscale_basic_features
from skimage.future import fit_segmenter, predict_segmenter

import napari_seglab
from napari_seglab.core.feature_cache import FeatureCache
from napari_seglab.core.live import segment_slice
from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom


def strokes(truth, n):
    """``n`` cumulative seed arrays, one short stroke more each time."""
    every = scribble_seeds(truth, strokes_per_class=max(2, n // 3 + 1), length=16,
                           random_state=1)
    labelled = [np.argwhere(every == v) for v in (1, 2, 3)]
    seeds = np.zeros_like(every)
    out = []
    for i in range(n):
        points = labelled[i % 3]
        chunk = points[(i // 3) * 16:(i // 3 + 1) * 16]
        if chunk.size == 0:
            chunk = points[:16]
        seeds = seeds.copy()
        seeds[tuple(chunk.T)] = i % 3 + 1
        out.append(seeds)
    return out[2:]  # from the first stroke that gives three classes


def dice(truth, labels):
    d = napari_seglab.metrics.dice(truth + 1, labels.astype(np.int64), labels=[1, 2, 3])
    return float(np.mean(list(d.values())))


def main(n=50):
    image, truth = tissue_phantom((512, 512), random_state=4)
    sequence = strokes(truth, n + 2)
    data = image[..., None]
    print(f"512x512 slice, {len(sequence)} strokes, features cached; median ms per stroke")
    print(f"{'method':<28}{'median ms':>10}{'p90 ms':>9}{'Dice':>8}")
    for method in ("knn", "nearest_mean", "kmeans", "gmm", "random_forest"):
        cache = FeatureCache()
        segment_slice(data, sequence[0], method=method, cache=cache)  # fills the cache
        times = []
        for seeds in sequence:
            start = time.perf_counter()
            labels = segment_slice(data, seeds, method=method, cache=cache)
            times.append(time.perf_counter() - start)
        ms = 1000 * np.array(times)
        print(f"{'seglab ' + method:<28}{np.median(ms):>10.1f}{np.percentile(ms, 90):>9.1f}"
              f"{dice(truth, labels):>8.4f}")

    features = multiscale_basic_features(image)
    times = []
    for seeds in sequence[: max(5, len(sequence) // 5)]:
        start = time.perf_counter()
        clf = fit_segmenter(seeds, features,
                            RandomForestClassifier(n_estimators=100, n_jobs=-1,
                                                   random_state=0))
        labels = predict_segmenter(features, clf)
        times.append(time.perf_counter() - start)
    ms = 1000 * np.array(times)
    print(f"{'skimage RF100 (cached)':<28}{np.median(ms):>10.1f}{np.percentile(ms, 90):>9.1f}"
          f"{dice(truth, labels):>8.4f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
