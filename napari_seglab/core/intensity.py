"""Per-channel intensity statistics, and mapping one image onto another's.

A model trained on one subject's MR slice and applied to another's reads
features of another scale (scanners and sessions differ): white-matter Dice
fell to 0.09 on such a transfer. A fitted :class:`~.pipeline.SeededModel`
records its training image's per-channel mean and standard deviation
(:func:`channel_stats`); applied to another image it maps that image's
channels onto them first (:func:`match_channels`, z-score per channel),
unless ``model.normalize_input`` is ``None``. On the training image itself
the mapping is the identity and is skipped.
"""

from __future__ import annotations

import numpy as np

__all__ = ["channel_stats", "match_channels", "same_stats"]


def channel_stats(data, finite=None):
    """``(mean, std)`` per channel of ``data`` (``spatial + (C,)``), float64.

    ``finite`` (spatial bool) limits the statistics to those pixels. A
    constant channel gets std 1 (nothing to scale).
    """
    flat = np.asarray(data).reshape(-1, np.shape(data)[-1])
    if finite is not None:
        flat = flat[np.asarray(finite).ravel()]
    if flat.shape[0] == 0:
        n = np.shape(data)[-1]
        return np.zeros(n), np.ones(n)
    mean = flat.mean(axis=0, dtype=np.float64)
    std = flat.std(axis=0, dtype=np.float64)
    return mean, np.where(std > 0, std, 1.0)


def same_stats(a, b, rtol=1e-6) -> bool:
    """True when two ``(mean, std)`` pairs agree (the same image, or one alike)."""
    (ma, sa), (mb, sb) = a, b
    return bool(np.allclose(ma, mb, rtol=rtol, atol=rtol * np.maximum(sa, sb).max())
                and np.allclose(sa, sb, rtol=rtol))


def match_channels(data, stats, target):
    """``data`` with each channel's ``stats`` mapped onto ``target``'s, float32.

    ``(x - mean) / std * target_std + target_mean`` channel by channel: the
    image then has the training image's per-channel mean and spread, so the
    model's features (Gaussians, derivatives) read the same scale.

    Examples
    --------
    >>> x = np.array([[[0.0], [2.0]]], np.float32)  # one channel, mean 1, std 1
    >>> match_channels(x, channel_stats(x), (np.array([10.0]), np.array([5.0])))[..., 0]
    array([[ 5., 15.]], dtype=float32)
    """
    (mean, std), (t_mean, t_std) = stats, target
    gain = np.asarray(t_std, np.float64) / np.asarray(std, np.float64)
    offset = np.asarray(t_mean, np.float64) - np.asarray(mean, np.float64) * gain
    out = np.asarray(data, np.float32) * gain.astype(np.float32)
    out += offset.astype(np.float32)
    return out
