"""Compiling numba kernels on first use.

Importing numba costs about a third of a second, and decorating a kernel at
import time a little more: modules with kernels keep plain Python functions
and compile them when first called (cached on disk), so that importing
napari_seglab (the napari plugin, the ``seglab`` command) does not pay for
kernels a session may never run.
"""

from __future__ import annotations

import types

__all__ = ["with_globals"]


def with_globals(function, **names):
    """``function`` with some of its module globals replaced.

    A kernel that calls another kernel must see the compiled callee, not the
    plain Python function of the same name: ``with_globals(outer, inner=jit(inner))``
    before ``jit`` of the outer one.
    """
    scope = dict(function.__globals__, **names)
    return types.FunctionType(function.__code__, scope, function.__name__,
                              function.__defaults__, function.__closure__)
