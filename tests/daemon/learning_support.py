"""A daemon in this process with SMS Broadcast emulators as its providers, on a clock the
test moves: for the tests of routing that learns (quality, breakers per country,
redelivery). Sends go to the emulators over loopback and their reports come back to the
daemon's callback URLs the same way."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import jsonschema
from aiohttp.test_utils import TestClient, TestServer

from plugins.smsbroadcast.emulator import SMSBroadcastEmulator
from router import Message, SendResult
from router.daemon import Daemon, make_app
from router.daemon.openapi import OPENAPI
from router.engine import Router
from router.testing import FakeClock

TOKEN = "learning-test-token"
SECRET = "learning-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ZA = "+27821234567"
AU = "+61412345678"


class StillClock(FakeClock):
    """Time moves only when the test moves it; the daemon's background loops that sleep on
    it wait on the event loop instead (and are cancelled at the end)."""

    async def sleep(self, seconds: float) -> None:
        """Wait *seconds* for real."""
        await asyncio.sleep(seconds)


@attrs.define
class Served:
    """The daemon's app, its client, the emulators by provider name, and the clock."""

    client: TestClient[Any, Any]
    emulators: dict[str, SMSBroadcastEmulator]
    clock: StillClock
    daemon: Daemon

    @property
    def router(self) -> Router:
        """The daemon's Router."""
        return self.daemon.router

    async def send(self, to: str, message_id: str) -> SendResult:
        """Send through the daemon's Router and wait until every report came back."""
        result = await self.router.send(Message(to=to, text="hello", id=message_id))
        await self.settle()
        return result

    async def settle(self) -> None:
        """Wait for every push under way and every redelivery they started."""
        for _ in range(3):
            for emulator in self.emulators.values():
                await emulator.settle()
            await self.router.redelivery.settle()

    async def get(self, path: str, schema: str | None = None) -> Any:
        """``GET`` *path*, checked against *schema* of the OpenAPI document."""
        async with self.client.get(path, headers=AUTH) as answer:
            assert answer.status == 200, await answer.text()
            body = await answer.json()
        if schema is not None:
            ref = {"$ref": f"#/components/schemas/{schema}", "components": OPENAPI["components"]}
            jsonschema.validate(body, ref)
        return body

    async def call(self, method: str, path: str, json: Any = None) -> tuple[int, Any]:
        """Any API call: (status, JSON body)."""
        async with self.client.request(method, path, json=json, headers=AUTH) as answer:
            return answer.status, await answer.json()

    async def provider(self, name: str) -> dict[str, Any]:
        """*name*'s entry in ``GET /v1/providers``."""
        body = await self.get("/v1/providers", "Providers")
        [entry] = [p for p in body["providers"] if p["name"] == name]
        return dict(entry)

    def sent(self) -> collections.Counter[str]:
        """How many SMS each emulator took."""
        return collections.Counter({n: len(e.counters.sent) for n, e in self.emulators.items()})


@asynccontextmanager
async def served(
    tmp_path: Path, names: tuple[str, ...], router: Mapping[str, Any]
) -> AsyncIterator[Served]:
    """A daemon with one SMS Broadcast emulator per name in *names*, cheapest first."""
    clock = StillClock()
    emulators = {name: SMSBroadcastEmulator(push_scale=0.001) for name in names}
    for emulator in emulators.values():
        await emulator.start()
    providers = {
        name: {
            "plugin": "smsbroadcast",
            **emulator.provider_options(),
            "prices": {"27": 0.01 * (i + 1), "61": 0.01 * (i + 1)},
            "balance_interval": "1h",
            "timeout": "5s",
        }
        for i, (name, emulator) in enumerate(emulators.items())
    }
    config = {
        "router": {"default_region": "AU", **router},
        "server": {"api_tokens": [TOKEN], "callback_secret": SECRET},
        "store": {"url": f"sqlite:///{tmp_path / 'journal.db'}"},
        "providers": providers,
    }
    daemon = Daemon(config_data=config, clock=clock)
    client = TestClient(TestServer(make_app(daemon), host="127.0.0.1"))
    await client.start_server()
    try:
        base = str(client.make_url("")).rstrip("/")
        for name, emulator in emulators.items():
            emulator.callback_url = f"{base}/callbacks/{name}/dlr/{SECRET}"
        yield Served(client, emulators, clock, daemon)
    finally:
        await client.close()
        for emulator in emulators.values():
            await emulator.stop()
