"""The webhook service in process, on a fake clock, posting to a real receiver on loopback.

The Router here is the library one with fake providers; the webhook plugin is registered
with it as the daemon registers it, so each event goes the whole way: engine, hook,
journal, worker, signed post.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

import router.testing
from router.clock import Clock, SystemClock
from router.config import Config
from router.engine import Router
from router.errors import NoRouteError, StoreError
from router.model import CallbackKind, CallbackRequest, Message
from router.store import MemoryStore
from router.testing import FakeClock
from router.webhooks import (
    DeliveryState,
    EventJournal,
    EventType,
    MemoryEventJournal,
    SQLiteEventJournal,
    WebhookPlugin,
    WebhookService,
    state_event,
)
from tests.webhooks import readme_receiver
from tests.webhooks.support import EVENTS_PATH, WEBHOOK_SECRET, Receiver, free_port

AU = "+61412345678"
ALL_EVENTS = ["delivery_report", "inbound_message", "message_failed", "provider_state"]


class Highest(random.Random):
    """Jitter that always draws the top of its range, so waits are exact."""

    def uniform(self, a: float, b: float) -> float:
        return b


def webhook(url: str, name: str = "app", **extra: Any) -> dict[str, Any]:
    """A ``[[webhooks]]`` table."""
    return {"name": name, "url": url, "events": ALL_EVENTS, "secret": WEBHOOK_SECRET, **extra}


@asynccontextmanager
async def running(
    clock: Clock,
    session: aiohttp.ClientSession,
    hooks: list[dict[str, Any]],
    outcome: str = "accepted",
    journal: EventJournal | None = None,
) -> AsyncIterator[tuple[Router, WebhookService, WebhookPlugin]]:
    """A Router with one fake provider, ``one``, and the webhook service on its hooks."""
    store = MemoryStore()
    service = WebhookService(
        store, clock, journal=journal or MemoryEventJournal(), session=session, rng=Highest()
    )
    plugin = WebhookPlugin()
    config = {"providers": {"one": {"plugin": "fake", "outcome": outcome}}, "webhooks": hooks}
    sms = Router(config, plugins=[router.testing, plugin], clock=clock, store=store)
    plugin.bind(sms.config, service)
    service.configure(sms.config)
    await sms.start(track_balances=False)
    await service.start(worker=False)
    service.watch(sms.metrics)
    try:
        yield sms, service, plugin
    finally:
        await service.stop()
        await sms.aclose()


def push(**params: str) -> CallbackRequest:
    """A fake provider's push."""
    return CallbackRequest("GET", query=params)


