"""Public feature-space tools (see :mod:`napari_seglab.core.feature_space`)."""

from .core.feature_space import *  # noqa: F401,F403
from .core.feature_space import __all__  # noqa: F401
