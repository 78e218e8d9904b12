"""``[[webhooks]]`` in the config: what is accepted, and every problem reported at once."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from router.config import Config, Duration, WebhookSettings, parse_config
from router.errors import ConfigError
from router.plugins import PluginHost
from router.webhooks import EventType

SECRET = "webhook-secret-0123456789"
ROOT = Path(__file__).resolve().parent.parent.parent


def parse(webhooks: Any, env: dict[str, str] | None = None) -> Config:
    """A config with these webhook tables."""
    return parse_config({"webhooks": webhooks}, PluginHost.load(autoload=False), env or {})


def problems(webhooks: Any, env: dict[str, str] | None = None) -> list[str]:
    """The config's problems, in order."""
    with pytest.raises(ConfigError) as caught:
        parse(webhooks, env)
    return list(caught.value.problems)


def test_a_webhook_with_its_defaults() -> None:
    config = parse(
        [
            {
                "name": "crm",
                "url": "https://crm.example.com/hooks/sms?token=abc",
                "events": ["delivery_report", "inbound_message"],
                "secret": "${HOOK_SECRET}",
            }
        ],
        {"HOOK_SECRET": SECRET},
    )
    (hook,) = config.webhooks
    assert hook == WebhookSettings(
        name="crm",
        url="https://crm.example.com/hooks/sms?token=abc",
        events=(EventType.DELIVERY_REPORT, EventType.INBOUND_MESSAGE),
        secret=hook.secret,
        timeout=Duration(10.0),
        concurrency=4,
        backoff=Duration(1.0),
        max_backoff=Duration(600.0),
        max_age=Duration(86400.0),
    )
    assert hook.secret.reveal() == SECRET
    assert SECRET not in repr(config)
    assert parse_config({}, PluginHost.load(autoload=False)).webhooks == ()


def test_every_key_can_be_set() -> None:
    (hook,) = parse(
        [
            {
                "name": "ops",
                "url": "http://127.0.0.1:9000/x",
                "events": ["provider_state", "message_failed"],
                "secret": SECRET,
                "timeout": "2s",
                "concurrency": 1,
                "backoff": "500ms",
                "max_backoff": "1m",
                "max_age": "2h",
            }
        ]
    ).webhooks
    assert (hook.timeout, hook.concurrency, hook.backoff, hook.max_backoff, hook.max_age) == (
        2.0,
        1,
        0.5,
        60.0,
        7200.0,
    )


def test_every_problem_is_reported_with_its_path() -> None:
    found = problems(
        [
            {
                "name": "crm",
                "url": "ftp://x.example/hook?token=abc",
                "events": ["delivery_report", "delivered", "delivery_report"],
                "secret": "short",
                "colour": "red",
            },
            {
                "name": "crm",
                "url": "http:///no-host",
                "events": [],
                "secret": "${TINY}",
                "backoff": "5s",
                "max_backoff": "1s",
                "concurrency": 0,
            },
            {"name": "9lives", "url": "https://a.example/#frag", "events": "inbound_message"},
            {"name": "x", "url": "https://a.example:99999/", "events": ["inbound_message"]}
            | {"secret": SECRET, "timeout": "0s", "max_age": 60},
            "not a table",
        ],
        {"TINY": "tiny"},
    )
    assert found == [
        "webhooks[0].colour: unknown key",
        "webhooks[0].events[1]: expected one of 'delivery_report', 'inbound_message', "
        "'message_failed', 'provider_state', got 'delivered'",
        "webhooks[0].url: expected an http:// or https:// URL, got scheme 'ftp'",
        "webhooks[0].events[2]: 'delivery_report' is also events[0]",
        "webhooks[0].secret: expected at least 16 characters, got 5",
        "webhooks[1].concurrency: must be >= 1: 0",
        "webhooks[1].name: 'crm' is also webhooks[0]",
        "webhooks[1].url: the URL has no host",
        "webhooks[1].events: name at least one event "
        "(delivery_report, inbound_message, message_failed, provider_state)",
        "webhooks[1].secret: expected at least 16 characters, got 4",
        "webhooks[1].max_backoff: must not be below backoff",
        "webhooks[2].events: expected a list, got 'inbound_message'",
        "webhooks[2].secret: required key is missing",
        'webhooks[2].name: starts with a letter, then letters, digits, "_" and "-"',
        "webhooks[2].url: a URL fragment is never sent: remove it",
        "webhooks[3].timeout: must be above 0, got 0.0",
        'webhooks[3].max_age: expected a duration like "30s" or "5m", got 60',
        "webhooks[3].url: not a valid URL (Port out of range 0-65535)",
        "webhooks[4]: expected a table, got 'not a table'",
    ]


def test_a_problem_never_quotes_a_url_or_a_secret() -> None:
    found = problems(
        [{"name": "a", "url": "gopher://h/?token=abc123", "events": ["x"], "secret": "pw123"}]
    )
    assert not any("abc123" in line or "pw123" in line for line in found)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"name": "x"}, "webhooks: expected a list of [[webhooks]] tables, got {'name': 'x'}"),
        ("crm", "webhooks: expected a list of [[webhooks]] tables, got 'crm'"),
    ],
)
def test_webhooks_is_an_array_of_tables(value: Any, problem: str) -> None:
    assert problems(value) == [problem]


def test_the_example_config_documents_a_webhook() -> None:
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    block = text.split("# [[webhooks]]\n", 1)[1]
    uncommented = "[[webhooks]]\n" + "\n".join(
        line.removeprefix("# ") for line in block.splitlines() if line.startswith("# ")
    )
    (hook,) = parse(tomllib.loads(uncommented)["webhooks"], {"WEBHOOK_SECRET": SECRET}).webhooks
    assert hook.events == tuple(EventType)
    for key in ("name", "url", "events", "secret", "timeout", "concurrency", "backoff"):
        assert f"# {key} = " in block, key
