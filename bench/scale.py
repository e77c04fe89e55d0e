"""Blockwise apply beyond memory: a synthetic zarr volume, the default feature bank.

Prints, in one run:
* the in-memory path (``SeededModel.predict``) on a crop beside the blockwise
  path on the same crop (equality, MB/s): the peer;
* the whole volume with dask's local threads (MB/s, peak RSS of this process
  against the 2 GB cap);
* the whole volume (or ``--cluster-size`` of it) on a ``LocalCluster`` with
  1 and 2 worker processes, the model sent as its file's bytes;
* the same through ``seglab apply --scheduler ADDRESS``.

The volume is written chunk by chunk and deleted at the end (``--keep`` to
keep it). ``--size`` sets its size in GB (default 4).

    .venv/bin/python bench/scale.py --size 0.25 --cluster-size 0.06
    .venv/bin/python bench/scale.py --size 0.5 --skip-whole --skip-cluster --profile-block

``--profile-block`` times the parts of one block (zarr read, features, predict,
write) beside the in-memory path on the same padded block. The figures of the
4 GB run, the cluster runs and how throughput scales with workers are in
``docs/scale.md``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from napari_seglab.core.blockwise import model_from_bytes, model_to_bytes, predict_blockwise
from napari_seglab.core.features import estimate_memory
from napari_seglab.core.pipeline import SeededModel

YX = (1024, 1024)
SLAB = 32


def pattern(z0, z1, shape_yx=YX):
    """Tubes and blobs: a smooth periodic structure, noise-free (float32)."""
    z = np.arange(z0, z1, dtype=np.float32)[:, None, None]
    y = np.arange(shape_yx[0], dtype=np.float32)[None, :, None]
    x = np.arange(shape_yx[1], dtype=np.float32)[None, None, :]
    return np.sin(x / 7.0) * np.sin(y / 9.0) * np.sin(z / 11.0)


def make_volume(path, n_slices, dtype):
    import zarr

    arr = zarr.create_array(str(path), shape=(n_slices,) + YX, chunks=(SLAB, 256, 256),
                            dtype=dtype, fill_value=0)
    for z0 in range(0, n_slices, SLAB):
        z1 = min(z0 + SLAB, n_slices)
        rng = np.random.default_rng(z0)
        slab = 1000 + 800 * (pattern(z0, z1) > 0.3) + rng.normal(0, 120, (z1 - z0,) + YX)
        arr[z0:z1] = np.clip(slab, 0, 65535).astype(dtype)
    return arr


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_local(model, arr, mem_limit, workers, out):
    import dask
    import zarr

    block_bytes = int(0.5 * mem_limit / workers)
    labels = predict_blockwise(model, arr, block_bytes=block_bytes)
    target = zarr.create_array(str(out), shape=labels.shape, chunks=labels.chunksize,
                               dtype=labels.dtype, fill_value=0)
    t = time.perf_counter()
    labels.store(target, lock=False, scheduler="threads", num_workers=workers)
    del dask
    return time.perf_counter() - t, labels


def run_cluster(model, arr, n_workers, mem_limit, out, *, as_bytes):
    import zarr
    from distributed import Client, LocalCluster

    # In-process workers share this process's memory: no per-worker limit.
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=as_bytes,
                      memory_limit=mem_limit if as_bytes else 0,
                      dashboard_address=None) as cluster, \
            Client(cluster) as client:
        labels = predict_blockwise(model, arr, block_bytes=int(0.5 * mem_limit),
                                   model_as_bytes=as_bytes)
        target = zarr.create_array(str(out), shape=labels.shape, chunks=labels.chunksize,
                                   dtype=labels.dtype, fill_value=0)
        t = time.perf_counter()
        client.compute(labels.store(target, lock=False, compute=False)).result()
        return time.perf_counter() - t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=float, default=4.0, help="volume size in GB (default 4)")
    ap.add_argument("--cluster-size", type=float, default=None,
                    help="GB of the volume (its first slices) for the cluster runs "
                    "(default: all of it)")
    ap.add_argument("--dtype", default="uint16", choices=["uint16", "float32"])
    ap.add_argument("--method", default="nearest_mean")
    ap.add_argument("--memory-limit", default=2.0, type=float, help="GB cap (default 2)")
    ap.add_argument("--workdir", default=None, help="folder for the volume (default: /work)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--skip-local", action="store_true",
                    help="skip the crop comparison and the local-threads run")
    ap.add_argument("--skip-whole", action="store_true",
                    help="crop comparison only (no whole-volume local run)")
    ap.add_argument("--skip-cluster", action="store_true", help="no LocalCluster runs")
    ap.add_argument("--profile-block", action="store_true",
                    help="time the parts of one block (read, features, predict, write) "
                    "beside the in-memory path on the same padded block")
    ap.add_argument("--processes-only", action="store_true",
                    help="cluster runs with worker processes only")
    args = ap.parse_args(argv)

    dtype = np.dtype(args.dtype)
    n_slices = max(SLAB, int(args.size * 1e9 / (np.prod(YX) * dtype.itemsize)))
    workdir = Path(tempfile.mkdtemp(prefix="seglab-scale-", dir=args.workdir or "/work"))
    mem = int(args.memory_limit * 2**30)
    free = shutil.disk_usage(workdir).free
    print(f"# bench/scale.py  volume {n_slices}x{YX[0]}x{YX[1]} {dtype} "
          f"({n_slices * np.prod(YX) * dtype.itemsize / 1e9:.2f} GB) in {workdir} "
          f"(disk free {free / 1e9:.0f} GB); load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores")
    try:
        t = time.perf_counter()
        arr = make_volume(workdir / "volume.zarr", n_slices, dtype)
        mb = arr.nbytes / 1e6
        print(f"generated in {time.perf_counter() - t:.0f} s")
        est = estimate_memory(arr.shape, "default")
        print(f"default bank features of the whole volume: {est.output / 1e9:.0f} GB "
              f"(peak {est.peak / 1e9:.0f} GB)")

        # Train on a crop: seeds from the noise-free pattern, sparse.
        crop = np.asarray(arr[:48, :256, :256])
        truth = truth_of(crop.shape)
        seeds = np.zeros(crop.shape, np.uint8)
        seeds[::6, ::5, ::5] = truth[::6, ::5, ::5]
        model = SeededModel(args.method, features="default").fit(crop, seeds)
        data = None
        try:
            data = model_to_bytes(model)
            model_from_bytes(data)
            travels = True
        except ValueError as err:
            travels = False
            print(f"NOTE: this model cannot travel as a file ({err}); cluster runs use "
                  "in-process workers with the object, and worker processes get the bank "
                  "without Hessian eigenvalues (13 features), which model files can hold")

        if args.profile_block:
            profile_block(model, arr, mem, workdir)
        if not args.skip_local:
            run_crop_and_local(args, model, arr, mem, mb, workdir)
        if not args.skip_cluster:
            run_clusters(args, model, data if travels else None, arr, mem, dtype, n_slices,
                     workdir, travels, crop, seeds)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def run_crop_and_local(args, model, arr, mem, mb, workdir):
    # The whole volume on the local threads, under the cap (first: the peak RSS
    # is this process's, and the in-memory peer below holds a crop's whole bank).
    if not args.skip_whole:
        run_whole_local(args, model, arr, mem, mb, workdir)
    crop_peer(model, arr, mem)


def run_whole_local(args, model, arr, mem, mb, workdir):
    rates = {}
    for workers in (1, 2):
        before = peak_rss_mib()
        seconds, labels = run_local(model, arr, mem, workers,
                                    workdir / f"labels_local{workers}.zarr")
        peak = peak_rss_mib()
        rates[workers] = mb / seconds
        chunks = tuple(int(c) for c in labels.chunksize)
        print(f"local threads ({workers}): {mb / seconds:.2f} MB/s ({seconds:.0f} s, "
              f"{labels.npartitions} blocks of {chunks}); peak RSS {peak:.0f} MiB "
              f"(before the run {before:.0f} MiB; cap {args.memory_limit:g} GiB: "
              f"{'OK' if peak <= args.memory_limit * 1024 else 'OVER'})")
    print(f"2 threads / 1 thread: {rates[2] / rates[1]:.2f}x (goal: >= 15 MB/s)")


def profile_block(model, arr, mem, workdir):
    """Where one block's time goes, beside the in-memory path on the same padded block."""
    import zarr

    from napari_seglab.core.blockwise import block_margin, choose_chunks

    chunks = choose_chunks(model, arr.shape, block_bytes=int(0.5 * mem / 2))
    margin = block_margin(model, arr.shape)
    # An interior block where there is room, its margin clipped at the borders.
    origin = [max(0, min(n - c - m, 2 * c)) for n, c, m in zip(arr.shape, chunks, margin,
                                                                strict=True)]
    lo = [max(o - m, 0) for o, m in zip(origin, margin, strict=True)]
    hi = [min(n, o + c + m) for n, o, c, m in zip(arr.shape, origin, chunks, margin,
                                                  strict=True)]
    crop = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    inner = tuple(slice(o - a, min(o + c, n) - a)
                  for o, a, c, n in zip(origin, lo, chunks, arr.shape, strict=True))
    t = time.perf_counter()
    block = np.asarray(arr[crop])
    t_read = time.perf_counter() - t
    data = np.ascontiguousarray(block, dtype=np.float32)[..., np.newaxis]
    t = time.perf_counter()
    labels = model.predict_block(data, inner, num_workers=1)  # features + predict, fused
    t_feat = time.perf_counter() - t
    t_pred = 0.0
    out = zarr.create_array(str(workdir / "profile.zarr"), shape=labels.shape, chunks=chunks,
                            dtype=labels.dtype, fill_value=0)
    t = time.perf_counter()
    out[...] = labels
    t_write = time.perf_counter() - t
    t = time.perf_counter()
    whole = model.predict(block)  # the peer: the in-memory path on the padded block
    t_mem = time.perf_counter() - t
    total = t_read + t_feat + t_pred + t_write
    inner_mb = labels.size * arr.dtype.itemsize / 1e6
    print(f"one block {chunks} (+{margin} halo: padded {block.shape}, "
          f"{block.size / labels.size:.2f}x the voxels): read {t_read:.2f} s, features "
          f"and predict (fused, 1 thread) {t_feat:.2f} s, write {t_write:.2f} s = "
          f"{total:.2f} s "
          f"({inner_mb / total:.2f} MB/s per thread); in memory on the padded block "
          f"{t_mem:.2f} s ({block.nbytes / 1e6 / t_mem:.2f} MB/s); labels equal there: "
          f"{bool((whole[inner] == labels).all())}")


