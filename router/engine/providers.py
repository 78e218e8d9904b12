"""What the Router holds about each configured provider while it runs."""

from __future__ import annotations

from typing import Any

import attrs

from router.config import ProviderSettings
from router.model import Balance
from router.policy import ProviderView
from router.provider import Provider
from router.state import Breaker, Budget


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
    watched: tuple[object, ...] | None = None
    """The live state remembered decisions were last checked against."""

    @property
    def name(self) -> str:
        """The configured name."""
        return self.settings.name
