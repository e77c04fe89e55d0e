"""What to compute: filters × scales (:class:`FeatureSpec`), the presets, and the engine's constants."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from .lines import OUTPUT_LABELS

#: Filters this engine knows. ``intensity`` takes σ = 0, ``sobel`` σ ≥ 0,
#: the others σ > 0.
FILTERS = (
    "intensity",
    "gaussian",
    "gradient_magnitude",
    "laplacian",
    "dog",
    "hessian_eigenvalues",
    "structure_tensor_eigenvalues",
    "median",
    "median_residual",
    "sobel",
    "ridge",
    "contrast",
    "line",
)

#: ilastik's scale grid.
ILASTIK_SIGMAS = (0.3, 0.7, 1.0, 1.6, 3.5, 5.0, 10.0)

_EIGEN = ("hessian_eigenvalues", "structure_tensor_eigenvalues")
_TRUNCATE = 4.0
_DOG_RATIO = 0.66
_ST_OUTER = 0.5
_MODES = ("3d", "2d")
# Elements per work block: small enough to stay in cache, big enough that
# NumPy call overhead does not dominate.
_BLOCK = 1 << 17
# Gaussian kernels from this radius on are applied as banded matrix products
# of this many output rows per block (measured: faster from σ ≈ 1.2 voxels).
_MATMUL_MIN_RADIUS = 5
_MATMUL_ROWS = 32


@dataclass(frozen=True)
class FeatureSpec:
    """Which filters to compute, at which scales, in 2D or 3D.

    Parameters
    ----------
    filters : tuple of (str, float)
        ``(filter_name, sigma)`` pairs, in output order; names from
        :data:`FILTERS`. ``sigma`` is in physical units (see ``spacing`` in
        :func:`compute_features`); ``intensity`` takes ``sigma=0``.
    mode : {"3d", "2d"}, optional
        ``"3d"`` filters along every spatial axis; ``"2d"`` filters each
        slice of a volume (the first axis) independently, for thick-slice
        stacks. Both are the same on 2D images.
    normalize : bool, optional
        Z-score every output feature (zero mean, unit variance over the
        image), which distance-based methods (kNN, k-means) need.

    Raises
    ------
    ValueError
        For an empty spec, an unknown filter or mode, or a bad σ.

    Examples
    --------
    >>> spec = FeatureSpec((("intensity", 0.0), ("gaussian", 2.0)))
    >>> FeatureSpec.from_json(spec.to_json()) == spec
    True
    >>> FeatureSpec((("hessian_eigenvalues", 1.0),)).n_features(ndim=3)
    3
    """

    filters: tuple = field(default=())
    mode: str = "3d"
    normalize: bool = False

    def __post_init__(self):
        try:
            filters = tuple((str(name), float(sigma)) for name, sigma in self.filters)
        except (TypeError, ValueError):
            raise ValueError(
                f"filters must be (name, sigma) pairs; got {self.filters!r}"
            ) from None
        if not filters:
            raise ValueError("a FeatureSpec needs at least one filter; got none")
        for name, sigma in filters:
            if name not in FILTERS:
                raise ValueError(
                    f"unknown filter {name!r}; known filters are {', '.join(FILTERS)}"
                )
            if name == "intensity":
                if sigma != 0:
                    raise ValueError(f"'intensity' takes sigma=0; got sigma={sigma}")
            elif name == "sobel":
                if not (np.isfinite(sigma) and sigma >= 0):
                    raise ValueError(f"'sobel' needs sigma >= 0; got {sigma}")
            elif not (np.isfinite(sigma) and sigma > 0):
                raise ValueError(f"{name!r} needs a positive sigma; got {sigma}")
        if len(set(filters)) != len(filters):
            raise ValueError(f"duplicate (filter, sigma) pairs in {filters}")
        if self.mode not in _MODES:
            raise ValueError(f"mode must be '3d' or '2d'; got {self.mode!r}")
        object.__setattr__(self, "filters", filters)
        object.__setattr__(self, "normalize", bool(self.normalize))

    def __str__(self):
        parts = [n if n == "intensity" else f"{n}@{s:g}" for n, s in self.filters]
        extra = f", mode={self.mode}" + (", normalized" if self.normalize else "")
        return f"FeatureSpec({', '.join(parts)}{extra})"

    @staticmethod
    def _outputs(name: str, ndim: int) -> int:
        if name in OUTPUT_LABELS:
            return len(OUTPUT_LABELS[name])
        return ndim if name in _EIGEN else 1

    def _filtered_ndim(self, ndim: int) -> int:
        return 2 if self.mode == "2d" else ndim

    def n_features(self, n_channels: int = 1, ndim: int = 2) -> int:
        """Number of output features: channels × Σ(outputs per filter).

        Eigenvalue filters give one output per filtered axis (2 in 2D or in
        ``"2d"`` mode, 3 in 3D); the others give one.
        """
        fd = self._filtered_ndim(ndim)
        return n_channels * sum(self._outputs(n, fd) for n, _ in self.filters)

    @property
    def n_features_per_channel(self) -> int:
        """Features per channel of a 2D image."""
        return self.n_features(1, 2)

    def names(self, n_channels: int = 1, ndim: int = 2) -> list[str]:
        """Feature names in output order.

        The order is channel by channel, then filter by filter in spec order,
        then eigenvalue by eigenvalue (``λ1 ≥ λ2 ≥ λ3``).
        """
        fd = self._filtered_ndim(ndim)
        out = []
        for c in range(n_channels):
            for name, sigma in self.filters:
                label = name if name == "intensity" else f"{name} σ={sigma:g}"
                k = self._outputs(name, fd)
                for i in range(k):
                    suffix = OUTPUT_LABELS[name][i] if name in OUTPUT_LABELS else f"λ{i + 1}"
                    text = label + (f" {suffix}" if k > 1 else "")
                    out.append(text if n_channels == 1 else f"{text} [ch {c}]")
        return out

    def entry_of_feature(self, n_channels: int = 1, ndim: int = 2) -> np.ndarray:
        """Index into ``filters`` of each output feature (see :meth:`names`)."""
        fd = self._filtered_ndim(ndim)
        per = [i for i, (n, _) in enumerate(self.filters) for _ in range(self._outputs(n, fd))]
        return np.array(per * n_channels, dtype=int)

    def to_dict(self) -> dict:
        return {
            "filters": [[name, sigma] for name, sigma in self.filters],
            "mode": self.mode,
            "normalize": self.normalize,
        }

    @classmethod
    def from_dict(cls, data: dict) -> FeatureSpec:
        if not isinstance(data, dict) or "filters" not in data or not set(data) <= {
            "filters", "mode", "normalize"
        }:
            raise ValueError(f"not a feature spec: {data!r}")
        return cls(
            tuple(tuple(item) for item in data["filters"]),
            mode=data.get("mode", "3d"),
            normalize=data.get("normalize", False),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> FeatureSpec:
        return cls.from_dict(json.loads(text))


def _multiscale(names, sigmas):
    return tuple((name, float(s)) for name in names for s in sigmas)


PRESETS = {
    "minimal": FeatureSpec((("intensity", 0.0), ("gaussian", 1.0))),
    # For distance-based methods (kNN, nearest mean, k-means, GMM): intensity
    # denoised at ilastik's small and middle scales. A σ=3.5 Gaussian as well
    # blurred class borders: kNN mean Dice 0.9900 -> 0.9910 without it on 3D
    # phantoms (9 volume/scribble draws), 0.6963 -> 0.7117 on the MRBrainS
    # slices (T1 + FLAIR, 18 cases), 2D phantoms equal; and half the time.
    "smooth": FeatureSpec(
        (("intensity", 0.0),) + _multiscale(("gaussian",), (0.7, 1.6))
    ),
    # Chosen for quality first, on both kinds of data we measure: smooth
    # tissue classes (MR-like phantoms: Gaussians carry the intensity,
    # denoised) and thin structures (KESM vessels: multi-scale Hessian
    # eigenvalues and their trace, LoG, answer ridges and tubes; gradient
    # magnitude answers rims). Without the Gaussians a forest on the
    # phantoms falls from mean Dice 0.99 to 0.78 (bench/segment.py). On KESM
    # (16 scribble sets, bench/features.py) the forest reaches F1 0.864 vs
    # 0.836 with (intensity, Gaussian σ=1) and 0.849 for the data's
    # median + Otsu recipe. Tried and not better (paired, 24 sets, within
    # ±0.015): Frangi / Sato / Meijering vesselness per scale, f - G(σ)
    # background differences, medians, σ=1 added, σ=5 dropped, ilastik's
    # full grid. Two thirds of the errors lie within 1 px of the vessel
    # borders, which scribbles do not label: with 5 % of the pixels labelled
    # at random the same forest reaches 0.944 (vs 0.868 for the baseline).
    "default": FeatureSpec(
        (("intensity", 0.0),)
        + _multiscale(
            ("gaussian", "gradient_magnitude", "laplacian", "hessian_eigenvalues"),
            (0.7, 1.6, 3.5, 5.0),
        )
    ),
    # ilastik's full grid: 37 filter/scale pairs (49 features in 2D, 61 in 3D).
    "full": FeatureSpec(
        _multiscale(("gaussian",), ILASTIK_SIGMAS)
        + _multiscale(
            ("laplacian", "gradient_magnitude", "dog",
             "structure_tensor_eigenvalues", "hessian_eigenvalues"),
            ILASTIK_SIGMAS[1:],
        )
    ),
    # scikit-image's multiscale_basic_features bank (Gaussian, Sobel edges,
    # Hessian eigenvalues at σ = 0.5 … 16 in octaves): the wide σ give a
    # forest the background around thin vessels. 100 full-depth trees on it
    # are our best after corrections on bench/accuracy.py (docs/accuracy.md).
    "octaves": FeatureSpec(_multiscale(("gaussian", "sobel", "hessian_eigenvalues"),
                                       (0.5, 1.0, 2.0, 4.0, 8.0, 16.0))),
    # The blend's bank (13 features a channel in 2D, 16 in 3D): "smooth"
    # (the columns its kNN half reads), wider Gaussians for the background
    # around vessels, Hessian eigenvalues for ridges, gradient magnitude for
    # rims; 0.5 s on a 160³ volume on 2 cores (0.1 s for "smooth"). On
    # bench/accuracy.py --quick (docs/accuracy.md), under the blend: without
    # the gradient magnitude and the σ=4 Hessian (half the 3D cost) the
    # retina after corrections fell 0.625 -> 0.54; a σ=16 Gaussian and the
    # "octaves" bank did no better under a linear model.
    "blend": FeatureSpec(
        (("intensity", 0.0),)
        + _multiscale(("gaussian",), (0.7, 1.6, 3.5, 8.0))
        + _multiscale(("hessian_eigenvalues",), (1.0, 2.0, 4.0))
        + _multiscale(("gradient_magnitude",), (1.0, 3.5))
    ),
    # For thin structures (vessels, membranes): the blend's bank plus the
    # bright/dark ridge strength at the Hessian's scales, nearly free (a
    # formula on the eigenvalues computed anyway); no new σ, so the same
    # smallest image. Local contrast f - G(8) beside it let the trees
    # extrapolate on KESM's border strokes (docs/accuracy.md, issue 24).
    "thin": FeatureSpec(
        (("intensity", 0.0),)
        + _multiscale(("gaussian",), (0.7, 1.6, 3.5, 8.0))
        + _multiscale(("hessian_eigenvalues",), (1.0, 2.0, 4.0))
        + _multiscale(("gradient_magnitude",), (1.0, 3.5))
        + _multiscale(("ridge",), (1.0, 2.0, 4.0))
    ),
}



def _resolve_spec(spec, default="default") -> FeatureSpec:
    """A FeatureSpec from a spec, a preset name, its dict, or None (``default``)."""
    if spec is None:
        spec = default
    if isinstance(spec, FeatureSpec):
        return spec
    if isinstance(spec, str):
        if spec not in PRESETS:
            raise ValueError(
                f"unknown feature preset {spec!r}; presets are {', '.join(PRESETS)}"
            )
        return PRESETS[spec]
    if isinstance(spec, dict):
        return FeatureSpec.from_dict(spec)
    raise TypeError(
        f"features must be None, a preset name or a FeatureSpec; got {type(spec).__name__}"
    )


def resolve_spec(spec, default="default") -> FeatureSpec:
    """A :class:`FeatureSpec` from a spec, a preset name, its dict, or ``None``.

    Examples
    --------
    >>> resolve_spec("minimal").names()[:2]
    ['intensity', 'gaussian σ=1']
    """
    return _resolve_spec(spec, default)
