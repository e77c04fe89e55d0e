"""DICOM series to volumes in true units (pydicom).

One volume per series (SeriesInstanceUID, split further when the images of
one series differ in size or orientation). Slices are ordered by their
ImagePositionPatient projected on the slice normal (InstanceNumber only when
positions are missing); the slice spacing comes from those positions, never
from SliceThickness (a single slice, with no positions to compare, is the
one exception); values go through the modality LUT (RescaleSlope and
RescaleIntercept, per frame in enhanced multi-frame files). What is unusual
(missing or uneven slices, oblique or tilted series, skipped files) is said
with :func:`warnings.warn`; the napari reader turns warnings into
notifications.
"""

from __future__ import annotations

import os
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from ..core.memory import format_bytes, memory_budget
from .base import Volume, clean_float_tuple, is_axis_aligned
from .safety import check_regular, file_kind, finite_values, is_regular_file, open_regular

__all__ = ["DicomReadWarning", "MissingDecoderError", "read_dicom", "is_dicom_file",
           "find_dicom_files"]

#: What to install for compressed transfer syntaxes.
DICOM_EXTRA = 'pip install "napari-seglab[dicom]"'
#: Relative tolerance on slice spacing before the series is called uneven.
SPACING_TOLERANCE = 0.01
#: SOP class of DICOM Segmentation objects (read by :mod:`.dicom_seg`).
SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
_MAX_NAMES = 5
#: Missing slices are filled with empty ones only while the volume stays within
#: this many times the images read (3 slices at z = 0, 0.002, 200 are not a
#: 100,001-slice volume).
MAX_FILL_RATIO = 2
_DEFER_BYTES = 64 * 1024


class MissingDecoderError(ValueError):
    """The pixel data are compressed and no installed plugin decodes them."""


class DicomReadWarning(UserWarning):
    """Something about the files a user should know (skipped, missing, oblique...)."""


def is_dicom_file(path) -> bool:
    """Whether ``path`` starts like a DICOM file (128-byte preamble + "DICM").

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> is_dicom_file(get_testdata_file("CT_small.dcm"))
    True
    >>> is_dicom_file(__file__)
    False
    """
    if not is_regular_file(path):  # a FIFO would block open() forever
        return False
    try:
        with open_regular(path) as fh:
            head = fh.read(132)
    except (OSError, ValueError):
        return False
    return len(head) == 132 and head[128:] == b"DICM"


def find_dicom_files(folder, limit=None):
    """Files under ``folder`` (recursively, sorted) and the non-DICOM ones seen."""
    dicom, other = [], []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            if name.startswith(".") or name.upper() == "DICOMDIR":
                continue
            path = os.path.join(root, name)
            if not is_regular_file(path):
                try:
                    kind = file_kind(os.stat(path).st_mode)
                except OSError:
                    kind = "a broken link"
                other.append(f"{path} ({kind})")
                continue
            (dicom if is_dicom_file(path) else other).append(path)
            if limit is not None and len(dicom) >= limit:
                return dicom, other
    return dicom, other


def read_dicom(path) -> list[Volume]:
    """Read every DICOM series in a folder, or the series a file belongs to.

    Parameters
    ----------
    path : str or os.PathLike
        A folder (searched recursively) or one file; for a file of a
        single-frame series, the other files of that series in its folder are
        read too.

    Returns
    -------
    list of Volume
        One per series, ordered by series number. Images come as float32 or
        int16 in modality units (HU on CT); DICOM SEG files as label volumes
        (``kind="dicom-seg"``).

    Raises
    ------
    ValueError
        No DICOM image in ``path``, or a file that cannot be read at all.
    MissingDecoderError
        Compressed pixel data with no decoder installed (names the file, the
        transfer syntax and what to install).

    Warns
    -----
    UserWarning
        Skipped non-DICOM or corrupt files, missing or uneven slices, oblique
        or tilted series, missing geometry.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> (volume,) = read_dicom(get_testdata_file("CT_small.dcm"))
    >>> volume.data.shape, volume.spacing
    ((1, 128, 128), (5.0, 0.661468, 0.661468))
    """
    # pydicom's own remarks on odd encodings (invalid UIDs, VR mismatches) are
    # not the user's business: keep only ours
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        volumes = _read_dicom(path)
    for warning in caught:
        if issubclass(warning.category, DicomReadWarning):
            warnings.warn(warning.message, stacklevel=2)  # noqa: B028
    return volumes


