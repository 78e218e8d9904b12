"""Webhooks: events posted back to the user's application, signed, at least once.

Each ``[[webhooks]]`` entry names a receiver URL, the events it wants and a secret. The
whole feature lives here:

* :mod:`~router.webhooks.events`: what a receiver gets, how it is built and signed;
* :mod:`~router.webhooks.journal`: where events wait (the contract, and in memory);
* :mod:`~router.webhooks.sqlite`: the daemon's journal, a SQLite file of its own;
* :mod:`~router.webhooks.service`: the worker that posts, retries and counts;
* :mod:`~router.webhooks.plugin`: the event hooks each Router calls;
* :mod:`~router.webhooks.routes`: ``/v1/events`` for the daemon.
"""

from __future__ import annotations

from router.webhooks.events import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    Event,
    EventType,
    event_body,
    failed_event,
    inbound_event,
    report_event,
    sign,
    state_event,
    verify,
)
from router.webhooks.journal import Delivery, DeliveryState, EventJournal, MemoryEventJournal
from router.webhooks.plugin import WebhookPlugin
from router.webhooks.service import WebhookService, retry_at
from router.webhooks.sqlite import SQLiteEventJournal, events_path, open_event_journal

__all__ = [
    "EVENT_ID_HEADER",
    "EVENT_TYPE_HEADER",
    "SIGNATURE_HEADER",
    "Delivery",
    "DeliveryState",
    "Event",
    "EventJournal",
    "EventType",
    "MemoryEventJournal",
    "SQLiteEventJournal",
    "WebhookPlugin",
    "WebhookService",
    "event_body",
    "events_path",
    "failed_event",
    "inbound_event",
    "open_event_journal",
    "report_event",
    "retry_at",
    "sign",
    "state_event",
    "verify",
]
