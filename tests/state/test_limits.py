"""The per-provider budget: concurrency, per-operation rates, bounded waits, Retry-After."""

from __future__ import annotations

import asyncio
import math
import sys
from typing import Any

import attrs
import pytest

from router import hookimpl
from router.config import parse_config
from router.errors import ConfigError, ProviderUnavailableError
from router.model import Batch, RecipientOutcome
from router.plugins import PluginHost
from router.provider import Limits, Operation, Provider, Rate
from router.registries import ProviderRegistry
from router.state import MAX_DEFER, Budget
from router.testing import FakeClock

SEND, BALANCE, STATUS = Operation.SEND, Operation.BALANCE, Operation.STATUS


class Held:
    """A call holding its slot until the test lets it go."""

    def __init__(self, budget: Budget, operation: Operation, log: list[str], name: str) -> None:
        self.release = asyncio.Event()
        self.entered = asyncio.Event()
        self.waited: float | None = None
        self.task = asyncio.create_task(self._run(budget, operation, log, name))

    async def _run(self, budget: Budget, operation: Operation, log: list[str], name: str) -> None:
        async with budget.slot(operation) as waited:
            self.waited = waited
            log.append(name)
            self.entered.set()
            await self.release.wait()


async def settle() -> None:
    """Let every ready task run until nothing is left to do."""
    for _ in range(20):
        await asyncio.sleep(0)


async def call(budget: Budget, operation: Operation, clock: FakeClock, took: float = 0.0) -> float:
    """One call of *operation* that takes *took* seconds of fake time; when it started."""
    async with budget.slot(operation):
        started = clock.time()
        clock.advance(took)
    return started


# -- concurrency -----------------------------------------------------------------------------


async def test_the_concurrency_cap_holds_and_in_flight_counts(clock: FakeClock) -> None:
    budget = Budget("p", Limits(concurrency=2, wait=10), clock)
    log: list[str] = []
    a, b, c = (Held(budget, SEND, log, n) for n in "abc")
    await settle()
    assert log == ["a", "b"]
    assert (budget.in_flight, budget.waiting, budget.waits) == (2, 1, 0)
    a.release.set()
    await c.entered.wait()
    assert log == ["a", "b", "c"]
    assert (budget.in_flight, budget.waiting, budget.waits) == (2, 0, 1)
    b.release.set()
    c.release.set()
    await asyncio.gather(a.task, b.task, c.task)
    assert (budget.in_flight, budget.waiting, budget.timeouts) == (0, 0, 0)


async def test_every_operation_shares_the_concurrency_cap(clock: FakeClock) -> None:
    budget = Budget("p", Limits(concurrency=1, wait=10), clock)
    log: list[str] = []
    send = Held(budget, SEND, log, "send")
    balance = Held(budget, BALANCE, log, "balance")
    await settle()
    assert (log, budget.in_flight) == (["send"], 1)
    send.release.set()
    await balance.entered.wait()
    assert log == ["send", "balance"]
    balance.release.set()
    await asyncio.gather(send.task, balance.task)


async def test_waiters_get_the_slot_in_the_order_they_came(clock: FakeClock) -> None:
    budget = Budget("p", Limits(concurrency=1, wait=10), clock)
    log: list[str] = []
    held = [Held(budget, SEND, log, n) for n in "abcde"]
    await settle()
    assert (log, budget.waiting) == (["a"], 4)
    held[0].release.set()
    # A newcomer arriving just as the slot frees queues behind those already waiting.
    late = Held(budget, STATUS, log, "late")
    for waiter in [*held[1:], late]:
        await waiter.entered.wait()
        waiter.release.set()
    await asyncio.gather(*(h.task for h in [*held, late]))
    assert log == [*"abcde", "late"]
    assert (budget.waits, budget.timeouts, budget.in_flight) == (5, 0, 0)


async def test_a_waiter_cancelled_as_its_slot_frees_is_cancelled(clock: FakeClock) -> None:
    # The slot frees and the waiter is cancelled in one turn of the loop (a Router closing
    # while its balance poll waits for a send to end): the cancellation must not be lost,
    # or the poll goes on and its loop never ends.
    budget = Budget("office", Limits(concurrency=1, wait=30), clock)
    log: list[str] = []
    holder = Held(budget, SEND, log, "a")
    await holder.entered.wait()
    waiter = Held(budget, Operation.BALANCE, log, "b")
    await asyncio.sleep(0)
    assert budget.waiting == 1
    holder.release.set()
    await holder.task
    waiter.task.cancel()
    await settle()
    assert waiter.task.cancelled(), "the cancellation was lost"
    assert (budget.in_flight, budget.waiting) == (0, 0)


