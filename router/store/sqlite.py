"""The SQLite journal: the daemon's default, one file in WAL mode.

sqlite3 blocks, so it runs on one writer thread that owns the connection; coroutines hand
it work and await the answer, and the event loop never waits on the disk. Writes that
queue up while a transaction commits are committed together in the next one (a group
commit): each caller awaits the commit that covers its write, so a slow ``fsync`` is paid
once per batch rather than once per message. Each write runs in its own savepoint, so one
that fails is rolled back alone and its caller gets the error; the rest of the batch and
the thread carry on.

``synchronous=FULL`` makes every commit durable before its callers hear of it: under WAL,
``NORMAL`` may lose the last commits on power loss, and a message the API acknowledged
must not be lost. The group commit is what keeps that affordable.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from router.errors import ConfigError
from router.model import (
    Attempt,
    DeliveryReport,
    DeliveryStatus,
    Encoding,
    ErrorKind,
    InboundMessage,
    Message,
    Outcome,
    Recipient,
    RecipientStatus,
    SendResult,
)
from router.store.base import (
    InboundRecord,
    MessageRecord,
    MessageState,
    MessageStore,
    RecipientRecord,
    answered_by,
    bare_number,
    check_limit,
    merge_report,
    ref_candidates,
    report_target,
)

T = TypeVar("T")

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
)
"""Each entry takes the schema from its index (the file's ``user_version``) to the next."""

SCHEMA_VERSION = len(MIGRATIONS)
"""The schema version this code writes."""

MAX_BATCH = 512
"""The most writes one transaction commits, so one commit's latency stays bounded."""


class _Job:
    """Work for the writer thread and the future its caller awaits."""

    __slots__ = ("future", "loop", "work")

    def __init__(self, work: Callable[[sqlite3.Connection], Any]) -> None:
        self.work = work
        self.loop = asyncio.get_running_loop()
        self.future: asyncio.Future[Any] = self.loop.create_future()

    def settle(self, value: Any, error: BaseException | None) -> None:
        """Hand the result to the caller's loop (which may be gone, or the caller)."""
        # A closed loop raises RuntimeError: nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(_settle, self.future, value, error)


def _settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.done():  # the caller was cancelled; the write stands regardless
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


class _Close(_Job):
    """Stop the thread after the work queued before it."""


class SQLiteStore(MessageStore):
    """The journal in one SQLite file, written from one thread with group commits.

    Args:
        path: the database file (created with its schema when missing), or ``:memory:``.

    Attributes:
        commits: transactions committed so far; with concurrent writers, fewer than writes.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.commits = 0
        # Each writer thread has a queue of its own, so a store reopened while its old
        # thread still drains never shares work between two threads.
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._live = False
        """Whether ``_queue`` has a thread taking work; set and cleared under ``_lock``."""
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    # -- the writer thread ----------------------------------------------------------------

    async def open(self) -> None:
        """Start the writer thread, open the file in WAL mode and bring its schema up to date.

        Raises:
            ConfigError: the file cannot be opened, is not a database, or was written by a
                newer smsrouter (its schema version is higher than this code knows).
        """
        job = _Job(lambda conn: None)  # settled when the file is open
        with self._lock:
            if self._live:
                return
            self._live = True
            jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
            jobs.put(job)
            self._queue = jobs
        threading.Thread(
            target=self._serve, args=(jobs,), name=f"smsrouter-journal:{self.path}", daemon=True
        ).start()
        await job.future

    async def close(self) -> None:
        """Commit what is queued, close the file and stop the writer thread."""
        job = _Close(lambda conn: None)
        with self._lock:
            if not self._live:
                return
            self._live = False
            self._queue.put(job)
        await job.future

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run *work* on the writer thread inside the next batch's transaction."""
        job = _Job(work)
        with self._lock:
            if not self._live:
                raise RuntimeError(f"{self!r} is not open")
            self._queue.put(job)
        result: T = await job.future
        return result

    def _serve(self, jobs: queue.SimpleQueue[_Job]) -> None:
        """The writer thread: open, then commit batches until told to close."""
        opening = jobs.get()
        conn, error = self._connect()
        opening.settle(None, error)
        if conn is None:
            self._refuse(jobs)
            return
        while True:
            batch = [jobs.get()]
            while not isinstance(batch[-1], _Close) and len(batch) < MAX_BATCH:
                try:
                    batch.append(jobs.get_nowait())
                except queue.Empty:
                    break
            stop = batch.pop() if isinstance(batch[-1], _Close) else None
            if batch:
                try:
                    self._commit(conn, batch)
                except Exception as exc:  # the connection itself failed: fail the batch
                    for job in batch:
                        job.settle(None, exc)
                    if conn.in_transaction:
                        with contextlib.suppress(sqlite3.Error):
                            conn.execute("ROLLBACK")
            if stop is not None:
                try:
                    conn.close()
                except sqlite3.Error as exc:
                    stop.settle(None, exc)
                else:
                    stop.settle(None, None)
                return

    def _refuse(self, jobs: queue.SimpleQueue[_Job]) -> None:
        """Fail the work queued behind an open that failed: no thread will run it."""
        with self._lock:
            if self._queue is jobs:
                self._live = False
            while True:
                try:
                    job = jobs.get_nowait()
                except queue.Empty:
                    return
                refusal = None if isinstance(job, _Close) else RuntimeError(f"{self!r} is not open")
                job.settle(None, refusal)

    def _connect(self) -> tuple[sqlite3.Connection | None, ConfigError | None]:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.Error as exc:
            return None, ConfigError([f"store.url: cannot open {self.path}: {exc}"])
        try:
            conn.row_factory = sqlite3.Row
            _migrate(conn, self.path)
        except (sqlite3.Error, ConfigError) as exc:
            conn.close()
            if isinstance(exc, ConfigError):
                return None, exc
            return None, ConfigError([f"store.url: cannot use {self.path}: {exc}"])
        return conn, None

    def _commit(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        """Run *batch* in one transaction, each job in a savepoint; settle them after COMMIT."""
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            for job in batch:
                job.settle(None, exc)
            return
        done: list[tuple[_Job, Any, BaseException | None]] = []
        for index, job in enumerate(batch):
            try:
                conn.execute("SAVEPOINT job")
                value = job.work(conn)
                conn.execute("RELEASE job")
                done.append((job, value, None))
            except Exception as exc:
                if not conn.in_transaction:
                    # SQLite rolled the whole transaction back (disk full, I/O error):
                    # the writes before this one are gone too; the rest get a fresh start.
                    for earlier, _, _ in done:
                        earlier.settle(None, exc)
                    job.settle(None, exc)
                    if batch[index + 1 :]:
                        self._commit(conn, batch[index + 1 :])
                    return
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
                done.append((job, None, exc))
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            done = [(job, None, exc) for job, _, _ in done]
        else:
            self.commits += 1
        for job, value, error in done:
            job.settle(value, error)

    # -- the contract ---------------------------------------------------------------------

    async def add(
        self,
        message: Message,
        recipients: Sequence[Recipient],
        encoding: Encoding,
        segments: int,
        now: float,
    ) -> tuple[MessageRecord, bool]:
        def work(conn: sqlite3.Connection) -> tuple[MessageRecord, bool]:
            # The one writer thread serialises adds, so look-then-insert cannot race.
            found: list[MessageRecord] = []
            if message.reference is not None:
                found = _load(conn, "reference = ?", (message.reference,))
            found = found or _load(conn, "id = ?", (message.id,))
            if found:
                return found[0], False
            conn.execute(
                "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    message.id,
                    message.reference,
                    message.text,
                    message.sender,
                    None if message.providers is None else json.dumps(message.providers),
                    encoding.value,
                    segments,
                    now,
                    MessageState.QUEUED.value,
                ),
            )
            conn.executemany(
                "INSERT INTO recipients (message_id, position, recipient, ref) VALUES (?, ?, ?, ?)",
                [(message.id, i, r.e164, r.ref) for i, r in enumerate(recipients)],
            )
            record = MessageRecord(
                id=message.id,
                reference=message.reference,
                text=message.text,
                sender=message.sender,
                providers=message.providers,
                encoding=encoding,
                segments=segments,
                created_at=now,
                state=MessageState.QUEUED,
                recipients=tuple(RecipientRecord(r.e164, r.ref) for r in recipients),
            )
            return record, True

        return await self._run(work)

    async def get(self, message_id: str) -> MessageRecord | None:
        found = await self._run(lambda conn: _load(conn, "id = ?", (message_id,)))
        return found[0] if found else None

    async def attempt_started(self, message_id: str, provider: str, refs: Sequence[str]) -> None:
        def work(conn: sqlite3.Connection) -> None:
            _mark_sending(conn, message_id)
            conn.executemany(
                "UPDATE recipients SET in_flight = ? WHERE message_id = ? AND ref = ?",
                [(provider, message_id, ref) for ref in refs],
            )

        await self._run(work)

    async def attempt_ended(self, message_id: str, ref: str, attempt: Attempt) -> None:
        def work(conn: sqlite3.Connection) -> None:
            _mark_sending(conn, message_id)
            cursor = conn.execute(
                "UPDATE recipients SET in_flight = NULL WHERE message_id = ? AND ref = ?",
                (message_id, ref),
            )
            if cursor.rowcount == 0:
                raise KeyError(ref)
            (seq,) = conn.execute(
                "SELECT COUNT(*) FROM attempts WHERE message_id = ? AND ref = ?",
                (message_id, ref),
            ).fetchone()
            _insert_attempts(conn, message_id, ref, [attempt], start=seq)

        await self._run(work)

    async def finish(self, result: SendResult) -> None:
        def work(conn: sqlite3.Connection) -> None:
            message_id = result.message_id
            cursor = conn.execute(
                "UPDATE messages SET state = ? WHERE id = ?", (MessageState.DONE.value, message_id)
            )
            if cursor.rowcount == 0:
                raise KeyError(message_id)
            for r in result.recipients:
                conn.execute(
                    "UPDATE recipients SET status = ?, provider = ?, provider_message_id = ?,"
                    " cost = ?, in_flight = NULL WHERE message_id = ? AND ref = ?",
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
                _insert_attempts(conn, message_id, r.ref, r.attempts)

        await self._run(work)

    async def apply_report(self, report: DeliveryReport, now: float) -> tuple[str, str] | None:
        def work(conn: sqlite3.Connection) -> tuple[str, str] | None:
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
                found = _load(conn, "id = ?", (message_id,))
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
                            _parts_json(merged.delivery_parts),
                            message_id,
                            target.ref,
                        ),
                    )
                return message_id, target.ref
            return None

        return await self._run(work)

    async def add_inbound(self, message: InboundMessage, now: float) -> str | None:
        def work(conn: sqlite3.Connection) -> str | None:
            if message.provider_message_id is not None:
                row = conn.execute(
                    "SELECT answers FROM inbound WHERE provider = ? AND provider_message_id = ?",
                    (message.provider, message.provider_message_id),
                ).fetchone()
                if row is not None:
                    answers: str | None = row["answers"]
                    return answers
            answers = None
            if message.in_reply_to is not None:
                for message_id in ref_candidates(message.in_reply_to):
                    found = _load(conn, "id = ?", (message_id,))
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

        return await self._run(work)

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

        def work(conn: sqlite3.Connection) -> list[InboundRecord]:
            return [_inbound_record(row) for row in conn.execute(sql, params)]

        return await self._run(work)

    async def unfinished(self) -> list[MessageRecord]:
        return await self._run(lambda conn: _load(conn, "state != 'done'", ()))


