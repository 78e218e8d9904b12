"""``unicode = true|false`` in a provider table overrides what its plugin claims.

SMS Broadcast, SMS Office and SMS Central claim no Unicode (their pages say nothing of it,
providers.md 1.2, 2.2, 4.7), so Cyrillic goes to SMSC alone unless an account that can
send it says so; SMSC's account may be switched off likewise. Each runs against its
emulator over loopback.
"""

from __future__ import annotations

from typing import Any

import pytest

from router import Message
from router.config import parse_config
from router.errors import ConfigError, NoRouteError
from router.plugins import PluginHost
from tests.builtin_plugins.test_registered_emulators import emulator_of, one_provider, router_for

CYRILLIC = "Здравствуйте! Ваш заказ 4711 собран и будет доставлен завтра с 9 до 12 часов."
"""78 characters that are not GSM-7: two UCS-2 segments of 67."""
NO_UNICODE = ["smsbroadcast", "smsoffice", "smscentral"]


def sent_texts(emulator: Any) -> list[str]:
    texts = ("message", "mes", "MESSAGE_TEXT")
    return [entry[key] for entry in emulator.counters.sent for key in texts if key in entry]


@pytest.mark.parametrize("plugin", NO_UNICODE)
async def test_unicode_is_refused_where_the_plugin_claims_none(plugin: str) -> None:
    async with emulator_of(plugin)() as emulator:
        config = one_provider(plugin, emulator.provider_options())
        async with router_for(config) as router:
            with pytest.raises(NoRouteError) as refused:
                await router.send(Message(to="+61412345678", text=CYRILLIC, sender="Demo"))
    assert "cannot send Unicode" in str(refused.value)
    assert sent_texts(emulator) == []


@pytest.mark.parametrize("plugin", NO_UNICODE)
async def test_unicode_true_sends_it_in_two_segments(plugin: str) -> None:
    async with emulator_of(plugin)() as emulator:
        config = one_provider(plugin, emulator.provider_options())
        config["providers"]["only"]["unicode"] = True
        async with router_for(config) as router:
            assert router.provider("only").capabilities.unicode
            result = await router.send(Message(to="+61412345678", text=CYRILLIC, sender="Demo"))
    assert result.ok
    assert (result.encoding.value, result.segments) == ("ucs2", 2)
    assert sent_texts(emulator) == [CYRILLIC]  # exactly as written, nothing transliterated


async def test_unicode_false_switches_it_off_where_the_plugin_claims_it() -> None:
    async with emulator_of("smsc")() as emulator:
        config = one_provider("smsc", emulator.provider_options())
        async with router_for(config) as router:
            first = await router.send(Message(to="+61412345678", text=CYRILLIC))
        config["providers"]["only"]["unicode"] = False
        async with router_for(config) as router:
            plan = router.route(Message(to="+61412345678", text=CYRILLIC))
            with pytest.raises(NoRouteError):
                await router.send(Message(to="+61412345678", text=CYRILLIC))
            plain = await router.send(Message(to="+61412345678", text="Hello"))
    assert first.ok
    assert plain.ok  # GSM-7 text still goes
    assert [(e.provider, e.reason) for e in plan.routes[0].excluded] == [
        ("only", "cannot send Unicode (UCS-2) text")
    ]
    assert sent_texts(emulator) == [CYRILLIC, "Hello"]


def test_unicode_takes_a_bool_and_nothing_else() -> None:
    config = one_provider("smsbroadcast", {"username": "u", "password": "secret-pw"})
    config["providers"]["only"]["unicode"] = "yes"
    with pytest.raises(ConfigError) as wrong:
        parse_config(config, PluginHost.load(autoload=False))
    assert [p for p in wrong.value.problems if "unicode" in p] == [
        "providers.only.unicode: expected true or false, got 'yes'"
    ]
