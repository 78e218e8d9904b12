"""The fleet's budget on a real Redis: several instances, one budget per provider account.

Each "instance" is a RedisState of its own (its own connection pool and budget objects) on
one key prefix, as the daemons of a fleet are. Many tasks on every instance hammer one
budget; each call notes when it began and ended on this machine's monotonic clock, inside
its slot, so the provider's view of it lies within that interval. The checks are on those
intervals: concurrency is never exceeded, and no ``calls + 1`` calls could ever be seen by
the provider within one window of ``per`` seconds. The same load on unshared in-process
budgets breaks both, so the load is strong enough to show a broken budget.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence

import pytest

from router.clock import SystemClock
from router.errors import ProviderUnavailableError
from router.provider import Limits, Operation, Rate
from router.state import Budget, MemoryState
from router.state.shared import RedisState
from router.state.shared.budget import SharedBudget

SEND, BALANCE = Operation.SEND, Operation.BALANCE
Interval = tuple[float, float]


@pytest.fixture
async def fleet(redis_url: str, redis_prefix: str) -> AsyncIterator[list[RedisState]]:
    """Three instances of a fleet on the test's prefix, opened, closed after."""
    states = [RedisState(redis_url, prefix=redis_prefix, clock=SystemClock()) for _ in range(3)]
    for state in states:
        await state.open()
    yield states
    for state in states:
        await state.close()


async def hammer(
    budgets: Sequence[Budget],
    operation: Operation,
    *,
    tasks: int,
    calls: int,
    longest: float,
    seed: int = 13,
) -> list[Interval]:
    """*tasks* tasks on each budget, each making *calls* calls of up to *longest* seconds."""
    rng = random.Random(seed)
    intervals: list[Interval] = []

    async def worker(budget: Budget, durations: list[float]) -> None:
        for duration in durations:
            async with budget.slot(operation):
                began = time.monotonic()
                await asyncio.sleep(duration)
                intervals.append((began, time.monotonic()))

    work = [
        worker(budget, [rng.uniform(0, longest) for _ in range(calls)])
        for budget in budgets
        for _ in range(tasks)
    ]
    async with asyncio.timeout(60):
        await asyncio.gather(*work)
    return intervals


