"""What the Router holds about each configured provider, and what it explains of a route."""

from __future__ import annotations

from typing import Any

import attrs

from router.config import ProviderSettings
from router.health import Breaker
from router.limits import Budget
from router.model import Balance, Route
from router.policy import ProviderView
from router.provider import Provider


@attrs.define
class ProviderState:
    """One configured provider and everything live about it."""

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

    @property
    def name(self) -> str:
        """The configured name."""
        return self.settings.name


@attrs.frozen
class RoutePlan:
    """What :meth:`Router.route` explains: how the text is sent and each recipient's route."""

    message_id: str
    encoding: str
    segments: int
    routes: tuple[Route, ...]
