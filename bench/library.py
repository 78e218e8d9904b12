"""Library overhead: ``Router.send`` against a raw aiohttp client on the same sink.

The raw client is the limit: one ``aiohttp.ClientSession`` making the very POSTs the SMS
Broadcast adapter makes (the same form fields) and checking each answer says ``OK``. The
router arm sends a :class:`~router.Message` through ``Router.send``: validation, number
parsing, routing, the provider's budget and breaker, the adapter, the in-memory journal
and the metrics. Both run in this process against the sink in its own process, at
concurrency 1, 16 and 64, with the sink answering at once and after 20 ms. Rounds
alternate the two arms so drift on the machine hits both; the median round is reported.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from bench.common import (
    PASSWORD,
    TEXT,
    Bar,
    CpuMeter,
    Load,
    Result,
    drive,
    loop_name,
    median,
    number,
)
from bench.sink import SinkProcess
from router import Message, Router

CONCURRENCY = (1, 16, 64)
BARS = {(64, False): 0.7, (64, True): 0.9}
"""The least share of the raw client's rate the library must reach, by (concurrency, slow)."""


def router_config(url: str) -> dict[str, Any]:
    """One SMS Broadcast provider pointed at the sink; the journal in memory."""
    return {
        "router": {"default_region": "AU", "policy": ["priority"]},
        "store": {"url": "memory:"},
        "providers": {
            "sink": {
                "plugin": "smsbroadcast",
                "username": "bench",
                "password": PASSWORD,
                "base_url": url,
                "prices": {"61": 0.055, "614": 0.045},
            }
        },
    }


Arm = Callable[[str, int, int, float | None, int], Awaitable[Load]]


async def raw_arm(
    url: str, concurrency: int, count: int, duration: float | None, warm: int
) -> Load:
    """The raw client: the adapter's POST, one session, no router."""
    refs = itertools.count()
    async with aiohttp.ClientSession() as session:

        async def job(ticket: int) -> bool:
            form = {
                "username": "bench",
                "password": PASSWORD,
                "to": number(next(refs))[1:],
                "message": TEXT,
                "ref": f"{ticket:016x}",
                "maxsplit": "1",
            }
            async with session.post(url, data=form) as answer:
                text = await answer.text()
            return answer.status == 200 and text.startswith("OK:")

        await drive(job, concurrency, warm)
        return await drive(job, concurrency, count, duration)


async def router_arm(
    url: str, concurrency: int, count: int, duration: float | None, warm: int
) -> Load:
    """``Router.send`` through the SMS Broadcast adapter, memory journal, metrics on."""
    sent = itertools.count()
    async with Router(router_config(url), autoload=False) as router:

        async def job(ticket: int) -> bool:
            result = await router.send(Message(to=number(next(sent)), text=TEXT))
            return result.ok

        await drive(job, concurrency, warm)
        return await drive(job, concurrency, count, duration)


async def run(quick: bool = False) -> Result:
    """Both arms at each concurrency and sink speed."""
    started = time.perf_counter()
    rounds = 1 if quick else 3
    count = 10 if quick else 10**9
    duration = None if quick else 2.0
    warm = 2 if quick else 200
    rows = []
    bars = []
    figures: dict[str, float] = {}
    with SinkProcess() as sink:
        for slow in (False, True):
            for concurrency in CONCURRENCY:
                url = sink.url(slow)
                raws, routed_loads = [], []
                sink_cpu: dict[str, list[float]] = {"raw": [], "router": []}
                meter = CpuMeter({"sink": sink.pid})
                for _ in range(rounds):
                    meter.start()
                    raw = await raw_arm(url, concurrency, count, duration, warm)
                    meter.stop()
                    sink_cpu["raw"].append(meter.per_message(raw.done + warm)["sink"])
                    meter.start()
                    routed = await router_arm(url, concurrency, count, duration, warm)
                    meter.stop()
                    sink_cpu["router"].append(meter.per_message(routed.done + warm)["sink"])
                    if raw.failed or routed.failed:
                        raise RuntimeError(
                            f"failed sends: raw {raw.failed}, router {routed.failed}"
                        )
                    raws.append(raw)
                    routed_loads.append(routed)
                raw_rate = median([load.rate for load in raws])
                router_rate = median([load.rate for load in routed_loads])
                ratio = router_rate / raw_rate
                sink_name = "20 ms" if slow else "instant"
                rows.append(
                    (
                        sink_name,
                        concurrency,
                        round(raw_rate),
                        round(router_rate),
                        round(ratio, 3),
                        round(median([load.cpu_per_job for load in raws])),
                        round(median([load.cpu_per_job for load in routed_loads])),
                        round(median(sink_cpu["raw"])),
                        round(median(sink_cpu["router"])),
                    )
                )
                key = f"{'slow' if slow else 'instant'}_c{concurrency}"
                figures[f"{key}_raw"] = raw_rate
                figures[f"{key}_router"] = router_rate
                figures[f"{key}_ratio"] = ratio
                if (concurrency, slow) in BARS:
                    bars.append(
                        Bar(
                            f"library / raw, concurrency {concurrency}, {sink_name} sink",
                            BARS[(concurrency, slow)],
                            ratio,
                        )
                    )
    return Result(
        name="library",
        title="Library overhead: Router.send vs a raw aiohttp client",
        columns=(
            "sink",
            "concurrency",
            "raw msg/s",
            "Router.send msg/s",
            "ratio",
            "raw CPU µs/msg",
            "router CPU µs/msg",
            "sink CPU µs/msg (raw)",
            "sink CPU µs/msg (router)",
        ),
        rows=tuple(rows),
        bars=tuple(bars),
        notes=(
            f"median of {rounds} alternating rounds, "
            + (f"{count} messages each" if quick else f"{duration:g} s each")
            + "; the sink runs in its own process",
            "CPU µs/msg: CPU time per message of the client process (from the process's "
            "own clock) and of the sink (from /proc, warm-up included); with the instant "
            f"sink the client's core is the bottleneck; the client and the sink on {loop_name()}",
        ),
        figures=figures,
        seconds=time.perf_counter() - started,
    )
