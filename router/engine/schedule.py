"""The scheduler: sends held messages when they come due, sleeping until the next one.

A held message (``send_at`` in the future, quiet hours, see :mod:`router.compliance`) waits
in the journal. The scheduler asks the journal for the soonest time any held message is due
(:meth:`~router.store.MessageStore.next_held`, one indexed read) and sleeps on the clock
until then, or until :meth:`Scheduler.wake` says a message was held that may be sooner. Due
messages are handed to *dispatch*, a bounded number at once; nothing reads the whole
journal. Held messages survive a restart, so the first round after start sends those that
came due while the process was down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from router.clock import Clock, sleep_or_wake
from router.errors import NoRouteError, StoreError
from router.store import MessageRecord, MessageState, MessageStore

__all__ = ["RETRY_AFTER", "Scheduler"]

log = logging.getLogger("smsrouter.schedule")

RETRY_AFTER = 5.0
"""Seconds before a held message whose sending failed is tried again."""

Dispatch = Callable[[MessageRecord], Awaitable[object]]


class Scheduler:
    """Held messages, sent on time.

    Args:
        store: the journal the held messages are in.
        clock: what the scheduler sleeps on.
        dispatch: sends one due message (the Router's ``resume``).
        concurrency: messages dispatched at once.
    """

    def __init__(
        self, store: MessageStore, clock: Clock, dispatch: Dispatch, *, concurrency: int = 8
    ) -> None:
        self.store = store
        self.clock = clock
        self.dispatch = dispatch
        self.concurrency = concurrency
        self._busy: dict[str, asyncio.Task[None]] = {}
        self._cooling: dict[str, float] = {}
        """Messages just dispatched, until when: one still due then is not sent in a loop."""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the background loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop the loop; messages being sent finish (the journal keeps the rest held)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._busy:
            await asyncio.gather(*self._busy.values(), return_exceptions=True)

    def wake(self) -> None:
        """A message was held (or cancelled): look again at when the next one is due."""
        self._wake.set()

    async def run_due(self) -> None:
        """Send every message due now and wait for them (tests move a fake clock between)."""
        while True:
            await self._start_due(self.clock.time())
            if not self._busy:
                return
            await asyncio.gather(*self._busy.values(), return_exceptions=True)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            now = self.clock.time()
            try:
                await self._start_due(now)
                due = await self.store.next_held()
            except StoreError:  # the journal said it is failing, once: no line each round
                due = now + RETRY_AFTER
            except Exception:
                log.exception("the scheduler could not read the journal; trying again")
                due = now + RETRY_AFTER
            if due is None:
                await self._wake.wait()  # nothing held: a wake-up says when to look
            elif due <= now:
                # What is due is being sent, or was just tried: look again in a while.
                await sleep_or_wake(self.clock, self._wake, RETRY_AFTER)
            else:  # from the time now: reading the journal took some
                await sleep_or_wake(self.clock, self._wake, due - self.clock.time())

    async def _start_due(self, now: float) -> None:
        self._cooling = {k: until for k, until in self._cooling.items() if until > now}
        room = self.concurrency - len(self._busy)
        if room <= 0:
            return
        skip = len(self._busy) + len(self._cooling)
        for message_id in await self.store.held_due(now, limit=room + skip):
            if message_id in self._busy or message_id in self._cooling:
                continue
            if len(self._busy) >= self.concurrency:
                break
            task = asyncio.get_running_loop().create_task(self._send(message_id))
            self._busy[message_id] = task
            task.add_done_callback(lambda _, key=message_id: self._done(key))  # type: ignore[misc]

    def _done(self, message_id: str) -> None:
        self._busy.pop(message_id, None)
        self._cooling[message_id] = self.clock.time() + RETRY_AFTER
        self._wake.set()

    async def _send(self, message_id: str) -> None:
        try:
            record = await self.store.get(message_id)
            if record is not None and record.state is not MessageState.DONE:
                await self.dispatch(record)
        except NoRouteError:
            pass  # journalled as failed, with every reason
        except StoreError:
            pass  # the journal said it is failing; the message stays held, tried again
        except Exception:
            log.exception("sending held message %s failed; trying again soon", message_id)
