"""One budget per provider account: every call to it (send, balance, status) goes through.

A :class:`Budget` caps the calls in flight at once and the rate of each operation, and
honours a provider's ``Retry-After``. A call that cannot get its slot within the bound
(``Limits.wait``) fails as ``unavailable``, so the engine fails over instead of queueing.

A rate counts a call from when it starts until it *ends*: the next call of the window may
start only ``per`` seconds after the oldest call in it has finished. The provider sees each
request somewhere between its start and its end, so this holds on the provider's side too,
whatever the network latency.

Calls waiting for a concurrency slot get one in the order they came. A call held back by a
rate or a ``Retry-After`` waits outside that queue, holding nothing, so a balance poll
sleeping out SMSC's minute never holds up a send.

What a budget counts can outlive the process: it reports each call a rate counts, and
each ``Retry-After``, to its :class:`BudgetListener` (the engine keeps them in the journal),
and :meth:`Budget.remember` counts those of an earlier process, so a restart starts with
the provider's rates already spent as they are on the provider's side.

Two kinds of waiting, two clocks. A rate or a ``Retry-After`` says how long to wait, so that
wait sleeps on the injected clock (a test's fake clock jumps over it). Waiting for another
call to *end* (a concurrency slot, or the oldest call of a full window) waits for the network,
so it is woken by that call ending and bounded by what is left of ``Limits.wait`` on both the
injected clock and the event loop's own.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Protocol

from router.clock import Clock, SystemClock
from router.errors import ProviderUnavailableError
from router.model import ErrorKind
from router.provider import Limits, Operation, Rate

MAX_DEFER = 3600.0
"""The longest a ``Retry-After`` may hold a provider's calls back, in seconds."""

log = logging.getLogger("smsrouter")


class BudgetListener(Protocol):
    """Hears what a :class:`Budget` counts, to keep it beyond this process."""

    def called(self, operation: Operation, started: float, ended: float | None) -> None:
        """A call a rate counts: when admitted (*ended* None), then again when it ended.

        *started* tells one call from another of the same operation in this budget.
        """

    def held(self, operation: Operation | None, until: float) -> None:
        """A ``Retry-After`` holds calls of *operation* (None: every call) until *until*."""


