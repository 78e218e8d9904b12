"""A message's timing and callback fields in the API: read from a body, written in a record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from router.daemon.times import read_time_field
from router.errors import ValidationError
from router.store.base import MessageRecord

__all__ = ["TIMING_FIELDS", "read_timing", "timing_json"]

TIMING_FIELDS = frozenset({"send_at", "expires_at", "urgent", "callback_url"})


def read_timing(body: Mapping[str, Any], callback_url: str | None) -> dict[str, Any]:
    """``send_at``, ``expires_at`` (Unix seconds or ISO 8601), ``urgent`` and the already
    read ``callback_url``, as :class:`~router.model.Message` keywords."""
    urgent = body.get("urgent", False)
    if not isinstance(urgent, bool):
        raise ValidationError("urgent", f"expected true or false, got {urgent!r}")
    return {
        "send_at": read_time_field("send_at", body.get("send_at")),
        "expires_at": read_time_field("expires_at", body.get("expires_at")),
        "urgent": urgent,
        "callback_url": callback_url,
    }


def timing_json(record: MessageRecord) -> dict[str, Any]:
    """A journalled message's timing and callback fields as JSON."""
    return {
        "send_at": record.send_at,
        "expires_at": record.expires_at,
        "urgent": record.urgent,
        "callback_url": record.callback_url,
    }
