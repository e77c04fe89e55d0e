"""Resampling to another voxel size (isotropic or chosen), keeping the origin.

Voxel centre 0 stays where it is and the new grid steps by the new spacing,
so a resampled layer keeps its ``translate`` and takes ``new_spacing`` as its
``scale``. Images interpolate (linear by default); label maps take the nearest
voxel (``order=0``), so no new label values appear.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["resample", "resampled_shape", "isotropic_spacing", "MAX_OUTPUT_VOXELS"]

#: Refuse outputs beyond this many voxels (a typo in the spacing, not a wish).
MAX_OUTPUT_VOXELS = 1_500_000_000


def isotropic_spacing(spacing) -> tuple:
    """The isotropic voxel size that keeps the finest axis: ``(min,) * ndim``.

    Examples
    --------
    >>> isotropic_spacing((6.5, 0.78, 0.78))
    (0.78, 0.78, 0.78)
    """
    spacing = tuple(float(s) for s in spacing)
    return (min(spacing),) * len(spacing)


def _spacing(values, ndim, what):
    try:
        values = tuple(float(v) for v in values)
    except TypeError:
        values = (float(values),) * ndim
    if len(values) != ndim or any(not np.isfinite(v) or v <= 0 for v in values):
        raise ValueError(f"{what} needs {ndim} positive values (one per spatial axis); "
                         f"got {values}")
    return values


def resampled_shape(shape, spacing, new_spacing) -> tuple:
    """Shape of the new grid: every new voxel centre inside the old extent.

    Examples
    --------
    >>> resampled_shape((23, 256, 256), (6.5, 0.78125, 0.78125), (0.78125,) * 3)
    (184, 256, 256)
    """
    spacing = _spacing(spacing, len(shape), "spacing")
    new_spacing = _spacing(new_spacing, len(shape), "new_spacing")
    return tuple(int(np.floor((n - 1) * s / t + 1e-6)) + 1
                 for n, s, t in zip(shape, spacing, new_spacing, strict=False))


def resample(image, spacing, new_spacing, *, order=1, channel_axis=None):
    """Resample an image or label map to a new voxel size.

    Parameters
    ----------
    image : array_like
        2D or 3D array (plus a channel axis if ``channel_axis`` is given).
    spacing : sequence of float
        Current voxel size per spatial axis (mm).
    new_spacing : float or sequence of float
        Wanted voxel size (a single number: isotropic).
    order : int, default 1
        Spline order: 1 linear (images), 0 nearest (label maps), up to 5.
    channel_axis : int, optional
        Axis of channels, resampled independently.

    Returns
    -------
    numpy.ndarray
        The resampled array; float32 for interpolated integer images, the
        input dtype otherwise (always for ``order=0``).

    Raises
    ------
    ValueError
        Bad spacing or order, or an output beyond :data:`MAX_OUTPUT_VOXELS`.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.arange(3 * 2 * 2, dtype=float).reshape(3, 2, 2)
    >>> resample(image, (2.0, 1.0, 1.0), 1.0)[:, 0, 0]
    array([0., 2., 4., 6., 8.])
    >>> labels = np.array([[0, 1], [2, 2]])
    >>> resample(labels, (3.0, 1.0), (1.0, 1.0), order=0)
    array([[0, 1],
           [0, 1],
           [2, 2],
           [2, 2]])
    """
    image = np.asarray(image)
    if not isinstance(order, (int, np.integer)) or not 0 <= order <= 5:
        raise ValueError(f"order must be an integer from 0 to 5; got {order!r}")
    if channel_axis is not None:
        moved = np.moveaxis(image, channel_axis, -1)
        channels = [resample(moved[..., c], spacing, new_spacing, order=order)
                    for c in range(moved.shape[-1])]
        return np.moveaxis(np.stack(channels, axis=-1), -1, channel_axis)
    if image.ndim not in (2, 3):
        raise ValueError(f"resample needs a 2D or 3D array (or channel_axis); got shape "
                         f"{image.shape}")
    spacing = _spacing(spacing, image.ndim, "spacing")
    new_spacing = _spacing(new_spacing, image.ndim, "new_spacing")
    shape = resampled_shape(image.shape, spacing, new_spacing)
    if int(np.prod(shape, dtype=np.int64)) > MAX_OUTPUT_VOXELS:
        raise ValueError(f"resampling {image.shape} from {spacing} to {new_spacing} mm gives "
                         f"{shape} voxels, more than {MAX_OUTPUT_VOXELS:,}; choose a coarser "
                         "spacing")
    if order == 0 or image.dtype.kind == "f":
        dtype = image.dtype
    else:
        dtype = np.float32
    source = image if order == 0 or image.dtype.kind == "f" else image.astype(np.float32)
    if source.dtype.kind == "b":
        source = source.astype(np.uint8)
    matrix = np.asarray(new_spacing) / np.asarray(spacing)
    out = ndimage.affine_transform(source, matrix, output_shape=shape, order=order,
                                   mode="nearest", prefilter=order > 1)
    return out.astype(dtype, copy=False)
