"""Run-length encoding of masks, the Kaggle convention.

Pixels are numbered from 1 in column-major (Fortran) order, top to bottom
then left to right; the string lists "start length" pairs separated by
single spaces, and an empty mask is ``''``. (A widely copied ``mask2rle``
joins the numbers without spaces, which its own round-trip assert rejects;
this one keeps them.)
"""

from __future__ import annotations

import numpy as np

__all__ = ["rle_encode", "rle_decode"]


def rle_encode(mask) -> str:
    """Encode a mask as 1-based, column-major "start length" pairs.

    Parameters
    ----------
    mask : array_like
        Any shape; non-zero pixels are foreground.

    Returns
    -------
    str
        ``"start length start length ..."``; ``''`` for an empty mask.

    Examples
    --------
    >>> import numpy as np
    >>> rle_encode(np.array([[0, 1], [1, 1]]))
    '2 3'
    >>> rle_encode(np.array([[1, 0, 0], [0, 0, 1]]))
    '1 1 6 1'
    >>> rle_encode(np.zeros((2, 2)))
    ''
    """
    pixels = np.asarray(mask).ravel(order="F") != 0
    padded = np.concatenate([[False], pixels, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1]) + 1
    starts, ends = edges[::2], edges[1::2]
    pairs = np.column_stack([starts, ends - starts]).ravel()
    return " ".join(str(int(v)) for v in pairs)


def rle_decode(rle, shape) -> np.ndarray:
    """Decode "start length" pairs into a boolean mask of ``shape``.

    Parameters
    ----------
    rle : str
        As written by :func:`rle_encode`; ``''`` (or NaN from a CSV) is empty.
    shape : tuple of int
        The mask's shape (rows, columns[, ...]).

    Returns
    -------
    numpy.ndarray of bool

    Raises
    ------
    ValueError
        An odd number of values, non-integers, runs that start before pixel 1,
        overlap, go backwards or run past the end of the mask.

    Examples
    --------
    >>> rle_decode("2 3", (2, 2)).astype(int)
    array([[0, 1],
           [1, 1]])
    """
    shape = tuple(int(s) for s in shape)
    size = int(np.prod(shape))
    flat = np.zeros(size, bool)
    if rle is None or (isinstance(rle, float) and np.isnan(rle)):
        return flat.reshape(shape, order="F")
    if not isinstance(rle, str):
        raise TypeError(f"rle must be a string; got {type(rle).__name__}")
    tokens = rle.split()
    if len(tokens) % 2:
        raise ValueError(f"rle needs 'start length' pairs; got {len(tokens)} numbers "
                         f"in {rle[:60]!r}")
    try:
        values = np.array([int(t) for t in tokens], dtype=np.int64).reshape(-1, 2)
    except ValueError as exc:
        raise ValueError(f"rle must hold integers separated by spaces; got {rle[:60]!r} "
                         "(numbers joined without spaces cannot be split)") from exc
    starts, lengths = values[:, 0] - 1, values[:, 1]
    if len(values) and (starts.min() < 0 or lengths.min() < 1):
        raise ValueError("rle starts are 1-based and lengths positive; got "
                         f"start {int(starts.min()) + 1}, length {int(lengths.min())}")
    ends = starts + lengths
    if len(values) and ends.max() > size:
        raise ValueError(f"rle runs past the end of a mask of {size} pixels (shape {shape}): "
                         f"a run ends at pixel {int(ends.max())}")
    if len(values) > 1 and np.any(starts[1:] < ends[:-1]):
        raise ValueError("rle runs must be in increasing order without overlap")
    for start, end in zip(starts, ends, strict=False):
        flat[start:end] = True
    return flat.reshape(shape, order="F")
