"""Model files: save and load a fitted :class:`~.pipeline.SeededModel`, without pickle.

Model file format (``.npz``, version 1)
---------------------------------------
A data file (:mod:`napari_seglab.core.datafile`: a NumPy ``.npz`` archive
that ``np.load(path, allow_pickle=False)`` opens too):

``header``
    0-d unicode array holding a JSON object::

        {"format": "napari-seglab-model", "version": 1,
         "method": "knn", "params": {...},       # make_segmenter(method, **params)
         "input": "features" | "intensity" | "image",
         "features": {"filters": [[name, sigma], ...]} | null,
         "n_channels": int, "n_features": int, "ndim": 2 | 3,
         "spacing": [float, ...] | null,          # of the training image
         "classes": [int, ...],                   # sorted labels the model gives
         "max_per_class": int | null, "balance": bool,
         "refit_on_load": bool,
         "input_stats": {"mean": [float, ...], "std": [float, ...]} | null,
                                                  # per channel, of the training image:
                                                  # another image is mapped onto them
         "arrays": {name: {"dtype": str, "shape": [int, ...]}},
         "software": {"napari-seglab": str, "numpy": str, "scikit-learn": str}}

``train_X`` (float32, ``(n, n_features)``), ``train_y`` (int64, ``(n,)``)
    The training samples: the (balanced) seeded pixels' raw inputs
    (features, or intensity) and their labels. Empty for unsupervised
    methods fitted without seeds and for the local threshold.
``state.<name>``
    The segmenter's fitted state arrays (``get_state``), for every method
    whose estimator is plain arrays (kNN, nearest mean, k-means, Gaussian
    mixture, thresholds).
``check_proba`` (float32, ``(m, n_classes)``)
    Only with ``refit_on_load``: the probabilities of the first training
    samples at save time.

Estimators that cannot be rebuilt from arrays (the scikit-learn random
forest) are **refitted on load** from ``train_X``/``train_y`` with the saved
parameters (``random_state`` included), which gives the same forest with the
same scikit-learn version; ``check_proba`` detects a difference (then a
``UserWarning`` says so). The refit is bounded: at most
:data:`MAX_REFIT_WORK` trees × samples (50 trees on 100,000 samples).

Files come from anywhere, so loading trusts nothing: the container checks
(:func:`~napari_seglab.core.datafile.read_datafile`: regular file, header
first, declared members only, sizes within :data:`MAX_MODEL_BYTES` before
decompressing), then every field is checked (format, version, types,
shapes, dtypes, known method, every parameter within :data:`PARAM_LIMITS`,
feature scales, classes, state arrays). Every failure raises the same
``ValueError("<path>: not a valid napari-seglab-model file: <reason>")``.
:func:`save_model` refuses what :func:`load_model` would refuse, so a file
it writes always loads.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .datafile import InvalidFileError, read_datafile, write_datafile
from .features import FeatureSpec
from .pipeline import SeededModel
from .segmenters import SEGMENTERS, make_segmenter

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "MAX_MODEL_BYTES", "MAX_REFIT_WORK",
           "PARAM_LIMITS", "SeededModel", "load_model", "save_model"]

FORMAT_NAME = "napari-seglab-model"
FORMAT_VERSION = 1
#: Most bytes the arrays of a model file may take once read.
MAX_MODEL_BYTES = 512 << 20
#: Most trees × training samples a refit on load may cost (a few seconds).
MAX_REFIT_WORK = 5_000_000
#: Integer parameters (any method) and their accepted range on load and save.
PARAM_LIMITS = {
    "n_estimators": (1, 1000),
    "max_depth": (1, 100),
    "min_samples_leaf": (1, 1_000_000),
    "n_neighbors": (1, 10_000),
    "n_clusters": (1, 1024),
    "n_components": (1, 1024),
    "max_iter": (1, 100_000),
    "max_samples": (1, 100_000_000),
    "block_size": (3, 4095),
    "n_jobs": (-1, 256),
    "random_state": (0, 2**32 - 1),
    "max_features": (1, 65_536),
}
#: Limits of the other header fields.
MAX_CHANNELS = 1024
MAX_FEATURES = 65_536
MAX_CLASSES = 65_536
MAX_FILTERS = 256
#: Largest feature σ, in pixels of the training image (a larger one would
#: make every prediction compute a huge filter kernel).
MAX_SIGMA_PIXELS = 256.0
_CHECK_ROWS = 256
_MEMBERS = ("train_X", "train_y", "check_proba", "state.*")
_INPUTS = ("features", "intensity", "image")
_LABEL_MAX = 2**63 - 1


def _software():
    import sklearn

    from .. import __version__

    return {"napari-seglab": __version__, "numpy": np.__version__,
            "scikit-learn": sklearn.__version__}


def _input_of(segmenter, method) -> str:
    """What the segmenter reads, as format 1 records it."""
    kind = getattr(segmenter, "input", None)
    if kind in _INPUTS:
        return kind
    return "features" if _reads_features(method) else "intensity"


def _reads_features(method) -> bool:
    """Whether ``method`` reads a feature stack (not the intensity)."""
    cls = SEGMENTERS[method]
    kind = getattr(cls, "input", None)
    if kind is not None:
        return kind == "features"
    hook = getattr(cls(), "inputs", None)
    return hook is None or isinstance(hook(FeatureSpec((("intensity", 0.0),))), FeatureSpec)


def save_model(path, model: SeededModel) -> None:
    """Write a fitted :class:`SeededModel` to ``path`` (see the module doc).

    The file is replaced atomically: a failed write (full disk) leaves the
    previous file as it was and no temporary file behind.

    Parameters
    ----------
    path : str or os.PathLike
    model : SeededModel
        Fitted.

    Raises
    ------
    TypeError
        ``model`` is not a SeededModel.
    ValueError
        A parameter outside :data:`PARAM_LIMITS` or not JSON, or a model
        :func:`load_model` would refuse (e.g. a forest beyond
        :data:`MAX_REFIT_WORK`); nothing is written.
    OSError
        The write failed; ``path`` is unchanged.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from napari_seglab.core.phantoms import tissue_phantom, scribble_seeds
    >>> image, truth = tissue_phantom((48, 48), random_state=0)
    >>> model = SeededModel("nearest_mean", "minimal").fit(image, scribble_seeds(truth))
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.npz"
    >>> save_model(path, model)
    >>> bool((load_model(path).predict(image) == model.predict(image)).all())
    True
    """
    if not isinstance(model, SeededModel):
        raise TypeError(f"model must be a SeededModel; got {type(model).__name__}")
    model._check_fitted()
    seg = model.segmenter_
    params = {k: _plain(v) for k, v in seg.get_params().items()}
    if "context_sigmas" in params:
        if len(params.pop("context_sigmas") or ()):
            # Its second stage read the first stage's probabilities around each
            # training pixel: neither they nor that stage are plain arrays.
            raise ValueError(
                "this model cannot be saved: its auto-context stage (context_sigmas) was "
                "trained on the training image's neighbourhoods, which a model file does "
                "not hold; retrain with context_sigmas=() to save it")
    arrays = {"train_X": np.asarray(model.X_train_), "train_y": np.asarray(model.y_train_)}
    if seg.refit_on_load:
        arrays["check_proba"] = np.asarray(seg.predict_proba(model.X_train_[:_CHECK_ROWS]),
                                           dtype=np.float32)
    else:
        for name, value in seg.get_state().items():
            arrays[f"state.{name}"] = np.asarray(value)
    kind = _input_of(seg, model.method)
    header = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "method": model.method,
        "params": params,
        "input": kind,
        "features": model.spec_.to_dict() if kind == "features" else None,
        "n_channels": int(model.n_channels_),
        "n_features": int(model.n_features_),
        "ndim": int(model.ndim_),
        "spacing": None if getattr(model, "spacing_", None) is None
        else [float(s) for s in model.spacing_],
        "classes": [int(c) for c in model.classes_],
        "max_per_class": None if model.max_per_class is None else int(model.max_per_class),
        "balance": bool(model.balance),
        "refit_on_load": bool(seg.refit_on_load),
        "input_stats": _stats_field(model),
        "software": _software(),
    }
    try:
        fields = _check_header(header)
        _check_arrays(fields, arrays)
    except ValueError as err:
        raise ValueError(f"this model cannot be saved: {err}") from None
    write_datafile(path, header, arrays)


def _stats_field(model):
    """The model's training-image channel statistics as JSON, or None."""
    stats = getattr(model, "input_stats_", None)
    if stats is None:
        return None
    return {"mean": [float(v) for v in stats[0]], "std": [float(v) for v in stats[1]]}


