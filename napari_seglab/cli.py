"""``seglab``: train a model, apply it to images of any size, evaluate the result.

::

    seglab train IMAGE SEEDS -o MODEL [--method M] [--features F] [--spacing Z,Y,X]
                 [--channel-axis A] [--params JSON] [--overwrite]
    seglab apply MODEL INPUT... -o OUTPUT [--chunks N|Z,Y,X] [--scheduler ADDRESS]
                 [--workers N] [--memory-limit SIZE] [--overwrite]
    seglab evaluate TRUTH PRED [--mapping T:C,...] [--json | --csv]

``train`` fits the model as :func:`napari_seglab.segment` does (same default
method, same image preparation); ``evaluate`` scores as
:func:`napari_seglab.metrics.evaluate` (same truth → class mapping; negative
values are no class and are not scored). Nothing is replaced without
``--overwrite``, and never an input.

Images: TIFF, NPY, NIfTI, NRRD, a DICOM folder, zarr / OME-Zarr. ``apply``
reads its inputs lazily and writes block by block (zarr) or slab by slab
(TIFF, NPY) under a temporary name, renamed when complete: an interrupted
run leaves nothing that looks finished.

Exit codes: 0 done; 1 the run failed (unreadable file, model and image that
do not match, a worker error); 2 bad command line (unknown option, missing
file, bad value, an output that exists); 130 interrupted (Ctrl-C); 141 the
output pipe was closed (``seglab evaluate ... | head -1``: quietly).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from .cli_args import (  # noqa: F401 (parse_size, _mapping: part of the CLI's surface)
    MAX_MARGIN_OVERHEAD,
    MIN_CHUNK,
    MIN_MEMORY,
    UsageError,
    _checked,
    _chunks,
    _floats,
    _mapping,
    _positive_int,
    parse_size,
)
from .io.lazy import Opened, long_suffix, open_lazy

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PIPE", "EXIT_USAGE", "main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_PIPE = 0, 1, 2, 130, 141

_EPILOG = ("exit codes: 0 done, 1 the run failed, 2 bad command line or an output that "
           "exists, 130 interrupted (Ctrl-C; no output is left that looks complete), "
           "141 output pipe closed")


# --------------------------------------------------------------------------
# Reading


def open_image(path) -> Opened:
    """:func:`napari_seglab.io.open_lazy`; a path that does not exist is a usage error."""
    try:
        return open_lazy(path)
    except FileNotFoundError as err:
        raise UsageError(str(err)) from None


def _spatial_count(opened, channel_axis):
    return len(opened.array.shape) - (0 if channel_axis is None else 1)


# --------------------------------------------------------------------------
# Progress


class Progress:
    """A one-line progress bar on stderr (redrawn at most 10 times a second)."""

    def __init__(self, label, total, stream=None, width=30):
        self.label, self.total, self.width = label, max(int(total), 1), width
        self.stream = sys.stderr if stream is None else stream
        self.done, self.start, self._shown = 0, time.monotonic(), 0.0

    def update(self, done=None):
        self.done = self.done + 1 if done is None else int(done)
        now = time.monotonic()
        if now - self._shown < 0.1 and self.done < self.total:
            return
        self._shown = now
        frac = min(self.done / self.total, 1.0)
        bar = "#" * int(frac * self.width)
        elapsed = now - self.start
        self.stream.write(f"\r{self.label} [{bar:<{self.width}}] {self.done}/{self.total} "
                          f"{elapsed:6.1f}s")
        self.stream.flush()

    def close(self):
        self.stream.write("\n")
        self.stream.flush()


# --------------------------------------------------------------------------
# train


def _load_features(text):
    if text is None:
        return None
    from .core.features import PRESETS, FeatureSpec

    if text in PRESETS:
        return text
    path = Path(text)
    try:
        return FeatureSpec.from_json(path.read_text() if path.is_file() else text)
    except (ValueError, TypeError, json.JSONDecodeError):
        raise UsageError(f"--features must be a preset ({', '.join(PRESETS)}), a FeatureSpec "
                         f"JSON or a JSON file; got {text!r}") from None


def _crop(text, opened, channel_axis):
    """The index of ``--crop Z0:Z1,Y0:Y1,X0:X1`` (spatial axes; channels kept whole)."""
    n_spatial = _spatial_count(opened, channel_axis)
    try:
        parts = [tuple(int(v) if v else None for v in p.split(":")) for p in text.split(",")]
        index = [slice(*p) for p in parts]
    except (ValueError, TypeError):
        raise UsageError(f"--crop must be START:STOP per spatial axis, e.g. 0:64,0:256,0:256; "
                         f"got {text!r}") from None
    if len(index) != n_spatial or any(len(p) != 2 for p in parts):
        raise UsageError(f"--crop needs START:STOP for each of the {n_spatial} spatial axes "
                         f"of {opened.path.name} {tuple(opened.array.shape)}; got {text!r}")
    if channel_axis is not None:
        index.insert(channel_axis % len(opened.array.shape), slice(None))
    return tuple(index)


def default_method() -> str:
    """The method :func:`napari_seglab.segment` uses by default (one default for both)."""
    import inspect

    from .api import segment

    return inspect.signature(segment).parameters["method"].default


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _refuse_inputs(target: Path, inputs, overwrite):
    """Never write over an input (even with --overwrite), nor over anything without it."""
    real_target = Path(os.path.realpath(target))
    for source in inputs:
        source = Path(source)
        real_source = Path(os.path.realpath(source))
        inside = real_source in real_target.parents
        if _same_file(target, source) or (  # an image's own labels/ folder is the exception
                inside and real_target.relative_to(real_source).parts[0] != "labels"):
            raise UsageError(f"{target} is an input of this run ({source}); choose another "
                             "output")
        if real_target in real_source.parents:
            raise UsageError(f"{target} holds the input {source}; choose another output")
    if (target.exists() or target.is_symlink()) and not overwrite:
        raise UsageError(f"{target} exists; pass --overwrite to replace it")


def cmd_train(args) -> int:
    from .api import _default_spec_for, prepare_segment
    from .core.blockwise import model_to_bytes
    from .core.files import atomic_write
    from .core.segmenters import SEGMENTERS

    method = args.method or default_method()
    if method not in SEGMENTERS:
        raise UsageError(f"--method {method!r} is unknown; methods: {', '.join(SEGMENTERS)}")
    features = _load_features(args.features)
    try:
        params = json.loads(args.params) if args.params else None
    except json.JSONDecodeError as err:
        raise UsageError(f"--params must be a JSON object; got {args.params!r} ({err})") from None
    if params is not None and not isinstance(params, dict):
        raise UsageError(f"--params must be a JSON object; got {args.params!r}")
    output = Path(args.output)
    _refuse_inputs(output, [args.image, args.seeds], args.overwrite)
    image = open_image(args.image)
    seeds = open_image(args.seeds)
    channel_axis = image.channel_axis if args.channel_axis is None else args.channel_axis
    spacing = _floats(args.spacing, "--spacing") if args.spacing else image.spacing
    data = np.asarray(image.array[_crop(args.crop, image, channel_axis)]
                      if args.crop else image.array)
    seed_data = np.asarray(seeds.array)
    if not (np.issubdtype(seed_data.dtype, np.integer) or seed_data.dtype.kind == "b"):
        if np.issubdtype(seed_data.dtype, np.floating) and np.all(seed_data == np.round(seed_data)):
            seed_data = seed_data.astype(np.int64)
        else:
            raise ValueError(f"{seeds.path}: seeds must hold integer labels (0 = not seeded); "
                             f"got dtype {seed_data.dtype}")
    try:
        # segment()'s own preparation: the same features for thin volumes, the
        # same float32 image with the channels last, the same checks.
        if features is None:
            features = _default_spec_for(data, method, spacing, channel_axis)
        model, prepared, seed_data = prepare_segment(data, seed_data, method,
                                                     channel_axis=channel_axis,
                                                     features=features, params=params)
        model.fit(prepared, seed_data, spacing=spacing, channel_axis=-1)
    except TypeError as err:
        raise UsageError(f"--params: {err}") from None
    except ValueError as err:
        raise ValueError(f"training on {image.path} with seeds {seeds.path}: {err}") from None
    with atomic_write(output) as fh:
        fh.write(model_to_bytes(model))
    values, n = np.unique(model.y_train_, return_counts=True)
    counts = {int(v): int(c) for v, c in zip(values, n, strict=True)}
    print(f"trained {method} on {image.path.name} ({model.n_features_} inputs per pixel, "
          f"classes {model.classes_.tolist()}, samples {counts or 'all pixels'}) -> "
          f"{output}", file=sys.stderr)
    return EXIT_OK


# --------------------------------------------------------------------------
# apply


def _output_kind(path: Path, opened: Opened) -> str:
    suffix = long_suffix(path)
    if suffix == ".ome.zarr" or path.name == "labels" or (
            suffix == ".zarr" and opened.zarr_image is not None
            and opened.zarr_image.ome_version):
        return "ome-zarr"
    if suffix == ".zarr":
        return "zarr"
    if suffix in (".tif", ".tiff"):
        return "tiff"
    if suffix == ".npy":
        return "npy"
    if suffix in (".nii", ".nii.gz", ".nrrd"):
        return "volume"
    raise UsageError(f"{path}: cannot tell the output format from its name; end it in .zarr, "
                     ".ome.zarr, .tif, .npy, .nii, .nii.gz or .nrrd")


class _Runner:
    """Runs dask work on the local threads or a dask.distributed client, with progress."""

    def __init__(self, client=None, workers=None):
        self.client, self.workers = client, workers

    def run(self, tasks, label):
        import dask

        progress = Progress(label, len(tasks))
        try:
            if self.client is None:
                from dask.callbacks import Callback

                names = {t.key for t in tasks}

                class _Count(Callback):
                    def _posttask(self, key, result, dsk, state, worker_id):
                        if key in names:
                            progress.update()

                with _Count():
                    results = dask.compute(*tasks, scheduler="threads",
                                           num_workers=self.workers)
            else:
                from distributed import as_completed

                futures = self.client.compute(tasks)
                try:
                    for _ in as_completed(futures):
                        progress.update()
                    results = self.client.gather(futures)
                except BaseException:
                    self.client.cancel(futures)
                    raise
        finally:
            progress.close()
        return results


def _write_block(block, target, region):
    target[region] = block
    return block.size


def _block_tasks(labels, target):
    import dask

    from .io.zarr_store import block_regions

    return [dask.delayed(_write_block, pure=False)(block, target, region)
            for block, region in block_regions(labels)]


def _write_output(labels, out: Path, kind, opened, spacing, runner, *, name, label,
                  overwrite=False):
    """Write ``labels`` (dask) to ``out`` under a temporary name, renamed when complete.

    Zarr block by block; TIFF and NPY slab by slab; NIfTI and NRRD (which
    hold the whole array) assembled in memory within the budget. An OME-Zarr
    ``labels`` folder that exists gets one more label image: its other
    label images are never touched.
    """
    from .core.files import atomic_replace, atomic_write

    chunks = tuple(c[0] for c in labels.chunks)
    if kind == "zarr":
        from .io.zarr_store import create_plain_array

        with atomic_replace(out, folder=True, overwrite=overwrite) as tmp:
            target = create_plain_array(tmp, labels.shape, chunks, labels.dtype)
            runner.run(_block_tasks(labels, target), label)
        return
    if kind == "ome-zarr":
        from .io.zarr_store import add_label_image

        with add_label_image(out, labels.shape, chunks, labels.dtype, like=opened.zarr_image,
                             name=name, spacing=spacing, overwrite=overwrite) as target:
            runner.run(_block_tasks(labels, target), label)
        return
    starts = np.cumsum((0,) + labels.chunks[0])
    slabs = [labels[a:b] for a, b in zip(starts[:-1], starts[1:], strict=True)]
    progress = Progress(label, len(slabs))

    def computed():
        for slab in slabs:
            if runner.client is None:
                part = slab.compute(scheduler="threads", num_workers=runner.workers)
            else:
                part = runner.client.compute(slab).result()
            progress.update()
            yield part

    try:
        if kind == "volume":
            from .io import write_labels
            from .io.safety import check_size

            check_size(labels.shape, labels.dtype, out, what="label volume")
            data = np.empty(labels.shape, labels.dtype)
            for (a, b), part in zip(zip(starts[:-1], starts[1:], strict=True), computed(),
                                    strict=True):
                data[a:b] = part
            write_labels(out, data, spacing=spacing, origin=opened.origin)
            return
        # TIFF and NPY: slab by slab along the first axis, through one temporary file.
        with atomic_write(out) as fh:
            if kind == "npy":
                header = {"descr": np.lib.format.dtype_to_descr(labels.dtype),
                          "fortran_order": False, "shape": tuple(labels.shape)}
                np.lib.format.write_array_header_2_0(fh, header)
                for part in computed():
                    fh.write(np.ascontiguousarray(part).tobytes())
            else:
                import tifffile

                if labels.ndim == 2:  # 2D in, 2D out: one page
                    tifffile.imwrite(_Named(fh, out.name), np.concatenate(list(computed())),
                                     photometric="minisblack")
                else:
                    pages = (page for part in computed() for page in part)
                    tifffile.imwrite(_Named(fh, out.name), data=pages, shape=labels.shape,
                                     dtype=labels.dtype, photometric="minisblack",
                                     metadata={"axes": "ZYX"})
    finally:
        progress.close()


class _Named:
    """A file object with a text name (tifffile splits ``fh.name``; a temp file's is an int)."""

    def __init__(self, fh, name):
        self._fh, self.name = fh, name

    def __getattr__(self, key):
        return getattr(self._fh, key)


@contextlib.contextmanager
def _scheduler(args, memory_limit):
    """``(client or None, total threads, memory per worker)`` for ``--scheduler``."""
    address = args.scheduler
    if address is None:
        workers = args.workers or os.cpu_count() or 1
        yield None, workers, memory_limit
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ValueError('--scheduler needs dask.distributed: pip install '
                         '"napari-seglab[scale]"') from None
    if address == "local-cluster":
        n = args.workers or 1
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               memory_limit=(memory_limit // n) if memory_limit else "auto",
                               dashboard_address=None)
        with cluster, Client(cluster) as client:
            yield client, n, (memory_limit // n) if memory_limit else None
        return
    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError, ValueError) as err:
        raise ValueError(f"--scheduler {address}: cannot connect ({err}); start one with "
                         "`dask scheduler` and `dask worker ADDRESS`, or drop --scheduler") \
            from None
    with client:
        info = client.scheduler_info(n_workers=-1) if _takes_n_workers(client) \
            else client.scheduler_info()
        workers = info.get("workers", {})
        threads = [w.get("nthreads", 1) for w in workers.values()] or [1]
        limits = [w.get("memory_limit") or 0 for w in workers.values()]
        per_worker = memory_limit or (min(limits) if limits and min(limits) else None)
        yield client, max(threads), per_worker


def _takes_n_workers(client):
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters


def _targets(args, inputs):
    """Output path per input; refuses clashes, inputs and existing outputs up front."""
    from .io.zarr_store import labels_group_names

    out = Path(args.output)
    if len(inputs) > 1:
        if out.exists() and not out.is_dir():
            raise UsageError(f"{out}: with several inputs, -o must be a folder")
        targets = [out / f"{o.name}.{args.format}" for o in inputs]
    else:
        targets = [out]
    kinds = [_output_kind(t, o) for t, o in zip(targets, inputs, strict=True)]
    written = {}
    for opened, target, kind in zip(inputs, targets, kinds, strict=True):
        # an OME-Zarr labels folder that exists: only labels/<name> is written
        effective = (target / args.label_name if kind == "ome-zarr"
                     and labels_group_names(target) is not None else target)
        key = os.path.normcase(os.path.realpath(effective))
        if key in written:
            raise UsageError(f"{written[key]} and {opened.path} would both be written to "
                             f"{effective}; rename one of them, or apply them one at a time")
        written[key] = opened.path
        _refuse_inputs(effective, [args.model, *args.inputs], args.overwrite)
    return targets, kinds


def _check_margin(model, opened, chunks, spacing, channel_axis):
    """Refuse ``--chunks`` so small that the blocks' margins multiply the work."""
    from .core.blockwise import block_margin

    if chunks is None:
        return
    shape = tuple(int(n) for n in opened.array.shape)
    spatial = tuple(n for i, n in enumerate(shape)
                    if channel_axis is None or i != channel_axis % len(shape))
    try:
        margin = block_margin(model, spatial, spacing)
    except (ValueError, TypeError):
        return  # predict_blockwise says what is wrong
    sizes = (chunks,) * len(spatial) if isinstance(chunks, int) else tuple(chunks)
    if len(sizes) != len(spatial):
        return
    overhead = math.prod(min(c + 2 * m, n) / min(c, n)
                         for c, m, n in zip(sizes, margin, spatial, strict=True))
    if overhead > MAX_MARGIN_OVERHEAD:
        least = ",".join(str(max(2 * m, MIN_CHUNK)) for m in margin)
        raise UsageError(f"--chunks {args_text(sizes)}: each block also reads this model's "
                         f"feature margin of {args_text(margin)} voxels, {overhead:.0f} times "
                         f"the image in all; use blocks of at least {least} (or leave "
                         "--chunks out)")


def args_text(values) -> str:
    return ",".join(str(int(v)) for v in values)


@contextlib.contextmanager
def _naming(path, doing):
    """Errors raised while reading blocks lazily (a damaged zarr chunk) name the input."""
    try:
        yield
    except (UsageError, FileExistsError, MemoryError, BrokenPipeError):
        raise
    except Exception as err:  # noqa: BLE001 - a codec or store error says nothing of where
        from .io.safety import reason

        text = reason(err)
        if str(path) in text:
            raise
        raise ValueError(f"{path}: {doing} failed ({type(err).__name__}: {text}); a chunk of "
                         "the file may be damaged: check it, or write it again") from None


def cmd_apply(args) -> int:
    from .core.blockwise import DEFAULT_BLOCK_BYTES, predict_blockwise
    from .core.memory import total_ram
    from .core.model_io import load_model

    model_path = Path(args.model)
    if not model_path.is_file():
        raise UsageError(f"{model_path}: no such model file; train one with `seglab train`")
    chunks = _chunks(args.chunks) if args.chunks else None
    memory_limit = parse_size(args.memory_limit) if args.memory_limit else None
    inputs = [open_image(p) for p in args.inputs]
    targets, kinds = _targets(args, inputs)
    model = load_model(model_path)
    if args.no_normalize:
        model.normalize_input = None
    if model.normalize_input == "zscore" and model.input_stats_ is not None:
        print("each input's channels are matched to the training image's mean and spread "
              "(z-score per channel; --no-normalize to apply the model to raw values)",
              file=sys.stderr)
    elif model.input_stats_ is None:
        print("the model file records no training-image statistics (an older file): "
              "inputs are used as they are", file=sys.stderr)
    if len(inputs) > 1:
        Path(args.output).mkdir(parents=True, exist_ok=True)
    with _scheduler(args, memory_limit) as (client, threads, per_worker):
        budget = per_worker or memory_limit or int(0.6 * total_ram())
        block_bytes = int(min(max(budget * 0.5 / max(threads, 1), MIN_MEMORY // 2),
                              4 * DEFAULT_BLOCK_BYTES))
        runner = _Runner(client, None if client else threads)
        for opened, target, kind in zip(inputs, targets, kinds, strict=True):
            channel_axis = opened.channel_axis if args.channel_axis is None \
                else args.channel_axis
            spacing = (_floats(args.spacing, "--spacing") if args.spacing else
                       opened.spacing or getattr(model, "spacing_", None))
            n_spatial = _spatial_count(opened, channel_axis)
            if spacing is not None and len(spacing) != n_spatial:
                spacing = spacing[-n_spatial:] if len(spacing) > n_spatial else None
            _check_margin(model, opened, chunks, spacing, channel_axis)
            try:
                labels = predict_blockwise(model, opened.array, chunks=chunks, spacing=spacing,
                                           channel_axis=channel_axis, block_bytes=block_bytes,
                                           model_as_bytes=client is not None)
            except (ValueError, TypeError) as err:
                raise ValueError(f"{opened.path}: {err}") from None
            where = "" if spacing is None else ", spacing " + ",".join(f"{s:g}" for s in spacing)
            print(f"{opened.path.name}: {'x'.join(map(str, labels.shape))} in "
                  f"{labels.npartitions} blocks of {'x'.join(map(str, labels.chunksize))}"
                  f"{where}", file=sys.stderr)
            with _naming(opened.path, "segmenting"):
                _write_output(labels, target, kind, opened, spacing, runner,
                              name=args.label_name, label=f"{opened.path.name} -> {target.name}",
                              overwrite=args.overwrite)
            print(f"wrote {target}", file=sys.stderr)
    return EXIT_OK


# --------------------------------------------------------------------------
# evaluate


def _labels_array(opened):
    array = opened.array
    dtype = np.dtype(array.dtype)
    if not (np.issubdtype(dtype, np.integer) or dtype.kind == "b"):
        raise ValueError(f"{opened.path}: a label image must hold integers; got dtype {dtype}")
    return array


class _Mapped:
    """Truth values mapped to classes block by block (:func:`metrics.map_truth`), lazily."""

    def __init__(self, array, mapping):
        self._array, self._mapping = array, mapping
        self.shape, self.ndim, self.dtype = tuple(array.shape), len(array.shape), np.int64

    def __getitem__(self, key):
        from .core.evaluation import map_truth

        return map_truth(np.asarray(self._array[key]), self._mapping)


def cmd_evaluate(args) -> int:
    from .core.blockwise import confusion_blockwise
    from .metrics import per_class_from_confusion, summary_from_confusion

    mapping = _mapping(args.mapping)
    chunks = _chunks(args.chunks) if args.chunks else None
    truth = open_image(args.truth)
    pred = open_image(args.pred)
    t, p = _labels_array(truth), _labels_array(pred)
    if tuple(t.shape) != tuple(p.shape):
        raise ValueError(f"{truth.path} is {tuple(t.shape)} but {pred.path} is "
                         f"{tuple(p.shape)}: compare label images of the same grid")
    if mapping is not None:
        t = _Mapped(t, mapping)
    progress = None

    def report(done, total):
        nonlocal progress
        if progress is None and total > 1:
            progress = Progress("evaluating", total)
        if progress is not None:
            progress.update(done)

    with _naming(f"{truth.path} or {pred.path}", "reading"):
        cm, labels = confusion_blockwise(t, p, chunks=chunks, progress=report)
    if progress is not None:
        progress.close()
    # metrics.evaluate's conventions: negative values (no class, or truth values
    # the mapping leaves out) are not scored; the classes are the others seen.
    keep = labels >= 0
    cm, labels = cm[keep][:, keep], labels[keep]
    if labels.size:
        summary = summary_from_confusion(cm, labels=labels)
        per_class = per_class_from_confusion(cm, labels=labels)
    else:
        summary = {"labels": [], "n": 0, "accuracy": math.nan, "mean_dice": math.nan,
                   "mcc": math.nan}
        per_class = {}
    if args.json:
        out = {"truth": str(truth.path), "prediction": str(pred.path),
               "labels": [int(v) for v in summary["labels"]], "confusion": cm.tolist(),
               "n": int(cm.sum()), "accuracy": summary["accuracy"],
               "mean_dice": summary["mean_dice"], "mcc": summary["mcc"],
               "per_class": {str(k): v for k, v in per_class.items()}}
        if mapping is not None:
            out["mapping"] = {str(k): v for k, v in mapping.items()}
        print(json.dumps(out, indent=2, allow_nan=True))
    elif args.csv:
        buffer = io.StringIO()
        fields = ["label", "tp", "fp", "fn", "tn", "n", "dice", "jaccard", "precision",
                  "recall", "specificity", "accuracy", "mcc"]
        writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore",
                                lineterminator="\n")
        writer.writeheader()
        for label, scores in per_class.items():
            writer.writerow({"label": label, **scores})
        sys.stdout.write(buffer.getvalue())
    else:
        print(f"{truth.path.name} vs {pred.path.name}: {int(cm.sum())} pixels scored, "
              f"accuracy {summary['accuracy']:.4f}, mean Dice {summary['mean_dice']:.4f}, "
              f"MCC {summary['mcc']:.4f}")
        print(f"{'label':>8} {'dice':>8} {'jaccard':>8} {'precision':>9} {'recall':>8}")
        for label, s in per_class.items():
            print(f"{label:>8} {s['dice']:8.4f} {s['jaccard']:8.4f} {s['precision']:9.4f} "
                  f"{s['recall']:8.4f}")
    return EXIT_OK


# --------------------------------------------------------------------------
# The parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seglab", description="Seeded segmentation from the command line: train a "
        "model on an image and its seeds, apply it to images of any size, evaluate.",
        epilog=_EPILOG)
    sub = parser.add_subparsers(dest="command", metavar="{train,apply,evaluate}")
    sub.required = True

    train = sub.add_parser(
        "train", help="train a model on an image and its seeds", epilog=_EPILOG,
        description="Train a model on IMAGE and a seeds array (0 = not seeded, one integer "
        "per class) and write the data-only model file.")
    train.add_argument("image", help="the image (TIFF, NPY, NIfTI, NRRD, DICOM folder, zarr)")
    train.add_argument("seeds", help="integer seeds of the image's spatial shape")
    train.add_argument("-o", "--output", required=True, help="the model file to write (.npz); "
                       "never one of the inputs")
    train.add_argument("--method", default=None,
                       help=f"segmenter (default {default_method()}, as segment() and the "
                       "panel): fast_forest, blend, knn, nearest_mean, random_forest, "
                       "context_forest, kmeans, gmm, otsu, li, ...")
    train.add_argument("--features", help="a preset (minimal, smooth, default, full) or a "
                       "FeatureSpec JSON (string or file); default: the method's own")
    train.add_argument("--spacing", type=_checked(lambda t: _floats(t, "--spacing"), "spacing"),
                       help="voxel size Z,Y,X (default: from the file, else 1)")
    train.add_argument("--channel-axis", type=int, help="axis of the image holding channels")
    train.add_argument("--overwrite", action="store_true", help="replace an existing model file")
    train.add_argument("--crop", help="train on this region of IMAGE only, START:STOP per "
                       "spatial axis (e.g. 0:64,0:256,0:256; read lazily from zarr); SEEDS "
                       "then have the crop's shape")
    train.add_argument("--params", help='method parameters as JSON, e.g. \'{"n_estimators": 50}\'')
    train.set_defaults(func=cmd_train)

    apply = sub.add_parser(
        "apply", help="segment images or volumes of any size, block by block", epilog=_EPILOG,
        description="Apply MODEL to each INPUT block by block (inputs are read lazily; the "
        "output is written chunk by chunk under a temporary name and renamed when complete).")
    apply.add_argument("model", help="a model file from `seglab train` or the plugin")
    apply.add_argument("inputs", nargs="+", metavar="INPUT",
                       help="TIFF, NPY, NIfTI, NRRD, DICOM folder, zarr / OME-Zarr")
    apply.add_argument("-o", "--output", required=True,
                       help="output: .zarr, .ome.zarr (or an OME-Zarr image's labels/ folder), "
                       ".tif, .npy, .nii.gz, .nrrd; a folder with several inputs")
    apply.add_argument("--no-normalize", action="store_true",
                       help="do not match each input's channels to the training image's "
                       "mean and spread (the default does, when the model file records them)")
    apply.add_argument("--chunks", type=_checked(_chunks, "chunks"),
                       help="block size N or Z,Y,X, at least 4 per axis (default: from the "
                       "feature halo and the memory limit)")
    apply.add_argument("--scheduler", metavar="ADDRESS",
                       help="a dask.distributed scheduler (tcp://host:8786), or "
                       "'local-cluster' to start one here with --workers processes; default: "
                       "dask's local threads")
    apply.add_argument("--workers", type=_positive_int("workers"),
                       help="threads (local) or worker processes (local-cluster)")
    apply.add_argument("--memory-limit", metavar="SIZE", type=_checked(parse_size, "size"),
                       help="memory for the run (local) or per worker, e.g. 2GB; blocks are "
                       "sized to fit (at least 32MiB; default: 60%% of the RAM)")
    apply.add_argument("--spacing", type=_checked(lambda t: _floats(t, "--spacing"), "spacing"),
                       help="voxel size Z,Y,X (default: the file's, else the "
                       "model's training spacing)")
    apply.add_argument("--channel-axis", type=int, help="axis of the input holding channels")
    apply.add_argument("--format", default="zarr",
                       choices=["zarr", "ome.zarr", "tif", "npy", "nii.gz", "nrrd"],
                       help="output format with several inputs (default zarr)")
    apply.add_argument("--label-name", default="seglab",
                       help="name of the label image in an OME-Zarr labels group")
    apply.add_argument("--overwrite", action="store_true",
                       help="replace existing outputs (never an input; in an OME-Zarr labels "
                       "folder only the label image --label-name)")
    apply.set_defaults(func=cmd_apply)

    evaluate = sub.add_parser(
        "evaluate", help="scores of a prediction against the truth, exact over any size",
        epilog=_EPILOG, description="Confusion matrix summed over blocks, then accuracy, "
        "Dice, Jaccard, precision, recall and MCC per class.")
    evaluate.add_argument("truth", help="ground-truth label image")
    evaluate.add_argument("pred", help="predicted label image (same grid)")
    fmt = evaluate.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print JSON")
    fmt.add_argument("--csv", action="store_true", help="print CSV, one row per class")
    evaluate.add_argument("--mapping", type=_checked(_mapping, "mapping"),
                          help="truth value -> class, as metrics.evaluate's mapping: "
                          "TRUTH:CLASS pairs (0:1,5:2) or a JSON object (string or .json "
                          "file); truth values it leaves out are not scored. Negative values "
                          "are never scored")
    evaluate.add_argument("--chunks", type=_checked(_chunks, "chunks"),
                          help="block size N or Z,Y,X")
    evaluate.set_defaults(func=cmd_evaluate)
    return parser


def main(argv=None) -> int:
    """Run ``seglab``; returns the exit code (see the module docstring)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help (0) or a usage error (2)
        return int(stop.code or 0)
    try:
        return args.func(args)
    except BrokenPipeError:
        return _closed_pipe()
    except (UsageError, FileExistsError) as err:
        return _say(args, err, EXIT_USAGE)
    except KeyboardInterrupt:
        print(f"\nseglab {args.command}: interrupted; no complete-looking output was left",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except MemoryError:
        return _say(args, "not enough memory for this run: pass a smaller --chunks or "
                    "--memory-limit, or crop the input", EXIT_FAILED)
    except Exception as err:  # noqa: BLE001 - a command line never ends in a traceback
        from .io.safety import reason

        text = reason(err)
        if not isinstance(err, (ValueError, TypeError, OSError, ImportError)):
            text = f"{type(err).__name__}: {text} (please report this)"
        return _say(args, text, EXIT_FAILED)


def _say(args, err, code):
    try:
        print(f"seglab {args.command}: error: {err}", file=sys.stderr)
    except (BrokenPipeError, OSError):
        pass
    return code


def _closed_pipe():
    """The reader of stdout went away (``| head -1``): stop quietly, no 'Exception ignored'."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return EXIT_PIPE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
