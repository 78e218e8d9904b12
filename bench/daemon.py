"""Daemon end to end: HTTP in, SQLite journal, HTTP out, against the raw client.

The daemon (``python -m router serve``) runs in its own process with a SQLite journal and
one SMS Broadcast provider pointed at the sink (in a process of its own). A load generator
in this process posts messages to ``POST /v1/messages`` from 64 concurrent clients:

* waiting mode: each request is answered once the provider took the message;
* ``"wait": false``: each request is answered 202 once the message is journalled, and the
  daemon's workers send it; the run ends when the sink has taken every message.

The raw client makes the same number of provider POSTs straight to the same sink.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp
import attrs

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
from bench.library import raw_arm
from bench.sink import ROOT, SinkProcess

TOKEN = "bench-token"
CONCURRENCY = 64
WORKERS = 64
"""Send workers for ``"wait": false`` (the daemon's ``server.workers``)."""
BAR = 0.35


def daemon_config(
    sink: SinkProcess,
    journal: Path,
    listen: str,
    workers: int = WORKERS,
    loop: str = "uvloop",
    durability: str = "power",
    coalesce: str = "20ms",
) -> str:
    """The daemon's TOML: two providers at the sink (instant and slow), journal in SQLite;
    *coalesce* is ``[router] coalesce_window`` (queued messages of one text share calls)."""
    providers = "".join(
        f"""
[providers.{name}]
plugin = "smsbroadcast"
username = "bench"
password = "{PASSWORD}"
base_url = "{sink.url(slow)}"
prices = {{ "61" = 0.055, "614" = 0.045 }}
"""
        for name, slow in (("instant", False), ("slow", True))
    )
    return f"""
[router]
default_region = "AU"
policy = ["priority"]
coalesce_window = "{coalesce}"

[server]
listen = "{listen}"
api_tokens = ["{TOKEN}"]
workers = {workers}
loop = "{loop}"

[store]
url = "sqlite:///{journal}"
durability = "{durability}"
{providers}"""


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class DaemonProcess:
    """``python -m router serve`` in a process of its own, with a temporary journal."""

    def __init__(
        self,
        sink: SinkProcess,
        workers: int = WORKERS,
        loop: str = "uvloop",
        durability: str = "power",
        coalesce: str = "20ms",
    ) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="smsrouter-bench-")
        folder = Path(self._tmp.name)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = folder / "bench.toml"
        self.config.write_text(
            daemon_config(
                sink,
                folder / "journal.db",
                f"127.0.0.1:{self.port}",
                workers,
                loop,
                durability,
                coalesce,
            ),
            encoding="utf-8",
        )
        self.log = folder / "daemon.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The daemon's process id."""
        assert self._process is not None
        return self._process.pid

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, "SMSROUTER_DISABLE_PLUGIN_AUTOLOAD": "1"}
        with open(self.log, "ab") as out:
            return subprocess.Popen(  # noqa: S603 - our own CLI
                [sys.executable, "-m", "router", "serve", "--config", str(self.config)],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def start(self) -> None:
        """Start the daemon and wait (20 s at most) until it answers /healthz."""
        self._process = self._spawn()
        async with aiohttp.ClientSession() as http:
            for _ in range(400):
                if self._process.poll() is not None:
                    break
                try:
                    async with http.get(f"{self.url}/healthz") as answer:
                        if answer.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.05)
        # Read before stop() removes it with the journal: its end says why.
        log = self.log.read_text(encoding="utf-8", errors="replace")[-2000:]
        await self.stop()
        raise RuntimeError(f"the daemon on port {self.port} did not start:\n{log}")

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after 15 s; remove the journal."""
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(process.wait, 15)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait, 5)
        self._tmp.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class LoadGenerator:
    """Posts messages to the daemon's API, each to a number of its own."""

    def __init__(
        self, http: aiohttp.ClientSession, daemon_url: str, provider: str = "instant"
    ) -> None:
        self.http = http
        self.url = f"{daemon_url}/v1/messages"
        self.headers = {"Authorization": f"Bearer {TOKEN}"}
        self.provider = provider
        """The daemon's provider every message is sent through: ``instant`` or ``slow``."""
        self._numbers = itertools.count()

    async def post(self, wait: bool) -> bool:
        """One message; whether the daemon answered as it should."""
        body: dict[str, Any] = {
            "to": number(next(self._numbers)),
            "text": TEXT,
            "providers": [self.provider],
        }
        if not wait:
            body["wait"] = False
        async with self.http.post(self.url, json=body, headers=self.headers) as answer:
            payload = await answer.json()
        if wait:
            return answer.status == 200 and payload.get("ok") is True
        return answer.status == 202

    async def run(self, count: int, duration: float | None, wait: bool) -> Load:
        """Post from :data:`CONCURRENCY` clients until *count* or *duration*."""

        async def job(ticket: int) -> bool:
            return await self.post(wait)

        return await drive(job, CONCURRENCY, count, duration)


