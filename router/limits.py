"""One budget per provider account: every call to it (send, balance, status) goes through.

A :class:`Budget` caps the calls in flight at once and the rate of each operation, and
honours a provider's ``Retry-After``. A call that cannot get its slot within the bound
(``Limits.wait``) fails as ``unavailable``, so the engine fails over instead of queueing.

A rate counts a call from when it starts until it *ends*: the next call of the window may
start only ``per`` seconds after the oldest call in it has finished. The provider sees each
request somewhere between its start and its end, so this holds on the provider's side too,
whatever the network latency.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from router.clock import Clock, SystemClock
from router.errors import ProviderUnavailableError
from router.provider import Limits, Operation, Rate


class _Call:
    __slots__ = ("ended",)

    def __init__(self) -> None:
        self.ended = math.inf


class _Window:
    """The last ``rate.calls`` calls of one operation."""

    def __init__(self, rate: Rate) -> None:
        self.rate = rate
        self.calls: deque[_Call] = deque(maxlen=rate.calls)

    def delay(self, now: float) -> float:
        """Seconds until one more call may start (inf while the oldest is in flight)."""
        if len(self.calls) < self.rate.calls:
            return 0.0
        return max(0.0, self.calls[0].ended + self.rate.per - now)


class Budget:
    """The concurrency cap, per-operation rates and back-off of one provider account."""

    def __init__(self, name: str, limits: Limits, clock: Clock | None = None) -> None:
        self.name = name
        self.limits = limits
        self.clock = clock or SystemClock()
        self._slots = asyncio.Semaphore(limits.concurrency) if limits.concurrency else None
        self._windows = {op: _Window(rate) for op, rate in limits.rates.items()}
        self._ended = asyncio.Event()
        self._blocked_until = 0.0
        self.in_flight = 0
        self.waits = 0
        """Calls that had to wait for a slot."""
        self.timeouts = 0
        """Calls that gave up waiting."""

    def defer(self, seconds: float) -> None:
        """Start no call for *seconds* (a provider's ``Retry-After``)."""
        self._blocked_until = max(self._blocked_until, self.clock.time() + seconds)

    @property
    def blocked_for(self) -> float:
        """Seconds left of a deferral."""
        return max(0.0, self._blocked_until - self.clock.time())

    @asynccontextmanager
    async def slot(self, operation: Operation) -> AsyncIterator[float]:
        """Hold a slot for one call of *operation*; yields how long it waited.

        Raises:
            ProviderUnavailableError: no slot came within ``limits.wait`` seconds.
        """
        started = self.clock.time()
        deadline = started + self.limits.wait
        waited = False
        window = self._windows.get(operation)
        if self._slots is not None:
            if self._slots.locked():
                waited = True
            await self._acquire_concurrency(deadline, operation)
        try:
            while True:
                now = self.clock.time()
                delay = max(self._blocked_until - now, window.delay(now) if window else 0.0)
                if delay <= 0:
                    break
                waited = True
                remaining = deadline - now
                if remaining <= 0 or (delay != math.inf and delay > remaining):
                    raise self._gave_up(operation, "rate or Retry-After")
                if delay == math.inf:
                    if not await self._wait_ended(remaining):
                        raise self._gave_up(operation, "rate: calls still in flight")
                else:
                    await self.clock.sleep(delay)
        except BaseException:
            if self._slots is not None:
                self._slots.release()
            raise
        call = _Call()
        if window is not None:
            window.calls.append(call)
        self.in_flight += 1
        if waited:
            self.waits += 1
        try:
            yield self.clock.time() - started
        finally:
            call.ended = self.clock.time()
            self.in_flight -= 1
            if self._slots is not None:
                self._slots.release()
            self._ended.set()
            self._ended = asyncio.Event()

    async def _acquire_concurrency(self, deadline: float, operation: Operation) -> None:
        assert self._slots is not None
        remaining = deadline - self.clock.time()
        try:
            await asyncio.wait_for(self._slots.acquire(), max(remaining, 0.0))
        except TimeoutError:
            raise self._gave_up(operation, f"{self.limits.concurrency} calls in flight") from None

    async def _wait_ended(self, timeout: float) -> bool:
        # The oldest call of the window is still in flight: wait until some call ends.
        try:
            await asyncio.wait_for(self._ended.wait(), max(timeout, 0.0))
        except TimeoutError:
            return False
        return True

    def _gave_up(self, operation: Operation, why: str) -> ProviderUnavailableError:
        self.timeouts += 1
        return ProviderUnavailableError(
            f"no {operation} slot within {self.limits.wait:g}s ({why})", provider=self.name
        )
