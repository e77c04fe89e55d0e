"""The feature grid: pick filters × scales (ilastik-like), see their cost, look at them, rank them.

A :class:`FeatureGrid` is a magicgui ``Container`` that a host widget (the
Segmentation widget) embeds. Its :attr:`FeatureGrid.value` is exactly what
:func:`napari_seglab.segment` takes as ``features``: ``None`` (the method's
own preset), a preset name, or a :class:`~napari_seglab.core.features.FeatureSpec`.

Rows are built from :data:`~napari_seglab.core.features.FILTERS` (filters
that take a scale), columns from
:data:`~napari_seglab.core.features.ILASTIK_SIGMAS`, so a filter added to
the core shows up here without a change.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, EmptyWidget, Label, PushButton, SpinBox
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_info, show_warning
from psygnal import Signal
from qtpy.QtCore import Qt
from qtpy.QtCore import Signal as QtSignal
from qtpy.QtGui import QFont
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QGridLayout,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QWidget,
)

from ..core.features import (
    FILTERS,
    ILASTIK_SIGMAS,
    PRESETS,
    FeatureSpec,
    compute_features,
    estimate_memory,
    feature_halo,
    rank_features,
    seed_features,
    suggest_features,
    total_ram,
)
from ..core.memory import RAM_FRACTION, format_bytes
from .layers import (
    META_KEY,
    InputError,
    _Failure,
    image_arrays,
    layer_role,
    seeds_array,
    spatial_shape,
)

if TYPE_CHECKING:
    import napari

__all__ = ["FeatureGrid"]

#: Preset-combo entry meaning "the method's own preset" (value ``None``).
METHOD_DEFAULT = "method's default"
#: Preset-combo entry for a hand-made selection (value: a FeatureSpec).
CUSTOM = "custom"
#: ``metadata[META_KEY]["role"]`` of the layers "Show as layers" adds.
FEATURE_ROLE = "feature"
#: Ranking methods offered, by display name (see ``rank_features``).
RANK_METHODS = {"importance": "forest", "drop-one": "drop_one"}

# Short row labels and tooltip wording; a filter missing here (one added to
# the core later) is shown by its own name.
_SHORT = {
    "intensity": "Intensity",
    "gaussian": "Gauss",
    "gradient_magnitude": "Grad mag",
    "laplacian": "LoG",
    "dog": "DoG",
    "hessian_eigenvalues": "Hess eig",
    "structure_tensor_eigenvalues": "ST eig",
    "median": "Median",
    "median_residual": "Med resid",
    "sobel": "Sobel",
    "ridge": "Ridge",
    "contrast": "Contrast",
    "line": "Line det",
}
_LONG = {
    "intensity": "the raw intensity",
    "gaussian": "Gaussian smoothing",
    "gradient_magnitude": "Gaussian gradient magnitude (edges)",
    "laplacian": "Laplacian of Gaussian (blobs, ridges)",
    "dog": "difference of Gaussians, G(σ) − G(0.66σ)",
    "hessian_eigenvalues": "Hessian-of-Gaussian eigenvalues (tubes, sheets)",
    "structure_tensor_eigenvalues": "structure-tensor eigenvalues (texture, orientation)",
    "median": "median filter",
    "median_residual": "median residual |f − median(f)| (spots)",
    "sobel": "Sobel gradient magnitude of G(σ)",
    "ridge": "bright and dark line / tube strength from the Hessian eigenvalues (vessels)",
    "contrast": "local contrast f − G(σ)",
    "line": "line detector: 12 oriented lines against the local mean, in each plane (vessels)",
}
_WARN_COLOUR = "#ff9f1c"
_MODE_TIP = ("3D filters a volume along all axes; 2D per slice filters each slice "
             "alone (thick-slice stacks).")


def _accepts(name: str, sigma: float) -> bool:
    try:
        FeatureSpec(((name, sigma),))
    except ValueError:
        return False
    return True


def _scaled_filters() -> list[str]:
    """Filters that take a σ > 0 (the grid's rows), in FILTERS order."""
    return [name for name in FILTERS if _accepts(name, 1.0)]


def _unscaled_filters() -> list[str]:
    """Filters that only exist at σ = 0 (``intensity``): plain checkboxes."""
    return [name for name in FILTERS if not _accepts(name, 1.0) and _accepts(name, 0.0)]


def _outputs_text(name: str, sigma: float) -> str:
    spec = FeatureSpec(((name, sigma),))
    per2d, per3d = spec.n_features(1, 2), spec.n_features(1, 3)
    if per2d == per3d:
        return f"{per2d} feature per channel"
    return f"{per2d} features per channel in 2D, {per3d} in 3D"


@thread_worker
def _features_in_thread(data, spec, spacing, channel_axis):
    """All features of the image, ``spatial + (F,)``, or a :class:`_Failure`."""
    start = time.perf_counter()
    try:
        feats = compute_features(data, spec, spacing=spacing, channel_axis=channel_axis)
    except (ValueError, TypeError, MemoryError) as exc:
        return _Failure(f"Could not compute the features: {exc}")
    return feats, time.perf_counter() - start


@thread_worker
def _rank_in_thread(data, seeds, spec, spacing, channel_axis, method, keep):
    """``(ranking, suggested spec, n samples, seconds)`` or a :class:`_Failure`."""
    start = time.perf_counter()
    try:
        X, y = seed_features(data, seeds, spec, spacing=spacing, channel_axis=channel_axis)
        ndim = seeds.ndim
        n_channels = 1 if channel_axis is None else data.shape[channel_axis]
        names = spec.names(n_channels, ndim)
        ranking = rank_features(X, y, names, method=method)
        suggestion = suggest_features(X, y, spec, n_channels=n_channels, ndim=ndim,
                                      max_filters=keep)
    except (ValueError, TypeError, MemoryError) as exc:
        return _Failure(f"Could not rank the features: {exc}")
    return ranking, suggestion, int(y.size), time.perf_counter() - start


def _enable(button):
    """Enable ``button`` again after its job, unless the panel was closed meanwhile."""
    try:
        button.enabled = True
    except RuntimeError:  # its Qt widget is gone
        pass


def _wrap(label):
    """Let a Label wrap its text over the dock's full width."""
    label.native.setWordWrap(True)
    label.native.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)


