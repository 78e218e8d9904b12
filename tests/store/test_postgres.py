"""What only the PostgreSQL journal promises: two instances on one database share its work
queue (leases, claims, wake-ups), its idempotency and its held messages; its failures are
StoreErrors and its URL's password is never shown."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import traceback
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest

asyncpg = pytest.importorskip("asyncpg")

from router.errors import ConfigError, StoreError  # noqa: E402 - needs the fleet extra
from router.model import (  # noqa: E402
    Attempt,
    DeliveryReport,
    DeliveryStatus,
    Encoding,
    Message,
    Outcome,
    Recipient,
    RecipientResult,
    RecipientStatus,
    SendResult,
)
from router.store import MessageState, QualityState, QualityWeight, open_store  # noqa: E402
from router.store.postgres import PostgresStore  # noqa: E402
from router.store.postgres.schema import PART, STEPS  # noqa: E402
from router.store.postgres.versions import migrate  # noqa: E402

NOW = 1_700_000_000.0
WAIT = 15.0
"""The most seconds a test waits for something the database's clock brings."""


@contextlib.asynccontextmanager
async def fleet(url: str, *owners: str, lease: float = 30.0) -> AsyncIterator[list[PostgresStore]]:
    """Open stores on *url*, one per owner, as the instances of a fleet; closed after."""
    stores = [PostgresStore(url, lease=lease, owner=owner) for owner in owners]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        yield stores
    finally:
        await asyncio.gather(*(s.close() for s in stores))


def outgoing(id: str, reference: str | None = None) -> tuple[Message, list[Recipient]]:
    message = Message(to=("+61412345670",), text="Hello", reference=reference, id=id)
    return message, [Recipient("+61412345670", "AU", 61, f"{id}-0")]


async def add(store: PostgresStore, id: str, reference: str | None = None) -> bool:
    message, recipients = outgoing(id, reference)
    _, created = await store.add(message, recipients, Encoding.GSM7, 1, NOW)
    return created


def result(id: str, status: RecipientStatus, scheduled_at: float | None = None) -> SendResult:
    attempts = (Attempt("a", Outcome.ACCEPTED, at=NOW + 1),) if scheduled_at is None else ()
    recipient = RecipientResult(
        "+61412345670", f"{id}-0", status, "a", None, attempts, scheduled_at=scheduled_at
    )
    return SendResult(id, None, (recipient,), Encoding.GSM7, 1)


