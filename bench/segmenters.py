"""Per-method retrain + predict time on a 512² slice with cached features.

Also our exact kNN routes (cKDTree, float32 brute force) against
scikit-learn's ``KNeighborsClassifier``: time and label agreement.

Run: ``python bench/segmenters.py [repeats]`` (median over repeats, default 20).
"""

import sys
import time

import numpy as np
from sklearn.neighbors import KNeighborsClassifier

from napari_seglab.core.features import PRESETS
from napari_seglab.core.model_io import SeededModel
from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom
from napari_seglab.core.segmenters import KNNSegmenter, SEGMENTERS

REPEATS = int(sys.argv[1]) if len(sys.argv) > 1 else 20


def median_ms(fn, repeats=REPEATS):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times)), out


def main():
    image, truth = tissue_phantom((512, 512), random_state=0)
    seeds = scribble_seeds(truth, strokes_per_class=25, length=40, random_state=0)
    print(f"512x512 phantom, {np.count_nonzero(seeds)} seeded pixels "
          f"({np.bincount(seeds.ravel())[1:].tolist()} per class), median of {REPEATS}")
    print(f"{'method':<14} {'features':<8} {'fit+predict ms':>15} {'accuracy':>9}")
    for preset in ("minimal", "default"):
        for method in SEGMENTERS:
            params = {"threshold": 0.3} if method == "manual" else None
            model = SeededModel(method, PRESETS[preset], params)
            inputs, finite = model.compute_inputs(image)  # the cache live mode keeps
            if preset == "default" and model.make_segmenter().input != "features":
                continue
            use = seeds if method in ("knn", "nearest_mean", "random_forest",
                                      "kmeans", "gmm") else None

            def run():
                return model.fit_inputs(inputs, use, finite).predict_inputs(inputs, finite)

            ms, labels = median_ms(run, REPEATS if method != "minimum" else 5)
            acc = (labels == truth + 1).mean() if use is not None else float("nan")
            name = preset if model.make_segmenter().input == "features" else "intensity"
            print(f"{method:<14} {name:<8} {ms:>15.1f} {acc:>9.4f}")

    print("\nexact kNN routes vs scikit-learn KNeighborsClassifier (k=5, scaled features)")
    print(f"{'features':<9} {'n_train':>7} {'route':<8} {'ms':>8} {'agree %':>8}")
    rng = np.random.default_rng(0)
    for preset in ("minimal", "default"):
        model = SeededModel("knn", PRESETS[preset])
        F, _ = model.compute_inputs(image)
        F = F.reshape(-1, F.shape[-1])
        for n_train in (2000,):
            idx = np.flatnonzero(seeds.ravel())
            idx = rng.choice(idx, min(n_train, idx.size), replace=False) \
                if idx.size >= n_train else np.concatenate(
                    [idx, rng.choice(F.shape[0], n_train - idx.size, replace=False)])
            X = F[idx]
            y = truth.ravel()[idx] + 1
            mu, sd = X.mean(0), X.std(0)
            ref_clf = KNeighborsClassifier(5).fit((X - mu) / sd, y)
            ms_ref, ref = median_ms(lambda: ref_clf.predict((F - mu) / sd), max(3, REPEATS // 4))
            print(f"{preset:<9} {X.shape[0]:>7} {'sklearn':<8} {ms_ref:>8.1f} {100.0:>8.3f}")
            for route in ("kdtree", "sklearn", "brute"):
                seg = KNNSegmenter(5, algorithm=route).fit(X, y)
                ms, lab = median_ms(lambda: seg.fit(X, y).predict(F), max(3, REPEATS // 4))
                print(f"{'':<9} {'':>7} {route:<8} {ms:>8.1f} {100 * (lab == ref).mean():>8.3f}")


if __name__ == "__main__":
    main()
