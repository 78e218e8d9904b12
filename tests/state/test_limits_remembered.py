"""A budget across processes: what it reports to its listener, and counting remembered calls."""

from __future__ import annotations

import logging

import pytest

from router.errors import ProviderUnavailableError
from router.provider import Limits, Operation, Rate
from router.state import MAX_DEFER, Budget
from router.testing import FakeClock

SEND, BALANCE = Operation.SEND, Operation.BALANCE


class Heard:
    """A budget listener that records what it hears."""

    def __init__(self) -> None:
        self.calls: list[tuple[Operation, float, float | None]] = []
        self.holds: list[tuple[Operation | None, float]] = []

    def called(self, operation: Operation, started: float, ended: float | None) -> None:
        self.calls.append((operation, started, ended))

    def held(self, operation: Operation | None, until: float) -> None:
        self.holds.append((operation, until))


def smsc(clock: FakeClock, wait: float = 100.0) -> Budget:
    """SMSC's budget: 10 balance calls a minute, sends unlimited."""
    return Budget("smsc", Limits(rates={BALANCE: Rate(10, 60.0)}, wait=wait), clock)


async def test_remembered_calls_fill_the_window(clock: FakeClock) -> None:
    budget = smsc(clock)
    now = clock.time()
    # A process before this one made ten calls, the first 45 s ago.
    budget.remember([(BALANCE, now - 45 + n, now - 45 + n + 0.1) for n in range(10)])
    assert budget.ready_in(BALANCE) == pytest.approx(15.1)
    assert budget.ready_in(SEND) == 0
    async with budget.slot(BALANCE) as waited:
        assert waited == pytest.approx(15.1)


async def test_remembered_calls_count_before_this_budget_s_own(clock: FakeClock) -> None:
    budget = Budget("p", Limits(rates={BALANCE: Rate(2, 60.0)}, wait=100), clock)
    async with budget.slot(BALANCE):
        pass
    budget.remember([(BALANCE, clock.time() - 50, clock.time() - 50)])
    # The window holds the remembered call (oldest) and this budget's own.
    assert budget.ready_in(BALANCE) == pytest.approx(10)


async def test_a_call_with_no_end_or_a_future_time_counts_as_ending_now(
    clock: FakeClock,
) -> None:
    budget = Budget("p", Limits(rates={BALANCE: Rate(1, 60.0), SEND: Rate(1, 1.0)}), clock)
    budget.remember([(BALANCE, clock.time() - 30, None), (SEND, clock.time() + 500, None)])
    assert budget.ready_in(BALANCE) == 60
    assert budget.ready_in(SEND) == 1


async def test_operations_without_a_rate_are_not_remembered(clock: FakeClock) -> None:
    budget = smsc(clock)
    budget.remember([(SEND, clock.time(), clock.time())])
    assert budget.ready_in(SEND) == 0


async def test_remembered_holds_hold_calls_back(clock: FakeClock) -> None:
    budget = smsc(clock, wait=5)
    now = clock.time()
    budget.remember([], [(BALANCE, now + 30), (None, now + 2), (None, now + 10 * MAX_DEFER)])
    assert budget.blocked_for == MAX_DEFER
    budget = smsc(clock, wait=5)
    budget.remember([], [(BALANCE, now + 30), (None, now - 5)])
    assert budget.blocked_for == 0
    assert budget.ready_in(BALANCE) == 30
    with pytest.raises(ProviderUnavailableError, match="Retry-After"):
        async with budget.slot(BALANCE):
            pass
    async with budget.slot(SEND):
        pass


async def test_the_listener_hears_each_rated_call_twice_and_each_hold(clock: FakeClock) -> None:
    budget = smsc(clock)
    heard = budget.listener = Heard()
    start = clock.time()
    async with budget.slot(BALANCE):
        assert heard.calls == [(BALANCE, start, None)]
        clock.advance(0.5)
    assert heard.calls[1] == (BALANCE, start, start + 0.5)
    async with budget.slot(SEND):  # no rate: nothing to remember
        pass
    assert len(heard.calls) == 2

    # Two calls at one instant are told apart by their start.
    async with budget.slot(BALANCE), budget.slot(BALANCE):
        pass
    starts = {started for _, started, _ in heard.calls[2:]}
    assert len(starts) == 2
    assert min(starts) == start + 0.5

    budget.defer(30, BALANCE)
    budget.defer(5)
    assert heard.holds == [(BALANCE, clock.time() + 30), (None, clock.time() + 5)]


async def test_remembering_reports_nothing(clock: FakeClock) -> None:
    budget = smsc(clock)
    heard = budget.listener = Heard()
    budget.remember([(BALANCE, clock.time(), clock.time())], [(None, clock.time() + 1)])
    assert heard.calls == []
    assert heard.holds == []


class Broken:
    """A listener that fails every time."""

    def called(self, operation: Operation, started: float, ended: float | None) -> None:
        raise OSError("gone")

    def held(self, operation: Operation | None, until: float) -> None:
        raise OSError("gone")


async def test_a_failing_listener_never_fails_a_call(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    budget = smsc(clock)
    budget.listener = Broken()
    with caplog.at_level(logging.ERROR, logger="smsrouter"):
        for _ in range(3):
            async with budget.slot(BALANCE):
                pass
        budget.defer(5)
    assert budget.in_flight == 0
    assert budget.blocked_for == 5
    assert [r.message for r in caplog.records] == ["provider 'smsc': the budget's listener failed"]
