"""Guide the next stroke: a *Next* button and *Local corrections* for the Seeded segmentation dock.

*Next* moves the view (the slice of a volume and the camera centre) to
:func:`~napari_seglab.core.guidance.next_region` of the last Segment run's
probabilities: the largest connected region where the two best classes are
close. *Local corrections* keeps, after each new Segment run, only the
changes connected to the strokes painted since the previous run
(:func:`~napari_seglab.core.refine.local_update`): a correction fixes what it
touches and cannot undo good work elsewhere (on ``bench/accuracy.py`` the
only variant never below its starting score on four of five groups).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import CheckBox, Container, Label, PushButton
from napari.utils.notifications import show_info

from ..core.guidance import next_region
from ..core.refine import local_update
from .layers import META_KEY, write_labels

if TYPE_CHECKING:
    import napari

    from .segmentation import SegmentationWidget

__all__ = ["GuidanceWidget"]


class GuidanceWidget(Container):
    """*Next* (where to paint) and *Local corrections* for a :class:`SegmentationWidget`.

    Parameters
    ----------
    napari_viewer : napari.Viewer
    segmentation : SegmentationWidget
        The dock whose runs this section follows (its ``finished_run``).
    """

    def __init__(self, napari_viewer: napari.Viewer, segmentation: SegmentationWidget):
        super().__init__(labels=False)
        self.viewer = napari_viewer
        self.segmentation = segmentation
        segmentation.keep_proba = True  # Next reads the probabilities of each run
        self.next = PushButton(
            text="Next: where to paint", enabled=False,
            tooltip="Move the view to the largest region where the last result hesitates "
                    "between two classes (margin 1 - (p1 - p2) ≥ 0.5).")
        # On by default: on bench/accuracy.py (25 real cases, 5 correction
        # rounds) the blend with it never ends below its first result and
        # 80-100 % of the rounds are not worse; without it a correction
        # sometimes undoes good work far away (-0.05 to -0.2).
        self.local = CheckBox(
            text="Local corrections", value=True,
            tooltip="After a correction stroke, Segment changes the result only in the "
                    "regions connected to the new strokes; the rest stays as it was. "
                    "Untick to let a new stroke change the whole result.")
        self.status = Label(value="Press Segment; then Next shows where a stroke helps most.")
        self.status.native.setWordWrap(True)
        # Its messages take up to three lines in a narrow dock; Qt does not
        # re-measure a wrapped label when a scroll bar narrows the panel.
        self.status.native.setMinimumHeight(3 * self.status.native.fontMetrics().lineSpacing())
        self.extend([self.next, self.local, self.status])
        # The last run: (result layer, its labels, the seeds it was trained on, proba).
        self._last = None
        self.next.changed.connect(self.go_to_next)
        segmentation.finished_run.connect(self._run_finished)

    # -- after each Segment run ----------------------------------------------
    def _seeds_of(self, layer):
        name = layer.metadata.get(META_KEY, {}).get("seeds")
        for candidate in self.viewer.layers:
            if candidate.name == name and np.shape(candidate.data) == layer.data.shape:
                return np.asarray(candidate.data).copy()
        return None

    def _run_finished(self, layer):
        if layer is None:  # a failed, refused or cancelled run changes nothing here
            return
        seeds = self._seeds_of(layer)
        proba = self.segmentation.last_proba
        if proba is not None and proba.shape[:-1] != layer.data.shape:
            proba = None
        labels = np.asarray(layer.data)
        previous = self._last
        if (self.local.value and previous is not None and previous[0] is layer
                and seeds is not None and previous[2] is not None
                and previous[1].shape == labels.shape):
            stroke = (seeds != previous[2]) & (seeds > 0)
            if stroke.any():
                kept = local_update(previous[1], labels, stroke)
                changed = int((kept != previous[1]).sum())
                dropped = int((kept != labels).sum())
                meta = layer.metadata[META_KEY]
                labels = write_labels(self.viewer, kept, role=meta["role"],
                                      source=meta["source"], name=layer.name).data
                self.status.value = (f"Local correction: {changed:,} pixels changed near the "
                                     f"new strokes; {dropped:,} changes elsewhere not kept.")
        self._last = (layer, np.array(labels, copy=True), seeds, proba)
        self.next.enabled = proba is not None

    # -- Next ------------------------------------------------------------------
    def go_to_next(self, *args):
        """Move the view to the region where the next stroke helps most."""
        if self._last is None or self._last[3] is None:
            show_info("Press Segment first: Next needs a result's probabilities.")
            return None
        layer, _, seeds, proba = self._last
        if layer not in self.viewer.layers:
            show_info("The segmentation layer is gone: press Segment again.")
            return None
        if seeds is None or seeds.shape != proba.shape[:-1]:
            seeds = None
        region = next_region(proba, seeds=seeds)
        if region is None:
            self.status.value = "Nothing uncertain left: every pixel has a clear winner."
            return None
        world = np.asarray(layer.data_to_world(region.centre), dtype=float)
        dims = self.viewer.dims
        axes = list(range(dims.ndim - world.size, dims.ndim))
        for axis, value in zip(axes, world, strict=True):
            if axis not in dims.displayed:
                dims.set_point(axis, value)
        shown = [world[axes.index(a)] for a in dims.displayed if a in axes]
        self.viewer.camera.center = tuple(shown)
        where = (f"slice {region.slice}, " if region.slice is not None else "")
        self.status.value = (f"Paint here: {where}pixel {region.centre[-2:]}, an uncertain "
                             f"region of {region.size:,} pixels.")
        return region
