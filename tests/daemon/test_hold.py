"""A provider that tells us to back off is held: SMSC's error 4, over loopback.

providers.md 3.3: SMSC answers error 4 when it has blocked our IP for a while after
frequent erroneous requests; the router fails over and leaves SMSC alone for its
``throttle_hold`` (its breaker held open, shown by ``GET /v1/providers``), then tries it
again. The daemon's app runs in this process on a clock that moves only when the test
moves it, so the hold is lived through without waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import attrs
import jsonschema
import pytest
from aiohttp.test_utils import TestClient, TestServer

from plugins.smsc.emulator import SMSCEmulator
from plugins.smsoffice.emulator import SMSOfficeEmulator
from router.daemon import Daemon, make_app
from router.daemon.openapi import OPENAPI
from router.testing import FakeClock

TOKEN = "hold-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
RU = "+79123456789"


class StillClock(FakeClock):
    """Time moves only when the test moves it; a sleep waits on the event loop.

    The daemon's background loops (balance polls) sleep on its clock: on a FakeClock that
    jumps, they would race through the hold on their own.
    """

    async def sleep(self, seconds: float) -> None:
        """Wait *seconds* for real (the loops sleeping here are cancelled at the end)."""
        await asyncio.sleep(seconds)


@attrs.define
class Served:
    """The daemon's app, its client, the two emulators and the clock they share."""

    client: TestClient[Any, Any]
    smsc: SMSCEmulator
    office: SMSOfficeEmulator
    clock: StillClock

    async def send(self, text: str) -> dict[str, Any]:
        """``POST /v1/messages`` and wait for the result."""
        body = {"to": RU, "text": text}
        async with self.client.post("/v1/messages", json=body, headers=AUTH) as answer:
            assert answer.status == 200, await answer.text()
            result: dict[str, Any] = await answer.json()
            return result

    async def smsc_state(self) -> dict[str, Any]:
        """SMSC's entry of ``GET /v1/providers``, checked against its schema."""
        async with self.client.get("/v1/providers", headers=AUTH) as answer:
            body = await answer.json()
        schema = {"$ref": "#/components/schemas/Providers", "components": OPENAPI["components"]}
        jsonschema.validate(body, schema)
        [entry] = [p for p in body["providers"] if p["name"] == "smsc"]
        return dict(entry)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    clock = StillClock()
    smsc = SMSCEmulator(clock=clock, delivery_status=None)
    office = SMSOfficeEmulator(clock=clock)
    await smsc.start()
    await office.start()
    common = {"balance_interval": "1h", "timeout": "5s"}
    config = {
        "router": {"policy": ["priority"]},
        "server": {"api_tokens": [TOKEN]},
        "store": {"url": "memory:"},
        "providers": {
            "smsc": {
                "plugin": "smsc",
                **smsc.provider_options(),
                "priority": 1,
                "throttle_hold": "2m",
                **common,
            },
            "office": {
                "plugin": "smsoffice",
                **office.provider_options(),
                "sender": "Demo",
                "priority": 2,
                **common,
            },
        },
    }
    client: TestClient[Any, Any] = TestClient(
        TestServer(make_app(Daemon(config_data=config, clock=clock)), host="127.0.0.1")
    )
    await client.start_server()
    try:
        yield Served(client, smsc, office, clock)
    finally:
        await client.close()
        await smsc.stop()
        await office.stop()


def providers_of(result: dict[str, Any]) -> list[tuple[str, str]]:
    """Each attempt of the one recipient: (provider, outcome)."""
    return [(a["provider"], a["outcome"]) for a in result["recipients"][0]["attempts"]]


async def test_smsc_error_4_holds_it_for_the_throttle_hold(served: Served) -> None:
    smsc = served.smsc
    assert (await served.smsc_state())["hold"] is None
    smsc.fail_next("send")  # the emulator's provider error: error 4, IP blocked

    first = await served.send("first")
    assert providers_of(first) == [("smsc", "provider_error"), ("office", "accepted")]
    state = await served.smsc_state()
    assert state["breaker"] == "open"
    assert state["hold"]["seconds_left"] == 120
    assert "error 4" in state["hold"]["reason"]

    served.clock.advance(119)
    during = await served.send("during the hold")
    assert providers_of(during) == [("office", "accepted")], "SMSC is left alone"
    assert smsc.counters.requests["send"] == 1, "only the request that drew error 4"
    assert (await served.smsc_state())["hold"]["seconds_left"] == 1

    served.clock.advance(1)
    after = await served.send("after the hold")
    assert providers_of(after) == [("smsc", "accepted")]
    assert [sms["mes"] for sms in smsc.counters.sent] == ["after the hold"]
    state = await served.smsc_state()
    assert (state["breaker"], state["hold"]) == ("closed", None)
