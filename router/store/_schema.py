"""The message journal's SQLite schema and rows: its migrations, and rows read back as records.

How a file is opened and taken through its migrations is :mod:`router.store._sqlite`, shared
with the webhook event journal's file.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence

from router.model import (
    Attempt,
    DeliveryStatus,
    Encoding,
)
from router.store._admin_sqlite import ADMIN_MIGRATION
from router.store._learning import MIGRATIONS as LEARNING_MIGRATIONS
from router.store.base import (
    CallRecord,
    HoldRecord,
    MessageRecord,
    MessageState,
    RecentCalls,
    RecipientRecord,
)
from router.store.records import attempt_record, recipient_record

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE messages (
            id TEXT PRIMARY KEY,
            reference TEXT UNIQUE,
            text TEXT NOT NULL,
            sender TEXT,
            providers TEXT,
            encoding TEXT NOT NULL,
            segments INTEGER NOT NULL,
            created_at REAL NOT NULL,
            state TEXT NOT NULL
        )""",
        "CREATE INDEX messages_unfinished ON messages (state) WHERE state != 'done'",
        """CREATE TABLE recipients (
            message_id TEXT NOT NULL REFERENCES messages (id),
            position INTEGER NOT NULL,
            recipient TEXT NOT NULL,
            ref TEXT NOT NULL,
            status TEXT,
            provider TEXT,
            provider_message_id TEXT,
            in_flight TEXT,
            delivery TEXT,
            delivery_raw TEXT,
            delivery_at REAL,
            delivery_parts TEXT,
            cost TEXT,
            PRIMARY KEY (message_id, position),
            UNIQUE (message_id, ref)
        )""",
        """CREATE INDEX recipients_provider_id ON recipients (provider, provider_message_id)
            WHERE provider_message_id IS NOT NULL""",
        """CREATE TABLE attempts (
            message_id TEXT NOT NULL REFERENCES messages (id),
            ref TEXT NOT NULL,
            seq INTEGER NOT NULL,
            provider TEXT NOT NULL,
            outcome TEXT NOT NULL,
            reason TEXT NOT NULL,
            provider_message_id TEXT,
            kind TEXT,
            at REAL NOT NULL,
            PRIMARY KEY (message_id, ref, seq)
        )""",
        """CREATE INDEX attempts_provider_id ON attempts (provider, provider_message_id)
            WHERE provider_message_id IS NOT NULL""",
        """CREATE TABLE inbound (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            provider TEXT NOT NULL,
            sender TEXT NOT NULL,
            recipient TEXT NOT NULL,
            text TEXT NOT NULL,
            provider_message_id TEXT,
            in_reply_to TEXT,
            at REAL,
            answers TEXT,
            received_at REAL NOT NULL
        )""",
        """CREATE UNIQUE INDEX inbound_provider_id ON inbound (provider, provider_message_id)
            WHERE provider_message_id IS NOT NULL""",
        "CREATE INDEX inbound_received ON inbound (received_at)",
    ),
    (
        # The providers' budgets across restarts: each call a rate counted, and the
        # Retry-After holds (operation '' holds every call); pruned to the longest window.
        """CREATE TABLE budget_calls (
            provider TEXT NOT NULL,
            operation TEXT NOT NULL,
            started REAL NOT NULL,
            ended REAL,
            PRIMARY KEY (provider, operation, started)
        )""",
        "CREATE INDEX budget_calls_at ON budget_calls (coalesce(ended, started))",
        """CREATE TABLE budget_holds (
            provider TEXT NOT NULL,
            operation TEXT NOT NULL,
            until REAL NOT NULL,
            PRIMARY KEY (provider, operation)
        )""",
    ),
    # 2 -> 3: when an in-flight attempt started, so recovery can tell a message the
    # provider never got (not known once the attempt's timeout passed) from a lost answer.
    ("ALTER TABLE recipients ADD COLUMN in_flight_at REAL",),
    # 3 -> 4: held messages (send_at, quiet hours) found by when they are due, expiry,
    # per-message callbacks, why a recipient was not sent, the opt-out list, and messages
    # found newest first.
    (
        "ALTER TABLE messages ADD COLUMN send_at REAL",
        "ALTER TABLE messages ADD COLUMN expires_at REAL",
        "ALTER TABLE messages ADD COLUMN urgent INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE messages ADD COLUMN callback_url TEXT",
        "ALTER TABLE messages ADD COLUMN wake_at REAL",
        "CREATE INDEX messages_held ON messages (wake_at) WHERE state = 'held'",
        "CREATE INDEX messages_created ON messages (created_at, id)",
        "ALTER TABLE recipients ADD COLUMN reason TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE recipients ADD COLUMN due_at REAL",
        """CREATE TABLE optouts (
            number TEXT PRIMARY KEY,
            at REAL NOT NULL,
            provider TEXT,
            source TEXT NOT NULL
        )""",
    ),
    # 4 -> 5: operators' actions on providers, suspensions in force, ingress notes.
    ADMIN_MIGRATION,
    # 5 -> 7: delivery statistics, learnt weights, redelivery (router.store._learning).
    *LEARNING_MIGRATIONS,
    # 7 -> 8: the message an in-flight call went by, when it coalesced several messages.
    ("ALTER TABLE recipients ADD COLUMN in_flight_via TEXT",),
)
"""Each entry takes the schema from its index (the file's ``user_version``) to the next."""

