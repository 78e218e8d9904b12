"""Circuit breakers per provider and destination country, beside each provider's own.

A provider failing to one country (its route there is down, that country's numbers time
out) is held for that country alone: the per-provider breaker
(:mod:`router.state.health`) stays for failures of the whole account. Each country's
breaker is an ordinary :class:`~router.state.health.Breaker`, made the first time a send to
that country is counted, and follows the same closed / open / half-open rules.

What counts against a country: a provider error that is not about the account (login,
credit, throttling are the account's), an ``unavailable`` or an ``ambiguous`` answer for a
recipient there. Any other answer for a recipient there closes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from router.clock import Clock
from router.model import ErrorKind, Outcome, RecipientOutcome
from router.state.health import Breaker, BreakerSettings, BreakerState

log = logging.getLogger("smsrouter.health")

CountryListener = Callable[[str, str, BreakerState, BreakerState], None]
"""Called with the provider name, the country, the old state and the new one."""

_ACCOUNT_KINDS = frozenset({ErrorKind.AUTH, ErrorKind.CREDIT, ErrorKind.THROTTLED})
_FAILURES = frozenset({Outcome.PROVIDER_ERROR, Outcome.UNAVAILABLE, Outcome.AMBIGUOUS})
_NONE: dict[str, str] = {}


def account_signal(outcomes: Iterable[RecipientOutcome]) -> tuple[Outcome, ErrorKind | None]:
    """One outcome for the provider's own breaker from a batch: any answer is the provider
    working."""
    seen = list(outcomes)
    if any(o.kind is ErrorKind.AUTH for o in seen):
        return Outcome.PROVIDER_ERROR, ErrorKind.AUTH
    for outcome in seen:
        if outcome.outcome not in (Outcome.UNAVAILABLE, Outcome.AMBIGUOUS):
            return outcome.outcome, None
    return (seen[0].outcome if seen else Outcome.UNAVAILABLE), None


def country_signal(outcome: Outcome, kind: ErrorKind | None) -> Outcome | None:
    """What one recipient's outcome tells its country's breaker; None: nothing (the account
    or our own budget was at fault, not the route to that country)."""
    if kind is ErrorKind.BUDGET or kind in _ACCOUNT_KINDS:
        return None
    return Outcome.UNAVAILABLE if outcome in _FAILURES else outcome


class CountryBreakers:
    """The breakers of one provider, one per destination country.

    Args:
        provider: the configured provider name.
        settings: thresholds and cooldowns of every country's breaker.
        clock: where cooldowns are measured.
        on_change: hears every move of any country's breaker.
    """

    def __init__(
        self,
        provider: str,
        settings: BreakerSettings,
        clock: Clock,
        on_change: CountryListener | None = None,
    ) -> None:
        self.provider = provider
        self.settings = settings
        self.clock = clock
        self.on_change = on_change
        self._breakers: dict[str, Breaker] = {}
        self._unsettled: set[str] = set()
        """Countries whose breaker is not closed: the only ones a route must look at."""

    def __len__(self) -> int:
        return len(self._breakers)

    def breaker(self, country: str) -> Breaker:
        """The breaker for *country*, closed when new."""
        found = self._breakers.get(country)
        if found is None:
            found = self._breakers[country] = Breaker(
                f"{self.provider} to {country}",
                self.settings,
                self.clock,
                lambda _, old, new: self._moved(country, old, new),
            )
        return found

    def known(self) -> list[str]:
        """Every country a breaker was made for."""
        return list(self._breakers)

    def states(self) -> dict[str, BreakerState]:
        """Every country's breaker state that is not closed, by country."""
        found = {c: self._breakers[c].state for c in sorted(self._unsettled)}
        return {c: s for c, s in found.items() if s is not BreakerState.CLOSED}

    def closed_to(self) -> dict[str, str]:
        """The countries this provider may not be sent to now (their breaker lets no call),
        with that breaker's state."""
        if not self._unsettled:
            return _NONE
        found = {}
        for country in sorted(self._unsettled):
            breaker = self._breakers[country]
            if not breaker.accepting:
                found[country] = breaker.state.value
        return found

    def acquire(self, country: str) -> bool:
        """Take permission for one recipient in *country* (in half-open, only the probe)."""
        if country not in self._unsettled:
            return True  # closed or never seen: no breaker to ask
        return self.breaker(country).acquire()

    def record(self, country: str, outcome: Outcome, kind: ErrorKind | None) -> None:
        """Count the outcome of a send to *country* permitted by :meth:`acquire`."""
        signal = country_signal(outcome, kind)
        if signal is None:
            self.abandon(country)
        elif signal is Outcome.UNAVAILABLE or country in self._breakers:
            self.breaker(country).record(signal)

    def abandon(self, country: str) -> None:
        """The send permitted by :meth:`acquire` was not counted."""
        found = self._breakers.get(country)
        if found is not None:
            found.abandon()

    def _moved(self, country: str, old: BreakerState, new: BreakerState) -> None:
        log.info("provider %r: circuit breaker for %s %s -> %s", self.provider, country, old, new)
        if new is BreakerState.CLOSED:
            self._unsettled.discard(country)
        else:
            self._unsettled.add(country)
        if self.on_change is not None:
            self.on_change(self.provider, country, old, new)
