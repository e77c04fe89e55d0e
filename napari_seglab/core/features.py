"""Per-pixel filter features for 2D images and 3D volumes.

A :class:`FeatureSpec` says which filters to compute at which scales; it is
plain data (JSON round-trip). :func:`compute_features` turns an image into a
``spatial_shape + (n_features,)`` float32 stack.

Scales (``sigma``) are in physical units: with ``spacing=(3.0, 0.5, 0.5)`` a
σ of 1.5 mm is 0.5 voxel along the first axis and 3 voxels along the others.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi

__all__ = [
    "FILTERS",
    "PRESETS",
    "FeatureSpec",
    "compute_features",
    "fill_non_finite",
]

#: Filters this engine knows; ``intensity`` takes no scale.
FILTERS = ("intensity", "gaussian", "gradient_magnitude")


@dataclass(frozen=True)
class FeatureSpec:
    """Which filters to compute, at which scales.

    Parameters
    ----------
    filters : tuple of (str, float)
        ``(filter_name, sigma)`` pairs, in output order. ``sigma`` is in
        physical units (see ``spacing`` in :func:`compute_features`);
        ``intensity`` takes ``sigma=0``.

    Examples
    --------
    >>> spec = FeatureSpec((("intensity", 0.0), ("gaussian", 2.0)))
    >>> FeatureSpec.from_json(spec.to_json()) == spec
    True
    """

    filters: tuple = field(default=())

    def __post_init__(self):
        filters = tuple((str(name), float(sigma)) for name, sigma in self.filters)
        if not filters:
            raise ValueError("a FeatureSpec needs at least one filter; got none")
        for name, sigma in filters:
            if name not in FILTERS:
                raise ValueError(
                    f"unknown filter {name!r}; known filters are {', '.join(FILTERS)}"
                )
            if name == "intensity" and sigma != 0:
                raise ValueError(f"'intensity' takes sigma=0; got sigma={sigma}")
            if name != "intensity" and not (np.isfinite(sigma) and sigma > 0):
                raise ValueError(f"{name!r} needs a positive sigma; got {sigma}")
        object.__setattr__(self, "filters", filters)

    @property
    def n_features_per_channel(self) -> int:
        return len(self.filters)

    def names(self, n_channels: int = 1) -> list[str]:
        """Feature names in output order (channel-major within a filter)."""
        out = []
        for name, sigma in self.filters:
            label = name if name == "intensity" else f"{name} σ={sigma:g}"
            for c in range(n_channels):
                out.append(label if n_channels == 1 else f"{label} [ch {c}]")
        return out

    def to_dict(self) -> dict:
        return {"filters": [[name, sigma] for name, sigma in self.filters]}

    @classmethod
    def from_dict(cls, data: dict) -> FeatureSpec:
        if not isinstance(data, dict) or set(data) != {"filters"}:
            raise ValueError(f"not a feature spec: {data!r}")
        return cls(tuple(tuple(item) for item in data["filters"]))

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> FeatureSpec:
        return cls.from_dict(json.loads(text))


def _multiscale(names, sigmas):
    return tuple((name, float(s)) for name in names for s in sigmas)


PRESETS = {
    "minimal": FeatureSpec((("intensity", 0.0), ("gaussian", 1.0))),
    "default": FeatureSpec(
        (("intensity", 0.0),)
        + _multiscale(("gaussian", "gradient_magnitude"), (1.0, 2.0, 4.0))
    ),
}


def fill_non_finite(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Replace NaN/±inf by the mean of the finite pixels, per channel.

    Parameters
    ----------
    image : ndarray, shape ``spatial + (C,)``, float

    Returns
    -------
    filled : ndarray
        ``image`` itself when every pixel is finite, else a filled copy.
    finite : ndarray of bool, shape ``spatial``, or None
        Pixels finite in every channel; ``None`` when all are.

    Raises
    ------
    ValueError
        If no pixel is finite in some channel.
    """
    finite = np.isfinite(image)
    if finite.all():
        return image, None
    filled = image.copy()
    for c in range(image.shape[-1]):
        ok = finite[..., c]
        if not ok.any():
            raise ValueError(f"channel {c} has no finite pixel; nothing to segment")
        filled[..., c][~ok] = image[..., c][ok].mean()
    return filled, finite.all(axis=-1)


