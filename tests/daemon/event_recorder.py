"""A plugin the test daemons load by name (``router.plugins``): it writes events to a file."""

from __future__ import annotations

import json
import os

from router import DeliveryReport, InboundMessage, hookimpl


def _write(event: dict[str, object]) -> None:
    with open(os.environ["SMSROUTER_TEST_EVENTS"], "a", encoding="utf-8") as out:
        out.write(json.dumps(event) + "\n")


@hookimpl
def smsrouter_inbound_message(message: InboundMessage) -> None:
    """Record an inbound message."""
    _write(
        {
            "event": "inbound",
            "from": message.sender,
            "to": message.recipient,
            "text": message.text,
            "provider": message.provider,
        }
    )


@hookimpl
def smsrouter_delivery_report(report: DeliveryReport, message_id: str | None) -> None:
    """Record a delivery report."""
    _write(
        {
            "event": "dlr",
            "message_id": message_id,
            "status": report.status.value,
            "provider": report.provider,
        }
    )
