"""The SQLite journals' writer: one thread owns a file's connection and commits work in groups.

Both journals use it, the message journal (:mod:`router.store.sqlite`) and the webhook event
journal (:mod:`router.webhooks.sqlite`), each on a file of its own, so every durability rule
below is written and tested once.

sqlite3 blocks, so it runs on one writer thread that owns the connection; coroutines hand
it work and await the answer, and the event loop never waits on the disk. Writes that
queue up while a transaction commits are committed together in the next one (a group
commit): each caller awaits the commit that covers its write, so a slow ``fsync`` is paid
once per batch rather than once per message. Each write runs in its own savepoint, so one
that fails is rolled back alone and its caller gets the error; the rest of the batch and
the thread carry on. When SQLite rolls the whole transaction back (a full disk, an I/O
error), the writes already run in it are lost: their callers get the error, and the rest of
the batch is retried in a fresh transaction.

When the journal itself fails (the disk is full, an I/O error), callers get a
:class:`~router.errors.StoreError`; a write run with ``keep`` (one about a message that may
already be at a provider) is kept and retried instead, and its caller is told it is done
(:mod:`router.store._faults`).

By default ``synchronous=FULL`` makes every commit durable before its callers hear of it:
under WAL, ``NORMAL`` may lose the last commits on power loss, and a message the API
acknowledged must not be lost. ``[store] durability = "process"`` chooses ``NORMAL``: a
killed process still loses nothing (the WAL is written before the commit returns), a
power cut may. The group commit is what keeps that affordable. :func:`prepare_journal`
sets that, and WAL, on every file a writer opens, and takes the file through its migrations.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from router.errors import ConfigError, StoreError
from router.store._faults import Backlog, journal_error

T = TypeVar("T")

MAX_BATCH = 512
"""The most writes one transaction commits, so one commit's latency stays bounded."""


class _Job:
    """Work for the writer thread and the future its caller awaits."""

    __slots__ = ("future", "keep", "kept", "loop", "work")

    def __init__(self, work: Callable[[sqlite3.Connection], Any], keep: str | None = None) -> None:
        self.work = work
        self.keep = keep
        """The message this write is about, when it is kept and retried if the journal fails."""
        self.kept = False
        """Whether it was kept once (its caller has been told it is done)."""
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


Prepare = Callable[[sqlite3.Connection, str], None]
"""Makes a freshly opened connection ready: (connection, path) -> None, raising ConfigError."""

Fault = Callable[[bool], sqlite3.Error | None]
"""Given whether a transaction wrote, the error its COMMIT fails with (None: no fault)."""