def outcomes(sms: Router) -> dict[str, float]:
    """``smsrouter_webhook_events_total`` by outcome, read off the exposition."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(sms.metrics.exposition().decode()):
        if family.name == "smsrouter_webhook_events":
            assert family.type == "counter"
            for sample in family.samples:
                assert sample.name == "smsrouter_webhook_events_total"
                found[sample.labels["outcome"]] = sample.value
    return found


async def test_a_delivery_report_reaches_the_receiver_signed_once(
    clock: FakeClock, session: aiohttp.ClientSession, receiver: Receiver
) -> None:
    async with running(clock, session, [webhook(receiver.url)]) as (sms, service, _):
        sent = await sms.send(Message(to=AU, text="Hello", reference="order-1"))
        assert outcomes(sms) == {"delivered": 0, "retried": 0, "dead": 0}
        report = push(id="one-1", status="delivered")
        await sms.handle_callback("one", CallbackKind.DLR, report)
        clock.advance(2)
        await service.deliver_due()
        (post,) = receiver.posts
        assert post.verified
        assert post.answered == 200
        event = post.event
        assert event == {
            "id": event["id"],
            "type": "delivery_report",
            "created_at": clock.now - 2,
            "data": {
                "message_id": sent.message_id,
                "reference": "order-1",
                "recipient": AU,
                "provider": "one",
                "provider_message_id": "one-1",
                "status": "delivered",
                "raw_status": "delivered",
                "error_code": None,
                "description": "",
                "part": None,
                "at": None,
            },
        }
        assert event["id"].startswith("evt_")
        assert post.headers["Smsrouter-Event-Id"] == event["id"]
        assert post.headers["Smsrouter-Event-Type"] == "delivery_report"
        assert post.headers["Content-Type"] == "application/json"
        assert post.headers["Smsrouter-Signature"].startswith(f"t={int(clock.now)},v1=")

        # The provider pushes the same report again: it is the same event, posted once.
        await sms.handle_callback("one", CallbackKind.DLR, report)
        await service.deliver_due()
        assert len(receiver.posts) == 1
        assert service.journal is not None
        (row,) = await service.journal.list()
        assert (row.state, row.attempts, row.last_status) == (DeliveryState.DELIVERED, 1, 200)
        assert outcomes(sms) == {"delivered": 1, "retried": 0, "dead": 0}


async def test_an_inbound_reply_names_the_message_it_answers(
    clock: FakeClock, session: aiohttp.ClientSession, receiver: Receiver
) -> None:
    async with running(clock, session, [webhook(receiver.url)]) as (sms, service, _):
        sent = await sms.send(Message(to=AU, text="Coming?", reference="invite-9"))
        text = {"from": "+61400111222", "to": "+61400000000", "text": "YES"}
        await sms.handle_callback("one", CallbackKind.INBOUND, push(ref=sent.message_id, **text))
        await sms.handle_callback("one", CallbackKind.INBOUND, push(**text))
        await service.deliver_due()
        first, second = (p.event for p in receiver.posts)
        assert first["type"] == "inbound_message"
        assert first["data"] == {
            "provider": "one",
            "from": "+61400111222",
            "to": "+61400000000",
            "text": "YES",
            "provider_message_id": None,
            "in_reply_to": sent.message_id,
            "in_reply_to_reference": "invite-9",
            "at": None,
        }
        # Two texts alike without a provider's id are two texts, not a repeat.
        assert second["id"] != first["id"]
        assert second["data"]["in_reply_to"] is None
        assert all(p.verified for p in receiver.posts)


async def test_failed_recipients_and_breaker_moves_are_events(
    clock: FakeClock, session: aiohttp.ClientSession, receiver: Receiver
) -> None:
    hooks = [webhook(receiver.url, events=["message_failed", "provider_state"])]
    async with running(clock, session, hooks, outcome="unavailable") as (sms, service, plugin):
        with pytest.raises(NoRouteError):
            await sms.send(Message(to=AU, text="Hello", reference="order-2", id="m2"))
        hook = plugin.smsrouter_provider_state_changed("one", "closed", "open")
        assert hook is not None
        await hook
        # A delivery report is not asked for: the hook journals nothing and returns nothing.
        report = push(ref="m2-0", status="failed")
        await sms.handle_callback("one", CallbackKind.DLR, report)
        await service.deliver_due()
        failed, state = (p.event for p in receiver.posts)
        assert failed["type"] == "message_failed"
        assert failed["data"] == {
            "message_id": "m2",
            "reference": "order-2",
            "recipient": AU,
            "provider": "one",
            "status": "failed",
            "raw_status": "scripted unavailable",
            "attempts": [
                {
                    "provider": "one",
                    "outcome": "unavailable",
                    "reason": "scripted unavailable",
                    "at": clock.now,
                }
            ],
            "at": clock.now,
        }
        assert state["type"] == "provider_state"
        assert state["data"] == {"provider": "one", "old": "closed", "new": "open", "at": clock.now}
        assert len(receiver.posts) == 2


async def test_a_rejected_recipient_is_a_failed_message(
    clock: FakeClock, session: aiohttp.ClientSession, receiver: Receiver
) -> None:
    hooks = [webhook(receiver.url, events=["message_failed"])]
    async with running(clock, session, hooks, outcome="rejected_recipient") as (sms, service, _):
        result = await sms.send(Message(to=AU, text="Hello", id="m3"))
        assert result["+61412345678"].status.value == "rejected"
        await service.deliver_due()
        (post,) = receiver.posts
        assert (post.event["data"]["status"], post.event["data"]["provider"]) == ("rejected", "one")


async def test_a_failing_receiver_gets_retries_then_a_dead_letter_that_is_requeued(
    clock: FakeClock, session: aiohttp.ClientSession, receiver: Receiver
) -> None:
    receiver.status = 500
    hooks = [webhook(receiver.url, backoff="1s", max_backoff="4s", max_age="10s")]
    async with running(clock, session, hooks) as (sms, service, _):
        journal = service.journal
        assert journal is not None
        start = clock.now
        await service.enqueue(state_event("one", "closed", "open", clock.now))
        while True:
            await service.deliver_due()
            due = await journal.next_due(after=clock.now)
            if due is None:
                break
            clock.now = due
        stamps = [int(p.headers["Smsrouter-Signature"][2:12]) - int(start) for p in receiver.posts]
        assert stamps == [0, 1, 3, 7, 10]
        assert all(p.verified and p.answered == 500 for p in receiver.posts)
        assert len({p.event["id"] for p in receiver.posts}) == 1
        (dead,) = await journal.list(state=DeliveryState.DEAD)
        assert (dead.attempts, dead.last_status, dead.last_error) == (5, 500, "HTTP 500")
        assert (dead.next_at, dead.last_at) == (None, start + 10)
        assert outcomes(sms) == {"delivered": 0, "retried": 4, "dead": 1}

        clock.advance(3600)
        receiver.status = 204
        assert await service.requeue(dead.event.id) == 1
        assert await service.requeue(dead.event.id) == 0
        await service.deliver_due()
        (row,) = await journal.deliveries(dead.event.id)
        assert (row.state, row.attempts, row.last_status) == (DeliveryState.DELIVERED, 6, 204)
        assert row.delivered_at == clock.now
        assert len(receiver.posts) == 6
        assert outcomes(sms) == {"delivered": 1, "retried": 4, "dead": 1}
        exposition = sms.metrics.exposition().decode()
        assert receiver.url not in exposition
        assert WEBHOOK_SECRET not in exposition


async def test_timeouts_and_refused_connections_are_retried(
    clock: FakeClock, session: aiohttp.ClientSession, receiver: Receiver
) -> None:
    receiver.hold = asyncio.Event()
    closed = f"http://127.0.0.1:{free_port()}/hook?token=hidden"
    hooks = [webhook(receiver.url, "slow", timeout="50ms"), webhook(closed, "gone")]
    async with running(clock, session, hooks) as (_, service, _):
        await service.enqueue(state_event("one", "closed", "open", clock.now))
        await service.deliver_due()
        assert service.journal is not None
        slow, gone = await service.journal.list(webhook="slow") + await service.journal.list(
            webhook="gone"
        )
        assert (slow.state, slow.last_status, slow.last_error) == (
            DeliveryState.PENDING,
            None,
            "no answer within 0.05s",
        )
        assert (gone.state, gone.last_status) == (DeliveryState.PENDING, None)
        assert gone.last_error is not None
        assert gone.last_error.startswith("cannot connect (")
        assert "hidden" not in gone.last_error
        assert (slow.next_at, gone.next_at) == (clock.now + 1, clock.now + 1)
        receiver.hold.set()


async def test_a_slow_receiver_never_holds_up_sending(
    clock: FakeClock, session: aiohttp.ClientSession, receiver: Receiver
) -> None:
    receiver.hold = asyncio.Event()
    hooks = [webhook(receiver.url, events=["message_failed"], concurrency=1)]
    async with running(clock, session, hooks, outcome="rejected_recipient") as (sms, service, _):
        await sms.send(Message(to=AU, text="first"))
        posting = asyncio.ensure_future(service.deliver_due())
        await receiver.first_post.wait()
        for n in range(5):
            # Each send journals its event and returns while the receiver still hangs.
            await asyncio.wait_for(sms.send(Message(to=AU, text=f"then {n}")), 5)
        assert service.journal is not None
        assert len(await service.journal.list(state=DeliveryState.PENDING)) == 6
        assert receiver.posts == []
        receiver.hold.set()
        await posting
        assert len(receiver.taken()) == 6
        assert receiver.most_at_once == 1


async def test_a_removed_webhook_keeps_its_events_until_max_age(
    clock: FakeClock, session: aiohttp.ClientSession, receiver: Receiver
) -> None:
    async with running(clock, session, [webhook(receiver.url)]) as (_, service, _):
        await service.enqueue(state_event("one", "closed", "open", clock.now))
        service.configure(Config())
        assert not service.wants(EventType.PROVIDER_STATE)
        await service.deliver_due()
        assert receiver.posts == []
        assert service.journal is not None
        (row,) = await service.journal.list()
        assert (row.state, row.last_error) == (
            DeliveryState.PENDING,
            "no webhook named 'app' is configured",
        )
        assert row.next_at == clock.now + 1


async def test_the_sqlite_journal_keeps_pending_events_for_the_next_start(
    clock: FakeClock, session: aiohttp.ClientSession, receiver: Receiver, tmp_path: Path
) -> None:
    path = tmp_path / "j.events.db"
    hooks = [webhook(receiver.url)]
    receiver.status = 503
    async with running(clock, session, hooks, journal=SQLiteEventJournal(path)) as (_, first, _):
        await first.enqueue(state_event("one", "closed", "open", clock.now))
        await first.deliver_due()
    receiver.status = 200
    clock.advance(5)
    async with running(clock, session, hooks, journal=SQLiteEventJournal(path)) as (_, again, _):
        await again.deliver_due()
    assert [p.answered for p in receiver.posts] == [503, 200]
    assert len({p.event["id"] for p in receiver.posts}) == 1


async def test_the_readme_receiver_takes_a_signed_event_once(
    session: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(readme_receiver, "SECRET", WEBHOOK_SECRET)
    monkeypatch.setattr(readme_receiver, "seen", set())
    app = web.Application()
    app.router.add_post(EVENTS_PATH, readme_receiver.receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}{EVENTS_PATH}"
    try:
        hooks = [
            webhook(url, "one"),
            webhook(url, "again"),
            webhook(url, "forged", secret="not-the-secret-0123456789"),
        ]
        async with running(SystemClock(), session, hooks) as (_, service, _):
            event = state_event("one", "closed", "open", 1.0)
            await service.enqueue(event)
            await service.deliver_due()
            assert service.journal is not None
            rows = {d.webhook: d for d in await service.journal.list()}
    finally:
        await runner.cleanup()
    assert {name: row.last_status for name, row in rows.items()} == {
        "one": 204,
        "again": 204,
        "forged": 401,
    }
    assert rows["forged"].state is DeliveryState.PENDING
    assert capsys.readouterr().out == (
        "provider_state {'provider': 'one', 'old': 'closed', 'new': 'open', 'at': 1.0}\n"
    )


def test_watching_two_routers_shows_one_counter_each(clock: FakeClock) -> None:
    service = WebhookService(MemoryStore(), clock)
    first, second = (Router({}, clock=clock) for _ in range(2))
    for sms in (first, second, first):
        service.watch(sms.metrics)
    service.counts["dead"] += 1
    for sms in (first, second):
        assert outcomes(sms) == {"delivered": 0, "retried": 0, "dead": 1}


class FailingJournal(MemoryEventJournal):
    """An event journal whose disk fails for its first *failures* reads of what is due."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.asked: list[float] = []

    async def due(self, now: float, *, limit: int, skip: Any = ()) -> list[Any]:
        self.asked.append(now)
        if len(self.asked) <= self.failures:
            raise StoreError("FailingJournal", "disk I/O error", retry_after=7.0)
        return await super().due(now, limit=limit, skip=skip)


async def test_a_failing_journal_is_asked_again_after_its_retry_after_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    journal = FailingJournal(failures=3)
    service = WebhookService(MemoryStore(), clock, journal=journal)
    await service.start()
    try:
        for _ in range(200):  # the fake clock jumps over every sleep
            if len(journal.asked) > 3:
                break
            await asyncio.sleep(0)
    finally:
        await service.stop()
    assert len(journal.asked) > 3
    gaps = [b - a for a, b in zip(journal.asked, journal.asked[1:4], strict=False)]
    assert gaps == [7.0, 7.0, 7.0]
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
