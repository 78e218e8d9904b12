"""The live-state contract, and its implementation in this process's memory."""

from __future__ import annotations

import abc

from router.clock import Clock
from router.provider import Limits
from router.state.countries import CountryBreakers, CountryListener
from router.state.fleet import BalanceBoard, Notices
from router.state.health import Breaker, BreakerSettings, StateListener
from router.state.limits import Budget
from router.state.repeats import Pushes, RecentPushes


class LiveState(abc.ABC):
    """Where a Router keeps each provider account's budget and breakers, and recent pushes.

    The Router asks for a provider's budget and breakers once, when it starts, and for the
    recent pushes once; it never keeps a copy of what they hold.
    """

    clock: Clock
    country_settings: BreakerSettings = BreakerSettings()
    """The settings of every breaker per provider and country."""
    shared: bool = False
    """Whether other router instances share this state (fleet mode)."""

    async def open(self) -> None:  # noqa: B027 - the state in this process has nothing to open
        """Connect to where the state lives; before the first Router uses it."""

    async def close(self) -> None:  # noqa: B027
        """Release the connection; after the last Router is closed."""

    def problem(self) -> str | None:
        """Why the state cannot be reached now (``/healthz`` says it), or None."""
        return None

    @abc.abstractmethod
    def budget(self, provider: str, limits: Limits) -> Budget:
        """The budget of *provider*'s account: every call of it takes a slot there."""

    @abc.abstractmethod
    def breaker(
        self, provider: str, on_change: StateListener, settings: BreakerSettings | None = None
    ) -> Breaker:
        """The circuit breaker of *provider*; *on_change* hears every move."""

    def country_breakers(
        self, provider: str, on_change: CountryListener | None = None
    ) -> CountryBreakers:
        """The breakers of *provider* per destination country; this process's by default."""
        return CountryBreakers(provider, self.country_settings, self.clock, on_change)

    @abc.abstractmethod
    def pushes(self) -> Pushes:
        """The pushes (delivery reports, inbound texts) seen recently, to count each once."""

    def notices(self) -> Notices | None:
        """How this instance tells the others of its fleet (suspensions, opt-outs); None
        when no other instance shares this state."""
        return None

    def balance_board(self) -> BalanceBoard | None:
        """Where the fleet's instances share the balances they poll; None when no other
        instance shares this state (each tracker polls for itself)."""
        return None


class MemoryState(LiveState):
    """Live state in this process: lost on restart, seen by this Router alone."""

    def __init__(
        self,
        clock: Clock,
        breakers: BreakerSettings | None = None,
        countries: BreakerSettings | None = None,
    ) -> None:
        self.clock = clock
        self.breakers = breakers
        """The settings of every provider's own breaker (the defaults when None)."""
        self.country_settings = countries or BreakerSettings()
        self._pushes = RecentPushes(clock=clock)

    def budget(self, provider: str, limits: Limits) -> Budget:
        """A new in-process budget with *limits*."""
        return Budget(provider, limits, self.clock)

    def breaker(
        self, provider: str, on_change: StateListener, settings: BreakerSettings | None = None
    ) -> Breaker:
        """A new in-process breaker, closed, with *settings* or this state's own."""
        return Breaker(provider, settings or self.breakers, clock=self.clock, on_change=on_change)

    def pushes(self) -> RecentPushes:
        """This process's record of recent pushes."""
        return self._pushes