class _CheckGrid(QWidget):
    """Checkboxes: rows = filters, columns = σ; row/column headers toggle a line."""

    #: Emitted when the user ticks or unticks cells (not on :meth:`set_ticked`).
    edited = QtSignal()

    def __init__(self, rows, columns, parent=None):
        super().__init__(parent)
        self.rows = list(rows)
        self.columns: list[float] = []
        self.cells: dict[tuple[str, float], QCheckBox] = {}
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setHorizontalSpacing(2)
        layout.setVerticalSpacing(0)
        self._stretch_column = None
        corner = QLabel("σ")
        corner.setToolTip("Scale σ in the image's physical units (the layer's scale), "
                          "e.g. mm for a CT; click a σ or a filter name to tick its line.")
        corner.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        layout.addWidget(corner, 0, 0)
        for r, name in enumerate(self.rows, start=1):
            button = self._header(_SHORT.get(name, name.replace("_", " ")),
                                  f"{_LONG.get(name, name)}: tick or untick the whole row",
                                  lambda *a, n=name: self._toggle_line(
                                      [k for k in self.cells if k[0] == n]))
            layout.addWidget(button, r, 0, Qt.AlignmentFlag.AlignLeft)
        self.add_columns(columns)

    def _header(self, text, tooltip, slot):
        button = QToolButton(self)
        button.setText(text)
        button.setToolTip(tooltip)
        button.setAutoRaise(True)
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        button.clicked.connect(slot)
        return button

    def add_columns(self, sigmas):
        """Add a column per new σ (a σ = 0 column only has cells where allowed)."""
        new = sorted({float(s) for s in sigmas} - set(self.columns))
        if not new:
            return
        layout = self.layout()
        self.columns = sorted(self.columns + new)
        # Keep the cells together on the left of a wide dock.
        if self._stretch_column is not None:
            layout.setColumnStretch(self._stretch_column, 0)
        self._stretch_column = len(self.columns) + 1
        layout.setColumnStretch(self._stretch_column, 1)
        # Re-place every column so they stay sorted.
        for c, sigma in enumerate(self.columns, start=1):
            header = self.findChild(QToolButton, f"sigma {sigma:g}")
            if header is None:
                header = self._header(f"{sigma:g}", f"σ = {sigma:g}: tick or untick the "
                                      "whole column",
                                      lambda *a, s=sigma: self._toggle_line(
                                          [k for k in self.cells if k[1] == s]))
                header.setObjectName(f"sigma {sigma:g}")
            layout.addWidget(header, 0, c, Qt.AlignmentFlag.AlignCenter)
            for r, name in enumerate(self.rows, start=1):
                key = (name, sigma)
                box = self.cells.get(key)
                if box is None:
                    if not _accepts(name, sigma):
                        continue
                    box = QCheckBox(self)
                    box.setToolTip(f"{_LONG.get(name, name)} at σ = {sigma:g}; "
                                   f"{_outputs_text(name, sigma)}")
                    box.clicked.connect(lambda *a: self.edited.emit())
                    self.cells[key] = box
                layout.addWidget(box, r, c, Qt.AlignmentFlag.AlignCenter)

    def _toggle_line(self, keys):
        boxes = [self.cells[k] for k in keys if self.cells[k].isEnabled()]
        if not boxes:
            return
        tick = not all(b.isChecked() for b in boxes)
        for box in boxes:
            box.setChecked(tick)
        self.edited.emit()

    def ticked(self) -> list[tuple[str, float]]:
        """Ticked (filter, σ) cells, row by row (FILTERS order), σ ascending."""
        return [(name, sigma) for name in self.rows for sigma in self.columns
                if (name, sigma) in self.cells and self.cells[(name, sigma)].isChecked()]

    def set_ticked(self, keys):
        keys = set(keys)
        self.add_columns({s for n, s in keys if n in self.rows})
        for key, box in self.cells.items():
            box.setChecked(key in keys)


