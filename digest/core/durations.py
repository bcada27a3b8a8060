"""Durations as people write them in settings: ``0``, ``90s``, ``10m``, ``1h``, ``7d``, ``2w``, ``1h30m``."""

import re
from datetime import timedelta

from digest.errors import InvalidInput

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_PART = re.compile(r"(\d+)\s*([smhdw])")
_SECONDS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    """Read a duration such as ``1h30m``; a bare number counts seconds."""
    cleaned = text.strip().lower()
    if cleaned.isdigit():
        return timedelta(seconds=int(cleaned))
    parts = _PART.findall(cleaned)
    if not parts or _PART.sub("", cleaned).strip():
        raise InvalidInput(f"not a duration: {text!r} (write e.g. 0, 90s, 10m, 1h, 7d)")
    total = timedelta()
    for amount, unit in parts:
        total += timedelta(**{_UNITS[unit]: int(amount)})
    return total


def format_duration(duration: timedelta) -> str:
    """Write ``duration`` as :func:`parse_duration` reads it: ``0``, ``90s`` as ``1m30s``, ``7d``."""
    left = int(duration.total_seconds())
    parts = []
    for unit, seconds in _SECONDS.items():
        amount, left = divmod(left, seconds)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts) or "0"
