"""Configuration: one TOML file into frozen attrs classes through one strict converter.

Strict means: an unknown key is an error, ``"no"`` is not a bool, ``"1"`` is not a number,
a missing ``${NAME}`` secret is an error; and every problem is reported at once, each as
``path: message`` (``providers.office.prices."27": expected a number, got 'cheap'``).
Each provider table names its ``plugin`` and holds that plugin's own keys beside the keys
every provider shares; the plugin's ``Config`` class validates its part.
"""

from __future__ import annotations

import enum
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import attrs
import cattrs
from cattrs.errors import ForbiddenExtraKeysError
from cattrs.preconf.tomllib import make_converter

from router.errors import ConfigError
from router.plugins import PluginHost
from router.provider import Limits, Operation, Rate
from router.redact import Secret


class Duration(float):
    """Seconds, written in config as ``"500ms"``, ``"30s"``, ``"5m"``, ``"1h"`` or ``"1d"``."""


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(.+)$")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def parse_duration(text: str) -> Duration:
    """``"5m"`` -> 300.0; raises ValueError naming the accepted forms."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f'expected a duration like "30s", "5m" or "500ms", got {text!r}')
    return Duration(float(match.group(1)) * _UNITS[match.group(2)])


def parse_rate(text: str) -> Rate:
    """``"10/1m"`` -> at most 10 calls in any minute."""
    match = _RATE.match(text)
    if not match:
        raise ValueError(f'expected a rate like "10/1m" (calls per duration), got {text!r}')
    calls = int(match.group(1))
    if calls < 1:
        raise ValueError(f"a rate allows at least one call, got {text!r}")
    return Rate(calls, parse_duration(match.group(2)))


@attrs.frozen
class RouterSettings:
    """The ``[router]`` table."""

    default_region: str | None = None
    """ISO country whose national number forms are accepted (``AU``); None for E.164 only."""
    policy: tuple[str, ...] = ("priority",)
    max_attempts: int = attrs.field(default=3, validator=attrs.validators.ge(1))
    on_ambiguous: Literal["stop", "failover"] = "stop"
    base_currency: str = "AUD"
    currencies: dict[str, Decimal] = attrs.field(factory=dict)
    hook_timeout: Duration = Duration(5.0)
    plugins: tuple[str, ...] = ()
    """Modules to import and register as plugins, by dotted name, beside the installed ones."""
    blocked_plugins: tuple[str, ...] = ()
    balance_stale_after: Duration = Duration(900.0)
    """A balance older than this is unknown to the policies."""


@attrs.frozen
class ServerSettings:
    """The ``[server]`` table: the daemon's HTTP side."""

    listen: str = "127.0.0.1:8080"
    api_tokens: tuple[Secret, ...] = ()
    callback_secret: Secret | None = None
    max_body: int = attrs.field(default=1_048_576, validator=attrs.validators.ge(1024))
    workers: int = attrs.field(default=4, validator=attrs.validators.ge(1))
    shutdown_timeout: Duration = Duration(30.0)


@attrs.frozen
class StoreSettings:
    """The ``[store]`` table: where the journal lives (``memory:`` or ``sqlite:///path``).

    Unset, the library keeps its journal in memory and the daemon in ``smsrouter.db``.
    """

    url: str | None = None


@attrs.frozen
class ProviderCommon:
    """The keys every provider table has beside its plugin's own."""

    plugin: str
    enabled: bool = True
    prefixes: tuple[str, ...] = ()
    currency: str = "AUD"
    prices: dict[str, Decimal] = attrs.field(factory=dict)
    priority: int | None = None
    balance_interval: Duration = Duration(300.0)
    timeout: Duration = Duration(30.0)
    concurrency: int | None = None
    rates: dict[Operation, str] = attrs.field(factory=dict)
    limit_wait: Duration | None = None


@attrs.frozen
class ProviderSettings:
    """One configured provider: its name, shared keys, limits and its plugin's options."""

    name: str
    common: ProviderCommon
    options: Any
    limits: Limits


@attrs.frozen
class Config:
    """The whole configuration, validated."""

    router: RouterSettings = RouterSettings()
    server: ServerSettings = ServerSettings()
    store: StoreSettings = StoreSettings()
    providers: dict[str, ProviderSettings] = attrs.field(factory=dict)
    policies: dict[str, Any] = attrs.field(factory=dict)
    """Each chained policy's options, by policy name."""


