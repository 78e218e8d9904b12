"""Campaigns coalesce: queued messages of one text for one provider share a call.

Messages queued with ``accept`` and sent with ``send_accepted`` (the daemon's ``"wait":
false``, bulk CSV) that go to one provider with one text and sender within ``[router]
coalesce_window`` go in one call, up to the provider's batch size, when its adapter
declares ``coalesce``. Each is still journalled, reported and failed over on its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs
import pytest

import router.testing
from router import Message
from router.engine import Router
from router.model import (
    Batch,
    CallbackKind,
    CallbackRequest,
    DeliveryStatus,
    Outcome,
    RecipientOutcome,
    RecipientStatus,
    SendResult,
)
from router.state import BreakerState
from router.store import MessageState
from router.testing import FakeClock
from tests.engine.conftest import RouterFactory, fakes

NUMBERS = [f"+6141234{n:04d}" for n in range(20)]


def config(window: str = "20ms", **a: Any) -> dict[str, Any]:
    fake = {"plugin": "fake", "coalesce": True}
    return {
        "router": {"policy": ["priority"], "coalesce_window": window},
        "providers": {"a": fake | a, "b": fake},
    }


async def queued(r: Router, messages: Sequence[Message]) -> list[SendResult]:
    """Accept every message, then send them all at once, as the daemon's workers do."""
    for message in messages:
        await r.accept(message)
    sends: list[Awaitable[SendResult | None]] = [r.send_accepted(m.id) for m in messages]
    results = await asyncio.gather(*sends)
    assert all(result is not None for result in results)
    return [result for result in results if result is not None]


def campaign(count: int, text: str = "sale today") -> list[Message]:
    return [Message(to=NUMBERS[n], text=text, id=f"m{n}") for n in range(count)]


Answer = Callable[[Batch], Awaitable[list[RecipientOutcome]]]


def held_at_the_provider(r: Router, answer: Answer | None = None) -> asyncio.Event:
    """Hold every call to provider ``a`` until the event returned is set; then answer as
    the fake does, or with *answer*."""
    gate, fake = asyncio.Event(), fakes(r)["a"]
    reply = answer or fake.send

    async def held(batch: Batch) -> list[RecipientOutcome]:
        await gate.wait()
        return await reply(batch)

    fake.send = held  # type: ignore[method-assign]
    return gate


async def sending(r: Router, messages: Sequence[Message]) -> asyncio.Future[list[Any]]:
    """Accept *messages* and start sending them all, until they wait at the provider."""
    for message in messages:
        await r.accept(message)
    sends = asyncio.gather(*(r.send_accepted(m.id) for m in messages))
    for _ in range(50):
        await asyncio.sleep(0)
    return sends


async def test_queued_messages_of_one_text_share_one_call(started: RouterFactory) -> None:
    r = await started(config())
    results = await queued(r, campaign(5))
    [batch] = fakes(r)["a"].batches
    assert batch.message_id == "m0"
    assert [x.e164 for x in batch.recipients] == NUMBERS[:5]
    assert [x.ref for x in batch.recipients] == [f"m{n}-0" for n in range(5)]
    ids = set()
    for n, result in enumerate(results):
        [recipient] = result.recipients
        assert (result.message_id, recipient.recipient) == (f"m{n}", NUMBERS[n])
        assert (recipient.status, recipient.provider) == (RecipientStatus.ACCEPTED, "a")
        ids.add(recipient.provider_message_id)
        record = await r.store.get(f"m{n}")
        assert record is not None
        assert record.state is MessageState.DONE
        [journalled] = record.recipients
        assert [a.provider for a in journalled.attempts] == ["a"]
    assert len(ids) == 5  # each recipient keeps its own provider id
    sample = r.metrics.registry.get_sample_value
    assert sample("smsrouter_coalesced_calls_total", {"provider": "a"}) == 1
    assert sample("smsrouter_coalesced_messages_total", {"provider": "a"}) == 5


