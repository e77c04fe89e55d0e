"""Event-loop stalls while painting with live update on, beside plain napari.

A shown viewer (run under Xvfb), a 48x512x512 volume and a 2048x2048
image. Strokes are painted through the real layer API (``Labels.paint``,
what the brush calls, one dab per event-loop turn), with the Segmentation
Lab panel docked and *Live update* on (kNN, then the default blend). A 5 ms QTimer probe records
how late each of its ticks fires: that lateness is the time the GUI thread
was busy, i.e. how long the brush froze. Printed: p50 / p95 / max stall
(and p99, and how many ticks were more than 50 ms late) for ours and for
the peer "napari painting with no plugin" (same strokes, same viewer kind,
same run). Under Xvfb the canvas is drawn by software OpenGL on the same
two cores: one repaint of the window costs 35-60 ms there, which is the
floor every row shares. The second peer also shows a segmentation layer
(half opaque, as ours is) but runs no plugin: drawing one more layer is
part of the floor.

    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python bench/event_loop.py [n_strokes]

The machine is shared (2 cores, other jobs running): compare the two
columns of one run, not runs with each other.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import napari
import numpy as np
from qtpy.QtCore import QElapsedTimer, QEventLoop, QTimer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's package
from napari_seglab._widgets.panel import SeglabPanel
from napari_seglab.core.phantoms import tissue_phantom

PROBE_MS = 5


class Probe:
    """A QTimer that records how late each tick fires (ms)."""

    def __init__(self):
        self.clock = QElapsedTimer()
        self.timer = QTimer()
        self.timer.setInterval(PROBE_MS)
        self.timer.timeout.connect(self._tick)
        self.stalls: list[float] = []
        self._last = None

    def _tick(self):
        now = self.clock.nsecsElapsed() / 1e6
        if self._last is not None:
            self.stalls.append(max(0.0, now - self._last - PROBE_MS))
        self._last = now

    def start(self):
        self.stalls.clear()
        self._last = None
        self.clock.start()
        self.timer.start()

    def stop(self):
        self.timer.stop()
        return np.array(self.stalls or [0.0])


def spin(ms):
    """Run the event loop for ``ms`` milliseconds."""
    loop = QEventLoop()
    QTimer.singleShot(int(ms), loop.quit)
    loop.exec_()


def paint_strokes(layer, n_strokes, plane_shape, index=None, rng=None, settle=None):
    """Paint ``n_strokes`` strokes of 12 dabs, one dab per event-loop turn."""
    rng = np.random.default_rng(0) if rng is None else rng
    h, w = plane_shape
    for stroke in range(n_strokes):
        label = stroke % 3 + 1
        r0, c0 = rng.integers(40, h - 40), rng.integers(40, w - 40)
        dr, dc = rng.normal(size=2)
        for step in range(12):
            point = (r0 + 2 * step * dr, c0 + 2 * step * dc)
            coord = point if index is None else (index, *point)
            layer.paint(coord, label)
            spin(16)  # ~60 dabs per second, as a mouse drag
        if settle is not None:
            settle()
        spin(150)


def run(shape, n_strokes, with_plugin, result_layer=False, method="kNN"):
    image, truth = tissue_phantom(shape, random_state=1)
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)
    viewer.add_image(image, name="image")
    if result_layer:  # the layers ours shows, with no plugin: the drawing floor
        viewer.add_labels(truth.astype(np.uint8), name="segmentation", opacity=0.5)
    panel = None
    if with_plugin:
        panel = SeglabPanel(viewer)
        viewer.window.add_dock_widget(panel, name="Segmentation Lab", area="right")
        seg = panel.segmentation
        seeds = seg.add_seeds_layer()
        seg.method.value = method
        seg.live.value = True
    else:
        seeds = viewer.add_labels(np.zeros(shape, np.uint8), name="seeds")
    seeds.brush_size = 6
    index = None
    if len(shape) == 3:
        index = shape[0] // 2
        viewer.dims.set_current_step(0, index)
    spin(500)

    def settle():
        # Let the running preview finish, so every stroke's result is drawn
        # inside the measured window (bounded: 20 s).
        if panel is None:
            return
        start = time.perf_counter()
        while (seg.live_job.running or seg._live_pending or seg._live_timer.isActive()) \
                and time.perf_counter() - start < 20:
            spin(10)

    # Warm-up: the first preview computes the slice's features.
    paint_strokes(seeds, 3, shape[-2:], index, np.random.default_rng(1), settle)
    probe = Probe()
    probe.start()
    paint_strokes(seeds, n_strokes, shape[-2:], index, np.random.default_rng(2), settle)
    stalls = probe.stop()
    viewer.close()
    return stalls


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    n_strokes = int(argv[0]) if argv else 8
    print(f"Event-loop stall per {PROBE_MS} ms probe tick while painting {n_strokes} strokes "
          "(ms; shared 2-core machine, other jobs running)")
    print(f"{'image':>14} {'who':>34} {'p50':>6} {'p95':>6} {'p99':>6} {'max':>6} "
          f"{'>50 ms':>7}")
    for shape in ((48, 512, 512), (2048, 2048)):
        for with_plugin, result, who in (
                (False, False, "napari painting with no plugin"),
                (False, True, "napari, + a result layer, no plugin"),
                (True, False, "napari-seglab, live kNN"),
                (True, False, "napari-seglab, live blend (default)")):
            method = "kNN" if "kNN" in who else "Blend (kNN + logistic)"
            stalls = run(shape, n_strokes, with_plugin, result, method)
            name = "x".join(map(str, shape))
            print(f"{name:>14} {who:>34} {np.percentile(stalls, 50):6.1f} "
                  f"{np.percentile(stalls, 95):6.1f} {np.percentile(stalls, 99):6.1f} "
                  f"{stalls.max():6.1f} {int((stalls > 50).sum()):7d}", flush=True)


if __name__ == "__main__":
    app = napari.qt.get_qapp()
    main()
