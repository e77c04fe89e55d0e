"""Segment a whole 3D volume: napari-seglab vs scikit-image vs a 20-line baseline.

The volume is a 160³ isotropic MR-like phantom (4.1 M voxels:
:func:`~napari_seglab.core.phantoms.tissue_phantom`, three smooth tissue
classes, partial volume at every border, a multiplicative bias field and
Gaussian noise) with a few hundred voxels of short scribbles (4 strokes of
40 voxels per class). Isotropic, so that scikit-image's features, which know
no voxel spacing, see the same geometry as ours.

Rows, all from the same seeds in the same run:

* scikit-image's trainable segmentation: ``multiscale_basic_features``
  (its defaults) + ``RandomForestClassifier(n_estimators=100)``;
* the baseline a competent user writes in 20 lines: intensity and
  ``ndi.gaussian_filter(σ=1)``, a 30-tree forest;
* ``napari_seglab.segment`` with its default method (end to end), then each
  learned method with features, fit and predict timed separately (the same
  code ``segment`` runs: ``prepare_segment`` + ``iter_fit_predict``, stepped).

Every row runs in a fresh process, so its peak RSS is its own (the process
holds the image and seeds it was handed) and no row inherits another's
threads or heap. Dice is per class and the mean over the three classes,
on every voxel except the seeded ones. ``ratio`` is scikit-image's total
time over the row's.

    .venv/bin/python bench/volume.py            # 160³, a few minutes
    .venv/bin/python bench/volume.py --quick    # 80³
    .venv/bin/python bench/volume.py --draws 8  # + Dice of baseline vs ours on 8 more draws
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

FULL_SHAPE = (160, 160, 160)
QUICK_SHAPE = (80, 80, 80)
LEARNED_METHODS = ("knn", "nearest_mean", "kmeans", "gmm", "random_forest")
CLASS_NAMES = ("background", "tissue", "fluid")


def skimage_pipeline(image, seeds):
    """scikit-image's trainable segmentation with its default features."""
    from skimage.feature import multiscale_basic_features
    from skimage.future import fit_segmenter, predict_segmenter
    from sklearn.ensemble import RandomForestClassifier

    start = time.perf_counter()
    features = multiscale_basic_features(image)
    stamps = [time.perf_counter()]
    clf = RandomForestClassifier(n_estimators=100, n_jobs=-1, random_state=0)
    clf = fit_segmenter(seeds, features, clf)
    stamps.append(time.perf_counter())
    labels = predict_segmenter(features, clf)
    stamps.append(time.perf_counter())
    return labels, start, stamps


def baseline_pipeline(image, seeds):
    """What a competent user writes in 20 lines: two features, 30 trees."""
    from scipy import ndimage as ndi
    from sklearn.ensemble import RandomForestClassifier

    start = time.perf_counter()
    features = np.stack([image, ndi.gaussian_filter(image, 1.0)], axis=-1)
    stamps = [time.perf_counter()]
    seeded = seeds > 0
    clf = RandomForestClassifier(n_estimators=30, n_jobs=-1, random_state=0)
    clf.fit(features[seeded], seeds[seeded])
    stamps.append(time.perf_counter())
    labels = clf.predict(features.reshape(-1, features.shape[-1])).reshape(image.shape)
    stamps.append(time.perf_counter())
    return labels, start, stamps


def seglab_default(image, seeds):
    """``napari_seglab.segment(image, seeds)``: the default method, end to end."""
    import napari_seglab

    start = time.perf_counter()
    labels = napari_seglab.segment(image, seeds)
    return labels, start, [time.perf_counter()]


def seglab_stepped(image, seeds, method):
    """What ``segment`` runs, stepped to stamp features, fit and predict."""
    from napari_seglab.api import prepare_segment

    start = time.perf_counter()
    model, data, checked = prepare_segment(image, seeds, method)
    steps = model.iter_fit_predict(data, checked, channel_axis=-1)
    stamps = {}
    while True:
        try:
            stage, _, _ = next(steps)
        except StopIteration as stop:
            labels = stop.value  # seeded voxels get their seed label: part of predict
            break
        stamps[stage] = time.perf_counter()
    return labels, start, [stamps["features"], stamps["training"], time.perf_counter()]


