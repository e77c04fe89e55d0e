"""Resampling to another voxel size (isotropic or chosen), keeping the origin.

Voxel centre 0 stays where it is and the new grid steps by the new spacing,
so a resampled layer keeps its ``translate`` and takes ``new_spacing`` as its
``scale``. Images interpolate (linear by default); label maps take the nearest
voxel (``order=0``), so no new label values appear.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["resample", "resample_to_axes", "resampled_shape", "isotropic_spacing",
           "MAX_OUTPUT_VOXELS"]

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


def resample_to_axes(image, spacing, origin, direction, *, new_spacing=None, order=1,
                     cval=None):
    """Resample an oblique volume onto a grid aligned with the patient axes.

    Parameters
    ----------
    image : array_like, 3D
        The volume in its own (rotated) array order.
    spacing, origin : sequence of 3 float
        As read (:class:`napari_seglab.io.Volume`): origin projected on the
        volume's axes.
    direction : (3, 3) array_like
        Rows: unit vectors of the array axes in patient (z, y, x).
    new_spacing : float or sequence of 3 float, optional
        Voxel size of the new grid; the finest of ``spacing`` when omitted.
    order : int, default 1
        0 for label maps.
    cval : float, optional
        Value outside the rotated volume; its minimum when omitted (air on CT).

    Returns
    -------
    data : numpy.ndarray
    spacing : tuple of float
    origin : tuple of float
        Patient (z, y, x) position of the new voxel 0; the new direction is
        the identity.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((3, 4, 5)); image[1, 2, 3] = 1
    >>> flipped = [[1, 0, 0], [0, 1, 0], [0, 0, -1]]  # x runs right to left
    >>> data, spacing, origin = resample_to_axes(image, (1, 1, 1), (0, 0, 0), flipped,
    ...                                          order=0)
    >>> data.shape, origin, np.argwhere(data == 1).tolist()
    ((3, 4, 5), (0.0, 0.0, -4.0), [[1, 2, 1]])
    """
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"resample_to_axes needs a 3D volume; got shape {image.shape}")
    spacing = np.asarray(_spacing(spacing, 3, "spacing"))
    origin = np.asarray(origin, float)
    direction = np.asarray(direction, float)
    if direction.shape != (3, 3):
        raise ValueError(f"direction must be 3×3; got shape {direction.shape}")
    new_spacing = np.asarray(_spacing(new_spacing if new_spacing is not None
                                      else min(spacing), 3, "new_spacing"))
    columns = direction.T * spacing  # voxel index -> patient offset
    start = direction.T @ origin  # patient position of voxel 0
    corners = np.array([[i, j, k] for i in (0, image.shape[0] - 1)
                        for j in (0, image.shape[1] - 1) for k in (0, image.shape[2] - 1)])
    points = corners @ columns.T + start
    low, high = points.min(axis=0), points.max(axis=0)
    shape = tuple(int(np.floor((h - lo) / s + 1e-6)) + 1
                  for lo, h, s in zip(low, high, new_spacing, strict=True))
    if int(np.prod(shape, dtype=np.int64)) > MAX_OUTPUT_VOXELS:
        raise ValueError(f"the axis-aligned grid would have {shape} voxels; choose a coarser "
                         "new_spacing")
    inverse = np.linalg.inv(columns)
    matrix = inverse * new_spacing  # output index -> input index
    offset = inverse @ (low - start)
    source = image if order == 0 or image.dtype.kind == "f" else image.astype(np.float32)
    fill = float(image.min()) if cval is None else float(cval)
    out = ndimage.affine_transform(source, matrix, offset=offset, output_shape=shape,
                                   order=order, mode="constant", cval=fill,
                                   prefilter=order > 1)
    if order == 0:
        out = out.astype(image.dtype, copy=False)
    return out, tuple(float(s) for s in new_spacing), tuple(float(v) for v in low)
