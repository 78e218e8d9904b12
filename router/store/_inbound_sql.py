"""The SQLite journal's inbound texts: journalled once, and found by a filtered query."""

from __future__ import annotations

import sqlite3

from router.model import InboundMessage
from router.store._schema import load_messages
from router.store.base import (
    INBOUND_REPEAT_WINDOW,
    answered_by,
    bare_number,
    inbound_key,
    ref_candidates,
)


def add_inbound(conn: sqlite3.Connection, message: InboundMessage, now: float) -> str | None:
    """Journal an inbound text once (see MessageStore.add_inbound); what it answers."""
    if message.provider_message_id is not None:
        row = conn.execute(
            "SELECT answers FROM inbound WHERE provider = ? AND provider_message_id = ?",
            (message.provider, message.provider_message_id),
        ).fetchone()
    else:  # no id: the same content within the window is the same text
        row = conn.execute(
            "SELECT answers FROM inbound WHERE provider = ?"
            " AND provider_message_id IS NULL AND sender = ? AND recipient = ?"
            " AND text = ? AND at IS ? AND in_reply_to IS ? AND received_at >= ?"
            " ORDER BY id DESC LIMIT 1",
            (*inbound_key(message), now - INBOUND_REPEAT_WINDOW),
        ).fetchone()
    if row is not None:
        answers: str | None = row["answers"]
        return answers
    answers = None
    if message.in_reply_to is not None:
        for message_id in ref_candidates(message.in_reply_to):
            found = load_messages(conn, "id = ?", (message_id,))
            if found and answered_by(found[0], message.in_reply_to):
                answers = message_id
                break
    conn.execute(
        "INSERT INTO inbound (provider, sender, recipient, text, provider_message_id,"
        " in_reply_to, at, answers, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            message.provider,
            message.sender,
            message.recipient,
            message.text,
            message.provider_message_id,
            message.in_reply_to,
            message.at,
            answers,
            now,
        ),
    )
    return answers


def inbound_query(
    provider: str | None,
    number: str | None,
    since: float | None,
    until: float | None,
    limit: int,
    before: int | None,
) -> tuple[str, list[object]]:
    """The SQL and its values that list inbound texts, newest first."""
    where: list[str] = ["1"]
    params: list[object] = []
    if provider is not None:
        where.append("provider = ?")
        params.append(provider)
    if number is not None:
        where.append("(ltrim(sender, '+') = ? OR ltrim(recipient, '+') = ?)")
        params += [bare_number(number)] * 2
    if since is not None:
        where.append("received_at >= ?")
        params.append(since)
    if until is not None:
        where.append("received_at < ?")
        params.append(until)
    if before is not None:
        where.append("id < ?")
        params.append(before)
    sql = f"SELECT * FROM inbound WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?"  # noqa: S608 - fixed clauses, values bound
    params.append(limit)
    return sql, params
