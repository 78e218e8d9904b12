"""Campaigns coalesce: queued messages of one text for one provider go in one request.

A campaign queued as single messages (``"wait": false``, bulk CSV) would cost one provider
request per recipient. Here the send loop's attempt of a queued message takes a seat in a
group instead of calling at once: the group gathers the attempts of the same provider,
text, sender and shape that start within ``[router] coalesce_window`` of its first, up to
the provider's batch size, and makes one call for all of them when the window ends (or
the group is full). Only adapters that declare ``Capabilities.coalesce`` are called so.

Each message stays its own: it journals its attempt's start before the call (the group
waits for every seat's journal write before it calls, so a crash never leaves a sent
recipient unmarked), takes its own recipients' outcomes after it, and fails over, reports
and finishes on its own. The call goes by the group's first message's id
(:attr:`~router.model.Batch.message_id`): every other seat journals that id with its
in-flight mark (``via``), so recovery after a crash asks the provider about the call the
recipient was really in. The provider's breaker counts the call once, as one call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

import attrs

from router.clock import Clock
from router.engine.calls import ProviderCalls
from router.engine.providers import ProviderState
from router.model import Batch, Encoding, ErrorKind, RecipientOutcome, SenderKind
from router.state import account_signal

__all__ = ["Coalescer", "Seat", "account"]


class Seat:
    """One message's attempt in a group: its batch, and the outcomes it waits for."""

    def __init__(self, group: _Group, batch: Batch) -> None:
        self.group = group
        self.batch = batch
        self.ready = False
        """Whether its attempt's start is journalled, so the call may go."""
        self.answer: asyncio.Future[dict[str, RecipientOutcome]] = (
            asyncio.get_running_loop().create_future()
        )

    @property
    def via(self) -> str | None:
        """The id of the message the call goes by when it is another's, else None."""
        via = self.group.via
        return None if via == self.batch.message_id else via

    def start(self) -> None:
        """Its start is journalled: the group may call once every seat is."""
        self.ready = True
        self.group.maybe_call()

    def leave(self) -> bool:
        """Take its recipients out of the call, if it has not been made: True when they are
        out (its start could not be journalled, or its wait was cancelled)."""
        return self.group.leave(self)

    async def outcomes(self) -> dict[str, RecipientOutcome]:
        """Its recipients' outcomes, by E.164 number, once the group's call has ended.

        The call is made for the whole group: cancelling this wait does not cancel it.
        """
        return await asyncio.shield(self.answer)


@attrs.frozen
class _Shape:
    """What seats of one group must share: one request carries one text, one way."""

    provider: str
    text: str
    sender: str | None
    sender_kind: SenderKind
    encoding: Encoding
    segments: int
    attempt: int


class _Group:
    """The seats gathered for one call, open to more until its window ends or it is full."""

    def __init__(
        self, coalescer: Coalescer, state: ProviderState, shape: _Shape, size: int, via: str
    ) -> None:
        self.coalescer = coalescer
        self.via = via
        """The id the call goes by: its first seat's message's, kept should that seat leave,
        since the others journalled it as theirs."""
        self.state = state
        self.shape = shape
        self.size = size
        self.seats: list[Seat] = []
        self.numbers: set[str] = set()
        self.open = True
        """Whether it takes more seats; closed (its window over, or full), it calls as soon
        as every seat is journalled."""
        self.calling = False
        self.timer: asyncio.Task[None] | None = None

    def fits(self, batch: Batch) -> bool:
        """Whether *batch* may join: room for its recipients, none already aboard."""
        if len(self.numbers) + len(batch.recipients) > self.size:
            return False
        return not any(r.e164 in self.numbers for r in batch.recipients)

    def join(self, batch: Batch) -> Seat:
        seat = Seat(self, batch)
        self.seats.append(seat)
        self.numbers.update(r.e164 for r in batch.recipients)
        if len(self.numbers) >= self.size:
            self.close()
        return seat

    def close(self) -> None:
        """No more seats: it calls as soon as every seat is journalled."""
        if self.open:
            self.open = False
            self.coalescer.closed(self)
        if self.timer is not None and self.timer is not asyncio.current_task():
            self.timer.cancel()
        self.maybe_call()

    def leave(self, seat: Seat) -> bool:
        if self.calling or seat not in self.seats:
            return False
        # Its numbers stay taken: its mark may be journalled with this call's id, which
        # must never name another message's send to the same number.
        self.seats.remove(seat)
        if self.seats:
            self.maybe_call()
        else:  # nobody left to call for
            self.close()
            self.coalescer.settled(self)
        return True

    def maybe_call(self) -> None:
        if self.calling or self.open or not self.seats:
            return
        if not all(seat.ready for seat in self.seats):
            return
        self.calling = True
        self.coalescer.spawn(self.call())
        self.coalescer.settled(self)

    async def call(self) -> None:
        """One request for every seat; each seat gets its own recipients' outcomes."""
        seats, state, shape = self.seats, self.state, self.shape
        batch = Batch(
            message_id=self.via,
            text=shape.text,
            sender=shape.sender,
            sender_kind=shape.sender_kind,
            encoding=shape.encoding,
            segments=shape.segments,
            recipients=tuple(r for seat in seats for r in seat.batch.recipients),
            attempt=shape.attempt,
        )
        try:
            outcomes = await self.coalescer.calls.send(state, batch)
        except Exception as exc:  # calls.send answers every failure: a bug, told to each
            state.breaker.abandon()
            for seat in seats:
                seat.answer.set_exception(exc)
            return
        except BaseException:  # cancelled: each seat's recipients stay in flight
            state.breaker.abandon()
            for seat in seats:
                seat.answer.cancel()
            raise
        account(state, outcomes.values())
        if len(seats) > 1:
            metrics = self.coalescer.calls.metrics
            metrics.series(metrics.coalesced_calls, state.name).inc()
            metrics.series(metrics.coalesced_messages, state.name).inc(len(seats))
        for seat in seats:
            seat.answer.set_result({r.e164: outcomes[r.e164] for r in seat.batch.recipients})


