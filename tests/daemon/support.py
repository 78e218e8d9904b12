"""The daemon as a real process or in this process, and reading the emulators, for its tests.

A test runs the daemon as ``python -m router serve`` (:class:`DaemonProcess`) when the
process is the point: signals, a kill, the command line. Everything else drives the same app
(``make_app(Daemon(...))``) in the test's own process on a loopback port
(:class:`InProcessDaemon`): the same HTTP, without a process to start.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from router.daemon import Daemon, make_app
from router.daemon.app import SERVER_OPTIONS
from router.testing import Emulator

TOKEN = "test-token"
SECRET = "test-callback-secret"


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class DaemonClient:
    """A client for a daemon's API at ``url``."""

    url: str
    http: aiohttp.ClientSession | None

    async def request(
        self, method: str, path: str, *, json: Any = None, token: str | None = TOKEN
    ) -> tuple[int, Any]:
        """Call the API; (status, parsed JSON body)."""
        assert self.http is not None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.request(method, self.url + path, json=json, headers=headers) as answer:
            body = await answer.json(content_type=None)
            return answer.status, body


class DaemonProcess(DaemonClient):
    """``smsrouter serve`` in a subprocess, and a client for its API."""

    def __init__(self, config: Path, port: int, env: dict[str, str], log: Path) -> None:
        self.config = config
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.http: aiohttp.ClientSession | None = None

    def _spawn(self) -> subprocess.Popen[bytes]:
        with open(self.log, "ab") as out:
            return subprocess.Popen(  # noqa: S603 - our own CLI
                [
                    sys.executable,
                    "-m",
                    "router",
                    "-v",
                    "serve",
                    "--config",
                    str(self.config),
                    "--listen",
                    f"127.0.0.1:{self.port}",
                ],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def start(self) -> None:
        """Start the process and wait (10 s at most) until it answers /healthz."""
        self.process = self._spawn()
        if self.http is None:
            self.http = aiohttp.ClientSession()
        for _ in range(200):
            if self.process.poll() is not None:
                raise AssertionError(f"daemon exited:\n{self.log.read_text()}")
            try:
                async with self.http.get(f"{self.url}/healthz") as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
        raise AssertionError(f"daemon did not start:\n{self.log.read_text()}")

    def signal(self, number: int) -> None:
        """Send the process a signal."""
        assert self.process is not None
        self.process.send_signal(number)

    async def wait(self, timeout: float = 20.0) -> int:
        """Wait for the process to exit; its exit code."""
        assert self.process is not None
        process = self.process
        return await asyncio.wait_for(asyncio.to_thread(process.wait), timeout)

    async def stop(self) -> None:
        """SIGTERM, then wait; SIGKILL if it hangs."""
        if self.process is not None and self.process.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                await self.wait(15)
            except TimeoutError:
                self.process.kill()
                await self.wait(5)


class InProcessDaemon(DaemonClient):
    """The daemon's app in this process, on a loopback port of its own, and a client for it.

    Started as ``smsrouter serve`` starts it (the config file, its ``${NAME}`` secrets from
    *env*, the journal opened and the workers running before the first request), stopped as
    SIGTERM stops it (in-flight sends finish, then the journal closes).
    """

    def __init__(self, config: Path, env: dict[str, str]) -> None:
        self.config = config
        self.env = env
        self.daemon: Daemon | None = None
        self.server: TestServer | None = None
        self.http: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:  # type: ignore[override]
        """Where the app listens (known once it started)."""
        assert self.server is not None, "start the daemon first"
        return str(self.server.make_url("")).rstrip("/")

    async def start(self) -> None:
        """Build the daemon from its config and serve its app on 127.0.0.1, port from 0."""
        self.daemon = Daemon(self.config, env=self.env)
        self.server = TestServer(make_app(self.daemon), host="127.0.0.1")
        await self.server.start_server(**SERVER_OPTIONS)
        if self.http is None:
            self.http = aiohttp.ClientSession()

    async def stop(self) -> None:
        """Shut the app down: the daemon drains, then stops."""
        if self.server is not None:
            await self.server.close()


def write_config(path: Path, text: str) -> Path:
    """Write a config file."""
    path.write_text(text, encoding="utf-8")
    return path


def sent_texts(emulator: Emulator) -> list[str]:
    """The texts of every SMS an emulator took, in order."""
    return [sms["message"] for sms in emulator.counters.sent]


async def wait_until(check: Callable[[], Awaitable[Any]], seconds: float = 15.0) -> Any:
    """Poll an async check until it returns something true (bounded)."""
    for _ in range(int(seconds / 0.05)):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def finished(daemon: DaemonClient, message_ids: Iterable[str]) -> dict[str, Any] | None:
    """Every message's record once all are done, else None; a message not found fails."""
    records = {}
    for message_id in message_ids:
        status, record = await daemon.request("GET", f"/v1/messages/{message_id}")
        assert status == 200, f"acknowledged message {message_id} was lost"
        if record["state"] != "done":
            return None
        records[message_id] = record
    return records
