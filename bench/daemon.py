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

from bench.common import PASSWORD, TEXT, Bar, Load, Result, drive, median, number
from bench.library import raw_arm
from bench.sink import ROOT, SinkProcess

TOKEN = "bench-token"
CONCURRENCY = 64
WORKERS = 64
"""Send workers for ``"wait": false`` (the daemon's ``server.workers``)."""
BAR = 0.40


def daemon_config(sink_url: str, journal: Path, listen: str, workers: int = WORKERS) -> str:
    """The daemon's TOML: one provider at the sink, the journal in SQLite."""
    return f"""
[router]
default_region = "AU"
policy = ["priority"]

[server]
listen = "{listen}"
api_tokens = ["{TOKEN}"]
workers = {workers}

[store]
url = "sqlite:///{journal}"

[providers.sink]
plugin = "smsbroadcast"
username = "bench"
password = "{PASSWORD}"
base_url = "{sink_url}"
prices = {{ "61" = 0.055, "614" = 0.045 }}
"""


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class DaemonProcess:
    """``python -m router serve`` in a process of its own, with a temporary journal."""

    def __init__(self, sink_url: str, workers: int = WORKERS) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="smsrouter-bench-")
        folder = Path(self._tmp.name)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = folder / "bench.toml"
        self.config.write_text(
            daemon_config(sink_url, folder / "journal.db", f"127.0.0.1:{self.port}", workers),
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
        await self.stop()
        raise RuntimeError(f"the daemon did not start:\n{self.log.read_text()}")

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

    def __init__(self, http: aiohttp.ClientSession, daemon_url: str) -> None:
        self.http = http
        self.url = f"{daemon_url}/v1/messages"
        self.headers = {"Authorization": f"Bearer {TOKEN}"}
        self._numbers = itertools.count()

    async def post(self, wait: bool) -> bool:
        """One message; whether the daemon answered as it should."""
        body: dict[str, Any] = {"to": number(next(self._numbers)), "text": TEXT}
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


async def run(quick: bool = False) -> Result:
    """Raw client, waiting mode and queued mode, in alternating rounds."""
    started = time.perf_counter()
    rounds = 1 if quick else 3
    duration = None if quick else 4.0
    count = 20 if quick else 10**9
    queued_count = 20 if quick else 8_000
    raw_rates, waiting_rates, accept_rates, queued_rates = [], [], [], []
    with SinkProcess() as sink:
        async with DaemonProcess(sink.url()) as daemon, aiohttp.ClientSession() as http:
            generator = LoadGenerator(http, daemon.url)
            await generator.run(5 if quick else 500, None, wait=True)
            for _ in range(rounds):
                raw = await raw_arm(sink.url(), CONCURRENCY, count, duration, 5 if quick else 20)
                waiting = await generator.run(count, duration, wait=True)
                accepted, queued = await queued_run(generator, sink, queued_count, 300)
                for load in (raw, waiting, accepted):
                    if load.failed:
                        raise RuntimeError(f"{load.failed} requests failed")
                raw_rates.append(raw.rate)
                waiting_rates.append(waiting.rate)
                accept_rates.append(accepted.rate)
                queued_rates.append(queued.rate)
    raw_rate = median(raw_rates)
    waiting_rate, queued_rate = median(waiting_rates), median(queued_rates)
    rows = (
        ("raw client, straight to the sink", round(raw_rate), 1.0),
        ("daemon, waiting mode", round(waiting_rate), round(waiting_rate / raw_rate, 3)),
        (
            '"wait": false, accepted (202, journalled)',
            round(median(accept_rates)),
            round(median(accept_rates) / raw_rate, 3),
        ),
        (
            '"wait": false, end to end (all sent)',
            round(queued_rate),
            round(queued_rate / raw_rate, 3),
        ),
    )
    return Result(
        name="daemon",
        title="Daemon end to end: HTTP in, SQLite journal, HTTP out (instant sink)",
        columns=("path", "msg/s", "ratio to raw"),
        rows=rows,
        bars=(Bar("daemon waiting mode / raw, instant sink", BAR, waiting_rate / raw_rate),),
        notes=(
            f"{CONCURRENCY} concurrent API clients; daemon with {WORKERS} send workers; "
            f"median of {rounds} rounds"
            + ("" if quick else f", {duration:g} s each (queued: {queued_count:,} messages)"),
            "three processes share the 2 cores: load generator, daemon, sink",
        ),
        figures={
            "raw": raw_rate,
            "waiting": waiting_rate,
            "waiting_ratio": waiting_rate / raw_rate,
            "accepted": median(accept_rates),
            "queued": queued_rate,
            "queued_ratio": queued_rate / raw_rate,
        },
        seconds=time.perf_counter() - started,
    )
