"""The MessageStore contract for routing that learns, run against every store: delivery
statistics, learnt weights and their freeze, and the redelivery claim."""

from __future__ import annotations

import pytest

from router.model import (
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
from router.store import (
    DeliveryFigures,
    DeliverySample,
    MessageStore,
    QualityState,
    QualityWeight,
)

NOW = 1_700_000_000.0
ZA = "+27821234567"


def sample(ref: str, provider: str = "a", country: str = "ZA", at: float = NOW) -> DeliverySample:
    return DeliverySample(provider, country, ref, at)


async def test_figures_count_delivered_failed_missing_and_pending(store: MessageStore) -> None:
    await store.deliveries.record_sends(
        [sample(f"m{i}-0", at=NOW + i) for i in range(6)] + [sample("x-0", "b", "AU")]
    )
    await store.deliveries.record_final("a", "m0-0", DeliveryStatus.DELIVERED, NOW + 10)
    await store.deliveries.record_final("a", "m1-0", DeliveryStatus.DELIVERED, NOW + 21)
    await store.deliveries.record_final("a", "m2-0", DeliveryStatus.EXPIRED, NOW + 32)
    # m3 has no report and is older than the bound: missing; m4 and m5 are pending.
    found = await store.deliveries.delivery_figures(NOW, NOW + 4)
    assert found == [
        DeliveryFigures("a", "ZA", 6, 2, 1, 1, 2, 20.0),
        DeliveryFigures("b", "AU", 1, 0, 0, 1, 0, None),
    ]
    assert found[0].outcomes == 4
    assert found[0].delivered_share == 0.5


async def test_a_send_and_its_first_final_report_count_once(store: MessageStore) -> None:
    await store.deliveries.record_sends([sample("m1-0")])
    await store.deliveries.record_sends([sample("m1-0", at=NOW + 50)])  # counted already
    await store.deliveries.record_final("a", "m1-0", DeliveryStatus.FAILED, NOW + 5)
    await store.deliveries.record_final(
        "a", "m1-0", DeliveryStatus.DELIVERED, NOW + 9
    )  # not the first
    await store.deliveries.record_final(
        "b", "m1-0", DeliveryStatus.DELIVERED, NOW + 9
    )  # not b's send
    assert await store.deliveries.delivery_figures(NOW, NOW) == [
        DeliveryFigures("a", "ZA", 1, 0, 1, 0, 0, 5.0)
    ]


async def test_a_report_before_its_send_is_counted_waits_for_it(store: MessageStore) -> None:
    await store.deliveries.record_final("a", "m1-0", DeliveryStatus.DELIVERED, NOW + 2)
    assert await store.deliveries.delivery_figures(NOW - 100, NOW) == []
    await store.deliveries.record_sends([sample("m1-0", at=NOW + 1)])
    assert await store.deliveries.delivery_figures(NOW, NOW) == [
        DeliveryFigures("a", "ZA", 1, 1, 0, 0, 0, 1.0)
    ]


async def test_the_window_and_forgetting(store: MessageStore) -> None:
    await store.deliveries.record_sends([sample("old-0", at=NOW), sample("new-0", at=NOW + 100)])
    [figures] = await store.deliveries.delivery_figures(NOW + 50, NOW + 50)
    assert figures.sent == 1
    await store.deliveries.forget_deliveries(NOW + 50)
    [figures] = await store.deliveries.delivery_figures(NOW - 1000, NOW - 1000)
    assert (figures.sent, figures.pending) == (1, 1)


async def test_learnt_weights_and_the_freeze_are_kept(store: MessageStore) -> None:
    assert await store.deliveries.quality_state() == QualityState()
    state = QualityState((QualityWeight("a", "ZA", 0.4), QualityWeight("b", "AU", 0.9)), NOW, True)
    await store.deliveries.save_quality(state)
    assert await store.deliveries.quality_state() == state
    await store.deliveries.save_quality(QualityState((), NOW + 60, False))
    assert await store.deliveries.quality_state() == QualityState((), NOW + 60, False)


async def finished(store: MessageStore) -> None:
    message = Message(to=ZA, text="Hello", id="m1")
    await store.add(message, [Recipient(ZA, "ZA", 27, "m1-0")], Encoding.GSM7, 1, NOW)
    attempt = Attempt("a", Outcome.ACCEPTED, provider_message_id="p1", at=NOW + 1)
    result = RecipientResult(ZA, "m1-0", RecipientStatus.ACCEPTED, "a", "p1", (attempt,))
    await store.finish(SendResult("m1", None, (result,), Encoding.GSM7, 1))


def failed_report(provider: str = "a", pmid: str = "p1") -> DeliveryReport:
    return DeliveryReport(provider, DeliveryStatus.FAILED, "Failed", provider_message_id=pmid)


async def test_a_redelivery_is_claimed_once_and_the_failed_provider_then_says_nothing(
    store: MessageStore,
) -> None:
    await finished(store)
    match = await store.apply_report(failed_report(), NOW + 5)
    assert match is not None
    assert match.status is DeliveryStatus.FAILED
    assert not await store.deliveries.claim_redelivery(
        "m1", "m1-0", "b", "not b's"
    )  # sent through a
    assert await store.deliveries.claim_redelivery("m1", "m1-0", "a", "failed report from a")
    assert not await store.deliveries.claim_redelivery("m1", "m1-0", "a", "again")  # never twice
    record = await store.get("m1")
    assert record is not None
    [recipient] = record.recipients
    assert (recipient.redelivered_from, recipient.redelivery_reason) == (
        "a",
        "failed report from a",
    )
    assert recipient.delivery is None  # cleared for the new send's reports
    # The new send goes through b; a's repeated report is no longer about this recipient.
    again = Attempt("b", Outcome.ACCEPTED, provider_message_id="q1", at=NOW + 6)
    first = recipient.attempts[0]
    result = RecipientResult(ZA, "m1-0", RecipientStatus.ACCEPTED, "b", "q1", (first, again))
    await store.finish(SendResult("m1", None, (result,), Encoding.GSM7, 1))
    match = await store.apply_report(failed_report(), NOW + 7)
    assert match is not None
    assert not match.applied
    delivered = DeliveryReport("b", DeliveryStatus.DELIVERED, "Delivered", provider_message_id="q1")
    match = await store.apply_report(delivered, NOW + 8)
    assert match is not None
    assert match.applied
    record = await store.get("m1")
    assert record is not None
    [recipient] = record.recipients
    assert (recipient.provider, recipient.delivery) == ("b", DeliveryStatus.DELIVERED)
    assert [a.provider for a in recipient.attempts] == ["a", "b"]
    assert recipient.redelivered_from == "a"


async def test_a_redelivery_claim_for_no_such_message_is_refused(store: MessageStore) -> None:
    with pytest.raises(KeyError):
        await store.deliveries.claim_redelivery("nope", "nope-0", "a", "why")
