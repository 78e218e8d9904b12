"""Times in the API: Unix seconds, or ISO 8601 with a timezone."""

from __future__ import annotations

import datetime
import math

from router.clock import MAX_TIME
from router.errors import ValidationError

__all__ = ["parse_time", "read_time_field"]


def parse_time(field: str, value: str) -> float:
    """Unix seconds from ``1714550400``, ``1714550400.5`` or ISO 8601 with a timezone."""
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds) or seconds < 0:
            raise ValidationError(field, f"expected a time, got {value!r}")
        return seconds
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            field, f"expected Unix seconds or an ISO 8601 time, got {value!r}"
        ) from None
    if moment.tzinfo is None:
        # Which zone a bare time is in cannot be guessed without sometimes guessing wrong.
        raise ValidationError(field, f"{value!r} has no timezone: add Z or +hh:mm")
    try:
        seconds = moment.timestamp()
    except (OverflowError, ValueError, OSError):
        seconds = -1.0
    if seconds < 0:
        raise ValidationError(field, f"expected a time after 1970, got {value!r}")
    return seconds


def read_time_field(field: str, value: object) -> float | None:
    """A JSON body's time: null, a number of Unix seconds, or an ISO 8601 string."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValidationError(field, f"expected a time, got {type(value).__name__}")
    seconds = parse_time(field, value) if isinstance(value, str) else float(value)
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_TIME:
        raise ValidationError(field, f"expected a time from 1970 to 2100, got {value!r}")
    return seconds
