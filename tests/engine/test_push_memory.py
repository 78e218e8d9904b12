"""Memory held by pushes: the repeat and early-report caches stay bounded.

Generated pushes for unknown ids and references, with fields of generated sizes, reports and
inbound texts: after each, what both caches hold stays within their count and size, and
nothing is held past their age.
"""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

import router.testing
from router.engine import Router
from router.model import CallbackKind, CallbackRequest, DeliveryStatus
from router.state import RecentPushes
from router.state.repeats import held_size
from router.testing import FakeClock

MAX_BYTES = 64 * 1024
MAX_COUNT = 20

field = st.integers(0, 40_000).map(lambda n: "x" * n)
push = st.one_of(
    st.builds(
        lambda ref, status: (CallbackKind.DLR, {"ref": ref, "status": status}),
        st.one_of(field, st.text(min_size=1, max_size=30)),
        st.sampled_from([s.value for s in DeliveryStatus]),
    ),
    st.builds(
        lambda text, sender: (CallbackKind.INBOUND, {"from": sender, "to": "61400", "text": text}),
        field,
        st.sampled_from(["+61412345678", "+61412345679"]),
    ),
)


def _check_bounds(r: Router) -> None:
    early, pushes = r.callbacks.early, r.callbacks.pushes
    assert isinstance(pushes, RecentPushes)
    assert early.held_bytes <= MAX_BYTES
    assert len(early._held) <= MAX_COUNT
    held = [report for reports in early._held.values() for _, report in reports]
    assert early.held_bytes == sum(held_size(report) for report in held)
    assert pushes.held_bytes <= MAX_BYTES
    assert len(pushes) <= MAX_COUNT
    assert pushes.held_bytes == sum(held_size(key) for key in pushes._seen)


async def _push_all(pushes: list[tuple[CallbackKind, dict[str, str]]], gaps: list[float]) -> None:
    clock = FakeClock()
    r = Router(
        {"router": {"policy": ["priority"]}, "providers": {"a": {"plugin": "fake"}}},
        plugins=[router.testing],
        clock=clock,
    )
    await r.start(track_balances=False)
    early, recent = r.callbacks.early, r.callbacks.pushes
    assert isinstance(recent, RecentPushes)
    early.max_bytes = recent.max_bytes = MAX_BYTES
    early.max_held = recent.size = MAX_COUNT
    try:
        for (kind, query), gap in zip(pushes, gaps, strict=False):
            clock.advance(gap)
            await r.handle_callback("a", kind, CallbackRequest("GET", query=query))
            _check_bounds(r)
        clock.advance(max(early.max_age, recent.max_age) + 1)
        await r.handle_callback("a", CallbackKind.DLR, CallbackRequest("GET", query={"ref": "z"}))
        assert len(early) == 1  # only the last one: the older ones aged out
        assert len(recent) == 1
    finally:
        await r.aclose()


@settings(max_examples=40, deadline=None)
@given(
    st.lists(push, min_size=1, max_size=60),
    st.lists(st.sampled_from([0.0, 1.0, 30.0]), min_size=60, max_size=60),
)
def test_the_push_caches_stay_bounded_in_count_size_and_age(
    pushes: list[tuple[CallbackKind, dict[str, str]]], gaps: list[float]
) -> None:
    asyncio.run(_push_all(pushes, gaps))
