"""Grow from seeds: 3D Slicer's Fast GrowCut (ITK ``FastGrowCut``), exact and incremental.

Every seed voxel starts at cost 0 with its label; a step from voxel ``p`` to
a neighbour ``q`` (8-neighbourhood in 2D, 26 in 3D) costs
``|I(p) - I(q)| + seed_locality * step_length`` (the physical length of the
step, from the spacing). Each voxel takes the label of the seed that reaches
it at the lowest total cost: a multi-label shortest-path competition solved
with Dijkstra's algorithm, as in ITK's ``FastGrowCut`` and Slicer's *Grow from
seeds* effect.

Differences from ITK, on purpose
--------------------------------
* **Exact integer costs.** Intensities are quantised to at most 65535 levels
  over the image's range (integer images with a range below 65535 keep
  exact integer differences, scaled by an integer) and the locality term to
  the same unit; path costs are exact integer sums, so the result does not
  depend on the order in which voxels are visited.
* **Canonical ties.** Every step costs at least one quantum, and a voxel
  reached at the same cost by two seeds takes the seed that comes first in
  C order (lowest flat index). With a strictly positive step cost and this
  tie rule, the result is a function of the seeds alone: an incremental
  update equals a fresh run voxel for voxel.
* **Image borders.** ITK never grows *from* the outermost voxel layer of its
  region (it is reached, never expanded); here neighbourhoods are clipped at
  the border, so a one-slice volume equals the 2D image.
* **Removed seeds are honoured** (ITK only re-grows from new seeds): the
  voxels a removed seed owned are invalidated and re-grown from the frontier
  of the rest (differential image-foresting transform).
* **Added seeds re-grow a bounded front.** A new seed only shortens paths:
  the queue starts from the added seeds alone and stops wherever the new
  cost is not lower than the stored one, so a correction stroke touches
  the voxels whose cost or label it changes. A stroke that grows the crop
  (painted where the grow leaked, outside the seeds' box) moves the grown
  state into the larger crop and re-grows from the old crop's edge.

Like Slicer, the computation is cropped to the seeds' bounding box plus a
margin per side of ``max(3, 20 %)`` of the box size (``50 %`` with a mask or
intensity range); voxels outside the crop stay 0.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ._kernels import INF as _INF
from ._kernels import NOT_QUEUED as _NOT_QUEUED
from ._kernels import _apply_seed_changes, _crop_labels, _grow, _max_cost, _move_state

__all__ = ["GrowFromSeeds", "grow_from_seeds", "locality_unit", "STATE_BYTES_PER_VOXEL"]

#: Bytes of session state per voxel of the cropped region: quantised
#: intensity (2), packed cost and root key (8), queue links (4 + 4) and the
#: seeds (4). An update adds about 8 more per crop voxel at its peak (the
#: crop's labels, the voxels to re-grow) and returns labels of the seeds'
#: item size per image voxel.
STATE_BYTES_PER_VOXEL = 22
_PEAK_BYTES_PER_VOXEL = STATE_BYTES_PER_VOXEL + 8

_LEVELS = 65535  # intensity quantisation levels (uint16)
_MAX_STEP = 2**22  # largest step cost in quanta (bucket queue size)
_MIN_MARGIN = 3  # voxels, Slicer's minimumExtentMargin
_GROWTH = 0.2  # Slicer's extentGrowthRatio without a mask
_GROWTH_MASKED = 0.5  # ... with a mask or intensity range


# --------------------------------------------------------------------------
# Validation and set-up
# --------------------------------------------------------------------------


def _check_image(image):
    image = np.asarray(image)
    if image.dtype.kind not in "iuf":
        raise TypeError(
            f"image must hold real numbers (integer or float); got dtype {image.dtype}")
    if image.ndim not in (2, 3):
        raise ValueError(
            f"image must be 2D (rows, columns) or 3D (planes, rows, columns); got "
            f"{image.ndim}D with shape {image.shape}. Give one channel at a time.")
    if image.size == 0:
        raise ValueError(f"image is empty (shape {image.shape})")
    return image


def _check_spacing(spacing, ndim):
    if spacing is None:
        return (1.0,) * ndim
    values = np.atleast_1d(np.asarray(spacing, dtype=float))
    if values.size == 1:
        values = np.repeat(values, ndim)
    if values.ndim != 1 or values.size != ndim:
        raise ValueError(
            f"spacing must give one size per image axis ({ndim}); got {spacing!r}")
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError(f"spacing must be positive and finite; got {spacing!r}")
    return tuple(float(s) for s in values)


def _check_locality(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"seed_locality must be a number; got {value!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"seed_locality must be 0 or positive and finite; got {value!r}")
    return value


def _check_range(intensity_range):
    if intensity_range is None:
        return None
    try:
        lo, hi = (float(v) for v in intensity_range)
    except (TypeError, ValueError):
        raise ValueError(
            f"intensity_range must be two numbers (lo, hi); got {intensity_range!r}") from None
    if math.isnan(lo) or math.isnan(hi) or lo > hi:
        raise ValueError(f"intensity_range needs lo <= hi; got {intensity_range!r}")
    return (lo, hi)


def _check_mask(mask, shape):
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.dtype != bool:
        if mask.dtype.kind not in "iu":
            raise TypeError(f"mask must be boolean (True = may grow); got dtype {mask.dtype}")
        mask = mask != 0
    if mask.shape != shape:
        raise ValueError(f"mask shape {mask.shape} differs from the image shape {shape}")
    return mask


def _check_seeds(seeds, shape):
    seeds = np.asarray(seeds)
    if seeds.shape != shape:
        raise ValueError(f"seeds shape {seeds.shape} differs from the image shape {shape}")
    if seeds.dtype.kind not in "iu":
        raise TypeError(
            f"seeds must be an integer label image (0 = unseeded); got dtype {seeds.dtype}")
    if seeds.dtype.kind == "i" and seeds.size and seeds.min() < 0:
        raise ValueError(f"seed labels must be 0 or positive; got a minimum of {seeds.min()}")
    if seeds.dtype.itemsize > 4 or seeds.dtype == np.uint32:
        if seeds.size and seeds.max() > np.iinfo(np.int32).max:
            raise ValueError(f"seed labels must be below 2**31; got {seeds.max()}")
    return seeds


def _bounding_box(seeds3):
    """Inclusive (lo, hi) per axis of the non-zero voxels, or None."""
    box = []
    for axis in range(3):
        others = tuple(a for a in range(3) if a != axis)
        hit = np.flatnonzero(np.any(seeds3, axis=others))
        if hit.size == 0:
            return None
        box.append((int(hit[0]), int(hit[-1])))
    return box


def _crop_box(seeds3, growth):
    """Slicer's crop: the seeds' box plus max(3, growth * size) voxels per side."""
    box = _bounding_box(seeds3)
    if box is None:
        return None
    crop = []
    for (lo, hi), n in zip(box, seeds3.shape, strict=True):
        margin = max(_MIN_MARGIN, int((hi - lo) * growth))
        crop.append((max(0, lo - margin), min(n, hi + margin + 1)))
    return tuple(crop)


def _contains(outer, inner):
    """Whether the crop ``outer`` holds the crop ``inner``."""
    return all(o_lo <= i_lo and i_hi <= o_hi
               for (o_lo, o_hi), (i_lo, i_hi) in zip(outer, inner, strict=True))


def _neighbourhood(spacing3, pad_shape, planar):
    """Flat offsets and physical step lengths of the 8 or 26 neighbours."""
    _, py, px = pad_shape
    offsets, lengths = [], []
    for dz in ((0,) if planar else (-1, 0, 1)):
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if dz == dy == dx == 0:
                    continue
                offsets.append((dz * py + dy) * px + dx)
                lengths.append(math.sqrt((dz * spacing3[0]) ** 2 + (dy * spacing3[1]) ** 2
                                         + (dx * spacing3[2]) ** 2))
    return np.array(offsets, np.int64), np.array(lengths)


def _quantisation(value_range, dtype, lengths, locality):
    """(offset, scale, step costs in quanta, largest step cost) for an image.

    Integer images whose range fits 65535 levels keep exact integer
    differences (times an integer scale); others are scaled to 65535 levels.
    Every step costs at least one quantum (a canonical tie-break: fewer steps,
    then the lowest seed index).
    """
    lo, hi = value_range
    span = hi - lo
    if span <= 0:
        scale = 1.0
    elif dtype.kind in "iu" and span <= _LEVELS:
        scale = float(_LEVELS // int(span))
    else:
        scale = _LEVELS / span
    penalty = locality * lengths
    if penalty.max(initial=0.0) * scale > _MAX_STEP - _LEVELS - 1:
        scale = (_MAX_STEP - _LEVELS - 1) / penalty.max()
    steps = np.maximum(1, np.rint(penalty * scale)).astype(np.int64)
    max_step = int(math.ceil(span * scale)) + int(steps.max())
    return lo, scale, steps, max_step


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


class GrowFromSeeds:
    """An incremental *Grow from seeds* session on one image.

    Call :meth:`update` with the current seeds after every edit; strokes
    added, erased or relabelled since the last call are applied
    incrementally, and the result always equals a fresh run on the same
    seeds. Changing ``seed_locality``, ``intensity_range`` or ``mask``, or
    seeds whose box no longer holds the last crop (erased at its edge),
    makes the next update recompute from scratch.

    Parameters
    ----------
    image : ndarray, 2D or 3D, integer or float
        Intensities, e.g. HU as int16. Non-finite voxels are not grown into.
    spacing : sequence of float, optional
        Physical voxel size per axis (default 1 for each axis).
    seed_locality : float, default 0.0
        λ, the cost per unit of physical step length (ITK's
        ``DistancePenalty``); larger values keep each label nearer to its
        seeds.
    intensity_range : (float, float), optional
        Voxels outside ``[lo, hi]`` stay 0 and are not crossed (Slicer's
        editable intensity range).
    mask : ndarray of bool, optional
        Where growth may go; False voxels stay 0, are not crossed and their
        seeds are ignored.

    Attributes
    ----------
    last_run : dict
        What the last update did: ``"mode"`` (``"full"``, ``"incremental"``
        or ``"extended"``: incremental into a larger crop), ``"crop"`` (slices into the image), ``"expanded"``
        (voxels taken from the queue), ``"invalidated"`` and ``"new_seeds"``,
        ``"message"``.
    warn_notes : bool, default True
        Whether a note about the run (one segment grown inside a mask or
        range) is also a ``UserWarning``. A caller that shows
        ``last_run["message"]`` itself sets it False: warning filters are
        process-wide, and changing them from a worker thread races with
        other threads (``warnings.catch_warnings`` is not thread-safe).

    Notes
    -----
    State: :data:`STATE_BYTES_PER_VOXEL` (22) bytes per voxel of the crop
    (quantised intensity 2, cost-and-root key 8, queue links 8, seeds 4); an
    update peaks at about 30 bytes per crop voxel plus the returned labels (the seeds'
    item size per image voxel). A crop needing more than 60 % of the RAM is
    refused with a ValueError.

    The queue is a circular bucket queue over integer costs (Dial's
    algorithm): constant time per voxel.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((20, 20), np.float32)
    >>> image[:, 10:] = 1.0
    >>> seeds = np.zeros((20, 20), np.uint8)
    >>> seeds[10, 2], seeds[10, 17] = 1, 2
    >>> session = GrowFromSeeds(image)
    >>> labels = session.update(seeds)
    >>> labels[10].tolist()
    [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]
    >>> int(labels[0].max())  # outside the crop: the seeds' box + 3 voxels
    0
    >>> seeds[10, 12] = 1  # a stroke of label 1 on the right side
    >>> labels = session.update(seeds)
    >>> session.last_run["mode"], labels[10, 11:16].tolist()
    ('incremental', [1, 1, 1, 1, 2])
    """

    def __init__(self, image, *, spacing=None, seed_locality=0.0, intensity_range=None,
                 mask=None):
        self._image = _check_image(image)
        self._spacing = _check_spacing(spacing, self._image.ndim)
        self._seed_locality = _check_locality(seed_locality)
        self._intensity_range = _check_range(intensity_range)
        self._mask = _check_mask(mask, self._image.shape)
        self._state = None
        self._range_cache = None
        self.last_run = {}
        self.warn_notes = True

    # Parameters: setting one drops the grown state.
    @property
    def image(self):
        """The image (read-only)."""
        return self._image

    @property
    def spacing(self):
        """Physical voxel size per axis."""
        return self._spacing

    @spacing.setter
    def spacing(self, value):
        self._spacing = _check_spacing(value, self._image.ndim)
        self._state = None

    @property
    def seed_locality(self):
        """λ, the cost per unit of physical step length."""
        return self._seed_locality

    @seed_locality.setter
    def seed_locality(self, value):
        self._seed_locality = _check_locality(value)
        self._state = None

    @property
    def intensity_range(self):
        """``(lo, hi)`` of the voxels that may be labelled, or None."""
        return self._intensity_range

    @intensity_range.setter
    def intensity_range(self, value):
        self._intensity_range = _check_range(value)
        self._state = None

    @property
    def mask(self):
        """Boolean array of where growth may go, or None."""
        return self._mask

    @mask.setter
    def mask(self, value):
        self._mask = _check_mask(value, self._image.shape)
        self._state = None

    def _value_range(self):
        """(min, max) of the image's finite values, computed once."""
        if self._range_cache is None:
            image = self._image
            lo, hi = float(image.min()), float(image.max())
            if not (math.isfinite(lo) and math.isfinite(hi)):
                finite = image[np.isfinite(image)]
                lo, hi = ((float(finite.min()), float(finite.max())) if finite.size
                          else (0.0, 0.0))
            self._range_cache = (lo, hi)
        return self._range_cache

    def reset(self):
        """Forget the grown state: the next update recomputes from scratch."""
        self._state = None

    # ------------------------------------------------------------------
    def update(self, seeds):
        """Labels grown from ``seeds``.

        Parameters
        ----------
        seeds : ndarray of int, the image's shape
            Seed labels, 0 = unseeded. Not modified.

        Returns
        -------
        labels : ndarray, the image's shape, the seeds' dtype
            Each voxel's winning seed label; 0 outside the crop, outside the
            mask or intensity range, and where no seed can reach.

        Raises
        ------
        ValueError
            No seeds; one label only with nothing to compete against (paint
            a second segment, e.g. background, or give a mask / intensity
            range); shape mismatch; more memory than the budget.
        TypeError
            Seeds that are not integers.
        """
        seeds = _check_seeds(seeds, self._image.shape)
        seeds3 = seeds.reshape((1,) * (3 - seeds.ndim) + seeds.shape)
        constrained = self._mask is not None or self._intensity_range is not None
        crop = _crop_box(seeds3, _GROWTH_MASKED if constrained else _GROWTH)
        if crop is None:
            raise ValueError(
                "no seeds: paint at least two segments (e.g. the structure and the "
                "background around it), or one segment with a mask / intensity range")
        state = self._state
        grown = boundary = None
        if state is not None and state["crop"] != crop and _contains(crop, state["crop"]):
            # The seeds' box grew (a correction stroke where the grow leaked):
            # keep the grown state, re-grow only what the larger region changes.
            grown, boundary = self._extend(state, crop)
        if state is not None and state["crop"] == crop:
            out = self._incremental(state, seeds3)
        elif grown is not None:
            out = self._incremental(grown, seeds3, boundary)
            self._state = grown
        else:
            self._state = None
            state = self._full(seeds3, crop)
            out = state.pop("first_out")
            self._state = state
        labels = np.zeros(seeds.shape, seeds.dtype)
        region = tuple(slice(lo, hi) for lo, hi in crop)[3 - seeds.ndim:]
        labels[region] = out.reshape(labels[region].shape)
        return labels

    # ------------------------------------------------------------------
    def _padded_seeds(self, seeds3, crop, pad_z):
        zs, ys, xs = (slice(lo, hi) for lo, hi in crop)
        nz, ny, nx = (hi - lo for lo, hi in crop)
        padded = np.zeros((nz + 2 * pad_z, ny + 2, nx + 2), np.int32)
        padded[pad_z:pad_z + nz, 1:-1, 1:-1] = seeds3[zs, ys, xs]
        return padded.reshape(-1)

    def _region(self, crop):
        """Quantised intensities, empty keys and the neighbourhood of a padded crop."""
        image3 = self._image.reshape((1,) * (3 - self._image.ndim) + self._image.shape)
        spacing3 = (1.0,) * (3 - len(self._spacing)) + self._spacing
        zs, ys, xs = (slice(lo, hi) for lo, hi in crop)
        nz, ny, nx = (hi - lo for lo, hi in crop)
        planar = nz == 1
        pad_z = 0 if planar else 1
        pad_shape = (nz + 2 * pad_z, ny + 2, nx + 2)
        n_pad = int(np.prod(pad_shape))
        region = image3[zs, ys, xs]
        offsets, lengths = _neighbourhood(spacing3, pad_shape, planar)
        offset, scale, steps, max_step = _quantisation(self._value_range(), region.dtype,
                                                       lengths, self._seed_locality)
        exact = region.dtype.kind in "iu" and scale == int(scale)
        mask = None if self._mask is None else self._mask.reshape(image3.shape)[zs, ys, xs]
        q = np.zeros(pad_shape, np.uint16)
        key = np.zeros(pad_shape, np.int64)  # padding: blocked
        for z in range(nz):  # plane by plane: small temporaries
            plane = region[z]
            allowed = np.ones(plane.shape, bool)
            if plane.dtype.kind == "f":
                allowed &= np.isfinite(plane)
            if self._intensity_range is not None:
                lo, hi = self._intensity_range
                allowed &= (plane >= lo) & (plane <= hi)
            if mask is not None:
                allowed &= mask[z]
            if exact:
                values = (plane.astype(np.int64) - int(offset)) * int(scale)
            else:
                values = np.rint((plane.astype(np.float64) - offset) * scale)
            np.clip(values, 0, _LEVELS, out=values)
            values[~allowed] = 0
            q[z + pad_z, 1:-1, 1:-1] = values
            key[z + pad_z, 1:-1, 1:-1] = np.where(allowed, _INF, np.int64(0))
        shift = max(1, int(n_pad - 1).bit_length())
        return {"crop": crop, "pad_z": pad_z, "pad_shape": pad_shape, "q": q.reshape(-1),
                "key": key.reshape(-1), "prv": np.full(n_pad, _NOT_QUEUED, np.int32),
                "nxt": np.empty(n_pad, np.int32), "offsets": offsets, "steps": steps,
                "shift": shift, "cap": (1 << (63 - shift)) - 2,
                "bucket_mask": (1 << int(max_step + 1).bit_length()) - 1}

    def _full(self, seeds3, crop):
        nz, ny, nx = (hi - lo for lo, hi in crop)
        pad_z = 0 if nz == 1 else 1
        self._check_memory((nz + 2 * pad_z) * (ny + 2) * (nx + 2), seeds3.dtype.itemsize)
        state = self._region(crop)
        key, shift = state["key"], state["shift"]
        seeds_pad = self._padded_seeds(seeds3, crop, pad_z)
        seed_index = np.flatnonzero(seeds_pad)
        seed_index = seed_index[key[seed_index] != 0]
        message = self._check_labels(seeds_pad[seed_index])
        key[seed_index] = seed_index
        expanded = _grow(state["q"], key, state["prv"], state["nxt"],
                         seed_index.astype(np.int64), np.zeros(seed_index.size, np.int64),
                         state["offsets"], state["steps"], shift, state["bucket_mask"],
                         state["cap"])
        out = np.empty((nz, ny, nx), np.int32)
        _crop_labels(key, seeds_pad, out, pad_z, shift)
        self.last_run = {"mode": "full", "crop": tuple(slice(lo, hi) for lo, hi in crop),
                         "expanded": int(expanded), "invalidated": 0,
                         "new_seeds": int(seed_index.size), "message": message}
        state.update(seeds=seeds_pad, message=message, first_out=out)
        return state

    def _extend(self, state, crop):
        """The grown state moved into a larger crop, and the old crop's outer voxels.

        Every stored key stays the cost of a real path (paths inside the old
        crop exist in the new one), and all edges inside the old crop are
        relaxed. Only edges leaving it are not: re-growing from its outer
        layer (with the seed changes) reaches the same fixed point as a
        fresh run, so the result equals one voxel for voxel.
        """
        nz, ny, nx = (hi - lo for lo, hi in crop)
        pad_z = 0 if nz == 1 else 1
        self._check_memory((nz + 2 * pad_z) * (ny + 2) * (nx + 2), 4)
        grown = self._region(crop)
        if _max_cost(state["key"], state["shift"]) > grown["cap"]:
            return None, None  # costs too large for the larger crop's keys
        at = np.array([old[0] - new[0] for new, old in zip(crop, state["crop"], strict=True)])
        grew_lo = np.array([old[0] > new[0] for new, old in zip(crop, state["crop"],
                                                                strict=True)])
        grew_hi = np.array([old[1] < new[1] for new, old in zip(crop, state["crop"],
                                                                strict=True)])
        old_shape = np.array([hi - lo for lo, hi in state["crop"]])
        seeds = np.zeros(grown["key"].size, np.int32)
        boundary = _move_state(state["key"], state["seeds"], grown["key"], seeds,
                               np.array(state["pad_shape"]), state["pad_z"],
                               np.array(grown["pad_shape"]), pad_z, at, old_shape,
                               grew_lo, grew_hi, state["shift"], grown["shift"])
        grown["seeds"] = seeds
        grown["message"] = state["message"]
        return grown, boundary

    def _incremental(self, state, seeds3, boundary=None):
        crop, pad_z = state["crop"], state["pad_z"]
        new_pad = self._padded_seeds(seeds3, crop, pad_z)
        key = state["key"]
        # Label set check on the new seeds before touching the state.
        blocked = key == 0
        message = self._check_labels(new_pad[(new_pad != 0) & ~blocked])
        pend, pcost, n_inv, n_new = _apply_seed_changes(
            state["q"], key, state["prv"], state["nxt"], state["seeds"], new_pad,
            state["offsets"], state["steps"], state["shift"], state["cap"])
        if boundary is not None:
            boundary = boundary[key[boundary] != _INF]  # not invalidated meanwhile
            pend = np.concatenate([pend, boundary])
            pcost = key[pend] >> state["shift"]
            order = np.argsort(pcost, kind="stable")
            pend, pcost = pend[order], pcost[order]
        expanded = _grow(state["q"], key, state["prv"], state["nxt"], pend, pcost,
                         state["offsets"], state["steps"], state["shift"],
                         state["bucket_mask"], state["cap"])
        state["seeds"] = new_pad
        state["message"] = message
        nz, ny, nx = (hi - lo for lo, hi in crop)
        out = np.empty((nz, ny, nx), np.int32)
        _crop_labels(key, new_pad, out, pad_z, state["shift"])
        self.last_run = {"mode": "incremental" if boundary is None else "extended",
                         "crop": tuple(slice(lo, hi) for lo, hi in crop),
                         "expanded": int(expanded), "invalidated": int(n_inv),
                         "new_seeds": int(n_new), "message": message}
        return out

    def _check_labels(self, seed_values):
        labels = np.unique(seed_values)
        if labels.size == 0:
            raise ValueError(
                "no seeds where growth is allowed: every seed lies outside the mask or "
                "intensity range; paint inside it")
        if labels.size == 1:
            if self._mask is None and self._intensity_range is None:
                raise ValueError(
                    f"only one segment (label {labels[0]}) is seeded, so it would fill the "
                    "whole region: paint a second segment (e.g. background) or give a "
                    "mask / intensity range")
            message = (f"one segment (label {labels[0]}): it fills the voxels it can reach "
                       "inside the mask / intensity range; the rest stays 0")
            if self.warn_notes:
                warnings.warn(message, UserWarning, stacklevel=4)
            return message
        return f"{labels.size} segments grown"

    def _check_memory(self, n_pad, label_itemsize):
        from napari_seglab.core.features import total_ram

        need = n_pad * _PEAK_BYTES_PER_VOXEL + self._image.size * label_itemsize
        budget = 0.6 * total_ram()
        if need > budget:
            raise ValueError(
                f"grow from seeds on this region needs about {need / 2**30:.1f} GiB, more "
                f"than the budget of {budget / 2**30:.1f} GiB (60 % of the RAM): paint the "
                "seeds in a smaller region, crop or downsample the image")


