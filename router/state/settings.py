"""The breakers' settings from the ``[router.breaker]`` and ``[router.country_breaker]``
tables of the config."""

from __future__ import annotations

from router.config import RouterSettings
from router.state.health import BreakerSettings


def breaker_settings(router: RouterSettings) -> tuple[BreakerSettings, BreakerSettings]:
    """The per-provider breaker's settings, and those of each provider-and-country one."""
    own, country = router.breaker, router.country_breaker
    return (
        BreakerSettings(
            threshold=own.threshold,
            cooldown=float(own.cooldown),
            max_cooldown=float(own.max_cooldown),
            auth_cooldown=float(own.auth_cooldown),
            probe_timeout=float(own.probe_timeout),
        ),
        BreakerSettings(
            threshold=country.threshold,
            cooldown=float(country.cooldown),
            max_cooldown=float(country.max_cooldown),
            probe_timeout=float(country.probe_timeout),
        ),
    )
