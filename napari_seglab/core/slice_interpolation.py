"""Fill between slices: paint a segment every few slices, interpolate the rest.

Two methods, both exact on the painted slices and never over another segment:

* ``"shape"`` (default, NumPy/SciPy only): shape-based interpolation. Each
  painted slice becomes a signed distance map (negative inside); between two
  consecutive painted slices the maps are blended linearly and the segment is
  where the blend is ≤ 0. Two discs give a cone frustum. Shapes that do not
  overlap between the two slices shrink towards the middle instead of moving.
* ``"itk"``: ITK's morphological contour interpolation (Albu et al. 2008;
  Zukić et al. 2016), what 3D Slicer's *Fill between slices* uses; it also
  matches shapes that moved or split. Needs the optional package
  ``itk-morphologicalcontourinterpolation``.

References
----------
.. [1] Herman, Zheng & Bucholtz, "Shape-based interpolation", IEEE Computer
       Graphics and Applications 12(3), 1992.
.. [2] Zukić, Vicory, McCormick et al., "ND morphological contour
       interpolation", The Insight Journal, 2016.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .postprocess import _check_labels, _check_spacing, _segments

__all__ = ["INTERPOLATION_METHODS", "fill_between_slices", "itk_available"]

#: Methods of :func:`fill_between_slices`.
INTERPOLATION_METHODS = ("shape", "itk")

_ITK_MISSING = (
    "method='itk' needs ITK's morphological contour interpolation: pip install "
    "'napari-seglab[interpolation]' (or itk-morphologicalcontourinterpolation); "
    "method='shape' needs nothing more"
)


def itk_available() -> bool:
    """Whether ``method="itk"`` can run (the optional ITK package is installed)."""
    try:
        import itk  # noqa: F401
        from itk import MorphologicalContourInterpolator  # noqa: F401
    except (ImportError, AttributeError):
        return False
    return True


def _signed_distance(mask, spacing):
    """Signed distance of a 2D mask (negative inside), the slice's edge as outside."""
    padded = np.pad(mask, 1)
    inside = ndi.distance_transform_edt(padded, sampling=spacing)
    outside = ndi.distance_transform_edt(~padded, sampling=spacing)
    return (outside - inside)[1:-1, 1:-1].astype(np.float32)


def _painted_slices(moved, value, box):
    """Indices (along axis 0 of ``moved``) of the slices where ``value`` is painted."""
    rows = moved[box[0]][(slice(None), *box[1:])] == value
    return box[0].start + np.flatnonzero(rows.any(axis=(1, 2)))


def _interpolate_shape(moved, out, segments, spacing):
    """Shape-based interpolation of every segment, into ``out`` (moved axes)."""
    best = None  # lowest interpolated distance per voxel, when segments compete
    for value, box in segments:
        plane_box = box[1:]
        painted = _painted_slices(moved, value, box)
        for first, last in zip(painted[:-1], painted[1:], strict=True):
            if last - first < 2:
                continue
            region = (slice(None), *plane_box)
            low = _signed_distance(moved[first][plane_box] == value, spacing)
            high = _signed_distance(moved[last][plane_box] == value, spacing)
            for k in range(first + 1, last):
                t = (k - first) / (last - first)
                blend = (1 - t) * low + t * high
                free = moved[k][plane_box] == 0
                take = (blend <= 0) & free
                if len(segments) > 1:
                    if best is None:
                        best = np.full(moved.shape, np.inf, np.float32)
                    here = best[k][region[1:]]
                    take &= blend < here
                    here[take] = blend[take]
                out[k][plane_box][take] = value


def _interpolate_itk(moved, out, segments):
    import itk

    values = [value for value, _ in segments]
    # ITK wraps the filter for 8/16-bit labels: number the segments 1..n.
    compact = np.zeros(moved.shape, np.uint16 if len(values) > 255 else np.uint8)
    for i, value in enumerate(values, 1):
        compact[moved == value] = i
    image = itk.image_from_array(np.ascontiguousarray(compact))
    # numpy axis 0 (the slices) is ITK's last axis
    result = itk.array_from_image(
        itk.morphological_contour_interpolator(image, axis=moved.ndim - 1))
    lookup = np.asarray([0, *values], dtype=out.dtype)
    for i, (value, box) in enumerate(segments, 1):
        painted = np.zeros(moved.shape[0], bool)
        painted[_painted_slices(moved, value, box)] = True
        take = (result == i) & (moved == 0) & ~painted[:, None, None]
        out[take] = lookup[i]


def fill_between_slices(labels, *, label=None, axis=0, spacing=None, method="shape"):
    """Interpolate segments between the slices painted along ``axis``.

    As 3D Slicer's *Fill between slices*: paint a segment on a few slices
    (a slice is painted for a segment when it holds any of its voxels), and
    the slices between two painted ones are filled. Painted slices are left
    exactly as they are, slices before the first and after the last painted
    one are not touched, and only background voxels are filled (another
    segment is never overwritten; where two segments' interpolations meet,
    the one it lies deeper in wins).

    Parameters
    ----------
    labels : ndarray of int, 3D
    label : int, optional
        Interpolate this segment only; by default every segment.
    axis : int, default 0
        The axis across the painted slices.
    spacing : sequence of float, optional
        Voxel size per axis (3 values); the in-plane sizes shape the
        distance maps of ``method="shape"``. Default 1.
    method : {"shape", "itk"}, default "shape"
        Shape-based interpolation of signed distance maps (NumPy/SciPy), or
        ITK's morphological contour interpolation (optional package, see
        :func:`itk_available`).

    Returns
    -------
    ndarray, same shape and dtype as ``labels``

    Raises
    ------
    ValueError
        Labels not 3D, bad ``axis``, ``spacing`` or ``method``; ``label``
        absent or 0.
    ImportError
        ``method="itk"`` without ITK's package (the message says what to
        install).

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.zeros((5, 9, 9), np.uint8)
    >>> labels[0, 2:7, 2:7] = 1       # 5 × 5 on slice 0
    >>> labels[4, 4, 4] = 1           # one voxel on slice 4
    >>> filled = fill_between_slices(labels, label=1)
    >>> (filled == 1).sum(axis=(1, 2)).tolist()
    [25, 25, 9, 1, 1]
    """
    data = _check_labels(labels)
    if data.ndim != 3:
        raise ValueError(f"fill between slices needs a 3D volume; got shape {data.shape}")
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) \
            or not -3 <= axis < 3:
        raise ValueError(f"axis must be 0, 1 or 2; got {axis!r}")
    axis = int(axis) % 3
    if method not in INTERPOLATION_METHODS:
        raise ValueError(f"method must be one of {', '.join(INTERPOLATION_METHODS)}; "
                         f"got {method!r}")
    spacing = _check_spacing(spacing, 3)
    if method == "itk" and not itk_available():
        raise ImportError(_ITK_MISSING)
    segments = _segments(data, label)
    out = data.copy()
    moved = np.moveaxis(data, axis, 0)
    moved_out = np.moveaxis(out, axis, 0)  # a view: writes land in ``out``
    order = [axis] + [i for i in range(3) if i != axis]
    segments = [(value, tuple(box[i] for i in order)) for value, box in segments]
    if not segments:
        return out
    if method == "itk":
        _interpolate_itk(moved, moved_out, segments)
    else:
        _interpolate_shape(moved, moved_out, segments, spacing[order[1:]])
    return out