def grow_from_seeds(image, seeds, *, spacing=None, seed_locality=0.0, intensity_range=None,
                    mask=None):
    """Labels grown from seeds by shortest-path competition (Fast GrowCut).

    One-shot form of :class:`GrowFromSeeds`; see it for the algorithm,
    parameters, crop and tie rule.

    Parameters
    ----------
    image : ndarray, 2D or 3D, integer or float
    seeds : ndarray of int, same shape
        Seed labels, 0 = unseeded.
    spacing : sequence of float, optional
    seed_locality : float, default 0.0
    intensity_range : (float, float), optional
    mask : ndarray of bool, optional

    Returns
    -------
    labels : ndarray, the image's shape, the seeds' dtype

    Raises
    ------
    ValueError, TypeError
        As :meth:`GrowFromSeeds.update`.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((8, 8))
    >>> image[:, 4:] = 10.0
    >>> seeds = np.zeros((8, 8), np.uint8)
    >>> seeds[4, 0], seeds[4, 7] = 1, 2
    >>> grow_from_seeds(image, seeds)[4].tolist()
    [1, 1, 1, 1, 2, 2, 2, 2]
    """
    session = GrowFromSeeds(image, spacing=spacing, seed_locality=seed_locality,
                            intensity_range=intensity_range, mask=mask)
    return session.update(seeds)


