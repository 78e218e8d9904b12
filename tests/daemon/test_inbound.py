"""``GET /v1/inbound`` of the daemon's app, fed by the SMS Broadcast emulator's pushes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import jsonschema
import pytest
from aiohttp.test_utils import TestClient, TestServer
from multidict import MultiDict

from plugins.smsbroadcast.emulator import SMSBroadcastEmulator
from router.daemon import Daemon, make_app
from router.daemon.inbound import page, read_query
from router.daemon.openapi import OPENAPI
from router.daemon.times import parse_time
from router.model import InboundMessage
from router.store import MemoryStore
from router.testing import FakeClock

TOKEN = "inbound-test-token"
SECRET = "inbound-test-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _provider(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "plugin": "smsbroadcast",
        "username": "demo",
        "password": "demo-password",
        "base_url": f"{url}/api-adv.php",
        "balance_interval": "0s",
        "timeout": "5s",
        **extra,
    }


class StillClock(FakeClock):
    """Time moves only when the test moves it; a sleep waits on the event loop.

    The daemon's background loops (balances, webhooks) sleep on its clock: on a
    :class:`FakeClock` every such sleep would move the time the journal stamps.
    """

    async def sleep(self, seconds: float) -> None:
        """Wait *seconds* for real (the loops sleeping here are cancelled at the end)."""
        await asyncio.sleep(seconds)


@attrs.define
class Served:
    """The daemon's app on loopback, its client, the emulator pushing to it, the clock."""

    client: TestClient[Any, Any]
    emulator: SMSBroadcastEmulator
    clock: FakeClock

    def push_to(self, provider: str) -> None:
        """Make the emulator push inbound texts as if it were *provider*."""
        self.emulator.inbound_url = str(
            self.client.server.make_url(f"/callbacks/{provider}/inbound/{SECRET}")
        )

    async def receive(self, from_: str, to: str, text: str, ref: str | None = None) -> None:
        """Push one inbound text, wait until the daemon has it, then let a minute pass."""
        push = self.emulator.push_inbound(from_, to, text, ref)
        await self.emulator.settle()
        assert push.answers == [200], push
        self.clock.advance(60)

    async def inbound(self, query: str = "") -> tuple[int, Any]:
        """``GET /v1/inbound?query``: status and JSON body."""
        async with self.client.get(f"/v1/inbound{query}", headers=AUTH) as answer:
            return answer.status, await answer.json()


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    clock = StillClock()
    emulator = SMSBroadcastEmulator(push_scale=0.001)
    await emulator.start()
    config = {
        "router": {"default_region": "AU", "policy": ["prefix", "priority"]},
        "server": {"api_tokens": [TOKEN], "callback_secret": SECRET},
        "store": {"url": f"sqlite:///{tmp_path / 'journal.db'}"},
        "providers": {
            "broadcast": _provider(emulator.url, prefixes=["61"], priority=1),
            "backup": _provider(emulator.url, priority=2),
        },
    }
    client: TestClient[Any, Any] = TestClient(
        TestServer(make_app(Daemon(config_data=config, clock=clock)), host="127.0.0.1")
    )
    await client.start_server()
    served = Served(client, emulator, clock)
    served.push_to("broadcast")
    try:
        yield served
    finally:
        await client.close()
        await emulator.stop()


def _schema(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}", "components": OPENAPI["components"]}


async def test_a_reply_names_the_message_it_answers(served: Served) -> None:
    body = {"to": "0412 345 678", "text": "Reply YES to confirm"}
    async with served.client.post("/v1/messages", json=body, headers=AUTH) as answer:
        assert answer.status == 200
        sent = await answer.json()
    assert served.emulator.counters.sent[0]["ref"] == sent["id"]

    await served.receive("0412345678", "61400000000", "YES", ref=sent["id"])
    await served.receive("61412345678", "61400000000", "who is this?", ref="0123456789abcdef")
    await served.receive("61499999999", "61400000000", "hello")
    status, found = await served.inbound()
    assert status == 200
    jsonschema.validate(found, _schema("InboundPage"))
    start = served.clock.now - 180
    assert found == {
        "items": [
            {
                "id": 3,
                "provider": "broadcast",
                "from": "+61499999999",
                "to": "+61400000000",
                "text": "hello",
                "received_at": start + 120,
                "in_reply_to": None,
            },
            {
                "id": 2,
                "provider": "broadcast",
                "from": "+61412345678",
                "to": "+61400000000",
                "text": "who is this?",
                "received_at": start + 60,
                "in_reply_to": None,
            },
            {
                "id": 1,
                "provider": "broadcast",
                "from": "+61412345678",
                "to": "+61400000000",
                "text": "YES",
                "received_at": start,
                "in_reply_to": sent["id"],
            },
        ],
        "next": None,
    }


