"""The JSON Schemas of held messages, message pages and the opt-out list: components of the
daemon's OpenAPI document beside :mod:`router.daemon.schemas` (which takes the timing fields
from here for a message, a result and a record). Every object and field is described."""

from __future__ import annotations

from typing import Any

__all__ = ["COMPLIANCE_SCHEMAS", "NEW_MESSAGE_TIMING", "RECIPIENT_TIMING", "RECORD_TIMING"]

_WRITTEN = "Unix seconds, or ISO 8601 with a timezone (2026-12-04T22:00:00+11:00)"
_TIME: dict[str, Any] = {
    "oneOf": [
        {"type": "number", "minimum": 0, "maximum": 4_102_444_800},
        {"type": "string", "minLength": 1},
    ],
}
NEW_MESSAGE_TIMING: dict[str, Any] = {
    "send_at": {
        **_TIME,
        "description": "When to send it; held in the journal until then: " + _WRITTEN,
    },
    "expires_at": {
        **_TIME,
        "description": "Not sent by then, it ends expired and is never sent: " + _WRITTEN,
    },
    "urgent": {
        "type": "boolean",
        "default": False,
        "description": "Sent at once even in the recipient's quiet hours",
    },
    "callback_url": {
        "type": "string",
        "minLength": 1,
        "description": "Where this message's delivery reports are posted, signed and retried "
        "as webhook events are (needs [message_callbacks] secret in the config)",
    },
}
RECIPIENT_TIMING: dict[str, Any] = {
    "reason": {
        "type": "string",
        "description": "Why it was not sent when no provider was asked: opted out, expired "
        "before it was sent, cancelled (empty otherwise)",
    },
    "scheduled_at": {
        "type": ["number", "null"],
        "description": "For a scheduled recipient: when it is to be sent (Unix seconds), "
        "its send_at or the end of its quiet hours; null otherwise",
    },
}
RECORD_TIMING: dict[str, Any] = {
    "send_at": {
        "type": ["number", "null"],
        "description": "When it was to be sent (Unix seconds), or null for at once",
    },
    "expires_at": {
        "type": ["number", "null"],
        "description": "When it stops being worth sending (Unix seconds), or null",
    },
    "urgent": {"type": "boolean", "description": "Whether it goes in quiet hours too"},
    "callback_url": {
        "type": ["string", "null"],
        "description": "Where its delivery reports are posted, or null",
    },
}


def _object(description: str, properties: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "required": list(properties),
        "properties": properties,
        **more,
    }


_NUMBER = {"type": "string", "description": "The number, in E.164 (+61412345678)"}
_MESSAGE_PAGE = _object(
    "One page of messages, newest first",
    {
        "items": {
            "type": "array",
            "description": "The messages, as GET /v1/messages/{id} answers each",
            "items": {"$ref": "#/components/schemas/MessageRecord"},
        },
        "next": {
            "type": ["string", "null"],
            "description": "The cursor of the next page, for `cursor`; null on the last page",
        },
    },
)
_OPTOUT = _object(
    "A number on the opt-out list: no provider sends to it",
    {
        "number": _NUMBER,
        "at": {"type": "number", "description": "When it was added (Unix seconds)"},
        "provider": {
            "type": ["string", "null"],
            "description": "The provider whose inbound stop word added it; null when by hand",
        },
        "source": {
            "type": "string",
            "description": "The stop word it came by (STOP), or api / cli",
        },
    },
)
_OPTOUTS = _object(
    "The opt-out list, oldest first",
    {
        "items": {
            "type": "array",
            "description": "Every number on it",
            "items": {"$ref": "#/components/schemas/OptOut"},
        }
    },
)
_NEW_OPTOUT = _object(
    "A number to put on the opt-out list",
    {
        "number": {
            "type": "string",
            "minLength": 1,
            "description": "E.164, or the national form in the router's default region",
        }
    },
    additionalProperties=False,
)
_REMOVED = _object(
    "A number taken off the opt-out list",
    {"number": _NUMBER, "removed": {"const": True, "description": "Always true"}},
)

COMPLIANCE_SCHEMAS: dict[str, Any] = {
    "MessagePage": _MESSAGE_PAGE,
    "OptOut": _OPTOUT,
    "OptOuts": _OPTOUTS,
    "NewOptOut": _NEW_OPTOUT,
    "OptOutRemoved": _REMOVED,
}
"""Each schema by its name in ``#/components/schemas``."""
