"""Time, injectable: the core never reads the wall clock or sleeps except through a Clock."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from decimal import Decimal, InvalidOperation
from typing import Protocol

MAX_TIME = 4_102_444_800.0
"""2100-01-01 in Unix seconds: the latest time a provider's report may carry."""

log = logging.getLogger("smsrouter.time")


class Clock(Protocol):
    """Where the router reads the time and waits."""

    def time(self) -> float:
        """Seconds since the Unix epoch."""

    async def sleep(self, seconds: float) -> None:
        """Wait *seconds*."""


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        """Seconds since the Unix epoch."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """Wait *seconds* on the event loop."""
        await asyncio.sleep(seconds)


async def sleep_or_wake(clock: Clock, wake: asyncio.Event, seconds: float) -> None:
    """Wait *seconds* on *clock*, or less if *wake* is set first (background loops)."""
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    waker = asyncio.ensure_future(wake.wait())
    try:
        await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
        waker.cancel()
        await asyncio.gather(sleeper, waker, return_exceptions=True)


def read_time(value: object) -> float | None:
    """A provider's Unix time (a number or a numeric string) in seconds, or None.

    Only a finite time from the epoch to :data:`MAX_TIME` is a time: anything else
    (``1e400``, ``nan``, ``-5``, ``"soon"``) is treated as absent and logged, so no value
    JSON cannot write (Infinity, NaN) and no time before 1970 reaches the journal.
    """
    if value is None or value == "":
        return None
    number: float | None = None
    if isinstance(value, int | float | Decimal | str) and not isinstance(value, bool):
        try:
            number = float(Decimal(str(value).strip()))
        except (InvalidOperation, ValueError, OverflowError):
            number = None
    if number is not None and math.isfinite(number) and 0.0 <= number <= MAX_TIME:
        return number
    log.warning("a provider's time %.40r is not a time; treated as absent", value)
    return None
