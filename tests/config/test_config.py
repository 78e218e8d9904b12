"""Strict config: a full valid file, every kind of problem at its path and all at once."""

from __future__ import annotations

import sys
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

import router.testing
from router import hookimpl
from router.config import (
    Config,
    ProviderCommon,
    RouterSettings,
    ServerSettings,
    StoreSettings,
    parse_config,
    parse_duration,
    parse_rate,
    read_toml,
)
from router.engine import Router
from router.errors import ConfigError, PluginError
from router.model import Batch, ErrorKind, Outcome, RecipientOutcome
from router.plugins import PluginHost
from router.policy import NoOptions
from router.provider import Limits, Operation, Provider, Rate
from router.redact import Secret
from router.registries import ProviderRegistry
from router.testing import FakeConfig

D = Decimal
PLUGINS = "known: fake, limited, smsbroadcast, smsc, smscentral, smsoffice"
POLICIES = "known: balance, cheapest, prefix, priority, quality, share"
DURATION = 'expected a duration like "30s", "5m" or "500ms"'
OUTCOMES = (
    "'accepted', 'rejected_recipient', 'rejected_message', 'provider_error', 'unavailable', "
    "'ambiguous'"
)


@attrs.frozen
class LimitedConfig:
    """The options of the ``limited`` test provider: a credential, a plain option, and a
    key every provider has (its prices' currency), which this one reads too."""

    username: str
    password: Secret
    region: str = "AU"
    currency: str = "AUD"


class LimitedProvider(Provider[LimitedConfig]):
    """A provider type that declares limits a config may tighten but not loosen."""

    type_name = "limited"
    Config = LimitedConfig
    limits = Limits(concurrency=2, rates={Operation.BALANCE: Rate(10, 60.0)}, wait=5.0)

    async def send(self, batch: Batch) -> list[RecipientOutcome]:
        return [RecipientOutcome(r.e164, Outcome.ACCEPTED) for r in batch.recipients]


@hookimpl
def smsrouter_register_providers(registry: ProviderRegistry) -> None:
    """Register the test provider type of this module."""
    registry.add(LimitedProvider)


@pytest.fixture
def host() -> PluginHost:
    """Built-ins, the fake provider and the ``limited`` one."""
    return PluginHost.load(extra=[router.testing, sys.modules[__name__]], autoload=False)


ENV = {
    "API_TOKEN": "token-abcdef",
    "CALLBACK_SECRET": "callback-abcdef",
    "OFFICE_PASSWORD": "hunter2-office",
}

FULL = """
[router]
default_region = "AU"
policy = ["prefix", "cheapest", "balance"]
max_attempts = 2
on_ambiguous = "failover"
base_currency = "AUD"
currencies = { ZAR = 0.083, RUB = 0.019 }
hook_timeout = "2s"
balance_stale_after = "10m"

[server]
listen = "127.0.0.1:9000"
api_tokens = ["${API_TOKEN}"]
callback_secret = "${CALLBACK_SECRET}"
max_body = 65536
workers = 2
shutdown_timeout = "45s"

[store]
url = "sqlite:///tmp/journal.db"

[providers.office]
plugin = "limited"
username = "office-user"
password = "${OFFICE_PASSWORD}"
prefixes = ["27"]
currency = "ZAR"
prices = { "27" = 0.2, "2782" = 0.18 }
priority = 2
balance_interval = "5m"
timeout = "10s"
concurrency = 1
rates = { balance = "5/1m", send = "20/1s" }
limit_wait = "1500ms"

[providers.spare]
plugin = "fake"
enabled = false
outcome = "unavailable"
script = ["accepted", "provider_error"]
kind = "credit"
balance = 12.5
"""


