"""Journal records as every store makes them: a new message's, from the message; an
attempt's, a recipient's and an inbound text's, from their rows in a SQL journal."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Protocol

from router.model import (
    Attempt,
    DeliveryStatus,
    Encoding,
    ErrorKind,
    InboundMessage,
    Message,
    Outcome,
    Recipient,
    RecipientStatus,
)
from router.store.base import InboundRecord, MessageRecord, MessageState, RecipientRecord


class Columns(Protocol):
    """A row of a SQL journal's table, read by column name (sqlite3.Row, asyncpg.Record)."""

    def __getitem__(self, name: str, /) -> Any: ...


def attempt_record(row: Columns) -> Attempt:
    """An attempt from its row of the ``attempts`` table."""
    return Attempt(
        provider=row["provider"],
        outcome=Outcome(row["outcome"]),
        reason=row["reason"],
        provider_message_id=row["provider_message_id"],
        kind=None if row["kind"] is None else ErrorKind(row["kind"]),
        at=row["at"],
    )


def recipient_record(
    row: Columns, attempts: tuple[Attempt, ...], parts: tuple[DeliveryStatus | None, ...]
) -> RecipientRecord:
    """A recipient's record from its row of the ``recipients`` table, with its *attempts* and
    the statuses of its parts (each journal keeps ``delivery_parts`` its own way)."""
    return RecipientRecord(
        recipient=row["recipient"],
        ref=row["ref"],
        status=None if row["status"] is None else RecipientStatus(row["status"]),
        provider=row["provider"],
        provider_message_id=row["provider_message_id"],
        attempts=attempts,
        in_flight=row["in_flight"],
        in_flight_at=row["in_flight_at"],
        in_flight_via=row["in_flight_via"],
        delivery=None if row["delivery"] is None else DeliveryStatus(row["delivery"]),
        delivery_raw=row["delivery_raw"],
        delivery_at=row["delivery_at"],
        delivery_parts=parts,
        cost=None if row["cost"] is None else Decimal(row["cost"]),
        reason=row["reason"],
        due_at=row["due_at"],
        redelivered_from=row["redelivered_from"],
        redelivery_reason=row["redelivery_reason"],
    )


def new_record(
    message: Message,
    recipients: Sequence[Recipient],
    encoding: Encoding,
    segments: int,
    now: float,
    *,
    state: MessageState = MessageState.QUEUED,
    started: str | None = None,
    in_flight_at: float | None = None,
) -> MessageRecord:
    """The record of *message* journalled at *now*: its recipients in flight on *started*
    (since *in_flight_at*) when that is set, none tried otherwise."""
    return MessageRecord(
        id=message.id,
        reference=message.reference,
        text=message.text,
        sender=message.sender,
        providers=message.providers,
        encoding=encoding,
        segments=segments,
        created_at=now,
        state=state,
        recipients=tuple(
            RecipientRecord(r.e164, r.ref, in_flight=started, in_flight_at=in_flight_at)
            for r in recipients
        ),
        send_at=message.send_at,
        expires_at=message.expires_at,
        urgent=message.urgent,
        callback_url=message.callback_url,
    )


def inbound_record(row: Columns) -> InboundRecord:
    """An inbound text's record from its row of the ``inbound`` table."""
    return InboundRecord(
        id=row["id"],
        message=InboundMessage(
            provider=row["provider"],
            sender=row["sender"],
            recipient=row["recipient"],
            text=row["text"],
            provider_message_id=row["provider_message_id"],
            in_reply_to=row["in_reply_to"],
            at=row["at"],
        ),
        answers=row["answers"],
        received_at=row["received_at"],
    )
