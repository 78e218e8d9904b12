"""A webhook receiver on loopback, and the daemon (a process or in-process), for their tests."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
from collections.abc import Callable
from typing import Any

import attrs
from aiohttp import web

from tests.daemon import support as daemon_support

TOKEN = "test-token"
CALLBACK_SECRET = "test-callback-secret"
WEBHOOK_SECRET = "webhook-secret-0123456789"
EVENTS_PATH = "/smsrouter/events"


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@attrs.frozen
class Post:
    """One post a receiver got."""

    headers: dict[str, str]
    body: bytes
    verified: bool
    """Whether its signature checked out."""
    answered: int

    @property
    def event(self) -> dict[str, Any]:
        """The posted event."""
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


class Receiver:
    """A user's webhook receiver: records each post, checks its signature, answers ``status``.

    Args:
        verify: ``verify(body, signature header)``, the receiver's signature check.
        port: where to listen; a free port by default.
    """

    def __init__(self, verify: Callable[[bytes, str], bool], port: int | None = None) -> None:
        self.verify = verify
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}{EVENTS_PATH}"
        self.status = 200
        self.hold: asyncio.Event | None = None
        """While set to an unset event, each post waits for it before answering."""
        self.posts: list[Post] = []
        self.first_post = asyncio.Event()
        """Set when the first post comes in (before it is answered)."""
        self.at_once = 0
        self.most_at_once = 0
        """The most posts seen under way at once."""
        self._runner: web.AppRunner | None = None

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.first_post.set()
        self.at_once += 1
        self.most_at_once = max(self.most_at_once, self.at_once)
        try:
            if self.hold is not None:
                await self.hold.wait()
        finally:
            self.at_once -= 1
        verified = self.verify(body, request.headers.get("Smsrouter-Signature", ""))
        status = self.status if verified else 401
        self.posts.append(Post(dict(request.headers), body, verified, status))
        return web.Response(status=status)

    async def start(self) -> None:
        """Listen on loopback."""
        app = web.Application()
        app.router.add_post(EVENTS_PATH, self._receive)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        """Stop listening."""
        if self.hold is not None:
            self.hold.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def taken(self) -> dict[str, dict[str, Any]]:
        """The events answered 2xx, by id."""
        return {p.event["id"]: p.event for p in self.posts if 200 <= p.answered < 300}


class WebhookMetric(daemon_support.DaemonClient):
    """A daemon client that reads the webhook metric."""

    async def metric(self, outcome: str) -> float:
        """The value of ``smsrouter_webhook_events_total{outcome=...}``."""
        assert self.http is not None
        async with self.http.get(f"{self.url}/metrics") as answer:
            text = await answer.text()
        line = f'smsrouter_webhook_events_total{{outcome="{outcome}"}} '
        values = [float(x.removeprefix(line)) for x in text.splitlines() if x.startswith(line)]
        assert len(values) == 1, text
        return values[0]


class DaemonProcess(WebhookMetric, daemon_support.DaemonProcess):
    """``smsrouter serve`` in a subprocess, with a crash and the webhook metric."""

    async def kill(self) -> None:
        """SIGKILL: no shutdown at all, as a crash or a power cut."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        process = self.process
        await asyncio.wait_for(asyncio.to_thread(process.wait), 10)


class InProcessDaemon(WebhookMetric, daemon_support.InProcessDaemon):
    """The daemon's app in this process, with the webhook metric."""
