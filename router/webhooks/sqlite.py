"""The webhook event journal in SQLite: a file of its own beside the message journal.

:func:`open_event_journal` gives a SQLite message journal's file a SQLite event journal
beside it (``journal.db`` -> ``journal.events.db``) rather than a table in that file, a
PostgreSQL message journal the PostgreSQL event journal in the same database
(:mod:`router.webhooks.postgres`), and anything else a memory one.

One SQLite file has one write lock: two connections writing it take turns, so a burst of
events (a provider pushing a thousand reports) would make the sends' journal writes wait,
and a receiver that is down would add a retry write to that queue for every failed post. A
file of its own has its own lock and its own schema version (``user_version``), which no
migration of the message journal can collide with.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from router.model import EventType
from router.store import MemoryStore, MessageStore, SQLiteStore
from router.store._sqlite import JournalWriter, prepare_journal
from router.store.base import check_limit
from router.webhooks.events import Event
from router.webhooks.journal import (
    Delivery,
    DeliveryState,
    EventJournal,
    MemoryEventJournal,
    delivery_record,
)

__all__ = ["SQLiteEventJournal", "events_path", "open_event_journal"]

log = logging.getLogger("smsrouter.webhooks")

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE events (
            id TEXT PRIMARY KEY,
            type TEXT NOT NULL,
            created_at REAL NOT NULL,
            data TEXT NOT NULL
        )""",
        """CREATE TABLE deliveries (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL REFERENCES events (id),
            webhook TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            queued_at REAL NOT NULL,
            next_at REAL,
            last_at REAL,
            last_status INTEGER,
            last_error TEXT,
            delivered_at REAL,
            UNIQUE (event_id, webhook)
        )""",
        "CREATE INDEX deliveries_due ON deliveries (next_at) WHERE state = 'pending'",
        "CREATE INDEX deliveries_delivered ON deliveries (delivered_at) WHERE state = 'delivered'",
    ),
)
"""Each entry takes the schema from its index (the file's ``user_version``) to the next."""

SCHEMA_VERSION = len(MIGRATIONS)

_SELECT = (
    "SELECT d.*, e.type, e.created_at, e.data FROM deliveries d JOIN events e ON e.id = d.event_id"
)


class SQLiteEventJournal(EventJournal):
    """The event journal in a SQLite file of its own, WAL, durable commits.

    Every read and write goes through a :class:`~router.store._sqlite.JournalWriter`, the
    same group-commit writer the message journal uses: a slow ``fsync`` is paid once per
    batch, and one write that fails is rolled back alone.

    Attributes:
        writer: the writer thread every read and write of the file goes through.
    """

    def __init__(self, path: str | Path) -> None:
        self.writer = JournalWriter(path, _prepare, name=f"SQLiteEventJournal({str(path)!r})")

    def __repr__(self) -> str:
        return f"SQLiteEventJournal({self.path!r})"

    @property
    def path(self) -> str:
        """The database file."""
        return self.writer.path

    @property
    def commits(self) -> int:
        """Transactions committed so far; with concurrent writers, fewer than writes."""
        return self.writer.commits

    async def open(self) -> None:
        """Open the file in WAL mode and bring its schema up to date.

        Raises:
            ConfigError: the file cannot be used, or was written by a newer smsrouter.
        """
        await self.writer.open()

    async def close(self) -> None:
        """Commit what is queued, then close the file."""
        await self.writer.close()

    async def add(self, event: Event, webhooks: Sequence[str], now: float) -> int:
        def work(conn: sqlite3.Connection) -> int:
            conn.execute(
                "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?)",
                (event.id, event.type.value, event.created_at, json.dumps(dict(event.data))),
            )
            added = 0
            for webhook in dict.fromkeys(webhooks):
                cursor = conn.execute(
                    "INSERT OR IGNORE INTO deliveries (event_id, webhook, state, attempts,"
                    " queued_at, next_at) VALUES (?, ?, 'pending', 0, ?, ?)",
                    (event.id, webhook, now, now),
                )
                added += cursor.rowcount
            return added

        return await self.writer.run(work)

    async def due(self, now: float, *, limit: int, skip: Collection[str] = ()) -> list[Delivery]:
        skipped = list(skip)
        marks = ", ".join("?" * len(skipped))
        sql = (
            f"{_SELECT} WHERE d.state = 'pending' AND d.next_at <= ?"
            f" AND d.webhook NOT IN ({marks}) ORDER BY d.next_at, d.seq LIMIT ?"
        )
        return await self.writer.run(lambda conn: _rows(conn, sql, [now, *skipped, limit]))

    async def next_due(self, after: float) -> float | None:
        def work(conn: sqlite3.Connection) -> float | None:
            (first,) = conn.execute(
                "SELECT MIN(next_at) FROM deliveries WHERE state = 'pending' AND next_at > ?",
                (after,),
            ).fetchone()
            return None if first is None else float(first)

        return await self.writer.run(work)

    async def _update(self, event_id: str, webhook: str, sets: str, values: list[Any]) -> None:
        def work(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                f"UPDATE deliveries SET attempts = attempts + 1, {sets}"  # noqa: S608 - fixed SQL
                " WHERE event_id = ? AND webhook = ?",
                [*values, event_id, webhook],
            )
            if cursor.rowcount == 0:
                raise KeyError((event_id, webhook))

        await self.writer.run(work)

    async def delivered(self, event_id: str, webhook: str, now: float, status: int) -> None:
        await self._update(
            event_id,
            webhook,
            "state = 'delivered', next_at = NULL, last_at = ?, last_status = ?,"
            " last_error = NULL, delivered_at = ?",
            [now, status, now],
        )

    async def failed(
        self,
        event_id: str,
        webhook: str,
        now: float,
        *,
        status: int | None,
        error: str,
        retry_at: float | None,
    ) -> None:
        state = DeliveryState.DEAD if retry_at is None else DeliveryState.PENDING
        await self._update(
            event_id,
            webhook,
            "state = ?, next_at = ?, last_at = ?, last_status = ?, last_error = ?",
            [state.value, retry_at, now, status, error],
        )

    async def requeue(self, event_id: str, now: float, *, webhook: str | None = None) -> int:
        def work(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "UPDATE deliveries SET state = 'pending', queued_at = ?, next_at = ?"
                " WHERE event_id = ? AND state = 'dead' AND (? IS NULL OR webhook = ?)",
                (now, now, event_id, webhook, webhook),
            )
            return cursor.rowcount

        return await self.writer.run(work)

    async def deliveries(self, event_id: str) -> list[Delivery]:
        sql = f"{_SELECT} WHERE d.event_id = ? ORDER BY d.seq"
        return await self.writer.run(lambda conn: _rows(conn, sql, [event_id]))

    async def list(
        self,
        *,
        state: DeliveryState | None = None,
        type: EventType | None = None,
        webhook: str | None = None,
        limit: int = 50,
        before: int | None = None,
    ) -> list[Delivery]:
        check_limit(limit)
        where, params = ["1"], []
        for clause, value in (
            ("d.state = ?", None if state is None else state.value),
            ("e.type = ?", None if type is None else type.value),
            ("d.webhook = ?", webhook),
            ("d.seq < ?", before),
        ):
            if value is not None:
                where.append(clause)
                params.append(value)
        sql = f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY d.seq DESC LIMIT ?"
        return await self.writer.run(lambda conn: _rows(conn, sql, [*params, limit]))

    async def prune(self, before: float) -> int:
        def work(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "DELETE FROM deliveries WHERE state = 'delivered' AND delivered_at < ?", (before,)
            )
            conn.execute(
                "DELETE FROM events WHERE NOT EXISTS"
                " (SELECT 1 FROM deliveries WHERE deliveries.event_id = events.id)"
            )
            return cursor.rowcount

        return await self.writer.run(work)


