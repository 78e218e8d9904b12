"""Fleet mode: one, two and three daemons on PostgreSQL and Redis, one on SQLite, and raw.

Every configuration sends through the same loopback sink (:mod:`bench.fleet_sink`, in a
process of its own, which counts each number it is sent):

* ``raw``: a raw aiohttp client making the provider's POSTs straight to the sink;
* ``sqlite``: one daemon (``python -m router serve``) on a SQLite journal, as in
  :mod:`bench.daemon`;
* ``fleet1``, ``fleet2``, ``fleet3``: that many daemons, each on a port of its own, all on
  one PostgreSQL journal (``[store] url``) and one Redis live state (``[state] url``, a
  prefix of the configuration's own), all pointing at the sink.

A load generator in this process (uvloop) spreads a bounded number of messages over the
daemons round-robin from :data:`CONCURRENCY` concurrent clients, in waiting mode and with
``"wait": false`` (done when the sink has every message). Each configuration runs rounds
of raw, waiting and queued, so its ratio to raw is taken in the same minutes. The CPU time
of every process comes from ``/proc``: each daemon, the generator, the sink, this
database's PostgreSQL backends and the Redis server.

Every message goes to a number of its own, so the sink's count of distinct numbers and of
repeats says whether every acknowledged message arrived exactly once; that is the bar.
Each fleet configuration makes a database and a key prefix of its own
(:func:`bench.fleet_servers.scratch`), so none starts on a journal another filled; the
run removes them, its daemons and its sink after, also on an error or Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from typing import Any

import aiohttp
import attrs

from bench.common import Bar, CpuMeter, Load, Result, loop_name, median
from bench.daemon import WORKERS, DaemonProcess
from bench.fleet_daemons import FleetDaemon
from bench.fleet_load import Generator, NumberSource, queued_run, raw_run, sink_numbers
from bench.fleet_servers import STATISTICS_LAG, ServerMeter, Servers, scratch
from bench.fleet_sink import CountingSink, Numbers

CONCURRENCY = 64
FLEET = (1, 2, 3)
"""How many daemons the fleet configurations run."""
QUEUED_TIMEOUT = 120.0
"""Seconds a queued round may take to reach the sink before the run fails."""


@attrs.frozen
class Sizes:
    """How many messages each part of a configuration sends."""

    warm: int
    raw: int
    waiting: int
    queued: int
    rounds: int


SIZES = {
    False: Sizes(warm=300, raw=2_000, waiting=1_500, queued=1_500, rounds=3),
    True: Sizes(warm=4, raw=20, waiting=24, queued=24, rounds=1),
}
"""By quick."""


@attrs.frozen
class Configuration:
    """One way of running: the raw client, the daemon on SQLite, or a fleet of *daemons*."""

    name: str
    label: str
    daemons: int
    fleet: bool


CONFIGURATIONS = (
    Configuration("sqlite", "1 daemon, SQLite", 1, fleet=False),
    *(
        Configuration(f"fleet{n}", f"{n} daemon{'s' * (n > 1)}, PostgreSQL + Redis", n, True)
        for n in FLEET
    ),
)
"""The daemon configurations, in the order they run; each has raw rounds of its own."""
MODES = ("waiting", "queued")


@attrs.define
class Figures:
    """One configuration's rounds: rates and CPU per message by arm, and what arrived."""

    rates: dict[str, list[float]] = attrs.Factory(dict)
    transactions: dict[str, list[float]] = attrs.Factory(dict)
    """PostgreSQL transactions per message, by arm (fleet configurations only)."""
    cpu: dict[str, dict[str, list[float]]] = attrs.Factory(dict)
    acknowledged: int = 0
    arrived: Numbers = Numbers(0, 0)
    load: float = math.nan

    def add(self, arm: str, load: Load, spent: dict[str, float]) -> None:
        self.rates.setdefault(arm, []).append(load.rate)
        for process, seconds in spent.items():
            per = 1e6 * seconds / load.done if load.done else math.nan
            self.cpu.setdefault(arm, {}).setdefault(process, []).append(per)

    def rate(self, arm: str) -> float:
        return median(self.rates[arm])

    def cpu_of(self, arm: str, process: str) -> float:
        return median(self.cpu[arm].get(process, []))

    @property
    def missing(self) -> int:
        """Acknowledged messages whose number never reached the sink."""
        return self.acknowledged - self.arrived.distinct