def _check_stats(stats, n_channels):
    """``(mean, std)`` arrays from the header's ``input_stats`` (None when absent)."""
    if stats is None:
        return None
    if not (isinstance(stats, dict) and set(stats) == {"mean", "std"}
            and all(isinstance(stats[k], list) and len(stats[k]) == n_channels
                    and all(_is_number(v) and abs(v) < 1e300 for v in stats[k])
                    for k in ("mean", "std"))
            and all(v > 0 for v in stats["std"])):
        raise ValueError(f"input_stats must be null or {n_channels} means and positive "
                         f"stds; got {stats!r:.80}")
    return np.asarray(stats["mean"], np.float64), np.asarray(stats["std"], np.float64)


def _plain(value):
    """NumPy scalars as Python ones (JSON)."""
    return value.item() if isinstance(value, np.generic) else value


def load_model(path) -> SeededModel:
    """Read a model written by :func:`save_model`; fitted, ready to predict.

    Bounded in time and memory whatever the file holds (see the module
    doc); a random forest is refitted, at most :data:`MAX_REFIT_WORK`
    trees × samples: run it in a worker thread in a GUI.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    SeededModel

    Raises
    ------
    ValueError
        ``"<path>: not a valid napari-seglab-model file: <reason>"``: the
        path is not a regular file (a folder, a pipe, a device), or the
        file is damaged, truncated, tampered with, too large, of another
        format or a newer version, or holds inconsistent or out-of-range
        fields (the reason says which).
    FileNotFoundError, PermissionError
        ``path`` does not exist or cannot be read (Python's own errors: the
        path, not the file's content, is at fault).
    TypeError
        ``path`` is not a path.
    """
    header, arrays = read_datafile(path, format_name=FORMAT_NAME,
                                   max_version=FORMAT_VERSION, allowed_members=_MEMBERS,
                                   max_bytes=MAX_MODEL_BYTES)
    try:
        return _build(_check_header(header), arrays)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, ArithmeticError,
            MemoryError, RecursionError, NotImplementedError) as err:
        raise InvalidFileError(path, FORMAT_NAME, str(err) or type(err).__name__) from None