def _read_dicom(path) -> list[Volume]:
    """:func:`read_dicom` without the warnings filter."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path} does not exist")
    check_regular(path, "DICOM file or folder", folders=True)  # never a FIFO or device
    if path.is_dir():
        files, others = find_dicom_files(path)
        if others:
            shown = ", ".join(Path(p).name for p in others[:_MAX_NAMES])
            more = f" and {len(others) - _MAX_NAMES} more" if len(others) > _MAX_NAMES else ""
            warnings.warn(f"skipped {len(others)} non-DICOM file(s) in {path}: {shown}{more}",
                          DicomReadWarning, stacklevel=2)
        headers = _read_headers(files)
    elif path.is_file():
        headers = _series_of_file(path)
    else:
        raise ValueError(f"{path} does not exist")
    groups = _group(headers)
    if path.is_file():
        groups = {key: members for key, members in groups.items()
                  if any(h["path"] == str(path) for h in members)}
    if not groups:
        raise ValueError(f"{path}: no DICOM image found; choose the folder (or a file) of "
                         "an image series")
    return [_read_group(members, part=key[1])
            for key, members in sorted(groups.items(), key=lambda kv: _series_order(kv[1][0]))]


def _series_of_file(path):
    """Headers of ``path`` and of the files of its series in the same folder."""
    if not is_dicom_file(path):
        raise ValueError(f"{path} is not a DICOM file (no 'DICM' marker at byte 128)")
    (header,) = _read_headers([str(path)], required=str(path)) or [None]
    if header is None:
        raise ValueError(f"{path} holds no image (no Rows/Columns)")
    ds = header["ds"]
    uid = ds.get("SeriesInstanceUID")
    if header["seg"] or int(ds.get("NumberOfFrames") or 1) > 1 or not uid:
        return [header]
    siblings = []
    for other in sorted(path.parent.iterdir()):
        if other == path or not other.is_file() or not is_dicom_file(other):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tags = pydicom.dcmread(other, specific_tags=["SeriesInstanceUID"])
        except Exception:  # noqa: BLE001 - a neighbour that cannot be read is not ours
            continue
        if tags.get("SeriesInstanceUID") == uid:
            siblings.append(str(other))
    return [header] + _read_headers(siblings)


def _series_order(header):
    ds = header["ds"]
    return (int(ds.get("SeriesNumber") or 0), str(ds.get("SeriesInstanceUID", "")))


def _read_headers(files, required=None):
    headers, corrupt = [], []
    for path in files:
        try:
            with warnings.catch_warnings():
                # pydicom's notes on odd encodings are not the user's business
                warnings.simplefilter("ignore")
                # big elements (the pixels) are read from the file when used
                ds = pydicom.dcmread(path, defer_size=_DEFER_BYTES)
        except (InvalidDicomError, OSError, ValueError, EOFError, KeyError,
                TypeError, AttributeError, IndexError, OverflowError) as exc:
            if path == required:
                raise ValueError(f"{path} is not a readable DICOM file: {exc}") from exc
            corrupt.append(f"{Path(path).name} ({type(exc).__name__}: {exc})")
            continue
        if "SOPClassUID" in ds and ds.SOPClassUID == SEG_SOP_CLASS:
            headers.append({"path": path, "ds": ds, "seg": True})
            continue
        if "Rows" not in ds or "Columns" not in ds:
            sop = ds.get("SOPClassUID")
            if sop is not None and "Image Storage" in getattr(sop, "name", ""):
                # an image object without its image: cut short
                corrupt.append(f"{Path(path).name} (truncated: no image attributes)")
            continue  # structured reports, presentation states: no image
        headers.append({"path": path, "ds": ds, "seg": False})
    if corrupt:
        warnings.warn(f"skipped {len(corrupt)} unreadable DICOM file(s): "
                      + "; ".join(corrupt[:_MAX_NAMES]), DicomReadWarning, stacklevel=2)
    return headers


def _group(headers):
    """{(series uid, part): [headers]}: one group per series and image geometry."""
    by_series = defaultdict(list)
    for header in headers:
        ds = header["ds"]
        if header["seg"]:
            by_series[("seg", header["path"])].append(header)
            continue
        frames = int(ds.get("NumberOfFrames") or 1)
        # a multi-frame file is a volume of its own
        key = header["path"] if frames > 1 else str(ds.get("SeriesInstanceUID", "no-uid"))
        by_series[key].append(header)
    groups = {}
    for series, members in by_series.items():
        shapes = defaultdict(list)
        for header in members:
            ds = header["ds"]
            orientation = tuple(np.round(np.asarray(
                ds.get("ImageOrientationPatient") or [1, 0, 0, 0, 1, 0], float), 3))
            shapes[(int(ds.Rows), int(ds.Columns), orientation)].append(header)
        parts = sorted(shapes.values(), key=len, reverse=True)
        for index, part in enumerate(parts):
            groups[(series, index if len(parts) > 1 else None)] = part
    return groups


def _read_group(members, part=None):
    if members[0]["seg"]:
        from .dicom_seg import read_dicom_seg

        return read_dicom_seg(members[0]["path"])
    if int(members[0]["ds"].get("NumberOfFrames") or 1) > 1:
        return _read_multiframe(members[0])
    return _read_series(members, part)


# -- single-frame series ---------------------------------------------------

def _orientation(ds):
    """Row and column direction cosines (LPS, x y z), normal and whether given."""
    iop = ds.get("ImageOrientationPatient")
    given = iop is not None and len(iop) == 6
    values = (finite_values(iop, "ImageOrientationPatient",
                            getattr(ds, "filename", None) or "DICOM file")
              if given else np.asarray([1, 0, 0, 0, 1, 0], float))
    row, col = values[:3], values[3:]
    normal = np.cross(row, col)
    if given and np.linalg.norm(normal) < 1e-3:
        raise ValueError(f"{getattr(ds, 'filename', None) or 'DICOM file'}: "
                         f"ImageOrientationPatient {values.tolist()} is degenerate (its row "
                         "and column directions are parallel or zero); fix the tag")
    return row, col, normal / (np.linalg.norm(normal) or 1.0), given


def _direction(row, col, normal):
    """Rows for the z, y, x array axes, each in patient (z, y, x) order."""
    return np.array([normal[::-1], col[::-1], row[::-1]])


def _pixel_spacing(ds):
    """(row spacing = y, column spacing = x) and whether it was given."""
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(keyword)
        if value is not None and len(value) == 2:
            values = finite_values(value, keyword, ds.filename or "DICOM file", positive=True)
            return float(values[0]), float(values[1]), True
    return 1.0, 1.0, False


def _read_series(members, part=None):
    label = _series_label(members[0]["ds"], part)
    loaded, failed = [], []
    for header in members:
        try:
            pixels = _decode(header["ds"], header["path"])
            loaded.append({"path": header["path"], "ds": header["ds"], "pixels": pixels})
        except MissingDecoderError:
            raise
        except ValueError as exc:
            failed.append(str(exc))
    if failed:
        warnings.warn(f"{label}: skipped {len(failed)} corrupt file(s): "
                      + "; ".join(failed[:_MAX_NAMES]), DicomReadWarning, stacklevel=2)
    if not loaded:
        raise ValueError(f"{label}: no readable image ({failed[0]})")
    members = loaded
    first = members[0]["ds"]
    row, col, normal, oriented = _orientation(first)
    positions = [h["ds"].get("ImagePositionPatient") for h in members]
    notes = []
    if all(p is not None and len(p) == 3 for p in positions):
        points = np.asarray([finite_values(p, "ImagePositionPatient", h["path"])
                             for p, h in zip(positions, members, strict=True)])
        depth = points @ normal
        order = np.argsort(depth, kind="stable")
    else:
        points = None
        numbers = [int(h["ds"].get("InstanceNumber") or 0) for h in members]
        order = np.argsort(numbers, kind="stable")
        depth = np.arange(len(members), dtype=float)
        if len(members) > 1:
            notes.append("slice positions missing: ordered by InstanceNumber, spacing unknown")
    members = [members[i] for i in order]
    depth = depth[order]
    if points is not None:
        points = points[order]
        members, depth, points = _drop_duplicates(members, depth, points, notes)
    dy, dx, has_spacing = _pixel_spacing(first)
    for header in members:  # every file's spacing must be finite, not only the first's
        _pixel_spacing(header["ds"])
    if not has_spacing:
        notes.append("no PixelSpacing: 1 mm pixels assumed")
    dz, slot = _slice_spacing(first, depth, points is not None, notes)
    if points is not None and len(points) > 1:
        _check_tilt(points, normal, notes)
    direction = _direction(row, col, normal)
    oblique = bool(oriented and not is_axis_aligned(direction))
    if oblique:
        notes.append("oblique series (ImageOrientationPatient "
                     f"{[round(float(v), 3) for v in np.r_[row, col]]}): the layer shows it "
                     "in its own frame, rotated relative to the patient axes")
    if notes:
        warnings.warn(f"{label}: " + "; ".join(notes), DicomReadWarning, stacklevel=2)

    slopes = np.array([_rescale_value(h["ds"], "RescaleSlope", 1, h["path"]) for h in members])
    intercepts = np.array([_rescale_value(h["ds"], "RescaleIntercept", 0, h["path"])
                           for h in members])
    slot = [int(s) for s in slot]
    n_slots = slot[-1] + 1
    _check_slots(n_slots, members[0]["pixels"], label, members[0]["path"])
    data = _rescale([h["pixels"] for h in members], slopes, intercepts)
    missing = sorted(set(range(n_slots)) - set(slot))
    if missing:
        # keep the geometry: empty slices (lowest value) where files are missing
        full = np.full((n_slots,) + data.shape[1:], data.min(), data.dtype)
        full[slot] = data
        data = full
    origin_point = (points[0] if points is not None
                    else np.asarray(first.get("ImagePositionPatient") or [0, 0, 0], float))
    origin = direction @ np.asarray(origin_point, float)[::-1]
    files, uids = [None] * n_slots, [None] * n_slots
    for s, header in zip(slot, members, strict=False):
        files[s] = header["path"]
        uids[s] = str(header["ds"].get("SOPInstanceUID", ""))
    metadata = _key_tags(first)
    metadata.update({
        "direction": direction.round(6).tolist(),
        "files": files,
        "sop_instance_uids": uids,
        "slice_positions_mm": [round(float(d), 4) for d in depth],
        "missing_slices": missing,
        "oblique": oblique,
    })
    return Volume(data=data, spacing=clean_float_tuple((dz, dy, dx)),
                  origin=clean_float_tuple(origin), name=label, metadata=metadata,
                  kind="dicom")


def _rescale_value(ds, keyword, default, path):
    """RescaleSlope / RescaleIntercept as a finite float (an empty value is the default)."""
    value = ds.get(keyword, default)
    if value is None or value == "":
        return float(default)
    return float(finite_values(value, keyword, path)[0])


def _check_slots(n_slots, plane, label, path):
    """Refuse a volume the slice positions stretch beyond what memory (or sense) allows."""
    nbytes = n_slots * np.asarray(plane).size * 4
    if nbytes > memory_budget():
        raise ValueError(f"{label} ({path}): the ImagePositionPatient values spread the "
                         f"slices over {n_slots} slots ({format_bytes(nbytes)}), more than "
                         "the memory budget; check the positions, or read the files one by one")


def _drop_duplicates(members, depth, points, notes):
    """Keep one image per slice position (several echoes or phases share them)."""
    if len(depth) < 2:
        return members, depth, points
    keep = np.r_[True, np.diff(depth) > 1e-3]
    if keep.all():
        return members, depth, points
    notes.append(f"{int((~keep).sum())} image(s) share a slice position with another "
                 "(echoes, phases or repeats): kept the first at each position")
    members = [m for m, k in zip(members, keep, strict=False) if k]
    return members, depth[keep], points[keep]


def _slice_spacing(ds, depth, have_positions, notes):
    """Spacing along the normal and each slice's slot index (gaps leave slots)."""
    if len(depth) < 2 or not have_positions:
        for keyword in ("SpacingBetweenSlices", "SliceThickness"):
            value = ds.get(keyword)
            if value is not None and float(value) > 0:
                return float(value), np.arange(len(depth))
        return 1.0, np.arange(len(depth))
    steps = np.diff(depth)
    spacing = float(np.min(steps))
    ratio = steps / spacing
    whole = np.round(ratio)
    if np.all(np.abs(ratio - 1) <= SPACING_TOLERANCE):
        spacing = float(np.mean(steps))
        return spacing, np.arange(len(depth))
    gaps_fit = whole.sum() + 1 <= MAX_FILL_RATIO * len(depth) + 8
    if np.all(np.abs(ratio - whole) <= SPACING_TOLERANCE) and not gaps_fit:
        notes.append(f"the slice positions ({steps.min():.3g} to {steps.max():.3g} mm apart) "
                     f"would leave {int(whole.sum()) + 1 - len(depth)} empty slices between "
                     f"{len(depth)} images: stacked as given, positions are approximate "
                     "(the true positions are in the layer metadata)")
        return float(np.median(steps)), np.arange(len(depth))
    if np.all(np.abs(ratio - whole) <= SPACING_TOLERANCE):
        slot = np.r_[0, np.cumsum(whole)].astype(int)
        gaps = [(round(float(depth[i]), 2), round(float(depth[i + 1]), 2), int(whole[i]) - 1)
                for i in np.flatnonzero(whole > 1)]
        described = ", ".join(f"{n} between {a} and {b} mm" for a, b, n in gaps[:_MAX_NAMES])
        notes.append(f"{int(sum(g[2] for g in gaps))} missing slice(s) ({described}): "
                     "shown as empty slices so the geometry stays right")
        return spacing, slot
    spacing = float(np.median(steps))
    notes.append(f"uneven slice spacing ({steps.min():.3g} to {steps.max():.3g} mm): "
                 f"shown at {spacing:.3g} mm, positions are approximate "
                 "(the true positions are in the layer metadata)")
    return spacing, np.arange(len(depth))


