"""Per-pixel filter features for 2D images and 3D volumes (the feature engine).

A :class:`FeatureSpec` says which filters to compute at which scales, in 2D
(slice by slice) or 3D; it is plain data (printable, comparable, JSON
round-trip). :func:`compute_features` turns an image into a C-contiguous
``spatial_shape + (n_features,)`` float32 stack.

Scales (``sigma``) are in physical units: with ``spacing=(3.0, 0.5, 0.5)`` a
σ of 1.5 mm is 0.5 voxel along the first axis and 3 voxels along the others.

How it is fast (pure NumPy/SciPy, measured on 2 cores in bench/features.py):

* one Gaussian-smoothed image per scale, shared by every filter at that
  scale (gaussian, gradient magnitude, Laplacian, Hessian, Sobel, DoG);
  derivatives are central finite differences of that smoothed image (as in
  :func:`skimage.feature.multiscale_basic_features`), the Laplacian is the
  trace of the Hessian and the gradient magnitude comes from the same first
  derivatives;
* separable Gaussian passes: wide kernels (radius ≥ 5 voxels) as banded
  matrix products (BLAS, one thread per call, calls spread over our
  threads), narrow ones as shifted-slab multiply-adds on cache-sized
  blocks;
* the derivative / eigenvalue stage runs on blocks of 64k voxels (views of
  the smoothed images, reflect-padded once), into a planar block buffer
  that is interleaved into the output in one copy: the output is written
  once and the peak memory stays close to its size;
* symmetric 3×3 eigenvalues in closed form (trigonometric), with the
  arccos/cos replaced by one polynomial: a third of the cost.

Conventions (documented choices):

* ``dog`` at σ is ``G(σ) - G(0.66 σ)`` (ilastik's ratio);
* ``structure_tensor_eigenvalues`` at σ uses inner (derivative) scale σ and
  outer (integration) scale σ/2;
* eigenvalues are sorted in decreasing order, one channel each (2 in 2D,
  3 in 3D);
* ``median`` at σ uses a box of ``2 * max(1, round(σ_voxels)) + 1`` voxels
  per axis; ``median_residual`` is ``|f - median(f)|``;
* ``sobel`` at σ is the Sobel gradient magnitude of ``G(σ)`` (σ = 0: of the
  raw image), scaled so that a ramp of slope 1 gives 1;
* boundaries are reflected (``scipy.ndimage`` mode ``"reflect"``); Gaussian
  kernels are truncated at 4σ.
"""

from __future__ import annotations

import json
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np
from scipy import ndimage as ndi

__all__ = [
    "FILTERS",
    "ILASTIK_SIGMAS",
    "PRESETS",
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
    "suggest_features",
    "total_ram",
]

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
                    text = label + (f" λ{i + 1}" if k > 1 else "")
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


# --------------------------------------------------------------------------
# Planning: voxel scales, kernel sizes, halos


def _radius(sigma_vox: float) -> int:
    return int(_TRUNCATE * sigma_vox + 0.5) if sigma_vox > 0 else 0


def _median_half(sigma_vox: float) -> int:
    return max(1, int(round(sigma_vox)))


class _Plan:
    """Everything :func:`compute_features` derives from (spec, shape, spacing)."""

    def __init__(self, spec: FeatureSpec, shape: tuple, spacing: tuple, check=True):
        self.spec, self.shape, self.spacing = spec, shape, spacing
        ndim = len(shape)
        self.axes = tuple(range(1, ndim)) if (spec.mode == "2d" and ndim == 3) else tuple(range(ndim))
        self.fd = len(self.axes)
        # Physical σ → voxel σ per axis (0 along an unfiltered axis).
        self.vox = lambda s: tuple(
            (s / spacing[a] if a in self.axes else 0.0) for a in range(ndim)
        )
        self.smooth = set()  # physical σ of the Gaussian images needed
        self.halo = [0] * ndim
        for name, sigma in spec.filters:
            needs = {
                "intensity": (), "median": (), "median_residual": (),
                "dog": (sigma, _DOG_RATIO * sigma),
                "sobel": (sigma,) if sigma > 0 else (),
            }.get(name, (sigma,))
            self.smooth.update(needs)
            deriv = name in ("gradient_magnitude", "laplacian", "hessian_eigenvalues",
                             "sobel", "structure_tensor_eigenvalues")
            for a in self.axes:
                v = sigma / spacing[a]
                if name in ("median", "median_residual"):
                    rk = total = _median_half(v)
                else:
                    rk = _radius(v)
                    total = rk + (1 if deriv else 0)
                    if name == "structure_tensor_eigenvalues":
                        total += _radius(_ST_OUTER * v)
                # Reflecting borders make any kernel computable; past half the
                # image a filter mostly sees mirrored copies of it: meaningless.
                if check and shape[a] > 1 and v > shape[a] / 2:
                    raise ValueError(
                        f"{name} at sigma={sigma:g} is {v:.3g} voxels along axis {a} "
                        f"(spacing {spacing[a]:g}), more than half the image's "
                        f"{shape[a]} voxels along that axis: use sigma <= "
                        f"{shape[a] / 2 * spacing[a]:.3g} or a larger image"
                    )
                self.halo[a] = max(self.halo[a], total + 1)
        self.smooth = sorted(self.smooth)


# --------------------------------------------------------------------------
# Separable Gaussian smoothing


def _reflect_index(idx: np.ndarray, n: int) -> np.ndarray:
    """scipy.ndimage "reflect" (half-sample symmetric) boundary, any distance."""
    m = np.mod(idx, 2 * n)
    return np.where(m >= n, 2 * n - 1 - m, m)


def _gauss_kernel(sigma: float) -> np.ndarray:
    r = _radius(sigma)
    x = np.arange(-r, r + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / sigma) ** 2)
    return (w / w.sum()).astype(np.float32)