# --------------------------------------------------------------------------
# Checks, shared by save and load


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _need(header, key, check, what):
    if key not in header:
        raise ValueError(f"header lacks {key!r}")
    value = header[key]
    if not check(value):
        raise ValueError(f"header {key!r} must be {what}; got {value!r:.80}")
    return value


def _check_params(method, params):
    """Every parameter a plain JSON scalar, integers within :data:`PARAM_LIMITS`."""
    for name, value in params.items():
        if not (name.isidentifier() and len(name) <= 64):
            raise ValueError(f"{name!r:.40} is not a parameter name")
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, str):
            if len(value) > 64:
                raise ValueError(f"parameter {name!r} is a {len(value)}-character string")
            continue
        if not _is_number(value):
            raise ValueError(f"parameter {name!r} must be a finite number, a string, "
                             f"true/false or null; got {value!r:.80}")
        if name in PARAM_LIMITS and _is_int(value):
            low, high = PARAM_LIMITS[name]
            if not low <= value <= high:
                raise ValueError(f"parameter {name}={value} is outside [{low}, {high}]")
        elif name in PARAM_LIMITS and name != "max_features":
            raise ValueError(f"parameter {name!r} must be an int; got {value!r}")
        elif abs(value) > 1e30:
            raise ValueError(f"parameter {name}={value} is out of range")
    try:
        make_segmenter(method, **params)
    except TypeError as err:
        raise ValueError(f"bad parameters for {method!r}: {err}") from None


