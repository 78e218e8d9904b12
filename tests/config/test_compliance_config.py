"""The ``[router]`` quiet hours, ``[optouts]`` and ``[message_callbacks]`` settings: read
strictly, every problem named with its path."""

from __future__ import annotations

from typing import Any

import pytest

from router.config import parse_config
from router.config.compliance import OptOutSettings, QuietHours, parse_quiet_hours
from router.errors import ConfigError
from router.plugins import PluginHost


def problems(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(doc, PluginHost.load(autoload=False))
    return list(caught.value.problems)


def test_quiet_hours_and_their_overrides_are_read() -> None:
    doc = {"router": {"quiet_hours": "21:30-07:45", "quiet_hours_by_country": {"ZA": "off"}}}
    config = parse_config(doc, PluginHost.load(autoload=False))
    assert config.router.quiet_hours == "21:30-07:45"
    window = parse_quiet_hours("21:30-07:45")
    assert window == QuietHours(21 * 60 + 30, 7 * 60 + 45)
    assert 23 * 60 in window
    assert 7 * 60 in window
    assert 8 * 60 not in window
    assert 12 * 60 in QuietHours(11 * 60, 13 * 60)
    assert parse_quiet_hours("off") is None


def test_bad_quiet_hours_are_named() -> None:
    found = problems(
        {"router": {"quiet_hours": "9pm-8am", "quiet_hours_by_country": {"XX": "off", "US": "1"}}}
    )
    assert found == [
        'router.quiet_hours: expected "HH:MM-HH:MM" (like "21:00-08:00") or "off", got \'9pm-8am\'',
        "router.quiet_hours_by_country: 'XX': expected an ISO country code like \"AU\"",
    ]
    assert "starts and ends at one time" in problems({"router": {"quiet_hours": "08:00-08:00"}})[0]


def test_opt_out_words_are_matched_whole_in_any_case() -> None:
    settings = OptOutSettings()
    assert [settings.keyword(t) for t in ("stop", " Stop! ", "UNSUBSCRIBE.", "unstop")] == [
        "stop", "stop", "stop", "start"]  # fmt: skip
    assert settings.keyword("please stop") is None
    assert settings.keyword("stopping") is None
    custom = parse_config(
        {"optouts": {"stop_words": ["ARRET"], "start_words": ["Go"], "stop_reply": "Bye"}},
        PluginHost.load(autoload=False),
    ).optouts
    assert (custom.keyword("arret"), custom.keyword("go"), custom.keyword("stop")) == (
        "stop", "start", None)  # fmt: skip


def test_bad_optouts_and_message_callbacks_tables_are_named() -> None:
    found = problems(
        {
            "optouts": {"stop_words": [" STOP"], "colour": "red"},
            "message_callbacks": {"secret": "short", "backoff": "10m", "max_backoff": "1m"},
            "webhooks": [
                {
                    "name": "callback_url",
                    "url": "https://e.example/",
                    "events": ["delivery_report"],
                    "secret": "s" * 16,
                }
            ],
        }
    )
    assert found == [
        "optouts.colour: unknown key",
        "optouts.stop_words: [0]: expected a word without surrounding spaces",
        "message_callbacks.secret: expected at least 16 characters, got 5",
        "message_callbacks.max_backoff: must not be below backoff",
        "webhooks[0].name: 'callback_url' is the name of messages' own callback URLs in the "
        "event journal: choose another",
    ]
