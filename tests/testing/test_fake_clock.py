"""The fake clock: jumping sleeps by default, test-driven sleeps on request."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import router.testing
from router import Router
from router.testing import FakeClock


async def test_autojump_sleeps_move_time_at_once() -> None:
    clock = FakeClock(100.0)
    await clock.sleep(30)
    assert clock.time() == 130.0
    assert clock.slept == [30]


async def test_without_autojump_a_sleep_waits_for_the_test() -> None:
    clock = FakeClock(100.0, autojump=False)
    sleeper = asyncio.ensure_future(clock.sleep(30))
    await asyncio.sleep(0)
    clock.advance(10)
    await asyncio.sleep(0)
    assert not sleeper.done()
    clock.advance(20)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert sleeper.done()
    assert clock.time() == 130.0


async def test_a_tracked_balance_polls_once_per_interval_of_test_time() -> None:
    clock = FakeClock(autojump=False)
    config: dict[str, Any] = {
        "providers": {"a": {"plugin": "fake", "balance": 50, "balance_interval": "1m"}}
    }
    async with Router(config, plugins=[router.testing], clock=clock) as sms:
        fake = sms.provider("a")
        assert isinstance(fake, router.testing.FakeProvider)
        for _ in range(30):
            await asyncio.sleep(0)
        assert fake.balance_calls == 1
        assert sms.providers["a"].balance is not None
        assert sms.providers["a"].balance.amount == Decimal(50)
        clock.advance(70)  # past the interval and its jitter
        for _ in range(30):
            await asyncio.sleep(0)
        assert fake.balance_calls == 2
