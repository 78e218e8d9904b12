"""Circuit breakers shared by a fleet: one opens, closes or is reset everywhere at once.

Each instance keeps an ordinary :class:`~router.state.health.Breaker` per provider (and per
provider and country), so the engine asks it synchronously as before. A
:class:`SharedBreaker` publishes each of its own moves (to open, with its cooldown end, its
doubled cooldown and any hold; to close) through the fleet's channel, fire-and-forget and
in order, and applies the moves of the other instances as it hears them. A Lua script
(:mod:`~router.state.shared.moves`) writes a move into ``PREFIX:breakers`` and publishes it,
under a version from one counter: every instance applies the moves in the same order, ends in
the same state, and an instance that starts (or reconnects) reads the hash first.

What is shared is the state, not the count of failures: each instance counts its own
consecutive failures towards the threshold, and a close anywhere clears every count.

Half-open, one probe goes for the whole fleet: an instance lets a call through only while
it holds the probe lease (``PREFIX:probe:...``, :data:`PROBE_LEASE` seconds on the Redis
server's clock, asked for in the background when the breaker is read half-open, kept for
``probe_timeout`` once its probe is out); until then it lets nothing through, as while a
probe is out. Leases are timed on the monotonic clock, as the server times them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from router.clock import Clock
from router.state.countries import CountryBreakers, CountryListener
from router.state.health import Breaker, BreakerSettings, BreakerState, StateListener
from router.state.shared.channel import Channel, as_text
from router.state.shared.leases import RELEASE, TAKE
from router.state.shared.moves import PUBLISH, Snapshot, field
from router.state.shared.problems import Problems

__all__ = ["PROBE_LEASE", "BreakerBoard", "SharedBreaker", "SharedCountryBreakers"]

log = logging.getLogger("smsrouter.health")

PROBE_LEASE = 10.0
"""Seconds an instance holds a half-open breaker's probe turn before its probe goes out."""
RETRY_LEASE = 1.0
"""Seconds before a lease that could not be asked for (Redis away) is asked for again."""


class SharedBreaker(Breaker):
    """A breaker whose moves reach every instance of the fleet (see the module docstring)."""

    def __init__(
        self,
        name: str,
        settings: BreakerSettings | None,
        clock: Clock,
        on_change: StateListener | None,
        *,
        board: BreakerBoard,
        provider: str,
        country: str | None,
        origin: str,
    ) -> None:
        super().__init__(name, settings, clock, on_change)
        self.board = board
        self.provider = provider
        self.country = country
        self.origin = origin
        """Who moved it: this instance and this breaker (two Routers in one process differ)."""
        self.version = 0
        """The version of the last move applied (or made)."""
        self.pending = 0
        """Own moves published whose echo is not heard yet."""
        self.lease_until = 0.0
        """Until when (monotonic) this instance holds the probe lease; 0: it does not."""
        self.lease_asked, self.lease_retry = False, 0.0
        self._applying = False
        self._shared = self.snapshot()

    def snapshot(self) -> Snapshot:
        """The state to share now: half-open shares as open, its cooldown ended."""
        state = BreakerState.CLOSED if self._state is BreakerState.CLOSED else BreakerState.OPEN
        return Snapshot(
            state, self._cooldown, self._open_until, self._held_until, self._held_reason
        )

    def holds_probe(self) -> bool:
        """Whether this instance holds the probe lease now."""
        return time.monotonic() < self.lease_until

    def gate(self) -> tuple[BreakerState, bool]:
        state, accepting = super().gate()
        if state is BreakerState.HALF_OPEN and accepting and not self.holds_probe():
            self.board.ask_probe(self)
            return state, False
        return state, accepting

    def acquire(self) -> bool:
        took = super().acquire()
        if took and self._state is BreakerState.HALF_OPEN:
            self.board.keep_probe(self)  # the probe is out: nobody else's until its end
        return took

    def _move(self, new: BreakerState) -> None:
        super()._move(new)
        if self._applying or new is BreakerState.HALF_OPEN:
            return
        shared = self.snapshot()
        if shared == self._shared:
            return
        self._shared = shared
        self.pending += 1
        self.board.publish(self, shared)
        self._drop_lease()

    def apply(self, version: int, shared: Snapshot, origin: str) -> None:
        """Apply move *version* heard from the fleet (or read at start), if it is new."""
        if version <= self.version:
            return
        self.version = version
        if origin == self.origin:
            self.pending = max(0, self.pending - 1)
            if self.pending:
                return  # a later move of ours is on its way: it is the one to keep
        if shared == self.snapshot():
            self._shared = shared
            return
        now = self.clock.time()
        self._cooldown, self._open_until = shared.cooldown, shared.open_until
        self._held_until, self._held_reason = shared.held_until, shared.held_reason
        self._shared = shared
        new = shared.state
        if new is BreakerState.CLOSED:
            self._failures = 0
        elif self._state is BreakerState.HALF_OPEN and now >= shared.open_until:
            new = BreakerState.HALF_OPEN  # still half-open: the cooldown ended here too
        if new is not self._state:
            self._probe_since = None
        self._applying = True
        try:
            self._move(new)
        finally:
            self._applying = False
        if new is not BreakerState.HALF_OPEN:
            self._drop_lease()

    def _drop_lease(self) -> None:
        if self.lease_until:
            self.lease_until = 0.0
            self.board.release_probe(self)