def _resolve_spec(spec) -> FeatureSpec:
    if spec is None:
        return PRESETS["default"]
    if isinstance(spec, FeatureSpec):
        return spec
    if isinstance(spec, str):
        if spec not in PRESETS:
            raise ValueError(
                f"unknown feature preset {spec!r}; presets are {', '.join(PRESETS)}"
            )
        return PRESETS[spec]
    raise TypeError(
        f"features must be None, a preset name or a FeatureSpec; got {type(spec).__name__}"
    )


def _voxel_sigma(sigma: float, spacing: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(sigma / s for s in spacing)


def _one_filter(channel: np.ndarray, name: str, sigma: float, spacing) -> np.ndarray:
    if name == "intensity":
        return channel
    vsigma = _voxel_sigma(sigma, spacing)
    if name == "gaussian":
        return ndi.gaussian_filter(channel, vsigma, mode="reflect")
    if name == "gradient_magnitude":
        # Derivative of Gaussian per axis, scaled to physical units.
        out = np.zeros_like(channel)
        for axis in range(channel.ndim):
            order = [0] * channel.ndim
            order[axis] = 1
            d = ndi.gaussian_filter(channel, vsigma, order=order, mode="reflect")
            d /= spacing[axis]
            out += d * d
        return np.sqrt(out, out=out)
    raise AssertionError(name)  # FeatureSpec validated the name


def compute_features(
    image,
    spec=None,
    *,
    spacing=None,
    channel_axis=None,
    num_workers=None,
) -> np.ndarray:
    """Compute a stack of filter responses for every pixel.

    Parameters
    ----------
    image : array-like
        2D or 3D spatial image, plus one channel axis if ``channel_axis``
        is given. Non-finite pixels are replaced by the channel's finite
        mean before filtering (see :func:`fill_non_finite`).
    spec : FeatureSpec, str or None, optional
        The filters; a preset name (``"minimal"``, ``"default"``) or
        ``None`` for the default preset.
    spacing : sequence of float, optional
        Physical size of a voxel along each spatial axis; σ are in these
        units. ``None`` means 1 per axis.
    channel_axis : int, optional
        Axis of ``image`` that holds channels.
    num_workers : int, optional
        Threads used for filtering; ``None`` uses all cores.

    Returns
    -------
    features : ndarray of float32, shape ``spatial_shape + (n_features,)``
        ``n_features = len(spec.filters) * n_channels``, ordered filter by
        filter, channels within a filter (see :meth:`FeatureSpec.names`).

    Raises
    ------
    ValueError
        If the image is not 2D/3D spatial, ``spacing`` does not match, or a
        channel has no finite pixel.

    Examples
    --------
    >>> img = np.zeros((32, 32)); img[8:24, 8:24] = 1
    >>> compute_features(img, "minimal").shape
    (32, 32, 2)
    """
    spec = _resolve_spec(spec)
    data = np.asarray(image)
    if channel_axis is None:
        data = data[..., np.newaxis]
    else:
        data = np.moveaxis(data, channel_axis, -1)
    if data.ndim - 1 not in (2, 3):
        raise ValueError(
            f"image must be 2D or 3D (plus a channel axis); got spatial shape "
            f"{data.shape[:-1]}"
        )
    data = np.ascontiguousarray(data, dtype=np.float32)
    data, _ = fill_non_finite(data)
    ndim = data.ndim - 1
    if spacing is None:
        spacing = (1.0,) * ndim
    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != ndim or not all(np.isfinite(s) and s > 0 for s in spacing):
        raise ValueError(
            f"spacing must be {ndim} positive numbers, one per spatial axis; got {spacing}"
        )
    n_channels = data.shape[-1]
    out = np.empty(data.shape[:-1] + (len(spec.filters) * n_channels,), np.float32)
    jobs = [
        (i * n_channels + c, name, sigma, c)
        for i, (name, sigma) in enumerate(spec.filters)
        for c in range(n_channels)
    ]

    def run(job):
        index, name, sigma, c = job
        out[..., index] = _one_filter(
            np.ascontiguousarray(data[..., c]), name, sigma, spacing
        )

    if num_workers == 1 or len(jobs) == 1:
        for job in jobs:
            run(job)
    else:
        with ThreadPoolExecutor(max_workers=num_workers) as pool:
            list(pool.map(run, jobs))
    return out
