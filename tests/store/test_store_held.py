"""The MessageStore contract for held messages, cancels, finding messages and the opt-out
list, run against every store; held messages outlive a reopened SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.model import (
    Attempt,
    Encoding,
    Message,
    Outcome,
    Recipient,
    RecipientResult,
    RecipientStatus,
    SendResult,
)
from router.store import MessageState, MessageStore, OptOut, SQLiteStore

NOW = 1_700_000_000.0
NUMBERS = ("+61412345670", "+61412345671")


async def add(
    store: MessageStore,
    id: str,
    *,
    at: float = NOW,
    reference: str | None = None,
    **fields: object,
) -> None:
    message = Message(to=NUMBERS, text="Hi", id=id, reference=reference, **fields)  # type: ignore[arg-type]
    recipients = [Recipient(n, "AU", 61, f"{id}-{i}") for i, n in enumerate(NUMBERS)]
    _, created = await store.add(message, recipients, Encoding.GSM7, 1, at)
    assert created


def result(id: str, *statuses: tuple[RecipientStatus, float | None, str]) -> SendResult:
    recipients = tuple(
        RecipientResult(
            recipient=NUMBERS[i],
            ref=f"{id}-{i}",
            status=status,
            provider="a" if status is RecipientStatus.ACCEPTED else None,
            provider_message_id=None,
            attempts=(Attempt("a", Outcome.ACCEPTED, at=NOW),)
            if status is RecipientStatus.ACCEPTED
            else (),
            reason=reason,
            scheduled_at=due,
        )
        for i, (status, due, reason) in enumerate(statuses)
    )
    return SendResult(id, None, recipients, Encoding.GSM7, 1)


SCHEDULED = RecipientStatus.SCHEDULED


async def test_a_message_with_a_scheduled_recipient_is_held_until_its_soonest_time(
    store: MessageStore,
) -> None:
    await add(store, "m1", send_at=NOW + 500, expires_at=NOW + 900, urgent=True,
              callback_url="https://example.com/cb")  # fmt: skip
    await store.finish(result("m1", (SCHEDULED, NOW + 600, ""), (SCHEDULED, NOW + 500, "")))
    record = await store.get("m1")
    assert record is not None
    assert record.state is MessageState.HELD
    assert [r.due_at for r in record.recipients] == [NOW + 600, NOW + 500]
    message = record.message()
    assert (message.send_at, message.expires_at, message.urgent, message.callback_url) == (
        NOW + 500, NOW + 900, True, "https://example.com/cb")  # fmt: skip
    assert record.result().recipients[0].scheduled_at == NOW + 600
    assert await store.next_held() == NOW + 500
    assert await store.held_due(NOW + 499) == []
    assert await store.held_due(NOW + 500) == ["m1"]
    assert [r.id for r in await store.unfinished()] == ["m1"]


async def test_a_held_message_is_due_at_its_expiry_when_that_comes_first(
    store: MessageStore,
) -> None:
    await add(store, "m1", expires_at=NOW + 100)
    await store.finish(result("m1", (SCHEDULED, NOW + 600, ""), (SCHEDULED, NOW + 600, "")))
    assert await store.next_held() == NOW + 100


async def test_held_messages_come_soonest_first_and_a_finished_one_leaves(
    store: MessageStore,
) -> None:
    await add(store, "late")
    await add(store, "soon")
    await store.finish(result("late", (SCHEDULED, NOW + 90, ""), (SCHEDULED, NOW + 90, "")))
    await store.finish(result("soon", (SCHEDULED, NOW + 10, ""), (SCHEDULED, NOW + 10, "")))
    assert await store.held_due(NOW + 100) == ["soon", "late"]
    assert await store.held_due(NOW + 100, limit=1) == ["soon"]
    accepted = RecipientStatus.ACCEPTED
    await store.finish(result("soon", (accepted, None, ""), (accepted, None, "")))
    record = await store.get("soon")
    assert record is not None
    assert record.state is MessageState.DONE
    assert await store.next_held() == NOW + 90
    assert await store.held_due(NOW + 100) == ["late"]


async def test_why_a_recipient_was_not_sent_is_kept(store: MessageStore) -> None:
    await add(store, "m1")
    rejected, accepted = RecipientStatus.REJECTED, RecipientStatus.ACCEPTED
    await store.finish(result("m1", (rejected, None, "opted out"), (accepted, None, "")))
    record = await store.get("m1")
    assert record is not None
    assert record.state is MessageState.DONE
    assert [r.reason for r in record.recipients] == ["opted out", ""]
    assert record.result().recipients[0].reason == "opted out"
    assert await store.next_held() is None


async def test_a_cancel_ends_the_recipients_not_yet_sent(store: MessageStore) -> None:
    await add(store, "m1")
    accepted = RecipientStatus.ACCEPTED
    await store.finish(result("m1", (accepted, None, ""), (SCHEDULED, NOW + 60, "")))
    record = await store.cancel("m1", NOW + 1)
    assert record is not None
    assert record.state is MessageState.DONE
    assert [r.status for r in record.recipients] == [accepted, RecipientStatus.CANCELLED]
    assert record.recipients[1].reason == "cancelled"
    assert await store.next_held() is None
    assert await store.cancel("nope", NOW) is None


async def test_a_cancel_ends_a_queued_message_never_attempted(store: MessageStore) -> None:
    await add(store, "m1")
    await store.attempt_started("m1", "a", ["m1-0"], NOW)
    record = await store.cancel("m1", NOW + 1)
    assert record is not None
    # The one in flight may be at the provider already: it is not cancelled.
    assert [r.status for r in record.recipients] == [None, RecipientStatus.CANCELLED]
    assert record.state is not MessageState.DONE


async def test_messages_are_found_newest_first_by_reference_status_and_time(
    store: MessageStore,
) -> None:
    for index in range(5):
        await add(store, f"m{index}", at=NOW + index, reference=f"ref-{index}")
    accepted = RecipientStatus.ACCEPTED
    await store.finish(result("m1", (accepted, None, ""), (accepted, None, "")))
    await store.finish(result("m3", (SCHEDULED, NOW + 60, ""), (accepted, None, "")))
    assert [r.id for r in await store.find()] == ["m4", "m3", "m2", "m1", "m0"]
    assert [r.id for r in await store.find(reference="ref-2")] == ["m2"]
    assert await store.find(reference="none") == []
    assert [r.id for r in await store.find(status="done")] == ["m1"]
    assert [r.id for r in await store.find(status="held")] == ["m3"]
    assert [r.id for r in await store.find(status="accepted")] == ["m3", "m1"]
    assert [r.id for r in await store.find(status="queued")] == ["m4", "m2", "m0"]
    assert [r.id for r in await store.find(since=NOW + 3)] == ["m4", "m3"]
    first = await store.find(limit=2)
    assert [r.id for r in first] == ["m4", "m3"]
    last = first[-1]
    page = await store.find(limit=2, before=(last.created_at, last.id))
    assert [r.id for r in page] == ["m2", "m1"]
    with pytest.raises(ValueError, match="limit"):
        await store.find(limit=0)


async def test_messages_created_at_one_time_page_by_id(store: MessageStore) -> None:
    for name in ("a", "b", "c"):
        await add(store, name)
    first = await store.find(limit=2)
    assert [r.id for r in first] == ["c", "b"]
    rest = await store.find(before=(first[-1].created_at, first[-1].id))
    assert [r.id for r in rest] == ["a"]


async def test_the_opt_out_list_adds_once_and_removes(store: MessageStore) -> None:
    entry = OptOut("+61412345670", NOW, "broadcast", "STOP")
    assert await store.opt_out(entry)
    assert not await store.opt_out(OptOut("+61412345670", NOW + 5, None, "api"))
    assert await store.opt_out(OptOut("+61412345671", NOW + 1))
    assert await store.optouts() == [entry, OptOut("+61412345671", NOW + 1)]
    assert await store.optouts(number="+61412345670") == [entry]
    assert await store.opt_in("+61412345670")
    assert not await store.opt_in("+61412345670")
    assert await store.optouts(number="+61412345670") == []


async def test_held_messages_and_opt_outs_outlive_a_reopened_file(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    store = SQLiteStore(path)
    await store.open()
    await add(store, "m1", send_at=NOW + 60)
    await store.finish(result("m1", (SCHEDULED, NOW + 60, ""), (SCHEDULED, NOW + 60, "")))
    await store.opt_out(OptOut("+61412345671", NOW))
    await store.close()
    again = SQLiteStore(path)
    await again.open()
    try:
        assert await again.next_held() == NOW + 60
        assert await again.held_due(NOW + 60) == ["m1"]
        assert [o.number for o in await again.optouts()] == ["+61412345671"]
    finally:
        await again.close()