def locality_unit(image, spacing=None, *, max_samples=1_000_000):
    """The ``seed_locality`` at which one voxel step costs one typical noise step.

    Intensity differences and path lengths have different units (HU, a.u.;
    mm), so a raw ``seed_locality`` of 1 means little on an MR whose values
    span thousands. This is the median absolute difference between
    neighbours along the last axis (a robust noise scale; a hundredth of the
    1-99 percentile span if that is 0) per unit of the smallest voxel size:
    ``seed_locality = factor * locality_unit(image, spacing)`` makes a factor
    of 1 add one noise step per voxel of path, and 10 make each segment stay
    clearly nearer to its strokes.

    Parameters
    ----------
    image : ndarray, 2D or 3D
    spacing : sequence of float, optional
    max_samples : int, default 1_000_000
        Rows are subsampled to about this many differences.

    Returns
    -------
    float
        Intensity units per unit of physical length (positive; 1.0 for a
        constant image).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> image = rng.normal(100.0, 10.0, (64, 64))  # noise σ 10: neighbours differ by ~9.5
    >>> round(locality_unit(image, (0.5, 0.5)))  # per mm of 0.5 mm pixels
    19
    """
    image = _check_image(image)
    spacing = _check_spacing(spacing, image.ndim)
    rows = image.reshape(-1, image.shape[-1])
    step = max(1, rows.size // max(1, max_samples))
    rows = rows[::step].astype(np.float64)
    diffs = np.abs(np.diff(rows, axis=-1))
    diffs = diffs[np.isfinite(diffs)]
    noise = float(np.median(diffs)) if diffs.size else 0.0
    if noise <= 0:
        finite = rows[np.isfinite(rows)]
        if finite.size:
            lo, hi = np.percentile(finite, [1, 99])
            noise = float(hi - lo) / 100
    return (noise if noise > 0 else 1.0) / min(spacing)
