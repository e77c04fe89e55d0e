"""DICOM SEG out (highdicom) and in: a label map tied to the series it was drawn on.

Writing needs the source series: the image volume read by
:func:`napari_seglab.io.read_dicom` carries the paths of its files in slice
order (``metadata["files"]``), and the SEG references those instances, so a
viewer such as 3D Slicer or OHIF lays it over the right images. Each label
value becomes one segment, named ``"<name> [<value>]"`` so reading it back
restores the values.
"""

from __future__ import annotations

import re
import warnings

import numpy as np

from ..core.files import atomic_write
from .base import Volume, clean_float_tuple, geometry_from_affine

__all__ = ["write_dicom_seg", "read_dicom_seg", "HIGHDICOM_MISSING"]

HIGHDICOM_MISSING = ('DICOM SEG needs highdicom: pip install "napari-seglab[dicom]" '
                     "(or pip install highdicom)")
_VALUE_IN_LABEL = re.compile(r"\[(\d+)\]\s*$")


def _highdicom():
    try:
        import highdicom
    except ImportError as exc:
        raise ValueError(HIGHDICOM_MISSING) from exc
    return highdicom


def source_files(metadata):
    """The source DICOM files of a volume (slice order), or a ValueError saying why not."""
    files = (metadata or {}).get("files")
    if not files:
        raise ValueError("DICOM SEG needs the source DICOM series: the image layer must come "
                         "from the plugin's DICOM reader (its metadata lists the files)")
    return files


def write_dicom_seg(path, labels, source, *, names=None, description="napari-seglab"):
    """Write a label map as a DICOM Segmentation of its source series, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Target ``.dcm`` file.
    labels : numpy.ndarray of int
        (z, y, x) label map on the grid of the source volume.
    source : Volume or dict
        The source volume (or its ``metadata``) from :func:`read_dicom`.
    names : dict, optional
        Label value → segment name.
    description : str, default "napari-seglab"
        Series description of the SEG.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        highdicom absent, no source files, a shape that does not match the
        source, or no label at all.
    """
    from pathlib import Path

    import pydicom

    hd = _highdicom()
    from pydicom.sr.codedict import codes

    metadata = source.metadata if isinstance(source, Volume) else dict(source or {})
    files = source_files(metadata)
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iub":
        raise TypeError(f"labels must be integers; got dtype {labels.dtype}")
    if labels.ndim == 2:
        labels = labels[np.newaxis]
    if len(files) == 1 and labels.shape[0] > 1:
        raise ValueError("DICOM SEG export of multi-frame sources is not supported yet; "
                         "export NIfTI or NRRD instead")
    if labels.shape[0] != len(files):
        raise ValueError(f"labels have {labels.shape[0]} slices but the source series has "
                         f"{len(files)}: draw the labels on the DICOM image's grid")
    present = [i for i, f in enumerate(files) if f is not None]
    datasets = []
    for i in present:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            datasets.append(pydicom.dcmread(files[i]))
    for ds in datasets:
        _fill_type2(ds)
    if labels.shape[1:] != (int(datasets[0].Rows), int(datasets[0].Columns)):
        raise ValueError(f"labels of shape {labels.shape} do not match the source images "
                         f"({datasets[0].Rows}×{datasets[0].Columns})")
    values = [int(v) for v in np.unique(labels) if v != 0]
    if not values:
        raise ValueError("the label map is empty: nothing to export as DICOM SEG")
    lookup = np.zeros(int(labels.max()) + 1, np.uint16)
    lookup[values] = np.arange(1, len(values) + 1)
    segment_array = lookup[labels[present]]
    names = names or {}
    algorithm = hd.AlgorithmIdentificationSequence(
        name="napari-seglab", version=_version(), family=codes.cid7162.ArtificialIntelligence)
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=f"{names.get(value) or 'label'} [{value}]",
            segmented_property_category=codes.SCT.Tissue,
            segmented_property_type=codes.SCT.Tissue,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC,
            algorithm_identification=algorithm)
        for number, value in enumerate(values, start=1)]
    seg = hd.seg.Segmentation(
        source_images=datasets,
        pixel_array=segment_array,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=int(datasets[0].get("SeriesNumber") or 0) + 1000,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="napari-seglab",
        manufacturer_model_name="napari-seglab",
        software_versions=_version(),
        device_serial_number="0",
        series_description=description,
        omit_empty_frames=False,
    )
    path = Path(path)
    with atomic_write(path) as fh:
        seg.save_as(fh)
    return path


