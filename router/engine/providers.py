"""What the Router holds about each configured provider while it runs."""

from __future__ import annotations

from typing import Any

import attrs

from router.clock import SystemClock
from router.config import ProviderSettings
from router.model import Balance
from router.policy import ProviderView
from router.provider import Provider
from router.state import Breaker, BreakerSettings, Budget, CountryBreakers


def _countries(state: ProviderState) -> CountryBreakers:
    return CountryBreakers(state.settings.name, BreakerSettings(), SystemClock())


@attrs.define
class ProviderState:
    """One configured provider: its adapter, its live state and the view policies see."""

    settings: ProviderSettings
    provider: Provider[Any]
    budget: Budget
    breaker: Breaker
    index: int
    balance: Balance | None = None
    price_lengths: tuple[int, ...] = ()
    """The lengths of its price prefixes, longest first, computed once."""
    view: tuple[tuple[object, ...], ProviderView] | None = None
    """The last view the policies saw, with the live state it showed."""
    countries: CountryBreakers = attrs.field(default=attrs.Factory(_countries, takes_self=True))
    """Its breakers per destination country."""

    @property
    def name(self) -> str:
        """The configured name."""
        return self.settings.name
