"""The JSON Schemas of the operators' routes (:mod:`router.daemon.admin`).

One provider (``GET /v1/providers`` lists them, the admin routes answer with one), with
its suspension; the admin routes' optional body; the journalled actions.
"""

from __future__ import annotations

import enum
from typing import Any

from router.store.admin import AdminKind

__all__ = ["admin_schemas"]


def _enum(kind: type[enum.StrEnum]) -> dict[str, list[str]]:
    return {"enum": [member.value for member in kind]}


def admin_schemas(providers: dict[str, Any]) -> dict[str, Any]:
    """The admin schemas by name; *providers* (the ``Providers`` schema) gains the
    ``suspended`` field on each provider, which is also the ``Provider`` schema."""
    provider: dict[str, Any] = providers["properties"]["providers"]["items"]
    provider["required"].append("suspended")
    provider["properties"]["suspended"] = {
        "type": ["object", "null"],
        "description": "Set while an operator has the provider suspended "
        "(POST /v1/providers/{name}/suspend): no message is routed to it; null when not.",
        "required": ["reason", "since"],
        "properties": {
            "reason": {"type": "string", "description": "What the operator said (may be empty)."},
            "since": {"type": "number", "description": "When it was suspended, Unix seconds."},
        },
    }
    reason = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "reason": {
                "type": "string",
                "maxLength": 500,
                "description": "Why, for the journal and the route explanations (optional).",
            }
        },
    }
    actions = {
        "type": "object",
        "required": ["actions"],
        "properties": {
            "actions": {
                "type": "array",
                "description": "Newest first.",
                "items": {
                    "type": "object",
                    "required": ["provider", "action", "reason", "at"],
                    "properties": {
                        "provider": {"type": "string", "description": "The provider's name."},
                        "action": {**_enum(AdminKind), "description": "What was done."},
                        "reason": {"type": "string", "description": "What the operator said."},
                        "at": {"type": "number", "description": "When, Unix seconds."},
                    },
                },
            }
        },
    }
    return {"Provider": provider, "AdminReason": reason, "AdminActions": actions}
