"""napari-seglab: interactive seeded segmentation of 2D images and 3D volumes.

Headless use::

    import napari_seglab
    labels = napari_seglab.segment(image, seeds)          # the default: "fast_forest"
    napari_seglab.metrics.evaluate(truth, labels, exclude=seeds).mean_dice
    session = napari_seglab.GrowFromSeeds(ct, spacing=(2.5, 0.7, 0.7))
    labels = session.update(seeds)            # again after each stroke or erase
    napari_seglab.postprocess.fill_holes(labels)
    napari_seglab.measure.segment_statistics(labels, ct, spacing=(2.5, 0.7, 0.7))
    volume = napari_seglab.io.read_image("series/")   # DICOM, NIfTI, NRRD, TIFF, ...
"""

import importlib

from . import metrics
from .api import segment

__version__ = "0.2.0.dev0"
__all__ = ["GrowFromSeeds", "feature_space", "io", "measure", "metrics", "postprocess",
           "segment", "__version__"]

# Loaded on first use: they bring numba, pydicom, nibabel (seconds at import).
_LAZY_MODULES = ("feature_space", "io", "measure", "postprocess")


def __getattr__(name):
    if name in _LAZY_MODULES:
        return importlib.import_module(f".{name}", __name__)
    if name == "GrowFromSeeds":
        from .core.growcut import GrowFromSeeds

        return GrowFromSeeds
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
