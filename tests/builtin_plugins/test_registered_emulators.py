"""The emulators the built-in plugins register, as the command line and the demo use them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from router import Clock, Message
from router.engine import Router
from router.errors import NoRouteError
from router.plugins import PluginHost
from router.testing import Emulator, FakeClock

BUILT_IN = ["smsbroadcast", "smsc", "smscentral", "smsoffice"]
REQUIRED = {"smsoffice": {"sender": "Demo"}}
"""Options a provider table must have beside what its emulator gives."""


def one_provider(plugin: str, options: dict[str, str | None]) -> dict[str, Any]:
    table = {k: v for k, v in options.items() if v is not None}
    return {
        "router": {"policy": ["priority"], "max_attempts": 1},
        "providers": {"only": {"plugin": plugin, **REQUIRED.get(plugin, {}), **table}},
    }


@contextlib.asynccontextmanager
async def router_for(config: dict[str, Any], clock: Clock | None = None) -> AsyncIterator[Router]:
    """A Router without its balance poller: the tests read balances themselves."""
    router = Router(config, autoload=False, clock=clock)
    await router.start(track_balances=False)
    try:
        yield router
    finally:
        await router.aclose()


def emulator_of(plugin: str) -> type[Emulator]:
    cls = PluginHost.load(autoload=False).emulators.get(plugin)
    assert cls is not None
    return cls


def test_each_built_in_registers_the_emulator_of_its_provider_type() -> None:
    host = PluginHost.load(autoload=False)
    assert host.emulators.names() == BUILT_IN
    for name in BUILT_IN:
        assert emulator_of(name).name == name
        assert host.providers.get(name) is not None


@pytest.mark.parametrize("plugin", BUILT_IN)
async def test_provider_options_point_an_adapter_at_the_emulator(plugin: str) -> None:
    async with emulator_of(plugin)() as emulator:
        config = one_provider(plugin, emulator.provider_options())
        async with router_for(config) as router:
            balance = await router.balance("only")
    assert balance.amount > 0
    assert emulator.counters.requests["balance"] == 1


@pytest.mark.parametrize("plugin", BUILT_IN)
async def test_fail_next_answers_the_providers_own_error_once(plugin: str) -> None:
    async with emulator_of(plugin)() as emulator:
        emulator.fail_next("send")
        config = one_provider(plugin, emulator.provider_options())
        clock = FakeClock()
        async with router_for(config, clock) as router:
            with pytest.raises(NoRouteError) as failed:
                await router.send(Message(to="+61412345678", text="one", sender="Demo"))
            # SMSC's error 4 holds the provider for a while (providers.md 3.3): let it pass.
            clock.advance(3600)
            second = await router.send(Message(to="+61412345678", text="two", sender="Demo"))
    assert failed.value.reasons["only"].startswith("provider_error: ")
    assert second.ok


async def test_emulate_all_prints_each_api_url() -> None:
    env = {**os.environ, "SMSROUTER_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("SMSROUTER_CALLBACK_SECRET", None)  # none given: the emulators make one up
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "router", "emulate", "all", stdout=asyncio.subprocess.PIPE, env=env
    )
    assert process.stdout is not None
    try:
        lines = [(await asyncio.wait_for(process.stdout.readline(), 30)).decode() for _ in BUILT_IN]
        urls = {}
        for line in lines:  # "broadcast (smsbroadcast): URL (account ...)"
            name, _, rest = line.partition(": ")
            urls[name.split("(")[1].rstrip(")")] = rest.split()[0]
        assert sorted(urls) == BUILT_IN
        async with aiohttp.ClientSession() as http:
            for plugin, url in urls.items():
                base_path = emulator_of(plugin).base_path
                assert base_path
                assert url.endswith(base_path)
                async with http.get(url) as answer:
                    assert answer.status < 500
    finally:
        process.terminate()
        await process.wait()
