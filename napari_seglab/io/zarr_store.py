"""Zarr and OME-Zarr, lazily: open images (every scale), write label images chunk by chunk.

OME-Zarr 0.4 (zarr v2, metadata at the top of the attributes) and 0.5
(zarr v3, metadata under ``"ome"``) are read; label images are written in
the version (zarr format) of the image they belong to, as an OME-Zarr
``labels`` group: ``<out>/<name>/0`` with ``multiscales`` and
``image-label`` metadata, so ``<out>`` may be the image's own ``labels``
folder. :func:`read_zarr` gives napari layers (through the plugin's one
reader, ``napari_seglab._reader``): dask arrays, every scale as a multiscale
layer, the voxel size from the OME metadata, and the image's label groups as
Labels layers.

The metadata are parsed here rather than with ome-zarr-py (in the ``scale``
extra): its reader follows ``labels`` paths and builds a dask array for every
level before a caller can check declared sizes, and reports damaged metadata
in its log rather than raising; both are what this module must refuse.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.files import atomic_replace, refuse_existing
from ..core.memory import format_bytes
from .safety import confine, reason

__all__ = [
    "ZarrImage",
    "add_label_image",
    "block_regions",
    "check_levels",
    "create_labels_array",
    "create_plain_array",
    "is_zarr",
    "labels_group_names",
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
    if not all(math.isfinite(v) and v > 0 for v in scale):
        raise ValueError(f"dataset {dataset.get('path')!r}: coordinateTransformations scale "
                         f"{scale} must be finite and positive; fix the OME-Zarr metadata")
    if not all(math.isfinite(v) for v in translation):
        raise ValueError(f"dataset {dataset.get('path')!r}: coordinateTransformations "
                         f"translation {translation} must be finite; fix the OME-Zarr metadata")
    return scale, translation


def open_zarr(path) -> ZarrImage:
    """Open a zarr array, a zarr group holding one, or an OME-Zarr image, lazily.

    Nothing outside ``path`` is opened: dataset and label paths that climb
    out of it (``../other.zarr``, absolute paths) are refused. Declared
    shapes are checked before any array is wrapped (see :func:`check_levels`).

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
        When the folder is not zarr, its metadata are damaged, or its group
        holds no image array (the message names the folder and what to do).
    """
    path = Path(path)
    try:
        return _open_zarr(path, path, depth=0)
    except ValueError as err:
        text = str(err)
        raise ValueError(text if text.startswith(str(path)) else f"{path}: {text}") from None
    except (KeyError, TypeError, AttributeError, IndexError, RecursionError, OSError,
            MemoryError, NotImplementedError, ArithmeticError) as err:
        raise ValueError(f"{path}: not a readable zarr / OME-Zarr image ({reason(err)}); "
                         "write it again, or point at the array folder itself "
                         "(e.g. image.zarr/0)") from None


_MAX_DEPTH = 4


def _member(root, folder, name, what):
    """``folder / name`` confined to the image folder ``root`` (no ``..``, no absolute)."""
    text = str(name)
    if not text or text.startswith(("/", "\\")) or ".." in Path(text).parts:
        raise ValueError(f"{root}: its {what} {text!r} lies outside the image folder; "
                         "only paths inside it are read")
    return confine(text, folder, what, root)


def _open_zarr(path, root, depth) -> ZarrImage:
    zarr = _need_zarr()
    if depth > _MAX_DEPTH:
        raise ValueError(f"{root}: labels nested more than {_MAX_DEPTH} deep (they refer to "
                         "themselves?); the metadata are damaged")
    if not is_zarr(path):
        raise ValueError(f"{path}: not a zarr folder (no zarr.json, .zgroup or .zarray inside)")
    node = zarr.open(str(path), mode="r")
    fmt = int(getattr(node.metadata, "zarr_format", 3))
    name = path.name.split(".")[0] or "image"
    if isinstance(node, zarr.Array):
        check_levels(path, [node])
        return ZarrImage(str(path), [node], (), [[1.0] * node.ndim], (0.0,) * node.ndim,
                         None, fmt, name)
    version, ome = _ome_attrs(node.attrs)
    multiscales = ome.get("multiscales") if version else None
    if multiscales:
        if not isinstance(multiscales, list) or not isinstance(multiscales[0], dict):
            raise ValueError(f"{path}: OME-Zarr 'multiscales' is not a list of objects")
        ms = multiscales[0]
        axes = tuple((a["name"] if isinstance(a, dict) else str(a)).lower()
                     for a in ms.get("axes", []))
        levels, scales, translation = [], [], None
        for ds in ms.get("datasets", []):
            _member(root, path, ds["path"], "dataset path")
            level = node[str(ds["path"])]
            if not isinstance(level, zarr.Array):
                raise ValueError(f"{path}: dataset {ds['path']!r} is a group, not an array")
            if not axes:
                axes = ("t", "c", "z", "y", "x")[-level.ndim:]
            if len(axes) != level.ndim:
                raise ValueError(f"{path}: 'axes' names {len(axes)} axes but dataset "
                                 f"{ds['path']!r} has {level.ndim}")
            scale, shift = _scale_of(ds, level.ndim)
            levels.append(level)
            scales.append(scale)
            translation = translation or tuple(shift)
        if not levels:
            raise ValueError(f"{path}: OME-Zarr multiscales lists no datasets")
        check_levels(path, levels)
        image = ZarrImage(str(path), levels, axes, scales, translation, version, fmt,
                          str(ms.get("name") or name), is_label="image-label" in ome)
        if "labels" in node:
            _, label_attrs = _ome_attrs(node["labels"].attrs)
            for label in label_attrs.get("labels", []) or []:
                try:
                    where = _member(root, path / "labels", label, "label image")
                    image.labels[str(label)] = _open_zarr(where, root, depth + 1)
                except (ValueError, KeyError, TypeError, RecursionError) as err:
                    # a damaged label group does not hide the image
                    warnings.warn(f"{path}: label image {label!r} skipped: {reason(err)}",
                                  UserWarning, stacklevel=3)
        return image
    if version and ome.get("labels"):  # a labels group on its own
        first = ome["labels"][0]
        return _open_zarr(_member(root, path, first, "label image"), root, depth + 1)
    arrays = [k for k, v in node.members() if isinstance(v, zarr.Array)]
    if len(arrays) == 1:
        return _open_zarr(path / arrays[0], root, depth + 1)
    members = ", ".join(k for k, _ in node.members()) or "nothing"
    raise ValueError(
        f"{path}: a zarr group without OME-Zarr multiscales metadata holding {members}: "
        "point at the array folder itself (e.g. image.zarr/0)"
    )


#: Blocks a lazy array may have: dask holds a task per block, ~1 KB each.
MAX_CHUNKS = 4_000_000
#: Bytes a zarr array may declare (1 PiB): beyond, a header that lies.
MAX_DECLARED_BYTES = 2**50


def check_levels(path, levels):
    """Refuse arrays whose declared size or number of chunks no run could handle.

    Opening is lazy, but wrapping an array in dask makes one task per chunk:
    a 612-byte ``zarr.json`` declaring 10²⁴ voxels in chunks of 1 would fill
    the memory before a single voxel is read.
    """
    for level in levels:
        shape, chunks = tuple(int(n) for n in level.shape), tuple(int(c) for c in level.chunks)
        nbytes = math.prod(shape) * np.dtype(level.dtype).itemsize
        if nbytes > MAX_DECLARED_BYTES:
            raise ValueError(f"{path}: declares an array of {shape} ({format_bytes(nbytes)}); "
                             "no image is that large: the metadata are damaged")
        if any(c < 1 for c in chunks):
            raise ValueError(f"{path}: declares chunks {chunks}; chunks must be positive")
        n_chunks = math.prod(-(-s // c) for s, c in zip(shape, chunks, strict=True))
        if n_chunks > MAX_CHUNKS:
            raise ValueError(f"{path}: {shape} in chunks of {chunks} makes {n_chunks:.3g} "
                             f"chunks (at most {MAX_CHUNKS:,} can be read): rechunk it "
                             "with larger chunks (e.g. 64 x 256 x 256)")


# --------------------------------------------------------------------------
# Writing


def block_regions(labels):
    """``[(delayed block, region)]`` of a dask array: what to write where, block by block.

    The one way the command line and the *Whole volume to zarr* section
    write a lazy result into a zarr array (each block once, in its region).
    """
    blocks = labels.to_delayed()
    items = []
    for index in np.ndindex(*blocks.shape):
        region = tuple(slice(sum(c[:i]), sum(c[:i + 1]))
                       for c, i in zip(labels.chunks, index, strict=True))
        items.append((blocks[index], region))
    return items


def create_plain_array(path, shape, chunks, dtype, *, zarr_format=3):
    """A new zarr array at ``path`` (the folder must not exist), chunked for block writes."""
    zarr = _need_zarr()
    return zarr.create_array(str(path), shape=tuple(shape), chunks=tuple(chunks),
                             dtype=np.dtype(dtype), zarr_format=zarr_format, fill_value=0)


def _label_metadata(like, name, spacing, ndim):
    """(version, zarr format, multiscales, image-label) of a new label image."""
    version = like.ome_version if like is not None and like.ome_version else "0.5"
    fmt = 2 if version == "0.4" else 3
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
    if version == "0.4":
        multiscales[0]["version"] = "0.4"
        image_label["version"] = "0.4"
    return version, fmt, multiscales, image_label


def _set_ome(group, version, **entries):
    if version == "0.4":
        group.attrs.update(entries)
    else:
        group.attrs.update({"ome": {"version": version, **entries}})


def _label_image(group, version, fmt, multiscales, image_label, shape, chunks, dtype):
    _set_ome(group, version, multiscales=multiscales, **{"image-label": image_label})
    return group.create_array("0", shape=tuple(shape), chunks=tuple(chunks),
                              dtype=np.dtype(dtype), fill_value=0,
                              **({"chunk_key_encoding": {"name": "v2", "separator": "/"}}
                                 if fmt == 2 else {}))


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
    version, fmt, multiscales, image_label = _label_metadata(like, name, spacing, len(shape))
    root = zarr.open_group(str(path), mode="w-", zarr_format=fmt)
    _set_ome(root, version, labels=[name])
    return _label_image(root.create_group(name), version, fmt, multiscales, image_label,
                        shape, chunks, dtype)


def labels_group_names(path):
    """The label image names of an existing OME-Zarr ``labels`` group, else None."""
    if not is_zarr(path):
        return None
    try:
        zarr = _need_zarr()
        node = zarr.open(str(path), mode="r")
        if isinstance(node, zarr.Array):
            return None
        version, attrs = _ome_attrs(node.attrs)
        names = attrs.get("labels") if version else None
        return [str(n) for n in names] if isinstance(names, list) else None
    except (ValueError, KeyError, TypeError, AttributeError, OSError):
        return None


@contextlib.contextmanager
def add_label_image(labels_dir, shape, chunks, dtype, *, like: ZarrImage | None = None,
                    name="seglab", spacing=None, overwrite=False):
    """Write one label image into an OME-Zarr ``labels`` folder; yields its array to fill.

    A new folder is written whole under a temporary name. In an existing
    ``labels`` group only ``labels_dir/name`` is written (under a temporary
    name, swapped in when complete) and ``name`` added to its list: the
    other label images are never touched. An existing ``name`` is replaced
    only with ``overwrite``.
    """
    labels_dir = Path(labels_dir)
    names = labels_group_names(labels_dir)
    if names is None:
        with atomic_replace(labels_dir, folder=True, overwrite=overwrite) as tmp:
            yield create_labels_array(tmp, shape, chunks, dtype, like=like, name=name,
                                      spacing=spacing)
        return
    zarr = _need_zarr()
    target = _member(labels_dir, labels_dir, name, "label image name")
    refuse_existing(target, overwrite=overwrite,
                    hint=f"pass --overwrite to replace the label image {name!r} (the other "
                    "label images are kept), or choose another --label-name")
    parent = zarr.open_group(str(labels_dir), mode="r+")
    version, fmt, multiscales, image_label = _label_metadata(like, name, spacing, len(shape))
    version = _ome_attrs(parent.attrs)[0] or version
    fmt = int(getattr(parent.metadata, "zarr_format", fmt))
    with atomic_replace(target, folder=True, overwrite=True) as tmp:
        group = zarr.open_group(str(tmp), mode="w-", zarr_format=fmt)
        yield _label_image(group, version, fmt, multiscales, image_label, shape, chunks, dtype)
    if name not in names:
        _set_ome(parent, version, labels=[*names, name])


# --------------------------------------------------------------------------
# napari reader


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
