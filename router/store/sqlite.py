"""The SQLite journal: the daemon's default, one file in WAL mode.

:class:`SQLiteStore` keeps the journal contract in SQL. The writer thread that owns the
file and commits writes in groups is :mod:`router.store._writer`; the schema, its
migrations and the rows read back as records are :mod:`router.store._schema`.

When the journal fails (a full disk, an I/O error), a call gets a
:class:`~router.errors.StoreError`, except the writes about a message under way (an attempt
started or ended, its result): the message may be at a provider already, so those are kept
and retried by the writer (:mod:`router.store._faults`) and the call returns. Until they
land, :meth:`SQLiteStore.get` refuses that message rather than answer with an old state.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from router.errors import StoreError
from router.model import (
    Attempt,
    DeliveryReport,
    Encoding,
    InboundMessage,
    Message,
    Recipient,
    SendResult,
)
from router.store import _held_sql as held
from router.store import _inbound_sql as inbound_sql
from router.store import _learning as learning
from router.store._admin_sqlite import SQLiteAdminJournal
from router.store._messages_sql import insert_message
from router.store._schema import (
    MIGRATIONS,
    insert_attempts,
    load_messages,
    mark_sending,
    parts_json,
    read_budget_calls,
    write_budget_calls,
)
from router.store._sqlite import JournalWriter, prepare_journal
from router.store.base import (
    CallRecord,
    HoldRecord,
    InboundRecord,
    MessageRecord,
    MessageState,
    MessageStore,
    OptOut,
    RecentCalls,
    ReportMatch,
    check_limit,
    ref_candidates,
)
from router.store.deliveries import DeliverySample
from router.store.records import inbound_record
from router.store.reports import merge_report, report_target

__all__ = ["Durability", "SQLiteStore"]

Durability = Literal["power", "process"]
"""What a commit survives: ``power`` (``synchronous = FULL``) or ``process`` (``NORMAL``)."""


class SQLiteStore(SQLiteAdminJournal, MessageStore):
    """The journal in one SQLite file, written from one thread with group commits.

    Args:
        path: the database file (created with its schema when missing), or ``:memory:``.
        durability: ``power`` (the default: ``synchronous = FULL``, a commit survives a
            power cut) or ``process`` (``synchronous = NORMAL`` under WAL: a commit survives
            the process being killed, but the last ones may be lost on a power cut or an
            operating system crash; commits wait less on the disk).

    Attributes:
        writer: the writer thread every read and write of the file goes through.
    """

    def __init__(self, path: str | Path, *, durability: Durability = "power") -> None:
        if durability not in ("power", "process"):
            raise ValueError(f"durability must be 'power' or 'process', not {durability!r}")
        self.durability = durability
        synchronous = "FULL" if durability == "power" else "NORMAL"

        def prepare(conn: sqlite3.Connection, path: str) -> None:
            prepare_journal(
                conn,
                path,
                MIGRATIONS,
                what="journal",
                busy_timeout_ms=5000,
                memory_ok=True,
                synchronous=synchronous,
            )

        self.writer = JournalWriter(path, prepare, name=f"SQLiteStore({str(path)!r})")
        self.deliveries = learning.SQLiteDeliveries(self.writer)

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    @property
    def path(self) -> str:
        """The database file, or ``:memory:``."""
        return self.writer.path

    @property
    def commits(self) -> int:
        """Transactions committed so far; with concurrent writers, fewer than writes."""
        return self.writer.commits

    async def open(self) -> None:
        """Start the writer thread, open the file in WAL mode and bring its schema up to date.

        Raises:
            ConfigError: the file cannot be opened, is not a database, or was written by a
                newer smsrouter (its schema version is higher than this code knows).
        """
        await self.writer.open()

    async def close(self) -> None:
        """Commit what is queued, close the file and stop the writer thread."""
        await self.writer.close()

    async def add(
        self,
        message: Message,
        recipients: Sequence[Recipient],
        encoding: Encoding,
        segments: int,
        now: float,
    ) -> tuple[MessageRecord, bool]:
        return await self._add(message, recipients, encoding, segments, now, None)

    async def add_started(
        self,
        message: Message,
        recipients: Sequence[Recipient],
        encoding: Encoding,
        segments: int,
        now: float,
        provider: str,
    ) -> tuple[MessageRecord, bool]:
        return await self._add(message, recipients, encoding, segments, now, provider)

    async def _add(
        self,
        message: Message,
        recipients: Sequence[Recipient],
        encoding: Encoding,
        segments: int,
        now: float,
        started: str | None,
    ) -> tuple[MessageRecord, bool]:
        """Journal *message*, its recipients in flight on *started* when it is set."""
        # One job on the writer thread, the look-up and the insert together: long but atomic.
        self.writer.backlog.check_room()
        state = MessageState.QUEUED if started is None else MessageState.SENDING
        in_flight_at = None if started is None else now

        def work(conn: sqlite3.Connection) -> tuple[MessageRecord, bool]:
            return insert_message(
                conn, message, recipients, encoding, segments, now, started, state, in_flight_at
            )

        return await self.writer.run(work)

    async def get(self, message_id: str) -> MessageRecord | None:
        if self.writer.backlog.holds(message_id):
            reason = f"writes about message {message_id} wait for the journal to work again"
            raise StoreError(self.writer.name, reason)
        found = await self.writer.run(lambda conn: load_messages(conn, "id = ?", (message_id,)))
        return found[0] if found else None

    async def attempt_started(
        self,
        message_id: str,
        provider: str,
        refs: Sequence[str],
        now: float | None = None,
        *,
        via: str | None = None,
    ) -> None:
        def work(conn: sqlite3.Connection) -> None:
            mark_sending(conn, message_id)
            conn.executemany(
                "UPDATE recipients SET in_flight = ?, in_flight_at = ?, in_flight_via = ?"
                " WHERE message_id = ? AND ref = ?",
                [(provider, now, via, message_id, ref) for ref in refs],
            )

        await self.writer.run(work, keep=message_id)

    async def attempt_ended(self, message_id: str, ref: str, attempt: Attempt) -> None:
        def work(conn: sqlite3.Connection) -> None:
            mark_sending(conn, message_id)
            cursor = conn.execute(
                "UPDATE recipients SET in_flight = NULL, in_flight_at = NULL,"
                " in_flight_via = NULL WHERE message_id = ? AND ref = ?",
                (message_id, ref),
            )
            if cursor.rowcount == 0:
                raise KeyError(ref)
            (seq,) = conn.execute(
                "SELECT COUNT(*) FROM attempts WHERE message_id = ? AND ref = ?",
                (message_id, ref),
            ).fetchone()
            insert_attempts(conn, message_id, ref, [attempt], start=seq)

        await self.writer.run(work, keep=message_id)

    async def finish(self, result: SendResult, sent: Sequence[DeliverySample] = ()) -> None:
        def work(conn: sqlite3.Connection) -> None:
            learning.record_sends(conn, sent)  # in the same transaction: no extra commit
            message_id = result.message_id
            cursor = conn.execute(
                "UPDATE messages SET state = ? WHERE id = ?", (MessageState.DONE.value, message_id)
            )
            if cursor.rowcount == 0:
                raise KeyError(message_id)
            for r in result.recipients:
                conn.execute(
                    "UPDATE recipients SET status = ?, provider = ?, provider_message_id = ?,"
                    " cost = ?, in_flight = NULL, in_flight_at = NULL, in_flight_via = NULL"
                    " WHERE message_id = ? AND ref = ?",
                    (
                        r.status.value,
                        r.provider,
                        r.provider_message_id,
                        None if r.cost is None else str(r.cost),
                        message_id,
                        r.ref,
                    ),
                )
                # The result's attempts are the engine's full account, journalled ones included.
                conn.execute(
                    "DELETE FROM attempts WHERE message_id = ? AND ref = ?", (message_id, r.ref)
                )
                insert_attempts(conn, message_id, r.ref, r.attempts)
            held.finish_recipients(conn, result)

        await self.writer.run(work, keep=result.message_id)

    async def apply_report(self, report: DeliveryReport, now: float) -> ReportMatch | None:
        def work(conn: sqlite3.Connection) -> ReportMatch | None:
            ids: list[str] = []
            if report.provider_message_id is not None:
                key = (report.provider, report.provider_message_id)
                rows = conn.execute(
                    "SELECT id FROM messages WHERE id IN ("
                    " SELECT message_id FROM attempts"
                    " WHERE provider = ? AND provider_message_id = ?"
                    " UNION"
                    " SELECT message_id FROM recipients"
                    " WHERE provider = ? AND provider_message_id = ?"
                    ") ORDER BY rowid DESC",
                    key + key,
                )
                ids.extend(row["id"] for row in rows)
            if report.ref is not None:
                ids.extend(i for i in ref_candidates(report.ref) if i not in ids)
            for message_id in ids:
                found = load_messages(conn, "id = ?", (message_id,))
                target = report_target(found[0], report) if found else None
                if target is None:
                    continue
                merged = merge_report(target, report, now)
                if merged != target:
                    conn.execute(
                        "UPDATE recipients SET delivery = ?, delivery_raw = ?, delivery_at = ?,"
                        " delivery_parts = ? WHERE message_id = ? AND ref = ?",
                        (
                            None if merged.delivery is None else merged.delivery.value,
                            merged.delivery_raw,
                            merged.delivery_at,
                            parts_json(merged.delivery_parts),
                            message_id,
                            target.ref,
                        ),
                    )
                return ReportMatch(message_id, target.ref, merged != target, merged.delivery)
            return None

        return await self.writer.run(work)

    async def add_inbound(self, message: InboundMessage, now: float) -> str | None:
        return await self.writer.run(lambda conn: inbound_sql.add_inbound(conn, message, now))

    async def inbound(
        self,
        *,
        provider: str | None = None,
        number: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 50,
        before: int | None = None,
    ) -> list[InboundRecord]:
        check_limit(limit)
        sql, params = inbound_sql.inbound_query(provider, number, since, until, limit, before)
        return await self.writer.run(
            lambda conn: [inbound_record(row) for row in conn.execute(sql, params)]
        )

    async def unfinished(self) -> list[MessageRecord]:
        return await self.writer.run(lambda conn: load_messages(conn, "state != 'done'", ()))

    async def held_due(self, now: float, limit: int = 64) -> list[str]:
        return await self.writer.run(lambda conn: held.held_due(conn, now, limit))

    async def next_held(self) -> float | None:
        return await self.writer.run(held.next_held)

    async def cancel(self, message_id: str, now: float) -> MessageRecord | None:
        return await self.writer.run(lambda conn: held.cancel(conn, message_id))

    async def find(
        self,
        *,
        reference: str | None = None,
        status: str | None = None,
        since: float | None = None,
        limit: int = 50,
        before: tuple[float, str] | None = None,
    ) -> list[MessageRecord]:
        check_limit(limit)
        args = (reference, status, since, limit, before)
        return await self.writer.run(lambda conn: held.find(conn, *args))

    async def opt_out(self, entry: OptOut) -> bool:
        return await self.writer.run(lambda conn: held.opt_out(conn, entry))

    async def opt_in(self, number: str) -> bool:
        return await self.writer.run(lambda conn: held.opt_in(conn, number))

    async def optouts(self, *, number: str | None = None) -> list[OptOut]:
        return await self.writer.run(lambda conn: held.optouts(conn, number))

    async def record_calls(
        self, calls: Sequence[CallRecord], holds: Sequence[HoldRecord], *, forget_before: float
    ) -> None:
        await self.writer.run(lambda conn: write_budget_calls(conn, calls, holds, forget_before))

    async def recent_calls(self, since: float) -> RecentCalls:
        return await self.writer.run(lambda conn: read_budget_calls(conn, since))