async def sink_recipients(http: aiohttp.ClientSession, sink: SinkProcess) -> int:
    """How many recipients the sink has taken so far."""
    async with http.get(f"{sink.base}/stats") as answer:
        stats = await answer.json()
    taken: int = stats["recipients"]
    return taken


async def queued_run(
    generator: LoadGenerator, sink: SinkProcess, count: int, timeout: float
) -> tuple[Load, Load]:
    """``"wait": false`` for *count* messages: (accepting them, sending them all)."""
    http = generator.http
    before = await sink_recipients(http, sink)
    started = time.perf_counter()
    accepted = await generator.run(count, None, wait=False)
    while await sink_recipients(http, sink) < before + accepted.done:
        if time.perf_counter() - started > timeout:
            raise RuntimeError("the daemon did not send every queued message in time")
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    return accepted, Load(accepted.done, elapsed, accepted.failed)


@attrs.frozen
class Variant:
    """One way of running the daemon: its event loop, its journal's durability, and its
    ``coalesce_window`` (``"0s"``: every queued message is a call of its own)."""

    loop: str
    durability: str
    coalesce: str = "20ms"

    @property
    def label(self) -> str:
        """``uvloop, power`` and the like, as the table shows it."""
        alone = ", coalescing off" if self.coalesce == "0s" else ""
        return f"{self.loop}, {self.durability}{alone}"

    @property
    def key(self) -> str:
        """``uvloop_power`` and the like, as the figures name it."""
        alone = "_alone" if self.coalesce == "0s" else ""
        return f"{self.loop}_{self.durability}{alone}"


VARIANTS = (
    Variant("uvloop", "power"),
    Variant("asyncio", "power"),
    Variant("uvloop", "process"),
    Variant("uvloop", "power", "0s"),
)
"""The default daemon first, then each switch moved alone."""

ARMS = ("raw", "waiting", "queued", "raw_slow", "waiting_slow")
"""What each round measures, in order: ``queued`` is ``"wait": false`` end to end."""


@attrs.define
class _Figures:
    """Every round's rate and per-process CPU per message, by arm."""

    rates: dict[str, list[float]] = attrs.Factory(dict)
    cpu: dict[str, dict[str, list[float]]] = attrs.Factory(dict)
    accepted: list[float] = attrs.Factory(list)

    def add(self, arm: str, load: Load, meter: CpuMeter) -> None:
        if load.failed:
            raise RuntimeError(f"{arm}: {load.failed} requests failed")
        self.rates.setdefault(arm, []).append(load.rate)
        for process, value in meter.per_message(load.done).items():
            self.cpu.setdefault(arm, {}).setdefault(process, []).append(value)

    def rate(self, arm: str) -> float:
        return median(self.rates[arm])

    def cpu_of(self, arm: str, process: str) -> float:
        return median(self.cpu[arm].get(process, []))


async def _round(
    generators: dict[str, LoadGenerator],
    sink: SinkProcess,
    meter: CpuMeter,
    figures: _Figures,
    quick: bool,
) -> None:
    """One round of every arm against one daemon."""
    duration = None if quick else 3.0
    count = 20 if quick else 10**9
    for arm in ARMS:
        slow = arm.endswith("_slow")
        meter.start()
        if arm.startswith("raw"):
            load = await raw_arm(sink.url(slow), CONCURRENCY, count, duration, 5 if quick else 20)
        elif arm == "queued":
            accepted, load = await queued_run(generators["instant"], sink, QUEUED[quick], 300)
            figures.accepted.append(accepted.rate)
        else:
            load = await generators["slow" if slow else "instant"].run(count, duration, wait=True)
        meter.stop()
        figures.add(arm, load, meter)