SCHEMA_VERSION = len(MIGRATIONS)
"""The schema version this code writes."""


def parts_json(parts: Sequence[DeliveryStatus | None]) -> str | None:
    if not parts:
        return None
    return json.dumps([None if p is None else p.value for p in parts])


def _parts(text: str | None) -> tuple[DeliveryStatus | None, ...]:
    if text is None:
        return ()
    return tuple(None if p is None else DeliveryStatus(p) for p in json.loads(text))


def load_messages(
    conn: sqlite3.Connection, where: str, params: tuple[object, ...]
) -> list[MessageRecord]:
    """The messages matching *where* (a condition on ``messages``), oldest first."""
    chosen = f"SELECT id FROM messages WHERE {where}"  # noqa: S608 - callers pass fixed SQL
    attempts: dict[tuple[str, str], list[Attempt]] = {}
    for row in conn.execute(
        f"SELECT * FROM attempts WHERE message_id IN ({chosen}) ORDER BY seq",  # noqa: S608
        params,
    ):
        attempts.setdefault((row["message_id"], row["ref"]), []).append(attempt_record(row))
    recipients: dict[str, list[RecipientRecord]] = {}
    for row in conn.execute(
        f"SELECT * FROM recipients WHERE message_id IN ({chosen}) ORDER BY position",  # noqa: S608
        params,
    ):
        tried = tuple(attempts.get((row["message_id"], row["ref"]), ()))
        recipients.setdefault(row["message_id"], []).append(
            recipient_record(row, tried, _parts(row["delivery_parts"]))
        )
    return [
        MessageRecord(
            id=row["id"],
            reference=row["reference"],
            text=row["text"],
            sender=row["sender"],
            providers=None if row["providers"] is None else tuple(json.loads(row["providers"])),
            encoding=Encoding(row["encoding"]),
            segments=row["segments"],
            created_at=row["created_at"],
            state=MessageState(row["state"]),
            recipients=tuple(recipients.get(row["id"], ())),
            send_at=row["send_at"],
            expires_at=row["expires_at"],
            urgent=bool(row["urgent"]),
            callback_url=row["callback_url"],
        )
        for row in conn.execute(
            f"SELECT * FROM messages WHERE {where} ORDER BY rowid",  # noqa: S608
            params,
        )
    ]


def write_budget_calls(
    conn: sqlite3.Connection,
    calls: Sequence[CallRecord],
    holds: Sequence[HoldRecord],
    forget_before: float,
) -> None:
    """Keep the budgets' *calls* and *holds*; forget what ended before *forget_before*."""
    conn.executemany(
        "INSERT INTO budget_calls VALUES (?, ?, ?, ?)"
        " ON CONFLICT (provider, operation, started) DO UPDATE"
        " SET ended = coalesce(excluded.ended, ended)",
        [(c.provider, c.operation, c.started, c.ended) for c in calls],
    )
    conn.executemany(
        "INSERT INTO budget_holds VALUES (?, ?, ?)"
        " ON CONFLICT (provider, operation) DO UPDATE"
        " SET until = max(until, excluded.until)",
        [(h.provider, h.operation or "", h.until) for h in holds],
    )
    conn.execute("DELETE FROM budget_calls WHERE coalesce(ended, started) < ?", (forget_before,))
    conn.execute("DELETE FROM budget_holds WHERE until < ?", (forget_before,))


def read_budget_calls(conn: sqlite3.Connection, since: float) -> RecentCalls:
    """The budgets' calls and holds that still count at *since*."""
    calls = conn.execute(
        "SELECT * FROM budget_calls WHERE coalesce(ended, started) >= ? ORDER BY started",
        (since,),
    )
    holds = conn.execute("SELECT * FROM budget_holds WHERE until >= ?", (since,))
    return RecentCalls(
        tuple(CallRecord(r["provider"], r["operation"], r["started"], r["ended"]) for r in calls),
        tuple(HoldRecord(r["provider"], r["operation"] or None, r["until"]) for r in holds),
    )


def mark_sending(conn: sqlite3.Connection, message_id: str) -> None:
    """Move a queued message to sending; KeyError when there is no such message."""
    row = conn.execute("SELECT state FROM messages WHERE id = ?", (message_id,)).fetchone()
    if row is None:
        raise KeyError(message_id)
    if row["state"] == MessageState.QUEUED.value:
        conn.execute(
            "UPDATE messages SET state = ? WHERE id = ?", (MessageState.SENDING.value, message_id)
        )


def insert_attempts(
    conn: sqlite3.Connection,
    message_id: str,
    ref: str,
    attempts: Iterable[Attempt],
    start: int = 0,
) -> None:
    """Journal *attempts* of one recipient, numbered from *start*."""
    conn.executemany(
        "INSERT INTO attempts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                message_id,
                ref,
                seq,
                a.provider,
                a.outcome.value,
                a.reason,
                a.provider_message_id,
                None if a.kind is None else a.kind.value,
                a.at,
            )
            for seq, a in enumerate(attempts, start)
        ],
    )