def _check_tilt(points, normal, notes):
    offsets = points - points[0]
    sideways = offsets - np.outer(offsets @ normal, normal)
    shift = float(np.linalg.norm(sideways, axis=1).max())
    if shift > 0.01 * max(1.0, float(np.abs(offsets @ normal).max())) and shift > 0.1:
        notes.append(f"tilted (gantry tilt or sheared) series: slices drift {shift:.3g} mm "
                     "sideways; the layer stacks them straight")


# -- multi-frame (enhanced) files ---------------------------------------------

def _functional(ds, frame_group, sequence, keyword):
    """A frame's value: per-frame group first, then the shared group."""
    for groups in (frame_group, _shared(ds)):
        if groups is not None and sequence in groups:
            item = groups[sequence][0]
            if keyword in item:
                return item[keyword].value
    return None


def _shared(ds):
    shared = ds.get("SharedFunctionalGroupsSequence")
    return shared[0] if shared else None


def _read_multiframe(header):
    path = header["path"]
    ds = header["ds"]
    raw = _decode(ds, path)
    label = _series_label(ds, None)
    n_frames = int(ds.NumberOfFrames)
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or [None] * n_frames
    notes = []
    iop = _functional(ds, per_frame[0], "PlaneOrientationSequence", "ImageOrientationPatient")
    if iop is not None:
        ds_orient = pydicom.Dataset()
        ds_orient.ImageOrientationPatient = iop
        row, col, normal, oriented = _orientation(ds_orient)
    else:
        row, col, normal, oriented = _orientation(ds)
    positions = [_functional(ds, f, "PlanePositionSequence", "ImagePositionPatient")
                 for f in per_frame]
    spacing_value = (_functional(ds, per_frame[0], "PixelMeasuresSequence", "PixelSpacing")
                     or ds.get("PixelSpacing"))
    if spacing_value is not None:
        dy, dx = float(spacing_value[0]), float(spacing_value[1])
    else:
        dy = dx = 1.0
        notes.append("no PixelSpacing: 1 mm pixels assumed")
    slopes = finite_values([float(_functional(ds, f, "PixelValueTransformationSequence",
                                              "RescaleSlope") or ds.get("RescaleSlope", 1) or 1)
                            for f in per_frame], "RescaleSlope", path)
    intercepts = finite_values([float(_functional(ds, f, "PixelValueTransformationSequence",
                                                  "RescaleIntercept")
                                      or ds.get("RescaleIntercept", 0) or 0)
                                for f in per_frame], "RescaleIntercept", path)
    pixels = raw.reshape((n_frames, int(ds.Rows), int(ds.Columns)) + (
        (int(ds.SamplesPerPixel),) if int(ds.get("SamplesPerPixel", 1)) > 1 else ()))
    if all(p is not None for p in positions):
        points = finite_values(positions, "ImagePositionPatient", path).reshape(-1, 3)
        depth = points @ normal
        order = np.argsort(depth, kind="stable")
        depth, points = depth[order], points[order]
        members = list(order)
        members, depth, points = _drop_duplicates(members, depth, points, notes)
        order = np.asarray(members)
        dz, slot = _slice_spacing(ds, depth, True, notes)
        _check_tilt(points, normal, notes)
        origin_point = points[0]
    else:
        order = np.arange(n_frames)
        depth = np.arange(n_frames, dtype=float)
        dz, slot = _slice_spacing(ds, depth, False, notes)
        origin_point = np.zeros(3)
        notes.append("frames carry no positions: stacked in file order")
    data = _rescale(pixels[order], slopes[order], intercepts[order])
    n_slots = int(slot[-1]) + 1
    missing = sorted(set(range(n_slots)) - {int(s) for s in slot})
    if missing:
        full = np.full((n_slots,) + data.shape[1:], data.min(), data.dtype)
        full[np.asarray(slot, int)] = data
        data = full
    direction = _direction(row, col, normal)
    if oriented and not is_axis_aligned(direction):
        notes.append("oblique frames: the layer shows them in their own frame")
    if notes:
        warnings.warn(f"{label}: " + "; ".join(notes), DicomReadWarning, stacklevel=2)
    metadata = _key_tags(ds)
    window = (_functional(ds, per_frame[0], "FrameVOILUTSequence", "WindowCenter"),
              _functional(ds, per_frame[0], "FrameVOILUTSequence", "WindowWidth"))
    if window[0] is not None and window[1] is not None:
        metadata["window"] = [_first(window[0]), _first(window[1])]
    metadata.update({
        "direction": direction.round(6).tolist(),
        "files": [path],
        "frame_order": [int(i) for i in order],
        "slice_positions_mm": [round(float(d), 4) for d in depth],
        "missing_slices": missing,
        "oblique": bool(oriented and not is_axis_aligned(direction)),
    })
    origin = direction @ np.asarray(origin_point, float)[::-1]
    return Volume(data=data, spacing=clean_float_tuple((dz, dy, dx)),
                  origin=clean_float_tuple(origin), name=label, metadata=metadata,
                  kind="dicom")


