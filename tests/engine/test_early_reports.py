"""Delivery reports that arrive before their attempt is journalled are held, then applied."""

from __future__ import annotations

import asyncio
from typing import Any

import router.testing
from router import CallbackKind, CallbackRequest, DeliveryReport, DeliveryStatus, Message, Router
from router.engine.callbacks import LOOK_AGAIN, MAX_AGE, EarlyReports
from router.store import MemoryStore
from router.testing import FakeClock


def report(pmid: str | None, ref: str | None = None, provider: str = "a") -> DeliveryReport:
    return DeliveryReport(
        provider=provider,
        status=DeliveryStatus.DELIVERED,
        raw_status="Delivered",
        provider_message_id=pmid,
        ref=ref,
    )


def test_held_reports_are_taken_by_any_key_oldest_first() -> None:
    early = EarlyReports()
    first, second = report("p1"), report(None, ref="m-0")
    assert early.hold(first, 10.0)
    assert early.hold(second, 11.0)
    assert not early.hold(report(None), 12.0)
    assert len(early) == 2
    assert early.take("b", ("p1", "m-0"), 12.0) == []
    assert early.take("a", ("p1", "m-0", None), 12.0) == [(10.0, first), (11.0, second)]
    assert len(early) == 0


def test_held_reports_are_bounded_in_number_and_age() -> None:
    early = EarlyReports(max_held=2, max_age=60.0)
    for n in range(3):
        early.hold(report(f"p{n}"), 0.0)
    assert len(early) == 2
    assert early.dropped == 1
    assert early.take("a", ("p0",), 1.0) == []
    assert early.take("a", ("p2",), 61.0) == []
    assert early.dropped == 3


async def test_a_report_before_its_attempt_is_applied_when_the_attempt_is_journalled(
    clock: FakeClock,
) -> None:
    config: dict[str, Any] = {"providers": {"a": {"plugin": "fake"}}}
    seen: list[tuple[str | None, str]] = []

    class Recorder:
        @router.hookimpl
        def smsrouter_delivery_report(self, report: DeliveryReport, message_id: str | None) -> None:
            seen.append((message_id, report.status.value))

    async with Router(config, plugins=[router.testing, Recorder()], clock=clock) as r:
        message = Message(to="+61412345678", text="fast report", id="0123456789abcdef")
        early_push = CallbackRequest("GET", query={"id": "a-1", "status": "delivered"})
        await r.handle_callback("a", CallbackKind.DLR, early_push)
        assert seen == []
        await r.send(message)
        record = await r.store.get(message.id)
        assert record is not None
        assert record.recipients[0].delivery is DeliveryStatus.DELIVERED
        assert seen == [(message.id, "delivered")]


class SharedMemoryStore(MemoryStore):
    """A memory journal two Routers share as a fleet's instances share PostgreSQL."""

    shared = True


async def test_in_a_shared_journal_a_report_before_another_instance_s_attempt_lands() -> None:
    clock = FakeClock(autojump=False)
    store = SharedMemoryStore()
    config: dict[str, Any] = {"providers": {"a": {"plugin": "fake"}}}
    fleet = [Router(config, plugins=[router.testing], clock=clock, store=store) for _ in "ab"]
    sender, other = fleet
    for member in fleet:
        await member.start()
    try:
        early_push = CallbackRequest("GET", query={"id": "a-1", "status": "delivered"})
        await other.handle_callback("a", CallbackKind.DLR, early_push)  # before the send
        message = Message(to="+61412345678", text="fast report", id="0123456789abcdef")
        await sender.send(message)  # journalled by the other instance: nothing released here
        assert len(other.callbacks.early) == 1

        async def delivered() -> bool:
            record = await store.get(message.id)
            assert record is not None
            return record.recipients[0].delivery is DeliveryStatus.DELIVERED

        for _ in range(50):
            clock.advance(LOOK_AGAIN)
            await asyncio.sleep(0)
            if await delivered():
                break
        assert await delivered()
        assert len(other.callbacks.early) == 0
    finally:
        for member in fleet:
            await member.aclose()


async def test_a_held_report_keeps_its_age_while_it_is_looked_for_again() -> None:
    clock = FakeClock(autojump=False)
    config: dict[str, Any] = {"providers": {"a": {"plugin": "fake"}}}
    r = Router(config, plugins=[router.testing], clock=clock, store=SharedMemoryStore())
    await r.start()
    try:
        push = CallbackRequest("GET", query={"id": "a-404", "status": "delivered"})
        await r.handle_callback("a", CallbackKind.DLR, push)
        for _ in range(int(MAX_AGE / LOOK_AGAIN) + 5):
            clock.advance(LOOK_AGAIN)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        assert len(r.callbacks.early) == 0, "a report looked for again must still age out"
    finally:
        await r.aclose()