def events_path(journal: str | Path) -> Path:
    """The event journal's file beside a message journal's: ``j.db`` -> ``j.events.db``."""
    path = Path(journal)
    return path.with_name(f"{path.stem}.events{path.suffix}")


POSTGRES_SCHEMES = ("postgresql://", "postgres://")
"""How a PostgreSQL journal's URL starts."""


def open_event_journal(store: MessageStore) -> EventJournal:
    """The event journal that goes with the message journal *store*.

    A SQLite journal file gets a SQLite event journal beside it; a journal a fleet shares
    (PostgreSQL) gets the PostgreSQL event journal in its database, under the same instance
    name and lease, so each event is posted once by the fleet; anything else (memory) gets
    a memory one, which a restart empties.

    Raises:
        TypeError: *store* is shared but is not the PostgreSQL journal, so no event journal
            would be shared with it.
    """
    if isinstance(store, SQLiteStore) and store.path != ":memory:":
        return SQLiteEventJournal(events_path(store.path))
    if store.shared:
        return _shared_journal(store)
    if not isinstance(store, MemoryStore | SQLiteStore):
        log.warning("webhook events are kept in memory: a restart loses pending ones")
    return MemoryEventJournal()


def _shared_journal(store: MessageStore) -> EventJournal:
    """The PostgreSQL event journal in the database of *store*, a journal a fleet shares."""
    # The fleet extra (asyncpg) is imported only for a journal that needs it.
    from router.store.postgres import PostgresStore
    from router.webhooks.postgres import PostgresEventJournal

    if not isinstance(store, PostgresStore):
        # Refused rather than kept in memory: each instance would lose its pending events
        # on a restart, and post what it was pushed beside the others.
        raise TypeError(
            f"{type(store).__name__} is shared, and only the PostgreSQL journal has an"
            " event journal to share with it"
        )
    return PostgresEventJournal(store.url, owner=store.owner, lease=store.lease_seconds)


def _prepare(conn: sqlite3.Connection, path: str) -> None:
    """WAL and durable commits, then the migrations the file lacks."""
    # An event the router acknowledged to a provider (its push answered 200) must survive a
    # power loss, hence the durable commits prepare_journal sets.
    prepare_journal(conn, path, MIGRATIONS, what="event journal")


def _rows(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[Delivery]:
    return [delivery_record(row) for row in conn.execute(sql, params)]
