"""Memory: the daemon's resident set after warm-up and as 200,000 messages go through.

One daemon (its own process, SQLite journal, the instant sink) takes messages in waiting
mode from 64 concurrent clients, each to a number of its own. Its RSS is read from
``/proc/<pid>/status`` after a warm-up and at each checkpoint. The bar: no growth beyond
10% from 50,000 messages to 200,000.
"""

from __future__ import annotations

import time

import aiohttp

from bench.common import Bar, Result, rss_kib
from bench.daemon import DaemonProcess, LoadGenerator
from bench.sink import SinkProcess

FULL = (5_000, 50_000, 100_000, 150_000, 200_000)
"""Checkpoints: the first is the warm-up; the bar compares the second with the last."""
QUICK = (20, 40, 60)
BAR = 0.10


async def run(quick: bool = False) -> Result:
    """Send up to the last checkpoint, reading the daemon's RSS at each."""
    started = time.perf_counter()
    checkpoints = QUICK if quick else FULL
    rows: list[tuple[object, ...]] = []
    rss: dict[int, int] = {}
    sent = 0
    with SinkProcess() as sink:
        async with DaemonProcess(sink) as daemon, aiohttp.ClientSession() as http:
            generator = LoadGenerator(http, daemon.url)
            rss[0] = rss_kib(daemon.pid)
            rows.append(("started", 0, round(rss[0] / 1024, 1), "", ""))
            for checkpoint in checkpoints:
                load = await generator.run(checkpoint - sent, None, wait=True)
                if load.failed:
                    raise RuntimeError(f"{load.failed} messages failed")
                sent = checkpoint
                rss[checkpoint] = rss_kib(daemon.pid)
                rows.append(
                    (
                        "warm-up" if checkpoint == checkpoints[0] else "",
                        checkpoint,
                        round(rss[checkpoint] / 1024, 1),
                        round(load.rate),
                        round(load.elapsed, 1),
                    )
                )
    base = checkpoints[1]
    growth = rss[checkpoints[-1]] / rss[base] - 1
    return Result(
        name="memory",
        title="Memory: the daemon's RSS as messages go through (waiting mode, SQLite)",
        columns=("", "messages", "RSS MiB", "msg/s since the last row", "seconds"),
        rows=tuple(rows),
        bars=(
            Bar(
                f"RSS growth from {base:,} to {checkpoints[-1]:,} messages",
                BAR,
                growth,
                higher_is_better=False,
            ),
        ),
        notes=("RSS read from /proc/<pid>/status (VmRSS)",),
        figures={
            "rss_start_kib": float(rss[0]),
            "rss_warm_kib": float(rss[checkpoints[0]]),
            "rss_end_kib": float(rss[checkpoints[-1]]),
            "growth": growth,
            "messages": float(checkpoints[-1]),
        },
        seconds=time.perf_counter() - started,
    )
