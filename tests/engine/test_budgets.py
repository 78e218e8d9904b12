"""The budgets across restarts: seeded from the journal at start, their calls written behind."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import router.testing
from router.engine import Router
from router.engine.budgets import BudgetJournal
from router.provider import Limits, Operation, Rate
from router.state import Budget
from router.store import CallRecord, HoldRecord, MemoryStore, MessageStore, SQLiteStore
from router.testing import FakeClock, FakeProvider

BALANCE = Operation.BALANCE
CONFIG = {
    "router": {"policy": ["priority"]},
    "providers": {
        "smsc": {
            "plugin": "fake",
            "balance": 100,
            "balance_interval": "1s",
            "rates": {"balance": "10/1m"},
        }
    },
}


async def settle(until: Any = lambda: False) -> None:
    """Let ready tasks run (up to a bound) until *until* holds."""
    for _ in range(100):
        if until():
            return
        await asyncio.sleep(0)


def adapter(r: Router) -> FakeProvider:
    provider = r.provider("smsc")
    assert isinstance(provider, FakeProvider)
    return provider


async def test_a_restarted_router_waits_for_its_turn_in_the_budget(tmp_path: Path) -> None:
    clock = FakeClock(autojump=False)
    store = SQLiteStore(tmp_path / "journal.db")
    await store.open()
    try:
        first = Router(CONFIG, plugins=[router.testing], clock=clock, store=store)
        await first.start(track_balances=False)
        for _ in range(10):
            await first.balance("smsc")
            clock.advance(1)
        await first.aclose()  # the tenth call ended 1 s ago: the window frees in 51 s

        again = Router(CONFIG, plugins=[router.testing], clock=clock, store=store)
        await again.start()
        try:
            assert again.providers["smsc"].budget.ready_in(BALANCE) == pytest.approx(50)
            await settle()
            assert adapter(again).balance_calls == 0  # a fresh budget would poll at once
            clock.advance(49)
            await settle()
            assert adapter(again).balance_calls == 0
            clock.advance(1)
            await settle(lambda: adapter(again).balance_calls == 1)
            assert adapter(again).balance_calls == 1
        finally:
            await again.aclose()
    finally:
        await store.close()


async def test_a_library_router_on_its_own_memory_store_starts_fresh(clock: FakeClock) -> None:
    async with Router(CONFIG, plugins=[router.testing], clock=clock) as first:
        for _ in range(10):
            await first.balance("smsc")
        assert first.providers["smsc"].budget.ready_in(BALANCE) > 0
    async with Router(CONFIG, plugins=[router.testing], clock=clock) as again:
        assert again.providers["smsc"].budget.ready_in(BALANCE) == 0


class Recording(MemoryStore):
    """A memory store that counts its writes of budget calls, failing while told to."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[int, int]] = []
        self.fail: Exception | None = None

    async def record_calls(
        self, calls: Sequence[CallRecord], holds: Sequence[HoldRecord], *, forget_before: float
    ) -> None:
        if self.fail is not None:
            raise self.fail
        self.writes.append((len(calls), len(holds)))
        await super().record_calls(calls, holds, forget_before=forget_before)


def smsc(clock: FakeClock) -> Budget:
    return Budget("smsc", Limits(rates={BALANCE: Rate(10, 60.0)}), clock)


async def test_reports_gathered_meanwhile_are_written_together(clock: FakeClock) -> None:
    store = Recording()
    journal = BudgetJournal(store, clock)
    budget = smsc(clock)
    await journal.attach({"smsc": budget})
    for _ in range(5):  # no await in between: the writer has had no turn
        async with budget.slot(BALANCE):
            clock.advance(0.1)
    budget.defer(30)
    budget.defer(20)
    await settle(lambda: store.writes)
    assert store.writes == [(5, 1)]  # each call once, with its end; the later hold
    recent = await store.recent_calls(clock.time() - 60)
    assert all(c.ended is not None for c in recent.calls)
    assert [h.until for h in recent.holds] == [clock.time() + 30]
    await journal.close()


async def test_a_failed_write_never_fails_a_call_and_is_logged_once(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    store = Recording()
    store.fail = OSError("disk full")
    journal = BudgetJournal(store, clock)
    budget = smsc(clock)
    await journal.attach({"smsc": budget})
    with caplog.at_level(logging.INFO, logger="smsrouter"):
        for _ in range(3):
            async with budget.slot(BALANCE):
                pass
            await settle()
        was_failing = journal.failing
        store.fail = None
        async with budget.slot(BALANCE):
            pass
        await settle(lambda: store.writes)
    assert [r.getMessage() for r in caplog.records] == [
        "cannot keep the providers' recent calls in the journal (OSError: disk full); "
        "a restart may not count them",
        "the providers' recent calls are kept in the journal again",
    ]
    assert (was_failing, journal.failing) == (True, False)
    await journal.close()


async def test_a_failed_read_at_start_leaves_the_budgets_fresh(
    clock: FakeClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = BudgetJournal(SQLiteStore(tmp_path / "never-opened.db"), clock)
    budget = smsc(clock)
    with caplog.at_level(logging.WARNING, logger="smsrouter"):
        await journal.attach({"smsc": budget})
    assert budget.ready_in(BALANCE) == 0
    assert "their budgets start afresh" in caplog.text
    await journal.close()


async def test_close_writes_what_is_still_noted(clock: FakeClock) -> None:
    store: MessageStore = MemoryStore()
    journal = BudgetJournal(store, clock)
    budget = smsc(clock)
    await journal.attach({"smsc": budget})
    async with budget.slot(BALANCE):
        pass
    await journal.close()  # before the writer had its turn
    (call,) = (await store.recent_calls(clock.time() - 60)).calls
    assert call == CallRecord("smsc", "balance", clock.time(), clock.time())
