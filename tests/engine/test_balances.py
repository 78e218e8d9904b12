"""The balance tracker: polls, back-off, jitter, staleness, draw-down and the no-credit path."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import AsyncIterator, Callable, Mapping
from decimal import Decimal
from typing import Any

import pytest

import router.testing
from router import Message, hookimpl
from router.engine import Router
from router.errors import ProviderRejectedError, ProviderUnavailableError
from router.model import Balance, Batch, ErrorKind, Outcome, RecipientOutcome
from router.provider import Operation
from router.testing import FakeClock, FakeProvider

AU, AU2, AU3 = "+61412345678", "+61412345679", "+61412345670"
T0 = FakeClock().now


class Fixed(random.Random):
    """A random source whose jitter is always *value*."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def uniform(self, a: float, b: float) -> float:
        return self.value


class BalanceEvents:
    """A plugin recording every ``smsrouter_balance_updated`` event."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Balance]] = []

    @hookimpl
    def smsrouter_balance_updated(self, provider: str, balance: Balance) -> None:
        """Record the balance."""
        self.seen.append((provider, balance))


def fake(**options: Any) -> dict[str, Any]:
    return {"plugin": "fake", **options}


Factory = Callable[..., Any]


@pytest.fixture
async def started(clock: FakeClock) -> AsyncIterator[Factory]:
    """Start Routers of fake providers (on *clock*, or the one given) and close them after."""
    routers: list[Router] = []

    async def start(
        providers: Mapping[str, Mapping[str, Any]],
        *,
        track: bool = False,
        on: FakeClock | None = None,
        rng: random.Random | None = None,
        plugins: tuple[object, ...] = (),
        **settings: Any,
    ) -> Router:
        settings.setdefault("policy", ["priority"])
        config = {"router": settings, "providers": dict(providers)}
        r = Router(config, plugins=[router.testing, *plugins], clock=on or clock)
        r.balances.rng = rng or Fixed(1.0)
        await r.start(track_balances=track)
        routers.append(r)
        return r

    yield start
    for r in routers:
        await r.aclose()


def adapter(r: Router, name: str) -> FakeProvider:
    provider = r.provider(name)
    assert isinstance(provider, FakeProvider)
    return provider


def sample(r: Router, metric: str, **labels: str) -> float | None:
    return r.metrics.registry.get_sample_value(metric, labels)


async def slept(clock: FakeClock, times: int) -> None:
    """Let the loop run until it has slept *times* times."""
    await until(lambda: len(clock.slept) == times)


async def until(condition: Callable[[], bool]) -> None:
    """Let the loop's tasks run until *condition* holds."""
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


# -- polling ---------------------------------------------------------------------------------


async def test_a_poll_stores_the_balance_and_counts_it(started: Factory, clock: FakeClock) -> None:
    events = BalanceEvents()
    r = await started({"a": fake(balance=100)}, plugins=(events,))
    clock.advance(7)
    assert await r.balances.poll_once("a") == 300
    expected = Balance(Decimal(100), "credits", T0 + 7)
    assert r.providers["a"].balance == expected
    assert events.seen == [("a", expected)]
    assert sample(r, "smsrouter_provider_balance", provider="a", unit="credits") == 100
    assert sample(r, "smsrouter_provider_balance_messages", provider="a") == 100
    assert sample(r, "smsrouter_provider_balance_last_success_timestamp_seconds", provider="a") == (
        T0 + 7
    )
    assert sample(r, "smsrouter_balance_polls_total", provider="a", outcome="success") == 1
    assert sample(r, "smsrouter_balance_polls_total", provider="a", outcome="error") == 0
    assert adapter(r, "a").balance_calls == 1


