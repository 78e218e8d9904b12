"""The SQLite journal's held messages, cancels, message search and opt-out list, as work for
its writer thread (:mod:`router.store.sqlite` runs each on it)."""

from __future__ import annotations

import sqlite3

from router.model import RecipientStatus, SendResult
from router.store._schema import load_messages
from router.store.base import MessageRecord, MessageState, OptOut
from router.store.held import cancelled, state_after


def settle(conn: sqlite3.Connection, message_id: str) -> None:
    """Mark a message done, or held until its wake time while a recipient is scheduled."""
    found = load_messages(conn, "id = ?", (message_id,))
    if not found:
        return
    state, due = state_after(found[0])
    conn.execute(
        "UPDATE messages SET state = ?, wake_at = ? WHERE id = ?", (state.value, due, message_id)
    )


def finish_recipients(conn: sqlite3.Connection, result: SendResult) -> None:
    """Record why a recipient was not sent and when a scheduled one is due."""
    conn.executemany(
        "UPDATE recipients SET reason = ?, due_at = ? WHERE message_id = ? AND ref = ?",
        [(r.reason, r.scheduled_at, result.message_id, r.ref) for r in result.recipients],
    )
    if any(r.status is RecipientStatus.SCHEDULED for r in result.recipients):
        settle(conn, result.message_id)


def held_due(conn: sqlite3.Connection, now: float, limit: int) -> list[str]:
    rows = conn.execute(
        "SELECT id FROM messages WHERE state = 'held' AND wake_at <= ? ORDER BY wake_at LIMIT ?",
        (now, limit),
    )
    return [row["id"] for row in rows]


def next_held(conn: sqlite3.Connection) -> float | None:
    row = conn.execute("SELECT min(wake_at) AS due FROM messages WHERE state = 'held'").fetchone()
    due: float | None = row["due"]
    return due


def cancel(conn: sqlite3.Connection, message_id: str) -> MessageRecord | None:
    found = load_messages(conn, "id = ?", (message_id,))
    if not found or found[0].state is MessageState.DONE:
        return found[0] if found else None
    for recipient in found[0].recipients:
        ended = cancelled(recipient)
        if ended is not None:
            assert ended.status is not None
            conn.execute(
                "UPDATE recipients SET status = ?, reason = ?, due_at = NULL"
                " WHERE message_id = ? AND ref = ?",
                (ended.status.value, ended.reason, message_id, recipient.ref),
            )
    settle(conn, message_id)
    return load_messages(conn, "id = ?", (message_id,))[0]


def find(
    conn: sqlite3.Connection,
    reference: str | None,
    status: str | None,
    since: float | None,
    limit: int,
    before: tuple[float, str] | None,
) -> list[MessageRecord]:
    where: list[str] = ["1"]
    params: list[object] = []
    if reference is not None:
        where.append("reference = ?")
        params.append(reference)
    if status is not None:
        where.append("(state = ? OR id IN (SELECT message_id FROM recipients WHERE status = ?))")
        params += [status, status]
    if since is not None:
        where.append("created_at >= ?")
        params.append(since)
    if before is not None:
        where.append("(created_at < ? OR (created_at = ? AND id < ?))")
        params += [before[0], before[0], before[1]]
    sql = (
        f"SELECT id FROM messages WHERE {' AND '.join(where)}"  # noqa: S608 - fixed clauses
        " ORDER BY created_at DESC, id DESC LIMIT ?"
    )
    ids = [row["id"] for row in conn.execute(sql, (*params, limit))]
    if not ids:
        return []
    marks = ", ".join("?" * len(ids))
    records = {r.id: r for r in load_messages(conn, f"id IN ({marks})", tuple(ids))}
    return [records[i] for i in ids]


def opt_out(conn: sqlite3.Connection, entry: OptOut) -> bool:
    cursor = conn.execute(
        "INSERT INTO optouts VALUES (?, ?, ?, ?) ON CONFLICT (number) DO NOTHING",
        (entry.number, entry.at, entry.provider, entry.source),
    )
    return cursor.rowcount > 0


def opt_in(conn: sqlite3.Connection, number: str) -> bool:
    return conn.execute("DELETE FROM optouts WHERE number = ?", (number,)).rowcount > 0


def optouts(conn: sqlite3.Connection, number: str | None) -> list[OptOut]:
    if number is None:
        rows = conn.execute("SELECT * FROM optouts ORDER BY at, number")
    else:
        rows = conn.execute("SELECT * FROM optouts WHERE number = ?", (number,))
    return [OptOut(r["number"], r["at"], r["provider"], r["source"]) for r in rows]