async def test_no_slot_within_the_bound_is_unavailable(clock: FakeClock) -> None:
    budget = Budget("office", Limits(concurrency=1, wait=0), clock)
    log: list[str] = []
    holder = Held(budget, SEND, log, "a")
    await holder.entered.wait()
    with pytest.raises(ProviderUnavailableError) as raised:
        async with budget.slot(SEND):
            pytest.fail("got a slot past the cap")
    assert str(raised.value) == "office: no send slot within 0s (1 calls in flight)"
    assert raised.value.provider == "office"
    assert (budget.in_flight, budget.waiting, budget.timeouts) == (1, 0, 1)
    holder.release.set()
    await holder.task


async def test_a_bounded_wait_for_a_busy_slot_gives_up(clock: FakeClock) -> None:
    # Waiting for another call to end is bounded on the event loop too: 20 ms here.
    budget = Budget("office", Limits(concurrency=1, wait=0.02), clock)
    log: list[str] = []
    holder = Held(budget, SEND, log, "a")
    await holder.entered.wait()
    with pytest.raises(ProviderUnavailableError, match="1 calls in flight"):
        async with budget.slot(SEND):
            pytest.fail("got a slot past the cap")
    assert (budget.timeouts, budget.waiting) == (1, 0)
    holder.release.set()
    await holder.task
    # The slot is free again, and nothing waits.
    assert await call(budget, SEND, clock) == clock.now


async def test_cancelling_a_call_releases_its_slot(clock: FakeClock) -> None:
    budget = Budget("p", Limits(concurrency=1, wait=10), clock)
    log: list[str] = []
    holder = Held(budget, SEND, log, "a")
    waiter = Held(budget, SEND, log, "b")
    await holder.entered.wait()
    await settle()
    assert (budget.in_flight, budget.waiting) == (1, 1)
    holder.task.cancel()
    await waiter.entered.wait()
    assert (log, budget.in_flight, budget.waiting) == (["a", "b"], 1, 0)
    waiter.release.set()
    await waiter.task
    assert budget.in_flight == 0
    with pytest.raises(asyncio.CancelledError):
        await holder.task


async def test_cancelling_a_waiter_takes_no_slot(clock: FakeClock) -> None:
    budget = Budget("p", Limits(concurrency=1, wait=10), clock)
    log: list[str] = []
    holder = Held(budget, SEND, log, "a")
    gone = Held(budget, SEND, log, "gone")
    after = Held(budget, SEND, log, "after")
    await settle()
    gone.task.cancel()
    await settle()
    assert (budget.in_flight, budget.waiting) == (1, 1)
    holder.release.set()
    await after.entered.wait()
    assert log == ["a", "after"]
    after.release.set()
    await asyncio.gather(holder.task, after.task)
    assert (budget.in_flight, budget.waiting, budget.timeouts) == (0, 0, 0)


async def test_a_call_that_raises_releases_its_slot(clock: FakeClock) -> None:
    budget = Budget("p", Limits(concurrency=1, rates={SEND: Rate(1, 5)}, wait=10), clock)

    async def failing() -> None:
        async with budget.slot(SEND):
            clock.advance(1)
            raise KeyError("adapter bug")

    with pytest.raises(KeyError):
        await failing()
    assert budget.in_flight == 0
    # It still counted in the rate window, ending when it raised.
    t0 = clock.now
    assert await call(budget, SEND, clock) == t0 + 5
    assert clock.slept == [5]


# -- rates -----------------------------------------------------------------------------------


async def test_a_rate_counts_calls_until_they_end(clock: FakeClock) -> None:
    budget = Budget("smsc", Limits(rates={BALANCE: Rate(2, 60)}, wait=100), clock)
    t0 = clock.now
    assert await call(budget, BALANCE, clock, took=1) == t0
    assert await call(budget, BALANCE, clock, took=1) == t0 + 1
    # The third may start 60 s after the oldest of the window ended (t0 + 1).
    assert await call(budget, BALANCE, clock, took=1) == t0 + 61
    assert clock.slept == [59]
    # The next waits for the second one (ended t0 + 2).
    assert await call(budget, BALANCE, clock) == t0 + 62
    assert (clock.slept, budget.waits) == ([59], 1)


