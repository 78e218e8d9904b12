"""The conformance kit's misbehaving server: each way it fails, and what that must mean.

A loopback server fails every request one way: a refused connection, HTTP 500, 429 (with
``Retry-After``), 401, a hang, a connection dropped after the request was read, or HTTP 200
with a body no provider would send (empty, an HTML error page, bytes that are not text).
Each :class:`Scenario` says what the adapter must make of its failure, in the outcome
taxonomy.
"""

from __future__ import annotations

import asyncio

import attrs
from aiohttp import web

from router.errors import ProviderError, ProviderUnavailableError
from router.model import ErrorKind, Outcome

__all__ = ["SCENARIOS", "FaultServer", "Scenario"]


@attrs.frozen
class Scenario:
    """One way the server fails, and what the adapter must make of it."""

    name: str
    mode: str
    """What the server does: ``refused``, ``hang``, ``drop`` or an HTTP status."""
    outcome: Outcome
    error: type[ProviderError]
    """What a read (balance, status) must raise."""
    kind: ErrorKind | None = None
    retry_after: float | None = None
    body: bytes = b"failure"
    """The answer's body, for an HTTP status."""
    content_type: str = "text/plain"


SCENARIOS = (
    Scenario("refused", "refused", Outcome.UNAVAILABLE, ProviderUnavailableError),
    Scenario("http_500", "500", Outcome.UNAVAILABLE, ProviderUnavailableError),
    Scenario("http_429", "429", Outcome.UNAVAILABLE, ProviderUnavailableError, retry_after=7.0),
    Scenario("http_401", "401", Outcome.PROVIDER_ERROR, ProviderError, kind=ErrorKind.AUTH),
    Scenario("hang", "hang", Outcome.AMBIGUOUS, ProviderError),
    Scenario("drop", "drop", Outcome.AMBIGUOUS, ProviderError),
    # HTTP 200 with a body that fits no provider's form: the send may have been taken, so
    # it is ambiguous, never accepted, and never an exception out of send().
    Scenario("empty_200", "200", Outcome.AMBIGUOUS, ProviderError, body=b""),
    Scenario(
        "html_200",
        "200",
        Outcome.AMBIGUOUS,
        ProviderError,
        body=b"<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>",
        content_type="text/html",
    ),
    Scenario(
        "garbage_200",
        "200",
        Outcome.AMBIGUOUS,
        ProviderError,
        # Not UTF-8, then JSON cut short, then a lone colon: no parser may trip on it.
        body=b'\xff\xfe\x00\x9c {"id": [1, {"error_code": :',
        content_type="application/json",
    ),
)
"""What a loopback server does wrong, and what the adapter must make of it."""


class FaultServer:
    """A loopback server that fails every request one way, and remembers each request."""

    def __init__(self) -> None:
        self.scenario = SCENARIOS[1]
        """How it fails now."""
        self.requests: list[tuple[str, str, bytes]] = []
        self.url = ""
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if request.path == "/__warm__":
            return web.Response(text="warm")
        self.requests.append((request.method, str(request.rel_url), body))
        mode = self.scenario.mode
        if mode == "hang":
            await self._release.wait()
            return web.Response(status=503)
        if mode == "drop":
            # The request was read (it took effect), then the connection is lost.
            if request.transport is not None:
                request.transport.abort()
            return web.Response()
        headers = {"Retry-After": "7"} if mode == "429" else {}
        return web.Response(
            status=int(mode),
            body=self.scenario.body,
            content_type=self.scenario.content_type,
            headers=headers,
        )
