"""How a labelling run fits its memory budget: fused slabs or the whole image, or a refusal.

:func:`plan_run` counts every buffer of a run before anything is allocated:
the image's float32 copy, the model (training samples, a forest's trees and
threads), the labels (and probabilities), a mask, and either

* the fused route (:mod:`.tiles`): one slab's window of smoothed planes,
  features and prediction temporaries, the slab as deep as the budget
  allows (never deeper than :func:`~.tiles.slab_depth`); or
* the whole-image route (methods that read every pixel at once: k-means and
  the Gaussian mixture fitting on all pixels, the image-wide steps of the
  context forest and of the blend's grow, thresholds, z-scored specs): the
  inputs of the whole image and one chunk of prediction rows.

It raises the ValueError that says what to do when neither fits.
"""

from __future__ import annotations

import math

import numpy as np

from .features import FeatureSpec, estimate_memory
from .tiles import slab_bytes, slab_depth

__all__ = ["CHUNK_PIXELS", "RunPlan", "format_gib", "plan_run"]

#: Pixels per prediction chunk at most (whole-image route): bounds memory
#: and paces progress bars.
CHUNK_PIXELS = 1 << 20
#: Bytes a segmenter allocates per predicted row besides its input, per
#: input column and fixed: a scaled copy, neighbour distances and indices,
#: votes, scores (kNN with k=5 measured about 200 bytes at 3 features).
_PREDICT_ROW_BYTES = 192
_PREDICT_COLUMN_BYTES = 8
_MIN_CHUNK = 1024
#: Seeds of at most this many pixels are counted for the plan (a few
#: milliseconds); larger volumes use the per-class bound.
_COUNT_SEEDS_UP_TO = 1 << 24


class RunPlan:
    """The route (``"fused"`` or ``"whole"``), slab depth or prediction chunk, bytes."""

    def __init__(self, route, *, depth=None, chunk=None, need, budget, keep_bytes=0):
        self.route, self.depth, self.chunk = route, depth, chunk
        self.need, self.budget, self.keep_bytes = need, budget, keep_bytes

    def __repr__(self):
        return (f"RunPlan({self.route!r}, depth={self.depth}, chunk={self.chunk}, "
                f"need={format_gib(self.need)}, budget={format_gib(self.budget)})")


def format_gib(n_bytes) -> str:
    return f"{n_bytes / 2**30:.1f} GiB" if n_bytes >= 2**30 else f"{n_bytes / 2**20:.1f} MiB"


def inputs_peak(what, spatial, n_channels) -> int:
    """Bytes computing the inputs of a whole ``spatial`` image takes at its peak."""
    if isinstance(what, FeatureSpec):
        return estimate_memory(spatial, what, n_channels).peak
    # The intensity, its local statistic, the stack, the filter's scratch.
    return (2 * what.n_features(n_channels, len(spatial)) + 2) * 4 * math.prod(spatial)


def model_bytes(segmenter, n_inputs, n_classes, *, n_samples, keeps_samples):
    """Bytes of the training samples and the segmenter, and what predicting a row adds."""
    samples = n_samples * (4 * n_inputs + 8) if keeps_samples else 0
    return (samples + segmenter.memory_bytes(n_samples, n_inputs, n_classes),
            segmenter.predict_row_bytes(n_inputs, n_classes))


def count_samples(seeds, n_classes, max_per_class) -> int:
    """Training rows a fit on ``seeds`` takes at most."""
    if seeds is None:
        n = 0
    elif max_per_class is None or seeds.size <= _COUNT_SEEDS_UP_TO:
        n = int(np.count_nonzero(seeds))
    else:  # a bound that needs no scan of a huge volume's seeds
        n = min(int(max_per_class) * n_classes, seeds.size)
    if max_per_class is not None:
        n = min(n, int(max_per_class) * n_classes)
    return n


def plan_run(what, spatial, n_channels, *, route, budget, copy_bytes, model_bytes_,
             model_row_bytes, return_proba, n_classes, spacing=None,
             chunk_pixels=CHUNK_PIXELS, method="", fused_depth=None) -> RunPlan:
    """Plan a run of ``route`` (``"fused"`` or ``"whole"``) within ``budget`` bytes.

    Raises
    ------
    ValueError
        What the run would need at the least and what to do (fewer
        features, a crop).
    """
    n_pixels = math.prod(spatial)
    n_inputs = what.n_features(n_channels, len(spatial))
    held = copy_bytes + model_bytes_
    # Labels (and probabilities) and a mask of seeded or finite pixels.
    outputs = n_pixels * (3 + (4 * n_classes if return_proba else 0))
    row_bytes = _PREDICT_ROW_BYTES + _PREDICT_COLUMN_BYTES * n_inputs + model_row_bytes
    if route == "fused":
        deepest = slab_depth(spatial, fused_depth)

        def cost(depth):
            return held + outputs + slab_bytes(what, spatial, n_channels, spacing, depth,
                                               row_bytes=row_bytes)

        need = cost(1)
        depth = deepest
        while depth > 1 and cost(depth) > budget:
            depth = max(1, depth * 3 // 4 if depth > 4 else depth - 1)
        if cost(depth) <= budget:
            # Slabs computed for training are kept for prediction (a 2D
            # image's seeds touch every slab) within a quarter of what is
            # left and twice the image's float32 size (or 64 MiB).
            keep = min(max(0, (budget - cost(depth)) // 4),
                       max(64 * 2**20, 8 * n_channels * n_pixels))
            return RunPlan("fused", depth=depth, need=need, budget=budget, keep_bytes=keep)
    else:
        peak = inputs_peak(what, spatial, n_channels)
        whole = 4 * n_inputs * n_pixels
        spare = budget - held - whole - outputs
        least = min(_MIN_CHUNK, n_pixels)
        need = held + max(peak, whole + outputs + least * row_bytes)
        if held + peak <= budget and spare >= least * row_bytes:
            chunk = int(max(min(int(chunk_pixels), spare // row_bytes, n_pixels), 1))
            return RunPlan("whole", chunk=chunk, need=need, budget=budget)
    shape = "×".join(map(str, spatial))
    if isinstance(what, FeatureSpec):
        raise ValueError(
            f"the {n_inputs} features of this {shape} image need about {format_gib(need)} "
            f"while computing (with the image's float32 copy and the labels), more "
            f"than the {format_gib(budget)} budget: choose fewer features (the 'smooth' or "
            "'minimal' preset, fewer σ), or segment a cropped region"
        )
    raise ValueError(
        f"this {shape} image needs about {format_gib(need)} for method {method!r} (its "
        f"float32 copy, the intensity and the labels), more than the {format_gib(budget)} "
        "budget: segment a cropped region"
    )