async def test_the_next_call_waits_for_the_oldest_still_in_flight(clock: FakeClock) -> None:
    budget = Budget("smsc", Limits(rates={BALANCE: Rate(1, 10)}, wait=30), clock)
    log: list[str] = []
    t0 = clock.now
    first = Held(budget, BALANCE, log, "first")
    await first.entered.wait()
    second = Held(budget, BALANCE, log, "second")
    await settle()
    assert (log, budget.waiting) == (["first"], 1)
    clock.advance(5)  # the first call takes 5 s; the window counts it until it ends
    first.release.set()
    await second.entered.wait()
    assert clock.now == t0 + 15
    assert clock.slept == [10]
    second.release.set()
    await asyncio.gather(first.task, second.task)


async def test_a_rate_that_cannot_allow_a_call_in_time_fails_at_once(clock: FakeClock) -> None:
    budget = Budget("smsc", Limits(rates={BALANCE: Rate(1, 60)}, wait=10), clock)
    t0 = clock.now
    await call(budget, BALANCE, clock)
    with pytest.raises(ProviderUnavailableError) as raised:
        async with budget.slot(BALANCE):
            pytest.fail("a second call inside the window")
    assert (
        str(raised.value) == "smsc: no balance slot within 10s (rate allows the next call in 60s)"
    )
    assert (clock.now, clock.slept, budget.timeouts) == (t0, [], 1)


async def test_a_window_still_in_flight_longer_than_the_wait_fails_at_once(
    clock: FakeClock,
) -> None:
    budget = Budget("smsc", Limits(rates={BALANCE: Rate(1, 60)}, wait=10), clock)
    log: list[str] = []
    first = Held(budget, BALANCE, log, "first")
    await first.entered.wait()
    with pytest.raises(ProviderUnavailableError) as raised:
        async with budget.slot(BALANCE):
            pytest.fail("a second call inside the window")
    assert str(raised.value) == (
        "smsc: no balance slot within 10s (rate: the window's calls are in flight)"
    )
    first.release.set()
    await first.task


async def test_ready_in_says_when_a_rate_or_deferral_allows_a_call(clock: FakeClock) -> None:
    budget = Budget("smsc", Limits(rates={BALANCE: Rate(1, 60)}, wait=10), clock)
    assert budget.ready_in(BALANCE) == 0
    await call(budget, BALANCE, clock, took=2)
    clock.advance(8)
    assert (budget.ready_in(BALANCE), budget.ready_in(SEND)) == (52, 0)
    budget.defer(70)
    assert (budget.ready_in(BALANCE), budget.ready_in(SEND)) == (70, 70)
    log: list[str] = []
    clock.advance(100)
    held = Held(budget, BALANCE, log, "held")
    await held.entered.wait()
    assert budget.ready_in(BALANCE) == math.inf
    held.release.set()
    await held.task
    assert budget.ready_in(BALANCE) == 60


async def test_rates_are_per_operation(clock: FakeClock) -> None:
    budget = Budget("smsc", Limits(rates={BALANCE: Rate(1, 60)}, wait=100), clock)
    t0 = clock.now
    await call(budget, BALANCE, clock)
    for _ in range(50):  # sends and status queries have no rate here
        assert await call(budget, SEND, clock) == t0
        assert await call(budget, STATUS, clock) == t0
    assert await call(budget, BALANCE, clock) == t0 + 60


async def test_a_call_waiting_for_its_rate_holds_no_concurrency_slot() -> None:
    clock = FakeClock(autojump=False)
    limits = Limits(concurrency=1, rates={BALANCE: Rate(1, 60)}, wait=100)
    budget = Budget("smsc", limits, clock)
    log: list[str] = []
    await call(budget, BALANCE, clock)
    poll = Held(budget, BALANCE, log, "poll")
    await settle()
    assert (clock.slept, budget.in_flight, budget.waiting) == ([60], 0, 1)
    # A send goes at once while the poll sleeps out its window.
    send = Held(budget, SEND, log, "send")
    await send.entered.wait()
    send.release.set()
    await send.task
    clock.advance(60)
    await poll.entered.wait()
    poll.release.set()
    await poll.task
    assert log == ["send", "poll"]


# -- Retry-After -----------------------------------------------------------------------------


