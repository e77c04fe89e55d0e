"""Public measurements: ``napari_seglab.measure`` (see :mod:`napari_seglab.core.measure`)."""

from .core.measure import *  # noqa: F401,F403
from .core.measure import __all__ as _measure_all
from .core.resample import isotropic_spacing, resample, resample_to_axes, resampled_shape  # noqa: F401

__all__ = list(_measure_all) + ["resample", "resample_to_axes", "resampled_shape",
                                 "isotropic_spacing"]
