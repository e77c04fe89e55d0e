"""Public clean-up effects: ``napari_seglab.postprocess``.

See :mod:`napari_seglab.core.postprocess`.
"""

from .core.postprocess import *  # noqa: F401,F403
from .core.postprocess import __all__  # noqa: F401