async def test_a_waiting_send_never_waits_for_others(started: RouterFactory) -> None:
    r = await started(config())
    await asyncio.gather(*(r.send(m) for m in campaign(4)))
    assert [len(b.recipients) for b in fakes(r)["a"].batches] == [1, 1, 1, 1]


async def test_a_waiting_send_may_share_its_calls_when_asked(started: RouterFactory) -> None:
    r = await started(config())
    messages = [attrs.evolve(m, reference=f"ref-{m.id}") for m in campaign(4)]
    results = await asyncio.gather(*(r.send(m, coalesce=True) for m in messages))
    [batch] = fakes(r)["a"].batches
    assert len(batch.recipients) == 4
    assert all(x.ok and not x.duplicate for x in results)
    again = await r.send(attrs.evolve(messages[1], id="other"), coalesce=True)
    assert (again.duplicate, again.message_id) == (True, "m1")  # the first send's result
    assert len(fakes(r)["a"].batches) == 1


async def test_a_call_carries_at_most_the_batch_size(started: RouterFactory) -> None:
    r = await started(config(max_recipients=3))
    await queued(r, campaign(7))
    assert [len(b.recipients) for b in fakes(r)["a"].batches] == [3, 3, 1]


@pytest.mark.parametrize(
    ("window", "options"), [("0s", {}), ("20ms", {"coalesce": False})], ids=["off", "adapter"]
)
async def test_each_goes_alone_when_off_or_the_adapter_cannot(
    started: RouterFactory, window: str, options: dict[str, Any]
) -> None:
    r = await started(config(window, **options))
    await queued(r, campaign(3))
    assert [b.message_id for b in fakes(r)["a"].batches] == ["m0", "m1", "m2"]


async def test_only_one_text_sender_and_shape_share_a_call(started: RouterFactory) -> None:
    r = await started(config())
    messages = [
        Message(to=NUMBERS[0], text="sale", id="m0"),
        Message(to=NUMBERS[1], text="sale", id="m1"),
        Message(to=NUMBERS[2], text="other", id="m2"),
        Message(to=NUMBERS[3], text="sale", sender="Shop", id="m3"),
        Message(to=NUMBERS[4], text="sale " * 40, id="m4"),  # two segments
        Message(to=NUMBERS[0], text="sale", id="m5"),  # a number already aboard
    ]
    await queued(r, messages)
    calls = sorted([r.ref for r in b.recipients] for b in fakes(r)["a"].batches)
    assert calls == [["m0-0", "m1-0"], ["m2-0"], ["m3-0"], ["m4-0"], ["m5-0"]]


async def test_each_message_fails_over_on_its_own(started: RouterFactory) -> None:
    r = await started(config())
    fakes(r)["a"].script(Outcome.UNAVAILABLE)  # the one coalesced call fails
    results = await queued(r, campaign(4))
    assert len(fakes(r)["a"].batches) == 1
    [on_b] = fakes(r)["b"].batches  # and the four fail over together, each its own way
    assert sorted(x.ref for x in on_b.recipients) == [f"m{n}-0" for n in range(4)]
    for result in results:
        [recipient] = result.recipients
        assert recipient.provider == "b"
        assert [a.outcome for a in recipient.attempts] == [Outcome.UNAVAILABLE, Outcome.ACCEPTED]
    # The breaker counted one failed call, not one per message.
    breaker = r.providers["a"].breaker
    assert breaker.state is BreakerState.CLOSED
    assert breaker.failures == 1


async def test_the_call_goes_once_every_start_is_journalled(started: RouterFactory) -> None:
    r = await started(config())
    for message in campaign(3):
        await r.accept(message)
    journalled = asyncio.Event()
    original = r.store.attempt_started

    async def slow_start(message_id: str, *args: Any, **kwargs: Any) -> None:
        if message_id == "m2":
            await journalled.wait()  # the last start is slow to land
        await original(message_id, *args, **kwargs)

    r.store.attempt_started = slow_start
    sends = [asyncio.ensure_future(r.send_accepted(f"m{n}")) for n in range(3)]
    for _ in range(50):
        await asyncio.sleep(0)
    assert fakes(r)["a"].batches == []  # the window is over, but m2's start is not journalled
    journalled.set()
    await asyncio.gather(*sends)
    [batch] = fakes(r)["a"].batches
    assert len(batch.recipients) == 3


