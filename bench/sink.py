"""The loopback sink: SMS Broadcast's send protocol, answered at once or after 20 ms.

It runs in a process of its own (:class:`SinkProcess`, ``python -m bench.sink``), so the
client being measured has its event loop and its core to itself. ``POST
/instant/api-adv.php`` answers at once, ``POST /slow/api-adv.php`` after :data:`SLOW`; both
answer ``OK:<number>:<id>`` for each recipient, the answer the real provider gives, so the
adapter parses real answers. A
balance request (``action=balance``) is answered ``OK:<credits>``. ``GET /stats`` counts
the sends and recipients taken, for benchmarks that wait until everything has arrived.
"""

from __future__ import annotations

import asyncio
import itertools
import select
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import parse_qsl

import attrs
from aiohttp import web

SLOW = 0.020
"""Seconds the slow path waits before it answers."""

PATH = "api-adv.php"
ROOT = Path(__file__).resolve().parent.parent
"""The repository: where ``python -m bench.sink`` is found."""


@attrs.define
class _Counts:
    sends: int = 0
    recipients: int = 0


def make_app() -> web.Application:
    """The sink's aiohttp application."""
    counts = _Counts()
    ids = itertools.count(1_000_000)

    async def answer(request: web.Request, delay: float) -> web.Response:
        # The form is parsed by hand: aiohttp's request.post() would cost the sink more
        # than the answer does, and the sink must not be the bottleneck.
        fields = dict(parse_qsl((await request.read()).decode()))
        if fields.get("action") == "balance":
            return web.Response(text="OK:1000000000")
        recipients = fields.get("to", "").split(",")
        counts.sends += 1
        counts.recipients += len(recipients)
        if delay:
            await asyncio.sleep(delay)
        return web.Response(text="\n".join(f"OK:{n}:{next(ids)}" for n in recipients))

    async def instant(request: web.Request) -> web.Response:
        return await answer(request, 0.0)

    async def slow(request: web.Request) -> web.Response:
        return await answer(request, SLOW)

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"sends": counts.sends, "recipients": counts.recipients})

    app = web.Application()
    app.router.add_post(f"/instant/{PATH}", instant)
    app.router.add_post(f"/slow/{PATH}", slow)
    app.router.add_get("/stats", stats)
    return app


async def serve(app: web.Application) -> None:
    """Serve *app* on a loopback port, printed on the first line, until SIGTERM or SIGINT."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    await runner.cleanup()


class SinkProcess:
    """The sink in a process of its own (``python -m bench.sink``), for ``with``."""

    module = "bench.sink"
    """The module the process runs: it serves the sink and prints its port."""
    name = "sink"

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def base(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The sink's process id."""
        assert self._process is not None
        return self._process.pid

    def url(self, slow: bool = False) -> str:
        """The send URL: the instant path or the slow one."""
        return f"{self.base}/{'slow' if slow else 'instant'}/{PATH}"

    def start(self) -> None:
        """Start the process and wait (20 s at most) for the port it prints."""
        self._process = subprocess.Popen(  # noqa: S603 - this interpreter, a module of ours
            [sys.executable, "-m", self.module],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self._process.stdout is not None
        ready, _, _ = select.select([self._process.stdout], [], [], 20)
        line = self._process.stdout.readline() if ready else ""
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(f"the {self.name} did not start")
        self.port = int(line)

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 5 s)."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


if __name__ == "__main__":
    from bench.common import run_on_loop

    run_on_loop(serve(make_app()))
