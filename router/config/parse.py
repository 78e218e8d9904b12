"""Reading the config: one TOML file into frozen attrs classes through one strict converter.

Strict means: an unknown key is an error, ``"no"`` is not a bool, ``"1"`` is not a number,
a missing ``${NAME}`` secret is an error; and every problem is reported at once, each as
``path: message`` (``providers.office.prices."27": expected a number, got 'cheap'``).
Each provider table names its ``plugin`` and holds that plugin's own keys beside the keys
every provider shares; the plugin's ``Config`` class validates its part.
"""

from __future__ import annotations

import math
import os
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

import attrs
import cattrs

import router.numbers as numbers
from router.config.compliance import COMPLIANCE_SECTIONS, read_compliance
from router.config.converter import join_path, make_config_converter, parse_duration, read_table
from router.config.ingress import read_ingress
from router.config.names import named_problems
from router.config.settings import (
    MIN_WEBHOOK_SECRET,
    Config,
    ProviderCommon,
    ProviderSettings,
    RouterSettings,
    ServerSettings,
    StateSettings,
    StoreSettings,
    WebhookSettings,
)
from router.errors import ConfigError
from router.model import EventType
from router.plugins import PluginHost
from router.provider import Limits, Rate
from router.redact import redact

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(.+)$")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def parse_rate(text: str) -> Rate:
    """``"10/1m"`` -> at most 10 calls in any minute."""
    match = _RATE.match(text)
    if not match:
        raise ValueError(f'expected a rate like "10/1m" (calls per duration), got {text!r}')
    calls = int(match.group(1))
    if calls < 1:
        raise ValueError(f"a rate allows at least one call, got {text!r}")
    return Rate(calls, parse_duration(match.group(2)))


