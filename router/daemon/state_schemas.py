"""The JSON Schemas of what the daemon shows of its state: providers, plugins, inbound texts,
webhook events, health. Components of its OpenAPI document, built as
:mod:`router.daemon.schemas` builds the message bodies."""

from __future__ import annotations

from typing import Any

from router.daemon.admin_schemas import ADMIN_SCHEMAS, SUSPENDED
from router.daemon.quality_schemas import PROVIDER_COUNTRIES, QUALITY
from router.daemon.schemas import (
    NEXT,
    NULLABLE,
    STRING,
    described,
    enum_of,
    list_of,
    object_of,
    ref,
)
from router.model import EventType
from router.state import BreakerState
from router.webhooks import DeliveryState

_NAME = described("The provider, by configured name", STRING)
_SECONDS_OR_NULL = {"type": ["number", "null"]}

_LIMITS = object_of(
    "The provider account's budget, as configured (or the plugin's own)",
    {
        "concurrency": described(
            "Calls in flight at once, over every operation; null for no cap",
            type=["integer", "null"],
        ),
        "rates": described(
            'Calls allowed per window, by operation (send, balance, status): "10/60s"',
            type="object",
            additionalProperties=STRING,
        ),
        "wait_seconds": described(
            "How long a call waits for its slot before it is unavailable", type="number"
        ),
    },
)
_PROVIDER = object_of(
    "One configured provider's live state",
    {
        "name": _NAME,
        "plugin": described("Its provider type (the plugin key of its table)", STRING),
        "breaker": described(
            "Its circuit breaker: closed (in use), open (skipped) or half_open (one probe)",
            enum_of(BreakerState),
        ),
        "hold": object_of(
            "The provider asked us to back off: its breaker is held open this much longer "
            "(null when not held)",
            {
                "seconds_left": described("Seconds until it is tried again", type="number"),
                "reason": described("What the provider said", STRING),
            },
            null=True,
        ),
        "balance": object_of(
            "Its last known balance, or null before the first read",
            {
                "amount": described("The amount, as a decimal string", STRING),
                "unit": described(
                    "credits (SMS Broadcast, SMS Office) or a currency code (SMS Central: "
                    "AUD; SMSC: the account's)",
                    STRING,
                ),
                "age_seconds": described("How long ago it was read", type="number"),
            },
            null=True,
        ),
        "in_flight": described("Calls to it under way now", type="integer"),
        "limits": _LIMITS,
        "suspended": SUSPENDED,
        **PROVIDER_COUNTRIES,
    },
)
_PROVIDERS = object_of(
    "Every enabled provider",
    {"providers": list_of("Each provider, in config order", _PROVIDER)},
)
_PLUGIN = object_of(
    "One loaded plugin",
    {
        "name": described("Its name: an entry point's, or a module's dotted name", STRING),
        "version": described("Its distribution's version, when it has one", NULLABLE),
        "hooks": list_of("The hooks it implements", STRING),
        "providers": list_of("The provider types it registered", STRING),
        "policies": list_of("The routing policies it registered", STRING),
    },
)
_PLUGINS = object_of("Every loaded plugin", {"plugins": list_of("Each plugin", _PLUGIN)})
_INBOUND_MESSAGE = object_of(
    "A text someone sent to one of our numbers",
    {
        "id": described("Its id in the journal (the order received)", type="integer"),
        "provider": described("The provider that pushed it", STRING),
        "from": described("Who sent it, in E.164", STRING),
        "to": described("Our number it was sent to, in E.164", STRING),
        "text": described("The text", STRING),
        "received_at": described("When it arrived (Unix seconds)", type="number"),
        "in_reply_to": described("The id of the message of ours it answers, when known", NULLABLE),
    },
)
_INBOUND = object_of(
    "One page of inbound messages, newest first",
    {"items": list_of("The messages", _INBOUND_MESSAGE), "next": NEXT},
)
_EVENT = object_of(
    "One webhook event's delivery to one webhook",
    {
        "id": described("The event's id (the same for each webhook it goes to)", STRING),
        "type": described("What happened", enum_of(EventType)),
        "webhook": described("The webhook it goes to, by configured name", STRING),
        "state": described("pending (to be posted), delivered, or dead", enum_of(DeliveryState)),
        "attempts": described("Posts tried so far", type="integer"),
        "created_at": described("When the event happened (Unix seconds)", type="number"),
        "queued_at": described("When it was queued for this webhook (Unix seconds)", type="number"),
        "next_at": described("When it is posted next; null when it is not", _SECONDS_OR_NULL),
        "last_at": described("When it was last posted; null before the first", _SECONDS_OR_NULL),
        "last_status": described(
            "The HTTP status of the last post; null without one", type=["integer", "null"]
        ),
        "last_error": described("Why the last post failed, when it did", NULLABLE),
        "delivered_at": described("When a post succeeded; null before", _SECONDS_OR_NULL),
        "data": described("The event's fields, as its receiver gets them", type="object"),
    },
)
_EVENTS = object_of(
    "One page of webhook events, newest first",
    {"items": list_of("The events", ref("WebhookEvent")), "next": NEXT},
)
_REQUEUED = object_of(
    "Dead letters queued to be posted again, due now",
    {
        "requeued": described("How many were re-queued", type="integer", minimum=1),
        "items": list_of("Each of them, as it is now", ref("WebhookEvent")),
    },
)
_HEALTH = object_of(
    "Whether the daemon is up, and can send",
    {
        "status": described(
            "ok; stopping while it shuts down; degraded (answered 503) while the shared"
            " live state cannot be reached, when sends fail over as unavailable",
            enum=["ok", "stopping", "degraded"],
        ),
        "problems": described(
            "What is wrong while degraded", {"type": "array", "items": {"type": "string"}}
        ),
    },
    required=["status"],
)

STATE_SCHEMAS: dict[str, Any] = {
    "Providers": _PROVIDERS,
    "Provider": _PROVIDER,
    **ADMIN_SCHEMAS,
    "Plugins": _PLUGINS,
    "InboundPage": _INBOUND,
    "WebhookEvent": _EVENT,
    "WebhookEventPage": _EVENTS,
    "Requeued": _REQUEUED,
    "Health": _HEALTH,
    "Quality": QUALITY,
}
"""Each state body's schema by its name in ``#/components/schemas``."""