async def test_a_failing_poll_backs_off_doubling_up_to_the_interval(
    started: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = await started({"a": fake(balance=100, balance_interval="5m")})

    async def down() -> Balance:
        raise ProviderUnavailableError("HTTP 503", provider="a")

    monkeypatch.setattr(adapter(r, "a"), "balance", down)
    delays = [await r.balances.poll_once("a") for _ in range(9)]
    assert delays == [5, 10, 20, 40, 80, 160, 300, 300, 300]
    assert (r.balances.failures["a"], r.providers["a"].balance) == (9, None)
    assert sample(r, "smsrouter_balance_polls_total", provider="a", outcome="error") == 9
    monkeypatch.undo()
    assert await r.balances.poll_once("a") == 300
    assert r.balances.failures["a"] == 0
    # A later failure starts again from the shortest back-off.
    monkeypatch.setattr(adapter(r, "a"), "balance", down)
    assert await r.balances.poll_once("a") == 5


async def test_back_off_never_overflows(started: Factory, monkeypatch: pytest.MonkeyPatch) -> None:
    r = await started({"a": fake(balance=100)})

    async def down() -> Balance:
        raise ProviderUnavailableError("HTTP 503", provider="a")

    monkeypatch.setattr(adapter(r, "a"), "balance", down)
    r.balances.failures["a"] = 5000  # days of failures: 2.0 ** 5000 would overflow
    assert await r.balances.poll_once("a") == 300


async def test_a_short_interval_caps_the_back_off(
    started: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = await started({"a": fake(balance=100, balance_interval="3s")})

    async def down() -> Balance:
        raise ProviderUnavailableError("HTTP 503", provider="a")

    monkeypatch.setattr(adapter(r, "a"), "balance", down)
    assert [await r.balances.poll_once("a") for _ in range(2)] == [3, 3]


async def test_a_retry_after_on_a_poll_holds_balance_calls_not_sends(
    started: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = await started({"a": fake(balance=100)})

    async def throttled() -> Balance:
        raise ProviderUnavailableError("HTTP 429", provider="a", retry_after=30)

    monkeypatch.setattr(adapter(r, "a"), "balance", throttled)
    assert await r.balances.poll_once("a") == 5
    budget = r.providers["a"].budget
    assert budget.ready_in(Operation.BALANCE) == 30
    assert budget.ready_in(Operation.SEND) == 0
    assert budget.blocked_for == 0


@pytest.mark.parametrize(("jitter", "delay"), [(0.9, 270), (1.1, 330)])
async def test_jitter_is_within_a_tenth_of_the_interval(
    started: Factory, jitter: float, delay: float
) -> None:
    r = await started({"a": fake(balance=100)}, rng=Fixed(jitter))
    assert await r.balances.poll_once("a") == pytest.approx(delay, abs=1e-9)


async def test_jitter_spreads_polls(started: Factory) -> None:
    r = await started({"a": fake(balance=100)}, rng=random.Random(7))
    delays = [await r.balances.poll_once("a") for _ in range(200)]
    assert all(270 <= d <= 330 for d in delays)
    assert min(delays) < 280
    assert max(delays) > 320


# -- the loop --------------------------------------------------------------------------------


async def test_whatever_a_provider_raises_its_loop_goes_on(
    started: Factory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(autojump=False)
    answers: list[Any] = [
        RuntimeError("adapter bug"),
        ProviderRejectedError("Login Failed", provider="a", kind=ErrorKind.AUTH),
        "not a balance",
        Balance(Decimal(12), "credits"),
    ]

    async def balance() -> Any:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    r = await started({"a": fake(balance=100), "b": fake()}, track=True, on=clock)
    assert r.balances.running == ["a"]  # b reports no balance
    # Patched before the loop's first poll (it runs at the first await).
    monkeypatch.setattr(adapter(r, "a"), "balance", balance)
    await slept(clock, 1)
    for times in (2, 3, 4):
        clock.advance(clock.slept[-1])
        await slept(clock, times)
    assert clock.slept == [5, 10, 20, 300]
    assert r.balances.running == ["a"]
    assert r.providers["a"].balance == Balance(Decimal(12), "credits", clock.now)
    assert "balance poll failed (RuntimeError: adapter bug)" in caplog.text
    assert "(TypeError: balance() returned str, not a Balance)" in caplog.text
    await r.balances.stop()
    assert r.balances.running == []


async def test_start_is_idempotent_and_stop_ends_every_loop(started: Factory) -> None:
    clock = FakeClock(autojump=False)
    r = await started({"a": fake(balance=1), "b": fake(balance=2)}, track=True, on=clock)
    r.balances.start()
    await until(lambda: len(clock.slept) == 2)
    assert sorted(r.balances.running) == ["a", "b"]
    assert (adapter(r, "a").balance_calls, adapter(r, "b").balance_calls) == (1, 1)
    await r.balances.stop()
    assert r.balances.running == []


async def test_no_credit_wakes_an_early_poll_that_waits_its_turn_in_the_budget(
    started: Factory,
) -> None:
    clock = FakeClock(autojump=False)
    r = await started(
        {
            "a": fake(balance=100, kind="credit", rates={"balance": "1/1m"}),
            "b": fake(),
        },
        track=True,
        on=clock,
    )
    a = adapter(r, "a")
    await until(lambda: clock.slept == [300])
    assert a.balance_calls == 1
    clock.advance(10)
    a.script(Outcome.PROVIDER_ERROR)
    result = await r.send(Message(to=AU, text="hi"))
    assert result[AU].provider == "b"
    assert r.providers["a"].balance == Balance(Decimal(0), "credits", T0 + 10)
    # The loop woke at once, but SMSC-style rates hold: 1 balance call a minute.
    await until(lambda: len(clock.slept) == 2)
    assert clock.slept == [300, 50]
    assert a.balance_calls == 1
    assert r.route(Message(to=AU, text="hi")).routes[0].providers == ("b",)
    clock.advance(50)
    await until(lambda: a.balance_calls == 2)
    await until(lambda: len(clock.slept) == 3)
    assert r.providers["a"].balance == Balance(Decimal(100), "credits", T0 + 60)
    assert clock.slept[-1] == 300
    assert r.route(Message(to=AU, text="hi")).routes[0].providers == ("a", "b")
    # Waiting its turn is not a failed poll.
    assert sample(r, "smsrouter_balance_polls_total", provider="a", outcome="error") == 0
    assert sample(r, "smsrouter_balance_polls_total", provider="a", outcome="success") == 2


# -- what policies see -----------------------------------------------------------------------


def balance_keys(r: Router) -> list[tuple[str, object]]:
    route = r.route(Message(to=AU, text="hi")).routes[0]
    return [(c.provider, c.keys["balance"]) for c in route.candidates]


async def test_a_stale_balance_is_unknown_to_the_policies(
    started: Factory, clock: FakeClock
) -> None:
    r = await started(
        {"a": fake(balance=50), "b": fake(balance=80)},
        policy=["balance"],
        balance_stale_after="10m",
    )
    assert balance_keys(r) == [("a", "balance unknown"), ("b", "balance unknown")]
    await r.balances.poll_once("a")
    await r.balances.poll_once("b")
    assert balance_keys(r) == [("b", "affords 80 messages"), ("a", "affords 50 messages")]
    clock.advance(600)
    assert balance_keys(r) == [("b", "affords 80 messages"), ("a", "affords 50 messages")]
    clock.advance(1)
    assert balance_keys(r) == [("a", "balance unknown"), ("b", "balance unknown")]
    # The cached value stays (for the API and the gauge); only the policies ignore it.
    assert r.providers["b"].balance == Balance(Decimal(80), "credits", T0)
    await r.balances.poll_once("a")
    assert balance_keys(r) == [("a", "affords 50 messages"), ("b", "balance unknown")]


async def test_a_stale_zero_no_longer_excludes(started: Factory, clock: FakeClock) -> None:
    r = await started({"a": fake(balance=0), "b": fake()}, balance_stale_after="10m")
    await r.balances.poll_once("a")
    assert r.route(Message(to=AU, text="hi")).routes[0].providers == ("b",)
    clock.advance(601)
    assert r.route(Message(to=AU, text="hi")).routes[0].providers == ("a", "b")


async def test_each_balance_shows_its_unit_and_the_messages_it_pays_for(
    started: Factory,
) -> None:
    r = await started(
        {
            "credits": fake(balance=100),
            "dollars": fake(
                balance=90, balance_unit="AUD", currency="AUD", prices={"61": 0.05, "64": 0.09}
            ),
            "roubles": fake(balance=500, balance_unit="RUB", currency="AUD", prices={"7": 0.1}),
            "unpriced": fake(balance=20, balance_unit="ZAR", currency="ZAR"),
        },
        currencies={"ZAR": 0.083, "RUB": 0.019},
    )
    for name in r.providers:
        await r.balances.poll_once(name)

    def balance(provider: str) -> dict[str, float]:
        return {
            s.labels["unit"]: s.value
            for family in r.metrics.registry.collect()
            if family.name == "smsrouter_provider_balance"
            for s in family.samples
            if s.labels["provider"] == provider
        }

    assert balance("credits") == {"credits": 100}
    assert balance("dollars") == {"AUD": 90}  # the unknown-unit series went with the read
    assert balance("roubles") == {"RUB": 500}
    metric = "smsrouter_provider_balance_messages"
    messages = {n: sample(r, metric, provider=n) for n in r.providers}
    # At the dearest price (0.09 to New Zealand): the alert counts the worst case.
    assert messages["credits"] == 100
    assert messages["dollars"] == 1000
    # Roubles against prices in dollars, or no price at all: unknown, never a guess.
    assert [math.isnan(messages[n] or 0.0) for n in ("roubles", "unpriced")] == [True, True]


# -- draw-down -------------------------------------------------------------------------------


async def test_credits_drop_by_one_a_segment(started: Factory, clock: FakeClock) -> None:
    r = await started({"a": fake(balance=100)})
    await r.balances.poll_once("a")
    clock.advance(5)
    await r.send(Message(to=[AU, AU2, AU3], text="x" * 161))  # 2 segments each
    # An estimate keeps the time of the read it started from.
    assert r.providers["a"].balance == Balance(Decimal(94), "credits", T0)
    assert sample(r, "smsrouter_provider_balance", provider="a", unit="credits") == 94
    assert sample(r, "smsrouter_provider_balance_messages", provider="a") == 94


async def test_money_drops_by_the_price_of_the_segments(started: Factory, clock: FakeClock) -> None:
    r = await started({"a": fake(balance=10, balance_unit="AUD", prices={"61": 0.05})})
    await r.balances.poll_once("a")
    await r.send(Message(to=[AU, AU2], text="x" * 161))
    assert r.providers["a"].balance == Balance(Decimal("9.80"), "AUD", T0)


async def test_money_in_another_unit_or_without_a_price_waits_for_the_poll(
    started: Factory,
) -> None:
    r = await started(
        {
            "unpriced": fake(balance=10, balance_unit="AUD"),
            "rand": fake(balance=10, balance_unit="ZAR", prices={"61": 0.05}),
        },
        currencies={"ZAR": 0.08},
    )
    for name in r.providers:
        await r.balances.poll_once(name)
    await r.send(Message(to=AU, text="hi", providers=["unpriced"]))
    await r.send(Message(to=AU, text="hi", providers=["rand"]))
    assert r.providers["unpriced"].balance == Balance(Decimal(10), "AUD", T0)
    assert r.providers["rand"].balance == Balance(Decimal(10), "ZAR", T0)


async def test_an_estimate_stops_at_zero(started: Factory) -> None:
    r = await started({"a": fake(balance=1)})
    await r.balances.poll_once("a")
    r.balances.spent("a", 3, None, None)
    assert r.providers["a"].balance == Balance(Decimal(0), "credits", T0)


async def test_the_providers_own_balance_wins(
    started: Factory, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = BalanceEvents()
    r = await started({"a": fake(balance=100)}, plugins=(events,))
    await r.balances.poll_once("a")
    a = adapter(r, "a")

    async def send(batch: Batch) -> list[RecipientOutcome]:
        return [
            RecipientOutcome(x.e164, Outcome.ACCEPTED, "id-1", balance=Decimal("42.5"))
            for x in batch.recipients
        ]

    monkeypatch.setattr(a, "send", send)
    clock.advance(3)
    await r.send(Message(to=AU, text="hi"))
    told = Balance(Decimal("42.5"), "credits", T0 + 3)
    assert r.providers["a"].balance == told
    await until(lambda: len(events.seen) == 2)
    assert events.seen[-1] == ("a", told)


async def test_no_credit_sets_zero_and_excludes_the_provider(
    started: Factory, clock: FakeClock
) -> None:
    events = BalanceEvents()
    r = await started({"a": fake(balance=100, kind="credit"), "b": fake()}, plugins=(events,))
    await r.balances.poll_once("a")
    adapter(r, "a").script(Outcome.PROVIDER_ERROR)
    clock.advance(2)
    result = await r.send(Message(to=AU, text="hi"))
    assert [(x.provider, x.outcome, x.kind) for x in result[AU].attempts] == [
        ("a", Outcome.PROVIDER_ERROR, ErrorKind.CREDIT),
        ("b", Outcome.ACCEPTED, None),
    ]
    assert r.providers["a"].balance == Balance(Decimal(0), "credits", T0 + 2)
    route = r.route(Message(to=AU, text="hi")).routes[0]
    assert route.providers == ("b",)
    assert [(e.provider, e.policy) for e in route.excluded] == [("a", "balance")]
    await until(lambda: len(events.seen) == 2)
    assert events.seen[-1] == ("a", Balance(Decimal(0), "credits", T0 + 2))
