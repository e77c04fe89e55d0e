"""Choosing training pixels from seeds."""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_SAMPLES_PER_CLASS", "balanced_seed_indices"]

#: Seeded pixels kept per class for training by default.
MAX_SAMPLES_PER_CLASS = 5000


def balanced_seed_indices(seeds, *, mask=None, max_per_class=MAX_SAMPLES_PER_CLASS,
                          balance=True, random_state=0):
    """Flat indices of seeded pixels, at most ``max_per_class`` per class.

    A class painted with long strokes would otherwise outvote the others
    (and slow training); subsampling is random but deterministic. With
    ``balance`` (the default), every class is also cut down to the size of
    the smallest one, so all classes weigh alike.

    Parameters
    ----------
    seeds : ndarray of int
        0 = not seeded.
    mask : ndarray of bool, optional
        Only pixels where ``mask`` is True are eligible (e.g. finite ones).
    max_per_class : int or None, default 5000
        ``None`` keeps every seeded pixel (up to balancing).
    balance : bool, default True
        Keep as many pixels of each class (the smallest class's count,
        capped by ``max_per_class``).
    random_state : int, default 0

    Returns
    -------
    indices : ndarray of intp
        Sorted within each class, classes in ascending label order.
    classes : ndarray
        The seed labels found (ascending).
    """
    flat = np.asarray(seeds).ravel()
    seeded = flat > 0
    if mask is not None:
        seeded &= np.asarray(mask).ravel()
    idx = np.flatnonzero(seeded)
    values = flat[idx]
    classes = np.unique(values)
    rng = np.random.default_rng(random_state)
    cap = None if max_per_class is None else int(max_per_class)
    if cap is not None and cap < 1:
        raise ValueError(f"max_per_class must be >= 1 or None; got {max_per_class}")
    if balance and classes.size:
        smallest = int(np.bincount(np.searchsorted(classes, values)).min())
        cap = smallest if cap is None else min(cap, smallest)
    picked = []
    for c in classes:
        members = idx[values == c]
        if cap is not None and members.size > cap:
            members = np.sort(rng.choice(members, cap, replace=False))
        picked.append(members)
    indices = np.concatenate(picked) if picked else np.zeros(0, np.intp)
    return indices, classes