async def test_a_start_that_fails_leaves_the_call(started: RouterFactory) -> None:
    r = await started(config())
    for message in campaign(3):
        await r.accept(message)
    original = r.store.attempt_started

    async def failing(message_id: str, *args: Any, **kwargs: Any) -> None:
        if message_id == "m1":
            raise OSError("disk full")
        await original(message_id, *args, **kwargs)

    r.store.attempt_started = failing
    ends = await asyncio.gather(
        *(r.send_accepted(f"m{n}") for n in range(3)), return_exceptions=True
    )
    assert isinstance(ends[1], OSError)
    [batch] = fakes(r)["a"].batches
    assert [x.ref for x in batch.recipients] == ["m0-0", "m2-0"]  # never sent unjournalled


async def test_others_journal_the_id_their_call_went_by(
    started: RouterFactory, clock: FakeClock
) -> None:
    r = await started(config())
    gate = held_at_the_provider(r)
    sends = await sending(r, campaign(3))
    marks = {}
    for n in range(3):
        record = await r.store.get(f"m{n}")
        assert record is not None
        [recipient] = record.recipients
        marks[record.id] = (recipient.in_flight, recipient.in_flight_via)
    assert marks == {"m0": ("a", None), "m1": ("a", "m0"), "m2": ("a", "m0")}
    gate.set()
    await sends
    record = await r.store.get("m1")
    assert record is not None
    assert (record.recipients[0].in_flight, record.recipients[0].in_flight_via) == (None, None)


async def test_closing_the_router_makes_the_calls_gathered() -> None:
    still = FakeClock(autojump=False)  # the window never ends by itself here
    r = Router(config("10s"), plugins=[router.testing], clock=still)
    await r.start(track_balances=False, schedule=False)
    for message in campaign(2):
        await r.accept(message)
    sends = asyncio.gather(*(r.send_accepted(f"m{n}") for n in range(2)))
    for _ in range(20):
        await asyncio.sleep(0)
    assert fakes(r)["a"].batches == []
    calls = fakes(r)["a"].batches
    await r.aclose()
    results = await sends
    assert [len(b.recipients) for b in calls] == [2]
    assert all(x is not None and x.ok for x in results)
    await r.start(track_balances=False, schedule=False)  # started again: it gathers again
    try:
        for message in campaign(4)[2:]:
            await r.accept(message)
        sends = asyncio.gather(*(r.send_accepted(f"m{n}") for n in (2, 3)))
        for _ in range(20):
            await asyncio.sleep(0)
        still.advance(10.0)
        await sends
        assert [len(b.recipients) for b in fakes(r)["a"].batches] == [2]  # a new adapter
    finally:
        await r.aclose()


async def test_early_reports_of_a_shared_call_id_reach_every_message(
    started: RouterFactory,
) -> None:
    # SMSC answers one id for the whole call: reports that come before the call's answer
    # is journalled are held under it, and each message takes its own when it lands.
    r = await started(config())

    async def one_id(batch: Batch) -> list[RecipientOutcome]:
        return [RecipientOutcome(x.e164, Outcome.ACCEPTED, "call-1") for x in batch.recipients]

    gate = held_at_the_provider(r, one_id)
    sends = await sending(r, campaign(3))
    try:
        for n in range(3):
            push = {"id": "call-1", "to": NUMBERS[n], "status": "delivered"}
            await r.handle_callback("a", CallbackKind.DLR, CallbackRequest("GET", query=push))
        assert len(r.callbacks.early) == 3
    finally:
        gate.set()
    await sends
    for n in range(3):
        record = await r.store.get(f"m{n}")
        assert record is not None
        assert record.recipients[0].delivery is DeliveryStatus.DELIVERED, n
    assert len(r.callbacks.early) == 0