def test_a_full_config(host: PluginHost) -> None:
    config = parse_config(tomllib.loads(FULL), host, env=ENV)
    assert config.router == RouterSettings(
        default_region="AU",
        policy=("prefix", "cheapest", "balance"),
        max_attempts=2,
        on_ambiguous="failover",
        base_currency="AUD",
        currencies={"ZAR": D("0.083"), "RUB": D("0.019")},
        hook_timeout=2.0,  # type: ignore[arg-type]
        balance_stale_after=600.0,  # type: ignore[arg-type]
    )
    assert config.server == ServerSettings(
        listen="127.0.0.1:9000",
        api_tokens=(Secret("token-abcdef"),),
        callback_secret=Secret("callback-abcdef"),
        max_body=65536,
        workers=2,
        shutdown_timeout=45.0,  # type: ignore[arg-type]
    )
    assert config.store == StoreSettings(url="sqlite:///tmp/journal.db")
    assert list(config.providers) == ["office", "spare"]
    office = config.providers["office"]
    assert office.common == ProviderCommon(
        plugin="limited",
        prefixes=("27",),
        currency="ZAR",
        prices={"27": D("0.2"), "2782": D("0.18")},
        priority=2,
        balance_interval=300.0,  # type: ignore[arg-type]
        timeout=10.0,  # type: ignore[arg-type]
        concurrency=1,
        rates={Operation.BALANCE: "5/1m", Operation.SEND: "20/1s"},
        limit_wait=1.5,  # type: ignore[arg-type]
    )
    assert office.options == LimitedConfig("office-user", Secret("hunter2-office"), currency="ZAR")
    assert office.limits == Limits(
        concurrency=1,
        rates={Operation.BALANCE: Rate(5, 60.0), Operation.SEND: Rate(20, 1.0)},
        wait=1.5,
    )
    spare = config.providers["spare"]
    assert spare.common.enabled is False
    assert spare.options == FakeConfig(
        outcome=Outcome.UNAVAILABLE,
        script=(Outcome.ACCEPTED, Outcome.PROVIDER_ERROR),
        kind=ErrorKind.CREDIT,
        balance=D("12.5"),
    )
    assert type(spare.options.outcome) is Outcome
    assert spare.limits == Limits()
    assert config.policies == {
        "prefix": NoOptions(),
        "cheapest": NoOptions(),
        "balance": NoOptions(),
    }


def test_an_empty_config_is_the_defaults(host: PluginHost) -> None:
    assert parse_config({}, host, env={}) == Config(policies={"priority": NoOptions()})


def test_secrets_never_show(host: PluginHost) -> None:
    config = parse_config(tomllib.loads(FULL), host, env=ENV)
    shown = repr(config) + str(config) + repr(config.providers) + str(config.server)
    for value in ENV.values():
        assert value not in shown
    assert "Secret('***')" in shown
    assert config.providers["office"].options.password.reveal() == "hunter2-office"
    assert str(config.server.callback_secret) == "***"


def test_a_secret_in_the_wrong_place_is_not_quoted_back(host: PluginHost) -> None:
    data = {"providers": {"a": {"plugin": "fake", "priority": "${OFFICE_PASSWORD}"}}}
    with pytest.raises(ConfigError) as raised:
        parse_config(data, host, env=ENV)
    assert raised.value.problems == ("providers.a.priority: expected an integer, got '***'",)


def problems(
    host: PluginHost, data: dict[str, Any], env: dict[str, str] | None = None
) -> tuple[str, ...]:
    """The problems a config has, or () when it is valid."""
    try:
        parse_config(data, host, env=env or {})
    except ConfigError as exc:
        return exc.problems
    return ()


