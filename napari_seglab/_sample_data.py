"""Sample data: MR-like phantoms generated on the fly (nothing is downloaded).

Each sample gives the image, its ground truth and an empty ``seeds`` layer
whose classes are already named (``features`` table), ready to paint.
"""

from __future__ import annotations

import numpy as np

from .core.phantoms import CLASS_NAMES, tissue_phantom

#: Voxel size of the 3D phantom in mm (thick slices, like a clinical MR).
PHANTOM_3D_SPACING = (2.0, 1.0, 1.0)


def class_table(names=CLASS_NAMES, start=1) -> dict:
    """A Labels ``features`` table naming label ``start + i`` ``names[i]``."""
    return {"index": np.arange(start, start + len(names)), "name": list(names)}


def _layers(image, truth, scale, title):
    seeds = np.zeros(truth.shape, np.uint8)
    common = {"scale": scale}
    return [
        (image, {"name": title, "colormap": "gray", **common}, "image"),
        (truth, {"name": "ground truth", "features": class_table(start=0),
                 "opacity": 0.4, "visible": False, **common}, "labels"),
        (seeds, {"name": "seeds", "features": class_table(), **common}, "labels"),
    ]


def phantom_2d():
    """A 256×256 MR-like slice: background, tissue, fluid (ventricles, lesions)."""
    image, truth = tissue_phantom((256, 256), random_state=0)
    return _layers(image, truth, (1.0, 1.0), "phantom 2D")


def phantom_3d():
    """A 48×160×160 MR-like volume, 2 mm slices of 1 mm pixels."""
    image, truth = tissue_phantom((48, 160, 160), random_state=1)
    return _layers(image, truth, PHANTOM_3D_SPACING, "phantom 3D")