async def test_recovery_asks_about_the_call_a_recipient_was_in(started: RouterFactory) -> None:
    r = await started(config(status_query=True))
    for message in campaign(2):
        await r.accept(message)
    # What a crash mid-call leaves: m1 was in a call that went by m0's id.
    await r.store.attempt_started("m0", "a", ["m0-0"], now=r.clock.time())
    await r.store.attempt_started("m1", "a", ["m1-0"], now=r.clock.time(), via="m0")
    for n in range(2):
        record = await r.store.get(f"m{n}")
        assert record is not None
        result = await r.resume(record)
        assert result.recipients[0].status is RecipientStatus.ACCEPTED  # taken, not resent
    asked = [q for call in fakes(r)["a"].status_calls for q in call]
    assert [(q.ref, q.via) for q in asked] == [("m0-0", None), ("m1-0", "m0")]
    assert fakes(r)["a"].batches == []


async def test_an_ambiguous_answer_is_asked_about_by_the_call_s_id(
    started: RouterFactory,
) -> None:
    r = await started(config(status_query=True))
    fakes(r)["a"].script(Outcome.AMBIGUOUS)  # the coalesced call's answer is lost
    results = await queued(r, campaign(2))
    assert all(x.ok for x in results)  # the status query said taken: not sent again
    asked = [q for call in fakes(r)["a"].status_calls for q in call]
    assert sorted((q.ref, q.via) for q in asked) == [("m0-0", None), ("m1-0", "m0")]
    assert len(fakes(r)["a"].batches) == 1


async def test_a_seat_that_leaves_keeps_its_number_out_of_the_call(
    started: RouterFactory,
) -> None:
    still = FakeClock(autojump=False)  # the window ends when the test says
    r = await started(config(), on=still)
    first, second = campaign(2)
    again = Message(to=first.to[0], text=first.text, id="m2")  # m0's number, once more
    for message in (first, second, again):
        await r.accept(message)
    m0 = asyncio.ensure_future(r.send_accepted("m0"))
    m1 = asyncio.ensure_future(r.send_accepted("m1"))
    for _ in range(20):
        await asyncio.sleep(0)
    m0.cancel()  # m0's start is journalled under the call's id, then it gives up waiting
    await asyncio.gather(m0, return_exceptions=True)
    m2 = asyncio.ensure_future(r.send_accepted("m2"))
    for _ in range(20):
        await asyncio.sleep(0)
    still.advance(1.0)
    await asyncio.gather(m1, m2)
    calls = sorted((b.message_id, [x.ref for x in b.recipients]) for b in fakes(r)["a"].batches)
    # Never m2's send to that number under m0's id, which m0's mark names.
    assert calls == [("m0", ["m1-0"]), ("m2", ["m2-0"])]


async def test_closing_waits_for_a_call_whose_start_is_still_journalled(
    started: RouterFactory,
) -> None:
    r = await started(config("10s"), on=FakeClock(autojump=False))
    for message in campaign(2):
        await r.accept(message)
    journalled = asyncio.Event()
    original = r.store.attempt_started

    async def slow_start(message_id: str, *args: Any, **kwargs: Any) -> None:
        if message_id == "m1":
            await journalled.wait()
        await original(message_id, *args, **kwargs)

    r.store.attempt_started = slow_start
    sends = asyncio.gather(*(r.send_accepted(f"m{n}") for n in range(2)))
    for _ in range(20):
        await asyncio.sleep(0)
    closing = asyncio.ensure_future(r._loop.coalescer.aclose())
    for _ in range(20):
        await asyncio.sleep(0)
    assert not closing.done()  # the call has not gone: m1's start is not journalled
    assert fakes(r)["a"].batches == []
    journalled.set()
    await closing
    assert [len(b.recipients) for b in fakes(r)["a"].batches] == [2]
    await sends
    # Closed, it takes no seat: a later attempt goes alone, at once.
    await r.accept(Message(to=NUMBERS[5], text="sale today", id="m5"))
    await r.send_accepted("m5")
    assert [len(b.recipients) for b in fakes(r)["a"].batches] == [2, 1]
