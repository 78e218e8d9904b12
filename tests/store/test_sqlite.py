"""What only the SQLite journal promises: durability, its schema, its writer thread."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import router.testing
from router.engine import Router
from router.errors import ConfigError
from router.model import (
    Attempt,
    DeliveryReport,
    DeliveryStatus,
    Encoding,
    InboundMessage,
    Message,
    Outcome,
    Recipient,
    RecipientResult,
    RecipientStatus,
    SendResult,
)
from router.store import (
    CallRecord,
    Durability,
    HoldRecord,
    MemoryStore,
    MessageRecord,
    MessageState,
    RecentCalls,
    SQLiteStore,
    open_store,
)
from router.store._schema import MIGRATIONS, SCHEMA_VERSION
from router.store._sqlite import apply_migrations
from router.testing import FakeClock

NOW = 1_700_000_000.0


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    """An open SQLite journal in a fresh file."""
    made = SQLiteStore(tmp_path / "journal.db")
    await made.open()
    yield made
    await made.close()


def outgoing(
    id: str, count: int = 1, reference: str | None = None
) -> tuple[Message, list[Recipient]]:
    """A message to *count* numbers and its recipients."""
    numbers = [f"+6141234567{i}" for i in range(count)]
    message = Message(to=numbers, text="Hello", reference=reference, id=id)
    return message, [Recipient(n, "AU", 61, f"{id}-{i}") for i, n in enumerate(numbers)]


async def add(store: SQLiteStore, id: str, count: int = 1) -> tuple[MessageRecord, bool]:
    """Journal a message."""
    message, recipients = outgoing(id, count)
    return await store.add(message, recipients, Encoding.GSM7, 1, NOW)


async def hold_writer(store: SQLiteStore) -> tuple[threading.Event, asyncio.Task[Any]]:
    """Keep the writer thread busy until the returned event is set, so writes queue up."""
    started, release = threading.Event(), threading.Event()

    def block(conn: sqlite3.Connection) -> None:
        started.set()
        release.wait(5)

    task = asyncio.create_task(store.writer.run(block))
    assert await asyncio.to_thread(started.wait, 5)
    return release, task


def read(path: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows from the file through a connection of its own."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


# -- durability ---------------------------------------------------------------------------


async def test_add_is_committed_before_it_returns(store: SQLiteStore, tmp_path: Path) -> None:
    await add(store, "m1", 2)
    assert read(tmp_path / "journal.db", "SELECT id, state FROM messages") == [("m1", "queued")]
    assert read(tmp_path / "journal.db", "SELECT ref FROM recipients ORDER BY position") == [
        ("m1-0",),
        ("m1-1",),
    ]


async def test_everything_survives_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    first = SQLiteStore(path)
    await first.open()
    message, recipients = outgoing("m1", 2, reference="order-1")
    message = Message(
        to=message.to, text="Héllo", sender="Shop", reference="order-1", providers=("a",), id="m1"
    )
    await first.add(message, recipients, Encoding.UCS2, 2, NOW)
    failed = Attempt("b", Outcome.UNAVAILABLE, "down", at=NOW + 0.25)
    ok = Attempt("a", Outcome.ACCEPTED, provider_message_id="a-1", at=NOW + 0.5)
    await first.attempt_ended("m1", "m1-0", failed)
    await first.attempt_ended("m1", "m1-0", ok)
    await first.attempt_started("m1", "a", ["m1-1"])
    await first.finish(
        SendResult(
            "m1",
            "order-1",
            (
                RecipientResult(
                    "+61412345670",
                    "m1-0",
                    RecipientStatus.ACCEPTED,
                    "a",
                    "a-1",
                    (failed, ok),
                    2,
                    Decimal("0.090"),
                ),
            ),
            Encoding.UCS2,
            2,
        )
    )
    report = DeliveryReport("a", DeliveryStatus.DELIVERED, "Delivered", "a-1", part=(1, 2))
    await first.apply_report(report, NOW + 3)
    inbound = InboundMessage("a", "+61499000001", "61400000000", "yes", "in-1", "m1-0", NOW + 4)
    await first.add_inbound(inbound, NOW + 5)
    before = await first.get("m1")
    listed = await first.inbound()
    await first.close()

    second = SQLiteStore(path)
    await second.open()
    try:
        after = await second.get("m1")
        assert after == before
        assert after is not None
        assert after.state is MessageState.DONE
        assert after.recipients[0].cost == Decimal("0.090")
        assert after.recipients[0].delivery_parts == (DeliveryStatus.DELIVERED, None)
        assert after.recipients[1].in_flight == "a"
        assert await second.inbound() == listed
        assert listed[0].answers == "m1"
        again, created = await second.add(message, recipients, Encoding.UCS2, 2, NOW)
        assert (again, created) == (before, False)
    finally:
        await second.close()


async def test_one_store_reopens_after_close(store: SQLiteStore) -> None:
    await add(store, "m1")
    await store.close()
    with pytest.raises(RuntimeError, match="not open"):
        await store.get("m1")
    await store.open()
    record = await store.get("m1")
    assert record is not None
    assert record.id == "m1"


async def test_reopening_while_a_close_drains(store: SQLiteStore) -> None:
    tasks = [asyncio.create_task(add(store, f"m{i}")) for i in range(20)]
    await asyncio.sleep(0)
    closing = asyncio.create_task(store.close())
    await asyncio.sleep(0)
    await store.open()
    await closing
    assert all(created for _, created in await asyncio.gather(*tasks))
    assert len(await store.unfinished()) == 20
    assert (await add(store, "m20"))[1] is True


async def test_close_commits_what_was_queued(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "journal.db")
    await store.open()
    tasks = [asyncio.create_task(add(store, f"m{i}")) for i in range(20)]
    await asyncio.sleep(0)  # every add is queued
    await store.close()
    assert all(created for _, created in await asyncio.gather(*tasks))
    assert read(tmp_path / "journal.db", "SELECT COUNT(*) FROM messages") == [(20,)]


async def test_a_cancelled_caller_s_write_still_stands(store: SQLiteStore) -> None:
    release, blocker = await hold_writer(store)
    task = asyncio.create_task(add(store, "m1"))
    await asyncio.sleep(0)
    task.cancel()
    release.set()
    await blocker
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await store.get("m1") is not None


# -- the file and its schema --------------------------------------------------------------


async def test_the_file_is_in_wal_mode_with_durable_commits(
    store: SQLiteStore, tmp_path: Path
) -> None:
    assert read(tmp_path / "journal.db", "PRAGMA journal_mode") == [("wal",)]
    assert read(tmp_path / "journal.db", "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert SCHEMA_VERSION == 8
    # synchronous is per connection: ask the store's own (2 is FULL).
    assert (
        await store.writer.run(lambda conn: conn.execute("PRAGMA synchronous").fetchone()[0]) == 2
    )


async def test_a_version_1_file_gains_the_budget_calls_and_keeps_its_messages(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.db"
    conn = sqlite3.connect(path, isolation_level=None)
    apply_migrations(conn, MIGRATIONS[:1], 0)  # as the smsrouter before them left it
    conn.execute(
        "INSERT INTO messages VALUES ('m1', NULL, 'Hello', NULL, NULL, 'gsm7', 1, ?, 'queued')",
        (NOW,),
    )
    conn.close()

    store = SQLiteStore(path)
    await store.open()
    try:
        assert await store.get("m1") is not None
        call = CallRecord("smsc", "balance", NOW, NOW + 1)
        await store.record_calls([call], [], forget_before=NOW - 60)
        assert (await store.recent_calls(NOW - 60)).calls == (call,)
    finally:
        await store.close()
    assert read(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


async def test_budget_calls_survive_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    first = SQLiteStore(path)
    await first.open()
    calls = [CallRecord("smsc", "balance", NOW, NOW + 1), CallRecord("smsc", "balance", NOW + 2)]
    holds = [HoldRecord("smsc", None, NOW + 30)]
    await first.record_calls(calls, holds, forget_before=NOW - 60)
    await first.close()
    again = SQLiteStore(path)
    await again.open()
    try:
        assert await again.recent_calls(NOW - 60) == RecentCalls(tuple(calls), tuple(holds))
    finally:
        await again.close()


async def test_a_first_version_file_is_migrated_and_its_marks_kept(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    conn = sqlite3.connect(path, isolation_level=None)
    apply_migrations(conn, MIGRATIONS[:1], 0)
    conn.execute(
        "INSERT INTO messages VALUES ('m1', NULL, 'hi', NULL, NULL, 'gsm7', 1, ?, 'sending')",
        (NOW,),
    )
    conn.execute(
        "INSERT INTO recipients (message_id, position, recipient, ref, in_flight)"
        " VALUES ('m1', 0, '+61412345670', 'm1-0', 'a')"
    )
    conn.close()
    store = SQLiteStore(path)
    await store.open()
    try:
        [m1] = await store.unfinished()
        # Journalled before start times were kept: in flight, since when not known.
        assert (m1.recipients[0].in_flight, m1.recipients[0].in_flight_at) == ("a", None)
        await store.attempt_started("m1", "a", ["m1-0"], now=NOW + 1)
        assert (await store.unfinished())[0].recipients[0].in_flight_at == NOW + 1
    finally:
        await store.close()
    assert read(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


async def test_a_version_7_file_is_migrated_and_its_marks_went_by_their_own_ids(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.db"
    conn = sqlite3.connect(path, isolation_level=None)
    apply_migrations(conn, MIGRATIONS[:7], 0)  # as the smsrouter before coalesced calls left it
    assert conn.execute("PRAGMA user_version").fetchone() == (7,)
    conn.execute(
        "INSERT INTO messages (id, text, encoding, segments, created_at, state)"
        " VALUES ('m1', 'hi', 'gsm7', 1, ?, 'sending')",
        (NOW,),
    )
    conn.execute(
        "INSERT INTO recipients (message_id, position, recipient, ref, in_flight, in_flight_at)"
        " VALUES ('m1', 0, '+61412345670', 'm1-0', 'a', ?), ('m1', 1, '+61412345671', 'm1-1',"
        " NULL, NULL)",
        (NOW,),
    )
    conn.close()
    store = SQLiteStore(path)
    await store.open()
    try:
        [m1] = await store.unfinished()
        marks = [(r.in_flight, r.in_flight_at, r.in_flight_via) for r in m1.recipients]
        assert marks == [("a", NOW, None), (None, None, None)]
        await store.attempt_started("m1", "smsc", ["m1-1"], now=NOW + 1, via="m0")
        assert (await store.unfinished())[0].recipients[1].in_flight_via == "m0"
    finally:
        await store.close()
    assert read(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


async def test_a_file_from_a_newer_smsrouter_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    store = SQLiteStore(path)
    with pytest.raises(ConfigError) as caught:
        await store.open()
    assert caught.value.problems == (
        f"store.url: {path} has journal schema version {SCHEMA_VERSION + 1}, but this "
        f"smsrouter knows only up to {SCHEMA_VERSION}: it was written by a newer smsrouter",
    )
    with pytest.raises(RuntimeError, match="not open"):
        await store.get("m1")
    assert read(path, "PRAGMA user_version") == [(SCHEMA_VERSION + 1,)]
    assert read(path, "SELECT name FROM sqlite_master") == []


async def test_work_queued_behind_a_failed_open_is_refused(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "missing" / "journal.db")
    opening = asyncio.create_task(store.open())
    await asyncio.sleep(0)  # the open is queued; this get queues behind it
    waiting = asyncio.create_task(store.get("m1"))
    with pytest.raises(ConfigError):
        await opening
    with pytest.raises(RuntimeError, match="is not open"):
        await asyncio.wait_for(waiting, 5)


async def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    path.write_bytes(b"this is not a database, it is a text file" * 100)
    with pytest.raises(ConfigError, match=f"store.url: cannot use {path}: file is not a database"):
        await SQLiteStore(path).open()


async def test_a_missing_directory_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "journal.db"
    with pytest.raises(ConfigError, match=f"store.url: cannot open {path}"):
        await SQLiteStore(path).open()


def test_open_store_maps_urls(tmp_path: Path) -> None:
    assert isinstance(open_store("memory:"), MemoryStore)
    relative = open_store("sqlite:///journal.db")
    assert isinstance(relative, SQLiteStore)
    assert relative.path == "journal.db"
    absolute = open_store(f"sqlite:///{tmp_path}/journal.db")
    assert isinstance(absolute, SQLiteStore)
    assert absolute.path == f"{tmp_path}/journal.db"
    with pytest.raises(ConfigError, match="unknown store"):
        open_store("mysql://db/journal")


async def test_a_relative_url_is_opened_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///journal.db")
    await store.open()
    await store.close()
    assert read(tmp_path / "journal.db", "PRAGMA user_version") == [(SCHEMA_VERSION,)]


# -- the writer thread --------------------------------------------------------------------


async def test_sqlite_runs_off_the_event_loop_thread(store: SQLiteStore) -> None:
    writer = await store.writer.run(lambda conn: threading.get_ident())
    assert writer != threading.get_ident()
    assert await store.writer.run(lambda conn: threading.get_ident()) == writer


async def test_writes_queued_together_share_one_commit(store: SQLiteStore) -> None:
    release, blocker = await hold_writer(store)
    tasks = [asyncio.create_task(add(store, f"m{i}")) for i in range(50)]
    await asyncio.sleep(0)  # every add is queued behind the blocker
    commits = store.commits
    release.set()
    answers = await asyncio.gather(*tasks)
    await blocker
    assert store.commits - commits == 2  # the blocker's transaction, then all 50 adds
    assert [(record.id, created) for record, created in answers] == [
        (f"m{i}", True) for i in range(50)
    ]


async def test_concurrent_writers_need_fewer_commits_than_writes(store: SQLiteStore) -> None:
    commits = store.commits
    answers = await asyncio.gather(*(add(store, f"m{i}", 3) for i in range(200)))
    assert all(created for _, created in answers)
    assert 1 <= store.commits - commits < 200
    assert len(await store.unfinished()) == 200


async def test_a_failed_write_fails_alone_and_the_writer_lives_on(store: SQLiteStore) -> None:
    release, blocker = await hold_writer(store)
    message, recipients = outgoing("bad", 2)
    twice = [recipients[0], recipients[0]]  # the same ref twice breaks UNIQUE (message, ref)
    tasks = [
        asyncio.create_task(add(store, "m1")),
        asyncio.create_task(store.add(message, twice, Encoding.GSM7, 1, NOW)),
        asyncio.create_task(add(store, "m3")),
    ]
    await asyncio.sleep(0)
    commits = store.commits
    release.set()
    first, failed, third = await asyncio.gather(*tasks, return_exceptions=True)
    await blocker
    assert isinstance(failed, sqlite3.IntegrityError)
    assert str(failed) == "UNIQUE constraint failed: recipients.message_id, recipients.ref"
    assert isinstance(first, tuple)
    assert isinstance(third, tuple)
    assert store.commits - commits == 2
    # The failed write left nothing behind; the others and later writes are there.
    assert await store.get("bad") is None
    assert [r.id for r in await store.unfinished()] == ["m1", "m3"]
    assert (await add(store, "m4"))[1] is True


async def test_a_transaction_lost_whole_fails_every_write_in_it(store: SQLiteStore) -> None:
    def lose_everything(conn: sqlite3.Connection) -> None:
        # What SQLite does on a full disk or an I/O error: the whole transaction goes.
        conn.execute("ROLLBACK")
        raise OSError("disk full")

    release, blocker = await hold_writer(store)
    before = asyncio.create_task(add(store, "m1"))
    losing = asyncio.create_task(store.writer.run(lose_everything))
    after = asyncio.create_task(add(store, "m3"))
    await asyncio.sleep(0)
    release.set()
    answers = await asyncio.gather(before, losing, after, return_exceptions=True)
    await blocker
    assert [type(a) for a in answers[:2]] == [OSError, OSError]
    assert answers[2] == ((await store.get("m3")), True)
    # m1 was rolled back with the rest, and its caller was told so.
    assert await store.get("m1") is None


async def test_methods_need_an_open_store(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "journal.db")
    with pytest.raises(RuntimeError, match=r"SQLiteStore\('.*journal.db'\) is not open"):
        await store.unfinished()
    await store.close()  # closing a store never opened is harmless


# -- with the Router ----------------------------------------------------------------------


async def test_the_router_journals_through_sqlite(store: SQLiteStore, clock: FakeClock) -> None:
    config = {
        "router": {"default_region": "AU"},
        "providers": {
            "a": {"plugin": "fake", "script": ["provider_error"]},
            "b": {"plugin": "fake"},
        },
    }
    async with Router(config, plugins=[router.testing], store=store, clock=clock) as app:
        result = await app.send(Message(to=["0412345670", "0412345671"], text="Hi", reference="r"))
        again = await app.send(Message(to=["0412345670"], text="Hi", reference="r"))
    record = await store.get(result.message_id)
    assert record is not None
    assert record.state is MessageState.DONE
    assert record.result() == result
    assert [len(r.attempts) for r in record.recipients] == [2, 2]
    assert again == record.result(duplicate=True)


@pytest.mark.parametrize(("durability", "synchronous"), [("power", 2), ("process", 1)])
async def test_durability_sets_how_commits_wait_for_the_disk(
    tmp_path: Path, durability: Durability, synchronous: int
) -> None:
    # FULL (2) by default: a commit survives a power cut; NORMAL (1) under WAL: it survives
    # a killed process, which is what "process" promises.
    store = open_store(f"sqlite:///{tmp_path}/journal.db", durability)
    assert isinstance(store, SQLiteStore)
    assert store.durability == durability
    await store.open()
    try:
        pragmas = await store.writer.run(
            lambda conn: (
                conn.execute("PRAGMA synchronous").fetchone()[0],
                conn.execute("PRAGMA journal_mode").fetchone()[0],
            )
        )
    finally:
        await store.close()
    assert pragmas == (synchronous, "wal")


def test_an_unknown_durability_is_refused() -> None:
    with pytest.raises(ValueError, match="durability must be 'power' or 'process'"):
        SQLiteStore("journal.db", durability="disk")  # type: ignore[arg-type]
