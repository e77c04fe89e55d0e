"""Grow from seeds against ITK's FastGrowCut (itk-growcut), same seeds, same run.

Two cases: a 256³ tissue phantom with a few hundred scribbled seed voxels in
3 segments, and the real MR in ``../shared/data/mr_tumour`` (6.5 mm slices)
with a stroke inside the tumour and background strokes around it.

For each case:

* whole-region time, ours and ITK's (both on the same crop: the seeds' box
  plus Slicer's margin; ITK gets one more voxel of edge padding because it
  never grows from its outer layer). Our first call is timed in a fresh
  process with an empty numba cache (JIT compile included) and with a warm
  cache; then the steady state in this process. Wall and CPU seconds (the
  machine is shared: CPU time is the steadier figure);
* Dice per segment between ours and ITK's labels (and against the tumour
  ground truth for the MR);
* one added stroke: incremental update time against the first run;
* one erased stroke: update time and equality with a fresh run;
* peak memory per crop voxel: resident high-water mark of a process that
  runs only ours (or only ITK), minus its resident size before the run.

Then the correction-stroke case (issue 27): a 4.2 M-voxel three-tissue
phantom (64 x 256 x 256 at 2 x 0.9 x 0.9 mm, noise, bias field, lesions), grown
from scribbles; then correction strokes painted one after the other where the
result is wrong (of the true tissue), and one beside an existing stroke of
the same tissue. Each update's cost beside a fresh run on the same seeds and
beside ITK's FastGrowCut, fresh and incremental (the same filter updated
with the edited seed image), all in this process.

    .venv/bin/python bench/growcut.py [--quick] [--strokes]   # --quick: 128³ phantom; --strokes: only the correction case
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mr_tumour"
HERE = Path(__file__).resolve()


def _rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _crop_of(seeds):
    """Our crop (Slicer's rule, no mask), to give ITK the same region."""
    from napari_seglab.core.growcut import _GROWTH, _crop_box

    return tuple(slice(lo, hi) for lo, hi in _crop_box(seeds, _GROWTH))


# ------------------------------------------------------------------ workers
def worker(kind, folder, cold):
    """Run one method in this (fresh) process; print JSON with times and memory."""
    folder = Path(folder)
    image = np.load(folder / "image.npy")
    seeds = np.load(folder / "seeds.npy")
    spacing = tuple(json.loads((folder / "spacing.json").read_text()))
    before = _rss_mib()
    if kind == "ours":
        from napari_seglab.core.growcut import GrowFromSeeds

        if not cold:  # load the compiled kernels first: memory of the run only
            tiny = np.zeros((3, 4, 4), seeds.dtype)
            tiny[0, 0, 0], tiny[-1, -1, -1] = 1, 2
            GrowFromSeeds(np.zeros(tiny.shape, image.dtype)).update(tiny)
            before = _rss_mib()
        tracemalloc.start()
        wall, cpu = time.perf_counter(), time.process_time()
        session = GrowFromSeeds(image, spacing=spacing)
        labels = session.update(seeds)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        traced = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        np.save(folder / "ours.npy", labels)
        crop_voxels = int(np.prod([s.stop - s.start for s in session.last_run["crop"]]))
        peak = _peak_mib() - before
    else:
        import itk
        from itk import itkFastGrowCutPython as fgc  # noqa: F401  (loads the module)

        crop = _crop_of(seeds)
        region = np.pad(image[crop], 1, mode="edge")
        itk_image = itk.GetImageFromArray(np.ascontiguousarray(region))
        itk_seeds = itk.GetImageFromArray(np.pad(seeds[crop], 1).astype(np.uint8))
        for obj in (itk_image, itk_seeds):
            obj.SetSpacing([float(s) for s in spacing[::-1]])
        grow = itk.FastGrowCut[type(itk_image), type(itk_seeds)].New()
        grow.SetInput(itk_image)
        grow.SetSeedImage(itk_seeds)
        grow.SetDistancePenalty(0.0)
        before = _rss_mib()
        wall, cpu = time.perf_counter(), time.process_time()
        grow.Update()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        peak, traced = _peak_mib() - before, float("nan")
        labels = np.zeros(seeds.shape, np.uint8)
        labels[crop] = itk.GetArrayFromImage(grow.GetOutput())[1:-1, 1:-1, 1:-1]
        np.save(folder / "itk.npy", labels)
        crop_voxels = int(region.size)
    print(json.dumps({"wall": wall, "cpu": cpu, "peak_mib": peak, "traced_mib": traced,
                      "crop_voxels": crop_voxels}))


def _spawn(kind, folder, cold_cache=False):
    env = dict(os.environ)
    if cold_cache:
        env["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="numba-cold-")
    out = subprocess.run([sys.executable, str(HERE), "--worker", kind, str(folder),
                          "cold" if cold_cache else "warm"],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# -------------------------------------------------------------------- cases
def phantom_case(size):
    from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom

    image, truth = tissue_phantom((size,) * 3, random_state=0)
    seeds = scribble_seeds(truth, strokes_per_class=4, length=size // 10, random_state=1)
    return f"phantom {size}³", image, seeds, (1.0, 1.0, 1.0), truth + 1, None


def mr_case():
    import nrrd
    from scipy import ndimage as ndi

    image, header = nrrd.read(str(DATA / "brain2_image.nrrd"), index_order="C")
    truth, _ = nrrd.read(str(DATA / "brain2_label.nrrd"), index_order="C")
    directions = np.abs(np.asarray(header["space directions"], float))
    spacing = tuple(round(float(v), 4) for v in np.linalg.norm(directions, axis=1)[::-1])
    inside = truth > 0
    z0, z1 = np.flatnonzero(inside.any(axis=(1, 2)))[[0, -1]]
    in_plane = np.zeros((3, 3, 3), bool)
    in_plane[1] = True
    seeds = np.zeros(image.shape, np.uint8)
    for z in range(z0, z1 + 1):  # a cross of two strokes inside the tumour on each slice
        core = ndi.binary_erosion(inside[z]) if z != z1 else inside[z]
        rows = np.flatnonzero(core.any(axis=1))
        yc = rows[len(rows) // 2]
        cols = np.flatnonzero(core[yc])
        seeds[z, yc, cols] = 1
        seeds[z, core[:, cols[len(cols) // 2]], cols[len(cols) // 2]] = 1
    # Background: a ring traced 3-4 voxels outside the tumour, and its
    # footprint on the slices above and below.
    near = ndi.binary_dilation(inside, in_plane, iterations=3)
    seeds[ndi.binary_dilation(inside, in_plane, iterations=4) & ~near] = 2
    footprint = near.any(axis=0)
    seeds[z0 - 1][footprint] = 2
    seeds[z1 + 1][footprint] = 2
    return "mr_tumour 23x256x256", image, seeds, spacing, None, truth


def a_stroke(seeds, truth_labels, rng, length):
    """A new straight stroke of one segment inside the current crop."""
    box = np.argwhere(seeds > 0)
    lo, hi = box.min(0), box.max(0)
    for _ in range(1000):
        z, y, x = (int(rng.integers(a, b + 1)) for a, b in zip(lo, hi, strict=True))
        x1 = min(x + length, hi[2] + 1)
        values = truth_labels[z, y, x:x1] if truth_labels is not None else None
        if values is not None and values.size and (values == values[0]).all():
            stroke = (z, y, slice(x, x1))
            return stroke, int(values[0])
    raise RuntimeError("no room for a stroke")


def dice(a, b):
    inter = np.count_nonzero(a & b)
    total = np.count_nonzero(a) + np.count_nonzero(b)
    return 2 * inter / total if total else float("nan")


def run_case(name, image, seeds, spacing, truth_labels, truth_mask):
    from napari_seglab.core.growcut import GrowFromSeeds

    print(f"\n== {name}: image {image.shape} {image.dtype}, spacing {spacing}, "
          f"{np.count_nonzero(seeds)} seed voxels in {len(np.unique(seeds)) - 1} segments")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        np.save(folder / "image.npy", image)
        np.save(folder / "seeds.npy", seeds)
        (folder / "spacing.json").write_text(json.dumps(list(spacing)))
        cold = _spawn("ours", folder, cold_cache=True)
        warm = _spawn("ours", folder)
        theirs = _spawn("itk", folder)
        itk_labels = np.load(folder / "itk.npy")
        cold_labels = np.load(folder / "ours.npy")

    def steady():
        wall, cpu = time.perf_counter(), time.process_time()
        session = GrowFromSeeds(image, spacing=spacing)
        labels = session.update(seeds)
        return session, labels, time.perf_counter() - wall, time.process_time() - cpu

    session, ours, wall, cpu = steady()
    _, _, wall2, cpu2 = steady()
    wall, cpu = min(wall, wall2), min(cpu, cpu2)
    crop = session.last_run["crop"]
    n_crop = int(np.prod([s.stop - s.start for s in crop]))
    assert np.array_equal(ours, cold_labels)
    print(f"crop {tuple((s.start, s.stop) for s in crop)}: {n_crop / 1e6:.2f} M voxels")
    print(f"{'':34s}{'wall s':>9s}{'cpu s':>9s}{'RSS peak B/vox':>16s}{'arrays B/vox':>14s}")
    cold["peak_mib"] = float("nan")  # includes the compiler's memory
    rows = [("ITK FastGrowCut", theirs), ("ours, first call, cold JIT", cold),
            ("ours, first call, cached JIT", warm),
            ("ours, steady state", {"wall": wall, "cpu": cpu, "peak_mib": float("nan"),
                                    "traced_mib": float("nan")})]
    cold["traced_mib"] = float("nan")
    for label, r in rows:
        rss, traced = (r[k] * 2**20 / n_crop for k in ("peak_mib", "traced_mib"))
        print(f"{label:34s}{r['wall']:9.2f}{r['cpu']:9.2f}{rss:16.1f}{traced:14.1f}")
    print(f"speed-up, steady state: {theirs['wall'] / wall:.1f}x wall, "
          f"{theirs['cpu'] / cpu:.1f}x cpu; first call (cold JIT): "
          f"{theirs['wall'] / cold['wall']:.1f}x wall, {theirs['cpu'] / cold['cpu']:.1f}x cpu")
    labels = [int(v) for v in np.unique(seeds[seeds > 0])]
    agreement = {v: round(float(dice(ours[crop] == v, itk_labels[crop] == v)), 4)
                 for v in labels}
    print(f"Dice ours vs ITK per segment: {agreement}")
    if truth_mask is not None:
        print(f"Dice vs tumour ground truth: ours {dice(ours == 1, truth_mask > 0):.3f}, "
              f"ITK {dice(itk_labels == 1, truth_mask > 0):.3f}")

    # One added stroke, then one erased stroke.
    rng = np.random.default_rng(3)
    edited = seeds.copy()
    if truth_labels is None:
        truth_labels = np.where(truth_mask > 0, 1, 2)
    stroke, value = a_stroke(edited, truth_labels, rng, max(5, image.shape[-1] // 12))
    edited[stroke] = value
    wall_add, cpu_add = time.perf_counter(), time.process_time()
    added = session.update(edited)
    wall_add, cpu_add = time.perf_counter() - wall_add, time.process_time() - cpu_add
    mode_add = session.last_run["mode"]
    same_add = np.array_equal(added, GrowFromSeeds(image, spacing=spacing).update(edited))
    print(f"one added stroke ({edited[stroke].size} voxels, {mode_add}): {wall_add:.3f} s wall, "
          f"{cpu_add:.3f} s cpu = 1/{wall / wall_add:.0f} of a full run (wall), "
          f"1/{cpu / cpu_add:.0f} (cpu); equals a fresh run: {same_add}")
    erased = edited.copy()
    erased[stroke] = 0  # erase the stroke again
    wall_del, cpu_del = time.perf_counter(), time.process_time()
    result = session.update(erased)
    wall_del, cpu_del = time.perf_counter() - wall_del, time.process_time() - cpu_del
    same = np.array_equal(result, GrowFromSeeds(image, spacing=spacing).update(erased))
    print(f"one erased stroke ({session.last_run['mode']}, {session.last_run['invalidated']} "
          f"voxels re-grown): {wall_del:.3f} s wall, {cpu_del:.3f} s cpu = "
          f"1/{wall / wall_del:.0f} of a full run (wall); equals a fresh run: {same}, "
          f"equals the run before the stroke: {np.array_equal(result, ours)}")


def _timed(function, *args):
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def _correction_stroke(seeds, labels, truth, rng, length=10):
    """A stroke of the true tissue through a wrongly labelled voxel (in-plane, along x)."""
    wrong = np.argwhere((labels > 0) & (labels != truth + 1))
    z, y, x = wrong[rng.integers(len(wrong))]
    row = truth[z, y, max(0, x - length // 2):x + length // 2]
    start = max(0, x - length // 2)
    xs = start + np.flatnonzero(row == truth[z, y, x])
    return (z, y, xs), int(truth[z, y, x]) + 1


def correction_case(shape, spacing=(2.0, 0.9, 0.9), n_strokes=5):
    """Correction strokes on a three-tissue volume: ours (incremental, fresh), ITK."""
    import itk
    from itk import itkFastGrowCutPython as fgc  # noqa: F401  (loads the module)

    from napari_seglab.core.growcut import GrowFromSeeds
    from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom

    image, truth = tissue_phantom(shape, random_state=0)
    seeds = scribble_seeds(truth, strokes_per_class=4, length=shape[-1] // 8, random_state=1)
    print(f"\n== correction strokes: three-tissue phantom {shape} "
          f"({image.size / 1e6:.1f} M voxels), spacing {spacing}, "
          f"{np.count_nonzero(seeds)} seed voxels")

    itk_image = itk.GetImageFromArray(np.ascontiguousarray(image))
    itk_image.SetSpacing([float(v) for v in spacing[::-1]])

    def itk_filter(seed_array):
        seed_image = itk.GetImageFromArray(seed_array.astype(np.uint8))
        seed_image.SetSpacing([float(v) for v in spacing[::-1]])
        grow = itk.FastGrowCut[type(itk_image), type(seed_image)].New()
        grow.SetInput(itk_image)
        grow.SetSeedImage(seed_image)
        grow.SetDistancePenalty(0.0)
        return grow

    def itk_update(grow, seed_array):
        seed_image = itk.GetImageFromArray(seed_array.astype(np.uint8))
        seed_image.SetSpacing([float(v) for v in spacing[::-1]])
        grow.SetSeedImage(seed_image)
        grow.Update()

    session = GrowFromSeeds(image, spacing=spacing)
    labels, wall_fresh, cpu_fresh = _timed(session.update, seeds)
    itk_grow = itk_filter(seeds)
    _, itk_wall, itk_cpu = _timed(itk_grow.Update)
    print(f"first run: ours {wall_fresh:.2f} s wall {cpu_fresh:.2f} s cpu; ITK (whole volume) "
          f"{itk_wall:.2f} s wall {itk_cpu:.2f} s cpu; crop "
          f"{tuple((c.start, c.stop) for c in session.last_run['crop'])}")
    print(f"{'stroke':28s}{'mode':>11s}{'voxels':>9s}{'ours s':>8s}{'fresh s':>9s}"
          f"{'ratio':>7s}{'ITK inc s':>11s}{'ITK fresh s':>13s}{'= fresh':>9s}")
    rng = np.random.default_rng(5)
    ratios = []
    for i in range(n_strokes + 1):
        if i < n_strokes:
            where, value = _correction_stroke(seeds, labels, truth, rng)
            name = f"correction {i + 1} (label {value})"
        else:  # beside an existing stroke of the same tissue, two rows down
            z, y, x = np.argwhere(seeds == 2)[0]
            where, value = (z, y + 2, np.arange(x, x + shape[-1] // 16)), 2
            name = "beside a stroke (label 2)"
        seeds[where] = value
        labels, wall, cpu = _timed(session.update, seeds)
        mode, expanded = session.last_run["mode"], session.last_run["expanded"]
        fresh_session = GrowFromSeeds(image, spacing=spacing)
        reference, fresh_wall, fresh_cpu = _timed(fresh_session.update, seeds)
        _, itk_inc_wall, itk_inc_cpu = _timed(itk_update, itk_grow, seeds)
        _, itk_fresh_wall, itk_fresh_cpu = _timed(itk_filter(seeds).Update)
        same = np.array_equal(labels, reference)
        ratios.append(cpu / fresh_cpu)
        print(f"{name:28s}{mode:>11s}{expanded:9d}{cpu:8.3f}{fresh_cpu:9.3f}"
              f"{cpu / fresh_cpu:7.2f}{itk_inc_cpu:11.3f}{itk_fresh_cpu:13.3f}{str(same):>9s}")
    print(f"(cpu seconds) correction stroke / fresh run: median {np.median(ratios):.2f}, "
          f"worst {max(ratios):.2f} (goal <= 0.33)")


def main(argv):
    if argv[:1] == ["--worker"]:
        worker(argv[1], argv[2], argv[3] == "cold")
        return
    size = 128 if "--quick" in argv else 256
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    correction_case((32, 128, 128) if "--quick" in argv else (64, 256, 256))
    if "--strokes" in argv:
        return
    run_case(*phantom_case(size))
    if DATA.is_dir():
        run_case(*mr_case())
    else:
        print(f"\n{DATA} is absent: the MR case is skipped")


if __name__ == "__main__":
    main(sys.argv[1:])
