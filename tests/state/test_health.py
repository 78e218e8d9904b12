"""The circuit breaker: alone on the fake clock, and through a Router with two providers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import router.testing
from router import Message, hookimpl
from router.engine import Router
from router.engine.calls import hold_if_throttled
from router.model import ErrorKind, Outcome, RecipientOutcome
from router.state import Breaker, BreakerSettings, BreakerState
from router.testing import FakeClock, FakeProvider

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
OK, DOWN, MAYBE, ERROR = (
    Outcome.ACCEPTED,
    Outcome.UNAVAILABLE,
    Outcome.AMBIGUOUS,
    Outcome.PROVIDER_ERROR,
)
AU = "+61412345678"

Moves = list[tuple[str, BreakerState, BreakerState]]


def breaker(clock: FakeClock, moves: Moves | None = None, **settings: Any) -> Breaker:
    """A breaker on *clock* that appends each move to *moves*."""

    def listen(name: str, old: BreakerState, new: BreakerState) -> None:
        if moves is not None:
            moves.append((name, old, new))

    return Breaker("p", BreakerSettings(**settings), clock, on_change=listen)


def fail(b: Breaker, times: int, outcome: Outcome = DOWN) -> None:
    """Make *times* calls that end in *outcome*."""
    for _ in range(times):
        assert b.acquire()
        b.record(outcome)


# -- alone -----------------------------------------------------------------------------------


def test_consecutive_failures_open_it(clock: FakeClock) -> None:
    moves: Moves = []
    b = breaker(clock, moves, threshold=3)
    fail(b, 2, DOWN)
    fail(b, 1, OK)  # an answer in between starts the count again
    fail(b, 1, MAYBE)
    fail(b, 1, DOWN)
    assert (b.state, b.failures, moves) == (CLOSED, 2, [])
    fail(b, 1, MAYBE)
    assert (b.state, b.failures, b.retry_in, b.accepting) == (OPEN, 3, 30, False)
    assert not b.acquire()
    assert moves == [("p", CLOSED, OPEN)]


@pytest.mark.parametrize("outcome", [OK, ERROR, Outcome.REJECTED_RECIPIENT])
def test_an_answer_is_the_provider_working(clock: FakeClock, outcome: Outcome) -> None:
    b = breaker(clock, threshold=2)
    fail(b, 1)
    fail(b, 1, outcome)
    fail(b, 1)
    assert (b.state, b.failures) == (CLOSED, 1)


def test_after_the_cooldown_one_probe_goes_and_its_success_closes_it(clock: FakeClock) -> None:
    moves: Moves = []
    b = breaker(clock, moves, threshold=1, cooldown=30)
    fail(b, 1)
    clock.advance(29.9)
    assert (b.state, b.accepting, round(b.retry_in, 6)) == (OPEN, False, 0.1)
    clock.advance(0.1)
    assert (b.state, b.accepting, b.retry_in) == (HALF_OPEN, True, 0)
    assert b.acquire()  # the probe
    assert (b.probing, b.accepting, b.acquire()) == (True, False, False)
    b.record(OK)
    assert (b.state, b.failures, b.cooldown, b.probing) == (CLOSED, 0, 30, False)
    assert moves == [("p", CLOSED, OPEN), ("p", OPEN, HALF_OPEN), ("p", HALF_OPEN, CLOSED)]


def test_a_failed_probe_doubles_the_cooldown_up_to_the_cap(clock: FakeClock) -> None:
    b = breaker(clock, threshold=1, cooldown=30, max_cooldown=200)
    fail(b, 1)
    seen = []
    for _ in range(5):
        clock.advance(b.retry_in)
        assert b.state is HALF_OPEN
        fail(b, 1)  # the probe fails
        seen.append(b.retry_in)
    assert seen == [60, 120, 200, 200, 200]
    clock.advance(200)
    fail(b, 1, OK)
    # Closed again, it opens for the first cooldown next time.
    fail(b, 1)
    assert (b.state, b.retry_in) == (OPEN, 30)


@pytest.mark.parametrize("start", [CLOSED, HALF_OPEN])
def test_a_login_failure_opens_it_for_long(clock: FakeClock, start: BreakerState) -> None:
    b = breaker(clock, threshold=3, auth_cooldown=3600)
    if start is HALF_OPEN:
        fail(b, 3)
        clock.advance(30)
    assert b.state is start
    assert b.acquire()
    b.record(ERROR, ErrorKind.AUTH)
    assert (b.state, b.retry_in) == (OPEN, 3600)
    clock.advance(3599)
    assert b.state is OPEN
    clock.advance(1)
    assert b.state is HALF_OPEN


def test_a_hold_keeps_it_open_whatever_answers_come_meanwhile(clock: FakeClock) -> None:
    moves: Moves = []
    b = breaker(clock, moves, threshold=3, cooldown=30)
    assert b.acquire()  # a call under way when the provider said to back off
    b.hold(120, "error 4: IP blocked")
    assert (b.state, b.retry_in, b.held) == (OPEN, 120, (120, "error 4: IP blocked"))
    b.record(OK)  # its answer came later: the hold stands
    b.record(DOWN)
    assert (b.state, b.accepting, b.failures) == (OPEN, False, 1)
    b.hold(10, "shorter")  # never shortens one in force
    assert (b.state, b.held) == (OPEN, (120, "error 4: IP blocked"))
    clock.advance(119)
    assert (b.state, b.held) == (OPEN, (1, "error 4: IP blocked"))
    clock.advance(1)
    assert (b.state, b.held) == (HALF_OPEN, None)
    assert b.acquire()
    b.record(OK)
    assert b.state is CLOSED
    assert moves == [("p", CLOSED, OPEN), ("p", OPEN, HALF_OPEN), ("p", HALF_OPEN, CLOSED)]


def test_a_cooldown_never_ends_a_hold_early(clock: FakeClock) -> None:
    b = breaker(clock, threshold=1, cooldown=30, auth_cooldown=60)
    b.hold(300, "held")
    b.record(ERROR, ErrorKind.AUTH)
    assert b.retry_in == 300
    clock.advance(300)
    assert b.acquire()  # the probe after the hold fails: the usual cooldown from now
    b.record(DOWN)
    assert (b.state, b.retry_in, b.held) == (OPEN, 60, None)


def test_a_lost_probe_frees_the_way_for_another(clock: FakeClock) -> None:
    b = breaker(clock, threshold=1, probe_timeout=60)
    fail(b, 1)
    clock.advance(30)
    assert b.acquire()
    clock.advance(59)
    assert not b.acquire()
    clock.advance(1)  # its caller was cancelled and never recorded it
    assert b.acquire()
    b.abandon()  # or said so
    assert (b.probing, b.acquire()) == (False, True)


def test_a_failing_listener_never_reaches_the_caller(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(name: str, old: BreakerState, new: BreakerState) -> None:
        raise RuntimeError("listener bug")

    b = Breaker("p", BreakerSettings(threshold=1), clock, on_change=broken)
    fail(b, 1)
    assert b.state is OPEN
    assert "breaker listener failed on closed -> open" in caplog.text


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"threshold": 0}, "'threshold' must be >= 1: 0"),
        ({"cooldown": 0.0}, "'cooldown' must be > 0.0: 0.0"),
        ({"cooldown": 60.0, "max_cooldown": 30.0}, "max_cooldown (30s) is below cooldown (60s)"),
    ],
)
def test_settings_are_checked(settings: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=r".") as raised:
        BreakerSettings(**settings)
    assert str(raised.value) == error


# -- through a Router ------------------------------------------------------------------------


class StateChanges:
    """A plugin recording every ``smsrouter_provider_state_changed`` event."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    @hookimpl
    def smsrouter_provider_state_changed(self, provider: str, old: str, new: str) -> None:
        """Record the move."""
        self.seen.append((provider, old, new))


