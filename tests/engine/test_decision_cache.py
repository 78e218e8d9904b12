"""Remembered decisions give the answer a fresh decision gives, whatever moves in between.

Generated configs (prefixes, prices, currencies, priorities, capabilities) and generated
runs of steps: route a generated message, set or drop a balance, let time pass (balances
go stale, open breakers go half-open), fail or succeed calls (breakers open and close),
take a half-open probe. After every route the cached answer is compared with the answer
decided afresh (``Decider.routes(prepared, cached=False)``).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any, ClassVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import router.testing
from router import Message, Policy, PolicyRegistry, ProviderView, RoutingContext, hookimpl
from router.engine import Router
from router.model import Balance, Outcome
from router.store.admin import Suspension
from router.testing import FakeClock

PREFIXES = ("61", "614", "6141", "27", "278", "7", "79", "44", "447", "1", "1201")
NUMBERS = (
    "+61412345678",
    "+61412345679",
    "+61498765432",
    "+61401234567",
    "+27821234567",
    "+27831234567",
    "+79123456789",
    "+447400123456",
    "+447911123456",
    "+12015550123",
    "+14165550123",
)
TEXTS = ("hi", "x" * 170, "héllo ✓", "✓" * 80)
SENDERS = (None, "Shop", "61412000000", "LongSenderName"[:11])


def providers() -> st.SearchStrategy[dict[str, Any]]:
    table = st.fixed_dictionaries(
        {
            "plugin": st.just("fake"),
            "prefixes": st.lists(st.sampled_from(PREFIXES), max_size=3, unique=True),
            "prices": st.dictionaries(
                st.sampled_from(PREFIXES),
                st.decimals("0.01", "0.20", places=3).map(float),
                max_size=6,
            ),
            "currency": st.sampled_from(("AUD", "AUD", "ZAR", "EUR")),
            "priority": st.one_of(st.none(), st.integers(1, 3)),
            "unicode": st.booleans(),
            "max_parts": st.integers(1, 3),
        }
    ).map(lambda t: {k: v for k, v in t.items() if v is not None})
    return st.lists(table, min_size=1, max_size=5).map(
        lambda tables: {f"p{i}": t for i, t in enumerate(tables)}
    )


def messages() -> st.SearchStrategy[Message]:
    return st.builds(
        lambda to, text, sender, only: Message(to=to, text=text, sender=sender, providers=only),
        st.lists(st.sampled_from(NUMBERS), min_size=1, max_size=3, unique=True),
        st.sampled_from(TEXTS),
        st.sampled_from(SENDERS),
        st.one_of(st.none(), st.just(["p0"])),
    )


STEP = st.one_of(
    st.tuples(st.just("route"), messages()),
    st.tuples(st.just("balance"), st.integers(0, 4), st.sampled_from((0, 1, 3, 50, 10_000))),
    st.tuples(st.just("no balance"), st.integers(0, 4)),
    st.tuples(st.just("time"), st.sampled_from((1.0, 30.0, 400.0, 4000.0))),
    st.tuples(st.just("fail"), st.integers(0, 4), st.integers(1, 6)),
    st.tuples(st.just("succeed"), st.integers(0, 4)),
    st.tuples(st.just("probe"), st.integers(0, 4)),
    st.tuples(st.just("suspend"), st.integers(0, 4)),
    st.tuples(st.just("unsuspend"), st.integers(0, 4)),
)


def apply(r: Router, clock: FakeClock, step: tuple[Any, ...]) -> None:
    states = list(r.providers.values())
    kind = step[0]
    if kind == "time":
        clock.advance(step[1])
        return
    state = states[step[1] % len(states)]
    if kind == "balance":
        unit = "credits" if step[1] % 2 else state.settings.common.currency
        state.balance = Balance(Decimal(step[2]), unit, clock.now)
    elif kind == "no balance":
        state.balance = None
    elif kind == "fail":
        for _ in range(step[2]):
            if state.breaker.acquire():
                state.breaker.record(Outcome.UNAVAILABLE)
    elif kind == "succeed":
        if state.breaker.acquire():
            state.breaker.record(Outcome.ACCEPTED)
    elif kind == "suspend":
        state.suspended = Suspension(state.name, "maintenance", clock.now)
    elif kind == "unsuspend":
        state.suspended = None
    else:
        state.breaker.acquire()  # a half-open probe out: accepting is False meanwhile


def config(tables: dict[str, Any], chain: list[str]) -> dict[str, Any]:
    return {
        "router": {
            "policy": chain,
            "base_currency": "AUD",
            "currencies": {"ZAR": 0.083, "EUR": 1.6},
            "balance_stale_after": "10m",
        },
        "providers": tables,
    }


CHAINS = (["prefix", "cheapest", "balance"], ["priority"], ["balance", "prefix", "priority"])


async def scenario(tables: dict[str, Any], chain: list[str], steps: list[Any]) -> int:
    clock = FakeClock()
    r = Router(config(tables, chain), plugins=[router.testing], clock=clock, autoload=False)
    await r.start(track_balances=False)
    try:
        for step in steps:
            if step[0] != "route":
                apply(r, clock, step)
                continue
            prepared = r.prepare(step[1])
            cached = r.decider.routes(prepared)
            assert cached == r.decider.routes(prepared, cached=False), step
        return r.decider.decisions.hits
    finally:
        await r.aclose()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables=providers(), chain=st.sampled_from(CHAINS), steps=st.lists(STEP, max_size=30))
def test_cached_decisions_are_the_fresh_ones(
    tables: dict[str, Any], chain: list[str], steps: list[Any]
) -> None:
    asyncio.run(scenario(tables, chain, steps))


def test_a_destination_prefix_seen_before_is_answered_from_memory() -> None:
    tables = {
        "a": {"plugin": "fake", "prefixes": ["61"], "prices": {"614": 0.05}},
        "b": {"plugin": "fake", "prefixes": ["27"]},
    }
    route = ("route", Message(to="+61412345678", text="hi"))
    again = ("route", Message(to="+61498765432", text="hi"))
    assert asyncio.run(scenario(tables, ["prefix", "cheapest"], [route, again])) == 1
    # A balance moved between the two: decided afresh.
    moved = ("balance", 0, 10)
    assert asyncio.run(scenario(tables, ["prefix", "cheapest"], [route, moved, again])) == 0


class ByMessageId(Policy):
    """Keyed by message id: not cacheable (the default)."""

    name = "by_id"
    orders = True

    def key(self, ctx: RoutingContext, provider: ProviderView) -> int:
        return hash((ctx.recipient.ref, provider.name)) % 7


class Versioned(Policy):
    """Cacheable, with state of its own behind cache_version()."""

    name = "versioned"
    orders = True
    cacheable = True
    version: ClassVar[int] = 0

    def key(self, ctx: RoutingContext, provider: ProviderView) -> int:
        return (provider.index + self.version) % 3

    def cache_version(self) -> int:
        return self.version


class Policies:
    @hookimpl
    def smsrouter_register_policies(self, registry: PolicyRegistry) -> None:
        registry.add(ByMessageId)
        registry.add(Versioned)


async def hits_with(chain: list[str], bump: bool) -> tuple[int, bool]:
    tables = {name: {"plugin": "fake"} for name in ("a", "b", "c")}
    r = Router(
        config(tables, chain),
        plugins=[router.testing, Policies()],
        clock=FakeClock(),
        autoload=False,
    )
    await r.start(track_balances=False)
    try:
        same = True
        for index in range(4):
            if bump:
                Versioned.version = index
            prepared = r.prepare(Message(to="+61412345678", text="hi"))
            same &= r.decider.routes(prepared) == r.decider.routes(prepared, cached=False)
        return r.decider.decisions.hits, same
    finally:
        Versioned.version = 0
        await r.aclose()


def test_a_policy_that_is_not_cacheable_is_asked_every_time() -> None:
    assert asyncio.run(hits_with(["by_id", "priority"], bump=False)) == (0, True)


def test_a_policy_moving_its_version_drops_what_was_remembered() -> None:
    assert asyncio.run(hits_with(["versioned"], bump=False)) == (3, True)
    assert asyncio.run(hits_with(["versioned"], bump=True)) == (0, True)
