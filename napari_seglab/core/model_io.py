"""Model files: save and load a fitted :class:`~napari_seglab.core.pipeline.SeededModel` without pickle.

Model file format (``.npz``, version 1)
---------------------------------------
One NumPy ``.npz`` archive (a zip), read with ``allow_pickle=False``:

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
         "arrays": {name: {"dtype": str, "shape": [int, ...]}},
         "software": {"napari-seglab": str, "numpy": str, "scikit-learn": str}}

``train_X`` (float32, ``(n, n_features)``), ``train_y`` (int64, ``(n,)``)
    The training samples: the (balanced) seeded pixels' raw inputs
    (features, or intensity) and their labels. Empty for unsupervised
    methods fitted without seeds and for the local threshold.
``state.<name>``
    The segmenter's fitted state arrays (``_Segmenter.get_state``), for
    every method whose estimator is plain arrays (kNN, nearest mean,
    k-means, Gaussian mixture, thresholds).
``check_proba`` (float32, ``(m, n_classes)``)
    Only with ``refit_on_load``: the probabilities of the first training
    samples at save time.

Estimators that cannot be rebuilt from arrays (the scikit-learn random
forest) are **refitted on load** from ``train_X``/``train_y`` with the saved
parameters (``random_state`` included), which gives the same forest with the
same scikit-learn version; ``check_proba`` detects a difference (then a
``UserWarning`` says so).

Loading checks every field (format name, version, types, shapes, dtypes,
known method and parameters, classes) and raises ``ValueError`` for a
damaged, truncated, tampered (CRC) or foreign file.
"""

from __future__ import annotations

import json
import warnings
import zipfile
import zlib

import numpy as np

from .features import FeatureSpec
from .pipeline import SeededModel
from .segmenters import SEGMENTERS

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "SeededModel", "load_model", "save_model"]

FORMAT_NAME = "napari-seglab-model"
FORMAT_VERSION = 1
_CHECK_ROWS = 256



# --------------------------------------------------------------------------
# Files


def _software():
    import sklearn

    from .. import __version__

    return {"napari-seglab": __version__, "numpy": np.__version__,
            "scikit-learn": sklearn.__version__}


def save_model(path, model: SeededModel):
    """Write a fitted :class:`SeededModel` to ``path`` (.npz; see the module doc)."""
    if not isinstance(model, SeededModel):
        raise TypeError(f"model must be a SeededModel; got {type(model).__name__}")
    model._check_fitted()
    seg = model.segmenter_
    params = seg.get_params()
    try:
        json.dumps(params)
    except TypeError as err:
        raise ValueError(f"parameters {params} cannot be saved as JSON: {err}") from None
    arrays = {"train_X": model.X_train_, "train_y": model.y_train_}
    if seg.refit_on_load:
        arrays["check_proba"] = seg.predict_proba(model.X_train_[:_CHECK_ROWS])
    else:
        for name, value in seg.get_state().items():
            arrays[f"state.{name}"] = np.asarray(value)
    header = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "method": model.method,
        "params": params,
        "input": seg.input,
        "features": model.spec_.to_dict() if seg.input == "features" else None,
        "n_channels": int(model.n_channels_),
        "n_features": int(model.n_features_),
        "ndim": int(model.ndim_),
        "spacing": None if getattr(model, "spacing_", None) is None else list(model.spacing_),
        "classes": [int(c) for c in model.classes_],
        "max_per_class": None if model.max_per_class is None else int(model.max_per_class),
        "balance": bool(model.balance),
        "refit_on_load": bool(seg.refit_on_load),
        "arrays": {k: {"dtype": v.dtype.str, "shape": list(v.shape)}
                   for k, v in arrays.items()},
        "software": _software(),
    }
    with open(path, "wb") as fh:
        np.savez_compressed(fh, header=np.array(json.dumps(header)), **arrays)


def _need(header, key, types, what):
    if key not in header:
        raise ValueError(f"header lacks {key!r}")
    value = header[key]
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise ValueError(f"header {key!r} must be {what}; got {value!r}")
    if not isinstance(value, types):
        raise ValueError(f"header {key!r} must be {what}; got {value!r}")
    return value


def _read(path):
    with open(path, "rb") as fh:
        try:
            archive = np.load(fh, allow_pickle=False)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
            raise ValueError(f"not a readable .npz archive ({err})") from None
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError("a single .npy array, not a .npz archive")
        with archive:
            if "header" not in archive.files:
                raise ValueError(f"no 'header' entry (entries: {', '.join(archive.files)})")
            arrays = {}
            for name in archive.files:
                try:
                    arrays[name] = archive[name]
                except (ValueError, OSError, EOFError, zipfile.BadZipFile,
                        zlib.error) as err:
                    raise ValueError(f"entry {name!r} is damaged ({err})") from None
    return arrays