class FeatureGrid(Container):
    """Choose the per-pixel features: presets, a filters × σ grid, 2D/3D, z-score.

    Parameters
    ----------
    viewer : napari.Viewer
        Where "Show as layers" adds the feature layers.
    source : callable
        ``source()`` returns ``(image_layer, seeds_layer_or_None)``, the layers
        the host widget has chosen.

    Notes
    -----
    :attr:`value` is ``None`` (the method's default preset), a preset name
    or a :class:`FeatureSpec`; :attr:`spec_changed` is emitted with the new
    value when it changes. Ticking a cell, or changing the 2D/3D mode or
    z-score away from a preset's, makes the selection ``"custom"``.
    """

    #: Emitted with the new :attr:`value` when it changes.
    spec_changed = Signal(object)
    #: Emitted when "Show as layers" ends: the feature layers, or None.
    layers_shown = Signal(object)
    #: Emitted when "Rank features" ends: the ranking, or None.
    ranked = Signal(object)

    def __init__(self, viewer: napari.Viewer, source: Callable, *,
                 method_default: str = "default"):
        super().__init__(labels=False)
        self.viewer = viewer
        self._source = source
        if method_default not in PRESETS:
            raise ValueError(f"unknown preset {method_default!r}; presets are "
                             f"{', '.join(PRESETS)}")
        self._method_default = method_default
        self._spec: FeatureSpec = PRESETS[method_default]
        self._last_value = None
        self._origin = METHOD_DEFAULT  # the preset the user's edits started from
        self._updating = False  # programmatic changes are not user edits
        self._image_info = None  # (name, spatial shape, n_channels, spacing)
        self._worker = None
        self._rank_worker = None
        self.suggestion: FeatureSpec | None = None
        self.ranking: list[tuple[str, float]] = []
        self.feature_layers: list = []

        self.preset = ComboBox(label="Features", choices=self._preset_choices,
                               value=METHOD_DEFAULT,
                               tooltip="A preset, or tick your own filters and scales "
                                       "in the grid (custom).")
        self.unscaled = {name: CheckBox(text=_SHORT.get(name, name), value=False,
                                        tooltip=f"{_LONG.get(name, name)} (no scale)")
                         for name in _unscaled_filters()}
        self.mode = ComboBox(choices=[("3D", "3d"), ("2D per slice", "2d")], value="3d",
                             tooltip=_MODE_TIP)
        self.normalize = CheckBox(text="z-score", value=False,
                                  tooltip="Zero mean, unit variance per feature "
                                          "(distance-based methods: kNN, k-means).")
        options = Container(layout="horizontal", labels=False,
                            widgets=[*self.unscaled.values(), self.mode, self.normalize])
        self.grid = _CheckGrid(_scaled_filters(), ILASTIK_SIGMAS)
        grid_holder = EmptyWidget()
        grid_holder.native.layout().setContentsMargins(0, 0, 0, 0)
        grid_holder.native.layout().addWidget(self.grid)
        self.cost = Label(value="")
        _wrap(self.cost)
        self.show_layers_button = PushButton(
            text="Show as layers",
            tooltip="Compute the chosen features of the image and add one image "
                    "layer per feature (re-used on the next press).")
        self.rank_button = PushButton(
            text="Rank features",
            tooltip="Score each chosen feature from the seeds (features are computed "
                    "around the seed pixels only).")
        buttons = Container(layout="horizontal", labels=False,
                            widgets=[self.show_layers_button, self.rank_button])
        self.rank_method = ComboBox(choices=list(RANK_METHODS), value="importance",
                                    tooltip="importance: a random forest's impurity "
                                            "importances (fast); drop-one: accuracy lost "
                                            "without the feature, cross-validated (one "
                                            "forest per feature, slow).")
        self.keep = SpinBox(label="keep", value=6, min=1, max=99,
                            tooltip="Filters (filter, σ) in the suggested smaller set.")
        self.use_suggestion = PushButton(
            text="Use suggested", enabled=False,
            tooltip="Select the suggested smaller set (the bold features' filters).")
        self.keep.native.setMaximumWidth(64)
        self.rank_method.native.setMaximumWidth(120)
        rank_row = Container(layout="horizontal", labels=False,
                             widgets=[self.rank_method, Label(value="keep"), self.keep,
                                      self.use_suggestion])
        self.ranking_info = Label(value="")
        _wrap(self.ranking_info)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["feature", "score"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(18)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(
            1, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setMaximumHeight(170)
        self.table.setVisible(False)
        table_holder = EmptyWidget()
        table_holder.native.layout().setContentsMargins(0, 0, 0, 0)
        table_holder.native.layout().addWidget(self.table)
        for row in (options, buttons, rank_row):
            row.margins = (0, 0, 0, 0)
        self.extend([self.preset, options, grid_holder, self.cost, buttons, rank_row,
                     self.ranking_info, table_holder])
        # Spare height of a tall dock goes below the panel, not between its rows.
        self.native.layout().addStretch(1)

        self.preset.changed.connect(self._preset_chosen)
        self.grid.edited.connect(self._user_edit)
        for box in self.unscaled.values():
            box.changed.connect(self._user_edit)
        self.mode.changed.connect(self._user_edit)
        self.normalize.changed.connect(self._user_edit)
        self.show_layers_button.changed.connect(self.show_layers)
        self.rank_button.changed.connect(self.rank)
        self.use_suggestion.changed.connect(self.apply_suggestion)
        self._display(PRESETS[method_default])
        self.refresh()

    # -- value ---------------------------------------------------------------
    @property
    def spec(self) -> FeatureSpec:
        """The selection as a FeatureSpec (the method's default resolved)."""
        return self._spec

    @property
    def value(self):
        """``None`` (method's default), a preset name, or a custom FeatureSpec."""
        choice = self.preset.value
        if choice == METHOD_DEFAULT:
            return None
        return choice if choice in PRESETS else self._spec

    @value.setter
    def value(self, value):
        if value is None:
            choice, spec = METHOD_DEFAULT, PRESETS[self._method_default]
        elif isinstance(value, str):
            if value not in PRESETS:
                raise ValueError(f"unknown feature preset {value!r}; presets are "
                                 f"{', '.join(PRESETS)}")
            choice, spec = value, PRESETS[value]
        elif isinstance(value, FeatureSpec):
            choice, spec = CUSTOM, value
        else:
            raise TypeError("value must be None, a preset name or a FeatureSpec; got "
                            f"{type(value).__name__}")
        self._set(choice, spec)

    def set_method_default(self, preset: str):
        """Say which preset "method's default" means (the grid shows its ticks)."""
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; presets are {', '.join(PRESETS)}")
        self._method_default = preset
        self._updating = True
        current = self.preset.value
        try:
            # magicgui merges new choices into the old items (stale text, new
            # order): rebuild the list instead.
            self.preset.native.clear()
            self.preset.reset_choices()
            self.preset.value = current
        finally:
            self._updating = False
        if self.preset.value == METHOD_DEFAULT:
            self._set(METHOD_DEFAULT, PRESETS[preset])

    def _preset_choices(self, widget=None):
        return [(f"{METHOD_DEFAULT} ({self._method_default})", METHOD_DEFAULT),
                *((name, name) for name in PRESETS), (CUSTOM, CUSTOM)]

    def _set(self, choice, spec):
        if choice != CUSTOM:
            self._origin = choice
        self._updating = True
        try:
            self.preset.value = choice
        finally:
            self._updating = False
        self._display(spec)
        self._changed()

    def _display(self, spec: FeatureSpec):
        """Show ``spec`` in the controls (no edit events)."""
        self._spec = spec
        self._updating = True
        try:
            self.grid.set_ticked(spec.filters)
            for name, box in self.unscaled.items():
                box.value = (name, 0.0) in spec.filters
            self.mode.value = spec.mode
            self.normalize.value = spec.normalize
        finally:
            self._updating = False

    def _preset_chosen(self, choice):
        if self._updating:
            return
        if choice == METHOD_DEFAULT:
            self._display(PRESETS[self._method_default])
        elif choice in PRESETS:
            self._display(PRESETS[choice])
        if choice != CUSTOM:
            self._origin = choice
        self._changed()  # "custom" keeps the ticks shown

    def _user_edit(self, *args):
        if self._updating:
            return
        ticked = [(name, 0.0) for name, box in self.unscaled.items() if box.value]
        ticked += self.grid.ticked()
        if not ticked:
            show_warning("Tick at least one feature: every method needs one.")
            self._display(self._spec)  # undo the last untick
            return
        # Entries already chosen keep their order (a preset's order survives a
        # tick), new ones follow in grid order.
        old = [f for f in self._spec.filters if f in ticked]
        filters = old + [f for f in ticked if f not in old]
        spec = FeatureSpec(filters, mode=self.mode.value, normalize=self.normalize.value)
        # An edit that lands back on a preset (3D -> 2D -> 3D, untick and
        # tick again) is that preset again, not "custom 21 features".
        choice = self._preset_matching(spec)
        self._spec = spec if choice == CUSTOM else self._preset_spec(choice)
        self._updating = True
        try:
            self.preset.value = choice
        finally:
            self._updating = False
        self._changed()

    def _preset_spec(self, choice) -> FeatureSpec:
        return PRESETS[self._method_default if choice == METHOD_DEFAULT else choice]

    def _preset_matching(self, spec: FeatureSpec):
        """The preset choice whose spec has ``spec``'s filters, mode and z-score, or CUSTOM.

        The preset the edits started from wins, then the method's default,
        then any other preset; the order of the filters does not count.
        """
        def same(preset):
            return (set(preset.filters) == set(spec.filters) and preset.mode == spec.mode
                    and preset.normalize == spec.normalize)

        candidates = [self._origin, METHOD_DEFAULT, *PRESETS]
        return next((c for c in candidates if same(self._preset_spec(c))), CUSTOM)

    def _changed(self):
        self._update_cost()
        value = self.value
        if value != self._last_value or type(value) is not type(self._last_value):
            self._last_value = value
            self.spec_changed.emit(value)

    # -- cost of the selection ---------------------------------------------------
    def refresh(self, *args):
        """Re-read the host's image (call on image change): 2D/3D switch, memory."""
        image, _ = self._source()
        try:
            data, channel_axis, spacing = image_arrays(image)
        except InputError:
            self._image_info = None
        else:
            shape = spatial_shape(data, channel_axis)
            n_channels = 1 if channel_axis is None else data.shape[channel_axis]
            self._image_info = (image.name, shape, n_channels, spacing)
        volume = self._image_info is not None and len(self._image_info[1]) == 3
        self.mode.enabled = volume or self._image_info is None
        self.mode.tooltip = (_MODE_TIP if self.mode.enabled
                             else "2D image: 3D and 2D-per-slice are the same.")
        self._update_cost()

    def memory_budget(self) -> int:
        """Bytes above which the estimate is a warning (a share of the RAM)."""
        return int(RAM_FRACTION * total_ram())

    def _update_cost(self):
        spec = self._spec
        if self._image_info is None:
            self.cost.value = (f"{spec.n_features_per_channel} features per channel "
                               "(choose an image to see the memory needed)")
            return
        name, shape, n_channels, spacing = self._image_info
        ndim = len(shape)
        estimate = estimate_memory(shape, spec, n_channels)
        text = (f"<b>{spec.n_features(n_channels, ndim)} features</b> · "
                f"{format_bytes(estimate.output)} for '{name}' "
                f"(peak {format_bytes(estimate.peak)})")
        problems = []
        if estimate.peak > self.memory_budget():
            problems.append(f"more than {RAM_FRACTION:.0%} of the RAM "
                            f"({format_bytes(total_ram())}): tick fewer features or "
                            "use a smaller image")
        try:
            feature_halo(spec, shape, spacing)  # checks every σ against the image size
        except ValueError as exc:
            problems.append(str(exc))
        if problems:
            text += "".join(f"<br><span style='color:{_WARN_COLOUR}'>⚠ {p}</span>"
                            for p in problems)
        self.cost.value = text

    # -- show features as layers -----------------------------------------------------
    def show_layers(self, *args):
        """Compute the chosen features of the image in a worker; add them as layers.

        Returns the worker, or None when the image is missing or too large.
        """
        self.refresh()  # the label then tells about this very image
        image, _ = self._source()
        try:
            data, channel_axis, spacing = image_arrays(image)
        except InputError as exc:
            show_warning(str(exc))
            return None
        shape = spatial_shape(data, channel_axis)
        n_channels = 1 if channel_axis is None else data.shape[channel_axis]
        spec = self._spec
        estimate = estimate_memory(shape, spec, n_channels)
        if estimate.peak > self.memory_budget():
            show_warning(
                f"Showing {spec.n_features(n_channels, len(shape))} features of "
                f"'{image.name}' needs about {format_bytes(estimate.peak)}, more than "
                f"{RAM_FRACTION:.0%} of the RAM: tick fewer features to look at.")
            return None
        names = spec.names(n_channels, len(shape))
        worker = _features_in_thread(data, spec, spacing, channel_axis,
                                     _start_thread=False)
        worker.returned.connect(lambda result: self._add_feature_layers(result, image, names))
        worker.errored.connect(lambda exc: self._show_crash(exc, self.layers_shown))
        worker.finished.connect(lambda: _enable(self.show_layers_button))
        self.show_layers_button.enabled = False
        self._worker = worker
        worker.start()
        return worker

    def _our_feature_layers(self, source):
        return [layer for layer in self.viewer.layers
                if layer_role(layer) == FEATURE_ROLE
                and layer.metadata[META_KEY].get("source") == source]

    def _add_feature_layers(self, result, image, names):
        # Enabled before layers_shown is emitted (not on `finished`, which comes
        # later): a press right after the signal must not find it disabled.
        _enable(self.show_layers_button)
        if isinstance(result, _Failure):
            show_warning(result.message)
            self.layers_shown.emit(None)
            return
        feats, seconds = result
        ndim = feats.ndim - 1
        scale, translate = image.scale[-ndim:], image.translate[-ndim:]
        previous = {layer.metadata[META_KEY].get("feature"): layer
                    for layer in self._our_feature_layers(image.name)}
        # Features no longer chosen would be confusing leftovers: ours, recomputable.
        for feature, layer in previous.items():
            if feature not in names or layer.data.shape != feats.shape[:-1]:
                self.viewer.layers.remove(layer)
        layers = []
        for i, feature in enumerate(names):
            data = feats[..., i]  # views of one stack: no copy per layer
            layer = previous.get(feature)
            if layer is not None and layer in self.viewer.layers:
                layer.data = data
                layer.scale, layer.translate = scale, translate
                layer.reset_contrast_limits()
            else:
                layer = self.viewer.add_image(
                    data, name=feature, scale=scale, translate=translate,
                    colormap="gray", visible=i == 0,
                    metadata={META_KEY: {"role": FEATURE_ROLE, "source": image.name,
                                         "feature": feature}})
            layers.append(layer)
        self._place_above(image, layers)
        self.feature_layers = layers
        show_info(f"{len(layers)} features of '{image.name}' in {seconds:.2f} s "
                  "(hidden but the first: tick their eyes to compare)")
        self.layers_shown.emit(layers)

    def _place_above(self, image, layers):
        """Put ``layers`` right above ``image`` (seeds and results stay on top)."""
        if image not in self.viewer.layers:
            return
        # Highest index is drawn on top and listed first: the first feature
        # heads the group in the layer list.
        indices = [self.viewer.layers.index(layer) for layer in reversed(layers)]
        self.viewer.layers.move_multiple(indices, self.viewer.layers.index(image) + 1)

    # -- rank features from the seeds --------------------------------------------------
    def rank(self, *args):
        """Score each chosen feature from the seeds in a worker; fill the table.

        Returns the worker, or None (with a warning) without seeds of two classes.
        """
        self.refresh()
        image, seeds_layer = self._source()
        try:
            data, channel_axis, spacing = image_arrays(image)
            seeds = seeds_array(seeds_layer, image, spatial_shape(data, channel_axis))
        except InputError as exc:
            show_warning(str(exc))
            return None
        classes = np.unique(seeds[seeds > 0])
        if classes.size < 2:
            found = ("no seeds yet" if classes.size == 0
                     else f"only label {int(classes[0])}")
            show_warning(f"Ranking features needs seeds of at least two classes; "
                         f"'{seeds_layer.name}' has {found}. Paint a few strokes with "
                         "label 1 and label 2, then press Rank features again.")
            return None
        method = RANK_METHODS[self.rank_method.value]
        spec = self._spec
        worker = _rank_in_thread(data, seeds, spec, spacing, channel_axis, method,
                                 int(self.keep.value), _start_thread=False)
        worker.returned.connect(lambda result: self._show_ranking(result, spec))
        worker.errored.connect(lambda exc: self._show_crash(exc, self.ranked))
        worker.finished.connect(lambda: _enable(self.rank_button))
        self.rank_button.enabled = False
        self.ranking_info.value = f"Ranking {len(spec.filters)} filters from the seeds…"
        self._rank_worker = worker
        worker.start()
        return worker

    def _show_ranking(self, result, spec):
        _enable(self.rank_button)  # before `ranked` is emitted (see _add_feature_layers)
        if isinstance(result, _Failure):
            self.ranking_info.value = ""
            show_warning(result.message)
            self.ranked.emit(None)
            return
        ranking, suggestion, n_samples, seconds = result
        self.ranking, self.suggestion = ranking, suggestion
        image_info = self._image_info
        n_channels, ndim = (1, 2) if image_info is None else (image_info[2],
                                                              len(image_info[1]))
        # Features of the suggested entries are shown bold.
        entry = dict(zip(spec.names(n_channels, ndim), spec.entry_of_feature(n_channels, ndim)))
        kept = {i for i, f in enumerate(spec.filters) if f in suggestion.filters}
        bold = QFont()
        bold.setBold(True)
        self.table.setRowCount(len(ranking))
        for row, (name, score) in enumerate(ranking):
            items = (QTableWidgetItem(name), QTableWidgetItem(f"{score:.4f}"))
            items[1].setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            for column, item in enumerate(items):
                if entry.get(name) in kept:
                    item.setFont(bold)
                self.table.setItem(row, column, item)
        self.table.setVisible(True)
        self.use_suggestion.enabled = True
        self.ranking_info.value = (
            f"Ranked by {self.rank_method.value} from {n_samples:,} seed pixels in "
            f"{seconds:.1f} s. "
            f"Suggested (bold): {len(suggestion.filters)} of {len(spec.filters)} filters, "
            f"{suggestion.n_features(n_channels, ndim)} features.")
        self.ranked.emit(ranking)

    def apply_suggestion(self, *args):
        """Make the suggested smaller set the (custom) selection."""
        if self.suggestion is None:
            show_warning("No suggestion yet: paint seeds of two classes and press "
                         "Rank features.")
            return
        self.value = self.suggestion

    def _show_crash(self, exc, done):
        """An unexpected error in a worker: say so, and emit ``done(None)``."""
        _enable(self.show_layers_button)
        _enable(self.rank_button)
        show_error(f"Feature computation failed unexpectedly: {exc!r}")
        done.emit(None)
