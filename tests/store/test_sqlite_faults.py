"""The SQLite journal when its disk fails: StoreError for what it cannot do, kept writes for
what was sent, and the backlog landing once the disk has room."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from router.errors import StoreError
from router.model import Attempt, Encoding, Message, Outcome, Recipient
from router.store import MessageState, SQLiteStore

NOW = 1_700_000_000.0


def disk_full(wrote: bool) -> sqlite3.Error | None:
    """What SQLite answers on a full disk: reads work, a transaction that wrote fails."""
    return sqlite3.OperationalError("database or disk is full") if wrote else None


def io_error(wrote: bool) -> sqlite3.Error | None:
    """A failing device: every transaction fails."""
    return sqlite3.OperationalError("disk I/O error")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    """An open SQLite journal whose kept writes are retried quickly."""
    made = SQLiteStore(tmp_path / "journal.db")
    made.writer.backlog.retry_first = made.writer.backlog.retry_max = 0.01
    await made.open()
    yield made
    made.writer.fault = None
    await made.close()


async def add(store: SQLiteStore, id: str) -> None:
    """Journal a message to one number."""
    message = Message(to="+61412345670", text="Hello", id=id)
    recipients = [Recipient("+61412345670", "AU", 61, f"{id}-0")]
    await store.add(message, recipients, Encoding.GSM7, 1, NOW)


async def landed(store: SQLiteStore) -> None:
    """Wait (bounded) until the writer thread has landed its backlog."""
    for _ in range(500):
        if not len(store.writer.backlog):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the kept writes did not land")


async def test_a_full_disk_refuses_a_new_message_with_a_store_error(store: SQLiteStore) -> None:
    store.writer.fault = disk_full
    with pytest.raises(StoreError, match="database or disk is full") as caught:
        await add(store, "m1")
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
    assert caught.value.retry_after > 0
    assert await store.get("m1") is None  # reads still work, and nothing was written


async def test_a_failing_device_fails_reads_with_a_store_error(store: SQLiteStore) -> None:
    await add(store, "m1")
    store.writer.fault = io_error
    with pytest.raises(StoreError, match="disk I/O error"):
        await store.unfinished()


async def test_writes_about_a_sent_message_are_kept_in_order_and_land_later(
    store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await add(store, "m1")
    store.writer.fault = disk_full
    attempt = Attempt("office", Outcome.ACCEPTED, provider_message_id="p1", at=NOW)
    # Neither call fails: the message may be at the provider already.
    await store.attempt_started("m1", "office", ["m1-0"])
    await store.attempt_ended("m1", "m1-0", attempt)
    assert len(store.writer.backlog) == 2
    with pytest.raises(StoreError, match="wait for the journal"):
        await store.get("m1")  # the journal's m1 is out of date until they land
    store.writer.fault = None
    await landed(store)
    record = await store.get("m1")
    assert record is not None
    assert record.state is MessageState.SENDING
    # Landed in order: the in-flight mark the start set was cleared by the end.
    assert record.recipients[0].in_flight is None
    assert record.recipients[0].attempts == (attempt,)
    said = [r.getMessage() for r in caplog.records if r.name == "smsrouter.store"]
    assert len(said) == 2
    assert "the journal is failing (database or disk is full)" in said[0]
    assert "the journal works again (2 kept writes landed)" in said[1]
    assert not any(r.exc_info for r in caplog.records)


async def test_a_later_write_about_a_kept_message_waits_behind_it(store: SQLiteStore) -> None:
    await add(store, "m1")
    await add(store, "m2")
    store.writer.backlog.retry_first = store.writer.backlog.retry_max = 60.0
    store.writer.fault = disk_full
    await store.attempt_started("m1", "office", ["m1-0"])
    store.writer.fault = None
    # The disk has room again, but m1's end must not land before its start: it is kept
    # behind it; m2's write goes straight in, and its commit sets the retry going.
    await store.attempt_ended("m1", "m1-0", Attempt("office", Outcome.ACCEPTED, at=NOW))
    await store.attempt_started("m2", "office", ["m2-0"])
    await landed(store)
    record = await store.get("m1")
    assert record is not None
    assert record.recipients[0].in_flight is None
    assert len(record.recipients[0].attempts) == 1


async def test_kept_writes_land_when_the_journal_closes(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "journal.db")
    store.writer.backlog.retry_first = store.writer.backlog.retry_max = 60.0
    await store.open()
    await add(store, "m1")
    store.writer.fault = disk_full
    await store.attempt_started("m1", "office", ["m1-0"])
    store.writer.fault = None
    await store.close()
    await store.open()
    try:
        record = await store.get("m1")
        assert record is not None
        assert record.recipients[0].in_flight == "office"
    finally:
        await store.close()


async def test_a_broken_constraint_is_a_bug_not_the_journal_failing(store: SQLiteStore) -> None:
    message = Message(to=["+61412345670", "+61412345670"], text="Hello", id="bad")
    twice = [Recipient("+61412345670", "AU", 61, "bad-0")] * 2
    with pytest.raises(sqlite3.IntegrityError):
        await store.add(message, twice, Encoding.GSM7, 1, NOW)
    assert not store.writer.backlog.failing


async def test_a_full_backlog_refuses_new_messages(store: SQLiteStore) -> None:
    await add(store, "m1")
    store.writer.backlog.limit = 1
    store.writer.backlog.retry_first = store.writer.backlog.retry_max = 60.0
    store.writer.fault = disk_full
    await store.attempt_started("m1", "office", ["m1-0"])
    store.writer.fault = None
    with pytest.raises(StoreError, match="1 writes are waiting"):
        await add(store, "m2")