def crop_peer(model, arr, mem):
    """The in-memory path on a crop beside blockwise on the same crop (equality, MB/s)."""
    test = np.asarray(arr[:64, :384, :384])
    t = time.perf_counter()
    expected = model.predict(test)
    t_mem = time.perf_counter() - t
    t = time.perf_counter()
    got = predict_blockwise(model, test, block_bytes=int(0.25 * mem)).compute(
        scheduler="threads", num_workers=2)
    t_blk = time.perf_counter() - t
    differ = int((got != expected).sum())
    equal = "yes" if not differ else f"all but {differ} of {got.size:,} voxels"
    dice = float(2 * ((expected == 1) & (truth_of(test.shape) == 1)).sum()
                 / ((expected == 1).sum() + (truth_of(test.shape) == 1).sum()))
    print(f"crop {test.shape}: in memory {test.nbytes / 1e6 / t_mem:.2f} MB/s, blockwise "
          f"{test.nbytes / 1e6 / t_blk:.2f} MB/s (ratio {t_mem / t_blk:.2f}); equal: "
          f"{equal}; Dice of class 1 vs the pattern {dice:.3f}")


def run_clusters(args, model, data, arr, mem, dtype, n_slices, workdir, travels, crop,
                 seeds):
    import zarr

    from napari_seglab.core.features import PRESETS, FeatureSpec

    # Cluster runs on the first slices.
    n_cluster = n_slices if args.cluster_size is None else max(
        SLAB, int(args.cluster_size * 1e9 / (np.prod(YX) * dtype.itemsize)))
    part = zarr.create_array(str(workdir / "part.zarr"), shape=(n_cluster,) + YX,
                             chunks=(SLAB, 256, 256), dtype=dtype, fill_value=0)
    for z0 in range(0, n_cluster, SLAB):
        part[z0:z0 + SLAB] = arr[z0:min(z0 + SLAB, n_cluster)]
    part_mb = part.nbytes / 1e6
    runs = [] if (args.processes_only and not travels) else [(model, travels, "default bank")]
    if not travels:
        lighter = FeatureSpec(tuple(f for f in PRESETS["default"].filters
                                    if f[0] != "hessian_eigenvalues"))
        model = SeededModel(args.method, features=lighter).fit(crop, seeds)
        data = model_to_bytes(model)
        runs.append((model, True, "default bank without Hessian eigenvalues"))
    for run_model, as_bytes, what in runs:
        rates = {}
        for n in (1, 2):
            s = run_cluster(run_model, part, n, mem // n, workdir / f"labels_c{n}.zarr",
                            as_bytes=as_bytes)
            rates[n] = part_mb / s
            kind = "processes, model as file bytes" if as_bytes else "in-process threads"
            print(f"LocalCluster {n} worker(s) x 1 thread ({kind}; {what}) on "
                  f"{part.shape}: {rates[n]:.2f} MB/s ({s:.0f} s)")
        print(f"2 workers / 1 worker: {rates[2] / rates[1]:.2f}x")
        ref = zarr.open_array(str(workdir / "labels_c1.zarr"))[...]
        two = zarr.open_array(str(workdir / "labels_c2.zarr"))[...]
        print(f"cluster labels equal (1 vs 2 workers): {bool((ref == two).all())}")
        if as_bytes:
            expected = predict_blockwise(run_model, part).compute(scheduler="threads")
            print(f"equal to the local threads: {bool((ref == expected).all())}")

        from distributed import LocalCluster

        model_path = workdir / "model.npz"
        model_path.write_bytes(data)
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          memory_limit=mem // 2, dashboard_address=None) as cluster:
            t = time.perf_counter()
            code = subprocess.call(
                [sys.executable, "-m", "napari_seglab.cli", "apply", str(model_path),
                 str(workdir / "part.zarr"), "-o", str(workdir / "labels_cli.zarr"),
                 "--scheduler", cluster.scheduler_address,
                 "--memory-limit", f"{mem // 2}"], stderr=subprocess.DEVNULL)
            s = time.perf_counter() - t
        cli = zarr.open_array(str(workdir / "labels_cli.zarr"))[...]
        print(f"seglab apply --scheduler (2 workers): exit {code}, {part_mb / s:.2f} MB/s "
              f"({s:.0f} s incl. start-up); equal to the cluster run: "
              f"{bool((cli == ref).all())}")


def truth_of(shape):
    return np.where(pattern(0, shape[0], shape[1:]) > 0.3, 1, 2)


if __name__ == "__main__":
    main()