def _check_spec(features, spacing, ndim):
    if not (isinstance(features, dict) and isinstance(features.get("filters"), list)
            and 0 < len(features["filters"]) <= MAX_FILTERS):
        raise ValueError(f"features must be {{'filters': [[name, sigma], ...]}} with 1 to "
                         f"{MAX_FILTERS} filters; got {features!r:.120}")
    for item in features["filters"]:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
                and _is_number(item[1])):
            raise ValueError(f"a filter must be [name, sigma]; got {item!r:.80}")
    spec = FeatureSpec.from_dict(features)
    smallest = 1.0 if spacing is None else min(spacing)
    widest = max(sigma for _, sigma in spec.filters) / smallest
    if widest > MAX_SIGMA_PIXELS:
        raise ValueError(f"a feature σ of {widest:g} pixels (at most {MAX_SIGMA_PIXELS:g})")
    return spec


def _check_header(header):
    """The header's fields, checked: a dict of plain values and the FeatureSpec."""
    method = _need(header, "method", lambda v: isinstance(v, str), "a method name")
    if method not in SEGMENTERS:
        raise ValueError(f"unknown method {method!r:.40}; methods are {', '.join(SEGMENTERS)}")
    params = _need(header, "params", lambda v: isinstance(v, dict), "an object")
    _check_params(method, params)
    # A parameter added since the file was written takes the value it had then.
    params = {**getattr(SEGMENTERS[method], "params_before", {}), **params}
    kind = _need(header, "input", lambda v: v in _INPUTS, " or ".join(_INPUTS))
    expected = getattr(SEGMENTERS[method], "input", None)  # segmenters may drop it
    if (kind != expected) if expected is not None else (
            (kind == "features") != _reads_features(method)):
        raise ValueError(f"input {kind!r} does not match method {method!r}")
    sizes = {}
    for key, high in (("n_channels", MAX_CHANNELS), ("n_features", MAX_FEATURES),
                      ("ndim", 3)):
        sizes[key] = _need(header, key, lambda v, high=high: _is_int(v) and 1 <= v <= high,
                           f"an int in [1, {high}]")
    n_channels, n_features, ndim = sizes["n_channels"], sizes["n_features"], sizes["ndim"]
    if ndim not in (2, 3):
        raise ValueError(f"ndim must be 2 or 3; got {ndim}")
    spacing = header.get("spacing")
    if spacing is not None and not (
            isinstance(spacing, list) and len(spacing) == ndim
            and all(_is_number(s) and 1e-12 < s < 1e12 for s in spacing)):
        raise ValueError(f"spacing must be null or {ndim} positive numbers; "
                         f"got {spacing!r:.80}")
    features = header.get("features")
    if kind == "features":
        spec = _check_spec(features, spacing, ndim)
        if spec.n_features(n_channels, ndim) != n_features:
            raise ValueError(f"n_features={n_features} does not match the feature spec "
                             f"× {n_channels} channel(s)")
    else:
        if features is not None or n_features != 1:
            raise ValueError(f"method {method!r} reads the intensity: features must be "
                             "null and n_features 1")
        spec = None
    classes = _need(header, "classes", lambda v: isinstance(v, list) and
                    0 < len(v) <= MAX_CLASSES, f"a list of 1 to {MAX_CLASSES} labels")
    if not all(_is_int(c) and 0 <= c <= _LABEL_MAX for c in classes) or \
            classes != sorted(set(classes)):
        raise ValueError(f"classes must be sorted distinct labels >= 0; got {classes!r:.80}")
    max_per_class = header.get("max_per_class")
    if max_per_class is not None and not (_is_int(max_per_class) and max_per_class >= 1):
        raise ValueError(f"max_per_class must be null or an int >= 1; got {max_per_class!r}")
    balance = _need(header, "balance", lambda v: isinstance(v, bool), "true or false")
    refit = _need(header, "refit_on_load", lambda v: isinstance(v, bool), "true or false")
    if refit != SEGMENTERS[method].refit_on_load:
        raise ValueError(f"refit_on_load={refit} does not match method {method!r}")
    return {"method": method, "params": params, "input": kind, "spec": spec,
            "n_channels": n_channels, "n_features": n_features, "ndim": ndim,
            "spacing": spacing, "classes": classes, "max_per_class": max_per_class,
            "balance": balance, "refit": refit, "software": _software_of(header),
            "input_stats": _check_stats(header.get("input_stats"), n_channels)}


