"""Images opened lazily for block-by-block work (the ``seglab`` command line).

Zarr / OME-Zarr stay on disk (sliced per block), NPY and uncompressed TIFF
are memory-mapped; the other formats are read whole through
:func:`napari_seglab.io.read_image`. Every path goes through the same checks
as the other readers (regular files or folders only, confined references,
declared sizes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .safety import check_regular
from .zarr_store import is_zarr, open_zarr

__all__ = ["Opened", "long_suffix", "open_lazy"]


class Opened:
    """An input image: a lazily sliceable array and what its file says."""

    def __init__(self, path, array, *, spacing=None, channel_axis=None, zarr_image=None,
                 origin=None):
        self.path, self.array = Path(path), array
        self.spacing, self.channel_axis = spacing, channel_axis
        self.zarr_image, self.origin = zarr_image, origin

    @property
    def name(self):
        return self.path.name.split(".")[0] or "image"


def long_suffix(path: Path) -> str:
    """The format ending of ``path`` (``.ome.zarr``, ``.nii.gz`` kept whole), lower case."""
    name = path.name.lower()
    for double in (".ome.zarr", ".nii.gz", ".ome.tif", ".ome.tiff"):
        if name.endswith(double):
            return double
    return path.suffix.lower()


def open_lazy(path) -> Opened:
    """Open an image lazily where the format allows (zarr, NPY, uncompressed TIFF).

    The front door of the command line: zarr through :func:`.zarr_store.open_zarr`,
    NPY and TIFF memory-mapped, everything else through :func:`read_image`;
    regular files and folders only.

    Raises
    ------
    FileNotFoundError
        The path does not exist.
    ValueError
        The file cannot be read (the message names it and says why).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder; check the path")
    check_regular(path, "image", folders=True)

    if is_zarr(path):
        image = open_zarr(path)
        axes = image.axes
        array = image.array
        if "t" in axes:
            if array.shape[axes.index("t")] != 1:
                raise ValueError(f"{path}: a time series (t = {array.shape[axes.index('t')]}); "
                                 "segment one time point: point at a zarr of one")
            index = [slice(None)] * array.ndim
            index[axes.index("t")] = 0
            array = _Sliced(array, tuple(index))
            axes = tuple(a for a in axes if a != "t")
        channel = axes.index("c") if "c" in axes else None
        return Opened(path, array, spacing=image.spacing, channel_axis=channel,
                      zarr_image=image, origin=None)
    suffix = long_suffix(path)
    if suffix == ".npy":
        try:
            return Opened(path, np.load(path, mmap_mode="r", allow_pickle=False))
        except (ValueError, OSError) as err:
            raise ValueError(f"{path}: not a readable .npy file ({err})") from None
    if suffix in (".tif", ".tiff", ".ome.tif", ".ome.tiff"):
        import tifffile

        try:
            array = tifffile.memmap(path, mode="r")
        except (ValueError, OSError, TypeError):
            try:
                array = tifffile.imread(path)
            except Exception as err:  # noqa: BLE001 (tifffile raises many types for a bad file)
                raise ValueError(f"{path}: not a readable TIFF ({err})") from None
        return Opened(path, array)
    from . import read_image

    volume = read_image(path)
    data = np.asarray(volume.data)
    spatial = len(volume.spacing) if volume.spacing else data.ndim
    channel = data.ndim - 1 if data.ndim > spatial else None
    return Opened(path, data, spacing=tuple(volume.spacing) if volume.spacing else None,
                  channel_axis=channel, origin=tuple(volume.origin) if volume.origin else None)


class _Sliced:
    """A fixed index of an array (a time point of a zarr), sliced lazily."""

    def __init__(self, array, index):
        self._array, self._index = array, index
        kept = [n for n, i in zip(array.shape, index, strict=True) if isinstance(i, slice)]
        self.shape, self.dtype, self.ndim = tuple(kept), array.dtype, len(kept)

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        key = key + (slice(None),) * (self.ndim - len(key))
        it = iter(key)
        full = tuple(next(it) if isinstance(i, slice) else i for i in self._index)
        return self._array[full]

    def __array__(self, dtype=None, copy=None):
        out = np.asarray(self[...])
        return out if dtype is None else out.astype(dtype)