def account(state: ProviderState, outcomes: Iterable[RecipientOutcome]) -> None:
    """Count one call's outcomes in its provider's breaker, once for the call."""
    seen = list(outcomes)
    if all(o.kind is ErrorKind.BUDGET for o in seen):
        state.breaker.abandon()  # our own budget said no: the provider is not to blame
    else:
        state.breaker.record(*account_signal(seen))


class Coalescer:
    """The open groups, one per provider and shape at a time.

    Args:
        calls: how the group's one call is made.
        clock: what the window is waited on.
        window: ``[router] coalesce_window``, in seconds; 0 turns coalescing off.
    """

    def __init__(self, calls: ProviderCalls, clock: Clock, window: float) -> None:
        self.calls = calls
        self.clock = clock
        self.window = window
        self.closing = False
        """Set by :meth:`aclose`: every attempt after goes alone."""
        self._open: dict[_Shape, _Group] = {}
        self._pending: set[_Group] = set()
        """Groups whose call is not made yet (open, or waiting for a seat's journal)."""
        self._moved = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    async def send(
        self,
        state: ProviderState,
        batch: Batch,
        start: Callable[[str | None], Awaitable[None]] | None,
        queued: bool,
    ) -> dict[str, RecipientOutcome]:
        """Journal the call's start with *start* (None: journalled already; it is given the
        message id the call goes by when that is another's), then call: alone, or with the
        others of a group when the message is *queued*. The breaker counts each call once,
        and is given back here when this raises before the call is made.
        """
        if start is not None and queued and (seat := self.seat(state, batch)) is not None:
            try:
                await start(seat.via)
                seat.start()
                return await seat.outcomes()  # the group's call counted in the breaker
            except BaseException:
                if seat.leave():  # out before the call; once it is made, the group counts
                    state.breaker.abandon()
                raise
        try:
            if start is not None:
                await start(None)
            outcomes = await self.calls.send(state, batch)
        except BaseException:
            state.breaker.abandon()  # the probe, if this was one, must not be lost
            raise
        account(state, outcomes.values())
        return outcomes

    def seat(self, state: ProviderState, batch: Batch) -> Seat | None:
        """A seat for *batch* in a group bound for *state*'s provider, or None when it goes
        alone (coalescing off, an adapter that cannot, a batch as big as a call)."""
        size = state.provider.capabilities.max_recipients
        if (
            self.closing
            or self.window <= 0
            or not state.provider.capabilities.coalesce
            or len(batch.recipients) >= size
        ):
            return None
        shape = _Shape(
            state.name,
            batch.text,
            batch.sender,
            batch.sender_kind,
            batch.encoding,
            batch.segments,
            batch.attempt,
        )
        group = self._open.get(shape)
        if group is not None and not group.fits(batch):
            group.close()
            group = None
        if group is None:
            group = self._open[shape] = _Group(self, state, shape, size, batch.message_id)
            self._pending.add(group)
            group.timer = self.spawn(self._window(group))
        return group.join(batch)

    async def _window(self, group: _Group) -> None:
        await self.clock.sleep(self.window)
        group.close()

    def closed(self, group: _Group) -> None:
        """*group* takes no more seats: a new one opens for its shape."""
        if self._open.get(group.shape) is group:
            del self._open[group.shape]

    def settled(self, group: _Group) -> None:
        """*group* has made its call (or has no seat left): nothing of it is pending."""
        self._pending.discard(group)
        self._moved.set()

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def aclose(self) -> None:
        """Take no more seats, close every open group (their calls go as soon as their
        seats are journalled), and wait for every group's call to end."""
        self.closing = True
        for group in list(self._open.values()):
            group.close()
        while self._pending or self._tasks:
            self._moved.clear()
            moved = asyncio.ensure_future(self._moved.wait())
            try:
                await asyncio.wait({moved, *self._tasks}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                moved.cancel()
