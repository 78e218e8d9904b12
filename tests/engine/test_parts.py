"""The engine's parts, each built from its own dependencies, with no Router around them."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import attrs
import pytest

import router.testing
from router import (
    Balance,
    CallbackKind,
    CallbackRequest,
    DeliveryReport,
    DeliveryStatus,
    Message,
    Outcome,
    ProviderContext,
    RecipientStatus,
    hookimpl,
)
from router.config import Config, parse_config
from router.engine.balances import BalanceTracker
from router.engine.callbacks import Callbacks
from router.engine.calls import ProviderCalls
from router.engine.decide import Decider
from router.engine.metrics import Metrics
from router.engine.prepare import prepare
from router.engine.providers import ProviderState
from router.engine.send import SendLoop
from router.plugins import PluginHost
from router.policy import PolicyChain
from router.state import MemoryState
from router.store import MemoryStore
from router.testing import FakeClock, FakeProvider

AU = "+61412345678"


class Recorder:
    """Every balance and delivery report the event hooks were told of."""

    def __init__(self) -> None:
        self.balances: list[tuple[str, Balance]] = []
        self.reports: list[tuple[DeliveryReport, str | None, str | None]] = []

    @hookimpl
    def smsrouter_balance_updated(self, provider: str, balance: Balance) -> None:
        self.balances.append((provider, balance))

    @hookimpl
    def smsrouter_delivery_report(
        self, report: DeliveryReport, message_id: str | None, ref: str | None
    ) -> None:
        self.reports.append((report, message_id, ref))


@attrs.define
class Parts:
    """What the Router would wire: here wired by the test, nothing more."""

    config: Config
    states: dict[str, ProviderState]
    store: MemoryStore
    metrics: Metrics
    recorder: Recorder
    balances: BalanceTracker
    callbacks: Callbacks
    loop: SendLoop
    decider: Decider


@pytest.fixture
async def parts(clock: FakeClock) -> AsyncIterator[Parts]:
    recorder = Recorder()
    host = PluginHost.load(extra=[router.testing, recorder], autoload=False)
    providers: dict[str, Any] = {
        "one": {"plugin": "fake", "script": ["provider_error"], "balance": 12},
        "two": {"plugin": "fake"},
    }
    config = parse_config({"providers": providers}, host)
    live, metrics, events = MemoryState(clock), Metrics(config.providers), host.events
    store = MemoryStore()
    async with aiohttp.ClientSession() as session:
        states = {}
        for index, (name, settings) in enumerate(config.providers.items()):
            context = ProviderContext(name, session, logging.getLogger(f"test.{name}"))
            states[name] = ProviderState(
                settings,
                FakeProvider(settings.options, context),
                live.budget(name, settings.limits),
                live.breaker(name, lambda *_: None),
                index,
            )
        calls = ProviderCalls(metrics, clock)
        balances = BalanceTracker(
            providers=states, calls=calls, metrics=metrics, events=events, clock=clock
        )
        callbacks = Callbacks(
            providers=states,
            store=store,
            metrics=metrics,
            events=events,
            pushes=live.pushes(),
            clock=clock,
        )
        loop = SendLoop(
            settings=config.router,
            providers=states,
            store=store,
            calls=calls,
            balances=balances,
            callbacks=callbacks,
            metrics=metrics,
            events=events,
            clock=clock,
        )
        decider = Decider(states, PolicyChain([]), config.router, clock)
        yield Parts(config, states, store, metrics, recorder, balances, callbacks, loop, decider)


async def send(parts: Parts, message: Message) -> Any:
    prepared = prepare(message, providers=parts.states, region=None)
    text = prepared.text
    await parts.store.add(message, prepared.recipients, text.encoding, text.segments, 0.0)
    return await parts.loop.deliver(prepared, parts.decider.routes(prepared))


async def test_the_send_loop_fails_over_along_the_routes_it_is_given(parts: Parts) -> None:
    result = await send(parts, Message(to=AU, text="hello"))

    (recipient,) = result.recipients
    assert recipient.status is RecipientStatus.ACCEPTED
    assert recipient.provider == "two"
    assert [a.outcome for a in recipient.attempts] == [Outcome.PROVIDER_ERROR, Outcome.ACCEPTED]
    record = await parts.store.get(result.message_id)
    assert record is not None
    assert [a.provider for a in record.recipients[0].attempts] == ["one", "two"]


async def test_the_balance_tracker_reads_through_the_calls_and_announces(
    parts: Parts, clock: FakeClock
) -> None:
    balance = await parts.balances.refresh("one")

    assert balance.amount == Decimal(12)
    assert parts.states["one"].balance == balance
    assert parts.recorder.balances == [("one", balance)]
    measured = parts.metrics.registry.get_sample_value(
        "smsrouter_provider_request_duration_seconds_count",
        {"provider": "one", "operation": "balance"},
    )
    assert measured == 1  # through the calls, like a send


async def test_callbacks_match_a_report_once_and_hand_its_recipient(parts: Parts) -> None:
    result = await send(parts, Message(to=AU, text="hello"))
    (recipient,) = result.recipients
    push = CallbackRequest(
        "GET", query={"id": recipient.provider_message_id or "", "status": "delivered"}
    )

    await parts.callbacks.handle("two", CallbackKind.DLR, push)
    await parts.callbacks.handle("two", CallbackKind.DLR, push)  # the provider's repeat

    ((report, message_id, ref),) = parts.recorder.reports
    assert report.status is DeliveryStatus.DELIVERED
    assert (message_id, ref) == (result.message_id, recipient.ref)
    record = await parts.store.get(result.message_id)
    assert record is not None
    assert record.recipients[0].delivery is DeliveryStatus.DELIVERED