async def test_pages_follow_the_cursor_newest_first(served: Served) -> None:
    for n in range(5):
        await served.receive(f"6141111111{n}", "61400000000", f"text {n}")
    texts: list[str] = []
    cursor: str | None = ""
    pages = 0
    while cursor is not None:
        query = "?limit=2" + (f"&before={cursor}" if cursor else "")
        status, found = await served.inbound(query)
        assert status == 200, found
        assert len(found["items"]) == (2 if found["next"] else 1)
        texts += [item["text"] for item in found["items"]]
        cursor = found["next"]
        pages += 1
    assert pages == 3
    assert texts == ["text 4", "text 3", "text 2", "text 1", "text 0"]
    # A page that ends exactly at the last message says there is no next one.
    status, found = await served.inbound("?limit=5")
    assert [i["text"] for i in found["items"]] == texts
    assert found["next"] is None
    status, found = await served.inbound("?limit=4")
    assert found["next"] == str(found["items"][-1]["id"])


async def test_filters_by_provider_number_and_time(served: Served) -> None:
    start = served.clock.now
    await served.receive("61411111111", "61400000000", "one")  # start
    served.push_to("backup")
    await served.receive("61422222222", "61400000000", "two")  # start + 60
    await served.receive("61411111111", "61400000001", "three")  # start + 120
    served.push_to("broadcast")
    await served.receive("61433333333", "61400000001", "four")  # start + 180

    async def texts(query: str) -> list[str]:
        status, found = await served.inbound(query)
        assert status == 200, (query, found)
        return [item["text"] for item in found["items"]]

    assert await texts("?provider=backup") == ["three", "two"]
    assert await texts("?provider=broadcast") == ["four", "one"]
    assert await texts("?number=%2B61411111111") == ["three", "one"]
    assert await texts("?number=%2B61400000001") == ["four", "three"]
    assert await texts("?number=%2B61400000001&provider=backup") == ["three"]
    assert await texts(f"?since={start + 60:.0f}") == ["four", "three", "two"]
    assert await texts(f"?until={start + 120:.0f}") == ["two", "one"]
    assert await texts(f"?since={start + 60:.0f}&until={start + 180:.0f}") == ["three", "two"]
    # 1700000060 is 2023-11-14T22:14:20Z, or 23:14:20 at +01:00.
    assert start + 60 == 1_700_000_060
    assert await texts("?since=2023-11-14T22:14:20Z") == ["four", "three", "two"]
    assert await texts("?until=2023-11-14T23:16:20%2B01:00") == ["three", "two", "one"]
    assert await texts("?number=%2B61499999999") == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?limit=0", "limit"),
        ("?limit=201", "limit"),
        ("?limit=ten", "limit"),
        ("?limit=-1", "limit"),
        ("?before=0", "before"),
        ("?before=abc", "before"),
        ("?since=yesterday", "since"),
        ("?since=2025-05-01T09:00:00", "since"),
        ("?until=nan", "until"),
        ("?since=1700000100&until=1700000000", "until"),
        ("?number=0412345678", "number"),
        ("?number=%2B61%20412", "number"),
        ("?provider=nope", "provider"),
        ("?colour=red", "colour"),
        ("?limit=5&limit=6", "limit"),
    ],
)
async def test_bad_parameters_are_400_naming_the_parameter(
    served: Served, query: str, field: str
) -> None:
    status, answer = await served.inbound(query)
    assert status == 400, answer
    jsonschema.validate(answer, _schema("Error"))
    assert answer["error"]["field"] == field
    assert answer["error"]["code"] == "invalid"


async def test_a_token_is_required(served: Served) -> None:
    async with served.client.get("/v1/inbound") as answer:
        assert answer.status == 401


def test_times_read_as_unix_seconds_or_zoned_iso_8601() -> None:
    assert parse_time("since", "1700000000") == 1_700_000_000.0
    assert parse_time("since", "1700000000.25") == 1_700_000_000.25
    assert parse_time("since", "2023-11-14T22:13:20Z") == 1_700_000_000.0
    assert parse_time("since", "2023-11-15T08:13:20+10:00") == 1_700_000_000.0


def test_a_query_reads_into_its_values() -> None:
    query = read_query(
        MultiDict(
            provider="office", number="+27821234567", since="10", until="20", limit="7", before="9"
        ),
        {"office"},
    )
    assert attrs.astuple(query) == ("office", "+27821234567", 10.0, 20.0, 7, 9)
    assert attrs.astuple(read_query(MultiDict(), set())) == (None, None, None, None, 50, None)


async def test_a_page_of_a_memory_journal() -> None:
    store = MemoryStore()
    for n in range(3):
        await store.add_inbound(InboundMessage("p", f"+6141111111{n}", "+61400000000", f"{n}"), n)
    query = read_query(MultiDict(limit="2"), {"p"})
    first = await page(store, query)
    assert [i["text"] for i in first["items"]] == ["2", "1"]
    assert first["next"] == "2"
    rest = await page(store, attrs.evolve(query, before=int(first["next"])))
    assert rest == {
        "items": [
            {
                "id": 1,
                "provider": "p",
                "from": "+61411111110",
                "to": "+61400000000",
                "text": "0",
                "received_at": 0,
                "in_reply_to": None,
            }
        ],
        "next": None,
    }
