"""Webhook events follow the journal's rule: a report after a final status is no event.

Generated sequences of pushed statuses for one recipient, through a Router's callbacks and
the webhook plugin: the events announced are exactly the journal's changes, none after a
final status, and the last one is what the journal holds.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from hypothesis import given, settings
from hypothesis import strategies as st

import router.testing
from router import Message
from router.config import WebhookSettings
from router.engine import Router
from router.model import CallbackKind, CallbackRequest, DeliveryReport, DeliveryStatus, EventType
from router.redact import Secret
from router.testing import FakeClock
from router.webhooks import WebhookPlugin
from router.webhooks.service import WebhookService

AU = "+61412345678"


class Recorded:
    """Stands in for the webhook service: records the reports it is asked to journal."""

    def __init__(self) -> None:
        self.reports: list[tuple[DeliveryStatus, str | None]] = []

    async def on_report(
        self, report: DeliveryReport, message_id: str | None, ref: str | None, **_: Any
    ) -> None:
        """Record *report*'s status and the recipient it was matched to."""
        self.reports.append((report.status, ref))


async def _push(statuses: list[DeliveryStatus], clock: FakeClock) -> None:
    plugin, recorded = WebhookPlugin(), Recorded()
    r = Router(
        {"router": {"policy": ["priority"]}, "providers": {"a": {"plugin": "fake"}}},
        plugins=[router.testing, plugin],
        clock=clock,
    )
    hook = WebhookSettings(
        name="w", url="http://127.0.0.1:9/", events=(EventType.DELIVERY_REPORT,), secret=Secret("s")
    )
    plugin.webhooks, plugin.service = (hook,), cast(WebhookService, recorded)
    await r.start(track_balances=False)
    try:
        result = await r.send(Message(to=AU, text="hi"))
        ref = result[AU].ref
        for status in statuses:
            clock.advance(1)
            query = {"ref": ref, "status": status.value}
            await r.handle_callback("a", CallbackKind.DLR, CallbackRequest("GET", query=query))
        announced = [status for status, _ in recorded.reports]
        assert all(matched == ref for _, matched in recorded.reports)
        final = [i for i, status in enumerate(announced) if status.is_final]
        assert not final or final[0] == len(announced) - 1, announced
        assert announced == expected(statuses)
        record = await r.store.get(result.message_id)
        assert record is not None
        if final:  # the journal kept the first final status, and so did the events
            assert announced[-1] == record.recipients[0].delivery
    finally:
        await r.aclose()


def expected(statuses: list[DeliveryStatus]) -> list[DeliveryStatus]:
    """What is announced: each report once (a repeat is not), none after a final status."""
    out: list[DeliveryStatus] = []
    for status in statuses:
        if status in out:
            continue
        out.append(status)
        if status.is_final:
            break
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(list(DeliveryStatus)), min_size=1, max_size=8))
def test_no_event_contradicts_a_final_status(statuses: list[DeliveryStatus]) -> None:
    asyncio.run(_push(statuses, FakeClock()))