async def _measure(
    meter: CpuMeter, servers: ServerMeter | None, load: Any, figures: Figures, arm: str
) -> Load:
    meter.start()
    if servers is not None:
        await servers.start()
    done: Load = await load
    spent = meter.stop()
    if servers is not None:
        spent |= await servers.stop()
        per = servers.transactions / done.done if done.done else math.nan
        figures.transactions.setdefault(arm, []).append(per)
    if done.failed:
        raise RuntimeError(f"{arm}: {done.failed} of {done.done + done.failed} messages failed")
    spent["daemons"] = sum(v for k, v in spent.items() if k.startswith("daemon "))
    figures.add(arm, done, spent)
    figures.acknowledged += done.done
    return done


async def _start(daemons: list[DaemonProcess], stack: contextlib.AsyncExitStack) -> None:
    for daemon in daemons:
        stack.push_async_callback(daemon.stop)
    try:
        async with asyncio.TaskGroup() as group:
            for daemon in daemons:
                group.create_task(daemon.start())
    except* RuntimeError as failed:
        raise failed.exceptions[0] from None


async def _configuration(
    config: Configuration,
    sink: CountingSink,
    servers: Servers | None,
    numbers: NumberSource,
    quick: bool,
) -> Figures:
    sizes = SIZES[quick]
    figures = Figures()
    async with contextlib.AsyncExitStack() as stack:
        daemons: list[DaemonProcess]
        if config.fleet:
            assert servers is not None
            prefix = servers.prefix_of(config.name)
            daemons = [FleetDaemon(sink, servers, prefix) for _ in range(config.daemons)]
        else:
            daemons = [DaemonProcess(sink)]
        await _start(daemons, stack)
        timeout = aiohttp.ClientTimeout(total=60)
        http = await stack.enter_async_context(aiohttp.ClientSession(timeout=timeout))
        generator = Generator(http, [d.url for d in daemons], numbers, CONCURRENCY)
        before = await sink_numbers(http, sink)
        warm = await generator.run(sizes.warm, wait=True)
        if warm.failed:
            raise RuntimeError(f"{config.name}: warm-up failed: {generator.errors[:3]}")
        figures.acknowledged += warm.done
        pids = {f"daemon {i + 1}": d.pid for i, d in enumerate(daemons)}
        meter = CpuMeter({**pids, "generator": os.getpid(), "sink": sink.pid})
        server_meter = None
        if config.fleet and servers is not None:
            server_meter = ServerMeter(servers, lag=0.0 if quick else STATISTICS_LAG)
        for _ in range(sizes.rounds):
            raw = raw_run(http, sink, numbers, CONCURRENCY, sizes.raw)
            await _measure(meter, None, raw, figures, "raw")
            waiting = generator.run(sizes.waiting, wait=True)
            await _measure(meter, server_meter, waiting, figures, "waiting")
            queued = queued_run(generator, sink, sizes.queued, QUEUED_TIMEOUT)
            await _measure(meter, server_meter, queued, figures, "queued")
        after = await sink_numbers(http, sink)
        figures.arrived = Numbers(after.distinct - before.distinct, after.repeats - before.repeats)
        figures.load = os.getloadavg()[0]
    return figures


COLUMNS = (
    "configuration",
    "mode",
    "msg/s",
    "raw msg/s (same rounds)",
    "× raw",
    "daemons CPU µs/msg",
    "each daemon",
    "generator",
    "sink",
    "PostgreSQL",
    "PostgreSQL transactions/msg",
    "Redis",
    "load average",
)


def _us(value: float) -> Any:
    return "" if math.isnan(value) else round(value)


def _per(value: float) -> Any:
    return "" if math.isnan(value) else round(value, 1)


def _rows(config: Configuration, figures: Figures) -> list[tuple[Any, ...]]:
    raw = figures.rate("raw")
    rows = []
    for mode in MODES:
        rate = figures.rate(mode)
        each = " / ".join(
            str(round(figures.cpu_of(mode, f"daemon {i + 1}"))) for i in range(config.daemons)
        )
        rows.append(
            (
                config.label,
                "waiting" if mode == "waiting" else '"wait": false',
                round(rate),
                round(raw),
                round(rate / raw, 3),
                round(figures.cpu_of(mode, "daemons")),
                each,
                round(figures.cpu_of(mode, "generator")),
                round(figures.cpu_of(mode, "sink")),
                _us(figures.cpu_of(mode, "postgres")),
                _per(median(figures.transactions.get(mode, []))),
                _us(figures.cpu_of(mode, "redis")),
                round(figures.load, 2),
            )
        )
    return rows


