"""The SQL that journals a new message: the look-up of an earlier copy, then its rows."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from router.model import Encoding, Message, Recipient
from router.store._schema import load_messages
from router.store.base import MessageRecord, MessageState
from router.store.records import new_record


def insert_message(
    conn: sqlite3.Connection,
    message: Message,
    recipients: Sequence[Recipient],
    encoding: Encoding,
    segments: int,
    now: float,
    started: str | None,
    state: MessageState,
    in_flight_at: float | None,
) -> tuple[MessageRecord, bool]:
    """Journal *message* (its recipients in flight on *started* when set); or the first
    record with its reference or id, and False."""
    # The one writer thread serialises adds, so look-then-insert cannot race.
    for where, key in (("reference = ?", message.reference), ("id = ?", message.id)):
        # By index first: a new message (nearly every one) costs no read of its rows.
        known = f"SELECT 1 FROM messages WHERE {where}"  # noqa: S608 - fixed SQL
        if key is not None and conn.execute(known, (key,)).fetchone():
            return load_messages(conn, where, (key,))[0], False
    conn.execute(
        "INSERT INTO messages (id, reference, text, sender, providers, encoding,"
        " segments, created_at, state, send_at, expires_at, urgent, callback_url)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            message.id,
            message.reference,
            message.text,
            message.sender,
            None if message.providers is None else json.dumps(message.providers),
            encoding.value,
            segments,
            now,
            state.value,
            message.send_at,
            message.expires_at,
            int(message.urgent),
            message.callback_url,
        ),
    )
    conn.executemany(
        "INSERT INTO recipients (message_id, position, recipient, ref, in_flight,"
        " in_flight_at) VALUES (?, ?, ?, ?, ?, ?)",
        [(message.id, i, r.e164, r.ref, started, in_flight_at) for i, r in enumerate(recipients)],
    )
    record = new_record(
        message,
        recipients,
        encoding,
        segments,
        now,
        state=state,
        started=started,
        in_flight_at=in_flight_at,
    )
    return record, True
