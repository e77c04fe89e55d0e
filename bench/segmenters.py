"""Per-method retrain + predict time on a 512² slice with cached features.

Also our exact kNN routes (cKDTree, float32 brute force) against
scikit-learn's ``KNeighborsClassifier``: time and label agreement.

Then nearest mean, k-means and the Gaussian mixture on a whole volume (the
160³ phantom of ``bench/volume.py``, 'smooth' features, 4.1 M voxels), each
against a peer in the same run: the distance rule (squared distances of the
z-scored rows in 65536-row chunks, what nearest mean and k-means did before
the linear rule) and scikit-learn's ``KMeans`` / ``GaussianMixture`` from the
same start (k-means on every voxel; the mixture on our subsample, since
that is how it was used). Times are the median of 3; agreement is the share
of identical labels.

Run: ``python bench/segmenters.py [repeats]`` (median over repeats, default 20).
"""

import sys
import time

import numpy as np
from sklearn.neighbors import KNeighborsClassifier

from napari_seglab.core.features import PRESETS
from napari_seglab.core.model_io import SeededModel
from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom
from napari_seglab.core.segmenters import SEGMENTERS, KNNSegmenter

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

            def run(model=model, inputs=inputs, use=use, finite=finite):
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
            ms_ref, ref = median_ms(lambda ref_clf=ref_clf, F=F, mu=mu, sd=sd: ref_clf.predict((F - mu) / sd), max(3, REPEATS // 4))
            print(f"{preset:<9} {X.shape[0]:>7} {'sklearn':<8} {ms_ref:>8.1f} {100.0:>8.3f}")
            for route in ("kdtree", "sklearn", "brute"):
                seg = KNNSegmenter(5, algorithm=route).fit(X, y)
                ms, lab = median_ms(lambda seg=seg, X=X, y=y, F=F: seg.fit(X, y).predict(F), max(3, REPEATS // 4))
                print(f"{'':<9} {'':>7} {route:<8} {ms:>8.1f} {100 * (lab == ref).mean():>8.3f}")


def distance_rule(X, mean, scale, centres, chunk=65536):
    """Nearest centre by squared distances of z-scored rows (the peer)."""
    out = np.empty(X.shape[0], np.intp)
    c = centres.astype(np.float32)
    c_sq = np.einsum("ij,ij->i", c, c)
    for start in range(0, X.shape[0], chunk):
        z = (X[start : start + chunk] - mean) / scale
        d = z @ (-2 * c.T) + c_sq + np.einsum("ij,ij->i", z, z)[:, None]
        out[start : start + chunk] = d.argmin(axis=1)
    return out


def volume_rows(repeats=3):
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture

    from napari_seglab.core.segmenters import (
        GaussianMixtureSegmenter,
        KMeansSegmenter,
        NearestMeanSegmenter,
    )

    image, truth = tissue_phantom((160, 160, 160), random_state=1)
    seeds = scribble_seeds(truth, strokes_per_class=4, length=40, random_state=0)
    X, _ = SeededModel("nearest_mean", PRESETS["smooth"]).compute_inputs(image)
    X = X.reshape(-1, X.shape[-1])
    y = seeds.ravel()
    print(f"\nwhole volume 160³ ({X.shape[0] / 1e6:.1f} M voxels, {X.shape[1]} features, "
          f"{np.count_nonzero(y)} seeded), median of {repeats}")
    print(f"{'method':<14} {'step':<8} {'ours s':>8} {'peer s':>8} {'agree %':>8}  peer")

    def row(method, step, ours, peer, agree, name):
        print(f"{method:<14} {step:<8} {ours:>8.3f} {peer:>8.3f} {agree:>8.3f}  {name}")

    nm = NearestMeanSegmenter().fit(X[y > 0], y[y > 0])
    t_ours, labels = median_ms(lambda: nm.predict(X), repeats)
    t_peer, idx = median_ms(lambda: distance_rule(X, nm.mean_, nm.scale_, nm.centroids_),
                            repeats)
    row("nearest_mean", "predict", t_ours / 1e3, t_peer / 1e3,
        100 * (labels == nm.classes_[idx]).mean(), "distance rule")

    t_fit, km = median_ms(lambda: KMeansSegmenter().fit(X, y), repeats)
    seeded = y > 0
    init = np.stack([((X[y == c] - km.mean_) / km.scale_).mean(axis=0) for c in (1, 2, 3)])
    Xs = (X - km.mean_) / km.scale_
    t_sk, sk = median_ms(lambda: KMeans(3, init=init, n_init=1, random_state=0).fit(Xs),
                         repeats)
    t_ours, labels = median_ms(lambda: km.predict(X), repeats)
    row("kmeans", "fit", t_fit / 1e3, t_sk / 1e3,
        100 * (labels == km.classes_[sk.labels_]).mean(), "sklearn KMeans, all voxels")
    t_peer, idx = median_ms(lambda: distance_rule(X, km.mean_, km.scale_,
                                                  km.cluster_centers_), repeats)
    row("kmeans", "predict", t_ours / 1e3, t_peer / 1e3,
        100 * (labels == km.classes_[idx]).mean(), "distance rule")

    t_fit, gm = median_ms(lambda: GaussianMixtureSegmenter().fit(X, y), repeats)
    # The peer fits the same subsample from the same start (our fit's draws).
    rng = np.random.default_rng(0)
    sample = X[np.sort(rng.integers(0, X.shape[0], gm.max_samples))]
    Ss = ((sample - gm.mean_) / gm.scale_).astype(np.float64)
    Xseed = ((X[seeded] - gm.mean_) / gm.scale_).astype(np.float64)
    means, precisions = [], []
    for c in (1, 2, 3):
        members = Xseed[y[seeded] == c]
        cov = np.cov(members, rowvar=False)
        precisions.append(np.linalg.inv(cov - np.diag(np.diag(cov))
                                        + np.diag(np.diag(cov) + 1e-4 + 1e-2)))
        means.append(members.mean(axis=0))
    t_sk, sk = median_ms(lambda: GaussianMixture(
        3, reg_covar=1e-4, means_init=means, precisions_init=precisions,
        weights_init=np.full(3, 1 / 3)).fit(Ss), repeats)
    t_ours, labels = median_ms(lambda: gm.predict(X), repeats)
    sk_labels = sk.predict((X - gm.mean_) / gm.scale_) + 1
    row("gmm", "fit", t_fit / 1e3, t_sk / 1e3, 100 * (labels == sk_labels).mean(),
        f"sklearn GaussianMixture, same {gm.max_samples} rows, same start")
    t_peer, _ = median_ms(lambda: sk.predict((X - gm.mean_) / gm.scale_), repeats)
    row("gmm", "predict", t_ours / 1e3, t_peer / 1e3, 100 * (labels == sk_labels).mean(),
        "sklearn GaussianMixture.predict")
    dice = [2 * np.sum((labels == c) & (truth.ravel() + 1 == c))
            / (np.sum(labels == c) + np.sum(truth.ravel() + 1 == c)) for c in (1, 2, 3)]
    print(f"gmm Dice per class {np.round(dice, 4).tolist()} (whole volume, seeds included)")


if __name__ == "__main__":
    main()
    volume_rows()
