"""One budget per provider account for the whole fleet, kept on Redis.

:class:`SharedBudget` is a :class:`~router.state.Budget` whose counts live on the Redis
server, so every instance using the same prefix draws on one budget, and a restarted
instance finds the calls made before it. The semantics are the in-process budget's: a call
that gets no slot within ``Limits.wait`` fails as ``unavailable``; a rate counts a call from
its start until its end; calls held back by a rate or a ``Retry-After`` wait outside the
queue for a concurrency slot.

Each admission is one Lua script (:mod:`router.state.shared.scripts`) on the server's
clock. A concurrency slot is a lease that expires on the server: the lease is renewed
while the call lasts, so it outlives any call of a live instance, and the slot of an
instance that died (SIGKILL, a lost host) comes back when its lease runs out. A rate is a
sliding window of the last calls by their end, as the in-process budget counts them (the
next call may start only ``per`` seconds after a call of a full window ended): the exact
guarantee that the provider never sees more than ``calls`` calls in any ``per`` seconds,
which a GCRA, counting instants rather than calls that last, cannot give. It holds at
most ``calls`` entries per operation.

Waiting. Within this instance the calls waiting for a slot line up in the order they came
and only the first of them asks Redis. Those first ones line up on Redis in the order they
began to wait, and a free slot goes to the first of that line, so an instance whose calls
hand the slot over among themselves never starves another's. A slot given back anywhere
wakes the waiters at once: here directly, from elsewhere by the release's message
(:mod:`router.state.shared.releases`); polls, backing off from :data:`POLL_FIRST`, are
for a message not heard and for a lease that expires. A rate or a ``Retry-After`` says
how long to wait, and that wait sleeps for exactly that, out of both lines. Redis's clock
is the real one, so waits are on the event loop's clock; the injected clock only times
what the listener hears and how long :meth:`slot` says it waited.

When Redis cannot be reached or fails a command, a call never goes ahead unbudgeted: it
fails as ``unavailable`` of kind ``budget`` (our side, not the provider's), and the state's
:meth:`~router.state.shared.RedisState.problem` says why until a command succeeds again. A
call that has begun is never failed by Redis afterwards: a release that cannot be sent is
logged, and the lease expires on the server instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from router.errors import ProviderUnavailableError
from router.model import ErrorKind
from router.provider import Limits, Operation, Rate
from router.state.limits import MAX_DEFER, Budget
from router.state.shared import scripts
from router.state.shared.reach import FAILURES

if TYPE_CHECKING:
    from router.state.shared import RedisState

log = logging.getLogger("smsrouter")

LEASE = 15.0
"""Seconds a concurrency lease lasts unless renewed (``[state] lease``): renewed every third
of it while a call lasts, it bounds how long the slot of an instance that died stays taken."""
POLL_FIRST = 0.005
"""Seconds before the first poll for a slot leased by another instance."""
POLL_MAX = 0.05
"""The longest interval between polls for such a slot while releases are not heard
(:mod:`router.state.shared.releases`), and for a rate's window all in flight."""
POLL_HEARD = 0.25
"""The longest interval between polls for a slot while releases are heard."""
QUEUE_TTL = 2.0
"""Seconds a call keeps its place in the fleet's line for a slot without asking again:
longer than any interval between its polls, so only a waiter of an instance that died (or
one cut off from Redis) loses it, and then holds up the line no longer than this."""


