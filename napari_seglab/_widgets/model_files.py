"""Save, load and apply a trained model: the Seeded segmentation dock's model section."""

from __future__ import annotations

import time
from pathlib import Path

from napari.layers import Labels
from napari.utils.notifications import show_warning
from qtpy.QtWidgets import QFileDialog

from ..api import prepare_image
from ..core.model_io import load_model, save_model
from ..core.segmenters import SEGMENTERS
from .jobs import Failure
from .layers import InputError, stacked_arrays, write_labels
from .methods import METHODS


def _apply_in_thread(model, data, spacing, channel_axis):
    """Label ``data`` with a trained ``model``, yielding ``(stage, done, total)``."""
    start = time.perf_counter()
    try:
        prepared = prepare_image(data, channel_axis)
        labels = yield from model.iter_predict(prepared, spacing=spacing, channel_axis=-1)
    except (ValueError, TypeError) as exc:
        return Failure(f"The model cannot segment this image: {exc}")
    return labels, time.perf_counter() - start


def _load_in_thread(path):
    """Read (and for a forest refit) a model file, yielding ``(stage, done, total)``."""
    yield "reading and checking the file", 0, 1
    try:
        model = load_model(path)
    except (OSError, ValueError, TypeError) as exc:
        return Failure(f"Could not load a model from {path}: {exc}")
    yield "loaded", 1, 1
    return model


def describe(model, source) -> str:
    """One line saying what a trained model is and where it comes from."""
    method = next((name for name, key in METHODS.items() if key == model.method),
                  model.method)
    features = ("" if SEGMENTERS[model.method].input != "features"
                else f", {model.spec_.n_features(model.n_channels_, model.ndim_)} features")
    classes = ", ".join(str(c) for c in model.classes_.tolist())
    text = f"Model: {method}{features}, classes {classes}, trained on {source}"
    if model.normalize_input == "zscore" and model.input_stats_ is not None:
        text += ("; applied to another image, its channels are first matched to the "
                 "training image's mean and spread (z-score)")
    return text



class ModelFilesMixin:
    """The trained model of a :class:`SegmentationWidget`: keep, save, load, apply."""

    def _keep_model(self, model, source, trained_on=None):
        self.model = model
        self._model_source = trained_on
        self.model_info.value = describe(model, source)
        self.save_model.enabled = True
        self.apply.enabled = True
        self._show_apply_channels()

    def _show_apply_channels(self, *args):
        several = self.model is not None and self.model.n_channels_ > 1
        self.apply_channels.visible = several
        if several:
            self.apply_channels.reset_choices()

    def save_model_file(self, *args, path=None):
        """Write the trained model to a data-only ``.npz`` file (asks where)."""
        if self.model is None:
            show_warning("No trained model yet: press Segment first, then save.")
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self.native, "Save segmentation model", "model.seglab.npz",
                "seglab model (*.npz)")
            if not path:
                return None
        try:
            save_model(path, self.model)
        except (OSError, ValueError) as exc:
            show_warning(f"Could not save the model to {path}: {exc}")
            return None
        self.status.value = f"Model saved to {path}"
        return path

    def load_model_file(self, *args, path=None):
        """Read a model saved by seglab in a worker; a damaged or foreign file is refused.

        A forest is refitted on load (bounded, yet seconds to tens of
        seconds): the dock's progress bar, elapsed time and Cancel follow it,
        and the current model stays until the new one is ready. Loading is a
        run of the dock's job, like Segment and Apply: one of them at a time.
        Returns the worker (None when no file was chosen).
        """
        if path is None:
            path, _ = QFileDialog.getOpenFileName(
                self.native, "Load segmentation model", "", "seglab model (*.npz)")
            if not path:
                return None
        return self.job.start(
            _load_in_thread, path, on_result=lambda model: self._show_loaded(model, path),
            what=f"Loading the model {Path(path).name}", name="Load model")

    def _show_loaded(self, model, path):
        self._keep_model(model, f"file {Path(path).name}")
        self.status.value = "Model loaded: choose an image and press Apply model."

    def apply_model(self, *args):
        """Segment the 'Apply to' image with the trained model, in a worker."""
        model, target = self.model, self.apply_to.value
        if model is None:
            show_warning("No trained model: press Segment or load a model first.")
            return None
        try:
            extra = [layer for layer in self.apply_channels.value if layer is not target]
            data, channel_axis, spacing = stacked_arrays(target, extra)
        except InputError as exc:
            show_warning(str(exc))
            return None
        seeds_layer = self.seeds.value
        trained_on = self._model_source
        return self.job.start(
            _apply_in_thread, model, data, spacing, channel_axis,
            on_result=lambda result: self._show_applied(result, target, seeds_layer,
                                                        trained_on),
            what=f"Applying the model to '{target.name}'", reads=(target, *extra))

    def _show_applied(self, result, target, seeds_layer, trained_on):
        labels, seconds = result
        ndim = labels.ndim
        training = self.image.value
        layer = write_labels(
            self.viewer, labels, role="segmentation", source=target.name,
            name="segmentation" if target is training else f"segmentation ({target.name})",
            like=seeds_layer if isinstance(seeds_layer, Labels) else None,
            scale=target.scale[-ndim:], translate=target.translate[-ndim:], opacity=0.5,
            # The seeds trained the model on another image: they say nothing of this one.
            info={"trained_on": trained_on, "seeds": None})
        self.status.value = f"Model applied to '{target.name}' in {seconds:.2f} s → '{layer.name}'"
        self.finished_run.emit(layer)