def gaussian_unit(image, seeds):
    """The unit: one ``scipy.ndimage.gaussian_filter(σ=2)`` pass over the float32 volume."""
    from scipy import ndimage as ndi

    data = image.astype(np.float32)
    start = time.perf_counter()
    ndi.gaussian_filter(data, 2.0)
    return np.zeros(image.shape, np.uint8), start, [time.perf_counter()]


PIPELINES = {
    "scipy gaussian σ=2": gaussian_unit,
    "skimage": skimage_pipeline,
    "baseline": baseline_pipeline,
    "seglab default": seglab_default,
}


def run_row(name, image, seeds):
    """Run one pipeline in this (fresh) process: labels, stage times, peak RSS."""
    from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom

    if name in PIPELINES:
        pipeline = PIPELINES[name]
    else:
        def pipeline(image, seeds):
            return seglab_stepped(image, seeds, name.removeprefix("seglab "))
    # Once on a tiny volume first: imports (several lazy ones) and first-call
    # costs are not part of the row's time.
    small_image, small_truth = tissue_phantom((12, 24, 24), random_state=2)
    pipeline(small_image, scribble_seeds(small_truth, strokes_per_class=2, length=8,
                                         margin=1))
    before = _reset_peak()
    labels, start, stamps = pipeline(image, seeds)
    times = np.diff([start] + stamps)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    growth = (_status("VmHWM") - before) / 2**20 if before is not None else float("nan")
    return labels, times, peak_mb, growth


