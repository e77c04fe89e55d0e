"""How much memory the features of an image need, estimated before computing."""

from __future__ import annotations

import math
from typing import NamedTuple

from ..memory import total_ram  # noqa: F401 (re-exported)
from .spec import _DOG_RATIO, _resolve_spec


class MemoryEstimate(NamedTuple):
    """Bytes of the feature stack (``output``) and of the peak while computing."""

    output: int
    peak: int


def estimate_memory(shape, spec=None, n_channels: int = 1) -> MemoryEstimate:
    """Estimate the memory :func:`compute_features` needs, before computing.

    Parameters
    ----------
    shape : tuple of int
        Spatial shape of the image (2D or 3D).
    spec : FeatureSpec, str or None, optional
        The features (see :func:`compute_features`).
    n_channels : int, optional
        Number of image channels.

    Returns
    -------
    MemoryEstimate
        ``output``: bytes of the float32 feature stack; ``peak``: estimated
        bytes while computing (stack + per-channel scratch: one smoothed
        image per scale, a temporary, the median / structure-tensor
        intermediates), not counting the input.

    Examples
    --------
    >>> est = estimate_memory((256, 256, 256), "default")
    >>> est.output // 2**20, est.peak > est.output
    (1600, True)
    """
    spec = _resolve_spec(spec)
    shape = tuple(int(n) for n in shape)
    ndim = len(shape)
    fd = spec._filtered_ndim(ndim)
    V = math.prod(shape) * 4
    output = spec.n_features(n_channels, ndim) * V
    smooth = set()
    extra = 0
    for name, s in spec.filters:
        if name in ("median", "median_residual"):
            smooth.add(("median", s))
        elif name == "dog":
            smooth.update({s, _DOG_RATIO * s})
        elif name == "structure_tensor_eigenvalues":
            smooth.add(s)
            extra += fd * V  # stored eigenvalues
        elif name not in ("intensity",) and not (name == "sobel" and s == 0):
            smooth.add(s)
    st_peak = (fd + fd * (fd + 1) // 2 + 2) * V if any(
        n == "structure_tensor_eigenvalues" for n, _ in spec.filters) else 0
    scratch = (len(smooth) + 2) * V + extra + st_peak
    return MemoryEstimate(output, output + scratch)