def fake(**options: Any) -> dict[str, Any]:
    return {"plugin": "fake", **options}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"routr": {}}, "routr: unknown key"),
        ({"router": {"colour": "red"}}, "router.colour: unknown key"),
        ({"providers": {"a": fake(colour="red")}}, "providers.a.colour: unknown key"),
        ({"providers": {"a": fake(prefix=["61"])}}, "providers.a.prefix: unknown key"),
        ({"router": {"max_attempts": "3"}}, "router.max_attempts: expected an integer, got '3'"),
        ({"router": {"max_attempts": 2.0}}, "router.max_attempts: expected an integer, got 2.0"),
        ({"router": {"max_attempts": 0}}, "router.max_attempts: must be >= 1: 0"),
        ({"router": {"default_region": 61}}, "router.default_region: expected a string, got 61"),
        (
            {"router": {"default_region": "XX"}},
            "router.default_region: expected an ISO country code like \"AU\", got 'XX'",
        ),
        ({"router": {"policy": "cheapest"}}, "router.policy: expected a list, got 'cheapest'"),
        (
            {"router": {"on_ambiguous": "retry"}},
            "router.on_ambiguous: expected one of 'stop', 'failover', got 'retry'",
        ),
        (
            {"router": {"currencies": {"ZAR": "0.083"}}},
            "router.currencies.ZAR: expected a number, got '0.083'",
        ),
        ({"router": {"currencies": {"ZAR": 0}}}, "router.currencies.ZAR: must be above 0"),
        ({"router": []}, "router: expected a table, got []"),
        (
            {"providers": {"a": fake(enabled="no")}},
            "providers.a.enabled: expected true or false, got 'no'",
        ),
        (
            {"providers": {"a": fake(enabled=0)}},
            "providers.a.enabled: expected true or false, got 0",
        ),
        (
            {"providers": {"a": fake(unicode="yes")}},
            "providers.a.unicode: expected true or false, got 'yes'",
        ),
        (
            {"providers": {"a": fake(priority="1")}},
            "providers.a.priority: expected an integer, got '1'",
        ),
        (
            {"providers": {"a": fake(prices={"27": "cheap"})}},
            "providers.a.prices.\"27\": expected a number, got 'cheap'",
        ),
        (
            {"providers": {"a": fake(prices={"+61": 0.04})}},
            'providers.a.prices."+61": expected E.164 digits without "+", like "614"',
        ),
        (
            {"providers": {"a": fake(prefixes=["AU"])}},
            'providers.a.prefixes[0]: expected E.164 digits without "+", like "614", got \'AU\'',
        ),
        (
            {"providers": {"a": fake(prefixes="61")}},
            "providers.a.prefixes: expected a list, got '61'",
        ),
        (
            {"providers": {"a": fake(balance_interval="5 minutes")}},
            f"providers.a.balance_interval: {DURATION}, got '5 minutes'",
        ),
        (
            {"providers": {"a": fake(timeout=30)}},
            'providers.a.timeout: expected a duration like "30s" or "5m", got 30',
        ),
        (
            {"providers": {"a": fake(outcome="sent")}},
            f"providers.a.outcome: expected one of {OUTCOMES}, got 'sent'",
        ),
        (
            {"providers": {"a": fake(rates={"sned": "1/1s"})}},
            "providers.a.rates.sned: expected one of 'send', 'balance', 'status', got 'sned'",
        ),
        (
            {"providers": {"a": fake(rates={"send": "fast"})}},
            "providers.a.rates.send: "
            "expected a rate like \"10/1m\" (calls per duration), got 'fast'",
        ),
        (
            {"providers": {"a": {"plugin": "twilio"}}},
            f"providers.a.plugin: unknown plugin 'twilio' ({PLUGINS})",
        ),
        ({"providers": {"a": {"prices": {}}}}, "providers.a.plugin: required key is missing"),
        ({"providers": {"a": "fake"}}, "providers.a: expected a table, got 'fake'"),
        (
            {"providers": {"a": {"plugin": "limited", "password": "pw12345"}}},
            "providers.a.username: required key is missing",
        ),
        (
            {"router": {"policy": ["priority", "fastest"]}},
            f"router.policy[1]: unknown policy 'fastest' ({POLICIES})",
        ),
        (
            {"router": {"policy": ["cheapest", "cheapest"]}},
            "router.policy[1]: 'cheapest' is already in the chain",
        ),
        ({"policies": {"cheapest": {}}}, "policies.cheapest: policy is not in router.policy"),
        (
            {"router": {"policy": ["cheapest"]}, "policies": {"cheapest": {"weight": 2}}},
            "policies.cheapest.weight: unknown key",
        ),
        (
            {"server": {"api_tokens": ["${NO_SUCH_TOKEN}"]}},
            "server.api_tokens[0]: environment variable NO_SUCH_TOKEN is not set",
        ),
        ({"server": {"max_body": 10}}, "server.max_body: must be >= 1024: 10"),
        (
            {"server": {"loop": "libuv"}},
            "server.loop: expected one of 'auto', 'uvloop', 'asyncio', got 'libuv'",
        ),
        (
            {"store": {"durability": "full"}},
            "store.durability: expected one of 'power', 'process', got 'full'",
        ),
        (
            {"providers": {"a": fake(prices={"61": -0.01})}},
            'providers.a.prices."61": a price cannot be below 0, got -0.01',
        ),
        ({"providers": {"a": fake(timeout="0s")}}, "providers.a.timeout: must be above 0, got 0.0"),
        (
            {"providers": {"my/office": fake()}},
            'providers."my/office": a provider name starts with a letter, '
            'then letters, digits, "_" and "-"',
        ),
        (
            {"providers": {"a": fake(currency="ZAR")}},
            "router.currencies: no rate for ZAR, used by a (base currency AUD)",
        ),
    ],
)
def test_each_problem_is_named_at_its_path(
    host: PluginHost, data: dict[str, Any], expected: str
) -> None:
    assert problems(host, data) == (expected,)


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ({"concurrency": 3}, "providers.office.concurrency: 3 exceeds limited's limit of 2"),
        ({"concurrency": 0}, "providers.office.concurrency: must be at least 1"),
        (
            {"rates": {"balance": "11/1m"}},
            "providers.office.rates.balance: '11/1m' exceeds limited's limit of 10 per 60s",
        ),
        (
            {"rates": {"balance": "1/1s"}},
            "providers.office.rates.balance: '1/1s' exceeds limited's limit of 10 per 60s",
        ),
        # The same average, but twenty calls may come in one minute.
        (
            {"rates": {"balance": "20/2m"}},
            "providers.office.rates.balance: '20/2m' exceeds limited's limit of 10 per 60s",
        ),
    ],
)
def test_a_limit_may_not_loosen_the_declared_one(
    host: PluginHost, table: dict[str, Any], expected: str
) -> None:
    office = {"plugin": "limited", "username": "u", "password": "p", **table}
    assert problems(host, {"providers": {"office": office}}) == (expected,)