def _parse(arrays):
    raw = arrays.pop("header")
    if raw.ndim != 0 or raw.dtype.kind != "U":
        raise ValueError(f"'header' must be a JSON string; got {raw.dtype} {raw.shape}")
    try:
        header = json.loads(str(raw))
    except json.JSONDecodeError as err:
        raise ValueError(f"'header' is not valid JSON ({err})") from None
    if not isinstance(header, dict):
        raise ValueError("'header' is not a JSON object")
    if header.get("format") != FORMAT_NAME:
        raise ValueError(
            f"format is {header.get('format')!r}, not {FORMAT_NAME!r} (a foreign file?)"
        )
    version = _need(header, "version", int, "an int")
    if version != FORMAT_VERSION:
        newer = " (made by a newer napari-seglab?)" if version > FORMAT_VERSION else ""
        raise ValueError(f"format version {version} is not supported; "
                         f"this napari-seglab reads version {FORMAT_VERSION}{newer}")
    method = _need(header, "method", str, "a method name")
    if method not in SEGMENTERS:
        raise ValueError(f"unknown method {method!r}; methods are {', '.join(SEGMENTERS)}")
    params = _need(header, "params", dict, "an object")
    kind = _need(header, "input", str, "a string")
    if kind != SEGMENTERS[method].input:
        raise ValueError(f"input {kind!r} does not match method {method!r}")
    features = header.get("features")
    n_channels = _need(header, "n_channels", int, "an int")
    n_features = _need(header, "n_features", int, "an int")
    ndim = _need(header, "ndim", int, "an int")
    if n_channels < 1 or n_features < 1 or ndim not in (2, 3):
        raise ValueError(f"bad sizes: n_channels={n_channels}, n_features={n_features}, "
                         f"ndim={ndim}")
    if kind == "features":
        spec = FeatureSpec.from_dict(features)
        if spec.n_features_per_channel * n_channels != n_features:
            raise ValueError(f"n_features={n_features} does not match the feature spec "
                             f"× {n_channels} channel(s)")
    else:
        if features is not None or n_features != 1:
            raise ValueError(f"method {method!r} reads the intensity: features must be "
                             "null and n_features 1")
        spec = None
    spacing = header.get("spacing")
    if spacing is not None and not (
            isinstance(spacing, list) and len(spacing) == ndim
            and all(isinstance(s, (int, float)) and not isinstance(s, bool) and s > 0
                    for s in spacing)):
        raise ValueError(f"spacing must be null or {ndim} positive numbers; got {spacing!r}")
    classes = _need(header, "classes", list, "a list of labels")
    if not classes or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0
                              for c in classes) or classes != sorted(set(classes)):
        raise ValueError(f"classes must be sorted distinct labels >= 0; got {classes!r}")
    max_per_class = header.get("max_per_class")
    if max_per_class is not None and (not isinstance(max_per_class, int) or max_per_class < 1):
        raise ValueError(f"max_per_class must be null or an int >= 1; got {max_per_class!r}")
    balance = _need(header, "balance", bool, "true or false")
    refit = _need(header, "refit_on_load", bool, "true or false")
    if refit != SEGMENTERS[method].refit_on_load:
        raise ValueError(f"refit_on_load={refit} does not match method {method!r}")
    declared = _need(header, "arrays", dict, "an object")
    if set(declared) != set(arrays):
        raise ValueError(f"entries {sorted(arrays)} differ from the header's "
                         f"{sorted(declared)}")
    for name, a in arrays.items():
        d = declared[name]
        if not isinstance(d, dict) or d.get("dtype") != a.dtype.str or d.get("shape") != list(a.shape):
            raise ValueError(f"entry {name!r} is {a.dtype.str} {list(a.shape)}, but the "
                             f"header says {d!r}")
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

    try:
        model = SeededModel(method, spec, params, max_per_class=max_per_class,
                            balance=balance)
        seg = model.make_segmenter()
    except TypeError as err:
        raise ValueError(f"bad parameters for {method!r}: {err}") from None
    if refit:
        seg.fit(X, y)
    else:
        prefix = "state."
        state = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
        seg.set_state(state)
    if sorted(int(c) for c in seg.classes_) != classes:
        raise ValueError(f"classes {classes} do not match the segmenter's "
                         f"{sorted(int(c) for c in seg.classes_)}")
    if refit:
        check = arrays.get("check_proba")
        if check is None:
            raise ValueError("'check_proba' is missing")
        now = seg.predict_proba(X[:_CHECK_ROWS])
        if check.shape != now.shape:
            raise ValueError(f"check_proba has shape {check.shape}; expected {now.shape}")
        if not np.allclose(check, now, atol=1e-5):
            warnings.warn(
                f"the {method!r} model refitted on load differs from the saved one "
                f"(saved with {header.get('software')}); predictions may differ slightly",
                UserWarning, stacklevel=3)
    model.segmenter_ = seg
    model.classes_ = np.sort(seg.classes_)
    model._order = np.argsort(seg.classes_, kind="stable")
    model.spec_ = spec if spec is not None else model._spec()
    model.n_channels_, model.n_features_, model.ndim_ = n_channels, n_features, ndim
    model.spacing_ = None if spacing is None else tuple(float(s) for s in spacing)
    model.X_train_, model.y_train_ = X, y
    return model


def load_model(path) -> SeededModel:
    """Read a model written by :func:`save_model`; fitted, ready to predict.

    Raises
    ------
    ValueError
        The file is damaged, truncated, tampered with, of another format or
        version, or holds inconsistent fields (the message says which).
    FileNotFoundError
        ``path`` does not exist.
    """
    try:
        return _parse(_read(path))
    except (ValueError, TypeError, KeyError) as err:
        raise ValueError(f"{path}: not a valid {FORMAT_NAME} file: {err}") from None