def _status(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    return 0


def _reset_peak():
    """Reset the kernel's resident high-water mark; the resident size now (or None)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return None
    return _status("VmRSS")


def dice_per_class(truth, labels, seeds):
    """Dice of seed labels 1, 2, 3 against truth 0, 1, 2, seeded voxels left out."""
    import napari_seglab

    d = napari_seglab.metrics.dice(truth + 1, labels.astype(np.int64), labels=[1, 2, 3],
                                   mask=seeds == 0)
    return [d[label] for label in (1, 2, 3)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"a {'x'.join(map(str, QUICK_SHAPE))} volume instead of "
                             f"{'x'.join(map(str, FULL_SHAPE))}")
    parser.add_argument("--draws", type=int, default=0, metavar="N",
                        help="also score the baseline and seglab's default method on N "
                             "other scribble draws (one draw decides ties by luck)")
    args = parser.parse_args(argv)
    if args.draws < 0:
        parser.error(f"--draws must be >= 0; got {args.draws}")

    from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom

    shape = QUICK_SHAPE if args.quick else FULL_SHAPE
    image, truth = tissue_phantom(shape, random_state=1)
    seeds = scribble_seeds(truth, strokes_per_class=4, length=40, random_state=0)
    seeded = np.bincount(seeds.ravel(), minlength=4)[1:]
    fractions = np.bincount(truth.ravel(), minlength=3) / truth.size
    print(f"volume {'x'.join(map(str, shape))} = {image.size / 1e6:.2f} M voxels, "
          f"{int(seeded.sum())} seeded ("
          + ", ".join(f"{n} {c}" for n, c in zip(seeded, CLASS_NAMES))
          + "); truth " + ", ".join(f"{100 * f:.1f}% {c}" for f, c in zip(fractions, CLASS_NAMES)))
    print("Dice on unseeded voxels; ratio = skimage total / row total; "
          "each row in a fresh process (peak RSS its own, MiB)")

    names = list(PIPELINES) + [f"seglab {m}" for m in LEARNED_METHODS]
    rows = {}
    # spawn: a clean process per row (no inherited heap or thread pools).
    context = multiprocessing.get_context("spawn")
    for name in names:
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            labels, times, peak_mb, growth = pool.submit(run_row, name, image, seeds).result()
        rows[name] = (times, dice_per_class(truth, labels, seeds), peak_mb, growth)

    reference = rows["skimage"][0].sum()
    unit = rows.pop("scipy gaussian σ=2")[0].sum()
    image_mb = image.size * 4 / 2**20
    header = (f"{'pipeline':<22}{'feat s':>8}{'fit s':>8}{'pred s':>8}{'total s':>9}"
              f"{'ratio':>8}{'units':>7}  {'Dice bg':>8}{'tissue':>8}{'fluid':>8}{'mean':>8}"
              f"{'peak MiB':>9}{'growth':>8}")
    print(f"unit: one scipy.ndimage.gaussian_filter(σ=2) pass over the float32 volume, "
          f"{unit:.3f} s (fresh process); growth: peak RSS of the run above its start, "
          f"in float32 images ({image_mb:.1f} MiB)")
    print(header)
    print("-" * len(header))
    for name, (times, dice, peak_mb, growth) in rows.items():
        stage_cols = ("".join(f"{t:>8.2f}" for t in times) if len(times) == 3
                      else f"{'':>8}{'':>8}{'':>8}")
        print(f"{name:<22}{stage_cols}{times.sum():>9.2f}{reference / times.sum():>7.1f}x"
              f"{times.sum() / unit:>7.2f}  "
              + "".join(f"{d:>8.4f}" for d in dice)
              + f"{np.mean(dice):>8.4f}{peak_mb:>9.0f}{growth / image_mb:>7.1f}x")

    default = rows["seglab default"]
    print(f"goal (default method): <= 5 units and growth <= 8x -> "
          f"{default[0].sum() / unit:.2f} units, {default[3] / image_mb:.1f}x")
    print(f"goal (default method): >= 30x faster than skimage -> "
          f"{reference / default[0].sum():.1f}x; mean Dice {np.mean(default[1]):.4f} vs "
          f"skimage {np.mean(rows['skimage'][1]):.4f}, baseline {np.mean(rows['baseline'][1]):.4f}")
    if not args.quick:
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            print(pool.submit(large_volume, LARGE_SHAPE).result())
    if args.draws:
        compare_draws(image, truth, args.draws)


LARGE_SHAPE = (256, 256, 256)


def large_volume(shape):
    """The default bank + prediction (``segment``'s default, end to end) on 256³."""
    from scipy import ndimage as ndi

    import napari_seglab
    from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom

    image, truth = tissue_phantom(shape, random_state=3)
    image = image.astype(np.float32)
    seeds = scribble_seeds(truth, strokes_per_class=4, length=40, random_state=0)
    small, small_truth = tissue_phantom((12, 24, 24), random_state=2)
    napari_seglab.segment(small, scribble_seeds(small_truth, strokes_per_class=2, length=8,
                                                margin=1))
    start = time.perf_counter()
    ndi.gaussian_filter(image, 2.0)
    unit = time.perf_counter() - start
    before = _reset_peak()
    start = time.perf_counter()
    napari_seglab.segment(image, seeds)
    seconds = time.perf_counter() - start
    growth = (_status("VmHWM") - before) / image.nbytes if before is not None else float("nan")
    return (f"{'x'.join(map(str, shape))} default segment (bank + training + prediction): "
            f"{seconds:.2f} s (goal <= 1.5 s) = {seconds / unit:.2f} units of a scipy "
            f"gaussian_filter(σ=2) pass ({unit:.2f} s); growth {growth:.1f}x the float32 image")


def compare_draws(image, truth, n_draws):
    """Mean Dice of the baseline and seglab's default over other scribble draws."""
    from napari_seglab.core.phantoms import scribble_seeds

    means = {"baseline": [], "seglab default": []}
    for draw in range(1, n_draws + 1):
        seeds = scribble_seeds(truth, strokes_per_class=4, length=40, random_state=draw)
        for name in means:
            labels = PIPELINES[name](image, seeds)[0]
            means[name].append(np.mean(dice_per_class(truth, labels, seeds)))
    ours, base = (np.array(means[name]) for name in ("seglab default", "baseline"))
    print(f"{n_draws} other scribble draws (random_state 1..{n_draws}), mean Dice: "
          f"seglab default {ours.mean():.4f}, baseline {base.mean():.4f}; "
          f"seglab higher in {int((ours > base).sum())}/{n_draws}, "
          f"difference {np.mean(ours - base):+.4f} ± {np.std(ours - base):.4f} (mean ± sd)")


if __name__ == "__main__":
    main()
