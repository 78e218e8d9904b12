"""The journal's contract: an inbound text pushed again is journalled once, id or not.

Generated pushes, with and without a provider id, the provider's time or none, repeated
after generated gaps: each store journals what a simple model of the rule says.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from router.model import InboundMessage
from router.store import MemoryStore, MessageStore, SQLiteStore
from router.store.base import INBOUND_REPEAT_WINDOW, inbound_key

NOW = 1_700_000_000.0

push = st.builds(
    InboundMessage,
    provider=st.sampled_from(["central", "broadcast"]),
    sender=st.sampled_from(["+61412345678", "+61412345679"]),
    recipient=st.just("61400000000"),
    text=st.sampled_from(["YES", "yes", "STOP"]),
    provider_message_id=st.sampled_from([None, None, "p-1"]),
    at=st.sampled_from([None, NOW - 5.0]),
    in_reply_to=st.sampled_from([None, "m1"]),
)
gap = st.sampled_from([0.0, 1.0, INBOUND_REPEAT_WINDOW / 2, INBOUND_REPEAT_WINDOW + 1])


def model(pushes: list[tuple[InboundMessage, float]]) -> int:
    """How many of *pushes* the rule journals: new keys, or an id-less one past the window."""
    journalled: dict[tuple[object, ...], float] = {}
    count, now = 0, NOW
    for message, wait in pushes:
        now += wait
        key = inbound_key(message)
        last = journalled.get(key)
        fresh = last is None or (
            message.provider_message_id is None and now - last > INBOUND_REPEAT_WINDOW
        )
        if fresh:
            journalled[key] = now
            count += 1
    return count


async def _journal(store: MessageStore, pushes: list[tuple[InboundMessage, float]]) -> int:
    await store.open()
    try:
        now = NOW
        for message, wait in pushes:
            now += wait
            await store.add_inbound(message, now)
        page = await store.inbound(limit=1000)
        return len(page)
    finally:
        await store.close()


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(push, gap), min_size=1, max_size=12))
def test_an_inbound_pushed_again_is_journalled_once_within_the_window(
    pushes: list[tuple[InboundMessage, float]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = SQLiteStore(Path(tmp) / "journal.db")
        counts = [asyncio.run(_journal(store, pushes)) for store in (MemoryStore(), sqlite)]
    assert counts == [model(pushes)] * 2