# -- shared helpers -------------------------------------------------------------

def _decode(ds, path):
    """The decoded pixels of ``ds`` (read from ``path``), or an error naming the file."""
    syntax = ds.file_meta.get("TransferSyntaxUID") if "file_meta" in dir(ds) else None
    if syntax is not None and syntax.is_compressed:
        from pydicom.pixels import get_decoder

        try:
            decoder = get_decoder(syntax)
        except NotImplementedError:
            decoder = None
        if decoder is None:  # no package anywhere decodes it: installing will not help
            raise ValueError(
                f"{path}: pixel data in transfer syntax {syntax.name} ({syntax}), which "
                "pydicom cannot decode; convert the series to an uncompressed syntax "
                "(e.g. gdcmconv --raw or dcmdjpeg) and open it again")
        if not decoder.is_available:
            missing = "; ".join(str(m) for m in getattr(decoder, "missing_dependencies", []))
            raise MissingDecoderError(
                f"{path}: no decoder installed for transfer syntax {syntax.name} ({syntax}); "
                f"install one with {DICOM_EXTRA}" + (f" (missing: {missing})" if missing
                                                     else ""))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ds.pixel_array
    except Exception as exc:  # noqa: BLE001 - decoders raise many kinds
        raise ValueError(f"{path}: pixel data could not be decoded "
                         f"({type(exc).__name__}: {exc})") from exc


