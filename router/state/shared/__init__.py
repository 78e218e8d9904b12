"""Live state shared by every instance of a fleet, on Redis (``[state] url = "redis://..."``).

Every provider account has one budget for the whole fleet, and its breakers, balance and
recent pushes are seen by every instance. Keys start with ``[state] prefix``, so fleets
can share one Redis server.

* :mod:`~router.state.shared.budget`: one budget per provider account for the fleet, its
  Lua in :mod:`~router.state.shared.scripts`, its waiters woken and lined up by
  :mod:`~router.state.shared.releases`, its word on Redis in
  :mod:`~router.state.shared.reach`;
* :mod:`~router.state.shared.channel`: the fleet's subscription, and its
  writes in order; the notices instances tell each other (suspensions, opt-outs);
* :mod:`~router.state.shared.breakers`: breakers whose moves reach every instance
  (:mod:`~router.state.shared.moves`: a move as Redis keeps it), one probe at a time
  (:mod:`~router.state.shared.leases`);
* :mod:`~router.state.shared.pushes`: a push reaching two instances is announced once;
* :mod:`~router.state.shared.balances`: one balance poller per provider, read by the rest;
* :mod:`~router.state.shared.problems`: why Redis cannot be reached, for ``/healthz``.
"""

from __future__ import annotations

import uuid

import redis.asyncio as aioredis

from router.clock import Clock
from router.provider import Limits
from router.state.base import LiveState
from router.state.countries import CountryBreakers, CountryListener
from router.state.fleet import BalanceBoard, Notices
from router.state.health import Breaker, BreakerSettings, StateListener
from router.state.limits import Budget
from router.state.repeats import Pushes, RecentPushes
from router.state.shared.balances import RedisBalanceBoard
from router.state.shared.breakers import BreakerBoard
from router.state.shared.budget import LEASE, SharedBudget
from router.state.shared.channel import Channel
from router.state.shared.problems import Problems, url_secrets
from router.state.shared.pushes import RedisPushes
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
        self.origin = uuid.uuid4().hex
        """This instance's id in the fleet (its moves, notices and leases carry it)."""
        self.problems = Problems(url_secrets(url))
        """Why parts of this state cannot reach Redis now: :meth:`problem` says it."""
        self.channel = Channel(
            lambda: self.client, channel=self.key("fleet"), origin=self.origin,
            problems=self.problems,
        )  # fmt: skip
        self._breakers = BreakerBoard(
            self.channel, lambda: self.client, self.key, self.problems, self.origin
        )
        self._pushes = RedisPushes(
            lambda: self.client, self.key, self.problems, RecentPushes(clock=clock)
        )
        self._balances = RedisBalanceBoard(
            lambda: self.client, self.key, self.channel, self.problems, self.origin
        )
        self.reach = Reach(url, self.problems)
        """Whether the server answers to the budgets: every command of theirs reports to it
        (and so to :attr:`problems`)."""
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
        await self.channel.start()  # the breakers' states are read once it is subscribed

    async def close(self) -> None:
        """Close the connection pool."""
        await self.releases.close()
        await self._breakers.stop()
        await self.channel.stop()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def budget(self, provider: str, limits: Limits, *, lease: float | None = None) -> Budget:
        """*provider*'s budget, one for the fleet (:mod:`router.state.shared.budget`).

        *lease* is how long a concurrency slot outlives an instance that died holding it
        (this state's :attr:`lease` unless given).
        """
        return SharedBudget(provider, limits, self, lease=lease or self.lease)

    def breaker(
        self, provider: str, on_change: StateListener, settings: BreakerSettings | None = None
    ) -> Breaker:
        """*provider*'s breaker, in the fleet's state: its moves reach every instance."""
        settings = settings or self.breakers
        return self._breakers.breaker(provider, None, settings, self.clock, on_change)

    def country_breakers(
        self, provider: str, on_change: CountryListener | None = None
    ) -> CountryBreakers:
        """*provider*'s breakers per destination country, each shared like its own."""
        return self._breakers.countries(provider, self.country_settings, self.clock, on_change)

    def pushes(self) -> Pushes:
        """The fleet's recent pushes: each is announced by one instance."""
        return self._pushes

    def notices(self) -> Notices:
        """The fleet's channel: suspensions and opt-outs told to every instance."""
        return self.channel

    def balance_board(self) -> BalanceBoard:
        """The fleet's balances: one poller per provider, read by the others."""
        return self._balances

    def problem(self) -> str | None:
        """Why parts of this state cannot reach Redis now (every failing part), or None."""
        return self.problems.summary()
