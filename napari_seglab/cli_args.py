"""Values of the ``seglab`` command line: sizes, block shapes, spacings, mappings.

Each parser raises :class:`UsageError` (exit code 2) with what was given and
what is needed; :func:`_checked` turns one into an argparse ``type`` so a bad
number is refused while the command line is parsed, before anything runs.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

__all__ = ["MIN_CHUNK", "MIN_MEMORY", "MAX_MARGIN_OVERHEAD", "UsageError", "parse_size"]


class UsageError(Exception):
    """A bad command line: exit code 2."""


def _floats(text, what):
    try:
        values = tuple(float(v) for v in str(text).split(","))
    except ValueError:
        raise UsageError(f"{what} must be numbers separated by commas (e.g. 2.5,0.7,0.7); "
                         f"got {text!r}") from None
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise UsageError(f"{what} must be positive finite numbers; got {text!r}")
    return values


#: The smallest block edge ``--chunks`` takes: below it the feature margin read
#: around each block costs hundreds of times the block (2,2,2 ran 195 s for nothing).
MIN_CHUNK = 4
#: A run may read at most this many times the image because of block margins.
MAX_MARGIN_OVERHEAD = 64


def _chunks(text):
    try:
        values = tuple(int(v) for v in str(text).split(","))
    except ValueError:
        raise UsageError(f"--chunks must be an integer or Z,Y,X integers; got {text!r}") \
            from None
    if min(values) < MIN_CHUNK:
        raise UsageError(f"--chunks {text}: blocks must be at least {MIN_CHUNK} voxels per axis "
                         "(each block also reads the features' margin around it); use e.g. "
                         "64,256,256, or leave --chunks out to have them chosen")
    return values[0] if len(values) == 1 else values


_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "kib": 2**10, "m": 1e6, "mb": 1e6, "mib": 2**20,
          "g": 1e9, "gb": 1e9, "gib": 2**30, "t": 1e12, "tb": 1e12, "tib": 2**40}
#: The least ``--memory-limit`` a run can work in (one block and its features).
MIN_MEMORY = 32 * 2**20


def parse_size(text) -> int:
    """Bytes in ``"2GB"``, ``"512MiB"``, ``"1.5g"`` or ``"1000000"``.

    Examples
    --------
    >>> parse_size("2GB"), parse_size("512MiB")
    (2000000000, 536870912)
    """
    s = str(text).strip().lower().replace(" ", "")
    number = s.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = s[len(number):]
    try:
        value = float(number) * _UNITS[unit]
    except (ValueError, KeyError):
        raise UsageError(f"--memory-limit must be a size such as 2GB or 512MiB; got {text!r}") \
            from None
    if not math.isfinite(value):
        raise UsageError(f"--memory-limit must be a finite size such as 2GB; got {text!r}")
    if value <= 0:
        raise UsageError(f"--memory-limit must be positive; got {text!r}")
    if value < MIN_MEMORY:
        raise UsageError(f"--memory-limit {text} is too small: a run needs at least "
                         f"{MIN_MEMORY // 2**20} MiB (one block and its features); e.g. 2GB")
    return int(value)


def _positive_int(what):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number; got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"must be at least 1; got {text!r}")
        return value
    parse.__name__ = what
    return parse


def _checked(parse, what):
    """An argparse ``type`` from a parser that raises :class:`UsageError` (exit 2, at parse time)."""
    def check(text):
        try:
            parse(text)
        except UsageError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
        return text
    check.__name__ = what
    return check


def _mapping(text):
    """``"0:1,5:2"`` or a JSON object (string or file) → ``{truth value: class}``."""
    if text is None:
        return None
    path = Path(text)
    try:
        if path.suffix.lower() == ".json":
            from .io.safety import open_regular

            with open_regular(path, "mapping file") as fh:
                source = fh.read(1 << 20).decode("utf-8")
        else:
            source = text
        if source.lstrip().startswith("{"):
            pairs = json.loads(source).items()
        else:
            pairs = (item.split(":") for item in source.split(","))
        mapping = {int(k): int(v) for k, v in pairs}
    except (ValueError, TypeError, AttributeError, OSError) as err:
        raise UsageError(f"--mapping must be TRUTH:CLASS pairs (e.g. 0:1,5:2) or a JSON object "
                         f"{{\"0\": 1, \"5\": 2}}; got {text!r} ({err})") from None
    return mapping