def _software_of(header):
    """The versions that wrote the file, for messages (anything else: "unknown")."""
    software = header.get("software")
    if isinstance(software, dict) and len(software) <= 8 and all(
            isinstance(k, str) and isinstance(v, str) and len(k) + len(v) <= 80
            for k, v in software.items()):
        return software
    return "unknown versions"


def _check_arrays(fields, arrays):
    """Training samples and state arrays against the fields."""
    n_features, classes = fields["n_features"], fields["classes"]
    X, y = arrays.get("train_X"), arrays.get("train_y")
    if X is None or y is None:
        raise ValueError("training samples 'train_X'/'train_y' are missing")
    if X.dtype != np.float32 or X.ndim != 2 or X.shape[1] != n_features:
        raise ValueError(f"train_X must be float32 (n, {n_features}); got {X.dtype} {X.shape}")
    if y.dtype != np.int64 or y.shape != (X.shape[0],):
        raise ValueError(f"train_y must be int64 ({X.shape[0]},); got {y.dtype} {y.shape}")
    if not np.isfinite(X).all():
        raise ValueError("train_X holds NaN or infinite values")
    if y.size and not np.isin(y, classes).all():
        raise ValueError("train_y holds labels outside 'classes'")
    state = {k[len("state."):]: v for k, v in arrays.items() if k.startswith("state.")}
    if fields["refit"]:
        if state:
            raise ValueError(f"a refitted method holds no state arrays; got {sorted(state)}")
        if X.shape[0] < 2:
            raise ValueError(f"{fields['method']!r} is refitted from its training samples; "
                             f"the file holds {X.shape[0]}")
        trees = fields["params"].get("n_estimators", 1)
        work = (trees if _is_int(trees) else 1) * X.shape[0]
        if work > MAX_REFIT_WORK:
            raise ValueError(f"refitting {trees} trees on {X.shape[0]} samples exceeds the "
                             f"{MAX_REFIT_WORK:,} trees × samples a file may ask for; "
                             "use fewer trees or a smaller max_per_class")
        if "check_proba" not in arrays:
            raise ValueError("'check_proba' is missing")
    else:
        if "check_proba" in arrays:
            raise ValueError("'check_proba' belongs to refitted methods only")
        for name, value in state.items():
            if value.ndim and value.size == 0:
                raise ValueError(f"state array {name!r} is empty {list(value.shape)}")
        n_neighbors = fields["params"].get("n_neighbors")
        if _is_int(n_neighbors) and "X_" in state and n_neighbors > state["X_"].shape[0]:
            raise ValueError(f"n_neighbors={n_neighbors} exceeds the "
                             f"{state['X_'].shape[0]} training samples")
    return X, y, state


# --------------------------------------------------------------------------
# Loading


def _build(fields, arrays):
    X, y, state = _check_arrays(fields, arrays)
    method = fields["method"]
    seg = make_segmenter(method, **fields["params"])
    if fields["refit"]:
        seg.fit(X, y, **seg.layout_fit_params(fields["spec"], fields["n_channels"],
                                              fields["ndim"]))
    else:
        seg.set_state(state)
    got = sorted(int(c) for c in np.asarray(seg.classes_).ravel())
    if got != fields["classes"]:
        raise ValueError(f"classes {fields['classes']} do not match the segmenter's {got}")
    if fields["refit"]:
        check = arrays["check_proba"]
        now = seg.predict_proba(X[:_CHECK_ROWS])
        if check.shape != now.shape:
            raise ValueError(f"check_proba has shape {check.shape}; expected {now.shape}")
        if not np.allclose(check, now, atol=1e-5):
            warnings.warn(
                f"the {method!r} model refitted on load differs from the saved one "
                f"(saved with {fields['software']}); predictions may differ slightly",
                UserWarning, stacklevel=3)
    model = SeededModel.from_fitted(
        seg, method=method, features=fields["spec"], params=fields["params"],
        classes=fields["classes"], n_channels=fields["n_channels"],
        n_features=fields["n_features"], ndim=fields["ndim"], spacing=fields["spacing"],
        X_train=X, y_train=y, max_per_class=fields["max_per_class"],
        balance=fields["balance"])
    model.input_stats_ = fields["input_stats"]
    return model
