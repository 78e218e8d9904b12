"""Two Routers, as two instances of a fleet, sending to one SMS Office account at once.

Each Router has a RedisState of its own on one prefix, so only Redis is shared between
them. SMS Office allows one connection at a time; its emulator counts a request that
arrives while another is being answered as a violation. The adapter's own lock serialises
the calls of one Router only, so it is taken out: one connection across both is the
shared budget's doing alone.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from plugins.smsoffice.emulator import SMSOfficeEmulator
from router import Message
from router.clock import SystemClock
from router.engine import Router
from router.errors import RouterError
from router.model import RecipientStatus
from router.state.shared import RedisState
from router.state.shared.budget import SharedBudget
from router.testing import Fault

ZA = "+27821234567"
WORKERS, SENDS_EACH = 6, 5


class NoLock:
    """Stands in for the SMS Office adapter's own lock, so only the budget serialises."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc_info: object) -> None:
        return None


@pytest.fixture
async def office() -> AsyncIterator[SMSOfficeEmulator]:
    emulator = SMSOfficeEmulator()
    await emulator.start()
    # A few milliseconds per answer, so that calls let through together do overlap.
    emulator.inject(Fault(latency=0.003))
    yield emulator
    await emulator.stop()


@pytest.fixture
async def routers(
    office: SMSOfficeEmulator, redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[list[Router]]:
    config: dict[str, Any] = {
        "router": {"policy": ["priority"]},
        "providers": {
            "office": {
                "plugin": "smsoffice",
                "username": "demo",
                "password": "demo-password",
                "sender": "Acme",
                "base_url": office.api_url,
            },
        },
    }
    states = [RedisState(redis_url, prefix=redis_prefix, clock=SystemClock()) for _ in "ab"]
    routers = []
    for state in states:
        await state.open()
        router = Router(config, state=state)
        await router.start(track_balances=False)
        monkeypatch.setattr(router.provider("office"), "_one_connection", NoLock())
        routers.append(router)
    yield routers
    for router in routers:
        await router.aclose()
    for state in states:
        await state.close()


async def test_two_routers_never_open_two_connections_to_sms_office(
    routers: list[Router], office: SMSOfficeEmulator
) -> None:
    assert all(isinstance(r.providers["office"].budget, SharedBudget) for r in routers)
    done: Counter[str] = Counter()

    async def worker(router: Router, number: int) -> None:
        for index in range(SENDS_EACH):
            message = Message(to=ZA, text=f"fleet {number} {index}", providers=["office"])
            try:
                result = await router.send(message)
                done[result[ZA].status.value] += 1
            except RouterError as exc:  # counted, so that the assertion shows every failure
                done[type(exc).__name__] += 1

    async with asyncio.timeout(60):
        await asyncio.gather(
            *(worker(router, n) for n, router in enumerate(routers * WORKERS)),
            asyncio.gather(*(router.balance("office") for router in routers * 2)),
        )

    total = len(routers) * WORKERS * SENDS_EACH
    assert done == {RecipientStatus.ACCEPTED.value: total}
    assert office.counters.requests == {"send": total, "balance": 4}
    assert office.counters.violations == {}
    assert office.counters.max_in_flight == 1
    # Both instances sent, and both waited for the other at some point.
    waits = [r.providers["office"].budget.waits for r in routers]
    assert all(w > 0 for w in waits)