# -- schema and rows ----------------------------------------------------------------------


def _migrate(conn: sqlite3.Connection, path: str) -> None:
    """Set WAL and durable commits, then apply the migrations the file lacks."""
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version > SCHEMA_VERSION:
        raise ConfigError(
            [
                f"store.url: {path} has journal schema version {version}, but this smsrouter "
                f"knows only up to {SCHEMA_VERSION}: it was written by a newer smsrouter"
            ]
        )
    (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
    if mode != "wal" and path != ":memory:":
        raise ConfigError([f"store.url: {path} cannot use WAL mode (journal_mode is {mode})"])
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 5000")
    for target in range(version + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[target - 1]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {target}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _mark_sending(conn: sqlite3.Connection, message_id: str) -> None:
    row = conn.execute("SELECT state FROM messages WHERE id = ?", (message_id,)).fetchone()
    if row is None:
        raise KeyError(message_id)
    if row["state"] == MessageState.QUEUED.value:
        conn.execute(
            "UPDATE messages SET state = ? WHERE id = ?", (MessageState.SENDING.value, message_id)
        )


def _insert_attempts(
    conn: sqlite3.Connection,
    message_id: str,
    ref: str,
    attempts: Iterable[Attempt],
    start: int = 0,
) -> None:
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


def _parts_json(parts: Sequence[DeliveryStatus | None]) -> str | None:
    if not parts:
        return None
    return json.dumps([None if p is None else p.value for p in parts])


def _parts(text: str | None) -> tuple[DeliveryStatus | None, ...]:
    if text is None:
        return ()
    return tuple(None if p is None else DeliveryStatus(p) for p in json.loads(text))


def _attempt(row: sqlite3.Row) -> Attempt:
    return Attempt(
        provider=row["provider"],
        outcome=Outcome(row["outcome"]),
        reason=row["reason"],
        provider_message_id=row["provider_message_id"],
        kind=None if row["kind"] is None else ErrorKind(row["kind"]),
        at=row["at"],
    )


def _recipient(row: sqlite3.Row, attempts: tuple[Attempt, ...]) -> RecipientRecord:
    return RecipientRecord(
        recipient=row["recipient"],
        ref=row["ref"],
        status=None if row["status"] is None else RecipientStatus(row["status"]),
        provider=row["provider"],
        provider_message_id=row["provider_message_id"],
        attempts=attempts,
        in_flight=row["in_flight"],
        delivery=None if row["delivery"] is None else DeliveryStatus(row["delivery"]),
        delivery_raw=row["delivery_raw"],
        delivery_at=row["delivery_at"],
        delivery_parts=_parts(row["delivery_parts"]),
        cost=None if row["cost"] is None else Decimal(row["cost"]),
    )


def _load(conn: sqlite3.Connection, where: str, params: tuple[object, ...]) -> list[MessageRecord]:
    """The messages matching *where* (a condition on ``messages``), oldest first."""
    chosen = f"SELECT id FROM messages WHERE {where}"  # noqa: S608 - callers pass fixed SQL
    attempts: dict[tuple[str, str], list[Attempt]] = {}
    for row in conn.execute(
        f"SELECT * FROM attempts WHERE message_id IN ({chosen}) ORDER BY seq",  # noqa: S608
        params,
    ):
        attempts.setdefault((row["message_id"], row["ref"]), []).append(_attempt(row))
    recipients: dict[str, list[RecipientRecord]] = {}
    for row in conn.execute(
        f"SELECT * FROM recipients WHERE message_id IN ({chosen}) ORDER BY position",  # noqa: S608
        params,
    ):
        tried = tuple(attempts.get((row["message_id"], row["ref"]), ()))
        recipients.setdefault(row["message_id"], []).append(_recipient(row, tried))
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
        )
        for row in conn.execute(
            f"SELECT * FROM messages WHERE {where} ORDER BY rowid",  # noqa: S608
            params,
        )
    ]


def _inbound_record(row: sqlite3.Row) -> InboundRecord:
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
