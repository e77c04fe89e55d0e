"""Stroke -> retrained and re-predicted 512x512 slice, features cached.

For each method: median time over 50 strokes (each adds a short stroke to
the seeds, then :func:`napari_seglab.core.live.segment_slice` retrains and
predicts the slice), and the mean Dice of the last result. The default
(the fast forest, its extra-trees grown by the compiled builder) runs beside
the same forest grown by scikit-learn (``builder="sklearn"``, the previous
path), with the ratio and where the default's stroke goes (fit / predict).
kNN runs its default route (``algorithm="auto"``: the certified grid for up
to 8 features) and, as a peer, the exact k-d tree route. The other peer, in
the same run: scikit-image's ``fit_segmenter`` / ``predict_segmenter`` with a
100-tree forest on its own precomputed ``multiscale_basic_features``.

Then the kNN default route against exact kNN (scikit-learn's
``KNeighborsClassifier`` on the same scaled samples): the fraction of
identical labels over every pixel of the bench's slice and of the real
images in ``../shared/data`` (KESM vessels, the nine MRBrainS slices), with
the share of pixels the grid certified and both routes' predict times.

    .venv/bin/python bench/live.py [n_strokes] [strokes,3d,agreement]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from skimage.feature import multiscale_basic_features
from skimage.future import fit_segmenter, predict_segmenter
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.neighbors import KNeighborsClassifier

import napari_seglab
from napari_seglab.core.feature_cache import FeatureCache
from napari_seglab.core.live import segment_slice
from napari_seglab.core.model_io import SeededModel
from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom
from napari_seglab.core.segmenters import DEFAULT_METHOD

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
#: MRBrainS labels grouped into background, WM, GM, CSF (as bench/brains.py).
TISSUES = ((0, 1, 6), (2, 5), (3, 7), (4, 8))


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


def median_ms(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times)), out


def stroke_latency(image, truth, sequence):
    data = image[..., None]
    print(f"512x512 slice, {len(sequence)} strokes, features cached; median ms per stroke")
    print(f"{'method':<44}{'median ms':>10}{'p90 ms':>9}{'Dice':>8}{'CPU ms':>8}")
    runs = [(DEFAULT_METHOD, None, f"{DEFAULT_METHOD} (the default method)"),
            ("fast_forest", {"builder": "sklearn"}, "fast_forest, scikit-learn-built trees"),
            ("blend", None, "blend"),
            ("knn", None, "knn (default: auto)"),
            ("knn", {"algorithm": "kdtree"}, "knn kdtree (exact peer)"),
            ("nearest_mean", None, "nearest_mean"), ("kmeans", None, "kmeans"),
            ("gmm", None, "gmm"), ("random_forest", None, "random_forest")]
    medians = {}
    for method, params, name in runs:
        cache = FeatureCache()
        segment_slice(data, sequence[0], method=method, params=params, cache=cache)
        times, cpu = [], []
        for seeds in sequence:
            start, start_cpu = time.perf_counter(), time.process_time()
            labels = segment_slice(data, seeds, method=method, params=params, cache=cache)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        ms = 1000 * np.array(times)
        medians[name] = np.median(ms)
        # CPU time of every thread: what a stroke costs whatever the other jobs take.
        print(f"{'seglab ' + name:<44}{np.median(ms):>10.1f}{np.percentile(ms, 90):>9.1f}"
              f"{dice(truth, labels):>8.4f}{1000 * np.median(cpu):>8.1f}")

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
    print(f"{'skimage RF100 (cached)':<44}{np.median(ms):>10.1f}{np.percentile(ms, 90):>9.1f}"
          f"{dice(truth, labels):>8.4f}")
    default, sklearn_built = medians[runs[0][2]], medians[runs[1][2]]
    print(f"the default's stroke: {default:.1f} ms (goal <= 20), "
          f"{sklearn_built / default:.1f}x faster than with scikit-learn-built trees "
          f"({sklearn_built:.1f} ms), {np.median(ms) / default:.0f}x faster than "
          f"scikit-image RF100 ({np.median(ms):.0f} ms)")
    stroke_parts(data, sequence)


def stroke_parts(data, sequence):
    """Where the default's stroke goes: the fit (trees by each builder, the kNN) and the
    prediction of the slice (the trees' cascade, the kNN vote), medians over the strokes."""
    cache = FeatureCache()
    parts = {}
    for seeds in sequence[::5]:
        _, model = segment_slice(data, seeds, cache=cache, return_model=True)
        inputs = cache.get(data, model._spec(), spacing=None, channel_axis=-1, version=0)
        for name, fn in _stroke_steps(model, inputs).items():
            parts.setdefault(name, []).append(median_ms(fn, 3)[0])
    print(f"the default's stroke, part by part ({model.y_train_.size} training rows at the "
          f"last stroke; medians):")
    for name, ms in parts.items():
        print(f"  {name:<34}{np.median(ms):>8.1f} ms")


def _stroke_steps(model, inputs):
    """Callables for each step of a stroke of ``model`` (fitted by ``segment_slice``)."""
    from napari_seglab.core.live import _predict_in_blocks
    from napari_seglab.core.segmenters.tree_predict import predict_forest_proba

    seg = model.segmenter_
    X, y, columns = model.X_train_, model.y_train_, seg.knn_columns_
    rows = np.ascontiguousarray(inputs.reshape(-1, inputs.shape[-1]))
    numba_built = clone(seg).set_params(builder="numba")
    sklearn_built = clone(seg).set_params(builder="sklearn")
    return {
        "fit, numba-built trees": lambda: numba_built.fit(X, y, knn_columns=columns),
        "fit, scikit-learn-built trees": lambda: sklearn_built.fit(X, y, knn_columns=columns),
        "predict the slice": lambda: _predict_in_blocks(model, inputs, None),
        "  the trees' cascade": lambda: predict_forest_proba(
            rows, seg.trees_, first_trees=seg.first_trees, confidence=seg.confidence),
        "  the kNN vote": lambda: seg.knn_.predict_proba(rows[:, columns]),
    }


def knn_agreement(image, seeds, *, channel_axis=None, n_neighbors=5, max_per_class=5000):
    """The default kNN route against exact kNN on every pixel of ``image``.

    Returns
    -------
    dict
        ``features``, ``samples``, ``certified`` (share of pixels the grid
        decided), ``identical`` (to our exact k-d tree route), ``sklearn``
        (agreement with ``KNeighborsClassifier``), ``ms`` / ``kdtree_ms``.
    """
    params = {"n_neighbors": n_neighbors}
    model = SeededModel("knn", params=params, max_per_class=max_per_class)
    inputs, _ = model.compute_inputs(image, channel_axis=channel_axis)
    model.fit_inputs(inputs, seeds)
    seg = model.segmenter_
    X = inputs.reshape(-1, inputs.shape[-1])
    ms, ours = median_ms(lambda: seg.predict(X), 5)
    certified = np.mean(seg._certified(seg._check_X(X)) >= 0)
    exact_route = SeededModel("knn", params={**params, "algorithm": "kdtree"},
                              max_per_class=max_per_class).fit_inputs(inputs, seeds).segmenter_
    kdtree_ms, exact = median_ms(lambda: exact_route.predict(X), 3)
    reference = KNeighborsClassifier(n_neighbors).fit(seg.X_, seg.y_)
    sklearn = seg.classes_[reference.predict(seg._transform(seg._check_X(X)))]
    return {"features": X.shape[1], "samples": seg.y_.size, "pixels": X.shape[0],
            "certified": certified, "identical": np.mean(ours == exact),
            "sklearn": np.mean(ours == sklearn), "ms": ms, "kdtree_ms": kdtree_ms}


def agreement_cases(image, truth):
    """(name, image, seeds, channel_axis, max_per_class) on the phantom and real data."""
    yield ("phantom 512² last stroke", image, strokes(truth, 52)[-1], None, 5000)
    yield ("phantom 512² 40 strokes/class", image,
           scribble_seeds(truth, strokes_per_class=40, length=40, random_state=1), None, 5000)
    kesm = DATA / "kesm"
    if not kesm.is_dir():
        print(f"  ({kesm} absent: real-data agreement skipped)")
        return
    import tifffile
    from skimage import io

    gray = io.imread(kesm / "grayscale.png").astype(np.float32)
    vessels = (io.imread(kesm / "groundtruth.png") > 127).astype(np.uint8)
    for n in (6, 60):
        seeds = scribble_seeds(vessels, strokes_per_class=n, length=15, margin=1,
                               random_state=0)
        yield (f"kesm 512² {n} strokes/class", gray, seeds, None, 5000)
    for subject in (1, 2, 3):
        for slice_ in (1, 2, 3):
            name = f"{subject}_{slice_}"
            t1, t2, gt = (tifffile.imread(DATA / "brains" / f"{name}_{m}.tif")
                          for m in ("t1", "t2", "gt"))
            tissue = np.zeros(gt.shape, np.uint8)
            for i, values in enumerate(TISSUES):
                tissue[np.isin(gt, values)] = i
            scribbles = scribble_seeds(tissue, strokes_per_class=4, length=15, margin=2,
                                       random_state=0)
            yield (f"brain {name} T1 scribbles", t1.astype(np.float32), scribbles, None, 5000)
            yield (f"brain {name} T1 full gt", t1.astype(np.float32), tissue + 1, None, 2000)
            both = np.stack([t1, t2], axis=-1).astype(np.float32)
            yield (f"brain {name} T1+T2 full gt", both, tissue + 1, -1, 2000)


def agreement(image, truth):
    print("\nkNN default route vs exact kNN (k=5, 'smooth' features), every pixel")
    print(f"{'image / seeds':<31}{'F':>3}{'samples':>8}{'certified':>10}"
          f"{'= kdtree':>10}{'= sklearn':>11}{'ms':>8}{'kdtree ms':>10}")
    worst = 1.0
    for name, img, seeds, channel_axis, cap in agreement_cases(image, truth):
        r = knn_agreement(img, seeds, channel_axis=channel_axis, max_per_class=cap)
        worst = min(worst, r["sklearn"])
        print(f"{name:<31}{r['features']:>3}{r['samples']:>8}{100 * r['certified']:>9.2f}%"
              f"{100 * r['identical']:>9.4f}%{100 * r['sklearn']:>10.4f}%"
              f"{r['ms']:>8.1f}{r['kdtree_ms']:>10.1f}")
    print(f"lowest agreement with scikit-learn: {100 * worst:.4f}% "
          "(the routes are exact: differences are distance ties)")


def first_3d_stroke(shape=(48, 512, 512)):
    """The first live stroke on a volume (empty cache), then the next ones, with the
    default method; the peer: the volume's whole feature stack (what a live
    slice computed before slabs) and one scipy Gaussian pass, in the same run."""
    from scipy import ndimage as ndi

    from napari_seglab.core.features import compute_features
    from napari_seglab.core.features.engine import _compute, _Plan, _prepare
    from napari_seglab.core.features.spec import PRESETS

    volume, truth = tissue_phantom(shape, random_state=2)
    data = volume.astype(np.float32)[..., None]
    mid = shape[0] // 2
    seeds = np.zeros(shape, np.uint8)
    seeds[mid] = scribble_seeds(truth[mid], strokes_per_class=2, random_state=0)
    cache = FeatureCache()
    first, _ = median_ms(lambda: segment_slice(data, seeds, mid, cache=cache), 1)
    again, _ = median_ms(lambda: segment_slice(data, seeds, mid, cache=cache), 3)
    other, _ = median_ms(lambda: segment_slice(data, seeds, mid + 5, cache=cache), 1)
    unit, _ = median_ms(lambda: ndi.gaussian_filter(data[..., 0], 2.0), 1)
    stack, _ = median_ms(lambda: compute_features(data, "blend", channel_axis=-1), 1)
    prepared, spacing = _prepare(data, -1, None)
    engine, _ = median_ms(lambda: _compute(prepared, _Plan(PRESETS["blend"], shape, spacing),
                                           None), 1)
    print(f"\n{'x'.join(map(str, shape))} volume, default method, strokes on slice {mid}: "
          f"first live stroke {first:.0f} ms (goal <= 1000), the same slice again "
          f"{again:.0f} ms, slice {mid + 5} {other:.0f} ms; peers: the whole feature "
          f"stack {stack:.0f} ms (the whole-volume engine {engine:.0f} ms), one scipy "
          f"Gaussian σ=2 pass {unit:.0f} ms")


def main(n=50, parts=("strokes", "3d", "agreement")):
    image, truth = tissue_phantom((512, 512), random_state=4)
    if "strokes" in parts:
        stroke_latency(image, truth, strokes(truth, n + 2))
    if "3d" in parts:
        first_3d_stroke()
    if "agreement" in parts:
        agreement(image, truth)


if __name__ == "__main__":
    # bench/live.py [n_strokes] [strokes,3d,agreement]
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50,
         sys.argv[2].split(",") if len(sys.argv) > 2 else ("strokes", "3d", "agreement"))
