"""An inbound text pushed again without a provider id: journalled, counted and announced once.

Generated repeats of texts with no provider id after generated gaps, through a Router's
callbacks: the journal, the metric and the event hook agree on how many texts came.
"""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

import router.testing
from router import hookimpl
from router.engine import Router
from router.model import CallbackKind, CallbackRequest, InboundMessage
from router.store.base import INBOUND_REPEAT_WINDOW
from router.testing import FakeClock

text = st.fixed_dictionaries(
    {
        "from": st.sampled_from(["+61412345678", "+61412345679"]),
        "to": st.just("61400000000"),
        "text": st.sampled_from(["YES", "STOP"]),
    }
)
gap = st.sampled_from([0.0, 5.0, INBOUND_REPEAT_WINDOW + 1])


class Announced:
    """Records every inbound text announced to the plugins."""

    def __init__(self) -> None:
        self.texts: list[InboundMessage] = []

    @hookimpl
    def smsrouter_inbound_message(self, message: InboundMessage) -> None:
        """Record *message*."""
        self.texts.append(message)


async def _push(pushes: list[tuple[dict[str, str], float]]) -> None:
    clock, announced = FakeClock(), Announced()
    r = Router(
        {"router": {"policy": ["priority"]}, "providers": {"a": {"plugin": "fake"}}},
        plugins=[router.testing, announced],
        clock=clock,
    )
    await r.start(track_balances=False)
    try:
        for query, wait in pushes:
            clock.advance(wait)
            await r.handle_callback("a", CallbackKind.INBOUND, CallbackRequest("GET", query=query))
        journalled = await r.store.inbound(limit=1000)
        counted = r.metrics.inbound.labels("a")._value.get()
        assert len(journalled) == len(announced.texts) == counted
    finally:
        await r.aclose()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(text, gap), min_size=1, max_size=10))
def test_journal_metric_and_events_count_an_inbound_once(
    pushes: list[tuple[dict[str, str], float]],
) -> None:
    asyncio.run(_push(pushes))
