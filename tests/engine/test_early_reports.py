"""Delivery reports that arrive before their attempt is journalled are held, then applied."""

from __future__ import annotations

from typing import Any

import router.testing
from router import CallbackKind, CallbackRequest, DeliveryReport, DeliveryStatus, Message, Router
from router.engine.callbacks import EarlyReports
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
    assert early.take("a", ("p1", "m-0", None), 12.0) == [first, second]
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