def _map(pool, fn, items):
    items = list(items)
    if pool is None or len(items) < 2:
        for it in items:
            fn(it)
    else:
        list(pool.map(fn, items))


def _banded_blocks(n, w, rows):
    """The 1D correlation with ``w`` along an axis of ``n`` samples (reflect
    boundary) as banded matrix blocks: ``(b0, b1, c0, c1, K)`` with
    ``out[b0:b1] = K @ x[c0:c1]``; reflected taps are folded into ``K``."""
    r = len(w) // 2
    for b0 in range(0, n, rows):
        b1 = min(n, b0 + rows)
        i = np.arange(b0, b1)[:, None]
        cols = _reflect_index(i + np.arange(-r, r + 1), n)
        c0, c1 = int(cols.min()), int(cols.max()) + 1
        K = np.zeros((b1 - b0, c1 - c0))
        np.add.at(K, (np.broadcast_to(i - b0, cols.shape), cols - c0),
                  np.broadcast_to(w.astype(np.float64), cols.shape))
        yield b0, b1, c0, c1, K.astype(np.float32)


def _smooth_axis_matmul(src, out, w, axis, pool):
    """1D correlation along ``axis`` as banded matrix products, one BLAS
    call per (band block, chunk of the other axes), spread over ``pool``."""
    n = src.shape[axis]
    outer = math.prod(src.shape[:axis])
    inner = math.prod(src.shape[axis + 1:])
    s3 = src.reshape(outer, n, inner)
    o3 = out.reshape(outer, n, inner)
    bands = list(_banded_blocks(n, w, _MATMUL_ROWS))
    # Chunks of the axis the products run along (columns if there is no outer).
    length = inner if outer == 1 else outer
    step = max(1, _BLOCK // (_MATMUL_ROWS * (inner if outer > 1 else 1)))
    chunks = [slice(i, min(length, i + step)) for i in range(0, length, step)]

    def run(task):
        (b0, b1, c0, c1, K), ch = task
        if inner == 1:
            np.matmul(s3[ch, c0:c1, 0], K.T, out=o3[ch, b0:b1, 0])
        elif outer == 1:
            np.matmul(K, s3[0, c0:c1, ch], out=o3[0, b0:b1, ch])
        else:
            np.matmul(K, s3[ch, c0:c1], out=o3[ch, b0:b1])

    with _blas_threads(1):  # our threads split the work; BLAS's would contend
        _map(pool, run, [(band, ch) for band in bands for ch in chunks])


_THREADPOOLS = []


@contextmanager
def _blas_threads(n):
    """Limit BLAS to ``n`` threads (threadpoolctl, a scikit-learn dependency)."""
    try:
        if not _THREADPOOLS:
            from threadpoolctl import ThreadpoolController

            _THREADPOOLS.append(ThreadpoolController())
    except ImportError:  # pragma: no cover - scikit-learn brings it
        yield
        return
    with _THREADPOOLS[0].limit(limits=n, user_api="blas"):
        yield


def _smooth_axis(src, out, sigma, axis, pool):
    """1D Gaussian along ``axis`` (reflect).

    Wide kernels are banded matrix products (BLAS does a multiply-add in a
    fraction of a NumPy ufunc's time); narrow ones shifted-slab
    multiply-adds, which do not pay for the band's zeros.
    """
    n = src.shape[axis]
    w = _gauss_kernel(sigma)
    r = len(w) // 2
    if r >= _MATMUL_MIN_RADIUS:
        _smooth_axis_matmul(src, out, w, axis, pool)
        return
    outer = math.prod(src.shape[:axis])
    inner = math.prod(src.shape[axis + 1:])
    s3 = src.reshape(outer, n, inner)
    o3 = out.reshape(outer, n, inner)
    if outer == 1:
        nb = max(1, _BLOCK // inner)
        tasks = [(slice(0, 1), i, min(n, i + nb)) for i in range(0, n, nb)]
    else:
        ob = max(1, _BLOCK // (n * inner))
        tasks = [(slice(o, o + ob), 0, n) for o in range(0, outer, ob)]

    def run(task):
        osl, i, j = task
        lo, hi = i - r, j + r
        if lo >= 0 and hi <= n:
            x = s3[osl, lo:hi]
        else:  # boundary block: reflected copy of the few rows needed
            x = s3[osl].take(_reflect_index(np.arange(lo, hi), n), axis=1)
        dst = o3[osl, i:j]
        L = j - i
        np.multiply(x[:, r:r + L], w[r], out=dst)
        tmp = np.empty_like(dst)
        for k in range(1, r + 1):  # symmetric kernel: one product per pair
            np.add(x[:, r - k:r - k + L], x[:, r + k:r + k + L], out=tmp)
            tmp *= w[r + k]
            dst += tmp

    _map(pool, run, tasks)


def _gaussian(src, vsigma, pool, out=None, tmp=None):
    """Separable Gaussian of ``src`` with per-axis voxel σ (0 = skip axis)."""
    axes = [a for a, s in enumerate(vsigma) if s > 0 and src.shape[a] > 1]
    out = np.empty_like(src) if out is None else out
    if not axes:
        np.copyto(out, src)
        return out
    if len(axes) > 1 and tmp is None:
        tmp = np.empty_like(src)
    # Ping-pong between out and tmp so the last pass lands in out.
    bufs = [out, tmp] if len(axes) % 2 == 1 else [tmp, out]
    cur = src
    for k, a in enumerate(reversed(axes)):
        dst = bufs[k % 2]
        _smooth_axis(cur, dst, vsigma[a], a, pool)
        cur = dst
    return out


# --------------------------------------------------------------------------
# Finite differences and eigenvalues on padded blocks

#: Filters computed from finite differences of one (smoothed) image.
_DERIV = ("gradient_magnitude", "laplacian", "hessian_eigenvalues", "sobel")
# Voxels per block of the derivative stage. Each block is a few hundred NumPy
# calls whose Python overhead holds the GIL: smaller blocks make two threads
# wait for each other (measured: 2 threads slower than 1 at 8k voxels, 1.6x
# faster at 64k), larger ones fall out of the cache.
_BLOCK_VOX = 1 << 16
# cos(arccos(r) / 3) as a polynomial in s = sqrt((1 + r) / 2), r in [-1, 1]:
# analytic in s, so degree 6 is accurate to 2e-7 (least squares on
# Chebyshev-spaced points); highest degree first. It replaces the arccos and
# two cosines of the trigonometric 3×3 eigenvalue formula, which cost 3× more.
_COS_THIRD = (-0.00214345, 0.01062305, -0.02653822, 0.05154791, -0.11082304,
              0.57733346, 0.50000016)
_TINY = np.finfo(np.float32).tiny
# Features per interleaving copy from the block buffer to the output
# (measured: NumPy's strided copy takes 1.1 ns per value for 8 to 13 at a
# time, 2-3 ns for fewer or for all 25 of the default 3D set).
_INTERLEAVE = 8


def _cut(ndim, axis, lo, hi):
    return tuple(slice(lo, hi) if k == axis else slice(None) for k in range(ndim))


def _shifted(P, axes, shifts=None, full=()):
    """View of the padded block ``P`` moved by ``shifts`` voxels per axis.

    ``P`` carries one voxel of margin along each axis in ``axes``; the view
    has the block's own (core) shape, except along the ``full`` axes, which
    keep the margin.
    """
    shifts = shifts or {}
    out = []
    for a, n in enumerate(P.shape):
        if a not in axes or a in full:
            out.append(slice(None))
        else:
            d = shifts.get(a, 0)
            out.append(slice(1 + d, n - 1 + d))
    return P[tuple(out)]


def _sobel(P, axes, spacing, out):
    """Sobel gradient magnitude of the padded block ``P``, in slope units."""
    out[...] = 0  # `out` may be uninitialised memory (NaN * 0 is NaN)
    for a in axes:
        others = tuple(b for b in axes if b != a)
        e = _shifted(P, axes, {a: 1}, full=others) - _shifted(P, axes, {a: -1}, full=others)
        for b in others:  # [1, 2, 1] smoothing across the other axes
            n = e.shape[b]
            e = (e[_cut(e.ndim, b, 0, n - 2)] + e[_cut(e.ndim, b, 2, n)]
                 + 2 * e[_cut(e.ndim, b, 1, n - 1)])
        e *= 0.5 / (4 ** (len(axes) - 1) * spacing[a])
        e *= e
        out += e
    np.sqrt(out, out=out)


def _eig_sym(elems, outs, trace=None):
    """Eigenvalues (decreasing) of symmetric 2×2 / 3×3 matrices, elementwise.

    Parameters
    ----------
    elems : list of float32 ndarray
        Upper-triangle entries row by row (a00, a01, [a02,] a11, ...). They
        are overwritten (used as scratch).
    outs : list of ndarray
        One array (or view) per eigenvalue, largest first; not ``trace``.
    trace : ndarray, optional
        The matrices' trace, when the caller has it already.
    """
    if len(elems) == 3:
        a, b, c = elems
        t = (a + c) if trace is None else trace.copy()
        t *= 0.5
        a -= c
        a *= 0.5
        a *= a
        b *= b
        a += b
        np.sqrt(a, out=a)
        np.add(t, a, out=outs[0])
        np.subtract(t, a, out=outs[1])
        return
    # Trigonometric closed form for symmetric 3×3 (Smith 1961): with
    # q = trace / 3, B = A - q I, p = sqrt(tr(B²) / 6) and r = det(B) / (2 p³),
    # the eigenvalues are q + 2 p cos((arccos r + 2πk) / 3), k = 0, 2, 1.
    a00, a01, a02, a11, a12, a22 = elems
    q = np.multiply(a00 + a11 + a22 if trace is None else trace, np.float32(1 / 3))
    d0, d1, d2 = a00, a11, a22
    d0 -= q
    d1 -= q
    d2 -= q
    t = np.empty_like(q)
    p = d0 * d0
    p += np.multiply(d1, d1, out=t)
    p += np.multiply(d2, d2, out=t)
    u = a01 * a01
    u += np.multiply(a02, a02, out=t)
    u += np.multiply(a12, a12, out=t)
    u *= 2
    p += u
    p *= np.float32(1 / 6)
    np.sqrt(p, out=p)
    v = np.empty_like(q)
    # det(B) by the first row, into u
    np.multiply(d1, d2, out=u)
    u -= np.multiply(a12, a12, out=t)
    u *= d0
    np.multiply(a01, d2, out=t)
    t -= np.multiply(a12, a02, out=v)
    t *= a01
    u -= t
    np.multiply(a01, a12, out=t)
    t -= np.multiply(d1, a02, out=v)
    t *= a02
    u += t
    # r = det / (2 p³), clipped against rounding (p = 0: all equal, r = 0)
    np.multiply(p, p, out=v)
    v *= p
    v *= 2
    np.maximum(v, _TINY, out=v)
    u /= v
    np.minimum(u, 1, out=u)
    np.maximum(u, -1, out=u)
    # cos(arccos(r)/3) = C(sqrt((1+r)/2)) and cos((arccos(r) + 2π)/3) =
    # -C(sqrt((1-r)/2)): one polynomial evaluation on both arguments.
    x = np.empty((2,) + q.shape, np.float32)
    np.multiply(u, 0.5, out=x[0])
    np.multiply(u, -0.5, out=x[1])
    x += 0.5
    np.sqrt(x, out=x)
    acc = np.multiply(x, _COS_THIRD[0])
    for coef in _COS_THIRD[1:-1]:
        acc += coef
        acc *= x
    acc += _COS_THIRD[-1]
    p *= 2
    acc *= p
    np.add(q, acc[0], out=outs[0])
    np.subtract(q, acc[1], out=outs[2])
    acc[1] -= acc[0]
    np.add(q, acc[1], out=outs[1])


def _derivative_features(P, axes, spacing, outs):
    """Gradient magnitude, Laplacian, Hessian eigenvalues of one padded block.

    Central differences of ``P`` (one voxel of margin along each filtered
    axis). ``outs`` maps a filter name to its output array(s) (contiguous,
    the block's shape); filters not in it are skipped.
    """
    core = _shifted(P, axes)
    fwd = {a: _shifted(P, axes, {a: 1}) for a in axes}
    bwd = {a: _shifted(P, axes, {a: -1}) for a in axes}
    t = np.empty(core.shape, np.float32)
    ref = spacing[axes[0]]
    if "gradient_magnitude" in outs:
        acc = np.empty_like(t)
        for k, a in enumerate(axes):
            dst = t if k else acc
            np.subtract(fwd[a], bwd[a], out=dst)
            if spacing[a] != ref:
                dst *= ref / spacing[a]
            dst *= dst
            if k:
                acc += t
        gm = outs["gradient_magnitude"]
        np.sqrt(acc, out=gm)
        gm *= 0.5 / ref
    if "laplacian" not in outs and "hessian_eigenvalues" not in outs:
        return
    two_core = np.add(core, core)
    diag = {}
    for a in axes:
        h = np.add(fwd[a], bwd[a])
        h -= two_core
        if spacing[a] != 1:
            h *= 1.0 / spacing[a] ** 2
        diag[a] = h
    lap = outs.get("laplacian", two_core)  # two_core is no longer needed
    np.add(diag[axes[0]], diag[axes[1]], out=lap)
    for a in axes[2:]:
        lap += diag[a]
    if "hessian_eigenvalues" in outs:
        elems = []
        for i, a in enumerate(axes):
            elems.append(diag[a])
            for b in axes[i + 1:]:
                # mixed difference: the four diagonal neighbours in the (a, b) plane
                h = np.add(_shifted(P, axes, {a: 1, b: 1}), _shifted(P, axes, {a: -1, b: -1}))
                h -= np.add(_shifted(P, axes, {a: 1, b: -1}), _shifted(P, axes, {a: -1, b: 1}),
                            out=t)
                h *= 0.25 / (spacing[a] * spacing[b])
                elems.append(h)
        _eig_sym(elems, outs["hessian_eigenvalues"], trace=lap)


def _block_tasks(shape):
    """Blocks of about ``_BLOCK_VOX`` voxels: runs of the first axis, or of
    the second when one index of the first is already that big."""
    plane = math.prod(shape[1:])
    if plane <= _BLOCK_VOX or len(shape) < 3:
        nb = max(1, _BLOCK_VOX // max(1, plane))
        return [(slice(i, min(shape[0], i + nb)),) for i in range(0, shape[0], nb)]
    nr = max(1, _BLOCK_VOX // shape[2])
    return [(slice(i, i + 1), slice(r, min(shape[1], r + nr)))
            for i in range(shape[0]) for r in range(0, shape[1], nr)]


# --------------------------------------------------------------------------
# The engine


def _central_diff_full(G, a, spacing):
    out = np.empty_like(G)
    n = G.shape[a]
    if n == 1:
        out[...] = 0
        return out
    nd = G.ndim
    np.subtract(G[_cut(nd, a, 2, n)], G[_cut(nd, a, 0, n - 2)], out=out[_cut(nd, a, 1, n - 1)])
    np.subtract(G[_cut(nd, a, 1, 2)], G[_cut(nd, a, 0, 1)], out=out[_cut(nd, a, 0, 1)])
    np.subtract(G[_cut(nd, a, n - 1, n)], G[_cut(nd, a, n - 2, n - 1)],
                out=out[_cut(nd, a, n - 1, n)])
    out *= 0.5 / spacing[a]
    return out


def _structure_tensor_eigs(G, plan, sigma, pool):
    """Full-volume structure-tensor eigenvalues, shape ``(fd,) + G.shape``."""
    ax = plan.axes
    grads = {a: _central_diff_full(G, a, plan.spacing) for a in ax}
    outer = plan.vox(_ST_OUTER * sigma)
    tmp = np.empty_like(G)
    comps = []
    for k, a in enumerate(ax):
        for b in ax[k:]:
            prod = grads[a] * grads[b]
            comps.append(_gaussian(prod, outer, pool, out=np.empty_like(G), tmp=tmp))
            del prod
    del grads, tmp
    res = np.empty((len(ax),) + G.shape, np.float32)

    def run(block):
        _eig_sym([c[block] for c in comps], [r[block] for r in res])  # comps consumed

    _map(pool, run, _block_tasks(G.shape))
    return res


def _compute_channel(chan, plan, out, pool):
    """All features of one channel into ``out`` (``spatial + (Fc,)`` view)."""
    spec, spacing, axes = plan.spec, plan.spacing, plan.axes
    # Stage 1 (full volume): one Gaussian image per scale, plus the filters
    # that are not block-local (median, structure tensor).
    tmp = np.empty_like(chan) if plan.smooth else None
    G = {s: _gaussian(chan, plan.vox(s), pool, tmp=tmp) for s in plan.smooth}
    del tmp
    pre = {}
    for name, sigma in spec.filters:
        if name in ("median", "median_residual") and ("median", sigma) not in pre:
            size = [2 * _median_half(v) + 1 if v > 0 else 1 for v in plan.vox(sigma)]
            pre["median", sigma] = ndi.median_filter(chan, size=size, mode="reflect")
        elif name == "structure_tensor_eigenvalues":
            pre[name, sigma] = _structure_tensor_eigs(G[sigma], plan, sigma, pool)
    # Images that derivatives are taken of, reflect-padded by one voxel along
    # the filtered axes once: every block is then a view of them.
    pads = [(1, 1) if a in axes else (0, 0) for a in range(chan.ndim)]
    interior = tuple(slice(1, -1) if a in axes else slice(None) for a in range(chan.ndim))
    deriv = {}  # sigma -> {filter name: output index}
    k = 0
    for name, sigma in spec.filters:
        if name in _DERIV:
            deriv.setdefault(sigma, {})[name] = k
        k += FeatureSpec._outputs(name, plan.fd)
    padded = {}
    for s in deriv:
        padded[s] = np.pad(G[s] if s > 0 else chan, pads, mode="symmetric")
        if s > 0:
            G[s] = padded[s][interior]  # drop the unpadded copy
    fd = plan.fd

    n_out = out.shape[-1]
    local = threading.local()  # one block buffer per thread, reused

    # Stage 2 (block by block): every feature into a planar block buffer,
    # then one interleaving copy into the output. (Ufuncs writing straight
    # into the output, a 4·n_out-byte stride, would stream a block bigger
    # than the cache through memory once per feature: 3x slower.)
    def run(block):
        o = out[block]
        shape = (n_out,) + o.shape[:-1]
        if getattr(local, "buf", None) is None or local.buf.shape != shape:
            local.buf = np.empty(shape, np.float32)
        buf = local.buf
        halo = tuple(slice(b.start, b.stop + 2) if a in axes else b
                     for a, b in enumerate(block)) + (slice(None),) * (chan.ndim - len(block))
        k = 0
        for name, sigma in spec.filters:
            dst = buf[k]
            if name == "intensity":
                np.copyto(dst, chan[block])
            elif name == "gaussian":
                np.copyto(dst, G[sigma][block])
            elif name == "dog":
                np.subtract(G[sigma][block], G[_DOG_RATIO * sigma][block], out=dst)
            elif name == "median":
                np.copyto(dst, pre["median", sigma][block])
            elif name == "median_residual":
                np.subtract(chan[block], pre["median", sigma][block], out=dst)
                np.abs(dst, out=dst)
            elif name == "structure_tensor_eigenvalues":
                for m in range(fd):
                    np.copyto(buf[k + m], pre[name, sigma][m][block])
            elif name == "sobel":
                _sobel(padded[sigma][halo], axes, spacing, dst)
            k += FeatureSpec._outputs(name, fd)
        for sigma, where in deriv.items():
            outs = {name: (buf[i] if name != "hessian_eigenvalues"
                           else [buf[i + m] for m in range(fd)])
                    for name, i in where.items() if name != "sobel"}
            if outs:
                _derivative_features(padded[sigma][halo], axes, spacing, outs)
        # As 2D (voxels, features): a block is whole rows of the output, so
        # this is a view (setting .shape raises rather than copy).
        flat = o.view()
        flat.shape = (-1, n_out)
        planes = buf.reshape(n_out, -1)
        for k0 in range(0, n_out, _INTERLEAVE):
            np.copyto(flat[:, k0:k0 + _INTERLEAVE], planes[k0:k0 + _INTERLEAVE].T)

    _map(pool, run, _block_tasks(chan.shape))


def _zscore(out, pool):
    """Z-score each feature in place (statistics in float64, slab by slab)."""
    F = out.shape[-1]
    flat = out.reshape(-1, F)
    step = max(1, _BLOCK * 4 // F)
    s = np.zeros(F)
    ss = np.zeros(F)
    for i in range(0, flat.shape[0], step):
        block = flat[i:i + step].astype(np.float64)
        s += block.sum(axis=0)
        ss += np.einsum("ij,ij->j", block, block)
    n = flat.shape[0]
    mean = s / n
    std = np.sqrt(np.maximum(ss / n - mean * mean, 0))
    std[std <= 1e-12 * np.maximum(1, np.abs(mean))] = 1  # constant feature
    mean32, inv32 = mean.astype(np.float32), (1 / std).astype(np.float32)

    def run(i):
        blk = flat[i:i + step]
        blk -= mean32
        blk *= inv32

    _map(pool, run, range(0, flat.shape[0], step))


@contextmanager
def _pool(num_workers):
    n = num_workers or os.cpu_count() or 1
    if n <= 1:
        yield None
    else:
        with ThreadPoolExecutor(max_workers=n) as pool:
            yield pool


def _prepare(image, channel_axis, spacing):
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
    data = np.asarray(data, dtype=np.float32)
    data, _ = fill_non_finite(data)
    ndim = data.ndim - 1
    if spacing is None:
        spacing = (1.0,) * ndim
    spacing = tuple(float(s) for s in np.broadcast_to(np.asarray(spacing, float), (ndim,))) \
        if np.ndim(spacing) == 0 else tuple(float(s) for s in spacing)
    if len(spacing) != ndim or not all(np.isfinite(s) and s > 0 for s in spacing):
        raise ValueError(
            f"spacing must be {ndim} positive numbers, one per spatial axis; got {spacing}"
        )
    return data, spacing


def _normalize_region(region, shape):
    if not isinstance(region, tuple):
        region = (region,)
    if len(region) > len(shape):
        raise ValueError(f"region {region} has more axes than the image {shape}")
    region = region + (slice(None),) * (len(shape) - len(region))
    slices, squeeze = [], []
    for a, (r, n) in enumerate(zip(region, shape)):
        if isinstance(r, slice):
            start, stop, step = r.indices(n)
            if step != 1 or stop <= start:
                raise ValueError(f"region along axis {a} must be a non-empty step-1 slice; got {r}")
            slices.append(slice(start, stop))
        else:
            i = int(r)
            if not -n <= i < n:
                raise ValueError(f"region index {i} is out of range for axis {a} of size {n}")
            i %= n
            slices.append(slice(i, i + 1))
            squeeze.append(a)
    return tuple(slices), tuple(squeeze)


def compute_features(
    image,
    spec=None,
    *,
    spacing=None,
    channel_axis=None,
    num_workers=None,
    region=None,
) -> np.ndarray:
    """Compute a stack of filter responses for every pixel.

    Parameters
    ----------
    image : array-like
        2D or 3D spatial image, plus one channel axis if ``channel_axis``
        is given. Non-finite pixels are replaced by the channel's finite
        mean before filtering (see :func:`fill_non_finite`).
    spec : FeatureSpec, str or None, optional
        The filters; a preset name (see :data:`PRESETS`) or ``None`` for
        the default preset.
    spacing : float or sequence of float, optional
        Physical size of a voxel along each spatial axis; σ are in these
        units, so an anisotropic volume gets a different σ in voxels per
        axis. ``None`` means 1 per axis.
    channel_axis : int, optional
        Axis of ``image`` that holds channels; each channel is filtered
        separately.
    num_workers : int, optional
        Threads used for filtering; ``None`` uses all cores.
    region : tuple of slice or int, optional
        Compute only this block of the spatial axes (e.g. ``(12,)`` for
        slice 12 of a volume, for a live preview). The block is filtered
        with enough margin that it equals the same region of the full
        computation (except with ``spec.normalize``, whose statistics are
        then the block's). Integer entries drop their axis.

    Returns
    -------
    features : ndarray of float32, C-contiguous, shape ``spatial + (n_features,)``
        ``n_features = spec.n_features(n_channels, ndim)``, ordered as
        :meth:`FeatureSpec.names`.

    Raises
    ------
    ValueError
        If the image is not 2D/3D spatial, ``spacing`` does not match, a
        channel has no finite pixel, or a σ needs a kernel larger than the
        image.

    Examples
    --------
    >>> img = np.zeros((32, 32)); img[8:24, 8:24] = 1
    >>> compute_features(img, "minimal").shape
    (32, 32, 2)
    >>> vol = np.zeros((8, 32, 32))
    >>> spec = FeatureSpec((("hessian_eigenvalues", 1.0),))
    >>> compute_features(vol, spec).shape
    (8, 32, 32, 3)
    >>> compute_features(vol, spec, region=(4,)).shape
    (32, 32, 3)
    """
    spec = _resolve_spec(spec)
    data, spacing = _prepare(image, channel_axis, spacing)
    shape = data.shape[:-1]
    plan = _Plan(spec, shape, spacing)  # validates σ against the full image
    if region is not None:
        slices, squeeze = _normalize_region(region, shape)
        crop = tuple(slice(max(0, s.start - h), min(n, s.stop + h))
                     for s, h, n in zip(slices, plan.halo, shape))
        inner = tuple(slice(s.start - c.start, s.stop - c.start) for s, c in zip(slices, crop))
        sub = data[crop]
        feats = _compute(sub, _Plan(spec, sub.shape[:-1], spacing, check=False), num_workers)
        feats = feats[inner]
        if squeeze:
            feats = feats.reshape(tuple(n for a, n in enumerate(feats.shape[:-1])
                                        if a not in squeeze) + feats.shape[-1:])
        return np.ascontiguousarray(feats)
    return _compute(data, plan, num_workers)


def _compute(data, plan, num_workers):
    n_channels = data.shape[-1]
    shape = data.shape[:-1]
    fc = plan.spec.n_features(1, len(shape))
    out = np.empty(shape + (fc * n_channels,), np.float32)
    with _pool(num_workers) as pool:
        for c in range(n_channels):
            chan = np.ascontiguousarray(data[..., c])
            _compute_channel(chan, plan, out[..., c * fc:(c + 1) * fc], pool)
        if plan.spec.normalize:
            _zscore(out, pool)
    return out


def compute_features_block(image, spec, region, **kwargs) -> np.ndarray:
    """Features of one block (e.g. the current slice) of ``image``.

    Same as ``compute_features(image, spec, region=region, **kwargs)``: the
    block is computed with a margin of about 4σ, so it equals the same
    region of the full computation.

    Parameters
    ----------
    image : array-like
        See :func:`compute_features`.
    spec : FeatureSpec, str or None
        See :func:`compute_features`.
    region : tuple of slice or int
        The block along the leading spatial axes; integers drop their axis.
    **kwargs
        ``spacing``, ``channel_axis``, ``num_workers``.

    Returns
    -------
    features : ndarray of float32, shape ``block_shape + (n_features,)``

    Examples
    --------
    >>> vol = np.random.default_rng(0).random((16, 24, 24))
    >>> full = compute_features(vol, "minimal")
    >>> block = compute_features_block(vol, "minimal", (slice(4, 6),))
    >>> bool(np.allclose(block, full[4:6]))
    True
    """
    return compute_features(image, spec, region=region, **kwargs)


def feature_halo(spec, shape, spacing=None) -> list[int]:
    """Margin (voxels per axis) the features of a region read around it.

    Also checks every σ of ``spec`` against the image ``shape``: a region
    computed with this margin gives the whole image's values.

    Raises
    ------
    ValueError
        For a σ whose kernel exceeds the image (what :func:`compute_features`
        raises).
    """
    spec = _resolve_spec(spec)
    if spacing is None or np.ndim(spacing) == 0:
        spacing = (1.0 if spacing is None else float(spacing),) * len(shape)
    return list(_Plan(spec, tuple(int(n) for n in shape),
                      tuple(float(s) for s in spacing)).halo)


def _seed_boxes(coords, shape, halo):
    """Boxes to compute features in: ``[(rows, box)]``, ``box=None`` = whole image.

    One box per run of consecutive seeded slices of a volume (strokes sit on a
    few slices), one for a 2D image. Each box is computed with a margin of
    ``halo`` voxels per axis, so neighbouring boxes whose margins overlap are
    merged when that is cheaper, and the whole image is used when the boxes
    would cost as much.
    """
    n = coords[0].size

    def cost(lo, hi):
        return math.prod(min(size, b + h) - max(0, a - h)
                         for a, b, h, size in zip(lo, hi, halo, shape))

    def bounds(rows):
        return ([int(c[rows].min()) for c in coords], [int(c[rows].max()) + 1 for c in coords])

    if len(shape) == 2:
        runs = [np.arange(n)]
    else:
        slices = np.unique(coords[0])
        breaks = slices[1:][np.diff(slices) > 1]
        run = np.searchsorted(breaks, coords[0], side="right")
        runs = [np.flatnonzero(run == r) for r in range(breaks.size + 1)]
    merged = []  # [rows, lo, hi], runs in slice order
    for rows in runs:
        lo, hi = bounds(rows)
        if merged:
            last = merged[-1]
            both_lo = [min(a, b) for a, b in zip(last[1], lo)]
            both_hi = [max(a, b) for a, b in zip(last[2], hi)]
            if cost(both_lo, both_hi) <= cost(last[1], last[2]) + cost(lo, hi):
                merged[-1] = [np.concatenate([last[0], rows]), both_lo, both_hi]
                continue
        merged.append([rows, lo, hi])
    if sum(cost(lo, hi) for _, lo, hi in merged) >= math.prod(shape):
        return [(np.arange(n), None)]
    return [(rows, tuple(slice(a, b) for a, b in zip(lo, hi))) for rows, lo, hi in merged]


def seed_features(image, seeds, spec, *, spacing=None, channel_axis=None,
                 max_per_class=5000, random_state=0):
    """Features at (a balanced subset of) the seed pixels, computed around them only.

    Features are computed for the bounding box of the chosen seed pixels
    (for a volume: one box per run of consecutive seeded slices, merged where
    their margins overlap) with the margin :func:`compute_features` adds, so
    the values equal those of the whole image while the cost follows the
    seeds; when the boxes would cost as much as the image, the whole image
    is computed once.

    Parameters
    ----------
    image : ndarray
        2D/3D image, plus ``channel_axis`` if it has channels.
    seeds : ndarray of int, shape ``spatial``
        0 = not seeded.
    spec : FeatureSpec or str
        The features. Z-scoring is left out (its statistics would be the
        boxes', not the image's); scores of tree-based rankings do not
        depend on it.
    spacing, channel_axis
        As in :func:`compute_features`.
    max_per_class : int, optional
        Seed pixels kept per class (see ``balanced_seed_indices``).
    random_state : int, optional
        Seed of that subsampling.

    Returns
    -------
    X : ndarray of float32, shape (n_samples, n_features)
    y : ndarray, shape (n_samples,)
        The seed labels.

    Raises
    ------
    ValueError
        If ``seeds`` does not have the image's spatial shape, or what
        :func:`compute_features` raises.
    """
    spec = PRESETS[spec] if isinstance(spec, str) else spec
    spec = replace(spec, normalize=False)
    data = np.asarray(image)
    shape = data.shape if channel_axis is None else np.delete(data.shape, channel_axis)
    shape = tuple(int(n) for n in shape)
    seeds = np.asarray(seeds)
    if seeds.shape != shape:
        raise ValueError(f"seeds must have the image's spatial shape {shape}; "
                         f"got {seeds.shape}")
    from .training import balanced_seed_indices

    index, _ = balanced_seed_indices(seeds, max_per_class=max_per_class,
                                     random_state=random_state)
    coords = np.unravel_index(index, shape)
    y = seeds.ravel()[index]
    n_channels = 1 if channel_axis is None else data.shape[channel_axis]
    X = np.empty((index.size, spec.n_features(n_channels, len(shape))), np.float32)
    if index.size == 0:
        return X, y
    if spacing is None or np.ndim(spacing) == 0:
        spacing = (1.0 if spacing is None else float(spacing),) * len(shape)
    halo = feature_halo(spec, shape, spacing)  # checks every σ
    for rows, box in _seed_boxes(coords, shape, halo):
        feats = compute_features(data, spec, spacing=spacing, channel_axis=channel_axis,
                                 region=box)
        local = tuple(c[rows] - (0 if box is None else b.start) for c, b in
                      zip(coords, box or (None,) * len(shape)))
        X[rows] = feats[local]
    return X, y


def total_ram() -> int:
    """Bytes of physical memory (8 GiB if the system will not say)."""
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except ImportError:
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


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


# --------------------------------------------------------------------------
# Channel reduction, feature ranking


def reduce_channels(image, n_components: int, *, channel_axis: int = -1,
                    max_samples: int = 200_000, random_state: int = 0) -> np.ndarray:
    """Project many channels (e.g. a spectral stack) on their principal components.

    Parameters
    ----------
    image : array-like
        Image with a channel axis.
    n_components : int
        Number of principal components to keep (≤ number of channels).
    channel_axis : int, optional
        Axis holding the channels.
    max_samples : int, optional
        Pixels (a fixed random subset) used to estimate the covariance.
    random_state : int, optional
        Seed of that subset.

    Returns
    -------
    reduced : ndarray of float32, shape ``spatial + (n_components,)``
        Components by decreasing variance, channel axis last; signs are
        fixed so that each component's largest loading is positive.

    Raises
    ------
    ValueError
        If ``n_components`` is not in ``1..n_channels``.

    Examples
    --------
    >>> cube = np.random.default_rng(0).random((20, 20, 30))
    >>> reduce_channels(cube, 3).shape
    (20, 20, 3)
    """
    data = np.moveaxis(np.asarray(image, dtype=np.float32), channel_axis, -1)
    C = data.shape[-1]
    if not 1 <= int(n_components) <= C:
        raise ValueError(f"n_components must be in 1..{C} (the number of channels); "
                         f"got {n_components}")
    flat = data.reshape(-1, C)
    rng = np.random.default_rng(random_state)
    sample = flat if flat.shape[0] <= max_samples else flat[
        np.sort(rng.choice(flat.shape[0], max_samples, replace=False))]
    sample = sample.astype(np.float64)
    mean = sample.mean(axis=0)
    cov = np.cov(sample - mean, rowvar=False).reshape(C, C)
    w, v = np.linalg.eigh(cov)
    v = v[:, ::-1][:, :int(n_components)]
    v *= np.sign(v[np.abs(v).argmax(axis=0), np.arange(v.shape[1])])
    out = (flat - mean.astype(np.float32)) @ v.astype(np.float32)
    return out.reshape(data.shape[:-1] + (v.shape[1],)).astype(np.float32, copy=False)


def rank_features(X, y, names=None, *, method: str = "forest", n_estimators: int = 100,
                  cv: int = 3, random_state: int = 0) -> list[tuple[str, float]]:
    """Score each feature from seed samples, best first.

    Parameters
    ----------
    X : array-like, shape (n_samples, n_features)
        Features of the seed pixels.
    y : array-like, shape (n_samples,)
        Their labels.
    names : sequence of str, optional
        Feature names (e.g. :meth:`FeatureSpec.names`); default ``"f0"``...
    method : {"forest", "drop_one"}, optional
        ``"forest"``: random-forest impurity importances (fast).
        ``"drop_one"``: cross-validated accuracy lost when the feature is
        removed (slower, one forest per feature).
    n_estimators : int, optional
        Trees per forest.
    cv : int, optional
        Folds for ``"drop_one"``.
    random_state : int, optional
        Seed; the ranking is deterministic.

    Returns
    -------
    ranking : list of (str, float)
        ``(name, score)`` sorted by decreasing score.

    Raises
    ------
    ValueError
        For mismatched shapes, fewer than two classes or an unknown method.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3)); y = (X[:, 1] > 0).astype(int)
    >>> rank_features(X, y, ["a", "b", "c"])[0][0]
    'b'
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"X must be (n_samples, n_features) and y (n_samples,); got "
                         f"{X.shape} and {y.shape}")
    if np.unique(y).size < 2:
        raise ValueError("ranking features needs seeds of at least two classes")
    names = [f"f{i}" for i in range(X.shape[1])] if names is None else list(names)
    if len(names) != X.shape[1]:
        raise ValueError(f"{len(names)} names for {X.shape[1]} features")

    def forest():
        return RandomForestClassifier(n_estimators=n_estimators, random_state=random_state,
                                      n_jobs=1)

    if method == "forest":
        scores = forest().fit(X, y).feature_importances_
    elif method == "drop_one":
        folds = StratifiedKFold(cv, shuffle=True, random_state=random_state)
        base = cross_val_score(forest(), X, y, cv=folds).mean()
        scores = np.array([
            base - cross_val_score(forest(), np.delete(X, i, axis=1), y, cv=folds).mean()
            for i in range(X.shape[1])
        ])
    else:
        raise ValueError(f"method must be 'forest' or 'drop_one'; got {method!r}")
    order = sorted(range(len(names)), key=lambda i: (-scores[i], i))
    return [(names[i], float(scores[i])) for i in order]


def suggest_features(X, y, spec, *, n_channels: int = 1, ndim: int = 2,
                     max_filters: int = 6, keep_intensity: bool = True,
                     random_state: int = 0) -> FeatureSpec:
    """A smaller spec: the ``max_filters`` most useful (filter, σ) entries.

    Forest importances of the features (see :func:`rank_features`) are
    summed over the outputs of each spec entry (channels, eigenvalues).

    Parameters
    ----------
    X, y : array-like
        Seed features (computed with ``spec``) and labels.
    spec : FeatureSpec or str
        The spec ``X`` was computed with.
    n_channels, ndim : int, optional
        Image channels and spatial dimensions (to map columns to entries).
    max_filters : int, optional
        Number of entries to keep.
    keep_intensity : bool, optional
        Always keep ``intensity`` if the spec has it (it is free).
    random_state : int, optional
        Seed of the forest.

    Returns
    -------
    FeatureSpec
        The chosen entries in their original order, same mode and
        normalisation.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> spec = FeatureSpec((("intensity", 0), ("gaussian", 1), ("gaussian", 2)))
    >>> X = rng.normal(size=(100, 3)); y = (X[:, 2] > 0).astype(int)
    >>> suggest_features(X, y, spec, max_filters=1, keep_intensity=False).filters
    (('gaussian', 2.0),)
    """
    spec = _resolve_spec(spec)
    entry = spec.entry_of_feature(n_channels, ndim)
    X = np.asarray(X)
    if X.shape[1] != entry.size:
        raise ValueError(f"X has {X.shape[1]} features but {spec} gives {entry.size} "
                         f"for n_channels={n_channels}, ndim={ndim}")
    ranking = rank_features(X, y, [str(i) for i in range(X.shape[1])],
                            random_state=random_state)
    per_entry = np.zeros(len(spec.filters))
    for name, score in ranking:
        per_entry[entry[int(name)]] += score
    order = sorted(range(len(spec.filters)), key=lambda i: (-per_entry[i], i))
    keep = set(order[:max(1, int(max_filters))])
    if keep_intensity:
        keep |= {i for i, (n, _) in enumerate(spec.filters) if n == "intensity"}
    chosen = tuple(f for i, f in enumerate(spec.filters) if i in keep)
    return FeatureSpec(chosen, mode=spec.mode, normalize=spec.normalize)