def _rescale(planes, slopes, intercepts):
    """Modality LUT per slice into one array: int16 when exact and in range, else float32.

    ``planes`` is a sequence of slices (or a stacked array); each is written
    into the output once, so a 150 × 512 × 512 series is never copied whole
    nor held as int64 or float64.
    """
    first = np.asarray(planes[0])
    shape = (len(planes),) + first.shape
    if np.all(slopes == 1) and np.all(intercepts == 0):
        return planes if isinstance(planes, np.ndarray) else np.stack(planes)
    integral = (np.all(slopes == np.round(slopes)) and np.all(intercepts == np.round(intercepts)))
    if integral and first.dtype.kind in "iu":
        low = float(min(p.min() for p in planes))
        high = float(max(p.max() for p in planes))
        ends = np.concatenate([low * slopes + intercepts, high * slopes + intercepts])
        if ends.min() >= np.iinfo(np.int16).min and ends.max() <= np.iinfo(np.int16).max \
                and high <= np.iinfo(np.int32).max:
            out = np.empty(shape, np.int16)
            for k, plane in enumerate(planes):
                plane = plane.astype(np.int32)
                if slopes[k] != 1:
                    plane *= int(slopes[k])
                plane += int(intercepts[k])
                out[k] = plane
            return out
    out = np.empty(shape, np.float32)
    for k, plane in enumerate(planes):
        np.multiply(plane, np.float32(slopes[k]), out=out[k], casting="unsafe")
        out[k] += np.float32(intercepts[k])
    return out


