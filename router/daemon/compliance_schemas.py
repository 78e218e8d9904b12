"""The JSON Schemas of held messages, message pages and the opt-out list: components of the
daemon's OpenAPI document, beside :mod:`router.daemon.schemas`."""

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
    "send_at": {**_TIME, "description": "When to send it: " + _WRITTEN},
    "expires_at": {
        **_TIME,
        "description": "Not sent by then, it ends expired: " + _WRITTEN,
    },
    "urgent": {"type": "boolean", "default": False, "description": "Sent in quiet hours too"},
    "callback_url": {
        "type": "string",
        "minLength": 1,
        "description": "Where this message's delivery reports are posted, signed as "
        "webhooks are (needs [message_callbacks] secret)",
    },
}
RECIPIENT_TIMING: dict[str, Any] = {
    "reason": {
        "type": "string",
        "description": "Why it was not sent when no provider was asked (opted out, expired)",
    },
    "scheduled_at": {
        "type": ["number", "null"],
        "description": "When a scheduled recipient is to be sent (send_at, quiet hours)",
    },
}
_NUMBER_OR_NULL = {"type": ["number", "null"]}
RECORD_TIMING: dict[str, Any] = {
    "send_at": _NUMBER_OR_NULL,
    "expires_at": _NUMBER_OR_NULL,
    "urgent": {"type": "boolean"},
    "callback_url": {"type": ["string", "null"]},
}
_MESSAGE_PAGE = {
    "type": "object",
    "required": ["items", "next"],
    "properties": {
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/MessageRecord"}},
        "next": {"type": ["string", "null"], "description": "The cursor of the next page"},
    },
}
_OPTOUT = {
    "type": "object",
    "required": ["number", "at", "provider", "source"],
    "properties": {
        "number": {"type": "string"},
        "at": {"type": "number"},
        "provider": {
            "type": ["string", "null"],
            "description": "The provider whose inbound keyword added it; null when by hand",
        },
        "source": {"type": "string", "description": "The keyword (STOP), or api / cli"},
    },
}
_OPTOUTS = {
    "type": "object",
    "required": ["items"],
    "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/OptOut"}}},
}
_NEW_OPTOUT = {
    "type": "object",
    "required": ["number"],
    "additionalProperties": False,
    "properties": {"number": {"type": "string", "minLength": 1}},
}
_REMOVED = {
    "type": "object",
    "required": ["number", "removed"],
    "properties": {"number": {"type": "string"}, "removed": {"const": True}},
}

COMPLIANCE_SCHEMAS: dict[str, Any] = {
    "MessagePage": _MESSAGE_PAGE,
    "OptOut": _OPTOUT,
    "OptOuts": _OPTOUTS,
    "NewOptOut": _NEW_OPTOUT,
    "OptOutRemoved": _REMOVED,
}
