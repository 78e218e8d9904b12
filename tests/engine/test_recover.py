"""Recovering an attempt a crash cut short, on the fake clock (DESIGN 6).

A journalled in-flight mark is what a crash leaves; ``Router.resume`` then asks the
provider's status query: taken -> accepted; "not known" once the attempt's timeout has
passed since it started -> it never arrived, so it is sent again; "not known" before then
is asked again when the timeout has passed; no answer -> ambiguous, per ``on_ambiguous``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from router import Message
from router.engine import Router
from router.engine.resolve import attempt_timeout
from router.errors import ProviderUnavailableError
from router.model import DeliveryStatus, Outcome, RecipientStatus, SendResult
from router.testing import FakeClock
from tests.engine.conftest import RouterFactory, fakes

AU = "+61412345678"
TIMEOUT = 15.0
"""A fake's ``limit_wait``, ``connect_timeout`` and ``timeout`` (5 s each): the longest one
attempt takes."""


def fake(**options: Any) -> dict[str, Any]:
    """A ``fake`` provider table with a status query and a 15 s attempt timeout."""
    table = {"plugin": "fake", "status_query": True, "limit_wait": "5s"}
    return table | {"connect_timeout": "5s", "timeout": "5s"} | options


def config(providers: Mapping[str, Mapping[str, Any]], **settings: Any) -> dict[str, Any]:
    settings.setdefault("policy", ["priority"])
    return {"router": settings, "providers": dict(providers)}


async def crashed(r: Router, provider: str, started_at: float | None) -> str:
    """A message journalled as in flight on *provider* since *started_at*: a crash's trace."""
    record, _ = await r.accept(Message(to=AU, text="hi", id="m1"))
    await r.store.attempt_started(record.id, provider, [f"{record.id}-0"], now=started_at)
    return record.id


async def resume(r: Router, message_id: str) -> SendResult:
    record = await r.store.get(message_id)
    assert record is not None
    return await r.resume(record)


async def sleeping(clock: FakeClock) -> None:
    """Let the loop run until something sleeps on *clock* (a few hundred turns at most)."""
    for _ in range(500):
        if clock.slept:
            return
        await asyncio.sleep(0)
    raise AssertionError("nothing slept on the clock")


def trail(result: SendResult) -> list[tuple[str, Outcome]]:
    return [(a.provider, a.outcome) for a in result[AU].attempts]


async def test_the_attempt_timeout_is_the_slot_wait_the_connection_wait_and_the_call(
    started: RouterFactory,
) -> None:
    r = await started(config({"a": fake()}))
    assert attempt_timeout(r.providers["a"]) == TIMEOUT


async def test_not_known_after_the_timeout_never_arrived_and_is_sent_again(
    started: RouterFactory, clock: FakeClock
) -> None:
    r = await started(config({"a": fake(), "b": fake()}))
    fakes(r)["a"].status_answer = None
    message_id = await crashed(r, "a", clock.now - TIMEOUT)
    result = await resume(r, message_id)
    assert (result[AU].status, result[AU].provider) == (RecipientStatus.ACCEPTED, "a")
    assert trail(result) == [("a", Outcome.UNAVAILABLE), ("a", Outcome.ACCEPTED)]
    why = result[AU].attempts[0].reason
    assert why == (
        "interrupted mid-attempt; a does not know it 15s after the attempt started "
        "(its timeout is 15s): it never arrived"
    )
    assert len(fakes(r)["a"].status_calls) == 1
    assert [len(p.batches) for p in fakes(r).values()] == [1, 0], "sent once, as routing says"
    assert clock.slept == []
    record = await r.store.get(message_id)
    assert record is not None
    assert record.recipients[0].attempts == result[AU].attempts


