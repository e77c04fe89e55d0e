"""Public metrics: ``napari_seglab.metrics``.

Overlap scores from one confusion matrix (:mod:`napari_seglab.core.metrics`),
surface distances (:mod:`napari_seglab.core.distances`) and :func:`evaluate`,
the Evaluation panel's numbers (:mod:`napari_seglab.core.evaluation`).
"""

from .core.distances import *  # noqa: F401,F403
from .core.distances import __all__ as _distances_all
from .core.evaluation import *  # noqa: F401,F403
from .core.evaluation import __all__ as _evaluation_all
from .core.metrics import *  # noqa: F401,F403
from .core.metrics import __all__ as _metrics_all

__all__ = [*_metrics_all, *_distances_all, *_evaluation_all]
