"""One Segment on the 2D and 3D samples: napari-seglab vs scikit-image.

Prints, per sample: time and mean Dice of ``napari_seglab.segment`` (kNN
and random forest, each with its default features) and of scikit-image's
trainable segmentation (``multiscale_basic_features`` +
``RandomForestClassifier(n_estimators=100)``) from the same scribbles, in
the same run. Seed pixels are excluded from the Dice.

    .venv/bin/python bench/segment.py
"""

from __future__ import annotations

import time

import numpy as np
from skimage.feature import multiscale_basic_features
from skimage.future import fit_segmenter, predict_segmenter
from sklearn.ensemble import RandomForestClassifier

import napari_seglab
from napari_seglab._sample_data import PHANTOM_3D_SPACING
from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom


def mean_dice(truth, labels, seeds):
    keep = seeds == 0
    d = napari_seglab.metrics.dice(truth[keep] + 1, labels[keep].astype(np.int64),
                                   labels=[1, 2, 3])
    return float(np.mean(list(d.values())))


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def skimage_pipeline(image, seeds):
    features = multiscale_basic_features(image)
    clf = RandomForestClassifier(n_estimators=100, n_jobs=-1, random_state=0)
    clf = fit_segmenter(seeds, features, clf)
    return predict_segmenter(features, clf)


def main():
    cases = {
        "2D 256x256": (tissue_phantom((256, 256), random_state=0), None),
        "3D 48x160x160": (tissue_phantom((48, 160, 160), random_state=1),
                          PHANTOM_3D_SPACING),
    }
    print(f"{'sample':<16}{'pipeline':<34}{'time (s)':>10}{'mean Dice':>11}")
    for name, ((image, truth), spacing) in cases.items():
        seeds = scribble_seeds(truth, strokes_per_class=3, length=30)
        rows = []
        for method in ("knn", "random_forest"):
            labels, t = timed(lambda image=image, seeds=seeds, method=method, spacing=spacing:
                              napari_seglab.segment(image, seeds, method, spacing=spacing))
            rows.append((f"seglab {method}", t, mean_dice(truth, labels, seeds)))
        labels, t = timed(lambda image=image, seeds=seeds: skimage_pipeline(image, seeds))
        rows.append(("skimage basic features + RF100", t, mean_dice(truth, labels, seeds)))
        for label, t, d in rows:
            print(f"{name:<16}{label:<34}{t:>10.2f}{d:>11.4f}")
        print(f"{'':<16}{'speed-up of seglab kNN vs skimage':<34}"
              f"{rows[2][1] / rows[0][1]:>10.1f}x")


if __name__ == "__main__":
    main()