def _first(value):
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        value = value[0]
    return float(value)


def _series_label(ds, part):
    number = ds.get("SeriesNumber")
    description = str(ds.get("SeriesDescription") or "").strip()
    modality = str(ds.get("Modality") or "DICOM")
    label = " ".join(str(p) for p in (number, description) if p not in (None, ""))
    if not description:
        label = f"{modality} {label}".strip() if label else f"{modality} series"
    if part is not None:
        label += f" (part {part + 1})"
    return label


_KEY_TAGS = ("Modality", "SeriesDescription", "SeriesNumber", "StudyDescription",
             "StudyDate", "BodyPartExamined", "Manufacturer", "PatientID",
             "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "SOPClassUID",
             "RescaleType", "SliceThickness", "SpacingBetweenSlices",
             "ImageOrientationPatient", "TransferSyntaxUID")


def _key_tags(ds):
    tags = {}
    for keyword in _KEY_TAGS:
        value = (ds.file_meta.get(keyword) if keyword == "TransferSyntaxUID"
                 else ds.get(keyword))
        if value is None or value == "":
            continue
        if isinstance(value, (pydicom.multival.MultiValue, list, tuple)):
            value = [_plain(v) for v in value]
        else:
            value = _plain(value)
        tags[keyword] = value
    center, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if center is not None and width is not None:
        tags["window"] = [_first(center), _first(width)]
    if ds.get("Modality") == "CT" and "RescaleType" not in tags:
        tags["units"] = "HU"
    elif tags.get("RescaleType"):
        tags["units"] = tags["RescaleType"]
    metadata = {"dicom": tags}
    if "window" in tags:
        metadata["window"] = tags.pop("window")
    return metadata


def _plain(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)
