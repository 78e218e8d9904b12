"""Redis going away and coming back, as one instance sees it: through a link a test cuts.

While the instance cannot reach Redis, ``problem()`` says why (never with the URL's
password), recent pushes are answered from its own memory, and its breakers' moves wait in
order; when Redis is back, the subscription reconnects, reads the moves it missed, and what
waited is written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

import pytest

from router.model import Outcome
from router.state import BreakerSettings, BreakerState
from router.state.shared import RedisState
from router.state.shared.problems import Problems, url_secrets
from router.testing import FakeClock
from tests.link import Link
from tests.state.shared_support import shared, until

SETTINGS = BreakerSettings(threshold=1, cooldown=30.0)


async def until_back(condition: Callable[[], bool]) -> None:
    """:func:`until`, with the time a reconnection takes (about 10 s at most)."""
    await until(condition, within=10.0)


@pytest.fixture
async def link(redis_url: str) -> AsyncIterator[Link]:
    """A link to the Redis server, which the test cuts and restores."""
    parts = urlsplit(redis_url)
    found = Link(parts.hostname or "127.0.0.1", parts.port or 6379)
    await found.restore()
    yield found
    await found.cut()


async def test_an_instance_cut_off_says_why_falls_back_and_catches_up(
    link: Link, redis_url: str, redis_prefix: str, clock: FakeClock
) -> None:
    through = urlsplit(redis_url)._replace(netloc=f"127.0.0.1:{link.port}").geturl()
    cut_off = RedisState(through, prefix=redis_prefix, clock=clock, breakers=SETTINGS)
    other = RedisState(redis_url, prefix=redis_prefix, clock=clock, breakers=SETTINGS)
    await cut_off.open()
    await other.open()
    try:
        a, b = cut_off.breaker("smsc", lambda *_: None), other.breaker("smsc", lambda *_: None)
        second = cut_off.breaker("smscentral", lambda *_: None)
        assert cut_off.problem() is None
        assert await cut_off.pushes().first_time(("smsc", "1"))

        await link.cut()
        await until_back(lambda: cut_off.problem() is not None)
        problem = cut_off.problem()
        assert problem is not None
        assert problem.startswith("the shared state on Redis cannot be reached (subscription: ")
        # Its own memory answers for pushes; the fleet's record is out of reach.
        assert await cut_off.pushes().first_time(("smsc", "2"))
        assert not await cut_off.pushes().first_time(("smsc", "2"))
        assert "recent pushes: " in (cut_off.problem() or "")
        b.record(Outcome.UNAVAILABLE)  # moves it cannot hear now
        second.record(Outcome.UNAVAILABLE)  # and one it cannot tell
        assert a.state is BreakerState.CLOSED

        await link.restore()
        await until_back(lambda: a.state is BreakerState.OPEN)  # read on reconnecting
        other_second = other.breaker("smscentral", lambda *_: None)
        await until_back(lambda: other_second.state is BreakerState.OPEN)  # written once back
        await until_back(lambda: cut_off.problem() is None)
        assert cut_off.channel.connects >= 2
        assert not await other.pushes().first_time(("smsc", "1"))
    finally:
        await cut_off.close()
        await other.close()


def test_a_reason_never_shows_the_url_s_password() -> None:
    problems = Problems(url_secrets("redis://fleet:s3cr%40t@127.0.0.1:6379/0"))
    problems.fail("budgets", ConnectionError("AUTH s3cr@t refused for fleet"))
    problems.fail("writes", "s3cr@t was wrong")
    summary = problems.summary()
    assert summary is not None
    assert "s3cr@t" not in summary
    budgets = "budgets: ConnectionError: AUTH *** refused for ***"
    assert (
        summary == f"the shared state on Redis cannot be reached ({budgets}; writes: *** was wrong)"
    )
    problems.ok("budgets")
    problems.ok("writes")
    assert problems.summary() is None


async def test_a_redis_that_lost_its_data_is_believed_after_a_reconnect(
    link: Link, redis_url: str, redis_prefix: str, clock: FakeClock
) -> None:
    through = urlsplit(redis_url)._replace(netloc=f"127.0.0.1:{link.port}").geturl()
    cut_off = RedisState(through, prefix=redis_prefix, clock=clock, breakers=SETTINGS)
    other = RedisState(redis_url, prefix=redis_prefix, clock=clock, breakers=SETTINGS)
    await cut_off.open()
    await other.open()
    try:
        a, b = cut_off.breaker("smsc", lambda *_: None), other.breaker("smsc", lambda *_: None)
        for _ in range(3):
            b.record(Outcome.UNAVAILABLE)
            b.reset()
        b.record(Outcome.UNAVAILABLE)
        await other.channel.flush()
        await until_back(lambda: shared(a).version == 7)
        await link.cut()
        # The server restarts empty: its version counter starts again below what a heard.
        await other.client.delete(other.key("breakers"), other.key("breaker-version"))
        await link.restore()
        await until_back(lambda: cut_off.channel.connects >= 2)
        b.reset()  # version 1 now
        await until_back(lambda: a.state is BreakerState.CLOSED)
    finally:
        await cut_off.close()
        await other.close()
