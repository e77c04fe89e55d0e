"""Measurements of a segmentation in physical units: per-label statistics, surfaces.

:func:`segment_statistics` gives one row per label (voxel count, volume in
mm³, intensity statistics such as the mean HU on CT, bounding box);
:func:`surface` gives a triangle mesh of one label in mm, for a 3D view or
for its area.
"""

from __future__ import annotations

import csv
import dataclasses
import io

import numpy as np
from scipy import ndimage

__all__ = ["SegmentTable", "segment_statistics", "surface", "surface_area", "COLUMNS"]

#: Columns of :class:`SegmentTable` (``bbox`` is start and stop voxel indices).
COLUMNS = ("label", "voxels", "volume_mm3", "mean", "std", "min", "max", "bbox")


@dataclasses.dataclass
class SegmentTable:
    """Rows of per-label statistics, with a CSV export.

    Attributes
    ----------
    rows : list of dict
        One dict per label, keys :data:`COLUMNS`; the intensity entries are
        ``None`` when no image was given.
    spacing : tuple of float
        The voxel size the volumes were computed with.
    """

    rows: list
    spacing: tuple

    def __len__(self):
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def row(self, label) -> dict:
        """The row of ``label``; KeyError when it is not in the segmentation."""
        for row in self.rows:
            if row["label"] == label:
                return row
        raise KeyError(f"label {label} is not in the table (labels: "
                       f"{[r['label'] for r in self.rows]})")

    def to_csv(self, names=None) -> str:
        """The table as CSV text (bounding box as ``z0 y0 x0 z1 y1 x1``).

        Parameters
        ----------
        names : dict, optional
            Label → name, written as a ``name`` column.
        """
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        header = ["label"] + (["name"] if names else []) + list(COLUMNS[1:])
        writer.writerow(header)
        for row in self.rows:
            values = [row["label"]] + ([names.get(row["label"], "")] if names else [])
            for column in COLUMNS[1:]:
                value = row[column]
                if column == "bbox":
                    value = " ".join(str(v) for v in value)
                elif isinstance(value, float):
                    value = f"{value:.6g}"
                values.append("" if value is None else value)
            writer.writerow(values)
        return buffer.getvalue()


def _check_spacing(spacing, ndim):
    if spacing is None:
        return (1.0,) * ndim
    try:
        spacing = tuple(float(s) for s in spacing)
    except TypeError:
        spacing = (float(spacing),) * ndim
    if len(spacing) != ndim or any(not np.isfinite(s) or s <= 0 for s in spacing):
        raise ValueError(f"spacing needs {ndim} positive values (one per axis of the labels); "
                         f"got {spacing}")
    return spacing


def segment_statistics(labels, image=None, spacing=None) -> SegmentTable:
    """Per-label voxel count, volume, intensity statistics and bounding box.

    Parameters
    ----------
    labels : array_like of int
        Label map (2D or 3D); 0 is background and gets no row.
    image : array_like, optional
        Intensities of the same shape (HU on CT); gives ``mean``, ``std``,
        ``min`` and ``max``.
    spacing : sequence of float, optional
        Voxel size per axis in mm; 1 when omitted (volumes then count voxels).
        For 2D labels ``volume_mm3`` is an area in mm².

    Returns
    -------
    SegmentTable
        ``rows`` in increasing label order.

    Raises
    ------
    ValueError
        Shapes that differ, bad spacing, negative labels.
    TypeError
        Labels that are not integers.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.zeros((4, 4, 4), np.uint8); labels[1:3, 1:3, 1:3] = 2
    >>> image = np.full(labels.shape, 40.0)
    >>> row = segment_statistics(labels, image, spacing=(2.5, 0.5, 0.5)).rows[0]
    >>> row["label"], row["voxels"], row["volume_mm3"], row["mean"], row["bbox"]
    (2, 8, 5.0, 40.0, (1, 1, 1, 3, 3, 3))
    """
    labels = np.asarray(labels)
    if labels.dtype.kind == "b":
        labels = labels.astype(np.uint8)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"labels must be integers; got dtype {labels.dtype}")
    spacing = _check_spacing(spacing, labels.ndim)
    if image is not None:
        image = np.asarray(image)
        if image.shape != labels.shape:
            raise ValueError(f"image shape {image.shape} differs from labels shape "
                             f"{labels.shape}; give the image the labels were drawn on")
    if labels.size and labels.min() < 0:
        raise ValueError(f"labels must be non-negative; got minimum {labels.min()}")
    values, index = np.unique(labels, return_inverse=True)
    index = index.reshape(labels.shape)
    counts = np.bincount(index.ravel(), minlength=len(values))
    voxel_volume = float(np.prod(spacing))
    if image is not None:
        weights = image.astype(np.float64).ravel()
        sums = np.bincount(index.ravel(), weights, minlength=len(values))
        squares = np.bincount(index.ravel(), weights * weights, minlength=len(values))
        ids = np.arange(len(values))
        minima = ndimage.minimum(image, index, ids)
        maxima = ndimage.maximum(image, index, ids)
    boxes = ndimage.find_objects(index + 1)
    rows = []
    for i, value in enumerate(values):
        if value == 0:
            continue
        n = int(counts[i])
        row = {"label": int(value), "voxels": n, "volume_mm3": n * voxel_volume,
               "mean": None, "std": None, "min": None, "max": None}
        if image is not None:
            mean = sums[i] / n
            row["mean"] = float(mean)
            row["std"] = float(np.sqrt(max(squares[i] / n - mean * mean, 0.0)))
            row["min"], row["max"] = float(minima[i]), float(maxima[i])
        box = boxes[i]
        row["bbox"] = tuple(int(s.start) for s in box) + tuple(int(s.stop) for s in box)
        rows.append(row)
    return SegmentTable(rows=rows, spacing=spacing)


