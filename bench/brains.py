"""The course exercise on ../shared/data/brains: train on one subject, test on others.

Train on subject 1 slice 1 (a) with the full ground truth (balanced
subsample) or (b) with scribbles (short strokes inside each eroded tissue),
predict subjects 2 and 3 (slice 1), Dice per tissue (WM, GM, CSF,
background = rest). The course recipe: features intensity, Gaussian σ=5 and
gradient magnitude σ=5 of T1 and T2-FLAIR, kNN k=3; the other methods use
the same features.

Run: ``python bench/brains.py``.
"""

from pathlib import Path

import numpy as np
import tifffile

from napari_seglab.core.features import FeatureSpec
from napari_seglab.core.model_io import SeededModel
from napari_seglab.core.phantoms import scribble_seeds

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "brains"
TISSUES = {"background": (0, 1, 6), "WM": (2, 5), "GM": (3, 7), "CSF": (4, 8)}
COURSE = FeatureSpec((("intensity", 0.0), ("gaussian", 5.0), ("gradient_magnitude", 5.0)))
METHODS = [("knn", {"n_neighbors": 3}), ("knn", {"n_neighbors": 15}),
           ("nearest_mean", {}), ("random_forest", {}), ("gmm", {}), ("kmeans", {})]


def load(subject, slice_=1):
    image = np.stack([tifffile.imread(DATA / f"{subject}_{slice_}_{m}.tif")
                      for m in ("t1", "t2")], axis=-1).astype(np.float32)
    gt = tifffile.imread(DATA / f"{subject}_{slice_}_gt.tif")
    tissue = np.zeros(gt.shape, np.uint8)
    for i, values in enumerate(TISSUES.values(), start=1):
        tissue[np.isin(gt, values)] = i
    return image, tissue


def dice(a, b, c):
    return 2 * np.sum((a == c) & (b == c)) / max(np.sum(a == c) + np.sum(b == c), 1)


def main():
    if not DATA.is_dir():
        raise SystemExit(f"{DATA} is absent (shared data folder)")
    train_image, train_truth = load(1)
    tests = [load(s) for s in (2, 3)]
    seed_sets = {
        "full gt": train_truth,
        "scribbles": scribble_seeds(train_truth - 1, strokes_per_class=4, length=15,
                                    margin=2, random_state=0),
    }
    names = list(TISSUES)
    print(f"train 1_1 -> test 2_1, 3_1; features {COURSE.names(2)}")
    print(f"{'seeds':<10} {'method':<22} " + " ".join(f"{n:>10}" for n in names) + f" {'mean':>6}")
    for seed_name, seeds in seed_sets.items():
        print(f"{seed_name}: {np.bincount(seeds.ravel())[1:].tolist()} seeded px per tissue")
        for method, params in METHODS:
            model = SeededModel(method, COURSE, params, max_per_class=2000)
            model.fit(train_image, seeds, channel_axis=-1)
            scores = np.array([[dice(truth, model.predict(img, channel_axis=-1), c)
                                for c in range(1, 5)] for img, truth in tests]).mean(axis=0)
            label = method + ("" if not params else f" k={params['n_neighbors']}")
            if method == "knn" and params["n_neighbors"] == 3:
                label += " (course)"
            print(f"{'':<10} {label:<22} " + " ".join(f"{s:>10.3f}" for s in scores)
                  + f" {scores[1:].mean():>6.3f}")
    print("mean = mean Dice over WM, GM, CSF (subjects 2 and 3 averaged)")


if __name__ == "__main__":
    main()
