"""Moved to :mod:`napari_seglab.io.zarr_store` (kept so that old imports keep working)."""

from .io.zarr_store import *  # noqa: F401,F403
from .io.zarr_store import __all__  # noqa: F401
