"""The MessageStore contract, run against every store, and the memory store's bound."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

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
    RecipientResult,
    RecipientStatus,
    SendResult,
)
from router.store import (
    CallRecord,
    HoldRecord,
    InboundRecord,
    MemoryStore,
    MessageRecord,
    MessageState,
    MessageStore,
    RecentCalls,
    RecipientRecord,
    ReportMatch,
)

NOW = 1_700_000_000.0
NUMBERS = ("+61412345670", "+61412345671", "+61412345672")


def outgoing(
    count: int = 2, *, id: str = "m1", reference: str | None = None
) -> tuple[Message, list[Recipient]]:
    """A message to *count* numbers and its normalised recipients."""
    numbers = NUMBERS[:count]
    message = Message(
        to=numbers, text="Hello", sender="Shop", reference=reference, providers=("a", "b"), id=id
    )
    recipients = [Recipient(n, "AU", 61, f"{id}-{i}") for i, n in enumerate(numbers)]
    return message, recipients


async def add(
    store: MessageStore, count: int = 2, *, id: str = "m1", reference: str | None = None
) -> MessageRecord:
    """Journal a new message; fail if it was not new."""
    message, recipients = outgoing(count, id=id, reference=reference)
    record, created = await store.add(message, recipients, Encoding.GSM7, 1, NOW)
    assert created
    return record


def accepted(provider: str, provider_message_id: str | None, at: float = NOW + 1) -> Attempt:
    """An accepted attempt."""
    return Attempt(provider, Outcome.ACCEPTED, provider_message_id=provider_message_id, at=at)


async def sent(
    store: MessageStore, id: str, provider: str, ids: list[str | None], *, count: int = 2
) -> None:
    """Journal *id* and one accepted attempt per recipient on *provider* (not finished)."""
    await add(store, count, id=id)
    refs = [f"{id}-{i}" for i in range(count)]
    await store.attempt_started(id, provider, refs)
    for ref, provider_message_id in zip(refs, ids, strict=True):
        await store.attempt_ended(id, ref, accepted(provider, provider_message_id))


def report(
    status: DeliveryStatus = DeliveryStatus.DELIVERED,
    *,
    provider: str = "a",
    provider_message_id: str | None = None,
    ref: str | None = None,
    recipient: str | None = None,
    at: float | None = None,
    part: tuple[int, int] | None = None,
) -> DeliveryReport:
    """A delivery report."""
    return DeliveryReport(
        provider=provider,
        status=status,
        raw_status=status.value.upper(),
        provider_message_id=provider_message_id,
        ref=ref,
        recipient=recipient,
        at=at,
        part=part,
    )


async def recipient(store: MessageStore, message_id: str, index: int) -> RecipientRecord:
    """One recipient of a journalled message."""
    record = await store.get(message_id)
    assert record is not None
    return record.recipients[index]


# -- add, get, idempotency ----------------------------------------------------------------


async def test_add_journals_a_queued_message(store: MessageStore) -> None:
    record = await add(store, reference="order-1")
    assert record == MessageRecord(
        id="m1",
        reference="order-1",
        text="Hello",
        sender="Shop",
        providers=("a", "b"),
        encoding=Encoding.GSM7,
        segments=1,
        created_at=NOW,
        state=MessageState.QUEUED,
        recipients=(RecipientRecord(NUMBERS[0], "m1-0"), RecipientRecord(NUMBERS[1], "m1-1")),
    )
    assert await store.get("m1") == record
    assert await store.get("nope") is None
    assert record.message() == outgoing(reference="order-1")[0]


async def test_known_reference_returns_the_first_record(store: MessageStore) -> None:
    first = await add(store, reference="order-1")
    message, recipients = outgoing(1, id="m2", reference="order-1")
    again, created = await store.add(message, recipients, Encoding.UCS2, 3, NOW + 5)
    assert created is False
    assert again == first
    assert await store.get("m2") is None


async def test_known_message_id_returns_the_first_record(store: MessageStore) -> None:
    first = await add(store)
    message, recipients = outgoing(1, id="m1")
    again, created = await store.add(message, recipients, Encoding.GSM7, 1, NOW + 5)
    assert (again, created) == (first, False)


async def test_concurrent_adds_of_one_reference_journal_one_message(store: MessageStore) -> None:
    calls = [outgoing(1, id=f"m{i}", reference="same") for i in range(20)]
    answers = await asyncio.gather(*(store.add(m, r, Encoding.GSM7, 1, NOW) for m, r in calls))
    assert [created for _, created in answers].count(True) == 1
    first = next(record for record, created in answers if created)
    assert {record.id for record, _ in answers} == {first.id}
    found = [await store.get(f"m{i}") for i in range(20)]
    assert sum(1 for f in found if f is not None) == 1


# -- attempts and finishing ---------------------------------------------------------------


async def test_attempts_are_journalled_with_in_flight_marks(store: MessageStore) -> None:
    await add(store)
    await store.attempt_started("m1", "a", ["m1-0", "m1-1"])
    record = await store.get("m1")
    assert record is not None
    assert record.state is MessageState.SENDING
    assert [r.in_flight for r in record.recipients] == ["a", "a"]
    failed = Attempt("a", Outcome.PROVIDER_ERROR, "down", kind=ErrorKind.OTHER, at=NOW + 1)
    await store.attempt_ended("m1", "m1-0", failed)
    await store.attempt_ended("m1", "m1-0", accepted("b", "b-7", NOW + 2))
    first, second = (await store.get("m1") or record).recipients
    assert first.attempts == (failed, accepted("b", "b-7", NOW + 2))
    assert first.in_flight is None
    assert second.in_flight == "a"
    assert second.attempts == ()


async def test_an_in_flight_mark_keeps_when_its_attempt_started(store: MessageStore) -> None:
    await add(store, 3)
    await store.attempt_started("m1", "a", ["m1-0", "m1-1"], now=NOW + 5)
    await store.attempt_started("m1", "b", ["m1-2"])  # a start not given is not known
    [m1] = await store.unfinished()
    assert [(r.in_flight, r.in_flight_at) for r in m1.recipients] == [
        ("a", NOW + 5),
        ("a", NOW + 5),
        ("b", None),
    ]
    await store.attempt_ended("m1", "m1-0", accepted("a", "a-1", NOW + 6))
    await store.attempt_started("m1", "c", ["m1-1"], now=NOW + 7)  # started again elsewhere
    first, second, _ = (await store.get("m1") or m1).recipients
    assert (first.in_flight, first.in_flight_at) == (None, None)
    assert (second.in_flight, second.in_flight_at) == ("c", NOW + 7)
    await store.finish(m1.result())
    done = await store.get("m1")
    assert done is not None
    assert {(r.in_flight, r.in_flight_at) for r in done.recipients} == {(None, None)}


async def test_an_in_flight_mark_keeps_the_message_its_call_went_by(store: MessageStore) -> None:
    await add(store, 3)
    await store.attempt_started("m1", "smsc", ["m1-0", "m1-1"], now=NOW + 5, via="m0")
    await store.attempt_started("m1", "a", ["m1-2"], now=NOW + 5)  # by its own id
    [m1] = await store.unfinished()
    assert [(r.in_flight, r.in_flight_via) for r in m1.recipients] == [
        ("smsc", "m0"),
        ("smsc", "m0"),
        ("a", None),
    ]
    assert await store.get("m1") == m1
    await store.attempt_ended("m1", "m1-0", accepted("smsc", "s-1", NOW + 6))
    first, second, third = (await store.get("m1") or m1).recipients
    assert (first.in_flight, first.in_flight_at, first.in_flight_via) == (None, None, None)
    assert (second.in_flight, second.in_flight_via) == ("smsc", "m0")
    assert third.in_flight_via is None
    await store.finish(m1.result())
    done = await store.get("m1")
    assert done is not None
    assert {(r.in_flight, r.in_flight_via) for r in done.recipients} == {(None, None)}


async def test_a_start_by_its_own_id_clears_the_via_of_an_earlier_start(
    store: MessageStore,
) -> None:
    await add(store)
    await store.attempt_started("m1", "smsc", ["m1-0", "m1-1"], now=NOW + 1, via="m0")
    await store.attempt_started("m1", "b", ["m1-0"], now=NOW + 2)  # started again, alone
    [m1] = await store.unfinished()
    assert [(r.in_flight, r.in_flight_at, r.in_flight_via) for r in m1.recipients] == [
        ("b", NOW + 2, None),
        ("smsc", NOW + 1, "m0"),
    ]
    await store.attempt_started("m1", "smsc", ["m1-0"], now=NOW + 3, via="m9")  # another batch
    first, _ = (await store.get("m1") or m1).recipients
    assert (first.in_flight, first.in_flight_via) == ("smsc", "m9")


async def test_a_message_journalled_with_its_first_start_has_no_via(store: MessageStore) -> None:
    message, recipients = outgoing()
    _, created = await store.add_started(message, recipients, Encoding.GSM7, 1, NOW, "a")
    assert created
    record = await store.get("m1")
    assert record is not None
    assert [(r.in_flight, r.in_flight_via) for r in record.recipients] == [("a", None)] * 2


async def test_unknown_message_or_recipient_is_a_key_error(store: MessageStore) -> None:
    await add(store)
    with pytest.raises(KeyError):
        await store.attempt_started("nope", "a", ["nope-0"])
    with pytest.raises(KeyError):
        await store.attempt_ended("nope", "nope-0", accepted("a", None))
    with pytest.raises(KeyError):
        await store.attempt_ended("m1", "m1-9", accepted("a", None))
    with pytest.raises(KeyError):
        await store.finish(SendResult("nope", None, (), Encoding.GSM7, 1))
    # The store still works after each refusal.
    await store.attempt_ended("m1", "m1-0", accepted("a", "x"))
    assert (await recipient(store, "m1", 0)).attempts == (accepted("a", "x"),)


async def test_finish_records_each_recipient_and_marks_done(store: MessageStore) -> None:
    await add(store)
    await store.attempt_started("m1", "a", ["m1-0", "m1-1"])
    first = Attempt("a", Outcome.REJECTED_RECIPIENT, "bad number", at=NOW + 1)
    await store.attempt_ended("m1", "m1-0", first)
    await store.attempt_ended("m1", "m1-1", accepted("a", "a-1"))
    result = SendResult(
        message_id="m1",
        reference=None,
        recipients=(
            RecipientResult(NUMBERS[0], "m1-0", RecipientStatus.REJECTED, "a", None, (first,)),
            RecipientResult(
                NUMBERS[1],
                "m1-1",
                RecipientStatus.ACCEPTED,
                "a",
                "a-1",
                (accepted("a", "a-1"),),
                cost=Decimal("0.0450"),
            ),
        ),
        encoding=Encoding.GSM7,
        segments=1,
    )
    await store.finish(result)
    record = await store.get("m1")
    assert record is not None
    assert record.state is MessageState.DONE
    assert record.recipients[1] == RecipientRecord(
        NUMBERS[1],
        "m1-1",
        status=RecipientStatus.ACCEPTED,
        provider="a",
        provider_message_id="a-1",
        attempts=(accepted("a", "a-1"),),
        cost=Decimal("0.0450"),
    )
    assert record.result() == result
    assert record.result(duplicate=True).duplicate is True
    assert await store.unfinished() == []


async def test_unfinished_lists_what_is_not_done_oldest_first(store: MessageStore) -> None:
    await add(store, id="m1")
    await add(store, id="m2")
    await add(store, id="m3")
    await store.attempt_started("m2", "a", ["m2-0", "m2-1"])
    await store.attempt_ended("m2", "m2-0", accepted("a", "a-1"))
    await store.finish(SendResult("m3", None, (), Encoding.GSM7, 1))
    unfinished = await store.unfinished()
    assert [r.id for r in unfinished] == ["m1", "m2"]
    assert [r.state for r in unfinished] == [MessageState.QUEUED, MessageState.SENDING]
    m2 = unfinished[1]
    assert [r.in_flight for r in m2.recipients] == [None, "a"]
    assert m2.recipients[0].attempts == (accepted("a", "a-1"),)


# -- delivery reports ---------------------------------------------------------------------


async def test_report_by_provider_message_id(store: MessageStore) -> None:
    await sent(store, "m1", "a", ["a-1", "a-2"])
    matched = await store.apply_report(report(provider_message_id="a-2", at=NOW + 9), NOW + 10)
    assert matched == ReportMatch("m1", "m1-1", applied=True)
    target = await recipient(store, "m1", 1)
    assert (target.delivery, target.delivery_raw, target.delivery_at) == (
        DeliveryStatus.DELIVERED,
        "DELIVERED",
        NOW + 9,
    )
    assert (await recipient(store, "m1", 0)).delivery is None
    # The same id from another provider is someone else's message.
    assert await store.apply_report(report(provider="b", provider_message_id="a-2"), NOW) is None


async def test_report_by_an_id_learnt_only_at_finish(store: MessageStore) -> None:
    await add(store, 1)
    # An ambiguous send settled by a status query: the id is only in the result.
    ambiguous = Attempt("a", Outcome.AMBIGUOUS, "timeout", at=NOW + 1)
    await store.attempt_ended("m1", "m1-0", ambiguous)
    await store.finish(
        SendResult(
            "m1",
            None,
            (
                RecipientResult(
                    NUMBERS[0], "m1-0", RecipientStatus.ACCEPTED, "a", "late-1", (ambiguous,)
                ),
            ),
            Encoding.GSM7,
            1,
        )
    )
    matched = await store.apply_report(report(provider_message_id="late-1"), NOW)
    assert matched == ReportMatch("m1", "m1-0", applied=True)


async def test_report_by_recipient_ref(store: MessageStore) -> None:
    await sent(store, "m1", "a", [None, None])
    # Our reference on another provider's URL speaks for nothing (issue 11, point 3).
    assert await store.apply_report(report(ref="m1-1", provider="other"), NOW + 3) is None
    matched = await store.apply_report(report(ref="m1-1", provider="a"), NOW + 3)
    assert matched == ReportMatch("m1", "m1-1", applied=True)
    assert (await recipient(store, "m1", 1)).delivery_at == NOW + 3


async def test_report_by_message_id_and_recipient(store: MessageStore) -> None:
    await sent(store, "m1", "a", [None, None])
    # The number without "+", as providers write it.
    matched = await store.apply_report(report(ref="m1", recipient=NUMBERS[1][1:]), NOW)
    assert matched == ReportMatch("m1", "m1-1", applied=True)
    # Without the number it could be either recipient: not matched.
    assert await store.apply_report(report(ref="m1"), NOW) is None
    # Nor through a provider the recipient never went through.
    assert (
        await store.apply_report(report(ref="m1", provider="b", recipient=NUMBERS[0]), NOW) is None
    )


async def test_report_while_the_attempt_is_in_flight(store: MessageStore) -> None:
    await add(store, 1)
    await store.attempt_started("m1", "a", ["m1-0"])
    matched = await store.apply_report(report(DeliveryStatus.ENROUTE, ref="m1"), NOW)
    assert matched == ReportMatch("m1", "m1-0", applied=True)


async def test_a_batch_id_is_told_apart_by_recipient(store: MessageStore) -> None:
    await sent(store, "m1", "a", ["batch-1", "batch-1"])
    assert await store.apply_report(report(provider_message_id="batch-1"), NOW) is None
    matched = await store.apply_report(
        report(provider_message_id="batch-1", recipient=NUMBERS[0]), NOW
    )
    assert matched == ReportMatch("m1", "m1-0", applied=True)


async def test_an_id_the_provider_gave_only_in_its_report(store: MessageStore) -> None:
    # providers.md 4.2: SMS Central answers a send with no id; its report has ID and REFERENCE.
    await sent(store, "m1", "a", [None], count=1)
    matched = await store.apply_report(report(provider_message_id="sc-99", ref="m1"), NOW)
    assert matched == ReportMatch("m1", "m1-0", applied=True)


async def test_a_known_id_is_not_taken_by_a_recipient_still_in_flight(
    store: MessageStore,
) -> None:
    await add(store)
    await store.attempt_started("m1", "a", ["m1-0", "m1-1"])
    await store.attempt_ended("m1", "m1-0", accepted("a", "a-1"))
    matched = await store.apply_report(report(provider_message_id="a-1"), NOW)
    assert matched == ReportMatch("m1", "m1-0", applied=True)
    # An id nobody was given goes to the one recipient on that provider still without one.
    matched = await store.apply_report(report(provider_message_id="a-2", ref="m1"), NOW)
    assert matched == ReportMatch("m1", "m1-1", applied=True)


async def test_a_reused_provider_id_matches_the_newest_message(store: MessageStore) -> None:
    await sent(store, "m1", "a", ["7"], count=1)
    await sent(store, "m2", "a", ["7"], count=1)
    matched = await store.apply_report(report(provider_message_id="7"), NOW)
    assert matched == ReportMatch("m2", "m2-0", applied=True)


async def test_unknown_reports_match_nothing(store: MessageStore) -> None:
    await sent(store, "m1", "a", ["a-1", "a-2"])
    assert await store.apply_report(report(provider_message_id="zzz"), NOW) is None
    assert await store.apply_report(report(ref="other-0"), NOW) is None
    assert await store.apply_report(report(ref="m1-5", recipient=NUMBERS[2]), NOW) is None
    assert await store.apply_report(report(), NOW) is None


async def test_a_final_status_is_never_replaced(store: MessageStore) -> None:
    await sent(store, "m1", "a", ["a-1", "a-2"])
    await store.apply_report(report(DeliveryStatus.ENROUTE, provider_message_id="a-1"), NOW + 1)
    assert (await recipient(store, "m1", 0)).delivery is DeliveryStatus.ENROUTE
    await store.apply_report(report(DeliveryStatus.DELIVERED, provider_message_id="a-1"), NOW + 2)
    for later in (DeliveryStatus.ENROUTE, DeliveryStatus.FAILED, DeliveryStatus.UNKNOWN):
        matched = await store.apply_report(report(later, provider_message_id="a-1"), NOW + 3)
        # Matched, but not applied: a final status is never downgraded.
        assert matched == ReportMatch("m1", "m1-0", applied=False)
    target = await recipient(store, "m1", 0)
    assert (target.delivery, target.delivery_raw, target.delivery_at) == (
        DeliveryStatus.DELIVERED,
        "DELIVERED",
        NOW + 2,
    )


async def test_parts_of_a_long_text_are_combined(store: MessageStore) -> None:
    await sent(store, "m1", "a", [None, None])
    delivered, failed = DeliveryStatus.DELIVERED, DeliveryStatus.FAILED
    await store.apply_report(report(delivered, ref="m1-0", part=(1, 2)), NOW)
    first = await recipient(store, "m1", 0)
    assert (first.delivery, first.delivery_parts) == (DeliveryStatus.ENROUTE, (delivered, None))
    await store.apply_report(report(delivered, ref="m1-0", part=(2, 2)), NOW)
    first = await recipient(store, "m1", 0)
    assert (first.delivery, first.delivery_parts) == (delivered, (delivered, delivered))
    # Any failed part fails the recipient, even when the other part arrives later.
    await store.apply_report(report(failed, ref="m1-1", part=(2, 3)), NOW)
    await store.apply_report(report(delivered, ref="m1-1", part=(1, 3)), NOW)
    second = await recipient(store, "m1", 1)
    assert (second.delivery, second.delivery_parts) == (failed, (None, failed, None))


# -- inbound ------------------------------------------------------------------------------


def incoming(
    text: str,
    *,
    provider: str = "a",
    sender: str = "+61499000001",
    recipient: str = "61400000000",
    provider_message_id: str | None = None,
    in_reply_to: str | None = None,
) -> InboundMessage:
    """An inbound message."""
    return InboundMessage(
        provider=provider,
        sender=sender,
        recipient=recipient,
        text=text,
        provider_message_id=provider_message_id,
        in_reply_to=in_reply_to,
        at=NOW - 1,
    )


async def test_inbound_is_linked_to_the_message_it_answers(store: MessageStore) -> None:
    await add(store)
    assert await store.add_inbound(incoming("yes", in_reply_to="m1"), NOW) == "m1"
    assert await store.add_inbound(incoming("no", in_reply_to="m1-1"), NOW) == "m1"
    assert await store.add_inbound(incoming("eh", in_reply_to="m1-7"), NOW) is None
    assert await store.add_inbound(incoming("?", in_reply_to="other"), NOW) is None
    assert await store.add_inbound(incoming("hi"), NOW) is None
    listed = await store.inbound()
    assert [(r.message.text, r.answers) for r in listed] == [
        ("hi", None),
        ("?", None),
        ("eh", None),
        ("no", "m1"),
        ("yes", "m1"),
    ]
    assert listed[-1] == InboundRecord(
        id=listed[-1].id, message=incoming("yes", in_reply_to="m1"), answers="m1", received_at=NOW
    )


async def test_a_pushed_again_inbound_is_journalled_once(store: MessageStore) -> None:
    await add(store)
    first = incoming("yes", provider_message_id="in-1", in_reply_to="m1")
    assert await store.add_inbound(first, NOW) == "m1"
    assert await store.add_inbound(first, NOW + 60) == "m1"
    assert (
        await store.add_inbound(incoming("yes", provider="b", provider_message_id="in-1"), NOW)
        is None
    )
    assert [(r.message.provider, r.received_at) for r in await store.inbound()] == [
        ("b", NOW),
        ("a", NOW),
    ]


async def test_inbound_listing_filters_and_pages(store: MessageStore) -> None:
    for i in range(7):
        await store.add_inbound(
            incoming(
                f"t{i}",
                provider="a" if i % 2 == 0 else "b",
                sender="+61499000001" if i < 4 else "+61499000002",
            ),
            NOW + i,
        )

    async def texts(**filters: object) -> list[str]:
        return [r.message.text for r in await store.inbound(**filters)]  # type: ignore[arg-type]

    assert await texts() == ["t6", "t5", "t4", "t3", "t2", "t1", "t0"]
    assert await texts(provider="b") == ["t5", "t3", "t1"]
    assert await texts(number="61499000002") == ["t6", "t5", "t4"]
    assert await texts(number="+61400000000", limit=2) == ["t6", "t5"]
    assert await texts(since=NOW + 2, until=NOW + 5) == ["t4", "t3", "t2"]
    assert await texts(provider="a", number="+61499000001") == ["t2", "t0"]
    pages: list[list[str]] = []
    before = None
    while True:
        page = await store.inbound(limit=3, before=before)
        if not page:
            break
        pages.append([r.message.text for r in page])
        before = page[-1].id
    assert pages == [["t6", "t5", "t4"], ["t3", "t2", "t1"], ["t0"]]
    with pytest.raises(ValueError, match="limit"):
        await store.inbound(limit=0)


# -- the budgets' recent calls -------------------------------------------------------------


async def test_recorded_calls_and_holds_come_back(store: MessageStore) -> None:
    calls = [
        CallRecord("smsc", "balance", NOW + 2, NOW + 2.1),
        CallRecord("smsc", "balance", NOW, None),
        CallRecord("office", "send", NOW + 1, NOW + 1.5),
    ]
    holds = [HoldRecord("smsc", "balance", NOW + 30), HoldRecord("office", None, NOW + 5)]
    await store.record_calls(calls, holds, forget_before=NOW - 60)
    recent = await store.recent_calls(NOW - 60)
    assert recent.calls == (calls[1], calls[2], calls[0])  # by start
    assert sorted(recent.holds, key=lambda h: h.provider) == [holds[1], holds[0]]


async def test_a_call_recorded_again_takes_its_end_and_keeps_it(store: MessageStore) -> None:
    admitted = CallRecord("smsc", "balance", NOW)
    ended = CallRecord("smsc", "balance", NOW, NOW + 0.2)
    await store.record_calls([admitted], [], forget_before=NOW - 60)
    await store.record_calls([ended], [], forget_before=NOW - 60)
    await store.record_calls([admitted], [], forget_before=NOW - 60)
    assert (await store.recent_calls(NOW - 60)).calls == (ended,)


async def test_of_two_holds_the_later_stands(store: MessageStore) -> None:
    later, sooner = HoldRecord("smsc", None, NOW + 30), HoldRecord("smsc", None, NOW + 5)
    await store.record_calls([], [later], forget_before=NOW)
    await store.record_calls([], [sooner], forget_before=NOW)
    assert (await store.recent_calls(NOW)).holds == (later,)


async def test_old_calls_and_holds_are_forgotten_and_not_loaded(store: MessageStore) -> None:
    old = CallRecord("smsc", "balance", NOW - 100, NOW - 99)
    in_flight_long_ago = CallRecord("smsc", "balance", NOW - 98)
    recent = CallRecord("smsc", "balance", NOW - 70, NOW - 10)
    over = HoldRecord("smsc", "balance", NOW - 61)
    await store.record_calls([old, in_flight_long_ago, recent], [over], forget_before=NOW - 200)
    # Loading reads the window asked for; recording forgets what is older than its own.
    assert (await store.recent_calls(NOW - 60)).calls == (recent,)
    await store.record_calls([], [], forget_before=NOW - 60)
    assert await store.recent_calls(NOW - 200) == RecentCalls((recent,), ())
    await store.record_calls([CallRecord("b", "send", NOW, NOW)], [], forget_before=NOW)
    assert await store.recent_calls(NOW - 200) == RecentCalls((CallRecord("b", "send", NOW, NOW),))


# -- the memory store's bound -------------------------------------------------------------


async def finished(store: MessageStore, id: str, reference: str | None = None) -> None:
    """Journal *id* with one recipient accepted by provider ``a`` as ``<id>-pid``, done."""
    await add(store, 1, id=id, reference=reference)
    attempt = accepted("a", f"{id}-pid")
    await store.attempt_ended(id, f"{id}-0", attempt)
    await store.finish(
        SendResult(
            id,
            reference,
            (
                RecipientResult(
                    NUMBERS[0], f"{id}-0", RecipientStatus.ACCEPTED, "a", f"{id}-pid", (attempt,)
                ),
            ),
            Encoding.GSM7,
            1,
        )
    )


async def test_memory_store_forgets_the_longest_finished_beyond_its_bound() -> None:
    store = MemoryStore(max_messages=3)
    for i in range(5):
        await finished(store, f"m{i}", reference=f"r{i}")
    assert [await store.get(f"m{i}") is not None for i in range(5)] == [
        False,
        False,
        True,
        True,
        True,
    ]
    # Their indexes went with them: the reference is new again, the provider id unknown.
    assert await store.apply_report(report(provider_message_id="m0-pid"), NOW) is None
    matched = await store.apply_report(report(provider_message_id="m4-pid"), NOW)
    assert matched == ReportMatch("m4", "m4-0", applied=True)
    message, recipients = outgoing(1, id="m9", reference="r0")
    assert (await store.add(message, recipients, Encoding.GSM7, 1, NOW))[1] is True
    # That fourth message pushed out m2, the longest finished left.
    assert await store.get("m2") is None
    assert store._references.keys() == {"r3", "r4", "r0"}
    assert sorted(store._provider_ids) == [("a", "m3-pid"), ("a", "m4-pid")]


async def test_memory_store_never_forgets_an_unfinished_message() -> None:
    store = MemoryStore(max_messages=2)
    for i in range(3):
        await add(store, 1, id=f"u{i}")
    assert [r.id for r in await store.unfinished()] == ["u0", "u1", "u2"]
    await finished(store, "f0")
    # Four held, two allowed: only the finished one can go.
    assert await store.get("f0") is None
    assert [r.id for r in await store.unfinished()] == ["u0", "u1", "u2"]
    await store.finish(SendResult("u1", None, (), Encoding.GSM7, 1))
    assert await store.get("u1") is None
    assert [r.id for r in await store.unfinished()] == ["u0", "u2"]


async def test_memory_store_bounds_inbound_too() -> None:
    store = MemoryStore(max_inbound=2)
    for i in range(4):
        await store.add_inbound(incoming(f"t{i}", provider_message_id=f"in-{i}"), NOW)
    assert [r.message.text for r in await store.inbound()] == ["t3", "t2"]
    assert store._inbound_ids.keys() == {("a", "in-2"), ("a", "in-3")}


def test_memory_store_refuses_a_bound_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        MemoryStore(max_messages=0)