class SharedBudget(Budget):
    """A provider account's budget on Redis, shared by every instance of the fleet.

    Args:
        name: the configured provider name: its keys and its error texts.
        limits: the caps, the same on every instance.
        state: the Redis state whose client, keys and reach this budget uses.
        lease: seconds a concurrency lease lasts unless renewed (renewed every third).

    ``in_flight``, ``waiting``, ``waits`` and ``timeouts`` count this instance's calls.
    """

    def __init__(
        self, name: str, limits: Limits, state: RedisState, *, lease: float = LEASE
    ) -> None:
        super().__init__(name, limits, state.clock)
        if not lease > 0:
            raise ValueError(f"provider {name!r}: a budget's lease must be positive, not {lease}")
        self.state = state
        self.lease = lease
        self._instance = uuid.uuid4().hex
        self._tokens = itertools.count()
        self._tasks: set[asyncio.Task[Any]] = set()
        # What Redis last said, as monotonic times: only for ready_in() and blocked_for,
        # which cannot ask (admission always does).
        self._hint_all = 0.0
        self._hint_held: dict[Operation, float] = {}
        self._hint_rate: dict[Operation, float] = {}
        self._changes = 0  # every wake-up of this budget's waiters, to miss none

    # -- keys -------------------------------------------------------------------------

    def _key(self, *parts: str) -> str:
        return self.state.key("budget", self.name, *parts)

    def _queue_keys(self) -> tuple[str, str]:
        return self._key("queue"), self._key("queue", "alive")

    def _rate_keys(self, operation: Operation) -> tuple[str, str]:
        op = operation.value
        return self._key("rate", op, "flight"), self._key("rate", op, "ended")

    def _notify(self) -> None:
        super()._notify()
        self._changes += 1

    async def _run(self, script: scripts.Script, keys: list[str], args: list[Any]) -> Any:
        """Run *script*; a failure is noted in the state's reach and raised."""
        try:
            answer = await script.run(self.state.client, keys, args)
        except FAILURES as exc:
            self.state.reach.failed(exc)
            raise
        self.state.reach.succeeded()
        return answer

    # -- what the engine reads --------------------------------------------------------

    def remember(
        self,
        calls: Iterable[tuple[Operation, float, float | None]],
        holds: Iterable[tuple[Operation | None, float]] = (),
    ) -> None:
        """Count nothing: the calls and holds of earlier processes are on Redis already.

        The journal's copy (every instance of the fleet reports to it) would count each of
        them a second time.
        """

    @property
    def blocked_for(self) -> float:
        """Seconds left of a deferral for every call, as this instance last heard."""
        return max(0.0, self._hint_all - time.monotonic())

    def ready_in(self, operation: Operation) -> float:
        """Seconds until a call of *operation* may start, as this instance last heard.

        Only a hint (admission asks Redis): what this instance deferred and what Redis
        answered its last call of *operation*.
        """
        until = max(self._held_until(operation), self._hint_rate.get(operation, 0.0))
        return max(0.0, until - time.monotonic())

    def _held_until(self, operation: Operation) -> float:
        """Until when (monotonic) a Retry-After holds *operation*, as this instance heard."""
        return max(self._hint_all, self._hint_held.get(operation, 0.0))

    def defer(self, seconds: float, operation: Operation | None = None) -> None:
        """Start no call for *seconds* on any instance, at most MAX_DEFER.

        Holds this instance's calls at once, and the fleet's once Redis has it (written in
        the background: a send's outcome is never held up by it, nor failed).
        """
        if not seconds > 0:  # also NaN
            return
        seconds = min(seconds, MAX_DEFER)
        until = time.monotonic() + seconds
        if operation is None:
            self._hint_all = max(self._hint_all, until)
            key = self._key("hold")
        else:
            self._hint_held[operation] = max(self._hint_held.get(operation, 0.0), until)
            key = self._key("hold", operation.value)
        at = self.clock.time() + seconds
        self._tell(lambda listener: listener.held(operation, at))
        self._spawn(self._defer(key, seconds))

    async def _defer(self, key: str, seconds: float) -> None:
        try:
            await self._run(scripts.DEFER, [key], [math.ceil(seconds * 1000)])
        except FAILURES:
            log.warning(
                "provider %r: a Retry-After of %gs holds this instance only", self.name, seconds
            )

    def _spawn(self, work: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- a call -----------------------------------------------------------------------

    @asynccontextmanager
    async def slot(self, operation: Operation) -> AsyncIterator[float]:
        """Hold a slot of the fleet's budget for one call of *operation*; yields the wait.

        Raises:
            ProviderUnavailableError: no slot came within ``limits.wait`` seconds, a rate or
                ``Retry-After`` says none can come in time, or Redis cannot be reached.
        """
        started = self.clock.time()
        rate = self.limits.rates.get(operation)
        token = await self._admit(operation, rate)
        admitted = self._admitted(operation) if rate is not None else None
        leased = self.limits.concurrency is not None or rate is not None
        renewal = self._spawn(self._renew(token, operation, rate)) if leased else None
        try:
            yield self.clock.time() - started
        finally:
            if renewal is not None:
                renewal.cancel()
            ended = self.clock.time()
            self.in_flight -= 1
            release = self._spawn(self._release(token, operation, rate, taken=True))
            release.add_done_callback(lambda _: self._notify())
            # Shielded: a call cancelled now still gives its slot back.
            await asyncio.shield(release)
            if admitted is not None:
                self._tell(lambda listener: listener.called(operation, admitted, ended))

    def _token(self) -> str:
        return f"{self._instance}:{next(self._tokens)}"

    async def _take(self, token: str, operation: Operation, rate: Rate | None) -> list[int]:
        """Run the admission script; Redis failing is the call's failure."""
        flight, ended = self._rate_keys(operation)
        keys = [self._key("leases"), self._key("hold"), self._key("hold", operation.value)]
        calls, per = (rate.calls, rate.per * 1000) if rate else (0, 0.0)
        cap = self.limits.concurrency or 0
        args = [token, cap, calls, per, self.lease * 1000, QUEUE_TTL * 1000]
        try:
            answer = await self._run(
                scripts.TAKE, [*keys, flight, ended, *self._queue_keys()], args
            )
        except FAILURES as exc:
            raise self._unreachable(operation) from exc
        return [int(value) for value in answer]

    async def _admit(self, operation: Operation, rate: Rate | None) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limits.wait
        cap = self.limits.concurrency
        ticket: object | None = None  # our place in this instance's line for a slot
        waited = False
        poll = POLL_FIRST
        token, asked = self._token(), False
        self.state.releases.watch(self.name, self._notify)  # a release anywhere wakes us
        self.waiting += 1
        try:
            while True:
                remaining = deadline - loop.time()
                held = math.ceil((self._held_until(operation) - time.monotonic()) * 1000)
                if held > 0:  # deferred here: Redis may not have heard of it yet
                    answer = [scripts.HELD, held, 0, held, 0]
                else:
                    if cap is not None:
                        if ticket is None:
                            ticket = object()
                            self._queue.append(ticket)
                        if ticket is not self._queue[0]:
                            waited = True
                            if remaining <= 0 or not await self._wait_for_change(remaining):
                                why = f"{self.in_flight} calls in flight here"
                                raise self._gave_up(operation, why)
                            continue
                    asked, changes = True, self._changes
                    answer = await self._take(token, operation, rate)
                    if answer[0] == scripts.TAKEN:
                        self._hint_rate.pop(operation, None)
                        break
                waited = True
                pause = self._pause(operation, rate, answer, remaining, poll)
                poll = min(2 * poll, POLL_HEARD)
                if answer[0] == scripts.FULL:
                    if changes == self._changes:  # no slot given back while we asked
                        await self._wait_for_change(pause)
                    continue
                # Held back by a rate or a Retry-After: out of the line meanwhile.
                self._leave(ticket)
                ticket = None
                await asyncio.sleep(pause)
        except BaseException:
            self._leave(ticket)
            if asked:
                # Out of the fleet's line; and an admission cut short (cancelled, or its
                # answer lost) may have taken a slot for nobody.
                self._spawn(self._release(token, operation, rate, taken=False))
            raise
        finally:
            self.waiting -= 1
        self._taken(ticket, waited)
        return token

    def _taken(self, ticket: object | None, waited: bool) -> None:
        """Count a call admitted, out of this instance's line."""
        self._leave(ticket, taking=True)
        self.in_flight += 1
        if waited:
            self.waits += 1
        if self._queue and not self._full():
            self._notify()  # more than one slot is free here: the next in line may go too

    def _pause(
        self,
        operation: Operation,
        rate: Rate | None,
        answer: list[int],
        remaining: float,
        poll: float,
    ) -> float:
        """Seconds to wait after the admission script said no (*answer*), or the failure.

        Raises:
            ProviderUnavailableError: what the script said cannot come within *remaining*.
        """
        what, delay_ms, holders, held_ms, all_ms = answer
        if what == scripts.FULL:
            if remaining <= 0:
                ahead = held_ms  # for FULL, the calls waiting before this one
                why = f"{holders} calls in flight in the fleet, {ahead} waiting before this one"
                raise self._gave_up(operation, why)
            # A release wakes the waiters sooner; the polls are for one not heard.
            poll = poll if self.state.releases.live else min(poll, POLL_MAX)
            expires = delay_ms / 1000 if delay_ms > 0 else poll
            return max(0.0, min(poll, remaining, expires))
        now, held = time.monotonic(), held_ms / 1000
        self._hint_all = max(self._hint_all, now + all_ms / 1000)
        self._hint_held[operation] = max(self._hint_held.get(operation, 0.0), now + held)
        if delay_ms < 0:  # the window's calls are all in flight: per after one of them ends
            assert rate is not None
            self._hint_rate[operation] = now + rate.per
            if max(held, rate.per) > remaining:
                raise self._gave_up(operation, "rate: the window's calls are in flight")
            return max(0.0, min(poll, POLL_MAX, remaining))
        delay = delay_ms / 1000
        if what == scripts.RATE:
            self._hint_rate[operation] = now + delay
        if delay > remaining:
            why = "Retry-After" if what == scripts.HELD else "rate"
            raise self._gave_up(operation, f"{why} allows the next call in {delay:.3g}s")
        return delay

    async def _renew(self, token: str, operation: Operation, rate: Rate | None) -> None:
        """Renew the call's lease every third of it while the call lasts."""
        flight, _ = self._rate_keys(operation)
        wanted = (1 if self.limits.concurrency else 0) + (2 if rate else 0)
        args = [token, self.lease * 1000, rate.per * 1000 if rate else 0]
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                kept = int(await self._run(scripts.RENEW, [self._key("leases"), flight], args))
            except FAILURES:
                continue  # noted in the reach; the lease still has two thirds to run
            if kept != wanted:
                log.warning(
                    "provider %r: a %s call outlived its lease on Redis; it no longer counts",
                    self.name,
                    operation,
                )
                return

    async def _release(
        self, token: str, operation: Operation, rate: Rate | None, *, taken: bool
    ) -> None:
        """Give the call's slot back and have its rate count it as ended; never raises."""
        flight, ended = self._rate_keys(operation)
        args = [token, rate.per * 1000 if rate else 0, self.lease * 1000, 1 if taken else 0]
        args.append(self.state.releases.channel(self.name))
        with contextlib.suppress(*FAILURES):
            keys = [self._key("leases"), flight, ended, *self._queue_keys()]
            await self._run(scripts.RELEASE, keys, args)
            return
        if taken:
            log.warning(
                "provider %r: a %s call's slot on Redis was not given back; its lease "
                "expires within %gs",
                self.name,
                operation,
                self.lease,
            )

    def _unreachable(self, operation: Operation) -> ProviderUnavailableError:
        return ProviderUnavailableError(
            f"no {operation} slot: the shared state on Redis cannot be reached",
            provider=self.name,
            kind=ErrorKind.BUDGET,
        )
