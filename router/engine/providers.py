"""What the Router holds about each configured provider while it runs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import aiohttp
import attrs

from router.clock import SystemClock
from router.config import Config, ProviderSettings
from router.errors import PluginError
from router.model import Balance
from router.plugins import PluginHost
from router.policy import ProviderView, prefix_lengths
from router.provider import Provider, ProviderContext
from router.state import (
    Breaker,
    BreakerSettings,
    BreakerState,
    Budget,
    CountryBreakers,
    LiveState,
    StateListener,
)
from router.store.admin import Suspension


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
    suspended: Suspension | None = None
    """Set while an operator has it suspended: no message is routed to it."""
    view: tuple[tuple[object, ...], ProviderView] | None = None
    """The last view the policies saw, with the live state it showed."""
    countries: CountryBreakers = attrs.field(default=attrs.Factory(_countries, takes_self=True))
    """Its breakers per destination country."""
    watched: tuple[object, ...] | None = None
    """The live state remembered decisions were last checked against."""

    @property
    def name(self) -> str:
        """The configured name."""
        return self.settings.name


def build_adapter(
    cls: type[Provider[Any]],
    settings: ProviderSettings,
    session: aiohttp.ClientSession,
    default_region: str | None,
) -> Provider[Any]:
    """The adapter of one configured provider, its capabilities as its table overrides them.

    Raises:
        PluginError: the adapter's constructor failed (the provider is named).
    """
    common = settings.common
    context = ProviderContext(
        name=settings.name,
        session=session,
        logger=logging.getLogger(f"smsrouter.provider.{settings.name}"),
        default_region=default_region,
        timeout=common.timeout,
        connect_timeout=common.connect_timeout,
    )
    try:
        provider = cls(settings.options, context)
    except Exception as exc:
        raise PluginError(
            f"provider {settings.name!r} ({cls.type_name}) failed to start: {exc}"
        ) from exc
    if common.unicode is not None:
        # A plugin claims what the provider's pages promise; an account may be able to do
        # more (or less), and its table says so.
        provider.capabilities = attrs.evolve(provider.capabilities, unicode=common.unicode)
    return provider


def provider_state(
    cls: type[Provider[Any]],
    settings: ProviderSettings,
    index: int,
    session: aiohttp.ClientSession,
    default_region: str | None,
    live: LiveState,
    on_breaker: StateListener,
    watch: Callable[[str, Callable[[], BreakerState]], None],
) -> ProviderState:
    """One provider's state: its adapter built, its budget and breakers from the *live*
    state (the account's breaker heard by *on_breaker*), watched by the metrics."""
    provider = build_adapter(cls, settings, session, default_region)
    breaker = live.breaker(settings.name, on_breaker)
    watch(settings.name, lambda: breaker.state)
    state = ProviderState(
        settings,
        provider,
        live.budget(settings.name, settings.limits),
        breaker,
        index,
        price_lengths=prefix_lengths(settings.common.prices),
    )
    state.countries = live.country_breakers(settings.name)
    return state


def provider_states(
    config: Config,
    plugins: PluginHost,
    session: aiohttp.ClientSession,
    live: LiveState,
    on_breaker: StateListener,
    watch: Callable[[str, Callable[[], BreakerState]], None],
) -> dict[str, ProviderState]:
    """Every enabled provider's state, by configured name, in config order."""
    states, region = {}, config.router.default_region
    for index, (name, settings) in enumerate(config.providers.items()):
        if settings.common.enabled:
            cls = plugins.providers.get(settings.common.plugin)
            assert cls is not None  # parse_config checked it
            states[name] = provider_state(
                cls, settings, index, session, region, live, on_breaker, watch
            )
    return states
