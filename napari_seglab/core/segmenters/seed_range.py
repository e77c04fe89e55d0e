"""How far each row lies outside the range of values the seeds covered.

A tree's thresholds all lie within the training samples' range of each
column: a row beyond that range on some column falls in the outermost leaf
of every split on it, whatever the strokes meant there. Where strokes all
hug one structure (a sparse vessel tree, its background painted right
beside it), the far background is such a row, and trees alone label it by
extrapolation (docs/accuracy.md, issue 24: 77 % of the KESM tile "vessel").
:class:`SeedRange` measures that excess so a learner that does not
extrapolate (the kNN vote on the smooth columns) can take over there only.
"""

from __future__ import annotations

import functools

import numpy as np

from ..threads import run_blocks

__all__ = ["SeedRange"]

#: Rows per block handed to one kernel call.
_BLOCK_ROWS = 1 << 15


class SeedRange:
    """Per-column range of the training rows, and rows' distance outside it.

    Parameters
    ----------
    X : ndarray, shape (n_samples, n_features)
        The training rows (every class).

    Attributes
    ----------
    low_, high_ : ndarray of float32
        Per column, the smallest and largest training value.
    inv_scale_ : ndarray of float32
        Per column, 1 / the training values' standard deviation (0 for a
        constant column: it tells nothing about extrapolation).

    Examples
    --------
    >>> r = SeedRange(np.array([[0.0, 1.0], [2.0, 1.0]], np.float32))
    >>> r.excess(np.array([[1.0, 1.0], [4.0, 5.0], [-1.0, 1.0]], np.float32)).tolist()
    [0.0, 2.0, 1.0]
    """

    def __init__(self, X):
        X = np.asarray(X, dtype=np.float32)
        self.low_ = X.min(axis=0)
        self.high_ = X.max(axis=0)
        std = X.std(axis=0, dtype=np.float64)
        self.inv_scale_ = np.where(std > 0, 1.0 / np.where(std > 0, std, 1.0),
                                   0.0).astype(np.float32)

    def excess(self, X, threads=None):
        """Per row, the largest distance outside the training range over the
        columns, in training standard deviations (0 inside the range), float32."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        out = np.empty(X.shape[0], np.float32)
        kernel = _kernel()

        def run(start):
            rows = slice(start, start + _BLOCK_ROWS)
            kernel(X[rows], self.low_, self.high_, self.inv_scale_, out[rows])

        run_blocks(run, X.shape[0], _BLOCK_ROWS, threads)
        return out


def _excess_rows(X, low, high, inv_scale, out):
    for i in range(X.shape[0]):
        worst = 0.0
        for j in range(X.shape[1]):
            x = X[i, j]
            e = max(low[j] - x, x - high[j]) * inv_scale[j]
            if e > worst:
                worst = e
        out[i] = worst


@functools.lru_cache(maxsize=1)
def _kernel():
    """The compiled kernel (numba is imported on first use)."""
    import numba

    return numba.njit(nogil=True, cache=True)(_excess_rows)
