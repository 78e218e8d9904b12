"""Live state shared by every instance of a fleet, on Redis (``[state] url = "redis://..."``).

Every provider account has one budget for the whole fleet, and its breakers, balance and
recent pushes are seen by every instance. Keys start with ``[state] prefix``, so fleets
can share one Redis server.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from router.clock import Clock
from router.provider import Limits
from router.state.base import LiveState
from router.state.countries import CountryBreakers, CountryListener
from router.state.health import Breaker, BreakerSettings, StateListener
from router.state.limits import Budget
from router.state.repeats import RecentPushes
from router.state.shared.budget import LEASE, SharedBudget
from router.state.shared.reach import Reach
from router.state.shared.releases import Releases

__all__ = ["RedisState"]


class RedisState(LiveState):
    """Live state on a Redis server, shared by every instance using the same prefix."""

    shared = True

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        clock: Clock,
        breakers: BreakerSettings | None = None,
        countries: BreakerSettings | None = None,
        lease: float = LEASE,
    ) -> None:
        self.url = url
        self.lease = lease
        """How long a concurrency slot outlives an instance that died holding it (``[state]
        lease``)."""
        self.prefix = prefix
        self.clock = clock
        self.breakers = breakers
        self.country_settings = countries or BreakerSettings()
        self._client: aioredis.Redis | None = None
        self._pushes = RecentPushes(clock=clock)
        self.reach = Reach(url)
        """Whether the server answers: every command reports to it."""
        self.releases = Releases(self)
        """Wakes the budgets' waiters when a slot is given back anywhere in the fleet."""

    def __repr__(self) -> str:
        return f"RedisState(prefix={self.prefix!r})"  # the URL may carry a password

    def key(self, *parts: str) -> str:
        """The key of *parts* under this fleet's prefix."""
        return ":".join((self.prefix, *parts))

    @property
    def client(self) -> aioredis.Redis:
        """The connection pool, once :meth:`open` has made it."""
        assert self._client is not None, "RedisState.open() first"
        return self._client

    async def open(self) -> None:
        """Make the connection pool and check that the server answers."""
        self._client = aioredis.from_url(self.url, socket_connect_timeout=5, socket_timeout=5)
        await self._client.ping()

    async def close(self) -> None:
        """Close the connection pool."""
        await self.releases.close()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def problem(self) -> str | None:
        """Why the last command to Redis failed, until one succeeds again; else None."""
        return self.reach.problem

    def budget(self, provider: str, limits: Limits, *, lease: float | None = None) -> Budget:
        """*provider*'s budget, one for the fleet (:mod:`router.state.shared.budget`).

        *lease* is how long a concurrency slot outlives an instance that died holding it
        (this state's :attr:`lease` unless given).
        """
        return SharedBudget(provider, limits, self, lease=lease or self.lease)

    def breaker(
        self, provider: str, on_change: StateListener, settings: BreakerSettings | None = None
    ) -> Breaker:
        """*provider*'s breaker."""
        return Breaker(provider, settings or self.breakers, clock=self.clock, on_change=on_change)

    def country_breakers(
        self, provider: str, on_change: CountryListener | None = None
    ) -> CountryBreakers:
        """*provider*'s breakers per destination country."""
        return CountryBreakers(provider, self.country_settings, self.clock, on_change)

    def pushes(self) -> RecentPushes:
        """The recent pushes."""
        return self._pushes