class JournalWriter:
    """The thread that owns a journal file's connection; coroutines hand it work to commit.

    Args:
        path: the database file (created with its schema when missing), or ``:memory:``.
        prepare: run on the connection when the file is opened, before any work: set it up
            and bring its schema up to date (see :func:`prepare_journal`).
        name: what the journal is called in errors (``SQLiteStore('journal.db')``).

    Attributes:
        commits: transactions committed so far; with concurrent writers, fewer than writes.
        backlog: the kept writes waiting for a failing journal to work again.
        fault: a seam for tests: when set, asked before each COMMIT, and the transaction is
            rolled back and fails with the error it gives, as SQLite does on a full disk.
    """

    def __init__(self, path: str | Path, prepare: Prepare, *, name: str) -> None:
        self.path = str(path)
        self.name = name
        self.commits = 0
        self.backlog: Backlog[_Job] = Backlog(name)
        self.fault: Fault | None = None
        self._prepare = prepare
        # Each writer thread has a queue of its own, so a store reopened while its old
        # thread still drains never shares work between two threads.
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._live = False
        """Whether ``_queue`` has a thread taking work; set and cleared under ``_lock``."""
        self._lock = threading.Lock()

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

    def __repr__(self) -> str:
        return f"JournalWriter({self.path!r}, name={self.name!r})"

    async def run(self, work: Callable[[sqlite3.Connection], T], *, keep: str | None = None) -> T:
        """Run *work* on the writer thread inside the next batch's transaction.

        Reads and writes alike: the result comes back once the transaction holding *work*
        is committed. A caller that stops waiting does not undo its write.

        With *keep* (the id of a message that may be at a provider already), a write the
        journal fails is kept and retried, after the writes about *keep* kept before it, and
        the caller gets None at once: *work* must return None.

        Raises:
            RuntimeError: the writer is not open.
            StoreError: the journal failed (full, I/O error, locked), and *work* is not kept.
            Exception: whatever *work* raised (its savepoint was rolled back), or the error
                that lost the whole transaction.
        """
        job = _Job(work, keep)
        with self._lock:
            if not self._live:
                raise RuntimeError(f"{self.name} is not open")
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
            try:  # wake up for a retry of the kept writes, if any are kept
                batch = [jobs.get(timeout=self.backlog.wait())]
            except queue.Empty:
                batch = []
            while batch and not isinstance(batch[-1], _Close) and len(batch) < MAX_BATCH:
                try:
                    batch.append(jobs.get_nowait())
                except queue.Empty:
                    break
            stop = batch.pop() if batch and isinstance(batch[-1], _Close) else None
            if self.backlog.due() or (stop is not None and len(self.backlog)):
                self._run(conn, self.backlog.take())  # oldest first, before newer writes
            self._run(conn, batch)
            if stop is not None:
                self.backlog.abandon()
                try:
                    conn.close()
                except sqlite3.Error as exc:
                    stop.settle(None, exc)
                else:
                    stop.settle(None, None)
                return

    def _run(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        if not batch:
            return
        try:
            self._commit(conn, batch)
        except Exception as exc:  # the connection itself failed: fail the batch
            for job in batch:
                self._settle(job, None, exc)
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")

    def _settle(self, job: _Job, value: Any, error: BaseException | None) -> None:
        """Answer *job*'s caller, mapping the journal's own failure; keep a *keep* write."""
        if error is None:
            if job.kept:
                self.backlog.landed()
            job.settle(value, None)
            return
        error = journal_error(error, self.name)
        if isinstance(error, StoreError):
            self.backlog.failed(error)
            if job.keep is not None:
                self._keep(job)
                return
        elif job.kept:
            assert job.keep is not None
            self.backlog.lost(job.keep, error)
        job.settle(None, error)

    def _keep(self, job: _Job) -> None:
        assert job.keep is not None
        self.backlog.keep(job.keep, job)
        if not job.kept:
            job.kept = True
            job.settle(None, None)

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
                refusal = (
                    None if isinstance(job, _Close) else RuntimeError(f"{self.name} is not open")
                )
                job.settle(None, refusal)

    def _connect(self) -> tuple[sqlite3.Connection | None, ConfigError | None]:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.Error as exc:
            return None, ConfigError([f"store.url: cannot open {self.path}: {exc}"])
        try:
            conn.row_factory = sqlite3.Row
            self._prepare(conn, self.path)
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
                self._settle(job, None, exc)
            return
        changes = conn.total_changes
        done: list[tuple[_Job, Any, BaseException | None]] = []
        for index, job in enumerate(batch):
            if job.keep is not None and self.backlog.holds(job.keep):
                self._keep(job)  # behind the writes about its message kept before it
                continue
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
                        self._settle(earlier, None, exc)
                    self._settle(job, None, exc)
                    if batch[index + 1 :]:
                        self._commit(conn, batch[index + 1 :])
                    return
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
                if job.keep is not None and isinstance(journal_error(exc, self.name), StoreError):
                    self._settle(job, None, exc)  # kept now, so the writes behind it wait
                else:
                    done.append((job, None, exc))
        wrote, commits = conn.total_changes != changes, self.commits
        try:
            fault = None if self.fault is None else self.fault(wrote)
            if fault is not None:
                raise fault
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            done = [(job, None, exc) for job, _, _ in done]
        else:
            self.commits += 1
        for job, value, error in done:
            self._settle(job, value, error)
        if wrote and self.commits != commits:
            self.backlog.wrote()


def prepare_journal(
    conn: sqlite3.Connection,
    path: str,
    migrations: Sequence[Sequence[str]],
    *,
    what: str,
    busy_timeout_ms: int | None = None,
    memory_ok: bool = False,
    synchronous: str = "FULL",
) -> None:
    """Check a journal file's schema version, set WAL and durable commits, migrate it.

    *synchronous* is ``FULL`` (a commit survives a power cut) or ``NORMAL`` (under WAL, a
    commit survives the process being killed, not a power cut: ``[store] durability =
    "process"``).

    Raises ConfigError, naming *path*, for a file a newer smsrouter wrote or one that
    cannot use WAL (``:memory:`` is let through where *memory_ok*).
    """
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
    latest = len(migrations)
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version > latest:
        raise ConfigError(
            [
                f"store.url: {path} has {what} schema version {version}, but this smsrouter "
                f"knows only up to {latest}: it was written by a newer smsrouter"
            ]
        )
    (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
    if mode != "wal" and not (memory_ok and path == ":memory:"):
        raise ConfigError([f"store.url: {path} cannot use WAL mode (journal_mode is {mode})"])
    # By default an acknowledged write must survive a power loss: under WAL, NORMAL may lose
    # the last commits then (a killed process loses nothing: the WAL is in the OS's cache).
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA foreign_keys = ON")
    if busy_timeout_ms is not None:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    apply_migrations(conn, migrations, version)


def apply_migrations(
    conn: sqlite3.Connection, migrations: Sequence[Sequence[str]], version: int
) -> None:
    """Take a journal file from schema *version* to the last of *migrations*.

    Each step is one transaction that also sets ``user_version``, so a step that fails
    leaves the file at the version before it.
    """
    for target in range(version + 1, len(migrations) + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in migrations[target - 1]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {target}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