def most_at_once(intervals: list[Interval]) -> int:
    """The most intervals that overlap at one instant."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    most = current = 0
    for _, step in edges:  # an end sorts before a start at the same instant
        current += step
        most = max(most, current)
    return most


def most_in_a_window(intervals: list[Interval], per: float) -> int:
    """The most calls a provider could see within one window of *per* seconds.

    A provider sees each call at some instant between its start and its end, so calls can
    share a window when the last of them to start began less than *per* after the first of
    them to end had ended.
    """
    most = 0
    ordered = sorted(intervals)
    for index, (start, _) in enumerate(ordered):
        together = 1 + sum(1 for _, end in ordered[:index] if end > start - per)
        most = max(most, together)
    return most


def shared(states: Sequence[RedisState], limits: Limits) -> list[Budget]:
    return [state.budget("p", limits) for state in states]


def unshared(count: int, limits: Limits) -> list[Budget]:
    return [MemoryState(SystemClock()).budget("p", limits) for _ in range(count)]


# -- concurrency ---------------------------------------------------------------------------


async def test_one_connection_across_the_fleet(fleet: list[RedisState]) -> None:
    limits = Limits(concurrency=1, wait=30)
    budgets = shared(fleet, limits)
    assert all(isinstance(b, SharedBudget) for b in budgets)
    intervals = await hammer(budgets, SEND, tasks=8, calls=4, longest=0.004)
    assert len(intervals) == 3 * 8 * 4
    assert most_at_once(intervals) == 1
    assert [b.in_flight for b in budgets] == [0, 0, 0]
    assert sum(b.waits for b in budgets) > 0
    assert sum(b.timeouts for b in budgets) == 0


async def test_a_cap_of_two_is_shared_not_multiplied(fleet: list[RedisState]) -> None:
    limits = Limits(concurrency=2, wait=30)
    intervals = await hammer(shared(fleet, limits), SEND, tasks=6, calls=3, longest=0.005)
    assert most_at_once(intervals) == 2


async def test_unshared_budgets_break_the_cap_under_the_same_load() -> None:
    # The control: the load is strong enough to show a budget that is not shared.
    limits = Limits(concurrency=1, wait=30)
    intervals = await hammer(unshared(3, limits), SEND, tasks=8, calls=4, longest=0.004)
    assert most_at_once(intervals) > 1


async def test_every_operation_shares_the_cap_across_the_fleet(fleet: list[RedisState]) -> None:
    limits = Limits(concurrency=1, rates={BALANCE: Rate(100, 1)}, wait=30)
    a, b, c = shared(fleet, limits)
    sends, balances = await asyncio.gather(
        hammer([a, b], SEND, tasks=4, calls=3, longest=0.003),
        hammer([b, c], BALANCE, tasks=4, calls=3, longest=0.003, seed=7),
    )
    assert most_at_once(sends + balances) == 1


# -- rates ---------------------------------------------------------------------------------


async def test_a_rate_holds_in_every_window_across_the_fleet(fleet: list[RedisState]) -> None:
    rate = Rate(5, 0.5)
    limits = Limits(rates={BALANCE: rate}, wait=30)
    intervals = await hammer(shared(fleet, limits), BALANCE, tasks=4, calls=2, longest=0.03)
    assert len(intervals) == 24
    assert most_in_a_window(intervals, rate.per) == rate.calls


async def test_unshared_budgets_break_the_rate_under_the_same_load() -> None:
    rate = Rate(5, 0.5)
    limits = Limits(rates={BALANCE: rate}, wait=30)
    intervals = await hammer(unshared(3, limits), BALANCE, tasks=4, calls=2, longest=0.03)
    assert most_in_a_window(intervals, rate.per) > rate.calls


async def test_a_rate_and_a_cap_together(fleet: list[RedisState]) -> None:
    rate = Rate(4, 0.3)
    limits = Limits(concurrency=2, rates={SEND: rate}, wait=30)
    intervals = await hammer(shared(fleet, limits), SEND, tasks=3, calls=2, longest=0.02)
    assert most_at_once(intervals) <= 2
    assert most_in_a_window(intervals, rate.per) == rate.calls


async def test_a_rate_that_cannot_allow_a_call_in_time_fails_at_once(
    fleet: list[RedisState],
) -> None:
    limits = Limits(rates={BALANCE: Rate(2, 30)}, wait=0.5)
    a, b, _ = shared(fleet, limits)
    for budget in (a, b):
        async with budget.slot(BALANCE):
            pass
    waited = time.monotonic()
    with pytest.raises(ProviderUnavailableError, match="rate allows the next call in") as caught:
        async with b.slot(BALANCE):
            pytest.fail("a third balance call in the window")
    assert time.monotonic() - waited < limits.wait  # it did not wait the bound out
    assert caught.value.provider == "p"
    assert (b.timeouts, b.ready_in(BALANCE) > 25, b.ready_in(SEND)) == (1, True, 0)
    # The other operations are not held.
    async with a.slot(SEND):
        pass


async def test_a_restarted_instance_sees_the_calls_already_made(
    redis_url: str, redis_prefix: str
) -> None:
    rate = Rate(3, 0.6)
    limits = Limits(rates={BALANCE: rate}, wait=0.05)
    first = RedisState(redis_url, prefix=redis_prefix, clock=SystemClock())
    await first.open()
    budget = first.budget("p", limits)
    ends = []
    for _ in range(rate.calls):
        async with budget.slot(BALANCE):
            ends.append(time.monotonic())  # the call's end as the provider sees it, or before
    await first.close()

    again = RedisState(redis_url, prefix=redis_prefix, clock=SystemClock())
    await again.open()
    try:
        restarted = again.budget("p", limits)
        with pytest.raises(ProviderUnavailableError, match="rate"):
            async with restarted.slot(BALANCE):
                pytest.fail("the window is full since the calls before the restart")
        patient = again.budget("p", Limits(rates={BALANCE: rate}, wait=5))
        async with patient.slot(BALANCE):
            began = time.monotonic()
        assert began >= ends[0] + rate.per
    finally:
        await again.close()


async def test_a_call_counts_in_its_window_until_it_ends(fleet: list[RedisState]) -> None:
    rate = Rate(1, 0.2)
    a, b, _ = shared(fleet, Limits(rates={SEND: rate}, wait=0.1))
    async with a.slot(SEND):
        # In flight on one instance: the window is full, and the wait is shorter than per.
        with pytest.raises(ProviderUnavailableError, match="in flight"):
            async with b.slot(SEND):
                pytest.fail("a second call while the first is in flight")
        await asyncio.sleep(0.3)  # longer than per: still counted, it has not ended
        with pytest.raises(ProviderUnavailableError, match="in flight"):
            async with b.slot(SEND):
                pytest.fail("a second call while the first is in flight")
        ended = time.monotonic()
    patient = fleet[1].budget("p", Limits(rates={SEND: rate}, wait=5))
    async with patient.slot(SEND):
        assert time.monotonic() >= ended + rate.per


# -- Retry-After ---------------------------------------------------------------------------


async def wait_for_key(state: RedisState, *parts: str) -> None:
    """Until the key of *parts* exists (a deferral is written in the background)."""
    for _ in range(1000):
        if await state.client.exists(state.key(*parts)):
            return
        await asyncio.sleep(0.005)
    pytest.fail(f"no key {parts} on Redis after 5s")


async def test_a_deferral_on_one_instance_holds_every_instance(fleet: list[RedisState]) -> None:
    a, b, _ = shared(fleet, Limits(concurrency=3, wait=0.1))
    a.defer(0.5)
    assert a.blocked_for > 0.4
    await wait_for_key(fleet[0], "budget", "p", "hold")
    with pytest.raises(ProviderUnavailableError, match="Retry-After allows the next call in"):
        async with b.slot(SEND):
            pytest.fail("a call while the provider said to wait")
    assert b.blocked_for > 0  # b heard it from Redis
    deferred = time.monotonic()
    patient = fleet[1].budget("p", Limits(concurrency=3, wait=5))
    async with patient.slot(SEND):
        assert time.monotonic() > deferred


async def test_a_deferral_of_one_operation_holds_only_it(fleet: list[RedisState]) -> None:
    a, b, _ = shared(fleet, Limits(wait=0.1))
    a.defer(5, BALANCE)
    await wait_for_key(fleet[0], "budget", "p", "hold", "balance")
    with pytest.raises(ProviderUnavailableError, match="Retry-After"):
        async with b.slot(BALANCE):
            pytest.fail("a balance call while held")
    assert b.ready_in(BALANCE) > 4
    assert (b.ready_in(SEND), b.blocked_for) == (0, 0)
    async with b.slot(SEND):
        pass


async def test_a_deferral_never_shortens_one_in_force(fleet: list[RedisState]) -> None:
    a, b, _ = shared(fleet, Limits(wait=0.1))
    a.defer(30)
    await wait_for_key(fleet[0], "budget", "p", "hold")
    b.defer(0.01)
    await asyncio.sleep(0.05)
    c = fleet[2].budget("p", Limits(wait=0.1))
    with pytest.raises(ProviderUnavailableError, match="Retry-After"):
        async with c.slot(SEND):
            pytest.fail("the longer deferral was shortened")
    ttl = await fleet[2].client.pttl(fleet[2].key("budget", "p", "hold"))
    assert 25_000 < ttl <= 30_000


@pytest.mark.parametrize("seconds", [0, -1, float("nan")])
async def test_a_deferral_that_is_not_a_positive_number_is_ignored(
    fleet: list[RedisState], seconds: float
) -> None:
    (a, *_) = shared(fleet, Limits(wait=0.1))
    a.defer(seconds)
    assert a.blocked_for == 0
    async with a.slot(SEND):
        pass


# -- what the engine reads -----------------------------------------------------------------


class Heard:
    def __init__(self) -> None:
        self.calls: list[tuple[Operation, float, float | None]] = []
        self.holds: list[tuple[Operation | None, float]] = []

    def called(self, operation: Operation, started: float, ended: float | None) -> None:
        self.calls.append((operation, started, ended))

    def held(self, operation: Operation | None, until: float) -> None:
        self.holds.append((operation, until))


async def test_the_listener_hears_the_calls_and_holds(fleet: list[RedisState]) -> None:
    (a, *_) = shared(fleet, Limits(rates={BALANCE: Rate(5, 1)}, wait=1))
    heard = Heard()
    a.listener = heard
    async with a.slot(BALANCE):
        assert [(op, ended) for op, _, ended in heard.calls] == [(BALANCE, None)]
    async with a.slot(SEND):  # no rate: not reported
        pass
    a.defer(1, BALANCE)
    assert [(op, ended is not None) for op, _, ended in heard.calls] == [
        (BALANCE, False),
        (BALANCE, True),
    ]
    assert [op for op, _ in heard.holds] == [BALANCE]


async def test_remembered_calls_count_nothing_on_top_of_redis(fleet: list[RedisState]) -> None:
    # The journal reports every instance's calls; Redis has counted them already.
    (a, *_) = shared(fleet, Limits(rates={BALANCE: Rate(1, 60)}, wait=0.1))
    now = SystemClock().time()
    a.remember([(BALANCE, now - 1, now)], [(None, now + 60)])
    assert (a.ready_in(BALANCE), a.blocked_for) == (0, 0)
    async with a.slot(BALANCE):
        pass


async def test_a_waiting_call_cancelled_leaves_nothing_held(fleet: list[RedisState]) -> None:
    a, b, _ = shared(fleet, Limits(concurrency=1, wait=30))
    entered = asyncio.Event()
    release = asyncio.Event()

    async def hold(budget: Budget, mark: Callable[[], None]) -> None:
        async with budget.slot(SEND):
            mark()
            await release.wait()

    holder = asyncio.create_task(hold(a, entered.set))
    await entered.wait()
    waiters = [asyncio.create_task(hold(budget, pytest.fail)) for budget in (a, b, b)]
    await asyncio.sleep(0.05)
    assert (a.waiting, b.waiting) == (1, 2)
    for waiter in waiters:
        waiter.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    release.set()
    await holder
    assert (a.waiting, b.waiting, a.in_flight, b.in_flight) == (0, 0, 0, 0)
    # Nothing leaked: a budget with no patience at all gets the one slot.
    quick = fleet[2].budget("p", Limits(concurrency=1, wait=0.05))
    async with quick.slot(SEND):
        assert await fleet[2].client.zcard(fleet[2].key("budget", "p", "leases")) == 1
    assert await fleet[2].client.zcard(fleet[2].key("budget", "p", "leases")) == 0


async def test_waiters_of_every_instance_take_their_turn(fleet: list[RedisState]) -> None:
    # One instance with a long line hands its slot over locally at once; the fleet's line
    # still gives the other instance's waiter the next turn after the one before it.
    a, b, _ = shared(fleet, Limits(concurrency=1, wait=30))
    order: list[str] = []
    entered, release = asyncio.Event(), asyncio.Event()

    async def call(budget: Budget, name: str) -> None:
        async with budget.slot(SEND):
            order.append(name)
            entered.set()
            if name == "holder":
                await release.wait()
            await asyncio.sleep(0.005)

    holder = asyncio.create_task(call(a, "holder"))
    await entered.wait()
    line = [asyncio.create_task(call(a, f"a{i}")) for i in range(8)]
    queue = fleet[0].key("budget", "p", "queue")
    for _ in range(1000):  # until a's first waiter has its place in the fleet's line
        if await fleet[0].client.zcard(queue) == 1:
            break
        await asyncio.sleep(0.005)
    other = asyncio.create_task(call(b, "b"))
    for _ in range(1000):
        if await fleet[0].client.zcard(queue) == 2:
            break
        await asyncio.sleep(0.005)
    release.set()
    async with asyncio.timeout(30):
        await asyncio.gather(holder, other, *line)
    assert order[:3] == ["holder", "a0", "b"]
    assert sorted(order) == sorted(["holder", "b", *(f"a{i}" for i in range(8))])


async def test_a_release_anywhere_is_heard_by_every_instance(
    redis_url: str, redis_prefix: str
) -> None:
    # A prefix with a pattern's characters in it hears its own channels only.
    odd = RedisState(redis_url, prefix=f"{redis_prefix}*[x]?", clock=SystemClock())
    plain = RedisState(redis_url, prefix=f"{redis_prefix}-other", clock=SystemClock())
    for state in (odd, plain):
        await state.open()
    try:
        heard: dict[str, asyncio.Event] = {"odd": asyncio.Event(), "plain": asyncio.Event()}
        odd.releases.watch("p", heard["odd"].set)
        plain.releases.watch("p", heard["plain"].set)
        for _ in range(1000):
            if odd.releases.live and plain.releases.live:
                break
            await asyncio.sleep(0.005)
        assert odd.releases.live
        assert plain.releases.live
        budget = odd.budget("p", Limits(concurrency=1, wait=1))
        async with budget.slot(SEND):
            pass
        async with asyncio.timeout(5):
            await heard["odd"].wait()
        assert not heard["plain"].is_set()
    finally:
        for state in (odd, plain):
            await state.close()
    assert [state.releases.live for state in (odd, plain)] == [False, False]