@attrs.frozen
class _Raw:
    router: RouterSettings = RouterSettings()
    server: ServerSettings = ServerSettings()
    store: StoreSettings = StoreSettings()
    providers: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    policies: dict[str, dict[str, Any]] = attrs.field(factory=dict)


def _strict(kind: str, *types: type) -> Callable[[Any, Any], Any]:
    def structure(value: Any, _: Any) -> Any:
        if type(value) not in types:
            raise TypeError(f"expected {kind}, got {value!r}")
        return value

    return structure


def _structure_decimal(value: Any, _: Any) -> Decimal:
    if type(value) not in (int, float):
        raise TypeError(f"expected a number, got {value!r}")
    return Decimal(str(value))


def _structure_float(value: Any, _: Any) -> float:
    if type(value) not in (int, float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def _structure_duration(value: Any, _: Any) -> Duration:
    if not isinstance(value, str):
        raise TypeError(f'expected a duration like "30s" or "5m", got {value!r}')
    return parse_duration(value)


def _structure_enum(value: Any, cls: type[enum.Enum]) -> enum.Enum:
    # A str/int enum would otherwise fall to the strict str/int hook (its base class) and
    # come back as a plain value, never checked against the members.
    for member in cls:
        if type(value) is type(member.value) and value == member.value:
            return member
    choices = ", ".join(repr(m.value) for m in cls)
    raise ValueError(f"expected one of {choices}, got {value!r}")


def _structure_secret(value: Any, _: Any) -> Secret:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return Secret(value)


def make_config_converter() -> cattrs.Converter:
    """The one strict converter for config, plugins' ``Config`` classes included."""
    converter = make_converter(forbid_extra_keys=True, detailed_validation=True)
    converter.register_structure_hook(str, _strict("a string", str))
    converter.register_structure_hook(int, _strict("an integer", int))
    converter.register_structure_hook(bool, _strict("true or false", bool))
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook(Decimal, _structure_decimal)
    converter.register_structure_hook(Duration, _structure_duration)
    converter.register_structure_hook(Secret, _structure_secret)
    # Registered for each enum base so they come before str and int in a StrEnum's MRO.
    for base in (enum.StrEnum, enum.IntEnum, enum.Enum):
        converter.register_structure_hook(base, _structure_enum)
    return converter


def _format_exception(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, ForbiddenExtraKeysError):
        keys = ", ".join(repr(k) for k in sorted(exc.extra_fields))
        return f"unknown key {keys}" if len(exc.extra_fields) == 1 else f"unknown keys {keys}"
    if isinstance(exc, KeyError):
        return "required key is missing"
    if isinstance(exc, TypeError | ValueError) and str(exc):
        return str(exc)
    return cattrs.v.format_exception(exc, type_)


_BARE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def _toml_path(cattrs_path: str, prefix: str) -> str:
    def key(match: re.Match[str]) -> str:
        name = match.group(1)
        return f".{name}" if _BARE_KEY.match(name) else f'."{name}"'

    path = re.sub(r"\['((?:[^'\\]|\\.)*)'\]", key, cattrs_path.removeprefix("$"))
    return (prefix + path).lstrip(".") or "(top level)"


def _structure(
    converter: cattrs.Converter, data: Any, cls: type[Any], prefix: str, problems: list[str]
) -> Any:
    try:
        return converter.structure(data, cls)
    except (cattrs.BaseValidationError, TypeError, ValueError) as exc:
        for line in cattrs.transform_error(exc, format_exception=_format_exception):
            message, _, path = line.rpartition(" @ ")
            problems.append(f"{_toml_path(path, prefix)}: {message}")
        return None


def _expand_env(value: Any, path: str, env: Mapping[str, str], problems: list[str]) -> Any:
    if isinstance(value, str):

        def lookup(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env:
                problems.append(f"{path}: environment variable {name} is not set")
                return ""
            return env[name]

        return _ENV.sub(lookup, value)
    if isinstance(value, dict):
        return {k: _expand_env(v, _join(path, k), env, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, f"{path}[{i}]", env, problems) for i, v in enumerate(value)]
    return value


def _join(path: str, key: str) -> str:
    part = key if _BARE_KEY.match(key) else f'"{key}"'
    return f"{path}.{part}" if path else part


_COMMON_KEYS = frozenset(a.name for a in attrs.fields(ProviderCommon))


def _limits(
    name: str, common: ProviderCommon, declared: Limits, type_name: str, problems: list[str]
) -> Limits:
    where = f"providers.{name}"
    concurrency = declared.concurrency
    if common.concurrency is not None:
        if common.concurrency < 1:
            problems.append(f"{where}.concurrency: must be at least 1")
        elif declared.concurrency is not None and common.concurrency > declared.concurrency:
            problems.append(
                f"{where}.concurrency: {common.concurrency} exceeds {type_name}'s limit "
                f"of {declared.concurrency}"
            )
        else:
            concurrency = common.concurrency
    rates = dict(declared.rates)
    for operation, text in common.rates.items():
        try:
            rate = parse_rate(text)
        except ValueError as exc:
            problems.append(f"{where}.rates.{operation}: {exc}")
            continue
        limit = declared.rates.get(operation)
        if limit is not None and rate.calls / rate.per > limit.calls / limit.per:
            problems.append(
                f"{where}.rates.{operation}: {text!r} exceeds {type_name}'s limit of "
                f"{limit.calls} per {limit.per:g}s"
            )
            continue
        rates[operation] = rate
    wait = declared.wait if common.limit_wait is None else float(common.limit_wait)
    return Limits(concurrency=concurrency, rates=rates, wait=wait)


def parse_config(
    data: Mapping[str, Any], host: PluginHost, env: Mapping[str, str] | None = None
) -> Config:
    """Validate a config mapping (a parsed TOML document) against the loaded plugins.

    Raises:
        ConfigError: with every problem found, each as ``path: message``.
    """
    problems: list[str] = []
    expanded = _expand_env(dict(data), "", os.environ if env is None else env, problems)
    converter = make_config_converter()
    raw: _Raw | None = _structure(converter, expanded, _Raw, "", problems)
    if raw is None:
        raise ConfigError(problems)

    providers: dict[str, ProviderSettings] = {}
    for name, table in raw.providers.items():
        where = _join("providers", name)
        shared = {k: v for k, v in table.items() if k in _COMMON_KEYS}
        own = {k: v for k, v in table.items() if k not in _COMMON_KEYS}
        if "plugin" not in shared:
            problems.append(f"{where}.plugin: required key is missing")
            continue
        common: ProviderCommon | None = _structure(
            converter, shared, ProviderCommon, where, problems
        )
        if common is None:
            continue
        cls = host.providers.get(common.plugin)
        if cls is None:
            known = ", ".join(host.providers.names()) or "none"
            problems.append(f"{where}.plugin: unknown plugin {common.plugin!r} (known: {known})")
            continue
        options = _structure(converter, own, cls.Config, where, problems)
        limits = _limits(name, common, cls.limits, common.plugin, problems)
        if options is not None:
            providers[name] = ProviderSettings(name, common, options, limits)

    policies: dict[str, Any] = {}
    for index, policy_name in enumerate(raw.router.policy):
        policy_cls = host.policies.get(policy_name)
        if policy_cls is None:
            known = ", ".join(host.policies.names())
            problems.append(
                f"router.policy[{index}]: unknown policy {policy_name!r} (known: {known})"
            )
            continue
        table = raw.policies.get(policy_name, {})
        options = _structure(
            converter, table, policy_cls.Config, f"policies.{policy_name}", problems
        )
        policies[policy_name] = options
    for policy_name in raw.policies:
        if policy_name not in raw.router.policy:
            problems.append(f"policies.{policy_name}: policy is not in router.policy")
    for currency in {p.common.currency for p in providers.values()}:
        if currency != raw.router.base_currency and currency not in raw.router.currencies:
            problems.append(
                f"router.currencies: no rate for {currency}, used by a provider "
                f"(base currency {raw.router.base_currency})"
            )
    if problems:
        raise ConfigError(problems)
    return Config(raw.router, raw.server, raw.store, providers, policies)


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file, or raise ConfigError naming the file and the line."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML ({exc})"]) from None
