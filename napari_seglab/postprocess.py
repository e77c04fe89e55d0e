"""Public clean-up and Segment Editor effects: ``napari_seglab.postprocess``.

Smoothing, holes and islands (:mod:`napari_seglab.core.postprocess`); threshold,
margin, hollow, logical operators, islands and scissors
(:mod:`napari_seglab.core.effects`); fill between slices
(:mod:`napari_seglab.core.slice_interpolation`).
"""

from .core import effects as _effects
from .core import postprocess as _postprocess
from .core import slice_interpolation as _slice_interpolation
from .core.effects import *  # noqa: F401,F403
from .core.postprocess import *  # noqa: F401,F403
from .core.slice_interpolation import *  # noqa: F401,F403

__all__ = [*_postprocess.__all__, *_effects.__all__, *_slice_interpolation.__all__]
