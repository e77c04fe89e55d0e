"""The feature choice of the Seeded segmentation dock: the preset combo and the grid."""

from __future__ import annotations

from ..core.features import PRESETS, FeatureSpec
from ..core.segmenters import DEFAULT_METHOD, SEGMENTERS
from .feature_grid import CUSTOM, METHOD_DEFAULT, FeatureGrid
from .methods import METHODS


def _feature_text(value, method) -> str:
    """A feature choice in words: its default, a preset or a custom set."""
    if value is None:
        return f"its default ({SEGMENTERS[method].default_features})"
    if isinstance(value, FeatureSpec):
        return f"its custom set ({value.n_features_per_channel} features per channel)"
    return f"the '{value}' preset"


class FeatureChoiceMixin:
    """Features of :class:`SegmentationWidget`: ``feature_value`` shown and edited."""

    def _feature_choices(self, widget=None):
        method = METHODS[self.method.value] if hasattr(self, "method") else DEFAULT_METHOD
        choices = [(f"{METHOD_DEFAULT} ({SEGMENTERS[method].default_features})",
                    METHOD_DEFAULT), *((name, name) for name in PRESETS)]
        value = getattr(self, "feature_value", None)
        if isinstance(value, FeatureSpec):
            text = f"custom: {value.n_features_per_channel} features per channel (Feature grid)"
            choices.append((text, CUSTOM))
        return choices

    def _show_feature_choice(self):
        """Show ``feature_value`` in the combo (rebuilt: its labels change)."""
        value = self.feature_value
        choice = (METHOD_DEFAULT if value is None
                  else CUSTOM if isinstance(value, FeatureSpec) else value)
        self._syncing_features = True
        try:
            self.feature_choice.native.clear()  # magicgui merges items otherwise
            self.feature_choice.reset_choices()
            self.feature_choice.value = choice
        finally:
            self._syncing_features = False

    def _feature_chosen(self, choice):
        if getattr(self, "_syncing_features", False) or choice == CUSTOM:
            return
        self._set_features(None if choice == METHOD_DEFAULT else choice)

    def _set_features(self, value):
        if value == self.feature_value and type(value) is type(self.feature_value):
            return
        self.feature_value = value
        self._show_feature_choice()
        grid = self._feature_grid()
        if grid is not None and grid.value != value:
            grid.value = value
        self._schedule_live()

    def _features_for_method(self, *args):
        """Give each method its own feature choice when the method changes.

        Every method has its own default preset (kNN a small one, the forest
        the full ilastik set), so a custom set built for one method silently
        following to another surprised users; each keeps its own, and the
        status line says when the switch changed the features.
        """
        by_method = self.__dict__.setdefault("_features_by_method", {})
        old = getattr(self, "_features_method", None)
        new = METHODS[self.method.value]
        self._features_method = new
        if old is not None and SEGMENTERS[old].input == "features":
            by_method[old] = self.feature_value
        if new == old or SEGMENTERS[new].input != "features":
            return
        value = by_method.get(new)
        if value == self.feature_value and type(value) is type(self.feature_value):
            return
        left = self.feature_value
        self._set_features(value)
        if left is not None and old is not None:
            name = {key: name for name, key in METHODS.items()}
            self.status.value = (
                f"Features: {self.method.value} uses "
                f"{_feature_text(value, new)}; {name[old]} keeps "
                f"{_feature_text(left, old)} (switch back to use it).")

    def method_default_features(self) -> str:
        """The preset the chosen method uses when no features are chosen."""
        return SEGMENTERS[METHODS[self.method.value]].default_features

    def attach_feature_grid(self, grid, reveal=None):
        """Use ``grid`` (a Features section of a panel) instead of a dock of its own.

        ``reveal()`` is called by *Feature grid…* to show it.
        """
        self.features = grid
        self._feature_dock = None
        self._reveal_features = reveal
        grid.value = self.feature_value
        grid.spec_changed.connect(self._set_features)

    def _feature_grid(self):
        """The Features panel, or None if never opened or closed by the user."""
        grid = self.features
        if grid is None:
            return None
        try:
            grid.native.objectName()
            if self._feature_dock is not None:
                self._feature_dock.objectName()
        except RuntimeError:  # its dock was closed: Qt deleted it
            self.features = None
            return None
        return grid

    def open_feature_grid(self, *args):
        """Open (or bring back) the Features panel: filters × σ, memory, ranking."""
        grid = self._feature_grid()
        if grid is not None and self._feature_dock is None:
            if self._reveal_features is not None:
                self._reveal_features()
            return grid
        if grid is None:
            method = METHODS[self.method.value]
            grid = FeatureGrid(self.viewer, lambda: (self.image.value, self.seeds.value),
                               method_default=SEGMENTERS[method].default_features)
            grid.value = self.feature_value
            grid.spec_changed.connect(self._set_features)
            self.features = grid
            self._feature_dock = self.viewer.window.add_dock_widget(
                grid, name="Features (napari-seglab)", area="right")
        else:
            self._feature_dock.show()
            self._feature_dock.raise_()
        return grid

    def _refresh_feature_grid(self, *args):
        grid = self._feature_grid()
        if grid is not None:
            grid.refresh()

