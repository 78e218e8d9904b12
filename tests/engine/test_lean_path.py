"""The lean path: journal commits per message, a queued message checked once, crash safety.

A single-recipient message that one call settles costs two SQLite commits: the message
with its attempt started (before the send), and the result with the attempt's end (after
it). A queued message (``accept``, then ``send_accepted``) is validated and parsed once and
never read back. What a crash leaves between the two commits is an in-flight mark, which
the Router resolves on resume as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

import router.testing
from router import Message
from router.engine import Router
from router.engine.prepare import prepare
from router.model import Outcome, RecipientStatus
from router.store import MessageState, SQLiteStore
from router.testing import FakeClock
from tests.engine.conftest import fakes

AU = "+61412345678"
AU2 = "+61412345679"


def config(**fake: Any) -> dict[str, Any]:
    table = {"plugin": "fake", "status_query": True} | fake
    return {
        "router": {"policy": ["priority"], "default_region": "AU"},
        "providers": {"a": table, "b": {"plugin": "fake"}},
    }


Factory = Callable[..., Any]


@pytest.fixture
async def on_sqlite(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Factory]:
    """Routers on one SQLite journal (opened here, closed after the test)."""
    store = SQLiteStore(tmp_path / "journal.db")
    await store.open()
    routers: list[Router] = []

    async def start(cfg: dict[str, Any]) -> Router:
        r = Router(cfg, plugins=[router.testing], clock=clock, store=store)
        # No scheduler of held messages: its reads of the journal would be commits too.
        await r.start(track_balances=False, schedule=False)
        routers.append(r)
        return r

    yield start
    for r in routers:
        await r.aclose()
    await store.close()


def commits(r: Router) -> int:
    assert isinstance(r.store, SQLiteStore)
    return r.store.commits


async def test_a_single_recipient_message_costs_two_commits(on_sqlite: Factory) -> None:
    r = await on_sqlite(config())
    before = commits(r)
    result = await r.send(Message(to=AU, text="hi"))
    assert result[AU].status is RecipientStatus.ACCEPTED
    assert commits(r) - before == 2
    record = await r.store.get(result.message_id)
    assert record is not None
    assert record.state is MessageState.DONE
    [recipient] = record.recipients
    assert (recipient.in_flight, recipient.status) == (None, RecipientStatus.ACCEPTED)
    assert [a.outcome for a in recipient.attempts] == [Outcome.ACCEPTED]


async def test_a_failover_journals_each_attempt_before_the_next(on_sqlite: Factory) -> None:
    r = await on_sqlite(config(outcome="unavailable"))
    result = await r.send(Message(to=AU, text="hi"))
    assert [(a.provider, a.outcome) for a in result[AU].attempts] == [
        ("a", Outcome.UNAVAILABLE),
        ("b", Outcome.ACCEPTED),
    ]
    record = await r.store.get(result.message_id)
    assert record is not None
    assert [a.provider for a in record.recipients[0].attempts] == ["a", "b"]


async def test_a_message_seen_before_gives_the_breaker_back(on_sqlite: Factory) -> None:
    r = await on_sqlite(config())
    first = await r.send(Message(to=AU, text="hi", reference="order-1"))
    breaker = r.providers["a"].breaker
    again = await r.send(Message(to=AU, text="hi", reference="order-1"))
    assert again.duplicate
    assert again.message_id == first.message_id
    assert breaker.acquire()  # nothing was left taken by the duplicate
    breaker.abandon()
    assert len(fakes(r)["a"].batches) == 1


async def test_a_crash_between_the_two_commits_leaves_a_mark_resume_settles(
    on_sqlite: Factory, clock: FakeClock
) -> None:
    r = await on_sqlite(config(delay=60.0))
    send = asyncio.create_task(r.send(Message(to=AU, text="hi", id="m1")))
    for _ in range(1000):  # until the request is at the provider
        if fakes(r)["a"].batches:
            break
        await asyncio.sleep(0)
    send.cancel()  # the process dies before the outcome is journalled
    with pytest.raises(asyncio.CancelledError):
        await send
    record = await r.store.get("m1")
    assert record is not None
    assert record.state is MessageState.SENDING
    assert record.recipients[0].in_flight == "a"
    assert record.recipients[0].in_flight_at == clock.now

    later = await on_sqlite(config())
    result = await later.resume(record)
    # The status query says the provider took it: accepted, never sent again.
    assert result[AU].status is RecipientStatus.ACCEPTED
    assert fakes(later)["a"].batches == []
    assert fakes(later)["b"].batches == []


async def test_a_queued_message_is_checked_once_and_never_read_back(
    on_sqlite: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = await on_sqlite(config())
    prepared = 0

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal prepared
        prepared += 1
        return prepare(*args, **kwargs)

    monkeypatch.setattr("router.engine.router.prepare", counting)
    reads = 0
    get = r.store.get

    async def counting_get(message_id: str) -> Any:
        nonlocal reads
        reads += 1
        return await get(message_id)

    monkeypatch.setattr(r.store, "get", counting_get)
    before = commits(r)
    record, created = await r.accept(Message(to=[AU, AU2], text="later"))
    assert created
    result = await r.send_accepted(record.id)
    assert result is not None
    assert {x.status for x in result.recipients} == {RecipientStatus.ACCEPTED}
    assert (prepared, reads) == (1, 0)
    # Accepted (the 202), the attempt started, the outcome.
    assert commits(r) - before == 3
    assert await r.send_accepted(record.id) is None  # sent once: nothing held any more


async def test_a_queued_message_resumed_first_is_not_sent_again(on_sqlite: Factory) -> None:
    r = await on_sqlite(config())
    record, _ = await r.accept(Message(to=AU, text="later", reference="q-1"))
    await r.resume(record)  # a duplicate's request got there first
    assert await r.send_accepted(record.id) is None
    assert len(fakes(r)["a"].batches) == 1
