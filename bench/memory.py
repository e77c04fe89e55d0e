"""Peak memory of every labelling path against its budget: whole, slab, live, apply.

Each row runs in a fresh process. The process builds its input first, then
resets the kernel's resident high-water mark (``/proc/self/clear_refs``) and
runs one path; ``peak`` is the high-water mark above the resident size
before the run (so the input the caller holds is not counted, the float32
copy the pipeline makes is), and ``ratio`` is peak over the budget (the peer
figure: at most 1.0 is the contract). ``plan`` is what the pipeline planned.

* whole: ``fit_predict`` with a budget the whole volume fits in;
* slab: ``fit_predict`` with the 800 MiB budget of issue 13 (320³ kNN
  peaked at 1,373 MiB there before slabs were sized by every buffer);
* slab random_forest: 1 GiB (at 800 MiB, once the forest's trees, threads
  and buffers are counted, no slab is deep enough for the features' margin:
  refused before allocating; 900 MiB plans 54 slabs);
* live: one stroke of :func:`~napari_seglab.core.live.segment_slice` (a
  slice predicted, features from a cache bounded by the budget);
* apply: a model trained on one 320³ volume labels another, within the budget.

The 1000³ rows use a virtual volume (a 1000² phantom slice broadcast along z:
no memory until the pipeline copies it) with seeds painted on a few slices.

Run it with the checkout's package first on the path (a script's folder,
not the working directory, starts ``sys.path``)::

    PYTHONPATH=. .venv/bin/python bench/memory.py   # 320³ and 1000³ (several minutes)
    PYTHONPATH=. .venv/bin/python bench/memory.py --quick   # 320³ only
    PYTHONPATH=. .venv/bin/python bench/memory.py --only random_forest
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

MiB = 2**20
ROWS = [
    # name, shape, method, budget (MiB, None = 60 % of the RAM), path
    ("whole 320³ knn", 320, "knn", None, "whole"),
    ("slab 320³ knn", 320, "knn", 800, "slab"),
    ("slab 320³ random_forest", 320, "random_forest", 1024, "slab"),  # 800: refused
    ("whole 320³ random_forest", 320, "random_forest", None, "whole"),
    ("apply 320³ random_forest", 320, "random_forest", 1024, "apply"),
    ("live 320³ knn", 320, "knn", 800, "live"),
    ("apply 320³ knn", 320, "knn", 800, "apply"),
    ("apply 1000³ knn (virtual)", 1000, "knn", 8192, "apply"),
    ("slab 1000³ nearest_mean (virtual)", 1000, "nearest_mean", 8192, "slab"),
]


def _rss(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    return 0


def _volume(n):
    import numpy as np

    from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom

    if n <= 320:
        image, truth = tissue_phantom((n, n, n), random_state=1)
        image = (image * 4000).astype(np.uint16)  # a scanner's integers: the copy counts
        return image, truth, scribble_seeds(truth, strokes_per_class=4, length=40,
                                            random_state=0)
    plane, truth2 = tissue_phantom((n, n), random_state=1)
    image = np.broadcast_to((plane * 4000).astype(np.uint16), (n, n, n))
    seeds = np.zeros((n, n, n), np.uint8)
    stroke = scribble_seeds(truth2, strokes_per_class=4, length=40, random_state=0)
    for z in (n // 4, n // 2, 3 * n // 4):
        seeds[z] = stroke
    return image, None, seeds


def child(name):
    import numpy as np

    from napari_seglab.core.feature_cache import FeatureCache
    from napari_seglab.core.live import segment_slice
    from napari_seglab.core.pipeline import SeededModel

    _, n, method, budget_mib, path = next(r for r in ROWS if r[0] == name)
    budget = None if budget_mib is None else budget_mib * MiB
    image, _, seeds = _volume(n)
    spacing = (1.0, 1.0, 1.0)
    trained = None
    if path == "apply":
        small, _, small_seeds = _volume(min(n, 320)) if n > 320 else _volume(n)
        trained = SeededModel(method).fit(small, small_seeds, spacing=spacing)
        del small, small_seeds
        if n <= 320:  # another volume of the same size
            from napari_seglab.core.phantoms import tissue_phantom

            other, _ = tissue_phantom((n, n, n), random_state=5)
            image = (other * 4000).astype(np.uint16)
        trained.max_feature_bytes = budget
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset the resident high-water mark
    before = _rss("VmRSS:")
    start = time.perf_counter()
    if path in ("whole", "slab"):
        model = SeededModel(method, max_feature_bytes=budget)
        steps = list(model.iter_fit_predict(image, seeds, spacing=spacing))
        plan = model._last_plan
        info = (f"{plan.route}"
                + (f" slabs of {plan.depth} planes" if plan.route == "fused" else "")
                + f", {sum(s == 'predicting' for s, _, _ in steps)} steps")
    elif path == "apply":
        steps = list(trained.iter_predict(image, spacing=spacing))
        plan = trained._last_plan
        info = (f"{plan.route}"
                + (f" slabs of {plan.depth} planes" if plan.route == "fused" else "")
                + f", {sum(s == 'predicting' for s, _, _ in steps)} steps")
    else:
        data = np.asarray(image, np.float32)[..., None]
        before = _rss("VmRSS:")  # the napari side holds the float32 image
        cache = FeatureCache(max_bytes=budget)
        segment_slice(data, seeds, n // 2, method=method, spacing=spacing, cache=cache)
        plan, info = None, f"cache {cache.nbytes / MiB:.0f} MiB"
    seconds = time.perf_counter() - start
    peak = _rss("VmHWM:") - before
    print(json.dumps({"peak": peak, "budget": budget or plan.budget, "seconds": seconds,
                      "need": None if plan is None else plan.need, "info": info}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the 320³ rows only")
    parser.add_argument("--only", help="the rows whose name holds this text")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child)
    print(f"{'path':<36} {'budget MiB':>10} {'plan MiB':>9} {'peak MiB':>9} {'ratio':>6} "
          f"{'s':>7}  how")
    for name, n, *_ in ROWS:
        if (args.quick and n > 320) or (args.only and args.only not in name):
            continue
        run = subprocess.run([sys.executable, __file__, "--child", name],
                             capture_output=True, text=True)
        if run.returncode:
            print(f"{name:<36} failed: {run.stderr.strip().splitlines()[-1]}")
            continue
        r = json.loads(run.stdout.strip().splitlines()[-1])
        need = "" if r["need"] is None else f"{r['need'] / MiB:.0f}"
        print(f"{name:<36} {r['budget'] / MiB:>10.0f} {need:>9} {r['peak'] / MiB:>9.0f} "
              f"{r['peak'] / r['budget']:>6.2f} {r['seconds']:>7.1f}  {r['info']}",
              flush=True)


if __name__ == "__main__":
    main()
