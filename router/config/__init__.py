"""Configuration: one TOML file, validated by one strict converter into frozen attrs classes.

:func:`read_toml` reads the file, :func:`parse_config` validates it against the loaded
plugins (every problem at once, each named by its TOML path), and the settings classes
are what the rest of the router reads. :func:`make_config_converter` is the strict
converter itself, for plugin ``Config`` classes and their tests.
"""

from router.config.converter import Duration, make_config_converter, parse_duration
from router.config.files import read_toml
from router.config.parse import parse_config, parse_rate
from router.config.settings import (
    MIN_WEBHOOK_SECRET,
    BreakerConfig,
    Config,
    CountryBreakerConfig,
    ProviderCommon,
    ProviderSettings,
    QualitySettings,
    RouterSettings,
    ServerSettings,
    StateSettings,
    StoreSettings,
    WebhookSettings,
)

__all__ = [
    "MIN_WEBHOOK_SECRET",
    "BreakerConfig",
    "Config",
    "CountryBreakerConfig",
    "Duration",
    "ProviderCommon",
    "ProviderSettings",
    "QualitySettings",
    "RouterSettings",
    "ServerSettings",
    "StateSettings",
    "StoreSettings",
    "WebhookSettings",
    "make_config_converter",
    "parse_config",
    "parse_duration",
    "parse_rate",
    "read_toml",
]
