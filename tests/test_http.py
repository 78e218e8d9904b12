"""router.http.call's timeouts, phase by phase, against servers on 127.0.0.1.

Before its request is written a call is ``unavailable`` of kind ``budget`` (a wait for a
free connection in the pool, or a connect that never completes); after, a timeout is
``ambiguous``. Every wait here is bounded by a short real timeout; nothing asserts on
how long anything took.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from aiohttp import web

from router.errors import ProviderAmbiguousError, ProviderUnavailableError
from router.http import call, connection_trace, timeouts
from router.model import ErrorKind, Outcome
from router.provider import ProviderContext


class Held:
    """A loopback server whose every request waits until the test lets it answer."""

    def __init__(self) -> None:
        self.seen = 0
        self.arrived = asyncio.Event()
        self.go = asyncio.Event()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.seen += 1
        self.arrived.set()
        await self.go.wait()
        return web.Response(text="OK")


@contextlib.asynccontextmanager
async def serve(handler: web.RequestHandler | object) -> AsyncIterator[str]:
    """Serve *handler* for every path on 127.0.0.1; yields its base URL."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)  # type: ignore[arg-type]
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def context(
    session: aiohttp.ClientSession, *, timeout: float = 5.0, connect: float = 5.0
) -> ProviderContext:
    return ProviderContext(
        "x", session, logging.getLogger("t"), timeout=timeout, connect_timeout=connect
    )


@contextlib.contextmanager
def unaccepted_port() -> Iterator[int]:
    """A port on 127.0.0.1 whose listen queue is full, so a new connect never completes.

    Linux drops a SYN to a listener whose accept queue is full (the listener never
    accepts), so the client's connect hangs until its own timeout.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(3):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            fillers.append(filler)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def test_the_connection_phase_and_the_request_have_their_own_bounds() -> None:
    bounds = timeouts(2.0, 7.0)
    assert (bounds.connect, bounds.sock_connect, bounds.sock_read) == (2.0, 2.0, 7.0)
    # The total outlasts the connect bound, so it never expires in the pool wait.
    assert bounds.total == 9.0
    assert bounds.ceil_threshold == math.inf


async def test_a_wait_for_a_pool_slot_is_unavailable_and_nothing_is_sent() -> None:
    server = Held()
    async with serve(server.handle) as url:
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(connector=connector) as session:
            first = asyncio.ensure_future(call(context(session), "POST", f"{url}/send"))
            async with asyncio.timeout(5):
                await server.arrived.wait()  # the pool's one connection is now taken
            with pytest.raises(ProviderUnavailableError) as waited:
                await call(context(session, connect=0.05), "POST", f"{url}/send")
            assert server.seen == 1
            server.go.set()
            async with asyncio.timeout(5):
                assert (await first).text == "OK"
    error = waited.value
    assert (error.outcome, error.kind) == (Outcome.UNAVAILABLE, ErrorKind.BUDGET)
    assert str(error) == f"x: POST {url}/send: no connection within 0.05s; not sent"


async def test_a_wait_for_a_pool_slot_does_not_eat_the_request_timeout() -> None:
    # The first call holds the pool's one connection longer than the second one's request
    # timeout: the wait counts against connect_timeout only.
    server = Held()
    async with serve(server.handle) as url:
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(connector=connector) as session:
            first = asyncio.ensure_future(call(context(session), "POST", f"{url}/send"))
            async with asyncio.timeout(5):
                await server.arrived.wait()
            second = asyncio.ensure_future(
                call(context(session, timeout=0.05, connect=5.0), "POST", f"{url}/send")
            )
            await asyncio.sleep(0.2)  # longer than the second call's request timeout
            assert not second.done()
            server.go.set()
            async with asyncio.timeout(5):
                answers = [await first, await second]
    assert [a.text for a in answers] == ["OK", "OK"]
    assert server.seen == 2


@pytest.mark.parametrize(
    ("traced", "kind"),
    [
        # The Router's own session knows it was connecting: a host that never answers is
        # the provider's fault, which its breaker counts.
        (True, ErrorKind.OTHER),
        # A session without the trace cannot tell it from a wait in the pool: ours.
        (False, ErrorKind.BUDGET),
    ],
)
async def test_a_connect_that_never_completes_is_unavailable(traced: bool, kind: ErrorKind) -> None:
    traces = [connection_trace()] if traced else []
    with unaccepted_port() as port:
        async with aiohttp.ClientSession(trace_configs=traces) as session:
            with pytest.raises(ProviderUnavailableError) as timed_out:
                async with asyncio.timeout(5):
                    await call(
                        context(session, connect=0.1), "POST", f"http://127.0.0.1:{port}/send"
                    )
    assert (timed_out.value.outcome, timed_out.value.kind) == (Outcome.UNAVAILABLE, kind)
    assert "within 0.1s; not sent" in str(timed_out.value)


async def test_a_traced_wait_for_a_pool_slot_is_still_ours() -> None:
    server = Held()
    async with serve(server.handle) as url:
        connector = aiohttp.TCPConnector(limit=1)
        traces = [connection_trace()]
        async with aiohttp.ClientSession(connector=connector, trace_configs=traces) as session:
            first = asyncio.ensure_future(call(context(session), "POST", f"{url}/send"))
            async with asyncio.timeout(5):
                await server.arrived.wait()
            with pytest.raises(ProviderUnavailableError) as waited:
                await call(context(session, connect=0.05), "POST", f"{url}/send")
            server.go.set()
            async with asyncio.timeout(5):
                await first
    assert waited.value.kind is ErrorKind.BUDGET


async def test_a_refused_connection_is_unavailable_and_the_providers_fault() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, not listening: refused
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/send"
        async with aiohttp.ClientSession() as session:
            with pytest.raises(ProviderUnavailableError) as refused:
                await call(context(session), "POST", url)
    assert refused.value.kind is ErrorKind.OTHER  # counted by the breaker, unlike our waits
    assert "could not connect (ClientConnectorError)" in str(refused.value)


async def test_silence_after_the_request_was_sent_is_ambiguous() -> None:
    server = Held()
    async with serve(server.handle) as url, aiohttp.ClientSession() as session:
        with pytest.raises(ProviderAmbiguousError) as silent:
            async with asyncio.timeout(5):
                await call(context(session, timeout=0.1), "POST", f"{url}/send")
        server.go.set()
    assert server.seen == 1
    assert silent.value.outcome is Outcome.AMBIGUOUS
    assert str(silent.value) == f"x: POST {url}/send: timed out waiting"


async def test_an_answer_trickling_past_the_total_is_ambiguous() -> None:
    # Each chunk comes within sock_read, so only the total (connect + request) cuts it.
    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(200):
            await response.write(b"x")
            await asyncio.sleep(0.02)
        return response

    async with serve(trickle) as url, aiohttp.ClientSession() as session:
        with pytest.raises(ProviderAmbiguousError) as cut:
            async with asyncio.timeout(5):
                await call(context(session, timeout=0.2, connect=0.1), "GET", f"{url}/s")
    assert str(cut.value) == f"x: GET {url}/s: timed out waiting"
