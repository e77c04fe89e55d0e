"""The Segmentation Lab panel: every section in one dock that scrolls, on a normal screen."""

import numpy as np
import pytest
from gui_helpers import scribble_and_segment

from napari_seglab.core.phantoms import scribble_seeds

pytestmark = pytest.mark.gui


def test_panel_fits_a_small_screen_and_every_result_is_reachable(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1280, 800)
    viewer.open_sample("napari-seglab", "phantom_3d")
    _, panel = viewer.window.add_plugin_dock_widget("napari-seglab", "Segmentation Lab")
    window = viewer.window._qt_window
    qtbot.waitUntil(lambda: window.height() <= 800, timeout=5000)
    seg = panel.segmentation
    seeds = viewer.layers["seeds"]
    scribbles = scribble_seeds(viewer.layers["ground truth"].data)
    index = np.nonzero(scribbles)
    seeds.data_setitem(index, scribbles[index])
    with qtbot.waitSignal(seg.finished_run, timeout=60_000):
        seg.run.native.click()
    ev = panel.evaluation
    qtbot.waitUntil(lambda: "Mean Dice" in ev.results.value, timeout=10_000)
    panel.expand("Features")
    # The window kept its size: the panel scrolls rather than growing.
    assert window.height() <= 800 and window.width() <= 1280
    assert panel.height() < 800
    # Every result widget is inside the scroll area, one scroll away.
    for widget in (ev.results.native, ev.matrix.native, ev.curve, panel.features.native):
        assert panel.scroll.widget().isAncestorOf(widget)
        panel.scroll.ensureWidgetVisible(widget)
        assert widget.isVisibleTo(panel)
    # The seeds layer is still the one being painted.
    assert viewer.layers.selection.active is seeds


def test_feature_grid_button_opens_the_features_section(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-seglab", "phantom_2d")
    _, panel = viewer.window.add_plugin_dock_widget("napari-seglab", "Segmentation Lab")
    assert not panel.sections["Features"].expanded
    panel.segmentation.edit_features.native.click()
    assert panel.sections["Features"].expanded
    # Presets chosen in the method section reach the grid in the panel.
    panel.segmentation.feature_choice.value = "minimal"
    assert panel.features.value == "minimal"


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)])
def test_every_section_fits_the_dock_width(make_napari_viewer, qtbot, size):
    """No section asks for more width than the scroll area shows (nothing clipped)."""
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(*size)
    viewer.open_sample("napari-seglab", "phantom_2d")
    _, panel = viewer.window.add_plugin_dock_widget("napari-seglab", "Segmentation Lab")
    scribble_and_segment(viewer, qtbot, panel)
    qtbot.waitUntil(lambda: "Mean Dice" in panel.evaluation.results.value, timeout=10_000)
    for title in panel.sections:
        panel.expand(title)
    viewport = panel.scroll.viewport().width()
    assert viewport >= 300
    too_wide = {title: section.minimumSizeHint().width()
                for title, section in panel.sections.items()
                if section.minimumSizeHint().width() > viewport}
    assert not too_wide, f"viewport {viewport} px: {too_wide}"
    assert panel.scroll.widget().minimumSizeHint().width() <= viewport


def test_wheel_over_a_combo_scrolls_the_panel_unless_it_has_focus(make_napari_viewer, qtbot):
    from qtpy.QtCore import QPoint, QPointF, Qt
    from qtpy.QtGui import QWheelEvent
    from qtpy.QtWidgets import QApplication

    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1280, 800)
    viewer.open_sample("napari-seglab", "phantom_2d")
    _, panel = viewer.window.add_plugin_dock_widget("napari-seglab", "Segmentation Lab")
    for title in panel.sections:
        panel.expand(title)
    combo = panel.segmentation.method.native
    bar = panel.scroll.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0, timeout=5000)
    bar.setValue(0)
    before = combo.currentText()

    def wheel():
        centre = QPointF(combo.rect().center())
        event = QWheelEvent(centre, QPointF(combo.mapToGlobal(combo.rect().center())),
                            QPoint(0, 0), QPoint(0, -120), Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
                            False)
        QApplication.sendEvent(combo, event)

    wheel()
    assert combo.currentText() == before and bar.value() > 0
    combo.hasFocus = lambda: True  # as after a click (Xvfb gives no window focus)
    wheel()
    assert combo.currentText() != before  # a focused combo takes the wheel



@pytest.mark.parametrize("name", ["Evaluation", "Feature space"])
def test_a_separate_dock_scrolls_and_keeps_the_window_on_a_small_screen(
        make_napari_viewer, qtbot, name):
    """A section opened as its own dock beside the panel scrolls instead of growing the
    window past an 800 px screen, and is never narrower than the section needs."""
    from napari.plugins import _npe2
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QScrollArea

    viewer = make_napari_viewer(show=True)
    window = viewer.window._qt_window
    window.resize(1280, 800)
    viewer.open_sample("napari-seglab", "phantom_2d")
    _, panel = viewer.window.add_plugin_dock_widget("napari-seglab", "Segmentation Lab")
    scribble_and_segment(viewer, qtbot, panel)
    qtbot.waitUntil(lambda: "Mean Dice" in panel.evaluation.results.value, timeout=10_000)
    qtbot.waitUntil(lambda: window.height() <= 800, timeout=5000)

    dock_class, _ = _npe2.get_widget_contribution("napari-seglab", name)  # the Plugins menu's
    dock = dock_class(viewer)
    viewer.window.add_dock_widget(dock, name=name, area="right")
    qtbot.waitUntil(dock.isVisible, timeout=5000)
    if name == "Evaluation":
        dock.section.reset_choices()
        qtbot.waitUntil(lambda: "Mean Dice" in dock.section.results.value, timeout=10_000)
    assert isinstance(dock, QScrollArea)
    assert dock.horizontalScrollBarPolicy() == Qt.ScrollBarPolicy.ScrollBarAlwaysOff
    content = dock.widget()
    section = getattr(dock.section, "native", dock.section)
    assert content.isAncestorOf(section)
    # The window kept the size of the screen: the dock scrolls instead.
    qtbot.waitUntil(lambda: content.height() >= content.minimumSizeHint().height(),
                    timeout=5000)
    assert window.height() <= 800 and window.width() <= 1280
    if name == "Evaluation":  # the scores, matrix and curve are taller than the screen leaves
        assert dock.verticalScrollBar().maximum() > 0
    # Nothing is clipped at the dock's width.
    assert dock.viewport().width() >= content.minimumSizeHint().width()