async def test_not_known_before_the_timeout_is_asked_again_when_it_has_passed(
    started: RouterFactory, clock: FakeClock
) -> None:
    r = await started(config({"a": fake()}))
    fakes(r)["a"].status_answer = None
    message_id = await crashed(r, "a", clock.now - 4)
    result = await resume(r, message_id)
    assert clock.slept == [TIMEOUT - 4]
    assert len(fakes(r)["a"].status_calls) == 2
    assert trail(result) == [("a", Outcome.UNAVAILABLE), ("a", Outcome.ACCEPTED)]
    assert "does not know it 15s after" in result[AU].attempts[0].reason


async def test_not_known_then_taken_is_accepted_and_not_sent_again(
    started: RouterFactory,
) -> None:
    still = FakeClock(autojump=False)
    r = await started(config({"a": fake()}), on=still)
    a = fakes(r)["a"]
    a.status_answer = None
    message_id = await crashed(r, "a", still.now)
    resuming = asyncio.ensure_future(resume(r, message_id))
    await sleeping(still)
    # The send is on its way when the crash came: it shows at the provider meanwhile.
    a.status_answer = DeliveryStatus.ENROUTE
    still.advance(TIMEOUT)
    result = await resuming
    assert (result[AU].status, result[AU].provider) == (RecipientStatus.ACCEPTED, "a")
    assert trail(result) == [("a", Outcome.AMBIGUOUS)]
    assert (len(a.status_calls), a.batches) == (2, [])


async def test_a_crash_while_asking_leaves_the_attempt_in_flight(started: RouterFactory) -> None:
    still = FakeClock(autojump=False)
    r = await started(config({"a": fake()}), on=still)
    fakes(r)["a"].status_answer = None
    message_id = await crashed(r, "a", still.now)
    resuming = asyncio.ensure_future(resume(r, message_id))
    await sleeping(still)
    resuming.cancel()
    with pytest.raises(asyncio.CancelledError):
        await resuming
    record = await r.store.get(message_id)
    assert record is not None
    assert (record.recipients[0].in_flight, record.recipients[0].in_flight_at) == ("a", still.now)
    assert record.recipients[0].attempts == ()


@pytest.mark.parametrize("answer", [DeliveryStatus.ACCEPTED, DeliveryStatus.FAILED])
async def test_taken_is_accepted_whenever_it_is_asked(
    started: RouterFactory, clock: FakeClock, answer: DeliveryStatus
) -> None:
    r = await started(config({"a": fake(), "b": fake()}))
    fakes(r)["a"].status_answer = answer
    result = await resume(r, await crashed(r, "a", clock.now - 1))
    assert (result[AU].status, result[AU].provider) == (RecipientStatus.ACCEPTED, "a")
    assert trail(result) == [("a", Outcome.AMBIGUOUS)]
    assert [p.batches for p in fakes(r).values()] == [[], []]
    assert clock.slept == []


@pytest.mark.parametrize(
    ("on_ambiguous", "status", "b_sends"),
    [("stop", RecipientStatus.AMBIGUOUS, 0), ("failover", RecipientStatus.ACCEPTED, 1)],
)
@pytest.mark.parametrize("case", ["no answer", "no status query", "start not journalled"])
async def test_what_proves_nothing_is_ambiguous_per_on_ambiguous(
    started: RouterFactory,
    clock: FakeClock,
    on_ambiguous: str,
    status: RecipientStatus,
    b_sends: int,
    case: str,
) -> None:
    a_table = fake(status_query=case != "no status query")
    r = await started(config({"a": a_table, "b": fake()}, on_ambiguous=on_ambiguous))
    a = fakes(r)["a"]
    a.status_answer = None
    if case == "no answer":
        a.status_error = ProviderUnavailableError("down", provider="a")
    started_at = None if case == "start not journalled" else clock.now - 3600
    result = await resume(r, await crashed(r, "a", started_at))
    assert result[AU].status is status
    assert trail(result)[0] == ("a", Outcome.AMBIGUOUS)
    assert result[AU].attempts[0].reason == "interrupted mid-attempt"
    assert (len(a.batches), len(fakes(r)["b"].batches)) == (0, b_sends), "never sent to a again"
    assert clock.slept == []
