"""The SQLite side of routing that learns: the delivery statistics, the learnt weights and
the redelivery claim, as migrations and the SQL each store method runs on the writer thread.

The rules are those of :mod:`router.store.deliveries`; the contract tests run both stores.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from router.model import DeliveryStatus
from router.store._sqlite import JournalWriter
from router.store.deliveries import (
    DeliveryFigures,
    DeliveryJournal,
    DeliverySample,
    QualityState,
    QualityWeight,
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        # Each accepted send by provider and destination country, and its final report:
        # the delivery statistics over a rolling window (pruned to it).
        # A final report may be journalled before its send is counted (the provider pushed
        # it at once): its row waits, without a country or a send time, for the send.
        """CREATE TABLE deliveries (
            provider TEXT NOT NULL,
            ref TEXT NOT NULL,
            country TEXT,
            sent_at REAL,
            status TEXT,
            final_at REAL,
            PRIMARY KEY (provider, ref)
        )""",
        "CREATE INDEX deliveries_sent ON deliveries (coalesce(sent_at, final_at))",
        """CREATE TABLE quality_weights (
            provider TEXT NOT NULL,
            country TEXT NOT NULL,
            weight REAL NOT NULL,
            PRIMARY KEY (provider, country)
        )""",
        """CREATE TABLE quality_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            stepped_at REAL,
            frozen INTEGER NOT NULL
        )""",
    ),
    (
        # A recipient sent once more after a failed report: from which provider, and why.
        "ALTER TABLE recipients ADD COLUMN redelivered_from TEXT",
        "ALTER TABLE recipients ADD COLUMN redelivery_reason TEXT",
    ),
)
"""Steps appended to the journal's migrations (:mod:`router.store._schema`)."""


def record_sends(conn: sqlite3.Connection, samples: Sequence[DeliverySample]) -> None:
    conn.executemany(
        "INSERT INTO deliveries (provider, ref, country, sent_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (provider, ref) DO UPDATE SET country = excluded.country,"
        " sent_at = excluded.sent_at WHERE sent_at IS NULL",
        [(s.provider, s.ref, s.country, s.sent_at) for s in samples],
    )


def record_final(
    conn: sqlite3.Connection, provider: str, ref: str, status: DeliveryStatus, now: float
) -> None:
    conn.execute(
        "INSERT INTO deliveries (provider, ref, status, final_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (provider, ref) DO UPDATE SET status = excluded.status,"
        " final_at = excluded.final_at WHERE status IS NULL",
        (provider, ref, status.value, now),
    )


def delivery_figures(
    conn: sqlite3.Connection, since: float, missing_before: float
) -> list[DeliveryFigures]:
    rows = conn.execute(
        "SELECT provider, country, COUNT(*) AS sent,"
        " TOTAL(status = 'delivered') AS delivered,"
        " TOTAL(status IS NOT NULL AND status != 'delivered') AS failed,"
        " TOTAL(status IS NULL AND sent_at < ?) AS missing,"
        " TOTAL(status IS NULL AND sent_at >= ?) AS pending,"
        " AVG(max(final_at - sent_at, 0)) AS latency"
        " FROM deliveries WHERE sent_at >= ? GROUP BY provider, country"
        " ORDER BY provider, country",
        (missing_before, missing_before, since),
    )
    return [
        DeliveryFigures(
            r["provider"], r["country"], r["sent"], int(r["delivered"]), int(r["failed"]),
            int(r["missing"]), int(r["pending"]), r["latency"],
        )
        for r in rows
    ]  # fmt: skip


def forget_deliveries(conn: sqlite3.Connection, before: float) -> None:
    conn.execute("DELETE FROM deliveries WHERE coalesce(sent_at, final_at) < ?", (before,))


def quality_state(conn: sqlite3.Connection) -> QualityState:
    weights = tuple(
        QualityWeight(r["provider"], r["country"], r["weight"])
        for r in conn.execute("SELECT * FROM quality_weights ORDER BY provider, country")
    )
    row = conn.execute("SELECT stepped_at, frozen FROM quality_state").fetchone()
    if row is None:
        return QualityState(weights)
    return QualityState(weights, row["stepped_at"], bool(row["frozen"]))


def save_quality(conn: sqlite3.Connection, state: QualityState) -> None:
    conn.execute("DELETE FROM quality_weights")
    conn.executemany(
        "INSERT INTO quality_weights VALUES (?, ?, ?)",
        [(w.provider, w.country, w.weight) for w in state.weights],
    )
    conn.execute(
        "INSERT OR REPLACE INTO quality_state VALUES (1, ?, ?)",
        (state.stepped_at, int(state.frozen)),
    )


def claim_redelivery(
    conn: sqlite3.Connection, message_id: str, ref: str, provider: str, reason: str
) -> bool:
    cursor = conn.execute(
        "UPDATE recipients SET redelivered_from = ?, redelivery_reason = ?, delivery = NULL,"
        " delivery_raw = NULL, delivery_at = NULL, delivery_parts = NULL"
        " WHERE message_id = ? AND ref = ? AND provider = ? AND redelivered_from IS NULL",
        (provider, reason, message_id, ref, provider),
    )
    return cursor.rowcount == 1


class SQLiteDeliveries(DeliveryJournal):
    """The delivery statistics, learnt weights and redelivery claims in the journal file,
    through its writer."""

    def __init__(self, writer: JournalWriter) -> None:
        self.writer = writer

    async def record_sends(self, samples: Sequence[DeliverySample]) -> None:
        await self.writer.run(lambda conn: record_sends(conn, samples))

    async def record_final(
        self, provider: str, ref: str, status: DeliveryStatus, now: float
    ) -> None:
        await self.writer.run(lambda conn: record_final(conn, provider, ref, status, now))

    async def delivery_figures(self, since: float, missing_before: float) -> list[DeliveryFigures]:
        return await self.writer.run(lambda conn: delivery_figures(conn, since, missing_before))

    async def forget_deliveries(self, before: float) -> None:
        await self.writer.run(lambda conn: forget_deliveries(conn, before))

    async def quality_state(self) -> QualityState:
        return await self.writer.run(quality_state)

    async def save_quality(self, state: QualityState) -> None:
        await self.writer.run(lambda conn: save_quality(conn, state))

    async def claim_redelivery(self, message_id: str, ref: str, provider: str, reason: str) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            if (
                conn.execute("SELECT 1 FROM messages WHERE id = ?", (message_id,)).fetchone()
                is None
            ):
                raise KeyError(message_id)
            return claim_redelivery(conn, message_id, ref, provider, reason)

        return await self.writer.run(work, keep=message_id)
