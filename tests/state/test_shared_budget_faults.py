"""The fleet's budget when things fail: an instance killed holding a slot, Redis gone.

A dead instance is a real process, SIGKILLed while its call holds the one slot: nothing of
it is left to give the slot back, and the slot comes back when its lease expires on the
Redis server. Redis going away is a loopback proxy in front of the real server, closed and
opened again on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
import textwrap
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from redis.exceptions import RedisError

from router.clock import SystemClock
from router.errors import ProviderUnavailableError
from router.model import ErrorKind
from router.provider import Limits, Operation, Rate
from router.state.shared import RedisState

SEND, BALANCE = Operation.SEND, Operation.BALANCE
LEASE = 1.5

HOLDER = textwrap.dedent(
    """
    import asyncio, sys
    from router.clock import SystemClock
    from router.provider import Limits, Operation
    from router.state.shared import RedisState

    async def main(url, prefix, lease):
        state = RedisState(url, prefix=prefix, clock=SystemClock())
        await state.open()
        budget = state.budget("office", Limits(concurrency=1, wait=5), lease=lease)
        async with budget.slot(Operation.SEND):
            print("holding", flush=True)
            await asyncio.sleep(3600)

    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
    """
)


async def test_the_slot_of_a_killed_instance_comes_back_when_its_lease_expires(
    redis_url: str, redis_prefix: str
) -> None:
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLDER,
        redis_url,
        redis_prefix,
        str(LEASE),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        async with asyncio.timeout(30):
            assert await holder.stdout.readline() == b"holding\n"
    finally:
        holder.send_signal(signal.SIGKILL)
        await holder.wait()
    state = RedisState(redis_url, prefix=redis_prefix, clock=SystemClock())
    await state.open()
    try:
        leases = state.key("budget", "office", "leases")
        assert await state.client.zcard(leases) == 1  # the dead call's lease is still there
        hasty = state.budget("office", Limits(concurrency=1, wait=0.1), lease=LEASE)
        with pytest.raises(ProviderUnavailableError, match="1 calls in flight in the fleet"):
            async with hasty.slot(SEND):
                pytest.fail("a second connection while the dead instance's lease runs")
        patient = state.budget("office", Limits(concurrency=1, wait=10), lease=LEASE)
        async with patient.slot(SEND):
            assert await state.client.zcard(leases) == 1  # ours alone
    finally:
        await state.close()


async def test_a_long_call_renews_its_lease(redis_url: str, redis_prefix: str) -> None:
    states = [RedisState(redis_url, prefix=redis_prefix, clock=SystemClock()) for _ in "ab"]
    for state in states:
        await state.open()
    try:
        limits = Limits(concurrency=1, rates={SEND: Rate(10, 0.1)}, wait=0.05)
        a, b = (state.budget("office", limits, lease=0.6) for state in states)
        async with a.slot(SEND):
            for _ in range(4):  # twice the lease: renewed, so still the only one
                await asyncio.sleep(0.3)
                with pytest.raises(ProviderUnavailableError, match="in flight in the fleet"):
                    async with b.slot(SEND):
                        pytest.fail("a second connection while a long call lasts")
        async with b.slot(SEND):
            pass
    finally:
        for state in states:
            await state.close()


# -- Redis unreachable ---------------------------------------------------------------------


class Proxy:
    """A TCP proxy on a loopback port to the Redis server, closed and opened at will."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 6379)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True
        )

    async def stop(self) -> None:
        """Close the port and cut every connection through it."""
        if self._server is not None:
            self._server.close()
            for writer in list(self._open):
                writer.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._open |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            self._open -= {writer, up_writer}


@pytest.fixture
async def proxy(redis_url: str) -> AsyncIterator[Proxy]:
    proxied = Proxy(redis_url)
    await proxied.start()
    yield proxied
    await proxied.stop()


async def test_redis_gone_fails_calls_as_unavailable_until_it_answers_again(
    proxy: Proxy, redis_prefix: str
) -> None:
    state = RedisState(proxy.url, prefix=redis_prefix, clock=SystemClock())
    await state.open()
    try:
        budget = state.budget("office", Limits(concurrency=1, wait=1))
        async with budget.slot(SEND):
            pass
        assert state.problem() is None
        await proxy.stop()
        for operation in (SEND, BALANCE):
            with pytest.raises(ProviderUnavailableError) as caught:
                async with budget.slot(operation):
                    pytest.fail("a call that no shared budget admitted")
            assert "shared state on Redis cannot be reached" in str(caught.value)
            assert (caught.value.provider, caught.value.kind) == ("office", ErrorKind.BUDGET)
        problem = state.problem()
        assert problem is not None
        assert "cannot be reached" in problem
        assert (budget.in_flight, budget.waiting) == (0, 0)
        await proxy.start()
        async with asyncio.timeout(10):
            while True:  # the pool may hand out a connection cut while the port was shut
                with contextlib.suppress(ProviderUnavailableError):
                    async with budget.slot(SEND):
                        break
        assert state.problem() is None
    finally:
        await state.close()


async def test_a_call_under_way_when_redis_goes_is_not_failed_by_it(
    proxy: Proxy, redis_url: str, redis_prefix: str
) -> None:
    state = RedisState(proxy.url, prefix=redis_prefix, clock=SystemClock())
    await state.open()
    try:
        limits = Limits(concurrency=1, rates={SEND: Rate(5, 0.2)}, wait=0.1)
        budget = state.budget("office", limits, lease=LEASE)
        async with budget.slot(SEND):
            await proxy.stop()  # the release cannot be sent: logged, not raised
        assert state.problem() is not None
        assert budget.in_flight == 0
    finally:
        await state.close()
    # The slot it could not give back is free once its lease expires on the server.
    direct = RedisState(redis_url, prefix=redis_prefix, clock=SystemClock())
    await direct.open()
    try:
        patient = direct.budget("office", Limits(concurrency=1, wait=10), lease=LEASE)
        async with patient.slot(SEND):
            pass
    finally:
        await direct.close()


async def test_a_password_never_shows_in_the_problem(redis_prefix: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the probe is
    url = f"redis://user:s3cret-pw@127.0.0.1:{port}/0"
    state = RedisState(url, prefix=redis_prefix, clock=SystemClock())
    with pytest.raises(RedisError):
        await state.open()
    budget = state.budget("office", Limits(wait=0.1))
    with pytest.raises(ProviderUnavailableError) as caught:
        async with budget.slot(SEND):
            pytest.fail("a call with no shared state")
    problem = state.problem()
    assert problem is not None
    assert "cannot be reached" in problem
    assert "s3cret-pw" not in problem + str(caught.value) + repr(state)
    await state.close()
