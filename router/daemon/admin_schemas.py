"""The JSON Schemas of the operators' routes (:mod:`router.daemon.admin`).

A provider's suspension (a field of each provider ``GET /v1/providers`` shows, and of the
provider the admin routes answer with), the admin routes' optional body, and the
journalled actions. Built as :mod:`router.daemon.schemas` builds the rest.
"""

from __future__ import annotations

from typing import Any

from router.daemon.schemas import AT, STRING, described, enum_of, list_of, object_of
from router.engine.admin import MAX_REASON
from router.store.admin import AdminKind

__all__ = ["ADMIN_SCHEMAS", "SUSPENDED"]

SUSPENDED = object_of(
    "Set while an operator has the provider suspended (POST /v1/providers/{name}/suspend): "
    "no message is routed to it; null when it is not",
    {
        "reason": described("What the operator said (may be empty)", STRING),
        "since": described("When it was suspended, as Unix seconds", type="number"),
    },
    null=True,
)
_REASON = described(
    "Why, for the journal and the route explanations; printable characters",
    STRING,
    maxLength=MAX_REASON,
)
_ADMIN_REASON = object_of(
    "An operator's reason for an action (the body is optional)",
    {"reason": _REASON},
    required=[],
)
_ADMIN_REASON["additionalProperties"] = False
_ACTION = object_of(
    "One journalled action of an operator on a provider",
    {
        "provider": described("The provider, by configured name", STRING),
        "action": described("What was done", enum_of(AdminKind)),
        "reason": described("What the operator said (may be empty)", STRING),
        "at": AT,
    },
)
ADMIN_SCHEMAS: dict[str, Any] = {
    "AdminReason": _ADMIN_REASON,
    "AdminActions": object_of(
        "What operators did to a provider", {"actions": list_of("Newest first", _ACTION)}
    ),
}
"""The admin routes' bodies by their names in ``#/components/schemas``."""
