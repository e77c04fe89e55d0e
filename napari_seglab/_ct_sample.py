"""A CT-like phantom as a real DICOM series, opened through the plugin's reader.

The series is what a scanner would write: one file per slice, stored values
``HU + 1024`` with RescaleIntercept −1024, 0.7 × 0.7 mm pixels, 2.5 mm
between slice positions and a SliceThickness of 3 mm (different on purpose:
spacing comes from the positions). Tissues have known Hounsfield units (air
−1000, fat −100, soft tissue 40, bone 700) plus a little noise, and the ground
truth is exact. Everything is deterministic (fixed UIDs and noise), so the
files in ``sample_data/ct_phantom/`` are regenerated bit for bit.

The sample command reads those files when the repository is there; an
installed wheel has no ``sample_data/``, so it writes the series to a cache
folder first. Either way the image comes through :func:`napari_seglab.io.read_dicom`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

#: Tissue classes of the ground truth (label = index) and their HU.
TISSUES = ("air", "fat", "soft tissue", "bone")
TISSUE_HU = (-1000, -100, 40, 700)
#: Voxel size (z, y, x) in mm and the array shape.
CT_SPACING = (2.5, 0.7, 0.7)
CT_SHAPE = (32, 128, 128)
#: Patient position of voxel (0, 0, 0), (z, y, x) in mm (LPS).
CT_ORIGIN = (-40.0, -44.8, -44.8)
SLICE_THICKNESS = 3.0
NOISE_HU = 10.0
#: Centre (z, y, x, mm from the volume origin) and radius (mm) of the bone sphere.
SPHERE_CENTRE_MM = (40.0, 38.0, 62.0)
SPHERE_RADIUS_MM = 9.0
_VERSION = "1"
_UID_ROOT = "napari-seglab ct phantom v" + _VERSION

#: Where the repository keeps the series (absent in an installed wheel).
REPO_FOLDER = Path(__file__).resolve().parents[1] / "sample_data" / "ct_phantom"


def ct_phantom(shape=CT_SHAPE, spacing=CT_SPACING, *, random_state=0):
    """A CT-like torso slab: HU volume and its exact tissue labels.

    Parameters
    ----------
    shape : tuple of 3 int, default (32, 128, 128)
    spacing : tuple of 3 float, default (2.5, 0.7, 0.7)
        Voxel size in mm (z, y, x); the anatomy is defined in mm.
    random_state : int, default 0
        Seed of the noise.

    Returns
    -------
    hu : numpy.ndarray of int16
        Hounsfield units, clipped to [-1024, 3071].
    truth : numpy.ndarray of uint8
        0 air, 1 fat, 2 soft tissue, 3 bone.

    Examples
    --------
    >>> hu, truth = ct_phantom()
    >>> hu.shape, sorted(set(truth.ravel().tolist()))
    ((32, 128, 128), [0, 1, 2, 3])
    >>> round(float(hu[truth == 3].mean()))
    700
    """
    zz, yy, xx = np.meshgrid(*(np.arange(n) * s for n, s in zip(shape, spacing, strict=False)),
                             indexing="ij", sparse=True)
    depth, height, width = (n * s for n, s in zip(shape, spacing, strict=False))
    cy, cx = height / 2, width / 2
    # the body narrows a little towards both ends of the slab
    taper = 1 - 0.12 * ((zz - depth / 2) / (depth / 2)) ** 2
    ry, rx = 0.36 * height * taper, 0.44 * width * taper
    body = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    inner = ((yy - cy) / (ry - 4.0)) ** 2 + ((xx - cx) / (rx - 4.0)) ** 2 <= 1
    vertebra = ((yy - (cy + 0.22 * height)) / 7.0) ** 2 + ((xx - cx) / 8.0) ** 2 <= 1
    sphere = ((zz - SPHERE_CENTRE_MM[0]) ** 2 + (yy - SPHERE_CENTRE_MM[1]) ** 2
              + (xx - SPHERE_CENTRE_MM[2]) ** 2) <= SPHERE_RADIUS_MM ** 2
    truth = np.zeros(shape, np.uint8)
    truth[np.broadcast_to(body, shape)] = 1
    truth[np.broadcast_to(inner, shape)] = 2
    truth[np.broadcast_to(vertebra & inner, shape)] = 3
    truth[np.broadcast_to(sphere & inner, shape)] = 3
    noise = np.random.default_rng(random_state).normal(0.0, NOISE_HU, shape)
    hu = np.asarray(TISSUE_HU, float)[truth] + noise
    return np.clip(np.round(hu), -1024, 3071).astype(np.int16), truth


def _uid(*parts):
    from pydicom.uid import generate_uid

    return generate_uid(entropy_srcs=[_UID_ROOT, *map(str, parts)])


def write_ct_series(folder, *, random_state=0):
    """Write the phantom as a DICOM CT series (one file per slice), atomically.

    Parameters
    ----------
    folder : str or os.PathLike
        Created if needed; files ``CT0001.dcm`` ... are written there.
    random_state : int, default 0

    Returns
    -------
    list of pathlib.Path
        The files, in slice order.
    """
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

    from .core.files import atomic_write

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    hu, _ = ct_phantom(random_state=random_state)
    stored = (hu.astype(np.int32) + 1024).astype(np.uint16)
    study, series, frame = _uid("study"), _uid("series", random_state), _uid("frame")
    paths = []
    for k, plane in enumerate(stored):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = _uid("image", random_state, k)
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = pydicom.Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.PatientName, ds.PatientID = "Phantom^CT", "SEGLAB-CT-PHANTOM"
        ds.PatientBirthDate, ds.PatientSex = "", "O"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = frame, ""
        ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = "1", "", ""
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20260101"
        ds.StudyTime = ds.SeriesTime = ds.ContentTime = "120000"
        ds.StudyDescription = "napari-seglab sample"
        ds.Modality, ds.Manufacturer = "CT", "napari-seglab phantom"
        ds.SeriesNumber, ds.SeriesDescription = 1, "CT phantom"
        ds.InstanceNumber = k + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.PatientPosition = "HFS"
        ds.ImagePositionPatient = [CT_ORIGIN[2], CT_ORIGIN[1], CT_ORIGIN[0] + k * CT_SPACING[0]]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [CT_SPACING[1], CT_SPACING[2]]
        ds.SliceThickness = SLICE_THICKNESS
        ds.SliceLocation = CT_ORIGIN[0] + k * CT_SPACING[0]
        ds.Rows, ds.Columns = plane.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024, 1, "HU"
        ds.WindowCenter, ds.WindowWidth = 40, 400
        ds.KVP = 120
        ds.PixelData = np.ascontiguousarray(plane).tobytes()
        path = folder / f"CT{k + 1:04d}.dcm"
        with atomic_write(path) as fh:
            pydicom.dcmwrite(fh, ds, enforce_file_format=True)
        paths.append(path)
    return paths


def _cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache")
    return Path(base) / "napari-seglab" / f"ct_phantom_v{_VERSION}"


def series_folder() -> Path:
    """The phantom's DICOM folder: the repository's, else written to a cache once."""
    repo = REPO_FOLDER / "dicom"
    if len(list(repo.glob("CT*.dcm"))) == CT_SHAPE[0]:
        return repo
    cache = _cache_folder()
    if len(list(cache.glob("CT*.dcm"))) != CT_SHAPE[0]:
        write_ct_series(cache)
    return cache


def ct_phantom_sample():
    """npe2 sample: the phantom series (through the reader), its truth and seeds."""
    from ._reader import read_layers

    layers = read_layers(series_folder())
    _, truth = ct_phantom()
    image_kwargs = layers[0][1]
    common = {"scale": image_kwargs["scale"], "translate": image_kwargs["translate"]}
    names = {"index": np.arange(len(TISSUES)), "name": list(TISSUES)}
    seed_names = {"index": np.arange(1, len(TISSUES) + 1), "name": list(TISSUES)}
    layers.append((truth, {"name": "ground truth", "features": names, "opacity": 0.4,
                           "visible": False, **common}, "labels"))
    layers.append((np.zeros(truth.shape, np.uint8),
                   {"name": "seeds", "features": seed_names, **common}, "labels"))
    return layers