QUEUED = {False: 6_000, True: 20}
"""Messages per queued round, by quick."""


async def _variant(sink: SinkProcess, variant: Variant, quick: bool) -> _Figures:
    figures = _Figures()
    daemon = DaemonProcess(
        sink, loop=variant.loop, durability=variant.durability, coalesce=variant.coalesce
    )
    async with daemon, aiohttp.ClientSession() as http:
        generators = {p: LoadGenerator(http, daemon.url, p) for p in ("instant", "slow")}
        await generators["instant"].run(5 if quick else 500, None, wait=True)
        meter = CpuMeter({"daemon": daemon.pid, "client": os.getpid(), "sink": sink.pid})
        for _ in range(1 if quick else 3):
            await _round(generators, sink, meter, figures, quick)
    return figures


ROW_NAMES = {
    "raw": "raw client, instant sink",
    "waiting": "daemon, waiting mode, instant sink",
    "queued": '"wait": false end to end, instant sink',
    "raw_slow": "raw client, 20 ms sink",
    "waiting_slow": "daemon, waiting mode, 20 ms sink",
}


def _rows(variant: Variant, figures: _Figures) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for arm in ARMS:
        raw = figures.rate("raw_slow" if arm.endswith("_slow") else "raw")
        rate = figures.rate(arm)
        daemon_cpu = "" if arm.startswith("raw") else round(figures.cpu_of(arm, "daemon"))
        rows.append(
            (
                variant.label,
                ROW_NAMES[arm],
                round(rate),
                round(rate / raw, 3),
                daemon_cpu,
                round(figures.cpu_of(arm, "client")),
                round(figures.cpu_of(arm, "sink")),
            )
        )
    return rows


async def run(quick: bool = False) -> Result:
    """Each daemon variant: raw client, waiting mode and queued mode, in rounds."""
    started = time.perf_counter()
    rows: list[tuple[Any, ...]] = []
    figures: dict[str, float] = {}
    bars: list[Bar] = []
    with SinkProcess() as sink:
        for variant in VARIANTS:
            measured = await _variant(sink, variant, quick)
            rows.extend(_rows(variant, measured))
            key = variant.key
            for arm in ARMS:
                figures[f"{key}_{arm}"] = measured.rate(arm)
                if not arm.startswith("raw"):
                    figures[f"{key}_{arm}_daemon_cpu_us"] = measured.cpu_of(arm, "daemon")
            figures[f"{key}_accepted"] = median(measured.accepted)
            for arm, raw in (("waiting", "raw"), ("queued", "raw"), ("waiting_slow", "raw_slow")):
                figures[f"{key}_{arm}_ratio"] = measured.rate(arm) / measured.rate(raw)
            if variant == VARIANTS[0]:
                bars.append(
                    Bar(
                        "daemon waiting mode / raw, instant sink",
                        BAR,
                        figures[f"{key}_waiting_ratio"],
                    )
                )
                bars.append(
                    Bar(
                        "daemon waiting mode / raw, 20 ms sink",
                        BAR,
                        figures[f"{key}_waiting_slow_ratio"],
                    )
                )
                bars.append(
                    Bar(
                        '"wait": false end to end / waiting mode',
                        1.0,
                        figures[f"{key}_queued"] / figures[f"{key}_waiting"],
                    )
                )
    return Result(
        name="daemon",
        title="Daemon end to end: HTTP in, SQLite journal, HTTP out",
        columns=(
            "daemon (loop, durability)",
            "path",
            "msg/s",
            "ratio to raw",
            "daemon CPU µs/msg",
            "client CPU µs/msg",
            "sink CPU µs/msg",
        ),
        rows=tuple(rows),
        bars=tuple(bars),
        notes=(
            f"{CONCURRENCY} concurrent API clients (the load generator, on {loop_name()}); "
            f"daemon with {WORKERS} send workers; median of {1 if quick else 3} rounds"
            + ("" if quick else f", 3 s each (queued: {QUEUED[False]:,} messages)"),
            "CPU µs/msg of each process from /proc: the daemon, the client (the raw client "
            "or the load generator) and the sink; three processes share the 2 cores",
        ),
        figures=figures,
        seconds=time.perf_counter() - started,
    )
