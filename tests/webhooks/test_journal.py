"""The EventJournal contract, run against the memory, the SQLite and the PostgreSQL journal;
SQLite's file."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from router.errors import ConfigError
from router.store import MemoryStore, SQLiteStore
from router.store._sqlite import JournalWriter
from router.webhooks import (
    Delivery,
    DeliveryState,
    Event,
    EventJournal,
    EventType,
    MemoryEventJournal,
    SQLiteEventJournal,
    events_path,
    open_event_journal,
)
from router.webhooks.postgres import PostgresEventJournal

NOW = 1_700_000_000.0


def event(n: int = 1, kind: EventType = EventType.DELIVERY_REPORT) -> Event:
    """A journalable event."""
    return Event(f"evt_{n}", kind, NOW + n, {"n": n, "text": "héllo", "part": [1, 2]})


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.servers)])
def kind(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    """Each kind of journal, with PostgreSQL's database URL for the PostgreSQL one.

    The database is asked for here only, so the other kinds need no server; and here, not
    in ``journal``, as an async fixture cannot be asked for from inside another.
    """
    name: str = request.param
    return name, request.getfixturevalue("postgres_url") if name == "postgres" else None


@pytest.fixture
async def journal(kind: tuple[str, str | None], tmp_path: Path) -> AsyncIterator[EventJournal]:
    """An open, empty journal of each kind (PostgreSQL's in a database of the test's own)."""
    name, url = kind
    made: EventJournal
    if url is not None:
        made = PostgresEventJournal(url, owner="one", lease=30.0)
    elif name == "sqlite":
        made = SQLiteEventJournal(tmp_path / "j.events.db")
    else:
        made = MemoryEventJournal()
    await made.open()
    yield made
    await made.close()


async def test_an_event_is_journalled_once_per_webhook(journal: EventJournal) -> None:
    assert await journal.add(event(), ["a", "b", "a"], NOW) == 2
    assert await journal.add(event(), ["a", "b"], NOW + 5) == 0
    assert await journal.add(event(), ["c"], NOW + 5) == 1
    found = await journal.deliveries("evt_1")
    assert [(d.webhook, d.state, d.attempts, d.queued_at, d.next_at) for d in found] == [
        ("a", DeliveryState.PENDING, 0, NOW, NOW),
        ("b", DeliveryState.PENDING, 0, NOW, NOW),
        ("c", DeliveryState.PENDING, 0, NOW + 5, NOW + 5),
    ]
    assert found[0].event == event()
    assert found[0].event.data == {"n": 1, "text": "héllo", "part": [1, 2]}
    assert await journal.deliveries("evt_none") == []


async def test_due_is_soonest_first_and_skips_busy_webhooks(journal: EventJournal) -> None:
    await journal.add(event(1), ["a"], NOW + 3)
    await journal.add(event(2), ["a", "b"], NOW + 1)
    await journal.add(event(3), ["b"], NOW + 2)
    due = await journal.due(NOW + 2, limit=10)
    assert [d.key for d in due] == [("evt_2", "a"), ("evt_2", "b"), ("evt_3", "b")]
    assert [d.key for d in await journal.due(NOW + 2, limit=2)] == [
        ("evt_2", "a"),
        ("evt_2", "b"),
    ]
    assert [d.key for d in await journal.due(NOW + 5, limit=10, skip={"b"})] == [
        ("evt_2", "a"),
        ("evt_1", "a"),
    ]
    assert await journal.due(NOW, limit=10) == []
    assert await journal.next_due(after=NOW) == NOW + 1
    assert await journal.next_due(after=NOW + 1) == NOW + 2
    assert await journal.next_due(after=NOW + 3) is None


async def test_a_failure_is_due_again_then_dead(journal: EventJournal) -> None:
    await journal.add(event(), ["a"], NOW)
    await journal.failed("evt_1", "a", NOW + 1, status=500, error="HTTP 500", retry_at=NOW + 3)
    (row,) = await journal.deliveries("evt_1")
    assert (row.state, row.attempts, row.next_at, row.last_at) == (
        DeliveryState.PENDING,
        1,
        NOW + 3,
        NOW + 1,
    )
    assert (row.last_status, row.last_error) == (500, "HTTP 500")
    assert await journal.due(NOW + 2, limit=10) == []
    assert [d.key for d in await journal.due(NOW + 3, limit=10)] == [("evt_1", "a")]
    await journal.failed("evt_1", "a", NOW + 4, status=None, error="refused", retry_at=None)
    (row,) = await journal.deliveries("evt_1")
    assert (row.state, row.attempts, row.next_at) == (DeliveryState.DEAD, 2, None)
    assert (row.last_status, row.last_error) == (None, "refused")
    assert await journal.due(NOW + 100, limit=10) == []
    assert await journal.next_due(after=0) is None


async def test_a_dead_letter_is_requeued_with_a_fresh_age(journal: EventJournal) -> None:
    await journal.add(event(), ["a", "b"], NOW)
    for webhook in ("a", "b"):
        await journal.failed("evt_1", webhook, NOW + 1, status=500, error="x", retry_at=None)
    assert await journal.requeue("evt_1", NOW + 50, webhook="b") == 1
    assert await journal.requeue("evt_1", NOW + 60) == 1
    assert await journal.requeue("evt_1", NOW + 70) == 0
    assert await journal.requeue("evt_other", NOW + 70) == 0
    rows = await journal.deliveries("evt_1")
    assert [(d.webhook, d.state, d.queued_at, d.next_at, d.attempts) for d in rows] == [
        ("a", DeliveryState.PENDING, NOW + 60, NOW + 60, 1),
        ("b", DeliveryState.PENDING, NOW + 50, NOW + 50, 1),
    ]
    await journal.delivered("evt_1", "a", NOW + 61, 204)
    (a, _) = await journal.deliveries("evt_1")
    assert (a.state, a.attempts, a.next_at, a.delivered_at) == (
        DeliveryState.DELIVERED,
        2,
        None,
        NOW + 61,
    )
    assert (a.last_status, a.last_error) == (204, None)
    assert await journal.requeue("evt_1", NOW + 62, webhook="a") == 0


async def test_unknown_deliveries_are_key_errors(journal: EventJournal) -> None:
    with pytest.raises(KeyError):
        await journal.delivered("evt_1", "a", NOW, 200)
    with pytest.raises(KeyError):
        await journal.failed("evt_1", "a", NOW, status=None, error="x", retry_at=None)


async def test_list_filters_and_pages_newest_first(journal: EventJournal) -> None:
    await journal.add(event(1, EventType.INBOUND_MESSAGE), ["a"], NOW)
    await journal.add(event(2), ["a", "b"], NOW)
    await journal.add(event(3, EventType.PROVIDER_STATE), ["b"], NOW)
    await journal.failed("evt_2", "b", NOW, status=None, error="x", retry_at=None)

    def keys(rows: list[Delivery]) -> list[tuple[str, str]]:
        return [d.key for d in rows]

    everything = await journal.list()
    assert keys(everything) == [("evt_3", "b"), ("evt_2", "b"), ("evt_2", "a"), ("evt_1", "a")]
    assert keys(await journal.list(state=DeliveryState.DEAD)) == [("evt_2", "b")]
    assert keys(await journal.list(type=EventType.DELIVERY_REPORT)) == [
        ("evt_2", "b"),
        ("evt_2", "a"),
    ]
    assert keys(await journal.list(webhook="a", state=DeliveryState.PENDING)) == [
        ("evt_2", "a"),
        ("evt_1", "a"),
    ]
    first = await journal.list(limit=3)
    assert keys(await journal.list(limit=3, before=first[-1].seq)) == [("evt_1", "a")]
    with pytest.raises(ValueError, match="limit"):
        await journal.list(limit=0)


async def test_prune_forgets_only_what_was_delivered_long_ago(journal: EventJournal) -> None:
    await journal.add(event(1), ["a", "b"], NOW)
    await journal.add(event(2), ["a"], NOW)
    await journal.delivered("evt_1", "a", NOW + 1, 200)
    await journal.delivered("evt_2", "a", NOW + 10, 200)
    await journal.failed("evt_1", "b", NOW + 1, status=None, error="x", retry_at=None)
    assert await journal.prune(before=NOW + 5) == 1
    assert [d.key for d in await journal.list()] == [("evt_2", "a"), ("evt_1", "b")]
    assert await journal.prune(before=NOW + 5) == 0


async def test_the_sqlite_journal_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "j.events.db"
    first = SQLiteEventJournal(path)
    await first.open()
    await first.add(event(1), ["a"], NOW)
    await first.add(event(2), ["a"], NOW)
    await first.failed("evt_1", "a", NOW + 1, status=503, error="HTTP 503", retry_at=NOW + 2)
    await first.close()
    again = SQLiteEventJournal(path)
    await again.open()
    try:
        due = await again.due(NOW + 2, limit=10)
        assert [(d.key, d.attempts, d.last_status) for d in due] == [
            (("evt_2", "a"), 0, None),
            (("evt_1", "a"), 1, 503),
        ]
    finally:
        await again.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA user_version").fetchone() == (1,)


async def test_concurrent_writes_share_commits(tmp_path: Path) -> None:
    journal = SQLiteEventJournal(tmp_path / "j.events.db")
    await journal.open()
    try:
        added = await asyncio.gather(*(journal.add(event(n), ["a"], NOW) for n in range(50)))
        assert added == [1] * 50
        assert len(await journal.list(limit=100)) == 50
        assert 1 <= journal.commits < 50
    finally:
        await journal.close()


async def hold_writer(writer: JournalWriter) -> tuple[threading.Event, asyncio.Task[Any]]:
    """Keep the writer thread busy until the returned event is set, so writes queue up."""
    started, release = threading.Event(), threading.Event()

    def block(conn: sqlite3.Connection) -> None:
        started.set()
        release.wait(5)

    task = asyncio.create_task(writer.run(block))
    assert await asyncio.to_thread(started.wait, 5)
    return release, task


async def test_a_transaction_lost_whole_fails_its_writes_and_the_rest_go_on(
    tmp_path: Path,
) -> None:
    def lose_everything(conn: sqlite3.Connection) -> None:
        # What SQLite does on a full disk or an I/O error: the whole transaction goes.
        conn.execute("ROLLBACK")
        raise OSError("disk full")

    journal = SQLiteEventJournal(tmp_path / "j.events.db")
    await journal.open()
    try:
        release, blocker = await hold_writer(journal.writer)
        before = asyncio.create_task(journal.add(event(1), ["a"], NOW))
        losing = asyncio.create_task(journal.writer.run(lose_everything))
        after = asyncio.create_task(journal.add(event(3), ["a"], NOW))
        await asyncio.sleep(0)
        release.set()
        answers = await asyncio.gather(before, losing, after, return_exceptions=True)
        await blocker
        assert [type(a) for a in answers[:2]] == [OSError, OSError]
        # evt_1 was rolled back with the rest, and its caller was told so; evt_3 was
        # committed in a fresh transaction.
        assert answers[2] == 1
        assert [d.key for d in await journal.list()] == [("evt_3", "a")]
    finally:
        await journal.close()


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.events.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 7")
    conn.close()
    journal = SQLiteEventJournal(path)
    with pytest.raises(ConfigError, match="event journal schema version 7"):
        await journal.open()
    with pytest.raises(RuntimeError, match="not open"):
        await journal.list()


async def test_the_journal_lives_beside_the_message_journal(tmp_path: Path) -> None:
    assert events_path(tmp_path / "journal.db") == tmp_path / "journal.events.db"
    assert events_path("smsrouter") == Path("smsrouter.events")
    journal = open_event_journal(SQLiteStore(tmp_path / "journal.db"))
    assert isinstance(journal, SQLiteEventJournal)
    assert journal.path == str(tmp_path / "journal.events.db")
    assert isinstance(open_event_journal(SQLiteStore(":memory:")), MemoryEventJournal)
    assert isinstance(open_event_journal(MemoryStore()), MemoryEventJournal)
