"""Routers of one fleet on a real Redis: what one instance learns or is told, all know.

Two Routers, each with its own RedisState on one prefix (two instances), each with its own
journal: a push reaching both is counted and announced by one; an operator's suspension on
one holds on the other; an opt-out on one (API or an inbound STOP) refuses the number on the
other; one instance polls SMSC's balance, the other reads it, and when the poller dies the
other takes its turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest

import router.testing
from plugins.smsc.emulator import SMSCEmulator
from router import CallbackKind, CallbackRequest, DeliveryReport, Message, hookimpl
from router.clock import Clock, SystemClock
from router.engine import Router
from router.errors import NoRouteError
from router.model import RecipientStatus
from router.state.shared import RedisState
from router.store import MemoryStore, MessageStore
from router.testing import FakeClock
from tests.state.shared_support import until

MOBILE = "+61412345678"
Start = Callable[..., Awaitable[Router]]


class Reports:
    """A plugin recording every delivery report announced."""

    def __init__(self) -> None:
        self.seen: list[str | None] = []

    @hookimpl
    def smsrouter_delivery_report(self, report: DeliveryReport, message_id: str | None) -> None:
        self.seen.append(report.provider_message_id)


def fakes() -> dict[str, Any]:
    return {
        "router": {"policy": ["priority"]},
        "providers": {"a": {"plugin": "fake", "priority": 1}, "b": {"plugin": "fake"}},
    }


@pytest.fixture
async def instances(redis_url: str, redis_prefix: str) -> AsyncIterator[Start]:
    """Start Routers as instances of one fleet (each its own RedisState); closed after."""
    running: list[tuple[Router, RedisState]] = []

    async def start(
        config: dict[str, Any],
        *,
        clock: Clock | None = None,
        track: bool = False,
        plugins: tuple[object, ...] = (),
        turn: float | None = None,
        store: MessageStore | None = None,
    ) -> Router:
        clock = clock or FakeClock()
        state = RedisState(redis_url, prefix=redis_prefix, clock=clock)
        if turn is not None:
            state.balance_board().turn = turn
        await state.open()
        r = Router(
            config, plugins=[router.testing, *plugins], clock=clock, state=state, store=store
        )
        await r.start(track_balances=track)
        running.append((r, state))
        return r

    yield start
    for r, state in reversed(running):
        await r.aclose()
        await state.close()


async def test_a_report_pushed_to_two_instances_is_announced_once(instances: Start) -> None:
    reports, journal = Reports(), MemoryStore()  # one journal, as a fleet's PostgreSQL
    a = await instances(fakes(), plugins=(reports,), store=journal)
    b = await instances(fakes(), plugins=(reports,), store=journal)
    sent = await a.send(Message(to=MOBILE, text="hi"))
    pmid = sent[MOBILE].provider_message_id
    assert pmid is not None
    push = CallbackRequest("GET", query={"id": pmid, "status": "delivered"})
    await asyncio.gather(
        a.handle_callback("a", CallbackKind.DLR, push),
        b.handle_callback("a", CallbackKind.DLR, push),
    )
    assert reports.seen == [pmid]
    counted = [
        r.metrics.registry.get_sample_value(
            "smsrouter_delivery_reports_total", {"provider": "a", "status": "delivered"}
        )
        for r in (a, b)
    ]
    assert sorted(c or 0.0 for c in counted) == [0.0, 1.0]


async def test_a_suspension_on_one_instance_holds_on_the_other(instances: Start) -> None:
    a, b = await instances(fakes()), await instances(fakes())
    await a.admin.suspend("a", "maintenance")
    await until(lambda: b.providers["a"].suspended is not None)
    suspension = b.providers["a"].suspended
    assert suspension is not None
    assert suspension == a.providers["a"].suspended
    result = await b.send(Message(to=MOBILE, text="hi"))
    assert result[MOBILE].provider == "b"  # a is routed around on b too
    assert await b.store.admin_actions() == []  # journalled once, where it was asked
    await a.admin.resume("a")
    await until(lambda: b.providers["a"].suspended is None)
    assert (await b.send(Message(to=MOBILE, text="hi")))[MOBILE].provider == "a"


async def test_a_reset_on_one_instance_closes_the_breaker_on_the_other(instances: Start) -> None:
    a, b = await instances(fakes()), await instances(fakes())
    b.providers["a"].breaker.hold(600, "too many requests")
    await until(lambda: a.providers["a"].breaker.held is not None)
    await a.admin.reset("a", "mended")
    await until(lambda: b.providers["a"].breaker.held is None)
    assert b.providers["a"].breaker.accepting


async def test_an_opt_out_on_one_instance_refuses_the_number_on_the_other(
    instances: Start,
) -> None:
    a, b = await instances(fakes()), await instances(fakes())
    await a.compliance.optouts.add(MOBILE)
    await until(lambda: MOBILE in b.compliance.optouts)
    result = await b.send(Message(to=MOBILE, text="Sale"))
    assert (result[MOBILE].status, result[MOBILE].reason) == (RecipientStatus.REJECTED, "opted out")
    await a.compliance.optouts.remove(MOBILE)
    await until(lambda: MOBILE not in b.compliance.optouts)
    # An inbound STOP reaching the other instance is heard by the first.
    stop = {"from": MOBILE, "to": "+61400000000", "text": "STOP"}
    await b.handle_callback("a", CallbackKind.INBOUND, CallbackRequest("GET", query=stop))
    await until(lambda: MOBILE in a.compliance.optouts)


def smsc_config(url: str) -> dict[str, Any]:
    return {
        "router": {"default_region": "RU"},
        "providers": {
            "smsc": {
                "plugin": "smsc",
                "login": "demo",
                "psw": "demo-password",
                "base_url": url,
                "timeout": "5s",
                "balance_interval": "300ms",
            }
        },
    }


def polls(r: Router) -> float:
    found = r.metrics.registry.get_sample_value(
        "smsrouter_balance_polls_total", {"provider": "smsc", "outcome": "success"}
    )
    return found or 0.0


async def test_one_instance_polls_a_balance_the_others_read_and_a_death_hands_over(
    instances: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    smsc = SMSCEmulator(delivery_status=None)
    await smsc.start()
    try:
        config, clock = smsc_config(smsc.api_url), SystemClock()
        a = await instances(config, clock=clock, track=True, turn=0.3)
        b = await instances(config, clock=clock, track=True, turn=0.3)
        calls = smsc.counters.requests
        await until(lambda: calls["balance"] >= 3 and calls["balance"] == polls(a) + polls(b))
        assert sorted([polls(a) > 0, polls(b) > 0]) == [False, True]  # one poller
        poller, other = (a, b) if polls(a) else (b, a)
        await until(lambda: other.providers["smsc"].balance is not None)
        read = other.providers["smsc"].balance
        assert read is not None
        assert read.amount == smsc.accounts["demo"].balance
        assert read.at <= clock.time()  # the poller's read time, not the reader's

        # A send by the reader draws on the figure every instance sees.
        before = smsc.accounts["demo"].balance
        await other.send(Message(to="+79031234567", text="hi"))
        await until(lambda: poller.providers["smsc"].balance.amount < before)  # type: ignore[union-attr]

        # The poller dies without giving its turn up: it lapses, and the other polls.
        board = poller.balances.board
        assert board is not None
        monkeypatch.setattr(board, "give_up", _never)
        await poller.balances.stop()
        dead_at = polls(poller)
        await until(lambda: polls(other) > 0)
        await until(lambda: calls["balance"] == polls(a) + polls(b))
        assert polls(poller) == dead_at
        assert smsc.counters.violations["balance_rate"] == 0
    finally:
        await smsc.stop()


async def _never(provider: str) -> None:
    """A dead instance gives nothing up."""


async def test_a_poller_that_stops_hands_over_at_once(instances: Start) -> None:
    smsc = SMSCEmulator(delivery_status=None)
    await smsc.start()
    try:
        config, clock = smsc_config(smsc.api_url), SystemClock()
        a = await instances(config, clock=clock, track=True, turn=30.0)
        await until(lambda: polls(a) > 0)
        b = await instances(config, clock=clock, track=True, turn=30.0)
        await a.balances.stop()  # its turn is given up: b need not wait 30 s
        await until(lambda: polls(b) > 0)
        assert polls(b) >= 1
        assert b.providers["smsc"].balance.amount == smsc.accounts["demo"].balance  # type: ignore[union-attr]
    finally:
        await smsc.stop()


async def test_a_no_credit_answer_on_a_reader_wakes_the_poller(instances: Start) -> None:
    smsc = SMSCEmulator(delivery_status=None)
    await smsc.start()
    try:
        config, clock = smsc_config(smsc.api_url), SystemClock()
        config["providers"]["smsc"]["balance_interval"] = "60s"
        poller = await instances(config, clock=clock, track=True, turn=0.3)
        await until(lambda: polls(poller) == 1)
        reader = await instances(config, clock=clock, track=True, turn=0.3)
        await until(lambda: reader.providers["smsc"].balance is not None)
        smsc.accounts["demo"].balance = Decimal(0)
        with pytest.raises(NoRouteError):
            await reader.send(Message(to="+79031234567", text="hi"))
        await until(lambda: polls(poller) == 2)  # asked for early, long before its 60 s
        assert polls(reader) == 0
        await until(lambda: poller.providers["smsc"].balance.amount == 0)  # type: ignore[union-attr]
    finally:
        await smsc.stop()
