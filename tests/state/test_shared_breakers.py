"""Breakers shared on a real Redis: two RedisStates are two instances of one fleet.

A breaker that opens on one instance is open on the other with the same cooldown end; a
close anywhere closes it everywhere; one instance probes a half-open breaker at a time; an
instance started later reads the state. Country breakers likewise. Moves take a moment to
travel: each check waits for them, up to a bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from router.model import ErrorKind, Outcome
from router.state import Breaker, BreakerSettings, BreakerState
from router.state.shared import RedisState
from router.testing import FakeClock
from tests.state.shared_support import shared, until

SETTINGS = BreakerSettings(threshold=2, cooldown=30.0, max_cooldown=120.0, probe_timeout=60.0)
Moves = list[tuple[str, BreakerState, BreakerState]]
Fleet = Callable[[], Awaitable[RedisState]]


@pytest.fixture
async def fleet(redis_url: str, redis_prefix: str, clock: FakeClock) -> AsyncIterator[Fleet]:
    """Open RedisStates on one prefix and one clock (instances of a fleet); closed after."""
    opened: list[RedisState] = []

    async def start() -> RedisState:
        state = RedisState(
            redis_url, prefix=redis_prefix, clock=clock, breakers=SETTINGS, countries=SETTINGS
        )
        await state.open()
        opened.append(state)
        return state

    yield start
    for state in opened:
        await state.close()


def fail(breaker: Breaker, times: int = 2) -> None:
    for _ in range(times):
        breaker.record(Outcome.UNAVAILABLE)


async def test_a_breaker_opened_on_one_instance_is_open_on_the_other_then_closes_on_both(
    fleet: Fleet, clock: FakeClock
) -> None:
    a_state, b_state = await fleet(), await fleet()
    heard: Moves = []
    a = a_state.breaker("smsc", lambda *_: None)
    b = b_state.breaker("smsc", lambda name, old, new: heard.append((name, old, new)))
    fail(a)
    assert a.state is BreakerState.OPEN
    await until(lambda: b.state is BreakerState.OPEN)
    assert b.retry_in == a.retry_in == 30.0  # the same cooldown end
    assert not b.acquire()
    assert heard == [("smsc", BreakerState.CLOSED, BreakerState.OPEN)]

    clock.advance(30)
    assert {a.state, b.state} == {BreakerState.HALF_OPEN}
    await until(lambda: a.acquire() or b.acquire())  # one of them takes the probe
    prober, other = (a, b) if a.probing else (b, a)
    assert not other.acquire()
    prober.record(Outcome.ACCEPTED)
    assert prober.state is BreakerState.CLOSED
    await until(lambda: other.state is BreakerState.CLOSED)
    assert other.acquire()
    assert other.failures == 0
    assert heard[-1] == ("smsc", BreakerState.HALF_OPEN, BreakerState.CLOSED)


async def test_only_one_instance_probes_a_half_open_breaker(fleet: Fleet, clock: FakeClock) -> None:
    states = [await fleet() for _ in range(3)]
    breakers = [s.breaker("smsc", lambda *_: None) for s in states]
    fail(breakers[0])
    await until(lambda: all(b.state is BreakerState.OPEN for b in breakers))
    clock.advance(30)
    took: list[int] = []
    for _ in range(50):  # every instance keeps asking, as its sends would
        took += [i for i, b in enumerate(breakers) if b.acquire()]
        await asyncio.sleep(0.01)
    assert len(took) == 1, took
    # The probe fails: open again everywhere, for twice the cooldown.
    breakers[took[0]].record(Outcome.UNAVAILABLE)
    await until(lambda: all(b.retry_in == 60.0 for b in breakers))
    assert {b.cooldown for b in breakers} == {60.0}


async def test_a_probe_turn_not_used_passes_to_another_instance(
    fleet: Fleet, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("router.state.shared.breakers.PROBE_LEASE", 0.2)
    a_state, b_state = await fleet(), await fleet()
    a, b = a_state.breaker("smsc", lambda *_: None), b_state.breaker("smsc", lambda *_: None)
    fail(a)
    await until(lambda: b.state is BreakerState.OPEN)
    clock.advance(30)
    assert not a.accepting  # read half-open: a asks for the probe turn
    await until(shared(a).holds_probe)
    assert a.gate() == (BreakerState.HALF_OPEN, True)
    assert not b.accepting  # a holds the turn and sends nothing with it
    await until(lambda: b.acquire(), within=3.0)  # its lease lapsed; b took the turn
    assert not a.acquire()


async def test_holds_and_resets_reach_every_instance(fleet: Fleet, clock: FakeClock) -> None:
    a_state, b_state = await fleet(), await fleet()
    a, b = a_state.breaker("smsc", lambda *_: None), b_state.breaker("smsc", lambda *_: None)
    a.hold(500, "come back later")
    await until(lambda: b.held is not None)
    assert b.held == (500.0, "come back later")
    assert b.retry_in == 500.0
    a.record(Outcome.PROVIDER_ERROR, ErrorKind.AUTH)  # open longer still: auth_cooldown
    await until(lambda: b.retry_in == SETTINGS.auth_cooldown)
    b.reset()  # the operator's word on the other instance
    await until(lambda: a.state is BreakerState.CLOSED)
    assert a.held is None
    assert a.cooldown == SETTINGS.cooldown


async def test_an_instance_started_later_sees_the_state(fleet: Fleet, clock: FakeClock) -> None:
    a_state = await fleet()
    a = a_state.breaker("smsc", lambda *_: None)
    fail(a)
    countries = a_state.country_breakers("smsc")
    countries.record("RU", Outcome.UNAVAILABLE, None)
    countries.record("RU", Outcome.UNAVAILABLE, None)
    assert countries.closed_to() == {"RU": "open"}
    await a_state.channel.flush()

    heard: Moves = []
    c_state = await fleet()
    c = c_state.breaker("smsc", lambda name, old, new: heard.append((name, old, new)))
    assert c.state is BreakerState.OPEN
    assert c.retry_in == 30.0
    assert heard == [("smsc", BreakerState.CLOSED, BreakerState.OPEN)]  # its listener heard it
    assert c_state.country_breakers("smsc").closed_to() == {"RU": "open"}


async def test_country_breakers_are_shared(fleet: Fleet, clock: FakeClock) -> None:
    a_state, b_state = await fleet(), await fleet()
    heard: list[tuple[str, str, BreakerState, BreakerState]] = []
    a = a_state.country_breakers("smsc")
    b = b_state.country_breakers("smsc", lambda *move: heard.append(move))
    a.record("KZ", Outcome.UNAVAILABLE, None)
    a.record("KZ", Outcome.UNAVAILABLE, None)
    await until(lambda: b.closed_to() == {"KZ": "open"})
    assert not b.acquire("KZ")
    assert b.acquire("RU")
    assert heard == [("smsc", "KZ", BreakerState.CLOSED, BreakerState.OPEN)]
    clock.advance(30)
    await until(lambda: a.acquire("KZ") or b.acquire("KZ"))
    prober = a if a.breaker("KZ").probing else b
    prober.record("KZ", Outcome.ACCEPTED, None)
    await until(lambda: not a.closed_to() and not b.closed_to())
    assert b.states() == {}


async def test_moves_made_at_once_on_two_instances_end_the_same_everywhere(
    fleet: Fleet, clock: FakeClock
) -> None:
    a_state, b_state = await fleet(), await fleet()
    a, b = a_state.breaker("smsc", lambda *_: None), b_state.breaker("smsc", lambda *_: None)
    for _ in range(20):  # each opens and closes, crossing the other's moves
        fail(a)
        b.reset()
        a.reset()
        fail(b)
    await a_state.channel.flush()
    await b_state.channel.flush()
    sa, sb = shared(a), shared(b)
    await until(lambda: sa.version == sb.version and sa.pending == sb.pending == 0)
    assert sa.snapshot() == sb.snapshot()
    assert a.state is b.state
