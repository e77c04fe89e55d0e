"""Session files: size and save/open time, ours beside plain ``np.savez_compressed``.

Ours is :func:`~napari_seglab.core.session.save_session` /
:func:`~napari_seglab.core.session.load_session` (every field checked, the
model loaded, a random forest refitted). The peer writes the same arrays
(the image, the seeds, the ground truth and the model file's bytes) with
``np.savez_compressed`` and reads them back with ``np.load`` without any
check: the floor a data-only format can reach. ``pickle`` of the same
objects is shown too, the format a session must not use.

Cases: the 2D sample (256², image embedded) and the 3D sample (48×160×160,
image embedded), each with a kNN and a random-forest model; and a session
whose image is referenced by path (nothing but seeds and model stored).
The machine is shared: read the ratios, not the absolute times.

    .venv/bin/python bench/session.py
"""

from __future__ import annotations

import os
import pickle
import tempfile
import time

import numpy as np

from napari_seglab.core.blockwise import model_to_bytes
from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom
from napari_seglab.core.pipeline import SeededModel
from napari_seglab.core.session import (
    SeedsState,
    Session,
    image_ref,
    load_session,
    save_session,
)

REPEATS = 3


def _best(function):
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def _case(shape, method, by_path, folder):
    image, truth = tissue_phantom(shape, random_state=0)
    image = image.astype(np.float32)
    truth = truth.astype(np.uint8)
    seeds = scribble_seeds(truth).astype(np.uint8)
    model = SeededModel(method, "minimal").fit(image, seeds)
    path = None
    if by_path:
        path = os.path.join(folder, "image.npy")
        np.save(path, image)
    session = Session(images=[image_ref("image", image, path=path)],
                      seeds=SeedsState(seeds, classes={1: "a", 2: "b", 3: "c"}),
                      truth=image_ref("truth", truth, role="truth"), features="minimal",
                      method=method, params={}, model=model_to_bytes(model))
    return session


def _peer_arrays(session):
    arrays = {"seeds": session.seeds.data, "truth": session.truth.data,
              "model": np.frombuffer(session.model, np.uint8)}
    if session.images[0].data is not None:
        arrays["image"] = session.images[0].data
    return arrays


def _measure(session, folder):
    """``(ours bytes, peer bytes, pickle bytes, save ours, save peer, open ours, open peer)``."""
    from napari_seglab.core import blockwise

    ours = os.path.join(folder, "ours.npz")
    peer = os.path.join(folder, "peer.npz")
    arrays = _peer_arrays(session)

    def open_ours():
        blockwise._MODEL_CACHE.clear()  # else the model check is skipped after one open
        load_session(ours)

    def open_peer():
        with np.load(peer, allow_pickle=False) as archive:
            {k: archive[k] for k in archive.files}

    save_ours = _best(lambda: save_session(ours, session))
    save_peer = _best(lambda: np.savez_compressed(peer, **arrays))
    return (os.path.getsize(ours), os.path.getsize(peer),
            len(pickle.dumps((arrays, session.method))), save_ours, save_peer,
            _best(open_ours), _best(open_peer))


def main():
    print(f"{'case':34} {'ours KiB':>9} {'peer KiB':>9} {'pickle KiB':>10} "
          f"{'save ours/peer (ms)':>20} {'open ours/peer (ms)':>20}")
    with tempfile.TemporaryDirectory() as folder:
        for shape, method, by_path in [((256, 256), "knn", False),
                                       ((256, 256), "random_forest", False),
                                       ((48, 160, 160), "knn", False),
                                       ((48, 160, 160), "random_forest", False),
                                       ((48, 160, 160), "knn", True)]:
            session = _case(shape, method, by_path, folder)
            size, peer_size, pickled, save, save_peer, opened, opened_peer = _measure(
                session, folder)
            name = (f"{'x'.join(map(str, shape))} {method}"
                    + (" (image by path)" if by_path else ""))
            print(f"{name:34} {size / 1024:9.1f} {peer_size / 1024:9.1f} "
                  f"{pickled / 1024:10.1f} {save * 1e3:9.1f}/{save_peer * 1e3:<9.1f} "
                  f"{opened * 1e3:9.1f}/{opened_peer * 1e3:<9.1f}")


if __name__ == "__main__":
    main()