class SharedCountryBreakers(CountryBreakers):
    """A provider's breakers per country, each a :class:`SharedBreaker`."""

    def __init__(
        self,
        provider: str,
        settings: BreakerSettings,
        clock: Clock,
        on_change: CountryListener | None,
        *,
        board: BreakerBoard,
    ) -> None:
        super().__init__(provider, settings, clock, on_change)
        self.board = board

    def breaker(self, country: str) -> Breaker:
        found = self._breakers.get(country)
        if found is None:
            found = self._breakers[country] = self.board.breaker(
                self.provider,
                country,
                self.settings,
                self.clock,
                lambda _, old, new: self._moved(country, old, new),
            )
        return found


class BreakerBoard:
    """Every shared breaker of one instance: publishes their moves, applies the fleet's.

    Args:
        channel: the fleet's channel (writes in order, the subscription).
        client: gives the connection pool.
        key: makes a key under the fleet's prefix.
        problems: where a failure to reach Redis is said.
        origin: this instance's id.
    """

    def __init__(
        self,
        channel: Channel,
        client: Callable[[], aioredis.Redis],
        key: Callable[..., str],
        problems: Problems,
        origin: str,
    ) -> None:
        self.channel = channel
        self.client = client
        self.key = key
        self.problems = problems
        self.origin = origin
        self._made = 0
        self._breakers: dict[str, weakref.WeakSet[SharedBreaker]] = {}
        self._countries: dict[str, weakref.WeakSet[SharedCountryBreakers]] = {}
        self._known: dict[str, tuple[int, Snapshot, str]] = {}
        """The latest move of every breaker of the fleet, made here or not: (version,
        state, origin), by field."""
        self._tasks: set[asyncio.Task[None]] = set()
        channel.handle("breaker", self._heard)
        channel.on_connect(self.load)

    # -- making breakers --------------------------------------------------------------------

    def breaker(
        self,
        provider: str,
        country: str | None,
        settings: BreakerSettings | None,
        clock: Clock,
        on_change: StateListener | None,
    ) -> SharedBreaker:
        """A new shared breaker, in the fleet's state for it when it has one."""
        self._made += 1
        name = provider if country is None else f"{provider} to {country}"
        made = SharedBreaker(
            name,
            settings,
            clock,
            on_change,
            board=self,
            provider=provider,
            country=country,
            origin=f"{self.origin}/{self._made}",
        )
        at = field(provider, country)
        self._breakers.setdefault(at, weakref.WeakSet()).add(made)
        known = self._known.get(at)
        if known is not None:
            made.apply(*known)
        return made

    def countries(
        self,
        provider: str,
        settings: BreakerSettings,
        clock: Clock,
        on_change: CountryListener | None,
    ) -> SharedCountryBreakers:
        """*provider*'s breakers per country, those not closed in the fleet made at once."""
        made = SharedCountryBreakers(provider, settings, clock, on_change, board=self)
        self._countries.setdefault(provider, weakref.WeakSet()).add(made)
        for at, (_, shared, _) in list(self._known.items()):
            name, country = json.loads(at)
            if name == provider and country is not None and shared.state is BreakerState.OPEN:
                made.breaker(country)
        return made

    # -- the fleet's moves ------------------------------------------------------------------

    async def load(self) -> None:
        """Read every breaker's state (at start and after a reconnect: moves were missed)."""
        found = await self.client().hgetall(self.key("breakers"))
        # Redis's word wins, even at a lower version (a server restarted without its data).
        self._known.clear()
        for breakers in self._breakers.values():
            for each in breakers:
                each.version = each.pending = 0
        for at, body in found.items():
            self._heard(as_text(body), as_text(at))

    def _heard(self, body: str, at: str | None = None) -> None:
        version_text, _, text = body.partition(" ")
        data = json.loads(text)
        version, shared, origin = int(version_text), Snapshot.load(data), str(data["o"])
        provider, country = str(data["p"]), data["c"]
        at = at or field(provider, country)
        known = self._known.get(at)
        if known is None or known[0] < version:
            self._known[at] = (version, shared, origin)
        breakers = self._breakers.get(at)
        if not breakers and country is not None and shared.state is BreakerState.OPEN:
            for countries in list(self._countries.get(provider, ())):
                countries.breaker(str(country))  # made in the fleet's state
            return
        for each in list(breakers or ()):
            each.apply(version, shared, origin)

    def publish(self, breaker: SharedBreaker, shared: Snapshot) -> None:
        """Write *breaker*'s move and announce it, after every write queued before it."""
        at = field(breaker.provider, breaker.country)
        body = shared.dump(breaker.provider, breaker.country, breaker.origin)
        keys = (self.key("breaker-version"), self.key("breakers"))
        channel = self.channel.channel
        self.channel.write(lambda client: client.eval(PUBLISH, 2, *keys, at, body, channel))

    # -- the probe lease --------------------------------------------------------------------

    def _lease_key(self, breaker: SharedBreaker) -> str:
        if breaker.country is None:
            return self.key("probe", breaker.provider)
        return self.key("probe", breaker.provider, breaker.country)

    def ask_probe(self, breaker: SharedBreaker) -> None:
        """Ask for *breaker*'s probe lease in the background (once at a time, not too often)."""
        if breaker.lease_asked or time.monotonic() < breaker.lease_retry:
            return
        breaker.lease_asked = True
        self._spawn(self._take(breaker, min(PROBE_LEASE, breaker.settings.probe_timeout)))

    def keep_probe(self, breaker: SharedBreaker) -> None:
        """Hold *breaker*'s lease for as long as its probe may take."""
        breaker.lease_until = time.monotonic() + breaker.settings.probe_timeout
        self._spawn(self._take(breaker, breaker.settings.probe_timeout))

    def release_probe(self, breaker: SharedBreaker) -> None:
        """Let another instance take *breaker*'s lease, once its move is written."""
        key, owner = self._lease_key(breaker), breaker.origin
        self.channel.write(lambda client: client.eval(RELEASE, 1, key, owner))

    async def _take(self, breaker: SharedBreaker, seconds: float) -> None:
        started = time.monotonic()
        try:
            left = await self.client().eval(
                TAKE, 1, self._lease_key(breaker), breaker.origin, max(1, int(seconds * 1000))
            )
        except (RedisError, OSError) as exc:
            self.problems.fail("probe leases", exc)
            breaker.lease_retry = time.monotonic() + RETRY_LEASE
            return
        finally:
            breaker.lease_asked = False
        self.problems.ok("probe leases")
        if int(left) == -1:
            breaker.lease_until = max(breaker.lease_until, started + seconds)
        else:  # another instance's: ask again when it ends
            breaker.lease_until = 0.0
            breaker.lease_retry = time.monotonic() + max(0.05, int(left) / 1000)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # read outside the event loop: no lease asked for, none held
            work.close()
            return
        task = loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Stop the lease requests under way."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
