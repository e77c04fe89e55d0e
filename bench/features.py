"""Benchmark of the feature engine (not a test): speed, peak memory, quality.

Run: ``python bench/features.py``. Each timing case runs in its own
subprocess (clean peak-memory accounting with tracemalloc, which sees NumPy
buffers). Cases:

* default 2D preset on 512², default 3D preset on 256³: ours vs
  ``skimage.feature.multiscale_basic_features`` (skimage's 3D on 64×256×256
  only — it takes tens of seconds — and extrapolated ×4 to 256³);
* skimage's own feature set (intensity, edges, texture at σ = 0.5…16)
  computed by our engine vs by skimage, same data;
* quality on ``../shared/data/kesm`` (vessels): a random forest (100 trees,
  random_state=0) trained on simulated scribbles — strokes along vessel
  centre lines, strokes hugging vessels (tissue 2–3 px away) and lines in
  open tissue; 4 deterministic scribble sets — with the baseline
  (intensity, Gaussian σ=1) vs our default preset; F1 of the vessel class
  on non-seed pixels.
"""

import json
import subprocess
import sys
import time
import tracemalloc
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
    from skimage.feature import multiscale_basic_features

    from napari_seglab.core.features import compute_features

    data = _volume(shape)
    tracemalloc.start()
    t0 = time.perf_counter()
    if engine == "skimage":
        out = multiscale_basic_features(data)
    else:
        spec = "default" if what == "default" else _skimage_spec()
        out = compute_features(data, spec)
    dt = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"time": dt, "peak": peak, "stack": out.nbytes, "n_features": out.shape[-1]}


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


def kesm_f1():
    from skimage import io
    from sklearn.ensemble import RandomForestClassifier

    from napari_seglab.core.features import PRESETS, compute_features

    image = io.imread(KESM / "grayscale.png").astype(np.float32)
    truth = io.imread(KESM / "groundtruth.png") > 127
    stacks = {name: compute_features(image, PRESETS[name]).reshape(-1, PRESETS[name].n_features())
              for name in ("minimal", "default")}  # minimal = intensity + Gaussian σ=1
    scores = {name: [] for name in stacks}
    n_seed = []
    for seed in range(4):
        seeds = kesm_scribbles(truth, seed=seed).ravel()
        train = seeds > 0
        n_seed.append(int(train.sum()))
        t = truth.ravel()[~train]
        for name, X in stacks.items():
            rf = RandomForestClassifier(100, random_state=0, n_jobs=-1).fit(X[train], seeds[train])
            pred = rf.predict(X[~train]) == 1
            tp, fp, fn = (pred & t).sum(), (pred & ~t).sum(), (~pred & t).sum()
            scores[name].append(2 * tp / (2 * tp + fp + fn))
    return scores, n_seed


def main():
    mb = 2**20
    rows = []
    print("case                                  time [s]   peak [MB]  stack [MB]  peak/stack  n_feat")
    cases = [
        ("ours", "default", (512, 512)), ("skimage", "skimage", (512, 512)),
        ("ours", "skimage", (512, 512)),
        ("ours", "default", (256, 256, 256)), ("skimage", "skimage", (64, 256, 256)),
        ("ours", "skimage", (64, 256, 256)),
    ]
    for engine, what, shape in cases:
        r = _subprocess(engine, what, shape)
        rows.append(((engine, what, shape), r))
        label = f"{engine:8s} {what:8s} {'x'.join(map(str, shape))}"
        print(f"{label:36s} {r['time']:9.2f} {r['peak'] / mb:11.0f} {r['stack'] / mb:11.0f}"
              f" {r['peak'] / r['stack']:11.2f} {r['n_features']:7d}", flush=True)
    res = {k: v for k, v in rows}
    sk2, sk3 = res["skimage", "skimage", (512, 512)], res["skimage", "skimage", (64, 256, 256)]
    print(f"\nskimage's feature set, skimage / ours: 2D 512²: "
          f"{sk2['time'] / res['ours', 'skimage', (512, 512)]['time']:.1f}x, "
          f"3D 64x256²: {sk3['time'] / res['ours', 'skimage', (64, 256, 256)]['time']:.1f}x")
    d3 = res["ours", "default", (256, 256, 256)]
    print(f"default 3D 256³: {d3['time']:.2f} s, peak {d3['peak'] / d3['stack']:.2f}x the stack; "
          f"skimage's defaults on 256³ ≈ {4 * sk3['time']:.0f} s (64-slice time ×4)")
    print(f"default 2D 512²: ours {res['ours', 'default', (512, 512)]['time']:.2f} s vs skimage "
          f"defaults {sk2['time']:.2f} s")
    if KESM.is_dir():
        scores, n_seed = kesm_f1()
        print(f"\nKESM vessels, forest on scribbles ({min(n_seed)}-{max(n_seed)} seed px):")
        for name, s in scores.items():
            print(f"  {name:8s} F1 mean {np.mean(s):.3f}  per scribble set "
                  + " ".join(f"{x:.3f}" for x in s))
    else:
        print(f"\nKESM comparison skipped: {KESM} is absent")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--case":
        shape = tuple(int(x) for x in sys.argv[4].split(","))
        print(json.dumps(run_case(sys.argv[2], sys.argv[3], shape)))
    else:
        main()