@pytest.fixture
async def pair(clock: FakeClock) -> AsyncIterator[tuple[Router, StateChanges]]:
    """A Router preferring ``primary`` over ``backup``, both fake, on the fake clock."""
    changes = StateChanges()
    config = {
        "router": {"policy": ["priority"], "on_ambiguous": "failover"},
        "providers": {
            "primary": {"plugin": "fake", "priority": 1},
            "backup": {"plugin": "fake", "priority": 2},
        },
    }
    r = Router(config, plugins=[router.testing, changes], clock=clock)
    await r.start(track_balances=False)
    yield r, changes
    await r.aclose()


def fake(r: Router, name: str) -> FakeProvider:
    provider = r.provider(name)
    assert isinstance(provider, FakeProvider)
    return provider


async def sent_by(r: Router) -> str | None:
    """Send one message; the provider that took it."""
    result = await r.send(Message(to=AU, text="hi"))
    return result[AU].provider


def breaker_metric(r: Router, name: str) -> dict[str, float | None]:
    return {
        s.value: r.metrics.registry.get_sample_value(
            "smsrouter_provider_breaker_state", {"provider": name, "state": s.value}
        )
        for s in BreakerState
    }


async def until(condition: Callable[[], bool]) -> None:
    """Let background tasks (event hooks) run until *condition* holds."""
    for _ in range(100):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def test_traffic_leaves_a_failing_provider_and_returns_after_a_probe(
    pair: tuple[Router, StateChanges], clock: FakeClock
) -> None:
    r, changes = pair
    primary, backup = fake(r, "primary"), fake(r, "backup")
    breaker_of = r.providers["primary"].breaker
    primary.script(DOWN, MAYBE, DOWN)
    assert breaker_metric(r, "primary") == {"closed": 1, "open": 0, "half_open": 0}
    assert [await sent_by(r) for _ in range(3)] == ["backup"] * 3
    assert breaker_of.state is OPEN
    assert breaker_metric(r, "primary") == {"closed": 0, "open": 1, "half_open": 0}
    route = r.route(Message(to=AU, text="hi")).routes[0]
    assert route.providers == ("backup",)
    assert [(e.provider, e.policy, e.reason) for e in route.excluded] == [
        ("primary", "breaker", "circuit breaker is open")
    ]
    assert await sent_by(r) == "backup"
    assert len(primary.batches) == 3
    clock.advance(30)
    assert breaker_of.state is HALF_OPEN
    assert breaker_metric(r, "primary") == {"closed": 0, "open": 0, "half_open": 1}
    # The probe succeeds: traffic is back on the preferred provider.
    assert [await sent_by(r) for _ in range(3)] == ["primary"] * 3
    assert breaker_of.state is CLOSED
    assert breaker_metric(r, "primary") == {"closed": 1, "open": 0, "half_open": 0}
    assert (len(primary.batches), len(backup.batches)) == (6, 4)
    await until(lambda: len(changes.seen) == 3)
    assert changes.seen == [
        ("primary", "closed", "open"),
        ("primary", "open", "half_open"),
        ("primary", "half_open", "closed"),
    ]
    assert breaker_metric(r, "backup") == {"closed": 1, "open": 0, "half_open": 0}


