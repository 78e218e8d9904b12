"""A circuit breaker per provider: stop calling a provider that keeps failing.

Closed: calls go through; consecutive ``unavailable`` or ``ambiguous`` outcomes open it.
Open: no calls until the cooldown ends; each re-opening doubles the cooldown, up to a cap.
Half-open: one probe call goes through; success closes it (traffic returns to the
preferred provider), failure opens it again. An authentication failure opens it for long.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import attrs

from router.clock import Clock, SystemClock
from router.model import ErrorKind, Outcome


class BreakerState(enum.StrEnum):
    """Where a circuit breaker is."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@attrs.frozen
class BreakerSettings:
    """How quickly a breaker opens and how long it stays open."""

    threshold: int = 3
    """Consecutive failures that open it."""
    cooldown: float = 30.0
    max_cooldown: float = 600.0
    auth_cooldown: float = 3600.0


class Breaker:
    """The circuit breaker of one provider."""

    def __init__(
        self,
        name: str,
        settings: BreakerSettings | None = None,
        clock: Clock | None = None,
        on_change: Callable[[str, BreakerState, BreakerState], None] | None = None,
    ) -> None:
        self.name = name
        self.settings = settings or BreakerSettings()
        self.clock = clock or SystemClock()
        self.on_change = on_change
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._cooldown = self.settings.cooldown
        self._open_until = 0.0
        self._probing = False

    @property
    def state(self) -> BreakerState:
        """The state now: an open breaker whose cooldown ended reads half-open."""
        if self._state is BreakerState.OPEN and self.clock.time() >= self._open_until:
            self._move(BreakerState.HALF_OPEN)
        return self._state

    @property
    def accepting(self) -> bool:
        """Whether a call may go now, without taking the half-open probe."""
        state = self.state
        return state is BreakerState.CLOSED or (
            state is BreakerState.HALF_OPEN and not self._probing
        )

    def acquire(self) -> bool:
        """Take permission for one call; in half-open only the one probe gets it."""
        if not self.accepting:
            return False
        if self._state is BreakerState.HALF_OPEN:
            self._probing = True
        return True

    def record(self, outcome: Outcome, kind: ErrorKind | None = None) -> None:
        """Count the outcome of a call made with :meth:`acquire`."""
        self._probing = False
        if kind is ErrorKind.AUTH:
            self._open(self.settings.auth_cooldown)
        elif outcome in (Outcome.UNAVAILABLE, Outcome.AMBIGUOUS):
            self._failures += 1
            if self._state is BreakerState.HALF_OPEN:
                self._cooldown = min(self._cooldown * 2, self.settings.max_cooldown)
                self._open(self._cooldown)
            elif self._failures >= self.settings.threshold:
                self._open(self._cooldown)
        else:
            self._failures = 0
            self._cooldown = self.settings.cooldown
            self._move(BreakerState.CLOSED)

    @property
    def retry_in(self) -> float:
        """Seconds until an open breaker lets a probe through."""
        return (
            max(0.0, self._open_until - self.clock.time())
            if self.state is BreakerState.OPEN
            else 0.0
        )

    def _open(self, seconds: float) -> None:
        self._open_until = self.clock.time() + seconds
        self._move(BreakerState.OPEN)

    def _move(self, new: BreakerState) -> None:
        old, self._state = self._state, new
        if old is not new and self.on_change is not None:
            self.on_change(self.name, old, new)
