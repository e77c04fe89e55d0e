"""Synthetic images with known ground truth, for sample data, tests and benchmarks.

The phantoms imitate an MR slice or volume: smooth tissue classes,
partial-volume borders (rendered at 2× resolution, then averaged), a
multiplicative bias field and Gaussian noise.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

__all__ = ["CLASS_NAMES", "tissue_phantom", "scribble_seeds"]

#: Ground-truth values 0, 1, 2 of the phantoms, by name.
CLASS_NAMES = ("background", "tissue", "fluid")
_MEANS = np.array([0.08, 0.45, 0.85], np.float32)


def _label_map(coords, rng, n_lesions):
    """Class of each point; ``coords`` are normalised to [-1, 1] per axis."""
    ndim = len(coords)

    def ellipsoid(centre, radii):
        r = sum(((c - m) / s) ** 2 for c, m, s in zip(coords, centre, radii))
        return r <= 1.0

    zero = (0.0,) * ndim
    head = ellipsoid(zero, (0.85,) * (ndim - 2) + (0.8, 0.65))
    labels = head.astype(np.uint8)
    # Two ventricles and small round lesions, all "fluid".
    for side in (-1, 1):
        centre = (0.0,) * (ndim - 2) + (-0.05, side * 0.17)
        labels[ellipsoid(centre, (0.35,) * (ndim - 2) + (0.28, 0.09))] = 2
    for _ in range(n_lesions):
        angle = rng.uniform(0, 2 * np.pi)
        radius = rng.uniform(0.25, 0.5)
        centre = tuple(rng.uniform(-0.4, 0.4, ndim - 2)) + (
            0.8 * radius * np.sin(angle), 0.65 * radius * np.cos(angle))
        size = rng.uniform(0.04, 0.07)
        labels[ellipsoid(centre, (size * 1.5,) * (ndim - 2) + (size, size))] = 2
    labels[~head] = 0
    return labels


def tissue_phantom(shape=(256, 256), *, noise=0.06, bias=0.15, n_lesions=6,
                   random_state=0):
    """An MR-like image of three classes with its ground truth.

    Parameters
    ----------
    shape : tuple of int, 2 or 3 entries
        Output shape (``(nz, ny, nx)`` for a volume).
    noise : float, default 0.06
        Standard deviation of the additive Gaussian noise (class means are
        0.08, 0.45 and 0.85).
    bias : float, default 0.15
        Amplitude of the smooth multiplicative bias field (0 for none).
    n_lesions : int, default 6
        Small round "fluid" spots inside the tissue.
    random_state : int, default 0

    Returns
    -------
    image : ndarray of float32, ``shape``
    truth : ndarray of uint8, ``shape``
        0 background, 1 tissue, 2 fluid (see :data:`CLASS_NAMES`).

    Examples
    --------
    >>> image, truth = tissue_phantom((64, 64))
    >>> image.shape, sorted(set(truth.ravel().tolist()))
    ((64, 64), [0, 1, 2])
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3) or min(shape) < 4:
        raise ValueError(f"shape must be 2 or 3 sizes of at least 4; got {shape}")
    rng = np.random.default_rng(random_state)
    # Render at 2x, average to 1x: partial volume at every border.
    fine = [np.linspace(-1, 1, 2 * n, dtype=np.float32) for n in shape]
    fine_labels = _label_map(np.meshgrid(*fine, indexing="ij", sparse=True), rng,
                             n_lesions)
    fine_image = _MEANS[fine_labels]
    blocks = tuple(x for n in shape for x in (n, 2))
    image = fine_image.reshape(blocks).mean(axis=tuple(range(1, 2 * len(shape), 2)))
    coarse = [np.linspace(-1, 1, n, dtype=np.float32) for n in shape]
    truth = _label_map(np.meshgrid(*coarse, indexing="ij", sparse=True),
                       np.random.default_rng(random_state), n_lesions)
    # Smooth multiplicative bias: a random low-order polynomial.
    grid = np.meshgrid(*coarse, indexing="ij", sparse=True)
    field = np.ones(shape, np.float32)
    for g in grid:
        field = field + bias * rng.uniform(-1, 1) * g
    field = field + 0.5 * bias * rng.uniform(-1, 1) * grid[-1] * grid[-2]
    image = image * field + rng.normal(0, noise, shape).astype(np.float32)
    return image.astype(np.float32), truth


def scribble_seeds(truth, *, strokes_per_class=2, length=20, margin=3,
                   random_state=0, label_offset=1):
    """Short straight strokes inside each class, like a user's scribbles.

    Parameters
    ----------
    truth : ndarray of int
        Ground truth, 2D or 3D.
    strokes_per_class : int, default 2
    length : int, default 20
        Stroke length in pixels (in-plane, along the last axis).
    margin : int, default 3
        Strokes stay this far inside their class (erosion).
    random_state : int, default 0
    label_offset : int, default 1
        Seed label = truth value + ``label_offset`` (seeds start at 1).

    Returns
    -------
    seeds : ndarray of uint8, same shape as ``truth``
    """
    truth = np.asarray(truth)
    rng = np.random.default_rng(random_state)
    seeds = np.zeros(truth.shape, np.uint8)
    for value in np.unique(truth):
        inside = ndi.binary_erosion(truth == value, iterations=margin)
        if not inside.any():
            inside = truth == value
        points = np.argwhere(inside)
        for _ in range(strokes_per_class):
            start = points[rng.integers(len(points))]
            for step in range(length):
                p = start.copy()
                p[-1] = start[-1] + step - length // 2
                if 0 <= p[-1] < truth.shape[-1] and inside[tuple(p)]:
                    seeds[tuple(p)] = value + label_offset
    return seeds