class _Call:
    """One call counted by a rate window: in flight until it has ended."""

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
    """The concurrency cap, per-operation rates and back-off of one provider account.

    Args:
        name: the configured provider name, for error texts.
        limits: the caps (already no looser than the provider's declared ones).
        clock: where rate windows and deferrals read the time and sleep.
    """

    def __init__(self, name: str, limits: Limits, clock: Clock | None = None) -> None:
        self.name = name
        self.limits = limits
        self.clock = clock or SystemClock()
        self._windows = {op: _Window(rate) for op, rate in limits.rates.items()}
        self._changed = asyncio.Event()
        self._queue: deque[object] = deque()
        self._blocked_until = 0.0
        self._held: dict[Operation, float] = {}
        self.in_flight = 0
        """Calls holding a slot now."""
        self.waiting = 0
        """Calls waiting for a slot now."""
        self.waits = 0
        """Calls that had to wait for a slot (a running count)."""
        self.timeouts = 0
        """Calls that gave up waiting (a running count)."""
        self.listener: BudgetListener | None = None
        """Told of each call a rate counts and of each ``Retry-After``, if set."""
        self._last_admitted = -math.inf
        self._listener_failed = False

    def remember(
        self,
        calls: Iterable[tuple[Operation, float, float | None]],
        holds: Iterable[tuple[Operation | None, float]] = (),
    ) -> None:
        """Count the calls and holds an earlier process reported (see :class:`BudgetListener`).

        *calls* are (operation, started, ended); one with no end (cut short by a crash), or
        any time later than now (a clock stepped back), counts as ending now. They count
        before this budget's own calls; operations without a rate here are ignored, and
        nothing remembered is reported to the listener again.
        """
        now = self.clock.time()
        earlier: dict[Operation, list[tuple[float, float]]] = {}
        for operation, started, ended in calls:
            if operation in self._windows:
                end = now if ended is None else min(ended, now)
                earlier.setdefault(operation, []).append((min(started, now), end))
        for operation, found in earlier.items():
            window = self._windows[operation]
            remembered = []
            for _, end in sorted(found):
                call = _Call()
                call.ended = end
                remembered.append(call)
            window.calls = deque([*remembered, *window.calls], maxlen=window.rate.calls)
        for held, until in holds:
            until = min(until, now + MAX_DEFER)
            if held is None:
                self._blocked_until = max(self._blocked_until, until)
            else:
                self._held[held] = max(self._held.get(held, 0.0), until)
        self._notify()

    def _tell(self, report: Callable[[BudgetListener], None]) -> None:
        """Report to the listener; a listener that fails never fails a call (logged once)."""
        if self.listener is None:
            return
        try:
            report(self.listener)
        except Exception:
            if not self._listener_failed:
                self._listener_failed = True
                log.exception("provider %r: the budget's listener failed", self.name)

    def defer(self, seconds: float, operation: Operation | None = None) -> None:
        """Start no call for *seconds* (a provider's ``Retry-After``), at most MAX_DEFER.

        With *operation*, only calls of that operation wait (a balance endpoint's limit
        does not hold up sends). A deferral never shortens one already in force; a value
        that is not a positive number is ignored.
        """
        if not seconds > 0:  # also NaN
            return
        until = self.clock.time() + min(seconds, MAX_DEFER)
        if operation is None:
            self._blocked_until = max(self._blocked_until, until)
        else:
            self._held[operation] = max(self._held.get(operation, 0.0), until)
        self._tell(lambda listener: listener.held(operation, until))

    def _blocked(self, operation: Operation) -> float:
        """Until when a Retry-After holds calls of *operation* back."""
        return max(self._blocked_until, self._held.get(operation, 0.0))

    @property
    def blocked_for(self) -> float:
        """Seconds left of a deferral."""
        return max(0.0, self._blocked_until - self.clock.time())

    def ready_in(self, operation: Operation) -> float:
        """Seconds until its rate and any ``Retry-After`` let a call of *operation* start.

        Concurrency is not counted; inf while the oldest call of a full window is in flight.
        """
        now = self.clock.time()
        window = self._windows.get(operation)
        return max(0.0, self._blocked(operation) - now, window.delay(now) if window else 0.0)

    def _full(self) -> bool:
        cap = self.limits.concurrency
        return cap is not None and self.in_flight >= cap

    @asynccontextmanager
    async def slot(self, operation: Operation) -> AsyncIterator[float]:
        """Hold a slot for one call of *operation*; yields how long it waited.

        Raises:
            ProviderUnavailableError: no slot came within ``limits.wait`` seconds, or a
                rate or ``Retry-After`` says none can come in time (then it fails at once).
        """
        window = self._windows.get(operation)
        call, started = await self._acquire(operation, window)
        admitted = self._admitted(operation) if window is not None else None
        try:
            yield self.clock.time() - started
        finally:
            call.ended = self.clock.time()
            self.in_flight -= 1
            self._notify()
            if admitted is not None:
                self._tell(lambda listener: listener.called(operation, admitted, call.ended))

    def _admitted(self, operation: Operation) -> float:
        """When a call a rate counts was admitted, distinct from the last one; reported."""
        admitted = max(self.clock.time(), math.nextafter(self._last_admitted, math.inf))
        self._last_admitted = admitted
        self._tell(lambda listener: listener.called(operation, admitted, None))
        return admitted

    async def _acquire(self, operation: Operation, window: _Window | None) -> tuple[_Call, float]:
        clock, loop = self.clock, asyncio.get_running_loop()
        started = clock.time()
        deadline, loop_deadline = started + self.limits.wait, loop.time() + self.limits.wait
        ticket: object | None = None  # our place in the queue for a concurrency slot
        waited = False
        self.waiting += 1
        try:
            while True:
                now = clock.time()
                remaining = deadline - now
                held = self._blocked(operation)
                delay = max(held - now, window.delay(now) if window else 0.0)
                if delay > 0:
                    # Held back by a rate or a Retry-After: out of the queue meanwhile, so a
                    # balance poll sleeping out its window never holds up a send.
                    waited = True
                    self._leave(ticket)
                    ticket = None
                    if delay != math.inf and delay > remaining:
                        why = "Retry-After" if held - now >= delay else "rate"
                        raise self._gave_up(
                            operation, f"{why} allows the next call in {delay:.3g}s"
                        )
                    if delay == math.inf:
                        # The window's oldest call is in flight: at least `per` after it ends.
                        assert window is not None
                        if window.rate.per > remaining or not await self._wait_for_change(
                            min(remaining, loop_deadline - loop.time())
                        ):
                            raise self._gave_up(operation, "rate: the window's calls are in flight")
                    else:
                        await clock.sleep(delay)
                    continue
                next_in_line = ticket is self._first if ticket else not self._queue
                if next_in_line and not self._full():
                    break
                waited = True
                if ticket is None:
                    ticket = object()
                    self._queue.append(ticket)
                bound = min(remaining, loop_deadline - loop.time())
                if bound <= 0 or not await self._wait_for_change(bound):
                    raise self._gave_up(operation, f"{self.in_flight} calls in flight")
        except BaseException:
            self._leave(ticket)
            raise
        finally:
            self.waiting -= 1
        self._leave(ticket, taking=True)
        call = _Call()
        if window is not None:
            window.calls.append(call)
        self.in_flight += 1
        if waited:
            self.waits += 1
        if self._queue and not self._full():
            self._notify()  # more than one slot is free: the next in line may go too
        return call, started

    @property
    def _first(self) -> object | None:
        return self._queue[0] if self._queue else None

    def _leave(self, ticket: object | None, *, taking: bool = False) -> None:
        """Take *ticket* out of the queue; a slot it leaves free goes to the next in line."""
        if ticket is None:
            return
        self._queue.remove(ticket)
        if not taking and self._queue and not self._full():
            self._notify()

    async def _wait_for_change(self, timeout: float) -> bool:
        """Wait until some call ends (or a waiter leaves); False when *timeout* ran out."""
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns when the change
        # and a cancellation of this task come in one turn of the loop, losing the cancel.
        try:
            async with asyncio.timeout(max(timeout, 0.0)):
                await self._changed.wait()
        except TimeoutError:
            return False
        return True

    def _notify(self) -> None:
        # Wake every waiter (they wake in the order they began waiting); each re-checks.
        self._changed.set()
        self._changed = asyncio.Event()

    def _gave_up(self, operation: Operation, why: str) -> ProviderUnavailableError:
        self.timeouts += 1
        return ProviderUnavailableError(
            f"no {operation} slot within {self.limits.wait:g}s ({why})",
            provider=self.name,
            kind=ErrorKind.BUDGET,
        )