def _raw_row(measured: dict[str, Figures]) -> tuple[Any, ...]:
    rates = [r for f in measured.values() for r in f.rates["raw"]]
    generator = [c for f in measured.values() for c in f.cpu["raw"]["generator"]]
    sink = [c for f in measured.values() for c in f.cpu["raw"]["sink"]]
    return (
        "raw aiohttp client",
        f"median of {len(rates)} rounds",
        round(median(rates)),
        f"{round(min(rates)):,}-{round(max(rates)):,}",
        1.0,
        "",
        "",
        round(median(generator)),
        round(median(sink)),
        "",
        "",
        "",
        "",
    )


def _figures(measured: dict[str, Figures]) -> dict[str, float]:
    figures: dict[str, float] = {}
    for name, f in measured.items():
        figures[f"{name}_raw"] = f.rate("raw")
        for mode in MODES:
            figures[f"{name}_{mode}"] = f.rate(mode)
            figures[f"{name}_{mode}_ratio"] = f.rate(mode) / f.rate("raw")
            figures[f"{name}_{mode}_daemons_cpu_us"] = f.cpu_of(mode, "daemons")
            figures[f"{name}_{mode}_generator_cpu_us"] = f.cpu_of(mode, "generator")
            if mode in f.transactions:
                figures[f"{name}_{mode}_pg_transactions"] = median(f.transactions[mode])
                figures[f"{name}_{mode}_pg_cpu_us"] = f.cpu_of(mode, "postgres")
        figures[f"{name}_acknowledged"] = f.acknowledged
        figures[f"{name}_missing"] = f.missing
        figures[f"{name}_repeats"] = f.arrived.repeats
    for n in FLEET[1:]:
        if f"fleet{n}" in measured and "fleet1" in measured:
            for mode in MODES:
                ratio = measured[f"fleet{n}"].rate(mode) / measured["fleet1"].rate(mode)
                figures[f"fleet{n}_{mode}_over_fleet1"] = ratio
    return figures


async def run(quick: bool = False, servers: Servers | None = None) -> Result:
    """Every configuration in turn, each fleet on *servers*.

    Without *servers*, each fleet configuration has a scratch database and prefix of its
    own, so none starts with a journal the one before it filled.
    """
    started = time.perf_counter()
    measured: dict[str, Figures] = {}
    numbers = NumberSource()
    with CountingSink() as sink:
        for config in CONFIGURATIONS:
            async with contextlib.AsyncExitStack() as stack:
                used = servers
                if config.fleet and used is None:
                    used = await stack.enter_async_context(scratch())
                measured[config.name] = await _configuration(config, sink, used, numbers, quick)
    rows = [_raw_row(measured)]
    for config in CONFIGURATIONS:
        rows.extend(_rows(config, measured[config.name]))
    wrong = sum(f.missing + f.arrived.repeats for f in measured.values())
    sizes = SIZES[quick]
    return Result(
        name="fleet",
        title="Fleet mode: daemons on PostgreSQL and Redis, one on SQLite, and raw",
        columns=COLUMNS,
        rows=tuple(rows),
        bars=(Bar("messages missing or repeated at the sink", 0, wrong, higher_is_better=False),),
        notes=(
            f"{CONCURRENCY} concurrent API clients (the load generator, on {loop_name()}) "
            f"spreading messages over the daemons round-robin; each daemon with {WORKERS} "
            f"send workers; per configuration {sizes.rounds} rounds of raw "
            f"({sizes.raw:,} messages), waiting ({sizes.waiting:,}) and "
            f'"wait": false ({sizes.queued:,}, done when the sink has them all), medians',
            "CPU µs/msg of each process from /proc: every daemon (summed, and each), the "
            "load generator (the raw client in raw rounds), the sink, this database's "
            "PostgreSQL backends and the Redis server (which serves every client on the "
            f"machine); {os.cpu_count()} cores shared by all of them",
            "PostgreSQL transactions/msg: the database's committed and rolled back "
            "transactions (pg_stat_database) over the round, per message",
            f"messages acknowledged: {sum(f.acknowledged for f in measured.values()):,}; "
            "missing at the sink: "
            f"{sum(f.missing for f in measured.values())}; repeated: "
            f"{sum(f.arrived.repeats for f in measured.values())}",
        ),
        figures=_figures(measured),
        seconds=time.perf_counter() - started,
    )
