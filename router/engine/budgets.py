"""The providers' budgets across restarts: their recent calls and holds, kept in the journal.

A provider's rate is the provider's, not this process's: SMSC refuses an eleventh balance
call in a minute however many processes made the ten before it. So each budget reports the
calls its rates count and its ``Retry-After`` holds (:class:`~router.state.BudgetListener`),
and :class:`BudgetJournal` keeps them in the journal; at start, each budget counts what the
journal remembers of the longest rate window, and a restarted process waits its turn as the
one before it would have.

Writing them never holds a call up: a report only notes the call in memory, and one task
writes what has gathered meanwhile, one write at a time, so reports batch while a write is
under way. A write that fails is logged once (until one succeeds again) and never fails a
call; what it held is dropped, so the memory stays bounded whatever the disk does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

from router.clock import Clock
from router.provider import Operation
from router.state import Budget
from router.store import CallRecord, HoldRecord, MessageStore, RecentCalls

log = logging.getLogger("smsrouter")


class _Reports:
    """One provider's budget listener: notes each report for the next write."""

    def __init__(self, journal: BudgetJournal, provider: str) -> None:
        self.journal = journal
        self.provider = provider

    def called(self, operation: Operation, started: float, ended: float | None) -> None:
        """Note a call (again when it ends: the later note replaces the first)."""
        record = CallRecord(self.provider, operation.value, started, ended)
        self.journal.note_call(record)

    def held(self, operation: Operation | None, until: float) -> None:
        """Note a Retry-After hold."""
        kind = None if operation is None else operation.value
        self.journal.note_hold(HoldRecord(self.provider, kind, until))


class BudgetJournal:
    """Seeds each provider's budget from the journal and keeps its new calls there.

    Args:
        store: the journal (open before :meth:`attach`, closed after :meth:`close`).
        clock: where the time of the longest window is read.
    """

    def __init__(self, store: MessageStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.horizon = 0.0
        """The longest rate window of any budget attached, in seconds: what is kept."""
        self.failing = False
        """Whether the last write failed (logged once until one succeeds)."""
        self._calls: dict[tuple[str, str, float], CallRecord] = {}
        self._holds: dict[tuple[str, str | None], HoldRecord] = {}
        self._pending = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def attach(self, budgets: Mapping[str, Budget]) -> None:
        """Count in each budget what the journal remembers, then have it report its calls."""
        self.horizon = max(
            (rate.per for budget in budgets.values() for rate in budget.limits.rates.values()),
            default=0.0,
        )
        recent = await self._recent()
        for name, budget in budgets.items():
            calls = [
                (operation, c.started, c.ended)
                for c in recent.calls
                if c.provider == name and (operation := _operation(c.operation)) is not None
            ]
            holds = [
                (_operation(h.operation), h.until)
                for h in recent.holds
                if h.provider == name and (h.operation is None or _operation(h.operation))
            ]
            budget.remember(calls, holds)
            budget.listener = _Reports(self, name)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="smsrouter-budget-journal"
            )

    async def _recent(self) -> RecentCalls:
        try:
            return await self.store.recent_calls(self.clock.time() - self.horizon)
        except Exception as exc:
            log.warning(
                "cannot read the providers' recent calls from the journal (%s: %s); "
                "their budgets start afresh",
                type(exc).__name__,
                exc,
            )
            return RecentCalls()

    def note_call(self, record: CallRecord) -> None:
        """Have *record* written with the next write."""
        self._calls[record.provider, record.operation, record.started] = record
        self._pending.set()

    def note_hold(self, record: HoldRecord) -> None:
        """Have *record* written with the next write (the latest ``until`` of a kind)."""
        key = (record.provider, record.operation)
        noted = self._holds.get(key)
        if noted is None or noted.until < record.until:
            self._holds[key] = record
        self._pending.set()

    async def _run(self) -> None:
        while True:
            await self._pending.wait()
            self._pending.clear()
            await self.flush()

    async def flush(self) -> None:
        """Write what was noted since the last write; never raises but for cancellation."""
        calls, holds = list(self._calls.values()), list(self._holds.values())
        self._calls, self._holds = {}, {}
        if not calls and not holds:
            return
        try:
            forget_before = self.clock.time() - self.horizon
            await self.store.record_calls(calls, holds, forget_before=forget_before)
        except Exception as exc:
            if not self.failing:
                log.warning(
                    "cannot keep the providers' recent calls in the journal (%s: %s); "
                    "a restart may not count them",
                    type(exc).__name__,
                    exc,
                )
            self.failing = True
            return
        if self.failing:
            log.info("the providers' recent calls are kept in the journal again")
        self.failing = False

    async def close(self) -> None:
        """Stop the writing task and write what is still noted."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.flush()


def _operation(value: str | None) -> Operation | None:
    """The operation named *value*; None for none, or one this version does not know."""
    try:
        return None if value is None else Operation(value)
    except ValueError:
        return None
