"""The operators' part of the MessageStore contract, run against every store."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.store import MemoryStore, MessageStore, SQLiteStore
from router.store.admin import AdminAction, AdminKind, IngressNote, Suspension

NOW = 1_700_000_000.0


def act(provider: str, kind: AdminKind, reason: str = "", at: float = NOW) -> AdminAction:
    return AdminAction(provider, kind, reason, at)


async def test_a_suspension_is_in_force_until_resumed(store: MessageStore) -> None:
    await store.record_admin(act("office", AdminKind.SUSPEND, "invoice unpaid"))
    assert await store.suspensions() == {"office": Suspension("office", "invoice unpaid", NOW)}

    await store.record_admin(act("office", AdminKind.RESUME, at=NOW + 5))

    assert await store.suspensions() == {}


async def test_a_second_suspend_replaces_the_reason_and_keeps_since(
    store: MessageStore,
) -> None:
    await store.record_admin(act("office", AdminKind.SUSPEND, "first", at=NOW))
    await store.record_admin(act("office", AdminKind.SUSPEND, "second", at=NOW + 60))

    assert await store.suspensions() == {"office": Suspension("office", "second", NOW)}


async def test_a_reset_changes_no_suspension(store: MessageStore) -> None:
    await store.record_admin(act("office", AdminKind.SUSPEND, "maintenance"))
    await store.record_admin(act("office", AdminKind.RESET, at=NOW + 1))
    await store.record_admin(act("smsc", AdminKind.RESET, at=NOW + 2))

    assert list(await store.suspensions()) == ["office"]


async def test_actions_are_listed_newest_first_by_provider_and_limit(
    store: MessageStore,
) -> None:
    actions = [
        act("office", AdminKind.SUSPEND, "a", NOW),
        act("smsc", AdminKind.RESET, "b", NOW + 1),
        act("office", AdminKind.RESUME, "c", NOW + 2),
    ]
    for action in actions:
        await store.record_admin(action)

    assert await store.admin_actions() == actions[::-1]
    assert await store.admin_actions(provider="office") == [actions[2], actions[0]]
    assert await store.admin_actions(limit=1) == [actions[2]]
    assert await store.admin_actions(provider="nobody") == []
    with pytest.raises(ValueError, match="limit"):
        await store.admin_actions(limit=0)


async def test_an_ingress_note_is_kept_and_replaced(store: MessageStore) -> None:
    note = IngressNote("m1", "kannel", {"dlr-url": "http://client/dlr?d=%d", "mask": "31"}, NOW)
    await store.add_ingress_note(note)

    assert await store.ingress_note("m1") == note
    assert await store.ingress_note("m2") is None

    again = IngressNote("m1", "jasmin", {"dlr-level": "2"}, NOW + 1)
    await store.add_ingress_note(again)
    assert await store.ingress_note("m1") == again


async def test_suspensions_and_notes_survive_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    first = SQLiteStore(path)
    await first.open()
    await first.record_admin(act("office", AdminKind.SUSPEND, "invoice unpaid"))
    await first.add_ingress_note(IngressNote("m1", "kannel", {"dlr-mask": "1"}, NOW))
    await first.close()

    second = SQLiteStore(path)
    await second.open()
    try:
        assert await second.suspensions() == {"office": Suspension("office", "invoice unpaid", NOW)}
        assert await second.admin_actions() == [act("office", AdminKind.SUSPEND, "invoice unpaid")]
        note = await second.ingress_note("m1")
        assert note is not None
        assert note.fields == {"dlr-mask": "1"}
    finally:
        await second.close()


async def test_the_memory_store_forgets_the_oldest_notes_beyond_its_bound() -> None:
    store = MemoryStore(max_messages=2)
    for n in range(3):
        await store.add_ingress_note(IngressNote(f"m{n}", "kannel", {}, NOW + n))

    assert await store.ingress_note("m0") is None
    assert await store.ingress_note("m2") is not None
