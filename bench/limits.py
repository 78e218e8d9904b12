"""Limits under load: the four emulators count every rule a request breaks; none may be.

The example config (``config.example.toml``) is pointed at the four providers' emulators,
as the demo does. Messages go out from 64 concurrent senders, a quarter to each provider
(each to numbers of its own and with a text of its own, so SMSC's duplicate rule is not
hit by the load itself); some carry several recipients. Meanwhile a burst of balance
reads hits SMSC, whose config allows 6 a minute. The emulators enforce the providers'
rules (SMS Office: one connection at a time; SMSC: under 15 requests at once and 10
balance calls a minute; SMS Central and SMS Broadcast: batch and field limits) and count
each breach in ``counters.violations``. The budget must keep every count at zero, holding
calls back or refusing them locally instead.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from decimal import Decimal
from typing import Any

from bench.common import Bar, Result, drive
from router import Message, Router
from router.cli.demo import ENV, demo_config, read_example
from router.errors import RouterError
from router.plugins import PluginHost
from router.testing import Account, Emulator, Fault

CONCURRENCY = 64
BALANCE_BURST = 20
QUICK = 40
"""Messages in the quick mode: every provider gets some, in batches too."""
LATENCY = 0.005
"""Seconds each emulator takes to answer."""

# Each configured provider (the example config's names), its plugin, and its numbers.
TARGETS: dict[str, tuple[str, str]] = {
    "broadcast": ("smsbroadcast", "+61412{:06d}"),
    "central": ("smscentral", "+61413{:06d}"),
    "office": ("smsoffice", "+2782{:07d}"),
    "smsc": ("smsc", "+7912{:07d}"),
}


async def run(quick: bool = False) -> Result:
    """Load the four emulators through one Router and read their violation counts."""
    started = time.perf_counter()
    count = QUICK if quick else 4_000
    emulators: dict[str, Emulator] = {}
    options: dict[str, dict[str, str | None]] = {}
    registered = PluginHost.load(autoload=False).emulators
    try:
        for plugin in {plugin for plugin, _ in TARGETS.values()}:
            account = Account("demo", "demo-password", Decimal(10**9))
            cls = registered.get(plugin)
            assert cls is not None, f"no emulator registered for {plugin}"
            emulator = cls(accounts=[account])
            # In this process an answer without a wait would end before the next request
            # starts: a little latency lets calls overlap as they do on a network.
            emulator.inject(Fault(latency=LATENCY))
            await emulator.start("127.0.0.1", 0)
            emulators[plugin] = emulator
            options[plugin] = emulator.provider_options()
        config = demo_config(read_example(), options, "memory:")
        async with Router(config, env=ENV, autoload=False) as router:
            names = list(TARGETS)
            serial = itertools.count()
            outcomes: dict[str, int] = {"accepted": 0, "not accepted": 0}

            async def job(ticket: int) -> bool:
                name = names[ticket % len(names)]
                pattern = TARGETS[name][1]
                # Every tenth message has three recipients: batches, where a provider has them.
                width = 3 if ticket % 10 == 0 else 1
                to = [pattern.format(next(serial)) for _ in range(width)]
                message = Message(to=to, text=f"Load test {ticket}", providers=[name])
                try:
                    result = await router.send(message)
                except RouterError:
                    outcomes["not accepted"] += 1
                    return False
                outcomes["accepted" if result.ok else "not accepted"] += 1
                return result.ok

            async def balances() -> tuple[int, int]:
                reads = await asyncio.gather(
                    *(router.balance("smsc") for _ in range(BALANCE_BURST)),
                    return_exceptions=True,
                )
                refused = sum(1 for r in reads if isinstance(r, BaseException))
                return BALANCE_BURST - refused, refused

            load, (read, refused) = await asyncio.gather(drive(job, CONCURRENCY, count), balances())
        rows = []
        total = 0
        limits: dict[str, Any] = {
            "smsbroadcast": "none published",
            "smscentral": "batch and field limits",
            "smsoffice": "1 connection",
            "smsc": "< 15 at once, 10 balance/min",
        }
        for name, (plugin, _) in TARGETS.items():
            counters = emulators[plugin].counters
            broken = sum(counters.violations.values())
            total += broken
            rows.append(
                (
                    name,
                    plugin,
                    counters.requests.get("send", 0),
                    counters.requests.get("balance", 0),
                    counters.max_in_flight,
                    limits[plugin],
                    broken,
                )
            )
    finally:
        for emulator in emulators.values():
            await emulator.stop()
    return Result(
        name="limits",
        title="Limits under load: the four emulators, 64 concurrent senders",
        columns=(
            "provider",
            "plugin",
            "send requests",
            "balance requests",
            "most at once",
            "provider's limit",
            "violations",
        ),
        rows=tuple(rows),
        bars=(Bar("limit violations counted by the emulators", 0, total, False),),
        notes=(
            f"{load.done + load.failed:,} messages in {load.elapsed:.1f} s: "
            f"{outcomes['accepted']:,} accepted, {outcomes['not accepted']:,} not; "
            f"each emulator answers after {1000 * LATENCY:g} ms",
            f"a burst of {BALANCE_BURST} SMSC balance reads: {read} made, {refused} refused "
            "by the budget before reaching SMSC (config: 6 a minute)",
        ),
        figures={
            "violations": float(total),
            "messages": float(load.done + load.failed),
            "accepted": float(outcomes["accepted"]),
            "balance_reads": float(read),
            "balance_refused": float(refused),
        },
        seconds=time.perf_counter() - started,
    )
