"""The JSON Schemas of the daemon's ``/v1`` bodies: the components of its OpenAPI document.

Every list of allowed values is read off its enum, so the document cannot drift from what
the daemon writes.
"""

from __future__ import annotations

import enum
from typing import Any

from router.daemon.admin_schemas import admin_schemas
from router.model import Encoding, EventType, Outcome, RecipientStatus
from router.state import BreakerState
from router.store import MessageState
from router.webhooks import DeliveryState


def _enum(kind: type[enum.StrEnum]) -> dict[str, list[str]]:
    """The schema of one of *kind*'s values."""
    return {"enum": [member.value for member in kind]}


_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "field"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": ["string", "null"]},
                "reasons": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "result": {"$ref": "#/components/schemas/SendResult"},
    },
}
_ATTEMPT = {
    "type": "object",
    "required": ["provider", "outcome", "reason", "provider_message_id", "kind", "at"],
    "properties": {
        "provider": {"type": "string"},
        "outcome": _enum(Outcome),
        "reason": {"type": "string"},
        "provider_message_id": {"type": ["string", "null"]},
        "kind": {"type": ["string", "null"]},
        "at": {"type": "number"},
    },
}
_STATUS = _enum(RecipientStatus)
_RECIPIENT = {
    "type": "object",
    "required": ["to", "ref", "status", "provider", "provider_message_id", "cost", "attempts"],
    "properties": {
        "to": {"type": "string"},
        "ref": {"type": "string"},
        "status": _STATUS,
        "provider": {"type": ["string", "null"]},
        "provider_message_id": {"type": ["string", "null"]},
        "cost": {"type": ["string", "null"]},
        "attempts": {"type": "array", "items": {"$ref": "#/components/schemas/Attempt"}},
    },
}
_RESULT = {
    "type": "object",
    "required": ["id", "reference", "ok", "duplicate", "encoding", "segments", "recipients"],
    "properties": {
        "id": {"type": "string"},
        "reference": {"type": ["string", "null"]},
        "ok": {"type": "boolean"},
        "duplicate": {"type": "boolean"},
        "encoding": _enum(Encoding),
        "segments": {"type": "integer"},
        "recipients": {"type": "array", "items": {"$ref": "#/components/schemas/Recipient"}},
    },
}
_RECORD = {
    "type": "object",
    "required": [
        "id",
        "reference",
        "state",
        "text",
        "sender",
        "encoding",
        "segments",
        "created_at",
        "recipients",
    ],
    "properties": {
        "id": {"type": "string"},
        "reference": {"type": ["string", "null"]},
        "state": _enum(MessageState),
        "text": {"type": "string"},
        "sender": {"type": ["string", "null"]},
        "encoding": _enum(Encoding),
        "segments": {"type": "integer"},
        "created_at": {"type": "number"},
        "recipients": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "to",
                    "ref",
                    "status",
                    "provider",
                    "provider_message_id",
                    "cost",
                    "attempts",
                    "delivery",
                ],
                "properties": {
                    "to": {"type": "string"},
                    "ref": {"type": "string"},
                    "status": {"anyOf": [_STATUS, {"type": "null"}]},
                    "provider": {"type": ["string", "null"]},
                    "provider_message_id": {"type": ["string", "null"]},
                    "cost": {"type": ["string", "null"]},
                    "attempts": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/Attempt"},
                    },
                    "delivery": {
                        "type": ["object", "null"],
                        "required": ["status", "raw_status", "at"],
                        "properties": {
                            "status": {"type": "string"},
                            "raw_status": {"type": ["string", "null"]},
                            "at": {"type": ["number", "null"]},
                        },
                    },
                },
            },
        },
    },
}
_NONEMPTY = {"type": "string", "minLength": 1}
_NEW_MESSAGE = {
    "type": "object",
    "required": ["to", "text"],
    "additionalProperties": False,
    "properties": {
        "to": {
            "oneOf": [_NONEMPTY, {"type": "array", "minItems": 1, "items": _NONEMPTY}],
            "description": "E.164 numbers (or national forms in the default region)",
        },
        # Not blank: some character that is not white space.
        "text": {"type": "string", "minLength": 1, "pattern": "\\S"},
        "sender": _NONEMPTY,
        "reference": _NONEMPTY,
        "providers": {
            "oneOf": [_NONEMPTY, {"type": "array", "minItems": 1, "items": _NONEMPTY}],
            "description": "Configured provider names to choose among",
        },
        "wait": {"type": "boolean", "default": True},
    },
}
_QUEUED = {
    "type": "object",
    "required": ["id", "reference", "duplicate"],
    "properties": {
        "id": {"type": "string"},
        "reference": {"type": ["string", "null"]},
        "duplicate": {"type": "boolean"},
    },
}
_ROUTE = {
    "type": "object",
    "required": ["id", "encoding", "segments", "routes"],
    "properties": {
        "id": {"type": "string"},
        "encoding": _enum(Encoding),
        "segments": {"type": "integer"},
        "routes": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["to", "candidates", "excluded"],
                "properties": {
                    "to": {"type": "string"},
                    "candidates": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["provider", "cost", "keys"],
                            "properties": {
                                "provider": {"type": "string"},
                                "cost": {"type": ["string", "null"]},
                                "keys": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                },
                            },
                        },
                    },
                    "excluded": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["provider", "policy", "reason"],
                            "properties": {
                                "provider": {"type": "string"},
                                "policy": {"type": "string"},
                                "reason": {"type": "string"},
                            },
                        },
                    },
                },
            },
        },
    },
}
_PROVIDERS = {
    "type": "object",
    "required": ["providers"],
    "properties": {
        "providers": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "name",
                    "plugin",
                    "breaker",
                    "hold",
                    "balance",
                    "in_flight",
                    "limits",
                ],
                "properties": {
                    "name": {"type": "string"},
                    "plugin": {"type": "string"},
                    "breaker": _enum(BreakerState),
                    "hold": {
                        "type": ["object", "null"],
                        "description": "The provider asked us to back off: its breaker is "
                        "held open this much longer (null when not held).",
                        "required": ["seconds_left", "reason"],
                        "properties": {
                            "seconds_left": {"type": "number"},
                            "reason": {"type": "string"},
                        },
                    },
                    "balance": {
                        "type": ["object", "null"],
                        "required": ["amount", "unit", "age_seconds"],
                        "properties": {
                            "amount": {"type": "string"},
                            "unit": {"type": "string"},
                            "age_seconds": {"type": "number"},
                        },
                    },
                    "in_flight": {"type": "integer"},
                    "limits": {"type": "object"},
                },
            },
        }
    },
}
_PLUGINS = {
    "type": "object",
    "required": ["plugins"],
    "properties": {
        "plugins": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "version", "hooks", "providers", "policies"],
                "properties": {
                    "name": {"type": "string"},
                    "version": {"type": ["string", "null"]},
                    "hooks": {"type": "array", "items": {"type": "string"}},
                    "providers": {"type": "array", "items": {"type": "string"}},
                    "policies": {"type": "array", "items": {"type": "string"}},
                },
            },
        }
    },
}
_INBOUND = {
    "type": "object",
    "required": ["items", "next"],
    "properties": {
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "provider", "from", "to", "text", "received_at", "in_reply_to"],
                "properties": {
                    "id": {"type": "integer"},
                    "provider": {"type": "string"},
                    "from": {"type": "string"},
                    "to": {"type": "string"},
                    "text": {"type": "string"},
                    "received_at": {"type": "number"},
                    "in_reply_to": {"type": ["string", "null"]},
                },
            },
        },
        "next": {"type": ["string", "null"]},
    },
}
_NUMBER_OR_NULL = {"type": ["number", "null"]}
_EVENT_FIELDS = {
    "id": {"type": "string"},
    "type": _enum(EventType),
    "webhook": {"type": "string"},
    "state": _enum(DeliveryState),
    "attempts": {"type": "integer"},
    "created_at": {"type": "number"},
    "queued_at": {"type": "number"},
    "next_at": _NUMBER_OR_NULL,
    "last_at": _NUMBER_OR_NULL,
    "last_status": {"type": ["integer", "null"]},
    "last_error": {"type": ["string", "null"]},
    "delivered_at": _NUMBER_OR_NULL,
    "data": {"type": "object", "description": "The event's fields, as its receiver gets them"},
}
_EVENT = {
    "type": "object",
    "description": "One webhook event's delivery to one webhook",
    "required": list(_EVENT_FIELDS),
    "properties": _EVENT_FIELDS,
}
_EVENTS = {
    "type": "object",
    "required": ["items", "next"],
    "properties": {
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/WebhookEvent"}},
        "next": {"type": ["string", "null"]},
    },
}
_REQUEUED = {
    "type": "object",
    "required": ["requeued", "items"],
    "properties": {
        "requeued": {"type": "integer", "minimum": 1},
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/WebhookEvent"}},
    },
}

SCHEMAS: dict[str, Any] = {
    "Error": _ERROR,
    "Attempt": _ATTEMPT,
    "Recipient": _RECIPIENT,
    "SendResult": _RESULT,
    "MessageRecord": _RECORD,
    "NewMessage": _NEW_MESSAGE,
    "Queued": _QUEUED,
    "Route": _ROUTE,
    "Providers": _PROVIDERS,
    **admin_schemas(_PROVIDERS),
    "Plugins": _PLUGINS,
    "InboundPage": _INBOUND,
    "WebhookEvent": _EVENT,
    "WebhookEventPage": _EVENTS,
    "Requeued": _REQUEUED,
}
"""Each body's schema by its name in ``#/components/schemas``."""
