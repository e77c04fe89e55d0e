"""Checks of what callers give at the public entry points: image, seeds, spacing, channel axis.

Each check is written once, with the message callers and the widgets show:
what was given and what to do. The core checks at its public entry points
only (:func:`napari_seglab.segment`, :class:`~napari_seglab.core.pipeline.SeededModel`'s
``fit`` / ``predict`` and their generators); inner steps trust their input.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

__all__ = [
    "FLOAT32_MAX", "check_channel_axis", "check_image", "check_seeds", "check_spacing",
    "image_layout",
]

#: Largest float32: finite float64 values beyond it become ±inf, i.e. missing.
FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_channel_axis(channel_axis, ndim: int) -> int | None:
    """``channel_axis`` as a non-negative axis of an ``ndim``-axis array, or None.

    Raises
    ------
    TypeError
        Not an int (nor None).
    ValueError
        Out of range.

    Examples
    --------
    >>> check_channel_axis(-1, 3), check_channel_axis(None, 2)
    (2, None)
    """
    if channel_axis is None:
        return None
    if isinstance(channel_axis, bool) or not isinstance(channel_axis, (int, np.integer)):
        raise TypeError(f"channel_axis must be an int or None; got {channel_axis!r}")
    if not -ndim <= channel_axis < ndim:
        raise ValueError(
            f"channel_axis={channel_axis} is out of range for an image with {ndim} axes"
        )
    return int(channel_axis) % ndim


def image_layout(image, channel_axis=None):
    """Check an image's dtype and shape without copying it.

    Returns
    -------
    view : ndarray
        ``image`` with its channel axis last (a view: no data is read).
    spatial : tuple of int
    n_channels : int

    Raises
    ------
    TypeError, ValueError
        As :func:`check_image`.
    """
    data = image if isinstance(image, np.ndarray) else np.asarray(image)
    if data.dtype == object or data.dtype.kind not in "biuf":
        raise TypeError(
            f"image must hold real numbers (bool, int or float); got dtype {data.dtype}"
        )
    axis = check_channel_axis(channel_axis, data.ndim)
    data = data[..., np.newaxis] if axis is None else np.moveaxis(data, axis, -1)
    spatial = data.shape[:-1]
    if len(spatial) not in (2, 3):
        hint = (" (a time series or stack of channels? give channel_axis, or pick one "
                "time point)" if len(spatial) == 4 else "")
        raise ValueError(
            f"image must be 2D or 3D spatially; got {len(spatial)} spatial axes, "
            f"shape {spatial}{hint}"
        )
    if data.shape[-1] == 0:
        raise ValueError(
            f"image has no channels (axis {channel_axis} has length 0); give an image "
            "with at least one channel"
        )
    if min(spatial) < 2:
        raise ValueError(f"image must be at least 2 pixels along each axis; got {spatial}")
    return data, spatial, int(data.shape[-1])


def float32_copy_bytes(image, channel_axis=None) -> int:
    """Bytes :func:`check_image` allocates for its float32 copy (0 when none is made).

    Examples
    --------
    >>> float32_copy_bytes(np.zeros((10, 10), np.uint8))
    400
    >>> float32_copy_bytes(np.zeros((10, 10), np.float32))
    0
    """
    data, _, _ = image_layout(image, channel_axis)
    if data.dtype == np.float32 and data.flags.c_contiguous:
        return 0
    return 4 * math.prod(data.shape)


def check_image(image, channel_axis=None) -> np.ndarray:
    """Validate ``image`` and return it as ``spatial + (C,)`` float32, C-contiguous.

    Finite float64 values beyond float32's range (±3.4e38) become ±inf, so
    missing: a UserWarning says how many and why.

    Parameters
    ----------
    image : array-like
        2D or 3D spatially, plus one channel axis if ``channel_axis`` is given.
    channel_axis : int, optional

    Returns
    -------
    ndarray of float32, shape ``spatial + (C,)``
        ``image`` itself when it already is that (no copy).

    Raises
    ------
    TypeError
        Non-numeric or complex data, a ``channel_axis`` that is not an int.
    ValueError
        A spatial part that is not 2D or 3D, fewer than 2 pixels along an
        axis, no channel, a ``channel_axis`` out of range.

    Examples
    --------
    >>> check_image(np.zeros((4, 5, 3), np.uint8), channel_axis=-1).shape
    (4, 5, 3)
    >>> check_image(np.zeros((4, 5))).dtype
    dtype('float32')
    """
    data, _, _ = image_layout(image, channel_axis)
    source = data
    with np.errstate(over="ignore", invalid="ignore"):
        data = np.ascontiguousarray(data, dtype=np.float32)
    if source.dtype.kind == "f" and source.dtype.itemsize > 4:
        inf = np.isinf(data)
        if inf.any():
            beyond = int(np.count_nonzero(inf & np.isfinite(source)))
            if beyond:
                warnings.warn(
                    f"{beyond} pixel value(s) lie beyond float32's range (±3.4e38) and are "
                    "treated as missing (label 0, not used for training); rescale the "
                    "image to keep them", UserWarning, stacklevel=3)
    return data


def check_seeds(seeds, spatial_shape) -> np.ndarray | None:
    """Validate seeds against the image's spatial shape; ``None`` passes through.

    Returns
    -------
    ndarray of int or None
        The seeds themselves (bool seeds as int64); never modified.

    Raises
    ------
    TypeError
        Not integer labels.
    ValueError
        Another shape, negative labels, labels at or above 2**63.

    Examples
    --------
    >>> check_seeds(np.array([[0, 1], [2, 0]]), (2, 2)).tolist()
    [[0, 1], [2, 0]]
    """
    if seeds is None:
        return None
    s = np.asarray(seeds)
    if not (np.issubdtype(s.dtype, np.integer) or s.dtype == bool):
        raise TypeError(
            f"seeds must hold integer labels (0 = not seeded); got dtype {s.dtype}"
        )
    if s.shape != tuple(spatial_shape):
        raise ValueError(
            f"seeds must have the image's spatial shape {tuple(spatial_shape)}; "
            f"got {s.shape}"
        )
    if s.dtype == bool:
        return s.astype(np.int64)
    if s.size and s.dtype.kind == "i" and s.min() < 0:
        raise ValueError(f"seed labels must be >= 0 (0 = not seeded); got {s.min()}")
    if s.size and s.dtype == np.uint64 and s.max() >= 2**63:
        raise ValueError(
            f"seed labels must be below 2**63; got {int(s.max())} (relabel the seeds "
            "with smaller numbers)"
        )
    return s


def check_spacing(spacing, ndim: int) -> tuple[float, ...] | None:
    """Spacing (the layer scale) as ``ndim`` positive floats, or None.

    A single number is isotropic. A negative value (a flipped napari layer
    has a negative scale) counts as its absolute value: the filters only
    need sizes.

    Raises
    ------
    TypeError
        Values that are not numbers.
    ValueError
        Another count than ``ndim``, zero or non-finite values.

    Examples
    --------
    >>> check_spacing(2.0, 3)
    (2.0, 2.0, 2.0)
    >>> check_spacing((-0.5, 1), 2)
    (0.5, 1.0)
    """
    if spacing is None:
        return None
    if isinstance(spacing, str):
        raise TypeError(f"spacing (the layer scale) must hold numbers; got {spacing!r}")
    if isinstance(spacing, (numbers.Real, np.number)) and not isinstance(spacing, bool):
        values = (spacing,) * ndim
    else:
        try:
            values = tuple(spacing)
        except TypeError:
            raise TypeError(
                f"spacing (the layer scale) must be a number or {ndim} numbers; "
                f"got {spacing!r}") from None
    if any(isinstance(v, (bool, np.bool_)) or not isinstance(v, (numbers.Real, np.number))
           for v in values):
        raise TypeError(
            f"spacing (the layer scale) must hold numbers, one per spatial axis; "
            f"got {spacing!r}")
    values = tuple(abs(float(v)) for v in values)
    if len(values) != ndim or not all(math.isfinite(v) and v > 0 for v in values):
        raise ValueError(
            f"spacing (the layer scale) must be {ndim} finite non-zero numbers, one per "
            f"spatial axis; got {spacing!r}"
        )
    return values
