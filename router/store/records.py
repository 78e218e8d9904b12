"""A new message's journal record, as every store makes it from the message."""

from __future__ import annotations

from collections.abc import Sequence

from router.model import Encoding, Message, Recipient
from router.store.base import MessageRecord, MessageState, RecipientRecord


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
