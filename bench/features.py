"""Benchmark of the feature engine (not a test): speed, peak memory, quality.

Run: ``python bench/features.py`` (``--quick``: one repeat per timing case).
Each timing case runs in its own subprocess, the default 3D case three
times (median and range; the load average is printed, as the machine may
be shared: the cpu column, time summed over threads, is less sensitive to
that). Peak memory is the process's resident high-water
mark during the case minus its resident memory before it (Linux): every
allocation counts, and no allocation tracer slows the case down
(tracemalloc made the feature engine 40 % slower). Cases:

* default 2D preset on 512², default 3D preset on 256³: ours vs
  ``skimage.feature.multiscale_basic_features`` (skimage's 3D on 64×256×256
  only — it takes tens of seconds — and extrapolated ×4 to 256³);
* skimage's own feature set (intensity, edges, texture at σ = 0.5…16)
  computed by our engine vs by skimage, same data;
* peers in the same run: ``scipy.ndimage.gaussian_filter`` σ=2 on 256³, and
  the first write of a fresh array the size of the default 3D stack in a
  fresh process (on a virtual machine the first touch of fresh memory can
  cost seconds, whoever computes into it);
* quality on ``../shared/data/kesm`` (vessels): a random forest trained on
  simulated scribbles — strokes along vessel centre lines, strokes hugging
  vessels (tissue 2–3 px away) and lines in open tissue; 16 deterministic
  scribble sets — with the baseline (intensity, Gaussian σ=1) vs our
  default preset; F1 of the vessel class on non-seed pixels. Two forests:
  the one ``segment(method="random_forest")`` uses (50 trees of depth 10,
  balanced seeds) and scikit-learn's default (100 trees, unbalanced). Also
  the data README's recipe (invert, 3×3 median, Otsu) on the same pixels,
  and two diagnostics that are not scribble results: the best global
  threshold on the intensity (chosen on the ground truth: an oracle) and a
  forest trained on 5 % of the pixels drawn at random (dense labels, which
  include the vessel borders that scribbles never touch).
"""

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
KESM = ROOT.parent / "shared" / "data" / "kesm"

SKIMAGE_SIGMAS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)  # its default: 6 scales


def _volume(shape):
    from scipy import ndimage as ndi

    rng = np.random.default_rng(0)
    return ndi.gaussian_filter(rng.random(shape, dtype=np.float32), 1.0)


def _skimage_spec():
    from napari_seglab.core.features import FeatureSpec

    return FeatureSpec(tuple((n, s) for s in SKIMAGE_SIGMAS
                             for n in ("gaussian", "sobel", "hessian_eigenvalues")))


def run_case(engine, what, shape):
    from napari_seglab.core.features import PRESETS, compute_features

    data = _volume(shape)
    before = _resident_bytes()
    t0, c0 = time.perf_counter(), time.process_time()
    if engine == "skimage":
        from skimage.feature import multiscale_basic_features

        out = multiscale_basic_features(data)
    elif engine == "scipy":  # peer: one Gaussian σ=2
        from scipy import ndimage as ndi

        out = ndi.gaussian_filter(data, 2.0)[..., np.newaxis]
    elif engine == "memory":  # peer: first write of a fresh stack-sized array
        n = PRESETS["default"].n_features(1, len(shape))
        out = np.empty(shape + (n,), np.float32)
        out[...] = 0
    else:
        spec = "default" if what == "default" else _skimage_spec()
        out = compute_features(data, spec)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    return {"time": dt, "cpu": cpu, "peak": peak, "stack": out.nbytes,
            "n_features": out.shape[-1]}


