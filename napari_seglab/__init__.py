"""napari-seglab: interactive seeded segmentation of 2D images and 3D volumes.

Headless use::

    import napari_seglab
    labels = napari_seglab.segment(image, seeds, method="knn")
    napari_seglab.metrics.dice(truth, labels)
"""

from . import metrics
from .api import segment

__version__ = "0.1.0"
__all__ = ["metrics", "segment", "__version__"]