@pytest.mark.parametrize(
    ("table", "limits"),
    [
        ({}, Limits(concurrency=2, rates={Operation.BALANCE: Rate(10, 60.0)}, wait=5.0)),
        (
            {"concurrency": 2},
            Limits(concurrency=2, rates={Operation.BALANCE: Rate(10, 60.0)}, wait=5.0),
        ),
        (
            {"rates": {"balance": "10/1m"}},
            Limits(concurrency=2, rates={Operation.BALANCE: Rate(10, 60.0)}, wait=5.0),
        ),
        (
            {"rates": {"balance": "5/30s"}},
            Limits(concurrency=2, rates={Operation.BALANCE: Rate(5, 30.0)}, wait=5.0),
        ),
        (
            {"rates": {"balance": "1/1h", "status": "3/1s"}},
            Limits(
                concurrency=2,
                rates={Operation.BALANCE: Rate(1, 3600.0), Operation.STATUS: Rate(3, 1.0)},
                wait=5.0,
            ),
        ),
        (
            {"limit_wait": "30s"},
            Limits(concurrency=2, rates={Operation.BALANCE: Rate(10, 60.0)}, wait=30.0),
        ),
    ],
)
def test_a_limit_may_tighten_the_declared_one(
    host: PluginHost, table: dict[str, Any], limits: Limits
) -> None:
    office = {"plugin": "limited", "username": "u", "password": "p", **table}
    config = parse_config({"providers": {"office": office}}, host, env={})
    assert config.providers["office"].limits == limits


