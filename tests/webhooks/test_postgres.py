"""The PostgreSQL event journal shared by a fleet: each delivery leased to one instance at a
time, taken over when its instance dies, each event posted once by the fleet."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from router.clock import SystemClock
from router.config import Config, parse_config
from router.errors import ConfigError, StoreError
from router.plugins import PluginHost
from router.store import MemoryStore
from router.store.postgres import PostgresStore
from router.testing import FakeClock
from router.webhooks import (
    DeliveryState,
    Event,
    EventType,
    MemoryEventJournal,
    WebhookService,
    open_event_journal,
)
from router.webhooks.postgres import PostgresEventJournal
from tests.link import Link
from tests.webhooks.support import WEBHOOK_SECRET, Receiver, free_port

NOW = 1_700_000_000.0
SECRET = "pg-s3cret-password"
HOLDER = Path(__file__).with_name("leaseholder.py")


def event(n: int) -> Event:
    """A journalable event."""
    return Event(f"evt_{n:03d}", EventType.DELIVERY_REPORT, NOW + n, {"n": n})


@pytest.fixture
async def instances(postgres_url: str) -> AsyncIterator[dict[str, PostgresEventJournal]]:
    """Four open journals on one database, as four instances of a fleet (owners a to d)."""
    made = {owner: PostgresEventJournal(postgres_url, owner=owner, lease=30.0) for owner in "abcd"}
    await asyncio.gather(*(journal.open() for journal in made.values()))
    yield made
    await asyncio.gather(*(journal.close() for journal in made.values()))


async def test_instances_asking_at_once_never_get_one_delivery(
    instances: dict[str, PostgresEventJournal],
) -> None:
    a = instances["a"]
    await asyncio.gather(*(a.add(event(n), ["app", "audit"], NOW) for n in range(60)))
    posted: Counter[tuple[str, str]] = Counter()
    for _ in range(20):
        batches = await asyncio.gather(*(j.due(NOW, limit=7) for j in instances.values()))
        keys = [d.key for batch in batches for d in batch]
        assert len(keys) == len(set(keys)), "two instances were given one delivery"
        if not keys:
            break
        posted.update(keys)
        await asyncio.gather(
            *(
                journal.delivered(*d.key, NOW + 1, 200)
                for journal, batch in zip(instances.values(), batches, strict=True)
                for d in batch
            )
        )
    assert len(posted) == 120
    assert set(posted.values()) == {1}
    assert await a.list(state=DeliveryState.PENDING) == []


async def test_an_event_pushed_to_two_instances_at_once_is_journalled_once(
    instances: dict[str, PostgresEventJournal],
) -> None:
    a, b = instances["a"], instances["b"]
    adds = [j.add(event(n), ["app", "audit"], NOW) for n in range(40) for j in (a, b)]
    added = await asyncio.gather(*adds)
    assert sum(added) == 80
    assert [added[i] + added[i + 1] for i in range(0, 80, 2)] == [2] * 40
    assert len(await b.list(limit=500)) == 80


async def test_an_instance_sees_its_own_leases_and_not_another_s(
    instances: dict[str, PostgresEventJournal],
) -> None:
    a, b = instances["a"], instances["b"]
    await b.add(event(1), ["app"], NOW)
    await b.add(event(2), ["app"], NOW + 40)
    assert [d.key for d in await a.due(NOW, limit=10)] == [("evt_001", "app")]
    assert [d.key for d in await a.due(NOW, limit=10)] == [("evt_001", "app")]
    assert await b.due(NOW, limit=10) == []
    # b sleeps until a's lease runs out (30s on the database's clock), not for ever.
    wake = await b.next_due(after=NOW)
    assert wake is not None
    assert NOW + 25 < wake <= NOW + 30
    assert await a.next_due(after=NOW) == NOW + 40


async def test_a_post_recorded_gives_the_lease_up(
    instances: dict[str, PostgresEventJournal],
) -> None:
    a, b = instances["a"], instances["b"]
    await a.add(event(1), ["app", "audit"], NOW)
    assert len(await a.due(NOW, limit=10)) == 2
    await a.failed("evt_001", "app", NOW + 1, status=503, error="HTTP 503", retry_at=NOW + 2)
    await a.delivered("evt_001", "audit", NOW + 1, 200)
    assert await b.due(NOW + 1, limit=10) == []
    (retry,) = await b.due(NOW + 2, limit=10)
    assert (retry.key, retry.attempts, retry.last_status) == (("evt_001", "app"), 1, 503)
    assert await a.due(NOW + 2, limit=10) == []
    assert await a.renew() == 0, "a renews no lease it lost"
    assert await b.renew() == 1


async def test_a_journal_closing_hands_its_leases_over_at_once(postgres_url: str) -> None:
    a = PostgresEventJournal(postgres_url, owner="a", lease=30.0)
    b = PostgresEventJournal(postgres_url, owner="b", lease=30.0)
    await a.open()
    await b.open()
    try:
        await a.add(event(1), ["app"], NOW)
        await a.add(event(2), ["app"], NOW)
        assert len(await a.due(NOW, limit=10)) == 2
        await a.close()
        assert [d.event.id for d in await b.due(NOW, limit=10)] == ["evt_001", "evt_002"]
    finally:
        await a.close()
        await b.close()


async def wait_for_due(journal: PostgresEventJournal, count: int, within: float) -> list[str]:
    """The event ids *journal* leases once *count* are due to it, polling for *within* s."""
    async with asyncio.timeout(within):
        while True:
            found = await journal.due(NOW, limit=100)
            if len(found) >= count:
                return [d.event.id for d in found]
            await asyncio.sleep(0.05)


async def test_the_leases_of_an_instance_that_dies_are_taken_over(postgres_url: str) -> None:
    lease = 1.5
    b = PostgresEventJournal(postgres_url, owner="b", lease=lease)
    await b.open()
    holder = await asyncio.create_subprocess_exec(
        sys.executable, str(HOLDER), postgres_url, str(lease), str(NOW),
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        for n in range(3):
            await b.add(event(n), ["app"], NOW)
        assert holder.stdout is not None
        line = await asyncio.wait_for(holder.stdout.readline(), 30)
        assert line.split() == [b"evt_000", b"evt_001", b"evt_002"]
        # Alive, the holder renews its leases: longer than one lease, they stay its.
        await asyncio.sleep(lease * 1.7)
        assert await b.due(NOW, limit=100) == []
        holder.kill()
        await holder.wait()
        # Dead, it renews nothing: its leases run out and b takes every delivery over.
        assert await wait_for_due(b, 3, within=lease + 10) == ["evt_000", "evt_001", "evt_002"]
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()
        await b.close()


def config(url: str) -> Config:
    """A config with one webhook to *url* for delivery reports."""
    hook = {"name": "app", "url": url, "events": ["delivery_report"], "secret": WEBHOOK_SECRET}
    return parse_config({"webhooks": [hook]}, PluginHost.load(autoload=False), {})


async def test_two_services_on_one_database_post_each_event_once(
    postgres_url: str, clock: FakeClock, receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    services = []
    for owner in ("a", "b"):
        journal = PostgresEventJournal(postgres_url, owner=owner, lease=30.0)
        service = WebhookService(MemoryStore(), clock, journal=journal, session=session)
        service.configure(config(receiver.url))
        await service.start(worker=False)
        services.append(service)
    a, b = services
    try:
        # 100 events, more than one instance takes at once; 60 of them pushed to both.
        events = [event(n) for n in range(100)]
        await a.enqueue(*events[:80])
        await b.enqueue(*events[:60], *events[80:])
        # Each instance's first posts wait until both post at once: both take part.
        receiver.hold = asyncio.Event()
        posting = asyncio.gather(a.deliver_due(), b.deliver_due())
        async with asyncio.timeout(10):
            while receiver.at_once < 8:  # noqa: ASYNC110 - each posts 4 at a time
                await asyncio.sleep(0.01)
        receiver.hold.set()
        await asyncio.wait_for(posting, 30)
    finally:
        for service in services:
            await service.stop()
    posts = Counter(post.event["id"] for post in receiver.posts)
    assert posts == Counter({e.id: 1 for e in events})
    assert all(post.verified and post.answered == 200 for post in receiver.posts)
    assert a.counts["delivered"] > 0
    assert b.counts["delivered"] > 0
    assert a.counts["delivered"] + b.counts["delivered"] == 100


async def test_a_closed_port_is_a_store_error_without_the_password() -> None:
    url = f"postgresql://smsrouter:{SECRET}@127.0.0.1:{free_port()}/journal"
    journal = PostgresEventJournal(url, owner="a", lease=30.0)
    assert SECRET not in repr(journal)
    with pytest.raises(StoreError) as caught:
        await journal.open()
    assert caught.value.journal.startswith("PostgresEventJournal('postgresql://smsrouter:***@")
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)
    with pytest.raises(RuntimeError, match="not open"):
        await journal.list()
    await journal.close()


def test_a_url_that_is_none_shows_nothing_of_itself() -> None:
    journal = PostgresEventJournal(f"postgresql//smsrouter:{SECRET}@db", owner="a", lease=1.0)
    assert SECRET not in repr(journal)
    with pytest.raises(ValueError, match="lease"):
        PostgresEventJournal("postgresql://db/journal", owner="a", lease=0)
    with pytest.raises(ValueError, match="owner"):
        PostgresEventJournal("postgresql://db/journal", owner="", lease=1.0)


async def test_an_unreadable_url_is_a_config_error_without_the_password() -> None:
    journal = PostgresEventJournal(f"postgresql://u:{SECRET}@127.0.0.1:port/j", owner="a", lease=1)
    with pytest.raises(ConfigError, match=r"store\.url") as caught:
        await journal.open()
    assert SECRET not in str(caught.value)


async def test_a_lost_database_is_a_store_error_until_it_is_back(postgres_url: str) -> None:
    server = URL(postgres_url)
    assert server.host is not None
    assert server.port is not None
    link = Link(server.host, server.port)
    await link.restore()
    journal = PostgresEventJournal(
        str(server.with_port(link.port)), owner="a", lease=30.0
    )  # fmt: skip
    await journal.open()
    try:
        await journal.add(event(1), ["app"], NOW)
        await link.cut()
        with pytest.raises(StoreError, match="PostgresEventJournal"):
            await journal.due(NOW, limit=10)
        with pytest.raises(StoreError):
            await journal.add(event(2), ["app"], NOW)
        await link.restore()
        assert [d.key for d in await journal.due(NOW, limit=10)] == [("evt_001", "app")]
    finally:
        await journal.close()
        await link.cut()


class SharedStore(MemoryStore):
    """A message journal that says it is shared, but is not the PostgreSQL one."""

    shared = True


def test_a_shared_postgresql_store_gets_the_postgresql_event_journal() -> None:
    url = f"postgresql://smsrouter:{SECRET}@db.example:5432/journal"
    journal = open_event_journal(PostgresStore(url, lease=12.0, owner="instance-1"))
    assert isinstance(journal, PostgresEventJournal)
    assert (journal.owner, journal.lease) == ("instance-1", 12.0)
    assert SECRET not in repr(journal)
    assert isinstance(open_event_journal(MemoryStore()), MemoryEventJournal)
    with pytest.raises(TypeError, match="SharedStore is shared, and only the PostgreSQL"):
        open_event_journal(SharedStore())


async def test_the_service_on_a_shared_store_journals_in_its_database(
    postgres_url: str, clock: FakeClock
) -> None:
    service = WebhookService(PostgresStore(postgres_url), clock)
    service.configure(config("http://127.0.0.1:9/events"))
    await service.start(worker=False)
    try:
        assert isinstance(service.journal, PostgresEventJournal)
        await service.enqueue(event(1))
    finally:
        await service.stop()
    again = PostgresEventJournal(postgres_url, owner="other", lease=30.0)
    await again.open()
    try:
        assert [d.key for d in await again.list()] == [("evt_001", "app")]
    finally:
        await again.close()


def test_the_webhooks_and_the_daemon_import_without_asyncpg() -> None:
    # The embedded default needs no fleet extra: only a PostgreSQL store imports asyncpg.
    code = "import sys, router.webhooks, router.daemon.app; print('asyncpg' in sys.modules)"
    found = subprocess.run(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert found.stdout.strip() == "False"


async def test_an_instance_giving_deliveries_up_wakes_the_others_at_once(
    postgres_url: str, receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    stopping = PostgresEventJournal(postgres_url, owner="a", lease=30.0)
    await stopping.open()
    await stopping.add(event(1), ["app"], time.time())
    assert [d.key for d in await stopping.due(time.time(), limit=10)] == [("evt_001", "app")]
    other = PostgresEventJournal(postgres_url, owner="b", lease=30.0)
    service = WebhookService(MemoryStore(), SystemClock(), journal=other, session=session)
    service.configure(config(receiver.url))
    await service.start()  # its worker waits: the delivery is leased to "a" for 30 s
    try:
        await asyncio.sleep(0.3)
        assert receiver.posts == []
        await stopping.close()  # gives it up, and says so
        async with asyncio.timeout(5):  # not the 30 s of the lease
            while not receiver.posts:  # noqa: ASYNC110 - the receiver is another server
                await asyncio.sleep(0.02)
    finally:
        await service.stop()
    assert [post.event["id"] for post in receiver.posts] == ["evt_001"]