async def test_retry_after_defers_every_operation(clock: FakeClock) -> None:
    budget = Budget("p", Limits(wait=10), clock)
    t0 = clock.now
    budget.defer(5)
    assert budget.blocked_for == 5
    budget.defer(2)  # never shortens a deferral in force
    assert budget.blocked_for == 5
    assert await call(budget, STATUS, clock) == t0 + 5
    assert (clock.slept, budget.waits, budget.blocked_for) == ([5], 1, 0)
    assert await call(budget, SEND, clock) == t0 + 5


async def test_a_deferral_longer_than_the_wait_fails_at_once(clock: FakeClock) -> None:
    budget = Budget("p", Limits(wait=10), clock)
    budget.defer(30)
    with pytest.raises(ProviderUnavailableError) as raised:
        async with budget.slot(SEND):
            pytest.fail("sent inside a Retry-After")
    assert (
        str(raised.value) == "p: no send slot within 10s (Retry-After allows the next call in 30s)"
    )
    assert (clock.slept, budget.timeouts) == ([], 1)


@pytest.mark.parametrize(
    ("seconds", "blocked"), [(-1.0, 0.0), (0.0, 0.0), (math.nan, 0.0), (1e12, MAX_DEFER)]
)
async def test_a_nonsense_retry_after_is_ignored_or_capped(
    clock: FakeClock, seconds: float, blocked: float
) -> None:
    budget = Budget("p", Limits(), clock)
    budget.defer(seconds)
    assert budget.blocked_for == blocked


# -- config can only tighten the declared limits ---------------------------------------------


@attrs.frozen
class _NoOptions:
    pass


class LimitedProvider(Provider[_NoOptions]):
    """A provider that declares SMSC-like limits."""

    type_name = "limited"
    Config = _NoOptions
    limits = Limits(concurrency=5, rates={BALANCE: Rate(10, 60)}, wait=10)

    async def send(self, batch: Batch) -> list[RecipientOutcome]:
        raise NotImplementedError


@hookimpl
def smsrouter_register_providers(registry: ProviderRegistry) -> None:
    """Register this module's test provider."""
    registry.add(LimitedProvider)


def limits_of(**table: Any) -> Limits:
    host = PluginHost.load(extra=[sys.modules[__name__]], autoload=False)
    config = parse_config({"providers": {"x": {"plugin": "limited", **table}}}, host, env={})
    return config.providers["x"].limits


def problems_of(**table: Any) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as raised:
        limits_of(**table)
    return raised.value.problems


def test_config_may_tighten_the_declared_limits() -> None:
    assert limits_of() == Limits(concurrency=5, rates={BALANCE: Rate(10, 60)}, wait=10)
    tighter = limits_of(concurrency=1, rates={"balance": "5/1m", "send": "2/1s"}, limit_wait="3s")
    assert tighter == Limits(concurrency=1, rates={BALANCE: Rate(5, 60), SEND: Rate(2, 1)}, wait=3)


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        (
            {"concurrency": 6},
            "providers.x.concurrency: 6 exceeds limited's limit of 5",
        ),
        ({"concurrency": 0}, "providers.x.concurrency: must be at least 1"),
        (
            {"rates": {"balance": "10/1s"}},
            "providers.x.rates.balance: '10/1s' exceeds limited's limit of 10 per 60s",
        ),
        (
            {"rates": {"balance": "11/1m"}},
            "providers.x.rates.balance: '11/1m' exceeds limited's limit of 10 per 60s",
        ),
    ],
)
def test_config_may_not_loosen_the_declared_limits(table: dict[str, Any], problem: str) -> None:
    assert problems_of(**table) == (problem,)


def test_a_longer_window_may_not_hide_a_burst() -> None:
    # 20 per 2 minutes allows 20 calls in one minute: looser than 10 per minute.
    assert problems_of(rates={"balance": "20/2m"}) == (
        "providers.x.rates.balance: '20/2m' exceeds limited's limit of 10 per 60s",
    )
    # 5 per 30 s never puts more than 10 in a minute.
    assert limits_of(rates={"balance": "5/30s"}).rates[BALANCE] == Rate(5, 30)


async def test_a_deferral_for_one_operation_holds_only_that_operation() -> None:
    clock = FakeClock()
    budget = Budget("a", Limits(wait=60.0), clock)
    budget.defer(30, Operation.BALANCE)
    budget.defer(5, Operation.BALANCE)  # never shortens one in force
    assert budget.ready_in(Operation.BALANCE) == 30
    assert budget.ready_in(Operation.SEND) == 0
    async with budget.slot(Operation.SEND) as waited:
        assert waited == 0
    async with budget.slot(Operation.BALANCE) as waited:
        assert waited == 30