def _resident_bytes():
    """Resident memory of this process now (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _subprocess(engine, what, shape):
    res = subprocess.run(
        [sys.executable, __file__, "--case", engine, what, ",".join(map(str, shape))],
        capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def kesm_scribbles(truth, n=8, seed=0):
    """Deterministic simulated strokes: 1 = vessel, 2 = tissue."""
    from scipy import ndimage as ndi
    from skimage import draw, morphology

    rng = np.random.default_rng(seed)
    seeds = np.zeros(truth.shape, np.uint8)

    def blobs(mask, k, label, r):
        pts = np.argwhere(mask)
        for p in pts[rng.choice(len(pts), k, replace=False)]:
            sel = pts[np.hypot(*(pts - p).T) <= r]
            seeds[sel[:, 0], sel[:, 1]] = label

    blobs(morphology.skeletonize(truth), n, 1, 6)  # along centre lines
    dist = ndi.distance_transform_edt(~truth)
    blobs((dist >= 2) & (dist < 3), n // 2, 2, 6)  # hugging a vessel
    pts = np.argwhere(dist > 6)
    h, w = truth.shape
    for p in pts[rng.choice(len(pts), n - n // 2, replace=False)]:  # open tissue
        ang, r = rng.uniform(0, np.pi), 15
        rr, cc = draw.line(int(p[0] - r * np.sin(ang)), int(p[1] - r * np.cos(ang)),
                           int(p[0] + r * np.sin(ang)), int(p[1] + r * np.cos(ang)))
        ok = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
        rr, cc = rr[ok], cc[ok]
        ok = dist[rr, cc] > 6
        seeds[rr[ok], cc[ok]] = 2
    return seeds


N_SCRIBBLE_SETS = 16


def _f1(pred, truth):
    tp, fp, fn = (pred & truth).sum(), (pred & ~truth).sum(), (~pred & truth).sum()
    return 2 * tp / (2 * tp + fp + fn)


def kesm_f1():
    """F1 of the vessel class per pipeline: {name: [F1 per scribble set]}, and
    the number of seed pixels per set."""
    from scipy import ndimage as ndi
    from skimage import filters, io
    from sklearn.ensemble import RandomForestClassifier

    import napari_seglab
    from napari_seglab.core.features import PRESETS, compute_features

    gray = io.imread(KESM / "grayscale.png")
    image = gray.astype(np.float32)
    truth = io.imread(KESM / "groundtruth.png") > 127
    stacks = {name: compute_features(image, PRESETS[name]).reshape(-1, PRESETS[name].n_features())
              for name in ("minimal", "default")}  # minimal = intensity + Gaussian σ=1
    median = ndi.median_filter(255 - gray, 3)  # the README's recipe, exactly
    recipe = median > filters.threshold_otsu(median)
    scores = {"Otsu recipe (README)": []}
    for name in stacks:
        scores[f"{name}, seglab forest"] = []
        scores[f"{name}, sklearn RF100"] = []
    n_seed = []
    for seed in range(N_SCRIBBLE_SETS):
        seeds = kesm_scribbles(truth, seed=seed)
        test = seeds.ravel() == 0
        n_seed.append(int((~test).sum()))
        t = truth.ravel()[test]
        scores["Otsu recipe (README)"].append(_f1(recipe.ravel()[test], t))
        for name, X in stacks.items():
            labels = napari_seglab.segment(image, seeds, "random_forest", features=name)
            scores[f"{name}, seglab forest"].append(_f1(labels.ravel()[test] == 1, t))
            rf = RandomForestClassifier(100, random_state=0, n_jobs=-1).fit(
                X[~test], seeds.ravel()[~test])
            scores[f"{name}, sklearn RF100"].append(_f1(rf.predict(X[test]) == 1, t))
    # Diagnostics (not scribble results).
    diag = {"Otsu recipe, all pixels": _f1(recipe, truth)}
    levels = np.unique(image)
    diag["oracle global threshold on intensity"] = max(_f1(image <= v, truth) for v in levels)
    dense = np.random.default_rng(0).random(truth.size) < 0.05
    for name, X in stacks.items():
        rf = RandomForestClassifier(100, random_state=0, n_jobs=-1).fit(
            X[dense], truth.ravel()[dense])
        diag[f"{name}, RF100 on 5 % random pixels"] = _f1(rf.predict(X[~dense]),
                                                         truth.ravel()[~dense])
    return scores, n_seed, diag


def main(repeats=3):
    mb = 2**20
    rows = {}
    print(f"{'case':36s} {'time [s]':>9s} {'cpu [s]':>8s} {'peak [MB]':>10s} {'stack [MB]':>11s}"
          f" {'peak/stack':>11s} {'n_feat':>7s}")
    cases = [
        ("ours", "default", (512, 512), 1), ("skimage", "skimage", (512, 512), 1),
        ("ours", "skimage", (512, 512), 1),
        ("scipy", "gauss2", (256, 256, 256), repeats),
        ("memory", "touch", (256, 256, 256), repeats),
        ("ours", "default", (256, 256, 256), repeats), ("skimage", "skimage", (64, 256, 256), 1),
        ("ours", "skimage", (64, 256, 256), 1),
    ]
    for engine, what, shape, n in cases:
        runs = [_subprocess(engine, what, shape) for _ in range(n)]
        times = sorted(r["time"] for r in runs)
        r = dict(runs[0], time=float(np.median(times)),
                 cpu=float(np.median([r["cpu"] for r in runs])))
        rows[engine, what, shape] = r
        label = f"{engine:8s} {what:8s} {'x'.join(map(str, shape))}"
        spread = f"  (runs {', '.join(f'{t:.2f}' for t in times)})" if n > 1 else ""
        print(f"{label:36s} {r['time']:9.2f} {r['cpu']:8.2f} {r['peak'] / mb:10.0f}"
              f" {r['stack'] / mb:11.0f}"
              f" {r['peak'] / r['stack']:11.2f} {r['n_features']:7d}{spread}", flush=True)
    print(f"load average after the timings: {os.getloadavg()[0]:.2f} (2 cores)")
    sk2, sk3 = rows["skimage", "skimage", (512, 512)], rows["skimage", "skimage", (64, 256, 256)]
    print(f"\nskimage's feature set, skimage / ours: 2D 512²: "
          f"{sk2['time'] / rows['ours', 'skimage', (512, 512)]['time']:.1f}x, "
          f"3D 64x256²: {sk3['time'] / rows['ours', 'skimage', (64, 256, 256)]['time']:.1f}x")
    d3 = rows["ours", "default", (256, 256, 256)]
    touch = rows["memory", "touch", (256, 256, 256)]["time"]
    print(f"default 3D 256³: {d3['time']:.2f} s (median of {repeats}; of which the first write "
          f"of fresh memory is ≈ {touch:.2f} s), peak {d3['peak'] / d3['stack']:.2f}x the "
          f"stack; skimage's defaults on 256³ ≈ {4 * sk3['time']:.0f} s (64-slice time ×4)")
    print(f"default 2D 512²: ours {rows['ours', 'default', (512, 512)]['time']:.2f} s vs skimage "
          f"defaults {sk2['time']:.2f} s")
    if KESM.is_dir():
        scores, n_seed, diag = kesm_f1()
        print(f"\nKESM vessels, F1 of the vessel class on non-seed pixels, {len(n_seed)} scribble "
              f"sets ({min(n_seed)}-{max(n_seed)} seed px):")
        for name, s in scores.items():
            print(f"  {name:30s} mean {np.mean(s):.3f}  min {np.min(s):.3f}  max {np.max(s):.3f}")
        base = np.array(scores["minimal, seglab forest"])
        diff = np.array(scores["default, seglab forest"]) - base
        print(f"  default - minimal (seglab forest), paired: {diff.mean():+.3f} "
              f"± {diff.std(ddof=1) / np.sqrt(diff.size):.3f} (standard error)")
        print("  diagnostics (not from scribbles):")
        for name, v in diag.items():
            print(f"    {name:40s} F1 {v:.3f}")
    else:
        print(f"\nKESM comparison skipped: {KESM} is absent")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--case":
        shape = tuple(int(x) for x in sys.argv[4].split(","))
        print(json.dumps(run_case(sys.argv[2], sys.argv[3], shape)))
    else:
        main(repeats=1 if "--quick" in sys.argv else 3)
