"""The Router's HTTP pool: its size, and sends beyond it, over loopback.

With more sends in flight than the pool holds, a send waits for a connection. That wait
is bounded by the provider's ``connect_timeout``, apart from its request ``timeout``; a send
that found no connection in time is ``unavailable`` of kind ``budget`` (it never left
the process, so it is never ambiguous), and the provider's breaker does not count it.
The servers are on 127.0.0.1; short real timeouts bound the waits, and nothing asserts on
how long anything took.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
import attrs
from aiohttp import web

import router.testing
from router import Message, hookimpl
from router.engine import Router
from router.engine.pool import POOL_FLOOR, UNBOUNDED, pool_limit
from router.errors import NoRouteError, ProviderError
from router.http import call
from router.model import Batch, ErrorKind, Outcome, RecipientOutcome, SendResult
from router.provider import Provider
from router.registries import ProviderRegistry
from router.state import BreakerState

TO = "+61412345678"


@attrs.frozen
class PostConfig:
    """Where the ``post`` provider sends."""

    base_url: str


class PostProvider(Provider[PostConfig]):
    """Sends one POST per batch through ``router.http.call``; any 2xx is accepted."""

    type_name = "post"
    Config = PostConfig

    async def send(self, batch: Batch) -> list[RecipientOutcome]:
        """POST the batch; the call's error is every recipient's outcome."""
        numbers = [r.e164 for r in batch.recipients]
        try:
            await call(self.context, "POST", f"{self.config.base_url}/send", data={"id": "1"})
        except ProviderError as exc:
            return [exc.outcome_for(n) for n in numbers]
        return [RecipientOutcome(n, Outcome.ACCEPTED, provider_message_id="1") for n in numbers]


class PostPlugin:
    """Registers the ``post`` provider type."""

    @hookimpl
    def smsrouter_register_providers(self, registry: ProviderRegistry) -> None:
        """Register it."""
        registry.add(PostProvider)


class Server:
    """The provider's side on loopback: counts requests, answers after *latency* (and, if
    it is to *hold*, only once let go)."""

    def __init__(self, latency: float = 0.0, hold: bool = False) -> None:
        self.latency = latency
        self.seen = 0
        self.go = asyncio.Event()
        if not hold:
            self.go.set()

    async def handle(self, request: web.Request) -> web.Response:
        self.seen += 1
        await asyncio.sleep(self.latency)
        await self.go.wait()
        return web.Response(text="OK")


@contextlib.asynccontextmanager
async def serving(server: Server) -> AsyncIterator[str]:
    """Serve *server* on 127.0.0.1; yields its base URL."""
    app = web.Application()
    app.router.add_post("/send", server.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def routed(url: str, pool: int, **table: Any) -> AsyncIterator[Router]:
    """A Router with one ``post`` provider, on a session whose pool holds *pool*."""
    config = {"providers": {"p": {"plugin": "post", "base_url": url, **table}}}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=pool)) as session:
        r = Router(config, plugins=[PostPlugin()], session=session, autoload=False)
        await r.start(track_balances=False)
        try:
            yield r
        finally:
            await r.aclose()


async def send(r: Router, text: str) -> SendResult:
    """Send one message; a send no provider took gives its result all the same."""
    try:
        return await r.send(Message(to=TO, text=text))
    except NoRouteError as exc:
        result = exc.result
    assert isinstance(result, SendResult)
    return result


def outcomes(results: Sequence[SendResult]) -> list[tuple[Outcome, ErrorKind | None]]:
    return sorted(
        ((a.outcome, a.kind) for s in results for a in s[TO].attempts),
        key=lambda pair: (pair[0].value, str(pair[1])),
    )


async def test_sends_beyond_the_pool_wait_for_a_connection_not_against_their_timeout() -> None:
    # 24 sends of 0.1 s each through 2 connections: the last ones wait about 1.2 s for a
    # connection, more than the 0.5 s request timeout (which used to cover the wait, and
    # left them ambiguous), well inside the connect bound.
    provider = Server(latency=0.1)
    table = {"timeout": "500ms", "connect_timeout": "20s", "concurrency": 24}
    async with serving(provider) as url, routed(url, 2, **table) as r:
        async with asyncio.timeout(30):
            results = await asyncio.gather(*(send(r, f"m{i}") for i in range(24)))
        breaker = r.providers["p"].breaker
        assert (breaker.state, breaker.failures) == (BreakerState.CLOSED, 0)
    assert outcomes(results) == [(Outcome.ACCEPTED, None)] * 24
    assert provider.seen == 24


async def test_no_connection_in_time_is_unavailable_and_the_breaker_stays_closed() -> None:
    # The provider's concurrency (10) is above the pool (2): 2 sends hold the connections
    # at a provider that has not answered; the other 8 find none within connect_timeout.
    provider = Server(hold=True)
    table = {"timeout": "20s", "connect_timeout": "100ms", "concurrency": 10}
    async with serving(provider) as url, routed(url, 2, **table) as r:
        tasks = [asyncio.ensure_future(send(r, f"m{i}")) for i in range(10)]
        async with asyncio.timeout(20):
            while sum(t.done() for t in tasks) < 8:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED, timeout=1)
            finished = [t for t in tasks if t.done()]
            waited = [t.result() for t in finished]
            assert provider.seen == 2
            breaker = r.providers["p"].breaker
            assert (breaker.state, breaker.failures) == (BreakerState.CLOSED, 0)
            provider.go.set()
            sent = await asyncio.gather(*(t for t in tasks if t not in finished))
            after = await send(r, "after the burst")
    never_left = [(Outcome.UNAVAILABLE, ErrorKind.BUDGET)] * 8
    assert outcomes(waited) == never_left
    assert all("no connection within 0.1s; not sent" in s[TO].attempts[0].reason for s in waited)
    assert outcomes(sent) == [(Outcome.ACCEPTED, None)] * 2
    assert after.ok
    assert provider.seen == 3


# -- how the Router's own pool is sized ----------------------------------------------------


def sized(providers: dict[str, dict[str, Any]], workers: int = 4) -> int:
    tables = {name: {"plugin": "fake", **table} for name, table in providers.items()}
    config = {"server": {"workers": workers}, "providers": tables}
    return pool_limit(Router(config, plugins=[router.testing], autoload=False).config)


def test_the_pool_is_the_sum_of_the_providers_caps_or_unbounded() -> None:
    assert sized({"a": {"concurrency": 5}, "b": {"concurrency": 1}}) == POOL_FLOOR
    capped = {f"p{i}": {"concurrency": 40} for i in range(4)}
    assert sized(capped) == 160
    assert sized({"a": {}, "b": {"concurrency": 5}}) == UNBOUNDED
    assert sized({"a": {}, "b": {}}, workers=300) == UNBOUNDED
    assert sized({"a": {"concurrency": 5}, "off": {"enabled": False}}) == POOL_FLOOR


async def test_more_sends_at_once_than_a_bounded_pool_held_all_go_out_together() -> None:
    # 150 sends through a provider without a cap, held at the provider until every one has
    # arrived: all 150 are in flight at once. A pool of 100 (aiohttp's default, and this
    # pool's old share) left 50 waiting for a connection until their connect bound ran out.
    provider = Server(hold=True)
    config = {
        "providers": {
            "p": {"plugin": "post", "base_url": "", "connect_timeout": "5s", "timeout": "20s"}
        }
    }
    async with serving(provider) as url:
        config["providers"]["p"]["base_url"] = url
        r = Router(config, plugins=[PostPlugin()], autoload=False)
        await r.start(track_balances=False)
        try:
            tasks = [asyncio.ensure_future(send(r, f"m{i}")) for i in range(150)]
            async with asyncio.timeout(20):
                while provider.seen < 150 and not any(t.done() for t in tasks):  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
                assert provider.seen == 150
                provider.go.set()
                results = await asyncio.gather(*tasks)
        finally:
            await r.aclose()
    assert outcomes(results) == [(Outcome.ACCEPTED, None)] * 150


async def test_the_router_sizes_its_own_pool_and_leaves_a_session_it_was_given() -> None:
    capped = {f"p{i}": {"plugin": "fake", "concurrency": 60} for i in range(3)}
    own = Router({"providers": capped}, plugins=[router.testing], autoload=False)
    await own.start(track_balances=False)
    try:
        session = own.providers["p0"].provider.context.session
        assert isinstance(session.connector, aiohttp.TCPConnector)
        assert (session.connector.limit, session.connector.limit_per_host) == (180, 0)
    finally:
        await own.aclose()
    assert session.closed
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=3)) as given:
        r = Router({"providers": capped}, plugins=[router.testing], session=given, autoload=False)
        await r.start(track_balances=False)
        assert r.providers["p0"].provider.context.session is given
        await r.aclose()
        assert not given.closed
        assert given.connector is not None
        assert given.connector.limit == 3
