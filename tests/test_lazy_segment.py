"""Segment on a lazy (dask) volume labels the slice on screen and reads only what it needs."""

import numpy as np
import pytest

from napari_seglab._widgets.lazy_segment import slice_window
from napari_seglab.core.live import segment_slice
from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom

da = pytest.importorskip("dask.array")


class SliceRecorder:
    """An array that remembers which first-axis slices were read from it."""

    def __init__(self, data):
        self.data, self.shape, self.dtype, self.ndim = data, data.shape, data.dtype, data.ndim
        self.read = set()

    def __getitem__(self, key):
        first = key[0] if isinstance(key, tuple) else key
        self.read.update(range(self.shape[0])[first] if isinstance(first, slice) else [first])
        return self.data[key]


def test_slice_window_keeps_the_screen_slice_and_the_nearest_seeds():
    assert slice_window(5, [], 10, 3, 4) == (2, 9, [])  # the halo is always read
    assert slice_window(0, [1, 9], 10, 2, 6) == (0, 4, [1])  # clipped at the border
    assert slice_window(5, [0, 9], 10, 1, 10) == (0, 10, [0, 9])


@pytest.mark.gui
def test_segment_on_a_dask_layer_labels_only_the_slice_on_screen(make_napari_viewer, qtbot):
    image, truth = tissue_phantom((48, 48, 48), random_state=1)
    image = image.astype(np.float32)
    recorder = SliceRecorder(image)
    viewer = make_napari_viewer()
    layer = viewer.add_image(da.from_array(recorder, chunks=(1, 48, 48), asarray=True),
                             name="lazy")
    scribbles = np.zeros(truth.shape, np.uint8)
    for z in (22, 26, 46):  # 46 is too far from 24 for the window below
        scribbles[z] = scribble_seeds(truth[z], length=12, random_state=z)
    seeds = viewer.add_labels(scribbles.copy(), name="seeds")
    seg = viewer.window.add_plugin_dock_widget("napari-seglab", "Seeded segmentation")[1].section
    seg.image.value, seg.seeds.value = layer, seeds
    seg.method.value = "Nearest mean"
    viewer.dims.set_current_step(0, 24)
    qtbot.waitUntil(lambda: 24 in recorder.read, timeout=5000)  # napari shows the slice
    recorder.read.clear()

    import napari_seglab._widgets.lazy_segment as lazy

    # Slice bytes 48·48·4: a window of at most 15 slices (24 ± 7 with the halo).
    lazy_budget = lazy.MAX_WINDOW_BYTES
    lazy.MAX_WINDOW_BYTES = 15 * 48 * 48 * 4
    try:
        with qtbot.waitSignal(seg.finished_run, timeout=60_000) as blocker:
            seg.start_segmentation()
    finally:
        lazy.MAX_WINDOW_BYTES = lazy_budget
    out = blocker.args[0]
    assert out is not None and out.name == "segmentation (slice on screen)"
    assert out.data.shape == (1, 48, 48)
    assert out.translate[0] == pytest.approx(24)
    assert max(recorder.read) < 46 and len(recorder.read) < 48  # never the whole volume
    assert "slice 24 only" in seg.status.value and "Whole volume to zarr" in seg.status.value
    assert "left out of training" in seg.status.value

    # The same labels as the live path on the whole volume in memory, trained
    # on the same seeded slices (the features of slice 24 are exact).
    kept = scribbles.copy()
    kept[46] = 0
    expected = segment_slice(image[..., None], kept, 24, method="nearest_mean",
                             spacing=(1.0, 1.0, 1.0))
    np.testing.assert_array_equal(out.data[0], expected)

    # Another slice re-uses the layer, which moves there; painting keeps working.
    viewer.dims.set_current_step(0, 26)
    with qtbot.waitSignal(seg.finished_run, timeout=60_000) as blocker:
        seg.start_segmentation()
    assert [x.name for x in viewer.layers if x.name.startswith("segmentation")] == [out.name]
    assert out.translate[0] == pytest.approx(26)
    np.testing.assert_array_equal(seeds.data, scribbles)

    # The 3D view has no "slice on screen": say what to do instead.
    viewer.dims.ndisplay = 3
    with qtbot.waitSignal(seg.finished_run, timeout=5000) as blocker:
        seg.start_segmentation()
    assert blocker.args[0] is None and "2D view" in seg.status.value

    # Live update never reads the lazy volume whole.
    viewer.dims.ndisplay = 2
    recorder.read.clear()
    seg.live.value = True
    qtbot.waitUntil(lambda: "Live update is paused" in seg.status.value, timeout=5000)
    assert len(recorder.read) <= 1
