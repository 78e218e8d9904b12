"""A bounded mixed load against the SMSC and SMS Office emulators over loopback.

Router and emulators share one fake clock, so SMSC's minute-long balance window is lived
through in a moment: a balance call held back by its rate sleeps on the fake clock, and
the emulator measures its own window on that same clock. The emulators' counters are the
provider's side of the story: SMSC counts an 11th balance call within 60 s as a violation,
SMS Office counts two requests at once.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from plugins.smsc.emulator import SMSCEmulator
from plugins.smsoffice.emulator import SMSOfficeEmulator
from router import Message
from router.engine import Router
from router.errors import ProviderUnavailableError, RouterError
from router.model import RecipientStatus
from router.provider import Operation, Rate
from router.testing import FakeClock, Fault


class NoLock:
    """Stands in for the SMS Office adapter's own lock, so only the Budget serialises."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc_info: object) -> None:
        return None


RU = "+79123456789"  # SMSC
ZA = "+27821234567"  # SMS Office
WORKERS = 20
SENDS_EACH, POLLS_EACH = 120, 30


@pytest.fixture
async def emulators(clock: FakeClock) -> AsyncIterator[tuple[SMSCEmulator, SMSOfficeEmulator]]:
    """Both emulators on loopback, on the test's fake clock, pushing nothing."""
    smsc, office = SMSCEmulator(clock=clock), SMSOfficeEmulator(clock=clock)
    await smsc.start()
    await office.start()
    yield smsc, office
    await smsc.stop()
    await office.stop()


@pytest.fixture
async def routed(
    emulators: tuple[SMSCEmulator, SMSOfficeEmulator],
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Router]:
    """A Router with an ``smsc`` and an ``office`` provider pointed at the emulators."""
    smsc, office = emulators
    config: dict[str, Any] = {
        "router": {"policy": ["priority"]},
        "providers": {
            "smsc": {
                "plugin": "smsc",
                "login": "demo",
                "psw": "demo-password",
                "base_url": smsc.api_url,
                # Waiting is not a provider limit: a long one lets calls sleep out SMSC's
                # windows on the fake clock instead of giving up.
                "limit_wait": "1d",
            },
            "office": {
                "plugin": "smsoffice",
                "username": "demo",
                "password": "demo-password",
                "sender": "Acme",
                "base_url": office.api_url,
                "limit_wait": "1d",
            },
        },
    }
    r = Router(config, clock=clock)
    await r.start(track_balances=False)  # the load polls; a fake clock would spin the loop
    # The adapter serialises its calls too; without its lock, one connection is the
    # Budget's doing alone.
    monkeypatch.setattr(r.provider("office"), "_one_connection", NoLock())
    # A few milliseconds per answer, so that calls let through together do overlap.
    smsc.inject(Fault(latency=0.003))
    office.inject(Fault(latency=0.003))
    yield r
    await r.aclose()


async def test_a_mixed_load_keeps_both_providers_limits(
    routed: Router, emulators: tuple[SMSCEmulator, SMSOfficeEmulator], clock: FakeClock
) -> None:
    smsc, office = emulators
    limits = routed.providers["smsc"].settings.limits
    assert (limits.concurrency, limits.rates[Operation.BALANCE]) == (5, Rate(10, 60))
    assert routed.providers["office"].settings.limits.concurrency == 1
    operations = [("send", "smsc", i) for i in range(SENDS_EACH)]
    operations += [("send", "office", i) for i in range(SENDS_EACH)]
    operations += [("balance", name, i) for name in ("smsc", "office") for i in range(POLLS_EACH)]
    random.Random(2024).shuffle(operations)
    queue: asyncio.Queue[tuple[str, str, int]] = asyncio.Queue()
    for operation in operations:
        queue.put_nowait(operation)
    done: Counter[tuple[str, str, str]] = Counter()
    start = clock.now

    async def worker() -> None:
        while not queue.empty():
            kind, name, index = queue.get_nowait()
            try:
                if kind == "balance":
                    await routed.balance(name)
                    done[(kind, name, "ok")] += 1
                    continue
                # A text of its own each time: SMSC refuses an identical send within a minute.
                to = RU if name == "smsc" else ZA
                message = Message(to=to, text=f"load {name} {index}", providers=[name])
                result = await routed.send(message)
                done[(kind, name, result[to].status.value)] += 1
            except RouterError as exc:  # counted, so that the assertion shows every failure
                done[(kind, name, type(exc).__name__)] += 1

    async with asyncio.timeout(60):
        await asyncio.gather(*(worker() for _ in range(WORKERS)))

    assert done == {
        ("send", "smsc", RecipientStatus.ACCEPTED.value): SENDS_EACH,
        ("send", "office", RecipientStatus.ACCEPTED.value): SENDS_EACH,
        ("balance", "smsc", "ok"): POLLS_EACH,
        ("balance", "office", "ok"): POLLS_EACH,
    }
    # What the providers saw.
    assert smsc.counters.requests == {"send": SENDS_EACH, "balance": POLLS_EACH}
    assert office.counters.requests == {"send": SENDS_EACH, "balance": POLLS_EACH}
    assert (len(smsc.counters.sent), len(office.counters.sent)) == (SENDS_EACH, SENDS_EACH)
    assert smsc.counters.violations == {}
    assert office.counters.violations == {}
    assert office.counters.max_in_flight == 1
    assert 1 < smsc.counters.max_in_flight <= 5
    # 30 balance calls at 10 a minute: the last ten began at least two windows in.
    assert clock.now - start >= 120
    assert routed.providers["smsc"].budget.waits >= POLLS_EACH - 10
    assert (
        routed.providers["smsc"].budget.timeouts,
        routed.providers["office"].budget.timeouts,
    ) == (
        0,
        0,
    )


async def test_without_the_budget_the_emulators_count_the_violations(
    routed: Router, emulators: tuple[SMSCEmulator, SMSOfficeEmulator]
) -> None:
    # The oracle works: the same adapters, called around their budgets, break both rules.
    smsc, office = emulators
    for _ in range(10):
        await routed.provider("smsc").balance()
    with pytest.raises(ProviderUnavailableError, match="error 9"):
        await routed.provider("smsc").balance()
    assert smsc.counters.violations == {"balance_rate": 1}
    await asyncio.gather(*(routed.provider("office").balance() for _ in range(2)))
    assert office.counters.max_in_flight == 2
    assert office.counters.violations == {"concurrent_connections": 1}