async def test_a_failed_probe_reopens_for_twice_as_long(
    pair: tuple[Router, StateChanges], clock: FakeClock
) -> None:
    r, changes = pair
    primary = fake(r, "primary")
    breaker_of = r.providers["primary"].breaker
    primary.script(DOWN, DOWN, DOWN, DOWN)
    for _ in range(3):
        assert await sent_by(r) == "backup"
    clock.advance(30)
    assert await sent_by(r) == "backup"  # the probe failed over
    assert (breaker_of.state, breaker_of.retry_in) == (OPEN, 60)
    assert len(primary.batches) == 4
    clock.advance(60)
    assert await sent_by(r) == "primary"
    await until(lambda: len(changes.seen) == 5)
    assert [new for _, _, new in changes.seen] == [
        "open",
        "half_open",
        "open",
        "half_open",
        "closed",
    ]


async def test_half_open_lets_one_probe_through(
    pair: tuple[Router, StateChanges], clock: FakeClock
) -> None:
    r, _ = pair
    primary = fake(r, "primary")
    primary.script(DOWN, DOWN, DOWN)
    for _ in range(3):
        await sent_by(r)
    clock.advance(30)
    gate = asyncio.Event()
    send = primary.send

    async def slow_send(batch: Any) -> Any:
        await gate.wait()
        return await send(batch)

    primary.send = slow_send  # type: ignore[method-assign]
    probe = asyncio.create_task(sent_by(r))
    await until(lambda: r.providers["primary"].breaker.probing)
    # While the probe is out, the others go to the backup.
    assert [await sent_by(r) for _ in range(2)] == ["backup", "backup"]
    gate.set()
    assert await probe == "primary"
    assert r.providers["primary"].breaker.state is CLOSED


async def test_a_login_failure_keeps_the_provider_out_for_long(
    pair: tuple[Router, StateChanges], clock: FakeClock
) -> None:
    r, changes = pair
    primary = fake(r, "primary")
    primary.config = type(primary.config)(kind=ErrorKind.AUTH)
    primary.script(ERROR)
    assert await sent_by(r) == "backup"
    breaker_of = r.providers["primary"].breaker
    assert (breaker_of.state, breaker_of.retry_in) == (OPEN, 3600)
    clock.advance(3599)
    assert await sent_by(r) == "backup"
    assert len(primary.batches) == 1
    await until(lambda: len(changes.seen) == 1)
    assert changes.seen == [("primary", "closed", "open")]


@pytest.mark.parametrize(
    ("kind", "retry_after", "held_for"),
    [
        (ErrorKind.THROTTLED, None, 90.0),  # the provider's throttle_hold
        (ErrorKind.THROTTLED, 7.0, 7.0),  # what the provider said
        (ErrorKind.OTHER, None, None),  # any other provider error is the provider working
    ],
)
async def test_a_provider_that_says_we_call_too_often_is_held(
    clock: FakeClock, kind: ErrorKind, retry_after: float | None, held_for: float | None
) -> None:
    config = {
        "router": {"policy": ["priority"]},
        "providers": {
            "primary": {"plugin": "fake", "priority": 1, "throttle_hold": "90s"},
            "backup": {"plugin": "fake", "priority": 2},
        },
    }
    r = Router(config, plugins=[router.testing], clock=clock)
    await r.start(track_balances=False)
    try:
        state = r.providers["primary"]
        answer = [
            RecipientOutcome(AU, ERROR, reason="slow down", kind=kind, retry_after=retry_after)
        ]
        hold_if_throttled(state, answer)
        held = state.breaker.held
        assert held == (None if held_for is None else (held_for, "slow down"))
        if held_for is not None:
            assert await sent_by(r) == "backup"
            clock.advance(held_for)
        assert await sent_by(r) == "primary"
    finally:
        await r.aclose()
