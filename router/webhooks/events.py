"""What a webhook receiver gets: events built from what happened, posted as signed JSON.

An :class:`Event` is what happened (a delivery report, an inbound message, a failed
recipient, a provider's breaker moving), built from it by the ``*_event`` functions below.

A post is the JSON ``{"id", "type", "created_at", "data"}`` with the headers
``Smsrouter-Event-Id``, ``Smsrouter-Event-Type`` and ``Smsrouter-Signature: t=<unix
time>,v1=<hex>``, the hex being HMAC-SHA256 with the secret over ``"<t>." + body``. A receiver
checks the MAC, refuses an old ``t`` (a replay), and de-duplicates on the event id: an event
may come more than once, and events may come in any order.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from typing import Any

import attrs

from router.model import DeliveryReport, EventType, InboundMessage, Message, RecipientResult
from router.store import MessageRecord

__all__ = [
    "EVENT_ID_HEADER",
    "EVENT_TYPE_HEADER",
    "SIGNATURE_HEADER",
    "Event",
    "EventType",
    "event_body",
    "failed_event",
    "inbound_event",
    "report_event",
    "sign",
    "state_event",
    "verify",
]

SIGNATURE_HEADER = "Smsrouter-Signature"
EVENT_ID_HEADER = "Smsrouter-Event-Id"
EVENT_TYPE_HEADER = "Smsrouter-Event-Type"


@attrs.frozen
class Event:
    """Something to tell the user's application, as its receivers get it."""

    id: str
    """Stable across retries: receivers de-duplicate on it."""
    type: EventType
    created_at: float
    data: Mapping[str, Any] = attrs.field(hash=False)
    """The event's normalised fields, JSON-ready."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for *body* posted at *timestamp*."""
    mac = hmac.new(secret.encode(), b"%d." % timestamp + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, now: float, tolerance: float = 300.0) -> bool:
    """Whether *header* signs *body* with *secret* within *tolerance* seconds of *now*."""
    fields = dict(part.strip().partition("=")[::2] for part in header.split(","))
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).partition(",v1=")[2]
    return hmac.compare_digest(expected, fields.get("v1", ""))


def event_body(event: Event) -> bytes:
    """The JSON a receiver gets: what is signed."""
    envelope = {
        "id": event.id,
        "type": event.type.value,
        "created_at": event.created_at,
        "data": event.data,
    }
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


def _event_id(*parts: object) -> str:
    # The same report or text pushed twice gets the same id, journalled (and posted) once.
    return "evt_" + hashlib.sha256(repr(parts).encode()).hexdigest()[:24]


def report_event(
    report: DeliveryReport,
    message_id: str | None,
    ref: str | None,
    record: MessageRecord | None,
    now: float,
) -> Event:
    """A ``delivery_report`` event for the message and recipient the journal matched it to
    (*message_id*, *ref*; None for none); *record* is that message's journal entry."""
    recipients = () if record is None else record.recipients
    target = next((r for r in recipients if r.ref == ref), None)
    data = {
        "message_id": message_id,
        "reference": None if record is None else record.reference,
        "recipient": report.recipient if target is None else target.recipient,
        "provider": report.provider,
        "provider_message_id": report.provider_message_id,
        "status": report.status.value,
        "raw_status": report.raw_status,
        "error_code": report.error_code,
        "description": report.description,
        "part": None if report.part is None else list(report.part),
        "at": report.at,
    }
    kind = EventType.DELIVERY_REPORT
    return Event(_event_id(kind.value, repr(report)), kind, now, data)


def inbound_event(message: InboundMessage, answers: MessageRecord | None, now: float) -> Event:
    """An ``inbound_message`` event; *answers* is our message it replies to, if known."""
    kind = EventType.INBOUND_MESSAGE
    if message.provider_message_id is None:
        # Two texts alike from one number are two texts: only a provider's id tells a repeat.
        event_id = "evt_" + secrets.token_hex(12)
    else:
        event_id = _event_id(kind.value, message.provider, message.provider_message_id)
    data = {
        "provider": message.provider,
        "from": message.sender,
        "to": message.recipient,
        "text": message.text,
        "provider_message_id": message.provider_message_id,
        "in_reply_to": None if answers is None else answers.id,
        "in_reply_to_reference": None if answers is None else answers.reference,
        "at": message.at,
    }
    return Event(event_id, kind, now, data)


def failed_event(message: Message, recipient: RecipientResult, now: float) -> Event:
    """A ``message_failed`` event for one recipient no provider took."""
    last = recipient.attempts[-1] if recipient.attempts else None
    data = {
        "message_id": message.id,
        "reference": message.reference,
        "recipient": recipient.recipient,
        "provider": recipient.provider or (None if last is None else last.provider),
        "status": recipient.status.value,
        "raw_status": None if last is None else last.reason,
        "attempts": [
            {"provider": a.provider, "outcome": a.outcome.value, "reason": a.reason, "at": a.at}
            for a in recipient.attempts
        ],
        "at": now if last is None else last.at,
    }
    kind = EventType.MESSAGE_FAILED
    return Event(_event_id(kind.value, message.id, recipient.ref), kind, now, data)


def state_event(provider: str, old: str, new: str, now: float) -> Event:
    """A ``provider_state`` event: a provider's circuit breaker moved."""
    data = {"provider": provider, "old": old, "new": new, "at": now}
    return Event("evt_" + secrets.token_hex(12), EventType.PROVIDER_STATE, now, data)
