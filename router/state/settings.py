"""The live state a config names (``[state]``), and the breakers' settings from the
``[router.breaker]`` and ``[router.country_breaker]`` tables."""

from __future__ import annotations

from router.clock import Clock
from router.config import Config, RouterSettings
from router.errors import ConfigError
from router.state.base import LiveState, MemoryState
from router.state.health import BreakerSettings


def open_state(config: Config, clock: Clock) -> LiveState:
    """The live state ``[state] url`` names: this process's when unset, else Redis's."""
    settings = breaker_settings(config.router)
    url = config.state.url
    if url is None:
        return MemoryState(clock, *settings)
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError([f"state.url: expected redis://, rediss:// or unix://, got {url!r}"])
    try:
        from router.state.shared import RedisState  # the fleet extra: redis-py
    except ImportError as exc:
        raise ConfigError(
            [
                "state.url: a Redis state needs the fleet extra"
                f" (pip install 'smsrouter[fleet]'): {exc}"
            ]
        ) from None
    return RedisState(
        url,
        prefix=config.state.prefix,
        lease=float(config.state.lease),
        clock=clock,
        breakers=settings[0],
        countries=settings[1],
    )


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
