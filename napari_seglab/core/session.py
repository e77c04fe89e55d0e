"""Session files: the state of a segmentation project, data only (JSON + NPZ, no pickle).

A session holds what it takes to pick the work up again: the image layer(s)
(by file path, or embedded), the seeds, the ground-truth choice, the feature
choice, the method and its parameters, the trained model and a little UI
state. It is a data file (:mod:`napari_seglab.core.datafile`, the container
of model files too: a ``.npz`` archive that ``np.load(path,
allow_pickle=False)`` also opens).

Session file format (version 2; version 1 files still load)
------------------------------------------------------------
``header``
    A JSON object::

        {"format": "napari-seglab-session", "version": 1,
         "images": [{"name": str, "role": "image" | "channel",
                     "path": str | null, "relative_path": str | null,
                     "reader": str | null, "shape": [int, ...], "dtype": str,
                     "rgb": bool, "scale": [float, ...], "translate": [float, ...],
                     "embedded": bool}, ...],      # the first is the image
         "seeds": {"name": str, "scale": [...], "translate": [...],
                   "classes": {"1": name, ...}, "colors": {"1": "#rrggbb", ...}},
         "truth": {... as an image, role "truth"} | null,
         "features": null | preset name | {"filters": [[name, sigma], ...], ...},
         "method": str, "params": {...},          # make_segmenter(method, **params)
         "model_trained_on": str | null, "ui": {...},
         # version 2:
         "results": [{"name": str, "scale": [...], "translate": [...],
                      "visible": bool}, ...],       # segmentation layers
         "segmentation": int | null,               # the result playing that role
         "mapping": {"<truth value>": class, ...} | null, "mapping_how": str,
         "visible": {"image": bool, "seeds": bool, "truth": bool},
         "arrays": {...}, "software": {...}}

``seeds``
    The seeds, always embedded (the archive is deflate-compressed: seeds
    are mostly zeros and shrink to almost nothing).
``image_<i>``, ``truth``
    Embedded images: only those without a file (a sample, a computed
    layer) and of at most :data:`MAX_EMBED_BYTES` (64 MiB); larger ones
    without a file are recorded by name only, and reopening needs a layer
    of that name and shape open in the viewer.
``result_<i>``
    The segmentation layers (grow and clean-up edits included), embedded.
``model``
    The trained model's own file (:mod:`~napari_seglab.core.model_io`), as
    uint8 bytes: it is checked by the model loader as any model file is.

Loading trusts nothing: the container checks (regular file, header first,
declared members only, sizes within :data:`MAX_SESSION_BYTES` before
decompressing), then every field (names, shapes against the image, dtypes,
scales, the method and every parameter within the model format's limits,
the feature spec, the model itself). Every failure raises
``InvalidFileError`` (a ``ValueError``) ``"<path>: not a valid
napari-seglab-session file: <reason>"``.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from dataclasses import dataclass, field

import numpy as np

from .datafile import InvalidFileError, read_datafile, write_datafile
from .features import PRESETS, FeatureSpec
from .segmenters import DEFAULT_METHOD, SEGMENTERS

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "MAX_EMBED_BYTES", "MAX_SESSION_BYTES",
           "ImageRef", "ResultState", "SeedsState", "Session", "image_ref", "load_session",
           "save_session"]

FORMAT_NAME = "napari-seglab-session"
FORMAT_VERSION = 2
#: Largest image (or ground truth) embedded when it has no file of its own.
MAX_EMBED_BYTES = 64 << 20
#: Most bytes all the arrays of a session file may take once read (seeds of a
#: 1024³ uint8 volume); a file declaring more is refused before reading.
MAX_SESSION_BYTES = 1 << 30
#: Most images (the image and its extra channels) in a session.
MAX_IMAGES = 64
_MAX_NAME = 256
_MAX_PATH = 4096
_MAX_CLASSES = 4096
_UI_KEYS = {"show_uncertainty": bool, "live": bool, "exclude_seeds": bool,
            "expanded": list}
_ROLES = ("image", "channel")
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass
class ImageRef:
    """An image layer (or the ground truth) as a session records it.

    Parameters
    ----------
    name : str
        The layer's name.
    shape : tuple of int
        The layer data's shape (channel axis last for RGB).
    dtype : str
        The data's dtype (``np.dtype(...).str``).
    role : {"image", "channel", "truth"}
    path, reader : str, optional
        The file it was opened from and the napari reader plugin.
    rgb : bool
    scale, translate : tuple of float
        The layer's, one per spatial axis.
    data : ndarray, optional
        The embedded data (for a layer without a file); see :func:`image_ref`.
    """

    name: str
    shape: tuple
    dtype: str
    role: str = "image"
    path: str | None = None
    reader: str | None = None
    rgb: bool = False
    scale: tuple = ()
    translate: tuple = ()
    data: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def spatial_shape(self) -> tuple:
        return tuple(self.shape[:-1] if self.rgb else self.shape)


@dataclass
class SeedsState:
    """The seeds layer: its pixels, class names and colours, and geometry."""

    data: np.ndarray = field(repr=False)
    name: str = "seeds"
    classes: dict = field(default_factory=dict)  # label -> name
    colors: dict = field(default_factory=dict)  # label -> "#rrggbb"
    scale: tuple = ()
    translate: tuple = ()


@dataclass
class ResultState:
    """A segmentation layer: its labels (embedded), name, geometry and visibility."""

    data: np.ndarray = field(repr=False)
    name: str = "segmentation"
    scale: tuple = ()
    translate: tuple = ()
    visible: bool = True


@dataclass
class Session:
    """Everything a session file holds (see the module doc).

    ``images[0]`` is the image that is segmented, the others its extra
    channels. ``features`` is ``None`` (the method's preset), a preset name
    or a :class:`FeatureSpec`'s ``to_dict()``. ``model`` is a model file's
    bytes (:func:`napari_seglab.core.blockwise.model_to_bytes`) or None.
    """

    images: list
    seeds: SeedsState
    truth: ImageRef | None = None
    features: object = None
    method: str = DEFAULT_METHOD
    params: dict = field(default_factory=dict)
    model: bytes | None = field(default=None, repr=False)
    model_trained_on: str | None = None
    ui: dict = field(default_factory=dict)
    #: Segmentation layers (:class:`ResultState`) and which one is the segmentation.
    results: list = field(default_factory=list)
    segmentation: int | None = None
    #: The truth → class mapping the user kept (None: choose again), and how.
    mapping: dict | None = None
    mapping_how: str = ""
    #: Visibility of the "image", "seeds" and "truth" layers.
    visible: dict = field(default_factory=dict)
    version: int = FORMAT_VERSION

    def feature_value(self):
        """The feature choice as the panel holds it: None, a preset name or a FeatureSpec."""
        if isinstance(self.features, dict):
            return FeatureSpec.from_dict(self.features)
        return self.features

    def load_model(self):
        """The trained model (a :class:`~.pipeline.SeededModel`), or None."""
        if self.model is None:
            return None
        from .blockwise import model_from_bytes

        return model_from_bytes(self.model)


def image_ref(name, data, *, role="image", path=None, reader=None, rgb=False, scale=None,
              translate=None, max_embed_bytes=MAX_EMBED_BYTES) -> ImageRef:
    """Record an image for a session, embedding it when it has no file and is small.

    An image read from a file is referenced by its path (never copied); one
    without a file (a sample, a computed layer) is embedded if it takes at
    most ``max_embed_bytes``, else recorded by name and shape only.

    Examples
    --------
    >>> ref = image_ref("phantom", np.zeros((4, 5), np.float32))
    >>> ref.shape, ref.data is not None
    ((4, 5), True)
    >>> image_ref("scan", np.zeros((4, 5)), path="/data/scan.nii.gz").data is None
    True
    """
    array = None if path is not None else np.asarray(data)
    shape = tuple(int(n) for n in np.shape(data))
    ndim = len(shape) - (1 if rgb else 0)
    embed = array if array is not None and array.nbytes <= max_embed_bytes else None
    return ImageRef(name=str(name), shape=shape, dtype=np.dtype(data.dtype).str, role=role,
                    path=None if path is None else os.path.abspath(os.fspath(path)),
                    reader=reader, rgb=bool(rgb),
                    scale=_floats(scale, ndim, 1.0), translate=_floats(translate, ndim, 0.0),
                    data=embed)


def _floats(values, ndim, default):
    if values is None:
        return (default,) * ndim
    return tuple(float(v) for v in list(values)[-ndim:])


# --------------------------------------------------------------------------
# Saving


def save_session(path, session: Session) -> None:
    """Write ``session`` to ``path`` atomically (a failed write leaves the old file).

    :func:`load_session` checks are applied first, so a file this writes
    always loads.

    Raises
    ------
    ValueError
        A session that :func:`load_session` would refuse (e.g. seeds whose
        shape is not the image's); nothing is written.
    OSError
        The write failed; ``path`` is unchanged.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> image = np.random.default_rng(0).random((16, 16)).astype(np.float32)
    >>> seeds = np.zeros((16, 16), np.uint8); seeds[2, 2], seeds[12, 12] = 1, 2
    >>> session = Session(images=[image_ref("img", image)], seeds=SeedsState(seeds),
    ...                   method="knn", params={"n_neighbors": 1}, features="minimal")
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "demo.seglab-session.npz"
    >>> save_session(path, session)
    >>> again = load_session(path)
    >>> again.method, again.params, again.features, int(again.seeds.data.sum())
    ('knn', {'n_neighbors': 1}, 'minimal', 3)
    >>> bool((again.images[0].data == image).all())
    True
    """
    if not isinstance(session, Session):
        raise TypeError(f"session must be a Session; got {type(session).__name__}")
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    arrays = {"seeds": np.asarray(session.seeds.data)}
    images = []
    for i, ref in enumerate(session.images):
        images.append(_ref_header(ref, folder, embedded=ref.data is not None))
        if ref.data is not None:
            arrays[f"image_{i}"] = np.asarray(ref.data)
    truth = None
    if session.truth is not None:
        truth = _ref_header(session.truth, folder, embedded=session.truth.data is not None)
        if session.truth.data is not None:
            arrays["truth"] = np.asarray(session.truth.data)
    if session.model is not None:
        arrays["model"] = np.frombuffer(bytes(session.model), np.uint8)
    results = []
    for i, result in enumerate(session.results):
        arrays[f"result_{i}"] = np.asarray(result.data)
        rdim = np.ndim(result.data)
        results.append({"name": str(result.name),
                        "scale": list(_floats(result.scale or None, rdim, 1.0)),
                        "translate": list(_floats(result.translate or None, rdim, 0.0)),
                        "visible": bool(result.visible)})
    features = session.features
    if isinstance(features, FeatureSpec):
        features = features.to_dict()
    seeds = session.seeds
    ndim = np.ndim(seeds.data)
    header = {
        "format": FORMAT_NAME, "version": FORMAT_VERSION,
        "images": images,
        "seeds": {"name": str(seeds.name),
                  "scale": list(_floats(seeds.scale or None, ndim, 1.0)),
                  "translate": list(_floats(seeds.translate or None, ndim, 0.0)),
                  "classes": {str(int(k)): str(v) for k, v in seeds.classes.items()},
                  "colors": {str(int(k)): str(v) for k, v in seeds.colors.items()}},
        "truth": truth,
        "features": features,
        "method": session.method,
        "params": dict(session.params),
        "model_trained_on": session.model_trained_on,
        "ui": dict(session.ui),
        "results": results,
        "segmentation": session.segmentation,
        "mapping": None if session.mapping is None else
        {str(int(k)): int(v) for k, v in session.mapping.items()},
        "mapping_how": str(session.mapping_how),
        "visible": {str(k): bool(v) for k, v in session.visible.items()},
        "software": _software(),
    }
    header["arrays"] = {k: {"dtype": v.dtype.str, "shape": list(v.shape)}
                        for k, v in arrays.items()}
    try:
        _check(header, arrays, validate_model=False)
    except ValueError as err:
        raise ValueError(f"this session cannot be saved: {err}") from None
    write_datafile(path, header, arrays)


def _ref_header(ref, folder, embedded):
    relative = None
    if ref.path is not None:
        try:
            relative = os.path.relpath(ref.path, folder)
        except ValueError:  # another drive (Windows)
            relative = None
    return {"name": ref.name, "role": ref.role, "path": ref.path, "relative_path": relative,
            "reader": ref.reader, "shape": [int(n) for n in ref.shape],
            "dtype": str(ref.dtype), "rgb": bool(ref.rgb),
            "scale": [float(s) for s in ref.scale],
            "translate": [float(t) for t in ref.translate], "embedded": bool(embedded)}


def _software():
    from .. import __version__

    return {"napari-seglab": __version__, "numpy": np.__version__}


# --------------------------------------------------------------------------
# Loading


def load_session(path) -> Session:
    """Read and check a session file; nothing in it is trusted.

    Image paths are kept as written; when a path no longer exists but the
    same file lies at the recorded path relative to the session file (a
    project folder moved as a whole), that one is used.

    Returns
    -------
    Session
        With embedded arrays in ``ImageRef.data``; the model bytes have
        been loaded once as a model file (so a damaged model refuses the
        whole session).

    Raises
    ------
    InvalidFileError
        (a ``ValueError``) A damaged, truncated, foreign or newer file,
        hostile sizes, or inconsistent fields.
    FileNotFoundError, PermissionError
        The path itself is at fault.
    """
    members = ("seeds", "truth", "model", "image_*", "result_*")
    header, arrays = read_datafile(path, format_name=FORMAT_NAME,
                                   max_version=FORMAT_VERSION, allowed_members=members,
                                   max_bytes=MAX_SESSION_BYTES)
    try:
        session = _check(header, arrays, validate_model=True)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, ArithmeticError,
            MemoryError, RecursionError, NotImplementedError) as err:
        raise InvalidFileError(path, FORMAT_NAME, str(err) or type(err).__name__) from None
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    for ref, entry in zip([*session.images, session.truth],
                          [*header["images"], header["truth"]]):
        if ref is not None and ref.path is not None:
            ref.path = _image_path(path, folder, ref.path, entry.get("relative_path"))
    return session


def _image_path(session_path, folder, recorded, moved):
    """The image file a session names: as recorded, else moved with the session's folder.

    The recorded path is the file the user opened; the ``relative_path``
    fallback is confined to the session's folder (a session cannot reach
    ``../../elsewhere``). Either must be a regular file or a folder (a DICOM
    series, a zarr): a FIFO or a device would block the reader forever.
    """
    from ..io.safety import check_regular, confine

    where = recorded
    if not os.path.exists(recorded) and isinstance(moved, str):
        try:
            candidate = confine(moved, folder, "image path", session_path)
        except ValueError as err:  # not followed: the image is reported missing
            warnings.warn(f"{err}; {recorded} is gone too", UserWarning, stacklevel=3)
            candidate = None
        if candidate is not None and candidate.exists():
            where = os.path.normpath(candidate)
    if os.path.exists(where):
        try:
            check_regular(where, "image", folders=True)
        except ValueError as err:
            raise InvalidFileError(session_path, FORMAT_NAME,
                                   f"its image {err}") from None
    return where


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value, what, most=_MAX_NAME, optional=False):
    if value is None and optional:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= most or "\x00" in value:
        raise ValueError(f"{what} must be a text of 1 to {most} characters; "
                         f"got {value!r:.80}")
    return value


def _numbers(value, ndim, what, positive=False):
    if not (isinstance(value, list) and len(value) == ndim and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            and abs(v) < 1e12 and (not positive or v > 0) for v in value)):
        kind = "positive numbers" if positive else "finite numbers"
        raise ValueError(f"{what} must be {ndim} {kind}; got {value!r:.80}")
    return tuple(float(v) for v in value)


def _check_ref(entry, where, roles, arrays, member):
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be an object; got {entry!r:.80}")
    name = _text(entry.get("name"), f"{where} 'name'")
    role = entry.get("role")
    if role not in roles:
        raise ValueError(f"{where} role must be {' or '.join(roles)}; got {role!r:.40}")
    shape = entry.get("shape")
    rgb = entry.get("rgb")
    if not isinstance(rgb, bool):
        raise ValueError(f"{where} 'rgb' must be true or false; got {rgb!r:.40}")
    if not (isinstance(shape, list) and all(_is_int(n) and 0 < n < 2**40 for n in shape)
            and len(shape) - rgb in (2, 3) and (not rgb or shape[-1] in (3, 4))):
        raise ValueError(f"{where} 'shape' must be 2 or 3 positive sizes (+ 3 or 4 "
                         f"colours if rgb); got {shape!r:.80}")
    try:
        dtype = np.dtype(_text(entry.get("dtype"), f"{where} 'dtype'", most=8))
    except TypeError:
        raise ValueError(f"{where} 'dtype' {entry.get('dtype')!r:.20} is not a dtype") from None
    if dtype.kind not in "biuf" or dtype.fields is not None:
        raise ValueError(f"{where} 'dtype' must be a numeric dtype; got {dtype}")
    ndim = len(shape) - rgb
    scale = _numbers(entry.get("scale"), ndim, f"{where} 'scale'", positive=True)
    translate = _numbers(entry.get("translate"), ndim, f"{where} 'translate'")
    path = _text(entry.get("path"), f"{where} 'path'", most=_MAX_PATH, optional=True)
    _text(entry.get("relative_path"), f"{where} 'relative_path'", most=_MAX_PATH,
          optional=True)
    reader = _text(entry.get("reader"), f"{where} 'reader'", optional=True)
    embedded = entry.get("embedded")
    if not isinstance(embedded, bool) or embedded != (member in arrays):
        raise ValueError(f"{where} 'embedded' is {embedded!r:.20} but the file "
                         f"{'holds' if member in arrays else 'lacks'} entry {member!r}")
    data = arrays.get(member)
    if data is not None and (data.shape != tuple(shape) or data.dtype != dtype):
        raise ValueError(f"entry {member!r} is {data.dtype} {list(data.shape)}; {where} "
                         f"declares {dtype} {shape}")
    return ImageRef(name=name, shape=tuple(shape), dtype=dtype.str, role=role, path=path,
                    reader=reader, rgb=rgb, scale=scale, translate=translate, data=data)


def _check_classes(table, what, check_value):
    if not (isinstance(table, dict) and len(table) <= _MAX_CLASSES):
        raise ValueError(f"seeds {what} must be an object of at most {_MAX_CLASSES} "
                         f"entries; got {table!r:.80}")
    out = {}
    for key, value in table.items():
        if not (key.isdigit() and len(key) <= 19):
            raise ValueError(f"seeds {what} key {key!r:.20} is not a label")
        out[int(key)] = check_value(value)
    return out


def _check(header, arrays, validate_model):
    """The session described by ``header`` and ``arrays``, every field checked."""
    images = header.get("images")
    if not (isinstance(images, list) and 0 < len(images) <= MAX_IMAGES):
        raise ValueError(f"'images' must be a list of 1 to {MAX_IMAGES} images; "
                         f"got {images!r:.80}")
    refs = [_check_ref(entry, f"image {i}", _ROLES, arrays, f"image_{i}")
            for i, entry in enumerate(images)]
    if refs[0].role != "image" or any(ref.role != "channel" for ref in refs[1:]):
        raise ValueError("the first image must have role 'image', the others 'channel'")
    shape = refs[0].spatial_shape
    for ref in refs[1:]:
        if ref.spatial_shape != shape:
            raise ValueError(f"channel {ref.name!r} has shape {ref.spatial_shape}; the "
                             f"image {refs[0].name!r} has {shape}")
    seeds_entry = header.get("seeds")
    if not isinstance(seeds_entry, dict):
        raise ValueError(f"'seeds' must be an object; got {seeds_entry!r:.80}")
    data = arrays.get("seeds")
    if data is None:
        raise ValueError("the file holds no seeds")
    if data.dtype.kind not in "biu":
        raise ValueError(f"seeds must be integers; got {data.dtype}")
    if data.shape != shape:
        raise ValueError(f"the seeds have shape {data.shape}, but the image "
                         f"{refs[0].name!r} has {shape}")
    seeds = SeedsState(
        data=data, name=_text(seeds_entry.get("name"), "seeds 'name'"),
        classes=_check_classes(seeds_entry.get("classes"), "classes",
                               lambda v: _text(v, "a class name")),
        colors=_check_classes(seeds_entry.get("colors"), "colors", _check_color),
        scale=_numbers(seeds_entry.get("scale"), len(shape), "seeds 'scale'", positive=True),
        translate=_numbers(seeds_entry.get("translate"), len(shape), "seeds 'translate'"))
    truth = header.get("truth")
    if truth is not None:
        truth = _check_ref(truth, "truth", ("truth",), arrays, "truth")
        if truth.rgb or truth.dtype[1] not in "biu":
            raise ValueError(f"the ground truth must be integer labels; got "
                             f"{np.dtype(truth.dtype)}{' rgb' if truth.rgb else ''}")
        if truth.shape != shape:
            raise ValueError(f"the ground truth {truth.name!r} has shape {truth.shape}, "
                             f"but the image {refs[0].name!r} has {shape}")
    elif "truth" in arrays:
        raise ValueError("entry 'truth' is not declared by a 'truth' field")
    for name in arrays:
        if name.startswith("image_") and not (name[6:].isdigit()
                                              and int(name[6:]) < len(refs)):
            raise ValueError(f"entry {name!r} belongs to no image")
    results, segmentation, mapping, mapping_how, visible = _check_v2(header, arrays, shape)
    method = header.get("method")
    if method not in SEGMENTERS:
        raise ValueError(f"unknown method {method!r:.40}; methods are {', '.join(SEGMENTERS)}")
    params = header.get("params")
    if not isinstance(params, dict):
        raise ValueError(f"'params' must be an object; got {params!r:.80}")
    from .model_io import _check_params  # the model format's limits, one copy

    _check_params(method, params)
    features = _check_features(header.get("features"))
    trained_on = _text(header.get("model_trained_on"), "'model_trained_on'", optional=True)
    ui = _check_ui(header.get("ui"))
    model = arrays.get("model")
    if model is not None:
        if model.dtype != np.uint8 or model.ndim != 1:
            raise ValueError(f"entry 'model' must be uint8 bytes; got {model.dtype} "
                             f"{list(model.shape)}")
        model = model.tobytes()
    session = Session(images=refs, seeds=seeds, truth=truth, features=features,
                      method=method, params=params, model=model,
                      model_trained_on=trained_on, ui=ui, results=results,
                      segmentation=segmentation, mapping=mapping, mapping_how=mapping_how,
                      visible=visible, version=header["version"])
    if validate_model and model is not None:
        try:
            session.load_model()
        except ValueError as err:
            # The model's message names a temporary file: keep its reason only.
            reason = getattr(err, "reason", str(err))
            raise ValueError(f"its model is not valid: {reason}") from None
    return session


def _check_v2(header, arrays, shape):
    """The version-2 fields (results, mapping, visibility); empty for a version-1 file."""
    entries = header.get("results") or []
    if not (isinstance(entries, list) and len(entries) <= MAX_IMAGES):
        raise ValueError(f"'results' must be a list of at most {MAX_IMAGES}; "
                         f"got {entries!r:.80}")
    results = []
    for i, entry in enumerate(entries):
        data = arrays.get(f"result_{i}")
        if not isinstance(entry, dict) or data is None:
            raise ValueError(f"result {i} must be an object with an entry 'result_{i}'")
        if data.dtype.kind not in "biu" or data.shape != shape:
            raise ValueError(f"result {i} must be integer labels of shape {shape}; got "
                             f"{data.dtype} {data.shape}")
        visible = entry.get("visible", True)
        if not isinstance(visible, bool):
            raise ValueError(f"result {i} 'visible' must be true or false")
        results.append(ResultState(
            data=data, name=_text(entry.get("name"), f"result {i} 'name'"),
            scale=_numbers(entry.get("scale"), len(shape), f"result {i} 'scale'",
                           positive=True),
            translate=_numbers(entry.get("translate"), len(shape), f"result {i} 'translate'"),
            visible=visible))
    for name in arrays:
        if name.startswith("result_") and not (name[7:].isdigit()
                                               and int(name[7:]) < len(results)):
            raise ValueError(f"entry {name!r} belongs to no result")
    segmentation = header.get("segmentation")
    if segmentation is not None and not (_is_int(segmentation)
                                         and 0 <= segmentation < len(results)):
        raise ValueError(f"'segmentation' must be the index of a result; got "
                         f"{segmentation!r:.20}")
    mapping = header.get("mapping")
    if mapping is not None:
        mapping = _check_classes(mapping, "mapping", _check_label)
    how = header.get("mapping_how", "")
    if not (isinstance(how, str) and len(how) <= 32):
        raise ValueError(f"'mapping_how' must be a short text; got {how!r:.40}")
    visible = header.get("visible") or {}
    if not (isinstance(visible, dict) and set(visible) <= {"image", "seeds", "truth"}
            and all(isinstance(v, bool) for v in visible.values())):
        raise ValueError(f"'visible' must map image/seeds/truth to true or false; "
                         f"got {visible!r:.80}")
    return results, segmentation, mapping, how, dict(visible)


def _check_label(value):
    if not (_is_int(value) and 0 <= value < 2**63):
        raise ValueError(f"a class must be a label value; got {value!r:.20}")
    return value


def _check_color(value):
    if not (isinstance(value, str) and _COLOR.fullmatch(value)):
        raise ValueError(f"a class colour must be '#rrggbb'; got {value!r:.20}")
    return value


def _check_features(value):
    if value is None or (isinstance(value, str) and value in PRESETS):
        return value
    if isinstance(value, dict):
        filters = value.get("filters")
        from .model_io import MAX_FILTERS

        if not (isinstance(filters, list) and len(filters) <= MAX_FILTERS):
            raise ValueError(f"'features' must hold 1 to {MAX_FILTERS} filters; "
                             f"got {filters!r:.80}")
        if not all(isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
                   and isinstance(item[1], (int, float)) and not isinstance(item[1], bool)
                   for item in filters):
            raise ValueError(f"a filter must be [name, sigma]; got {filters!r:.80}")
        return FeatureSpec.from_dict(value).to_dict()
    raise ValueError(f"'features' must be null, a preset ({', '.join(PRESETS)}) or a "
                     f"feature spec; got {value!r:.80}")


def _check_ui(value):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"'ui' must be an object; got {value!r:.80}")
    out = {}
    for key, kind in _UI_KEYS.items():
        if key in value:
            if not isinstance(value[key], kind) or (
                    kind is list and not all(isinstance(v, str) and len(v) <= 64
                                             for v in value[key][:64])):
                raise ValueError(f"'ui' {key!r} must be a {kind.__name__}; "
                                 f"got {value[key]!r:.40}")
            out[key] = value[key][:64] if kind is list else value[key]
    return out
