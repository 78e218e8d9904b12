"""A push the provider sends again is journalled once, and counted and announced once."""

from __future__ import annotations

from typing import Any

import router.testing
from router import (
    CallbackKind,
    CallbackRequest,
    DeliveryReport,
    InboundMessage,
    Message,
    Router,
    hookimpl,
)
from router.state import RecentPushes
from router.testing import FakeClock


async def test_recent_pushes_remember_a_bounded_number() -> None:
    pushes = RecentPushes(size=2)
    assert await pushes.first_time("a")
    assert not await pushes.first_time("a")
    assert await pushes.first_time("b")
    assert await pushes.first_time("c")  # forgets "a", the oldest
    assert await pushes.first_time("a")


async def test_a_repeated_report_and_inbound_are_announced_once(clock: FakeClock) -> None:
    seen: list[str] = []

    class Recorder:
        @hookimpl
        def smsrouter_delivery_report(self, report: DeliveryReport, message_id: str | None) -> None:
            seen.append(f"dlr {report.status} {message_id}")

        @hookimpl
        def smsrouter_inbound_message(self, message: InboundMessage) -> None:
            seen.append(f"inbound {message.text}")

    config: dict[str, Any] = {"providers": {"a": {"plugin": "fake"}}}
    async with Router(config, plugins=[router.testing, Recorder()], clock=clock) as sms:
        await sms.send(Message(to="+61412345678", text="hi", id="0123456789abcdef"))
        report = CallbackRequest("GET", query={"id": "a-1", "status": "delivered"})
        reply = CallbackRequest("GET", query={"from": "+61412345678", "to": "1", "text": "YES"})
        for _ in range(2):
            await sms.handle_callback("a", CallbackKind.DLR, report)
            await sms.handle_callback("a", CallbackKind.INBOUND, reply)
        exposition = sms.metrics.exposition().decode()
    assert seen == ["dlr delivered 0123456789abcdef", "inbound YES"]
    assert 'smsrouter_delivery_reports_total{provider="a",status="delivered"} 1.0' in exposition
    assert 'smsrouter_inbound_messages_total{provider="a"} 1.0' in exposition
