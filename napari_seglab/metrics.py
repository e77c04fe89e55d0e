"""Public metrics: ``napari_seglab.metrics`` (see :mod:`napari_seglab.core.metrics`)."""

from .core.metrics import *  # noqa: F401,F403
from .core.metrics import __all__  # noqa: F401
