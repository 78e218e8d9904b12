"""A circuit breaker per provider: stop calling a provider that keeps failing.

Closed: calls go through; ``threshold`` consecutive ``unavailable`` or ``ambiguous``
outcomes open it. Open: no calls until the cooldown ends. Half-open: one probe call goes
through; success closes it (traffic returns to the preferred provider), failure opens it
again for twice the last cooldown, up to ``max_cooldown``. An authentication failure opens
it for ``auth_cooldown`` whatever the state: the credentials will not mend themselves. A
provider that told us to stay away for a while is *held* (:meth:`Breaker.hold`): open for
that long whatever the state, and no answer to a call already under way closes it sooner.

Any other answer (accepted, a rejection, a provider error that is not about login) is the
provider working, and closes it. The open -> half-open move happens when the state is next
read after the cooldown, so the change is reported then.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable

import attrs

from router.clock import Clock, SystemClock
from router.model import ErrorKind, Outcome

log = logging.getLogger("smsrouter.health")

_FAILURES = (Outcome.UNAVAILABLE, Outcome.AMBIGUOUS)


class BreakerState(enum.StrEnum):
    """Where a circuit breaker is."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


_positive = attrs.validators.gt(0.0)


@attrs.frozen
class BreakerSettings:
    """How quickly a breaker opens and how long it stays open (seconds)."""

    threshold: int = attrs.field(default=3, validator=attrs.validators.ge(1))
    """Consecutive failures that open it."""
    cooldown: float = attrs.field(default=30.0, validator=_positive)
    """How long it stays open the first time."""
    max_cooldown: float = attrs.field(default=600.0, validator=_positive)
    """The most a failed probe's doubling may reach."""
    auth_cooldown: float = attrs.field(default=3600.0, validator=_positive)
    """How long a login failure keeps it open."""
    probe_timeout: float = attrs.field(default=300.0, validator=_positive)
    """A half-open probe whose outcome is not recorded by then is presumed lost (its caller
    was cancelled), and another probe may go."""

    def __attrs_post_init__(self) -> None:
        if self.max_cooldown < self.cooldown:
            raise ValueError(
                f"max_cooldown ({self.max_cooldown:g}s) is below cooldown ({self.cooldown:g}s)"
            )


StateListener = Callable[[str, BreakerState, BreakerState], None]
"""Called with the provider name, the old state and the new one."""


class Breaker:
    """The circuit breaker of one provider.

    Args:
        name: the configured provider name.
        settings: thresholds and cooldowns.
        clock: where cooldowns are measured.
        on_change: called on every state change; an error it raises is logged, never
            passed to whoever caused the change.
    """

    def __init__(
        self,
        name: str,
        settings: BreakerSettings | None = None,
        clock: Clock | None = None,
        on_change: StateListener | None = None,
    ) -> None:
        self.name = name
        self.settings = settings or BreakerSettings()
        self.clock = clock or SystemClock()
        self.on_change = on_change
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._cooldown = self.settings.cooldown
        self._open_until = 0.0
        self._probe_since: float | None = None
        self._held_until = 0.0
        self._held_reason = ""

    @property
    def state(self) -> BreakerState:
        """The state now: an open breaker whose cooldown ended reads half-open."""
        if self._state is BreakerState.OPEN and self.clock.time() >= self._open_until:
            self._move(BreakerState.HALF_OPEN)
        return self._state

    @property
    def failures(self) -> int:
        """Consecutive failures counted so far."""
        return self._failures

    @property
    def cooldown(self) -> float:
        """The cooldown of the next opening by failures (doubled by each failed probe)."""
        return self._cooldown

    @property
    def probing(self) -> bool:
        """Whether the half-open probe is out (and not presumed lost)."""
        since = self._probe_since
        return since is not None and self.clock.time() - since < self.settings.probe_timeout

    @property
    def accepting(self) -> bool:
        """Whether a call may go now, without taking the half-open probe."""
        return self.gate()[1]

    def gate(self) -> tuple[BreakerState, bool]:
        """:attr:`state` and :attr:`accepting` now, read together (the state once)."""
        state = self.state
        if state is BreakerState.CLOSED:
            return state, True
        return state, state is BreakerState.HALF_OPEN and not self.probing

    @property
    def retry_in(self) -> float:
        """Seconds until an open breaker lets a probe through (0 unless open)."""
        if self.state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._open_until - self.clock.time())

    @property
    def held(self) -> tuple[float, str] | None:
        """(seconds left, the provider's words) while a :meth:`hold` is in force, else None."""
        left = self._held_until - self.clock.time()
        return (left, self._held_reason) if left > 0 else None

    def hold(self, seconds: float, reason: str) -> None:
        """Open for at least *seconds* whatever the state: the provider asked us to back off.

        Answers to calls already under way do not close it before then; a hold never
        shortens one in force. Then it is half-open as after any cooldown: one probe goes.
        """
        until = self.clock.time() + seconds
        if until > self._held_until:
            self._held_until, self._held_reason = until, reason
        self._probe_since = None
        self._open(seconds)

    def reset(self) -> None:
        """Close it now, forgetting its failures, its doubled cooldown and any hold.

        An operator's word (``POST /v1/providers/NAME/reset``): the provider is mended, or
        is to be tried again at once whatever it said before.
        """
        self._failures = 0
        self._cooldown = self.settings.cooldown
        self._held_until, self._held_reason = 0.0, ""
        self._probe_since = None
        self._move(BreakerState.CLOSED)

    def acquire(self) -> bool:
        """Take permission for one call; in half-open only the one probe gets it.

        Every call that got permission must end in :meth:`record` or :meth:`abandon`.
        """
        if not self.accepting:
            return False
        if self._state is BreakerState.HALF_OPEN:
            self._probe_since = self.clock.time()
        return True

    def abandon(self) -> None:
        """The call permitted by :meth:`acquire` was not made, or its end is unknown."""
        self._probe_since = None

    def record(self, outcome: Outcome, kind: ErrorKind | None = None) -> None:
        """Count the outcome of a call made with :meth:`acquire`."""
        probe = self._state is BreakerState.HALF_OPEN
        self._probe_since = None
        if kind is ErrorKind.AUTH:
            self._failures += 1
            self._open(self.settings.auth_cooldown)
        elif outcome in _FAILURES:
            self._failures += 1
            if probe:
                self._cooldown = min(self._cooldown * 2, self.settings.max_cooldown)
                self._open(self._cooldown)
            elif self._state is BreakerState.CLOSED and self._failures >= self.settings.threshold:
                self._open(self._cooldown)
        else:
            self._failures = 0
            self._cooldown = self.settings.cooldown
            if self.held is None:
                self._move(BreakerState.CLOSED)

    def _open(self, seconds: float) -> None:
        # Never shorter than a hold in force: the provider's word outlasts our own cooldowns.
        self._open_until = max(self.clock.time() + seconds, self._held_until)
        self._move(BreakerState.OPEN)

    def _move(self, new: BreakerState) -> None:
        old, self._state = self._state, new
        if old is new or self.on_change is None:
            return
        try:
            self.on_change(self.name, old, new)
        except Exception:
            log.exception("provider %r: breaker listener failed on %s -> %s", self.name, old, new)
