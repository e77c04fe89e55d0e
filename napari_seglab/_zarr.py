"""Zarr and OME-Zarr, lazily: open images (every scale), write label images chunk by chunk.

OME-Zarr 0.4 (zarr v2, metadata at the top of the attributes) and 0.5
(zarr v3, metadata under ``"ome"``) are read; label images are written in
the version (zarr format) of the image they belong to, as an OME-Zarr
``labels`` group: ``<out>/<name>/0`` with ``multiscales`` and
``image-label`` metadata, so ``<out>`` may be the image's own ``labels``
folder. ``napari_get_reader`` is the plugin's reader for ``*.zarr``
folders: dask arrays, every scale as a multiscale layer, the voxel size from
the OME metadata, and the image's label groups as Labels layers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "ZarrImage",
    "create_labels_array",
    "create_plain_array",
    "is_zarr",
    "napari_get_reader",
    "open_zarr",
    "read_zarr",
]

_MARKERS = ("zarr.json", ".zgroup", ".zarray")


def _need_zarr():
    try:
        import zarr
    except ImportError:  # pragma: no cover - in the scale extra
        raise ImportError('zarr images need zarr: pip install "napari-seglab[scale]"') from None
    return zarr


def is_zarr(path) -> bool:
    """True for a folder holding a zarr array or group (v2 or v3)."""
    path = Path(path)
    return path.is_dir() and any((path / m).is_file() for m in _MARKERS)


@dataclass
class ZarrImage:
    """An opened zarr / OME-Zarr image: lazy arrays and what the metadata says."""

    path: str
    levels: list  # zarr arrays, finest first
    axes: tuple  # axis names ("t", "c", "z", "y", "x"), or () for a plain array
    scales: list  # per level, one scale per axis (1 for a plain array)
    translation: tuple
    ome_version: str | None
    zarr_format: int
    name: str
    labels: dict = field(default_factory=dict)  # name -> ZarrImage
    is_label: bool = False  # an OME-Zarr label image (``image-label`` metadata)

    @property
    def array(self):
        """The finest scale (a zarr array: sliced lazily)."""
        return self.levels[0]

    @property
    def channel_axis(self):
        return self.axes.index("c") if "c" in self.axes else None

    @property
    def spatial_axes(self) -> tuple:
        if not self.axes:
            return tuple(range(self.array.ndim))
        return tuple(i for i, a in enumerate(self.axes) if a not in ("c", "t"))

    @property
    def spacing(self) -> tuple | None:
        """Voxel size along the spatial axes of the finest scale (None if unknown)."""
        if self.ome_version is None:
            return None
        return tuple(float(self.scales[0][i]) for i in self.spatial_axes)


def _ome_attrs(attrs):
    """(version, attrs holding multiscales/labels) or (None, {})."""
    attrs = dict(attrs)
    if isinstance(attrs.get("ome"), dict):
        ome = attrs["ome"]
        return str(ome.get("version", "0.5")), ome
    if "multiscales" in attrs or "labels" in attrs or "image-label" in attrs:
        ms = attrs.get("multiscales") or [{}]
        return str(ms[0].get("version", "0.4")), attrs
    return None, {}


def _scale_of(dataset, ndim):
    scale = [1.0] * ndim
    translation = [0.0] * ndim
    for t in dataset.get("coordinateTransformations", []):
        if t.get("type") == "scale" and len(t.get("scale", [])) == ndim:
            scale = [float(v) for v in t["scale"]]
        if t.get("type") == "translation" and len(t.get("translation", [])) == ndim:
            translation = [float(v) for v in t["translation"]]
    return scale, translation


def open_zarr(path) -> ZarrImage:
    """Open a zarr array, a zarr group holding one, or an OME-Zarr image, lazily.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.zarr`` folder.

    Returns
    -------
    ZarrImage

    Raises
    ------
    ValueError
        When the folder is not zarr or its group holds no image array (the
        message lists what it holds).
    """
    zarr = _need_zarr()
    path = Path(path)
    if not is_zarr(path):
        raise ValueError(f"{path}: not a zarr folder (no zarr.json, .zgroup or .zarray inside)")
    node = zarr.open(str(path), mode="r")
    fmt = int(getattr(node.metadata, "zarr_format", 3))
    name = path.name.split(".")[0] or "image"
    if isinstance(node, zarr.Array):
        return ZarrImage(str(path), [node], (), [[1.0] * node.ndim], (0.0,) * node.ndim,
                         None, fmt, name)
    version, ome = _ome_attrs(node.attrs)
    multiscales = ome.get("multiscales") if version else None
    if multiscales:
        ms = multiscales[0]
        axes = tuple((a["name"] if isinstance(a, dict) else str(a)).lower()
                     for a in ms.get("axes", []))
        levels, scales, translation = [], [], None
        for ds in ms.get("datasets", []):
            level = node[ds["path"]]
            if not axes:
                axes = ("t", "c", "z", "y", "x")[-level.ndim:]
            scale, shift = _scale_of(ds, level.ndim)
            levels.append(level)
            scales.append(scale)
            translation = translation or tuple(shift)
        if not levels:
            raise ValueError(f"{path}: OME-Zarr multiscales lists no datasets")
        image = ZarrImage(str(path), levels, axes, scales, translation, version, fmt,
                          ms.get("name") or name, is_label="image-label" in ome)
        if "labels" in node:
            _, label_attrs = _ome_attrs(node["labels"].attrs)
            for label in label_attrs.get("labels", []):
                try:
                    image.labels[label] = open_zarr(path / "labels" / label)
                except (ValueError, KeyError):
                    continue  # a damaged label group does not hide the image
        return image
    if version and ome.get("labels"):  # a labels group on its own
        first = ome["labels"][0]
        return open_zarr(path / first)
    arrays = [k for k, v in node.members() if isinstance(v, zarr.Array)]
    if len(arrays) == 1:
        return open_zarr(path / arrays[0])
    members = ", ".join(k for k, _ in node.members()) or "nothing"
    raise ValueError(
        f"{path}: a zarr group without OME-Zarr multiscales metadata holding {members}: "
        "point at the array folder itself (e.g. image.zarr/0)"
    )


# --------------------------------------------------------------------------
# Writing


def create_plain_array(path, shape, chunks, dtype, *, zarr_format=3):
    """A new zarr array at ``path`` (the folder must not exist), chunked for block writes."""
    zarr = _need_zarr()
    return zarr.create_array(str(path), shape=tuple(shape), chunks=tuple(chunks),
                             dtype=np.dtype(dtype), zarr_format=zarr_format, fill_value=0)


def create_labels_array(path, shape, chunks, dtype, *, like: ZarrImage | None = None,
                        name="seglab", spacing=None):
    """A new OME-Zarr labels group at ``path`` with one label image ``name``; its array.

    The layout is the image's own ``labels`` folder (``path/name/0``), with
    the OME-Zarr version and zarr format of ``like`` (0.5 / v3 without it),
    the spatial axes and voxel size of ``like``'s finest scale (or
    ``spacing``), and ``image-label`` metadata naming the image.

    Returns
    -------
    zarr.Array
        The ``path/name/0`` array to write blocks into.
    """
    zarr = _need_zarr()
    version = like.ome_version if like is not None and like.ome_version else "0.5"
    fmt = 2 if version == "0.4" else 3
    ndim = len(shape)
    if like is not None and like.axes:
        axes_names = [like.axes[i] for i in like.spatial_axes][-ndim:]
    else:
        axes_names = ["z", "y", "x"][-ndim:]
    if spacing is None and like is not None:
        spacing = like.spacing
    spacing = [1.0] * ndim if spacing is None else [float(s) for s in spacing][-ndim:]
    axes = [{"name": a, "type": "space"} for a in axes_names]
    multiscales = [{
        "axes": axes, "name": name,
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": spacing}]}],
    }]
    image_label = {"source": {"image": "../../"}}
    root = zarr.open_group(str(path), mode="w-", zarr_format=fmt)
    group = root.create_group(name)
    if version == "0.4":
        multiscales[0]["version"] = "0.4"
        image_label["version"] = "0.4"
        root.attrs.update({"labels": [name]})
        group.attrs.update({"multiscales": multiscales, "image-label": image_label})
    else:
        root.attrs.update({"ome": {"version": version, "labels": [name]}})
        group.attrs.update({"ome": {"version": version, "multiscales": multiscales,
                                    "image-label": image_label}})
    return group.create_array("0", shape=tuple(shape), chunks=tuple(chunks),
                              dtype=np.dtype(dtype), fill_value=0,
                              **({"chunk_key_encoding": {"name": "v2", "separator": "/"}}
                                 if fmt == 2 else {}))


# --------------------------------------------------------------------------
# napari reader


def napari_get_reader(path):
    """The reader for a ``.zarr`` folder (or a list of them), else None."""
    paths = path if isinstance(path, list) else [path]
    if not paths or not all(isinstance(p, (str, os.PathLike)) and is_zarr(p) for p in paths):
        return None
    return read_zarr


def _dask(array):
    import dask.array as da

    return da.from_zarr(array)


def read_zarr(path):
    """Layer data tuples for a zarr / OME-Zarr folder (or a list of them), lazily."""
    paths = path if isinstance(path, list) else [path]
    layers = []
    for p in paths:
        image = open_zarr(p)
        data = [_dask(level) for level in image.levels]
        channel_axis = image.channel_axis
        keep = [i for i in range(image.array.ndim) if i != channel_axis]
        kwargs = {"name": image.name}
        if image.ome_version:
            kwargs["scale"] = tuple(image.scales[0][i] for i in keep)
            kwargs["translate"] = tuple(image.translation[i] for i in keep)
        if channel_axis is not None:
            kwargs["channel_axis"] = channel_axis
        if len(data) > 1:
            kwargs["multiscale"] = True
        if image.is_label:
            kwargs.pop("channel_axis", None)
        layers.append((data if len(data) > 1 else data[0], kwargs,
                       "labels" if image.is_label else "image"))
        for name, label in image.labels.items():
            ldata = [_dask(level) for level in label.levels]
            lkw = {"name": f"{image.name} {name}"}
            if label.ome_version:
                lkw["scale"] = tuple(label.scales[0][i] for i in label.spatial_axes)
            if len(ldata) > 1:
                lkw["multiscale"] = True
            layers.append((ldata if len(ldata) > 1 else ldata[0], lkw, "labels"))
    return layers