async def eventually(check: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """What *check* gives once it is truthy, asked until :data:`WAIT` seconds passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while True:
        found = await check()
        if found or loop.time() > deadline:
            return found
        await asyncio.sleep(0.1)


async def test_concurrent_claims_never_give_one_message_to_both(postgres_url: str) -> None:
    async with fleet(postgres_url, "a", "b") as (a, b):
        ids = [f"m{i:02}" for i in range(30)]
        for id in ids:
            await add(a, id)
        await a.release(ids)  # a stops with them unsent: any instance may take them
        got: dict[str, list[str]] = {"a": [], "b": []}
        while True:
            found = await asyncio.gather(a.claim(4), b.claim(4))
            if not any(found):
                break
            for store, records in zip((a, b), found, strict=True):
                got[store.owner] += [r.id for r in records]
        assert got["a"]
        assert got["b"]
        assert sorted(got["a"] + got["b"]) == ids  # each once, none lost
        # Claimed: each instance's now, the other's lease refused.
        assert await b.lease(got["a"][0]) is False
        assert await a.lease(got["a"][0]) is True


async def test_claim_gives_unfinished_records_oldest_first(postgres_url: str) -> None:
    async with fleet(postgres_url, "a", "b") as (a, b):
        for id in ("m3", "m1", "m2"):
            await add(a, id)
        await a.attempt_started("m1", "a", ["m1-0"], NOW)
        await a.finish(result("m2", RecipientStatus.ACCEPTED))
        assert await b.claim(10) == []  # a's leases run
        await a.release(["m3", "m1", "m2"])
        claimed = await b.claim(10)
        assert [r.id for r in claimed] == ["m3", "m1"]  # m2 is done
        assert claimed == [r for r in await b.unfinished() if r.id in ("m3", "m1")]
        assert claimed[1].state is MessageState.SENDING
        assert claimed[1].recipients[0].in_flight == "a"


async def test_a_closed_instance_leases_are_taken_over_once_expired(postgres_url: str) -> None:
    async with fleet(postgres_url, "b") as (b,):
        a = PostgresStore(postgres_url, lease=1.0, owner="a")
        await a.open()
        await add(a, "m1")
        assert await b.lease("m1") is False
        await a.close()  # dies with its lease: nobody renews it
        claimed = await eventually(lambda: b.claim(10))
        assert [r.id for r in claimed] == ["m1"]
        assert await b.lease("m1") is True


async def test_a_lease_not_renewed_is_taken_over(postgres_url: str) -> None:
    async with fleet(postgres_url, "a", "b", lease=1.0) as (a, b):
        await add(a, "m1")
        await a.leases.stop()  # a hangs: its store is open, its renewals stopped
        assert await eventually(lambda: b.lease("m1")) is True
        assert await a.lease("m1") is False  # b's now
        assert await a.claim(10) == []


async def test_a_live_holder_keeps_its_lease_across_lease_periods(postgres_url: str) -> None:
    async with fleet(postgres_url, "a", "b", lease=1.0) as (a, b):
        await add(a, "m1")
        loop = asyncio.get_running_loop()
        until = loop.time() + 3.5  # three lease periods and a half
        while loop.time() < until:
            assert await b.claim(10) == []
            assert await b.lease("m1") is False
            await asyncio.sleep(0.2)
        await a.finish(result("m1", RecipientStatus.ACCEPTED))
        assert await b.lease("m1") is True  # done: nothing to hold


async def test_release_wakes_an_instance_waiting_for_work(postgres_url: str) -> None:
    async with fleet(postgres_url, "a", "b") as (a, b):
        await add(a, "m1")
        waiting = asyncio.create_task(b.wait_for_work(600))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        await a.release(["m1"])
        await asyncio.wait_for(waiting, WAIT)  # long before its 600 seconds
        assert [r.id for r in await b.claim(10)] == ["m1"]


async def test_one_reference_added_by_two_instances_at_once_is_one_message(
    postgres_url: str,
) -> None:
    async with fleet(postgres_url, "a", "b") as (a, b):
        for n in range(10):
            reference = f"order-{n}"
            created = await asyncio.gather(add(a, f"a{n}", reference), add(b, f"b{n}", reference))
            assert sorted(created) == [False, True]
            [found] = await a.find(reference=reference)
            first = await b.get(f"a{n}") or await b.get(f"b{n}")
            assert first == found
        assert len(await a.find(limit=100)) == 10


async def test_held_due_gives_each_due_message_to_one_instance(postgres_url: str) -> None:
    async with fleet(postgres_url, "a", "b") as (a, b):
        ids = [f"m{i:02}" for i in range(20)]
        for i, id in enumerate(ids):
            await add(a, id)
            await a.finish(result(id, RecipientStatus.SCHEDULED, scheduled_at=NOW + i))
        assert await b.claim(10) == []  # held: not claimed, held_due gives them
        due_a, due_b = await asyncio.gather(a.held_due(NOW + 100), b.held_due(NOW + 100))
        assert not set(due_a) & set(due_b)
        assert sorted(due_a + due_b) == ids
        # Leased to the one that found them: the other's scheduler does not see them.
        assert set(await b.held_due(NOW + 100)) == set(due_b)
        assert await a.next_held() == NOW


async def test_reports_applied_by_two_instances_at_once_both_count(postgres_url: str) -> None:
    async with fleet(postgres_url, "a", "b") as (a, b):
        await add(a, "m1")
        attempt = Attempt("a", Outcome.ACCEPTED, provider_message_id="p1", at=NOW + 1)
        await a.attempt_started("m1", "a", ["m1-0"], NOW)
        await a.attempt_ended("m1", "m1-0", attempt)
        reports = [
            DeliveryReport("a", DeliveryStatus.DELIVERED, "DELIVRD", "p1", part=(n, 2))
            for n in (1, 2)
        ]
        matches = await asyncio.gather(
            a.apply_report(reports[0], NOW + 5), b.apply_report(reports[1], NOW + 5)
        )
        assert [m is not None and m.applied for m in matches] == [True, True]
        record = await b.get("m1")
        assert record is not None
        assert record.recipients[0].delivery_parts == (DeliveryStatus.DELIVERED,) * 2
        assert record.recipients[0].delivery is DeliveryStatus.DELIVERED


async def test_instances_opening_a_new_database_together_migrate_it_once(
    postgres_url: str,
) -> None:
    owners = [f"i{n}" for n in range(4)]
    async with fleet(postgres_url, *owners) as stores:
        assert await add(stores[0], "m1")
        assert all([await s.get("m1") is not None for s in stores])
        conn = await asyncpg.connect(postgres_url)
        try:
            version = await conn.fetchval(
                "SELECT version FROM smsrouter_schema WHERE part = $1", PART
            )
        finally:
            await conn.close()
        assert version == len(STEPS)


async def test_a_first_version_journal_is_migrated_and_its_marks_went_by_their_own_ids(
    postgres_url: str,
) -> None:
    conn = await asyncpg.connect(postgres_url)
    try:
        assert await migrate(conn, PART, STEPS[:1]) == 1  # as the smsrouter before coalescing
        await conn.execute(
            "INSERT INTO messages (id, text, encoding, segments, created_at, state, urgent)"
            " VALUES ('m1', 'hi', 'gsm7', 1, $1, 'sending', false)",
            NOW,
        )
        await conn.execute(
            "INSERT INTO recipients (message_id, position, recipient, ref, in_flight,"
            " in_flight_at) VALUES ('m1', 0, '+61412345670', 'm1-0', 'a', $1)",
            NOW,
        )
    finally:
        await conn.close()
    async with fleet(postgres_url, "a") as (a,):
        [m1] = await a.unfinished()
        marks = [(r.in_flight, r.in_flight_at, r.in_flight_via) for r in m1.recipients]
        assert marks == [("a", NOW, None)]
        await a.attempt_started("m1", "smsc", ["m1-0"], now=NOW + 1, via="m0")
        assert (await a.unfinished())[0].recipients[0].in_flight_via == "m0"
        version = await a.db.fetchval("SELECT version FROM smsrouter_schema WHERE part = $1", PART)
        assert version == len(STEPS) == 2


async def test_a_message_to_one_recipient_is_two_statements(postgres_url: str) -> None:
    async with fleet(postgres_url, "a") as (a,):
        await add(a, "warm")  # the first statements prepare and learn the row types
        await a.finish(result("warm", RecipientStatus.ACCEPTED))
        before = a.db.statements
        message, recipients = outgoing("m1")
        _, created = await a.add_started(message, recipients, Encoding.GSM7, 1, NOW, "a")
        assert created
        await a.finish(result("m1", RecipientStatus.ACCEPTED))
        assert a.db.statements - before == 2
        record = await a.get("m1")
        assert record is not None
        assert record.state is MessageState.DONE
        assert record.recipients[0].attempts == (Attempt("a", Outcome.ACCEPTED, at=NOW + 1),)


async def test_the_weights_move_once_when_two_instances_step_together(
    postgres_url: str,
) -> None:
    async with fleet(postgres_url, "a", "b") as (a, b):
        for store in (a, b):
            assert await store.deliveries.quality_state() == QualityState()
        first = QualityState((QualityWeight("x", "ZA", 0.5),), NOW + 60, False)
        await a.deliveries.save_quality(first)
        # b looked before a stepped: its step is dropped, a's stands.
        await b.deliveries.save_quality(QualityState((), NOW + 61, False))
        assert await b.deliveries.quality_state() == first
        # Having looked again, b steps, and a freeze keeps the weights it did not see.
        second = QualityState((QualityWeight("x", "ZA", 0.7),), NOW + 120, False)
        await b.deliveries.save_quality(second)
        await a.deliveries.save_quality(QualityState(first.weights, NOW + 60, True))
        assert await a.deliveries.quality_state() == QualityState(second.weights, NOW + 120, True)


async def test_an_unreachable_server_is_a_store_error_without_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = "postgresql://router:s3cret-pw@127.0.0.1:9/journal"  # port 9: nobody listens
    store = open_store(url)
    assert isinstance(store, PostgresStore)
    assert "s3cret-pw" not in repr(store)
    with pytest.raises(StoreError) as raised:
        await store.open()
    error = raised.value
    assert error.journal == "PostgresStore('postgresql://router:***@127.0.0.1:9/journal')"
    assert str(error).startswith(error.journal)
    shown = "".join(traceback.format_exception(error)) + repr(error)
    assert "s3cret-pw" not in shown
    assert "the journal is failing" in caplog.text  # said once, without the password
    assert "s3cret-pw" not in caplog.text
    with pytest.raises(RuntimeError, match="is not open"):
        await store.get("m1")


@contextlib.asynccontextmanager
async def outage(url: str) -> AsyncIterator[Callable[[], Coroutine[Any, Any, None]]]:
    """Cut every connection to the database at *url* and refuse new ones, until the
    function yielded is awaited (or the block ends)."""
    admin = await asyncpg.connect(url)
    cut = (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    allow = "UPDATE pg_database SET datallowconn = {} WHERE datname = current_database()"

    async def end() -> None:
        await admin.execute(allow.format("true"))

    try:
        await admin.execute(allow.format("false"))
        await admin.execute(cut)
        yield end
    finally:
        await end()
        await admin.close()


async def test_a_server_gone_mid_run_is_a_store_error(postgres_url: str) -> None:
    async with fleet(postgres_url, "a") as (a,):
        async with outage(postgres_url):
            with pytest.raises(StoreError, match=r"PostgresStore\('postgresql://"):
                await a.get("m1")
            with pytest.raises(StoreError):
                await add(a, "m1")
        assert await eventually(lambda: add(a, "m1"))  # and back once it answers again


async def test_a_result_outlives_a_short_outage(postgres_url: str) -> None:
    async with fleet(postgres_url, "a") as (a,):
        await add(a, "m1")
        async with outage(postgres_url) as end:
            finishing = asyncio.create_task(a.finish(result("m1", RecipientStatus.ACCEPTED)))
            await asyncio.sleep(0.3)
            assert not finishing.done()  # tried again while the database refuses
            await end()
            await asyncio.wait_for(finishing, WAIT)
        record = await a.get("m1")
        assert record is not None
        assert record.state is MessageState.DONE


async def test_a_result_that_cannot_be_written_leaves_the_message_to_the_fleet(
    postgres_url: str,
) -> None:
    async with fleet(postgres_url, "a", "b", lease=1.0) as (a, b):
        await add(a, "m1")
        a.keep_trying = 0.3
        async with outage(postgres_url):
            with pytest.raises(StoreError):
                await a.finish(result("m1", RecipientStatus.ACCEPTED))
        # a gives its lease up once the database answers: b resolves it as after a crash.
        claimed = await eventually(lambda: b.claim(10))
        assert [r.id for r in claimed] == ["m1"]
        assert claimed[0].state is MessageState.QUEUED


def test_open_store_picks_postgres_and_names_each_instance() -> None:
    first = open_store("postgres://db.example/journal", lease=5.0)
    second = open_store("postgresql://db.example/journal", owner="web-1")
    assert isinstance(first, PostgresStore)
    assert isinstance(second, PostgresStore)
    assert (first.shared, first.leases.lease, second.owner) == (True, 5.0, "web-1")
    assert first.owner != open_store("postgres://db.example/journal").owner
    with pytest.raises(ConfigError, match="unknown store") as raised:
        open_store("mysql://router:s3cret-pw@db/journal")
    assert "s3cret-pw" not in str(raised.value)


def test_without_the_fleet_extra_a_postgres_url_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "router.store.postgres", None)  # as if asyncpg were missing
    with pytest.raises(ConfigError, match=r"store\.url: .*pip install 'smsrouter\[fleet\]'"):
        open_store("postgresql://db.example/journal")