def surface(labels, label, spacing=None, smooth=0.0):
    """Triangle mesh of one label, in mm, from marching cubes.

    Parameters
    ----------
    labels : array_like of int, 3D
    label : int
        The label to mesh.
    spacing : sequence of 3 float, optional
        Voxel size (z, y, x) in mm; 1 when omitted.
    smooth : float, default 0
        Gaussian σ in mm applied to the mask before meshing (0: the voxel
        staircase, whose area exceeds the true one by several %).

    Returns
    -------
    vertices : (N, 3) numpy.ndarray of float32
        (z, y, x) in mm from the centre of voxel (0, 0, 0); add the volume's
        origin (a layer's ``translate``) to place them.
    faces : (M, 3) numpy.ndarray of int32

    Raises
    ------
    ValueError
        Labels that are not 3D, or a label with no voxel.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.zeros((5, 5, 5), np.uint8); labels[1:4, 1:4, 1:4] = 1
    >>> vertices, faces = surface(labels, 1, spacing=(2.0, 1.0, 1.0))
    >>> float(vertices[:, 0].min()), float(vertices[:, 0].max())
    (1.0, 7.0)
    """
    from skimage.measure import marching_cubes

    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ValueError(f"surface needs a 3D label map; got shape {labels.shape}")
    spacing = np.asarray(_check_spacing(spacing, 3))
    mask = labels == label
    box = ndimage.find_objects(mask.astype(np.uint8))
    if not box or box[0] is None:
        raise ValueError(f"label {label} has no voxel; labels present: "
                         f"{np.unique(labels).tolist()[:20]}")
    smooth = float(smooth)
    if smooth < 0:
        raise ValueError(f"smooth must be >= 0 mm; got {smooth}")
    sigma = smooth / spacing
    # crop to the label with room for the smoothing, and pad so the mesh closes
    margin = np.ceil(3 * sigma).astype(int) + 1
    start = [max(s.start - int(m), 0) for s, m in zip(box[0], margin, strict=False)]
    stop = [min(s.stop + int(m), n) for s, m, n in zip(box[0], margin, labels.shape, strict=False)]
    crop = mask[tuple(slice(a, b) for a, b in zip(start, stop, strict=False))].astype(np.float32)
    crop = np.pad(crop, 1)
    if smooth > 0:
        crop = ndimage.gaussian_filter(crop, sigma)
    vertices, faces, _, _ = marching_cubes(crop, level=0.5, spacing=tuple(spacing))
    vertices += (np.asarray(start) - 1) * spacing
    return vertices.astype(np.float32), faces.astype(np.int32)


def surface_area(vertices, faces) -> float:
    """Area of a triangle mesh (same units as the vertices, squared).

    Examples
    --------
    >>> import numpy as np
    >>> surface_area(np.array([[0, 0, 0], [0, 1, 0], [0, 0, 1]], float), np.array([[0, 1, 2]]))
    0.5
    """
    from skimage.measure import mesh_surface_area

    return float(mesh_surface_area(vertices, faces))
