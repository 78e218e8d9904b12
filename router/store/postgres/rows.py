"""The PostgreSQL journal's rows read back as records: messages with their recipients and
attempts, and inbound texts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from router.model import (
    Attempt,
    DeliveryStatus,
    Encoding,
)
from router.store.base import MessageRecord, MessageState, RecipientRecord
from router.store.records import attempt_record, recipient_record

Row = Any
"""An ``asyncpg.Record``: its columns by name."""
Connection = Any
"""An ``asyncpg.Connection`` (asyncpg ships no types)."""


def _parts(parts: Sequence[str | None] | None) -> tuple[DeliveryStatus | None, ...]:
    return () if parts is None else tuple(None if p is None else DeliveryStatus(p) for p in parts)


def parts_array(parts: Sequence[DeliveryStatus | None]) -> list[str | None] | None:
    """A long text's part statuses as the ``delivery_parts`` column keeps them."""
    return [None if p is None else p.value for p in parts] if parts else None


def _message(row: Row, recipients: tuple[RecipientRecord, ...]) -> MessageRecord:
    providers = row["providers"]
    return MessageRecord(
        id=row["id"],
        reference=row["reference"],
        text=row["text"],
        sender=row["sender"],
        providers=None if providers is None else tuple(providers),
        encoding=Encoding(row["encoding"]),
        segments=row["segments"],
        created_at=row["created_at"],
        state=MessageState(row["state"]),
        recipients=recipients,
        send_at=row["send_at"],
        expires_at=row["expires_at"],
        urgent=row["urgent"],
        callback_url=row["callback_url"],
    )


_SELECT = """
SELECT m.*,
    ARRAY(SELECT r FROM recipients r WHERE r.message_id = m.id ORDER BY r.position)
        AS recipient_rows,
    ARRAY(SELECT a FROM attempts a WHERE a.message_id = m.id ORDER BY a.seq, a.id)
        AS attempt_rows
FROM messages m
"""


def _record(row: Row) -> MessageRecord:
    attempts: dict[str, list[Attempt]] = {}
    for attempt in row["attempt_rows"]:
        attempts.setdefault(attempt["ref"], []).append(attempt_record(attempt))
    recipients = tuple(
        recipient_record(r, tuple(attempts.get(r["ref"], ())), _parts(r["delivery_parts"]))
        for r in row["recipient_rows"]
    )
    return _message(row, recipients)


async def select_messages(conn: Connection, where: str, *args: object) -> list[MessageRecord]:
    """The messages matching *where* (a condition on ``messages m``, fixed SQL with its
    values bound), oldest first; one statement, so each is read as one moment saw it."""
    sql = f"{_SELECT} WHERE {where} ORDER BY m.seq"  # callers pass fixed SQL, values bound
    return [_record(row) for row in await conn.fetch(sql, *args)]


async def load_messages(conn: Connection, ids: Sequence[str]) -> list[MessageRecord]:
    """The messages with these *ids*, in the order of *ids* (those missing left out)."""
    if not ids:
        return []
    found = {r.id: r for r in await select_messages(conn, "m.id = ANY($1::text[])", list(ids))}
    return [found[i] for i in dict.fromkeys(ids) if i in found]


async def load_message(conn: Connection, message_id: str) -> MessageRecord | None:
    """The message *message_id*, or None."""
    found = await load_messages(conn, [message_id])
    return found[0] if found else None
