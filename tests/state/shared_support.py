"""What the tests of the shared live state wait with and look through."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from router.state import Breaker
from router.state.shared.breakers import SharedBreaker


async def until(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Wait (polling in real time) until *condition* holds; fail after about *within* s."""
    for _ in range(int(within / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


def shared(breaker: Breaker) -> SharedBreaker:
    """*breaker* as the shared state made it."""
    assert isinstance(breaker, SharedBreaker)
    return breaker
