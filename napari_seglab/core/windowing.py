"""Display windows (contrast limits) for medical images, and patient orientation of views.

A window is ``(low, high)`` in the image's units (HU on CT). CT presets are
3D Slicer's; MR has no absolute scale, so its window comes from the image's
own robust percentiles. :func:`display_window` picks the file's window
unless it is missing or would show the image almost uniformly black or
white (an MR series carrying a CT-like window), then the robust one.

:func:`plane_axes` maps the Axial, Coronal and Sagittal planes of a volume
with a direction matrix (rows: the array axes in patient (S, P, L) order,
as :mod:`napari_seglab.io` stores it) onto array axes and screen flips, for
the radiological convention: superior up in coronal and sagittal views,
anterior up in axial ones, patient left on the screen's right, anterior on
the left of sagittal views (as 3D Slicer shows them).
"""

from __future__ import annotations

import numpy as np

__all__ = ["CT_PRESETS", "display_window", "plane_axes", "robust_window", "usable_window"]

#: Slicer's CT window presets: name -> (level, width) in HU.
CT_PRESETS = {
    "CT brain": (50.0, 100.0),
    "CT bone": (400.0, 1000.0),
    "CT lung": (-500.0, 1400.0),
    "CT abdomen": (40.0, 350.0),
}

#: A window is unusable when fewer than this fraction of the foreground
#: voxels fall strictly inside it (nearly all black or all white).
MIN_INSIDE = 0.05


def _sample(data, max_samples=500_000):
    flat = np.asarray(data).reshape(-1)
    step = max(1, flat.size // max_samples)
    sample = flat[::step].astype(np.float64)
    return sample[np.isfinite(sample)]


def _foreground(sample):
    """The values above the image's minimum (background / padding excluded)."""
    if sample.size == 0:
        return sample
    above = sample[sample > sample.min()]
    return above if above.size >= 0.05 * sample.size else sample


def robust_window(data, percentiles=(0.5, 99.5)) -> tuple[float, float]:
    """The window between two percentiles of the foreground voxels.

    Parameters
    ----------
    data : array_like
    percentiles : (float, float), default (0.5, 99.5)

    Returns
    -------
    (low, high) : tuple of float, ``high > low``

    Examples
    --------
    >>> data = np.zeros((10, 100)); data[:, 50:] = np.linspace(100, 900, 50)
    >>> [round(v) for v in robust_window(data)]
    [100, 900]
    """
    sample = _foreground(_sample(data))
    if sample.size == 0:
        return (0.0, 1.0)
    low, high = (float(v) for v in np.percentile(sample, percentiles))
    if high <= low:
        high = low + 1.0
    return (low, high)


def usable_window(data, window) -> bool:
    """Whether ``window`` (low, high) shows the foreground with some contrast."""
    low, high = (float(v) for v in window)
    if not (np.isfinite(low) and np.isfinite(high)) or high <= low:
        return False
    sample = _foreground(_sample(data))
    if sample.size == 0:
        return True
    inside = np.count_nonzero((sample > low) & (sample < high))
    return inside >= MIN_INSIDE * sample.size


def display_window(data, metadata=None) -> tuple[float, float]:
    """The window to show ``data`` with: the file's if usable, else a robust one.

    Parameters
    ----------
    data : array_like
    metadata : dict, optional
        A layer's metadata; ``metadata["window"]`` is DICOM's (centre, width).

    Returns
    -------
    (low, high) : tuple of float

    Examples
    --------
    >>> mr = np.zeros((4, 64, 64)); mr[:, 16:48, 16:48] = 600.0
    >>> mr[:, 20:40, 20:40] = 900.0
    >>> display_window(mr, {"window": [40, 400]})  # a CT window on an MR: black
    (600.0, 900.0)
    """
    window = (metadata or {}).get("window")
    if window is not None:
        try:
            centre, width = float(window[0]), float(window[1])
        except (TypeError, ValueError, IndexError):
            centre, width = 0.0, 0.0
        if width > 0:
            candidate = (centre - width / 2, centre + width / 2)
            if usable_window(data, candidate):
                return candidate
    return robust_window(data)


# ----------------------------------------------------------------- orientation

#: Plane -> (patient axis sliced, patient axis shown vertically, horizontally),
#: patient axes 0 = superior, 1 = posterior, 2 = left.
PATIENT_PLANES = {"Axial": (0, 1, 2), "Coronal": (1, 0, 2), "Sagittal": (2, 0, 1)}

#: The patient direction that must point down (vertical) or right (horizontal)
#: on screen: +1 when the axis's positive direction, -1 its opposite.
#: Axial: posterior down (anterior up), left right; coronal: inferior down,
#: left right; sagittal: inferior down, posterior right (anterior left).
_SCREEN = {"Axial": (+1, +1), "Coronal": (-1, +1), "Sagittal": (-1, +1)}


def plane_axes(plane, direction=None):
    """Array axes and screen orientation that show ``plane`` radiologically.

    Parameters
    ----------
    plane : {"Axial", "Coronal", "Sagittal"}
    direction : (3, 3) array_like, optional
        Row k: the unit vector of array axis k in patient (S, P, L) order
        (``metadata["direction"]`` of :mod:`napari_seglab.io`); identity
        (an axial stack: z up the body, y to the back, x to the left) when
        omitted. Oblique axes go to the patient axis they are closest to.

    Returns
    -------
    order : tuple of 3 int
        (sliced, vertical, horizontal) array axes of the last three.
    orientation : (str, str)
        napari's ``camera.orientation2d``: ``"down"``/``"up"`` for the
        direction in which the vertical array index grows, ``"right"`` /
        ``"left"`` for the horizontal one.

    Examples
    --------
    >>> plane_axes("Coronal")
    ((1, 0, 2), ('up', 'right'))
    >>> ras = np.diag([1.0, -1.0, -1.0])  # a NIfTI in RAS order: y anterior, x right
    >>> plane_axes("Axial", ras)
    ((0, 1, 2), ('up', 'left'))
    """
    if plane not in PATIENT_PLANES:
        raise ValueError(f"plane must be one of {', '.join(PATIENT_PLANES)}; got {plane!r}")
    direction = np.eye(3) if direction is None else np.asarray(direction, float)
    if direction.shape != (3, 3) or not np.all(np.isfinite(direction)):
        direction = np.eye(3)
    # each array axis -> the patient axis it runs along, and the sign
    patient = np.argmax(np.abs(direction), axis=1)
    if len(set(patient.tolist())) != 3:  # degenerate (e.g. 45° oblique): array order
        patient = np.arange(3)
    sign = np.sign(direction[np.arange(3), patient])
    sign[sign == 0] = 1
    array_of = {int(p): k for k, p in enumerate(patient)}
    order = tuple(array_of[p] for p in PATIENT_PLANES[plane])
    want_down, want_right = _SCREEN[plane]
    vertical = "down" if sign[order[1]] == want_down else "up"
    horizontal = "right" if sign[order[2]] == want_right else "left"
    return order, (vertical, horizontal)