def test_every_problem_is_reported_at_once(host: PluginHost) -> None:
    data = {
        "bogus": 1,
        "router": {
            "colour": "red",
            "max_attempts": "3",
            "policy": ["prefix", "fastest"],
            "hook_timeout": "5 minutes",
            "on_ambiguous": "no",
        },
        "server": {"api_tokens": ["${MISSING_TOKEN}"], "workers": "4"},
        "providers": {
            "office": fake(prices={"27": "cheap"}, enabled="no", colour=1, currency="ZAR"),
            "other": {"plugin": "nosuch"},
            "third": fake(priority="1", balance_interval="soon"),
            "limited": {"plugin": "limited", "password": "p", "concurrency": 5},
        },
        "policies": {"cheapest": {"x": 1}},
    }
    assert problems(host, data) == (
        "server.api_tokens[0]: environment variable MISSING_TOKEN is not set",
        "bogus: unknown key",
        "router.colour: unknown key",
        "router.max_attempts: expected an integer, got '3'",
        "router.on_ambiguous: expected one of 'stop', 'failover', got 'no'",
        'router.hook_timeout: expected a duration like "30s", "5m" or "500ms", got \'5 minutes\'',
        "server.workers: expected an integer, got '4'",
        "providers.office.enabled: expected true or false, got 'no'",
        "providers.office.prices.\"27\": expected a number, got 'cheap'",
        "providers.office.colour: unknown key",
        f"providers.other.plugin: unknown plugin 'nosuch' ({PLUGINS})",
        "providers.third.priority: expected an integer, got '1'",
        f"providers.third.balance_interval: {DURATION}, got 'soon'",
        "providers.limited.username: required key is missing",
        "providers.limited.concurrency: 5 exceeds limited's limit of 2",
        f"router.policy[1]: unknown policy 'fastest' ({POLICIES})",
        "policies.cheapest: policy is not in router.policy",
        "router.currencies: no rate for ZAR, used by office (base currency AUD)",
    )


@attrs.frozen
class Unreadable:
    """A Config class whose annotation names nothing that exists."""

    value: NoSuchType  # type: ignore[name-defined]  # noqa: F821


class UnreadableProvider(Provider[Unreadable]):
    type_name = "unreadable"
    Config = Unreadable

    async def send(self, batch: Batch) -> list[RecipientOutcome]:
        return []


def test_a_plugin_config_that_cannot_be_read_is_a_plugin_error() -> None:
    class Plugin:
        @hookimpl
        def smsrouter_register_providers(self, registry: ProviderRegistry) -> None:
            registry.add(UnreadableProvider)

    host = PluginHost.load(extra=[Plugin()], autoload=False)
    with pytest.raises(PluginError) as raised:
        parse_config({"providers": {"a": {"plugin": "unreadable", "value": 1}}}, host, env={})
    assert str(raised.value) == (
        "Unreadable: its annotations cannot be read: name 'NoSuchType' is not defined"
    )


def test_the_error_text_is_every_problem_a_line(host: PluginHost) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config({"routr": {}, "router": {"max_attempts": 0}}, host, env={})
    assert str(raised.value) == "routr: unknown key\nrouter.max_attempts: must be >= 1: 0"


async def test_the_router_refuses_a_wrong_config() -> None:
    with pytest.raises(ConfigError) as raised:
        Router({"providers": {"a": {"plugin": "fake", "enabled": "no"}}}, plugins=[router.testing])
    assert raised.value.problems == ("providers.a.enabled: expected true or false, got 'no'",)


def test_read_toml(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[router]\ndefault_region = "ZA"\n', encoding="utf-8")
    assert read_toml(good) == {"router": {"default_region": "ZA"}}
    bad = tmp_path / "bad.toml"
    bad.write_text("[router\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        read_toml(bad)
    assert raised.value.problems == (
        f"{bad}: not valid TOML "
        "(Expected ']' at the end of a table declaration (at line 1, column 8))",
    )
    with pytest.raises(ConfigError) as raised:
        read_toml(tmp_path / "missing.toml")
    assert raised.value.problems == (
        f"{tmp_path / 'missing.toml'}: cannot read (No such file or directory)",
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1.5h", 5400.0),
        ("1d", 86400.0),
        (" 2 s ", 2.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "5 minutes", "-1s", "1w", "s"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


def test_parse_rate() -> None:
    assert parse_rate("10/1m") == Rate(10, 60.0)
    assert parse_rate("3 / 500ms") == Rate(3, 0.5)
    with pytest.raises(ValueError, match="at least one call"):
        parse_rate("0/1s")
    with pytest.raises(ValueError, match="expected a duration"):
        parse_rate("1/0.5")


def test_the_example_config_documents_quiet_hours_optouts_and_message_callbacks() -> None:
    text = (Path(__file__).resolve().parents[2] / "config.example.toml").read_text("utf-8")
    for key in ("quiet_hours", "quiet_hours_by_country", "stop_reply", "start_reply", "secret"):
        assert f"# {key} = " in text, key
    for key in ("stop_words", "start_words", "max_age"):
        assert f"\n{key} = " in text, key
