"""Per-pixel filter features for 2D images and 3D volumes.

A :class:`FeatureSpec` (``spec``) says which filters to compute at which
scales; :func:`compute_features` (``engine``) computes them; ``memory``
estimates their size before computing; ``seeds`` computes them only where
they are needed (around seed pixels, regions with their halo); ``ranking``
ranks them from the seeds.
"""

from .engine import compute_features, compute_features_block, fill_non_finite
from .memory import MemoryEstimate, estimate_memory, total_ram
from .ranking import rank_features, reduce_channels, suggest_features
from .seeds import feature_halo, seed_features, spec_for_shape
from .spec import (  # noqa: F401
    FILTERS,
    ILASTIK_SIGMAS,
    PRESETS,
    FeatureSpec,
    _resolve_spec,
    resolve_spec,
)

__all__ = [
    "FILTERS",
    "ILASTIK_SIGMAS",
    "PRESETS",
    "resolve_spec",
    "FeatureSpec",
    "MemoryEstimate",
    "compute_features",
    "compute_features_block",
    "estimate_memory",
    "feature_halo",
    "fill_non_finite",
    "rank_features",
    "reduce_channels",
    "seed_features",
    "spec_for_shape",
    "suggest_features",
    "total_ram",
]
