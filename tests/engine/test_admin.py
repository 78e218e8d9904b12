"""An operator's word on a provider: suspend, resume, reset, through the Router."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

import router.testing
from router import Message
from router.engine import Router
from router.errors import NoRouteError
from router.model import Batch, Outcome, RecipientOutcome
from router.state import BreakerState
from router.store import MemoryStore
from router.store.admin import AdminKind
from router.testing import FakeClock
from tests.engine.conftest import RouterFactory, fakes

AU = "+61412345678"


def config(*names: str) -> dict[str, Any]:
    """Fake providers in priority order."""
    providers: Mapping[str, Any] = {name: {"plugin": "fake"} for name in names}
    return {"router": {"policy": ["priority"]}, "providers": dict(providers)}


async def test_a_suspended_provider_is_excluded_with_the_operators_reason(
    started: RouterFactory,
) -> None:
    r = await started(config("first", "second"))

    await r.admin.suspend("first", "invoice unpaid")
    plan = r.route(Message(to=AU, text="Hi"))

    route = plan.routes[0]
    assert route.providers == ("second",)
    assert [(e.provider, e.policy, e.reason) for e in route.excluded] == [
        ("first", "suspended", "suspended by an operator: invoice unpaid")
    ]
    result = await r.send(Message(to=AU, text="Hi"))
    assert result[AU].provider == "second"
    assert len(fakes(r)["first"].batches) == 0


async def test_resume_lets_it_take_messages_again(started: RouterFactory) -> None:
    r = await started(config("first", "second"))
    await r.admin.suspend("first")
    assert r.route(Message(to=AU, text="Hi")).routes[0].excluded[0].reason == (
        "suspended by an operator"
    )

    await r.admin.resume("first", "paid")

    assert r.route(Message(to=AU, text="Hi")).routes[0].providers == ("first", "second")
    assert [(a.kind, a.reason) for a in await r.store.admin_actions()] == [
        (AdminKind.RESUME, "paid"),
        (AdminKind.SUSPEND, ""),
    ]


async def test_a_send_under_way_fails_over_past_a_provider_suspended_meanwhile(
    started: RouterFactory,
) -> None:
    r = await started(config("first", "second", "third"))
    first = fakes(r)["first"]
    original = first.send

    async def suspend_second_then_fail(batch: Batch) -> list[RecipientOutcome]:
        await r.admin.suspend("second", "maintenance")  # after the route was decided
        await original(batch)
        return [
            RecipientOutcome(n.e164, Outcome.PROVIDER_ERROR, "ERROR busy") for n in batch.recipients
        ]

    first.send = suspend_second_then_fail  # type: ignore[method-assign]
    result = await r.send(Message(to=AU, text="Hi"))

    assert result[AU].provider == "third"
    assert [a.provider for a in result[AU].attempts] == ["first", "third"]
    assert len(fakes(r)["second"].batches) == 0


async def test_with_every_provider_suspended_there_is_no_route_and_the_reason_says_why(
    started: RouterFactory,
) -> None:
    r = await started(config("only"))
    await r.admin.suspend("only", "carrier outage")

    with pytest.raises(NoRouteError) as caught:
        await r.send(Message(to=AU, text="Hi"))

    assert "suspended by an operator: carrier outage" in str(caught.value.reasons)


async def test_reset_closes_an_open_breaker_and_forgets_a_hold(
    started: RouterFactory, clock: FakeClock
) -> None:
    r = await started(config("first", "second"))
    breaker = r.providers["first"].breaker
    breaker.hold(600, "too many requests")
    assert breaker.state.value == "open"

    await r.admin.reset("first", "the provider says it is mended")

    assert breaker.state is BreakerState.CLOSED
    assert breaker.held is None
    assert breaker.failures == 0
    result = await r.send(Message(to=AU, text="Hi"))
    assert result[AU].provider == "first"


async def test_a_suspension_is_restored_by_a_router_on_the_same_journal(
    clock: FakeClock,
) -> None:
    store = MemoryStore()
    await store.open()
    async with Router(config("first", "second"), plugins=[router.testing], store=store) as one:
        await one.admin.suspend("first", "invoice unpaid")

    async with Router(config("first", "second"), plugins=[router.testing], store=store) as two:
        suspended = two.providers["first"].suspended
        assert suspended is not None
        assert suspended.reason == "invoice unpaid"
        assert two.route(Message(to=AU, text="Hi")).routes[0].providers == ("second",)
        exposition = two.metrics.exposition().decode()
        assert 'smsrouter_provider_suspended{provider="first"} 1.0' in exposition
        assert 'smsrouter_provider_suspended{provider="second"} 0.0' in exposition


async def test_an_unknown_provider_or_a_bad_reason_is_refused(started: RouterFactory) -> None:
    r = await started(config("first"))

    with pytest.raises(KeyError):
        await r.admin.suspend("nobody")
    with pytest.raises(ValueError, match="control character"):
        await r.admin.suspend("first", "bad\nreason")
    with pytest.raises(ValueError, match="longer than"):
        await r.admin.suspend("first", "x" * 501)
    assert await r.store.admin_actions() == []
    assert r.providers["first"].suspended is None