def _expand_env(
    value: Any, path: str, env: Mapping[str, str], problems: list[str], used: dict[str, str]
) -> Any:
    if isinstance(value, str):

        def lookup(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env:
                problems.append(f"{path}: environment variable {name} is not set")
                return ""
            used[path] = env[name]
            return env[name]

        return _ENV.sub(lookup, value)
    if isinstance(value, dict):
        return {
            k: _expand_env(v, join_path(path, k), env, problems, used) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_expand_env(v, f"{path}[{i}]", env, problems, used) for i, v in enumerate(value)]
    return value


_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_COMMON_KEYS = frozenset(a.name for a in attrs.fields(ProviderCommon))


def _loosens(rate: Rate, limit: Rate) -> bool:
    # The most calls *rate* lets into one window of *limit*: "20/2m" passes a "10/1m"
    # average but allows 20 calls in one minute.
    return rate.calls * math.ceil(limit.per / rate.per) > limit.calls


def _limits(
    where: str, common: ProviderCommon, declared: Limits, type_name: str, problems: list[str]
) -> Limits:
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
        if limit is not None and _loosens(rate, limit):
            problems.append(
                f"{where}.rates.{operation}: {text!r} exceeds {type_name}'s limit of "
                f"{limit.calls} per {limit.per:g}s"
            )
            continue
        rates[operation] = rate
    wait = declared.wait if common.limit_wait is None else float(common.limit_wait)
    return Limits(concurrency=concurrency, rates=rates, wait=wait)


def _prefix_problems(where: str, common: ProviderCommon) -> list[str]:
    # A "+61" or "AU" key would never match a destination: say so instead of ignoring it.
    hint = 'expected E.164 digits without "+", like "614"'
    found = [
        f"{where}.prefixes[{i}]: {hint}, got {prefix!r}"
        for i, prefix in enumerate(common.prefixes)
        if not prefix.isdigit()
    ]
    found += [
        f"{join_path(f'{where}.prices', p)}: {hint}" for p in common.prices if not p.isdigit()
    ]
    found += [
        f"{join_path(f'{where}.prices', p)}: a price cannot be below 0, got {price}"
        for p, price in common.prices.items()
        if price < 0
    ]
    return found


def _provider(
    converter: cattrs.Converter,
    host: PluginHost,
    name: str,
    table: Any,
    problems: list[str],
    currencies: dict[str, str],
) -> ProviderSettings | None:
    where = join_path("providers", name)
    if not _NAME.match(name):
        # The name is part of the provider's callback URLs and of metric labels.
        problems.append(
            f'{where}: a provider name starts with a letter, then letters, digits, "_" and "-"'
        )
    if not isinstance(table, dict):
        problems.append(f"{where}: expected a table, got {table!r}")
        return None
    before = len(problems)
    shared = {k: v for k, v in table.items() if k in _COMMON_KEYS}
    own = {k: v for k, v in table.items() if k not in _COMMON_KEYS}
    common, wrong = read_table(converter, shared, ProviderCommon, where, problems)
    if common is not None and "currency" not in wrong:
        currencies[name] = common.currency
    plugin = table.get("plugin")
    cls = host.providers.get(plugin) if isinstance(plugin, str) else None
    if cls is None:
        if isinstance(plugin, str):
            known = ", ".join(host.providers.names()) or "none"
            problems.append(f"{where}.plugin: unknown plugin {plugin!r} (known: {known})")
        return None
    # A shared key the plugin also declares (SMSC's ``currency``) reaches it too.
    declared = {f.name for f in attrs.fields(cls.Config)} & _COMMON_KEYS
    own.update((k, v) for k, v in table.items() if k in declared)
    options, _ = read_table(converter, own, cls.Config, where, problems)
    if common is None:
        return None
    problems.extend(_prefix_problems(where, common))
    limits = _limits(where, common, cls.limits, cls.type_name, problems)
    if len(problems) > before:
        return None
    return ProviderSettings(name, common, options, limits)


def _url_problem(url: str) -> str | None:
    # Never quote the URL back: its query may hold the receiver's token.
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - reading it checks it
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return f"expected an http:// or https:// URL, got scheme {parts.scheme!r}"
    if not parts.hostname:
        return "the URL has no host"
    if "#" in url:
        return "a URL fragment is never sent: remove it"
    if any(ch.isspace() for ch in url):
        return "the URL has a space in it"
    return None


def _webhook_problems(index: int, raw: Mapping[str, Any], names: dict[str, int]) -> list[str]:
    """What is wrong in one ``[[webhooks]]`` table beyond each key's type."""
    found = []
    where = f"webhooks[{index}]"
    name, url, events, secret = (raw.get(k) for k in ("name", "url", "events", "secret"))
    if isinstance(name, str):
        if not _NAME.match(name):
            found.append(f'{where}.name: starts with a letter, then letters, digits, "_" and "-"')
        elif name in names:
            found.append(f"{where}.name: {name!r} is also webhooks[{names[name]}]")
        names.setdefault(name, index)
    why = _url_problem(url) if isinstance(url, str) else None
    if why:
        found.append(f"{where}.url: {why}")
    if isinstance(events, list):
        if not events:
            known = ", ".join(EventType)
            found.append(f"{where}.events: name at least one event ({known})")
        found.extend(
            f"{where}.events[{i}]: {event!r} is also events[{events.index(event)}]"
            for i, event in enumerate(events)
            if event in events[:i]
        )
    if isinstance(secret, str) and len(secret) < MIN_WEBHOOK_SECRET:
        found.append(
            f"{where}.secret: expected at least {MIN_WEBHOOK_SECRET} characters, got {len(secret)}"
        )
    return found


def _webhooks(
    converter: cattrs.Converter, tables: Any, problems: list[str]
) -> tuple[WebhookSettings, ...]:
    if not isinstance(tables, list):
        problems.append(f"webhooks: expected a list of [[webhooks]] tables, got {tables!r}")
        return ()
    found: list[WebhookSettings] = []
    names: dict[str, int] = {}
    for index, table in enumerate(tables):
        where, before = f"webhooks[{index}]", len(problems)
        hook, _ = read_table(converter, table, WebhookSettings, where, problems)
        if isinstance(table, dict):
            # Checked on the table itself: a wrong key beside them hides none of these.
            problems.extend(_webhook_problems(index, table, names))
        if hook is not None and hook.max_backoff < hook.backoff:
            problems.append(f"{where}.max_backoff: must not be below backoff")
        if hook is not None and len(problems) == before:
            found.append(hook)
    return tuple(found)


def parse_config(
    data: Mapping[str, Any], host: PluginHost, env: Mapping[str, str] | None = None
) -> Config:
    """Validate a config mapping (a parsed TOML document) against the loaded plugins.

    Raises:
        ConfigError: with every problem found, each as ``path: message``.
    """
    # One pass over every table, each problem collected rather than raised, so a config
    # with several mistakes names them all at once: hence one long function.
    problems: list[str] = []
    secrets: dict[str, str] = {}
    doc = _expand_env(dict(data), "", os.environ if env is None else env, problems, secrets)
    unset = {line.partition(": ")[0] for line in problems}
    converter = make_config_converter()
    known = ("router", "server", "store", "state", "providers", "policies", "webhooks", "ingress")
    sections = known + COMPLIANCE_SECTIONS
    problems.extend(f"{join_path('', k)}: unknown key" for k in doc if k not in sections)
    settings, wrong = read_table(
        converter, doc.get("router", {}), RouterSettings, "router", problems
    )
    router = settings or RouterSettings()
    server, _ = read_table(converter, doc.get("server", {}), ServerSettings, "server", problems)
    store, _ = read_table(converter, doc.get("store", {}), StoreSettings, "store", problems)
    state, _ = read_table(converter, doc.get("state", {}), StateSettings, "state", problems)
    webhooks = _webhooks(converter, doc.get("webhooks", []), problems)
    optouts, message_callbacks = read_compliance(converter, doc, problems)
    if router.default_region is not None and not numbers.is_region(router.default_region):
        problems.append(
            f'router.default_region: expected an ISO country code like "AU", '
            f"got {router.default_region!r}"
        )

    providers: dict[str, ProviderSettings] = {}
    currencies: dict[str, str] = {}
    tables = doc.get("providers", {})
    if not isinstance(tables, dict):
        problems.append(f"providers: expected a table, got {tables!r}")
        tables = {}
    for name, table in tables.items():
        provider = _provider(converter, host, name, table, problems, currencies)
        if provider is not None:
            providers[name] = provider

    policies = _policies(converter, host, router, doc.get("policies", {}), wrong, problems)
    problems.extend(named_problems(router, policies, host.policies, list(tables)))
    if not wrong & {"base_currency", "currencies"}:
        problems.extend(_currency_problems(router, currencies))
    ingress = read_ingress(converter, host, doc.get("ingress", {}), server, tables, problems)
    if problems:
        raise ConfigError(_redacted(_unset_once(problems, unset), secrets))
    return Config(
        router,
        server,
        store,
        state or StateSettings(),
        providers,
        policies,
        webhooks,
        optouts,
        message_callbacks,
        ingress,
    )


def _policies(
    converter: cattrs.Converter,
    host: PluginHost,
    router: RouterSettings,
    options_tables: object,
    wrong: set[str],
    problems: list[str],
) -> dict[str, Any]:
    """Each chained policy's options, from its ``[policies.NAME]`` table."""
    policies: dict[str, Any] = {}
    if not isinstance(options_tables, dict):
        problems.append(f"policies: expected a table, got {options_tables!r}")
        options_tables = {}
    for index, policy_name in enumerate(router.policy):
        policy_cls = host.policies.get(policy_name)
        if policy_name in router.policy[:index]:
            problems.append(f"router.policy[{index}]: {policy_name!r} is already in the chain")
        elif policy_cls is None:
            known = ", ".join(host.policies.names())
            problems.append(
                f"router.policy[{index}]: unknown policy {policy_name!r} (known: {known})"
            )
        else:
            where = join_path("policies", policy_name)
            table = options_tables.get(policy_name, {})
            policies[policy_name], _ = read_table(
                converter, table, policy_cls.Config, where, problems
            )
    if "policy" not in wrong:
        problems.extend(
            f"{join_path('policies', name)}: policy is not in router.policy"
            for name in options_tables
            if name not in router.policy
        )
    return policies


def _currency_problems(router: RouterSettings, currencies: Mapping[str, str]) -> list[str]:
    """Rates that are not positive, and currencies providers use with no rate to the base."""
    problems = [
        f"{join_path('router.currencies', rate_name)}: must be above 0"
        for rate_name, rate in router.currencies.items()
        if rate <= 0
    ]
    for currency in sorted(set(currencies.values())):
        if currency != router.base_currency and currency not in router.currencies:
            users = ", ".join(n for n, c in currencies.items() if c == currency)
            problems.append(
                f"router.currencies: no rate for {currency}, used by {users} "
                f"(base currency {router.base_currency})"
            )
    return problems


def _unset_once(problems: list[str], unset: set[str]) -> list[str]:
    """*problems* without a second one for a value whose ``${NAME}`` is not set, nor any
    line twice (a shared key the plugin also reads is checked by both)."""
    kept = []
    for line in dict.fromkeys(problems):
        path, _, rest = line.partition(": ")
        if rest.startswith("[") and "]: " in rest:  # "key: [0]: ..." from a validator
            path += rest[: rest.index("]") + 1]
        if path not in unset or "environment variable" in rest:
            kept.append(line)
    return kept


def _redacted(problems: list[str], secrets: Mapping[str, str]) -> list[str]:
    # A ${NAME} value in a key that rejects it would be quoted back: show its name instead.
    # A value shows up under its parent's path too ("expected a table, got {...}"), so
    # every line is masked for every value used.
    # The path before ": " is made of keys, never of values: it stays readable whatever
    # the values are (a one-letter token would mask every such letter of it).
    values = [v for v in secrets.values() if v]
    masked = []
    for line in problems:
        path, colon, message = line.partition(": ")
        masked.append(f"{path}{colon}{redact(message, values)}" if colon else redact(line, values))
    return masked
