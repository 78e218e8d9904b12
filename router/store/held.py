"""The rules every store shares for held messages: when one is due, what a cancel ends,
and what a status filter matches."""

from __future__ import annotations

import math

import attrs

from router.model import RecipientStatus
from router.store.base import MessageRecord, MessageState, RecipientRecord


def wake_at(record: MessageRecord) -> float | None:
    """When a message with ``scheduled`` recipients is due: its soonest recipient's time, or
    its ``expires_at`` when that comes first; None when no recipient is scheduled."""
    times = [r.due_at or 0.0 for r in record.recipients if r.status is RecipientStatus.SCHEDULED]
    if not times:
        return None
    return min(min(times), math.inf if record.expires_at is None else record.expires_at)


def matches_status(record: MessageRecord, status: str | None) -> bool:
    """Whether *record* is in state *status*, or has a recipient with that send status."""
    if status is None or record.state.value == status:
        return True
    return any(r.status is not None and r.status.value == status for r in record.recipients)


UNSENT = frozenset({RecipientStatus.SCHEDULED})
"""Statuses a cancel may end (a never-attempted recipient of a queued message has none)."""


def cancelled(recipient: RecipientRecord) -> RecipientRecord | None:
    """*recipient* cancelled, or None when it was sent or may have been (cannot be cancelled)."""
    unsent = recipient.status in UNSENT or (
        recipient.status is None and not recipient.attempts and recipient.in_flight is None
    )
    if not unsent:
        return None
    return attrs.evolve(
        recipient, status=RecipientStatus.CANCELLED, reason="cancelled", due_at=None
    )


def state_after(record: MessageRecord) -> tuple[MessageState, float | None]:
    """The state *record*'s recipients put it in, and when it is due if it is held."""
    due = wake_at(record)
    if due is not None:
        return MessageState.HELD, due
    if all(r.status is not None for r in record.recipients):
        return MessageState.DONE, None
    return (MessageState.SENDING if record.state is MessageState.HELD else record.state), None