#: Patient and study attributes a SEG copies from its source; anonymised series
#: often drop them, and DICOM allows them empty (type 2).
_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate",
          "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName")


def _fill_type2(ds):
    for keyword in _TYPE2:
        if keyword not in ds:
            setattr(ds, keyword, "")
    for keyword in ("StudyInstanceUID", "FrameOfReferenceUID"):
        if not ds.get(keyword):
            raise ValueError(f"the source image {getattr(ds, 'filename', '')} has no "
                             f"{keyword}: a DICOM SEG cannot reference it; export NIfTI "
                             "or NRRD instead")


def _version():
    try:
        from importlib.metadata import version

        return version("napari-seglab")
    except Exception:  # noqa: BLE001 - not installed (a source checkout)
        return "0"


def read_dicom_seg(path) -> Volume:
    """Read a DICOM SEG file as a label volume on its own frames' grid.

    Segment ``k`` becomes the label value written in its name
    (``"... [value]"``, as :func:`write_dicom_seg` writes it), else ``k``.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Volume
        ``kind="dicom-seg"``, labels in (z, y, x) order.

    Raises
    ------
    ValueError
        highdicom absent, or a SEG whose frames do not form a regular volume.
    """
    hd = _highdicom()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seg = hd.seg.segread(str(path))
            volume = seg.get_volume(combine_segments=True, relabel=False)
    except ValueError as exc:
        raise ValueError(f"{path}: the DICOM SEG frames do not form a regular volume "
                         f"({exc})") from exc
    except Exception as exc:  # noqa: BLE001 - highdicom raises many kinds on bad files
        raise ValueError(f"{path} could not be read as DICOM SEG: {exc}") from exc
    numbers = list(seg.get_segment_numbers())
    mapping = {}
    for number in numbers:
        label = str(seg.get_segment_description(number).segment_label)
        found = _VALUE_IN_LABEL.search(label)
        mapping[number] = int(found.group(1)) if found else number
    data = np.asarray(volume.array)
    top = max(list(mapping.values()) + [0])
    dtype = np.uint8 if top < 256 else np.uint16 if top < 65536 else np.int32
    lookup = np.zeros(max(numbers + [0]) + 1, dtype)
    for number, value in mapping.items():
        lookup[number] = value
    data = lookup[data.astype(np.int64)]
    # highdicom's affine maps (slice, row, column) to LPS (x, y, z)
    affine_xyz = np.asarray(volume.affine, float)
    affine = np.eye(4)
    affine[:3, :3] = affine_xyz[:3, :3][::-1]
    affine[:3, 3] = affine_xyz[:3, 3][::-1]
    # our DICOM volumes run along the slice normal (row × column); highdicom's
    # may run the other way
    row_xyz, col_xyz = affine[:3, 2][::-1], affine[:3, 1][::-1]
    normal = np.cross(row_xyz, col_xyz)[::-1]
    if data.shape[0] > 1 and float(affine[:3, 0] @ normal) < 0:
        data = data[::-1].copy()
        affine[:3, 3] += affine[:3, 0] * (data.shape[0] - 1)
        affine[:3, 0] *= -1
    spacing, origin, direction = geometry_from_affine(affine)
    names = {mapping[n]: str(seg.get_segment_description(n).segment_label) for n in numbers}
    metadata = {
        "direction": direction.round(6).tolist(),
        "source": str(path),
        "segment_names": {str(k): v for k, v in names.items()},
        "dicom": {"Modality": "SEG",
                  "SeriesInstanceUID": str(seg.SeriesInstanceUID),
                  "FrameOfReferenceUID": str(seg.get("FrameOfReferenceUID", "")),
                  "SeriesDescription": str(seg.get("SeriesDescription", ""))},
    }
    name = str(seg.get("SeriesDescription") or "") or "DICOM SEG"
    return Volume(data=data, spacing=clean_float_tuple(spacing),
                  origin=clean_float_tuple(origin), name=name, metadata=metadata,
                  kind="dicom-seg")
