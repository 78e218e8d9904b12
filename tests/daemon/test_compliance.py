"""Opt-outs across providers, quiet hours, scheduled sends and expiry, through the daemon's
API against the SMS Broadcast and SMS Office emulators over loopback HTTP.

The daemon runs in this process on a fake clock that moves only when the test moves it;
a restart is the daemon stopped as SIGTERM stops it and a new one started on the same
journal.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import signal
import zoneinfo
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from router.daemon import Daemon, make_app
from router.daemon.app import SERVER_OPTIONS
from router.daemon.openapi import OPENAPI
from router.testing import FakeClock
from router.webhooks import EVENT_TYPE_HEADER, SIGNATURE_HEADER, verify
from tests.daemon.support import TOKEN, sent_texts, wait_until, write_config
from tests.daemon.test_daemon import config, point_callbacks

SYDNEY = zoneinfo.ZoneInfo("Australia/Sydney")
LANDLINE = "+61291234567"
"""A Sydney number: phonenumbers puts it in Sydney's zone alone (a mobile may be anywhere
in Australia, so its quiet hours end with the westernmost zone's)."""
MOBILE = "+61412345678"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def sydney(day: int, hour: int, minute: int = 0) -> float:
    return datetime.datetime(2026, 12, day, hour, minute, tzinfo=SYDNEY).timestamp()


def schema(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}", "components": OPENAPI["components"]}


class Served:
    """The daemon's app on loopback on the fake clock; restartable on the same journal."""

    def __init__(self, path: Path, env: dict[str, str], clock: FakeClock) -> None:
        self.path, self.env, self.clock = path, env, clock
        self.server: TestServer | None = None
        self.daemon: Daemon | None = None
        self.http = aiohttp.ClientSession()

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    async def start(self) -> None:
        self.daemon = Daemon(self.path, env=self.env, clock=self.clock)
        self.server = TestServer(make_app(self.daemon), host="127.0.0.1")
        await self.server.start_server(**SERVER_OPTIONS)

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()
            self.server = None

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.http.request(method, self.url + path, json=body, headers=AUTH) as answer:
            return answer.status, await answer.json()

    async def send(self, **body: Any) -> dict[str, Any]:
        status, answer = await self.request("POST", "/v1/messages", {"text": "Hi", **body})
        assert status == 200, answer
        jsonschema.validate(answer, schema("SendResult"))
        return answer  # type: ignore[no-any-return]

    async def recipient(self, message_id: str) -> dict[str, Any]:
        status, record = await self.request("GET", f"/v1/messages/{message_id}")
        assert status == 200, record
        jsonschema.validate(record, schema("MessageRecord"))
        return record["recipients"][0]  # type: ignore[no-any-return]

    async def asleep_for(self, seconds: float) -> None:
        """Wait until something (the scheduler) sleeps *seconds* on the clock."""
        await wait_until(lambda: _true(seconds in self.clock.slept))
        self.clock.slept.clear()


async def _true(value: bool) -> bool:
    return value


@pytest.fixture
async def served(
    tmp_path: Path,
    emulators: dict[str, Any],
    daemon_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Any]:
    """Start in-process daemons on a given clock; each is stopped at the end of the test."""
    monkeypatch.setenv("SMSROUTER_TEST_EVENTS", daemon_env["SMSROUTER_TEST_EVENTS"])
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    made: list[Served] = []

    async def make(text: str, clock: FakeClock) -> Served:
        path = write_config(tmp_path / f"config{len(made)}.toml", text)
        daemon = Served(path, daemon_env, clock)
        await daemon.start()
        point_callbacks(emulators, daemon)  # type: ignore[arg-type]
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        await daemon.stop()
        await daemon.http.close()


async def test_stop_on_one_provider_blocks_the_number_on_a_route_through_another(
    tmp_path: Path, emulators: dict[str, Any], served: Any
) -> None:
    # SMS Office is first for every number, SMS Broadcast second.
    text = config(tmp_path, emulators, broadcast_priority=3, policy='["priority"]')
    daemon = await served(text + '\n[optouts]\nstop_reply = "Unsubscribed. Reply START."\n',
                          FakeClock(autojump=False))  # fmt: skip
    broadcast, office = emulators["broadcast"], emulators["office"]
    push = broadcast.push_inbound(MOBILE, "+61400000000", "Stop")
    await broadcast.settle()
    assert push.answers == [200]
    # The confirmation goes back through the provider that received the STOP.
    await wait_until(lambda: _true(sent_texts(broadcast) == ["Unsubscribed. Reply START."]))
    status, listed = await daemon.request("GET", "/v1/optouts")
    assert status == 200
    jsonschema.validate(listed, schema("OptOuts"))
    assert [(o["number"], o["provider"], o["source"]) for o in listed["items"]] == [
        (MOBILE, "broadcast", "STOP")
    ]
    answer = await daemon.send(to=[MOBILE, "+61412345679"], text="Sale today")
    refused, other = answer["recipients"]
    assert (refused["status"], refused["reason"], refused["attempts"]) == (
        "rejected", "opted out", [])  # fmt: skip
    assert other["status"] == "accepted"
    assert [sms["to"] for sms in office.counters.sent] == ["61412345679"]
    assert len(broadcast.counters.sent) == 1  # the confirmation alone
    push = broadcast.push_inbound(MOBILE, "+61400000000", "START")
    await broadcast.settle()
    assert (await daemon.request("GET", "/v1/optouts"))[1]["items"] == []
    answer = await daemon.send(to=MOBILE, text="Sale today")
    assert answer["recipients"][0]["status"] == "accepted"
    assert [sms["to"] for sms in office.counters.sent] == ["61412345679", "61412345678"]


async def test_the_opt_out_list_is_kept_through_the_api(
    tmp_path: Path, emulators: dict[str, Any], served: Any
) -> None:
    daemon = await served(config(tmp_path, emulators), FakeClock(autojump=False))
    status, entry = await daemon.request("POST", "/v1/optouts", {"number": "0412 345 678"})
    assert status == 201
    jsonschema.validate(entry, schema("OptOut"))
    assert (entry["number"], entry["source"], entry["provider"]) == (MOBILE, "api", None)
    assert (await daemon.request("POST", "/v1/optouts", {"number": MOBILE}))[0] == 200
    status, bad = await daemon.request("POST", "/v1/optouts", {"number": "call me"})
    assert (status, bad["error"]["field"]) == (400, "number")
    status, one = await daemon.request("GET", "/v1/optouts?number=%2B61412345678")
    assert [o["number"] for o in one["items"]] == [MOBILE]
    status, plan = await daemon.request("POST", "/v1/route", {"to": MOBILE, "text": "Sale"})
    assert status == 200
    jsonschema.validate(plan, schema("Route"))
    assert plan["routes"][0]["settled"] == {
        "status": "rejected", "reason": "opted out", "scheduled_at": None}  # fmt: skip
    answer = await daemon.send(to=MOBILE)
    assert answer["recipients"][0]["reason"] == "opted out"
    status, removed = await daemon.request("DELETE", "/v1/optouts/+61412345678")
    assert status == 200
    jsonschema.validate(removed, schema("OptOutRemoved"))
    assert (await daemon.request("DELETE", "/v1/optouts/+61412345678"))[0] == 404
    assert (await daemon.send(to=MOBILE))["recipients"][0]["status"] == "accepted"


async def test_quiet_hours_send_at_expiry_and_cancel_hold_across_a_restart(
    tmp_path: Path, emulators: dict[str, Any], served: Any
) -> None:
    clock = FakeClock(sydney(4, 22), autojump=False)
    text = config(tmp_path, emulators, broadcast_priority=3, policy='["priority"]')
    text = text.replace(
        'on_ambiguous = "stop"', 'on_ambiguous = "stop"\nquiet_hours = "21:00-08:00"'
    )
    daemon = await served(text, clock)
    office = emulators["office"]
    night = await daemon.send(to=LANDLINE, text="Good morning")
    held = night["recipients"][0]
    assert (held["status"], held["scheduled_at"]) == ("scheduled", sydney(5, 8))
    urgent = await daemon.send(to=LANDLINE, text="Your code is 1234", urgent=True)
    assert urgent["recipients"][0]["status"] == "accepted"
    assert sent_texts(office) == ["Your code is 1234"]
    later = await daemon.send(to=LANDLINE, text="At nine", send_at="2026-12-05T09:00:00+11:00")
    assert later["recipients"][0]["scheduled_at"] == sydney(5, 9)
    stale = await daemon.send(to=LANDLINE, text="Tonight only", expires_at=sydney(5, 6))
    assert stale["recipients"][0]["status"] == "scheduled"
    dropped = await daemon.send(to=LANDLINE, text="Never", send_at=sydney(5, 9, 30))
    status, cancelled = await daemon.request("DELETE", f"/v1/messages/{dropped['id']}")
    assert status == 200, cancelled
    jsonschema.validate(cancelled, schema("MessageRecord"))
    assert cancelled["recipients"][0]["status"] == "cancelled"
    assert (await daemon.request("DELETE", f"/v1/messages/{dropped['id']}"))[0] == 409
    status, page = await daemon.request("GET", "/v1/messages?status=held")
    jsonschema.validate(page, schema("MessagePage"))
    assert {m["id"] for m in page["items"]} == {night["id"], later["id"], stale["id"]}

    await daemon.stop()  # as SIGTERM stops it: the held messages stay in the journal
    await daemon.start()
    point_callbacks(emulators, daemon)
    await daemon.asleep_for(sydney(5, 6) - clock.now)
    clock.advance(sydney(5, 6) - clock.now)

    async def expired() -> bool:
        status: str = (await daemon.recipient(stale["id"]))["status"]
        return status == "expired"

    await wait_until(expired)
    await daemon.asleep_for(sydney(5, 8) - clock.now)
    clock.advance(sydney(5, 8) - clock.now)
    await wait_until(lambda: _true(len(sent_texts(office)) == 2))
    assert sent_texts(office)[1] == "Good morning"
    sent = await daemon.recipient(night["id"])
    assert (sent["status"], sent["attempts"][0]["at"]) == ("accepted", sydney(5, 8))
    await daemon.asleep_for(sydney(5, 9) - clock.now)
    clock.advance(sydney(5, 9) - clock.now)
    await wait_until(lambda: _true(len(sent_texts(office)) == 3))
    assert (await daemon.recipient(later["id"]))["attempts"][0]["at"] == sydney(5, 9)
    clock.advance(3600)
    await asyncio.sleep(0.2)
    assert sent_texts(office) == ["Your code is 1234", "Good morning", "At nine"]
    assert (await daemon.recipient(dropped["id"]))["status"] == "cancelled"
    assert (await daemon.recipient(stale["id"]))["status"] == "expired"


async def test_messages_are_found_by_reference_and_paged(
    tmp_path: Path, emulators: dict[str, Any], served: Any
) -> None:
    clock = FakeClock(autojump=False)
    daemon = await served(config(tmp_path, emulators), clock)
    ids = []
    for index in range(3):
        ids.append((await daemon.send(to=MOBILE, reference=f"order-{index}"))["id"])
        clock.advance(1)
    status, found = await daemon.request("GET", "/v1/messages?reference=order-1")
    assert (status, [m["id"] for m in found["items"]], found["next"]) == (200, [ids[1]], None)
    status, first = await daemon.request("GET", "/v1/messages?limit=2&status=done")
    assert [m["id"] for m in first["items"]] == [ids[2], ids[1]]
    status, rest = await daemon.request("GET", f"/v1/messages?limit=2&cursor={first['next']}")
    assert ([m["id"] for m in rest["items"]], rest["next"]) == ([ids[0]], None)
    since = clock.now - 1
    status, recent = await daemon.request("GET", f"/v1/messages?since={since}")
    assert [m["id"] for m in recent["items"]] == [ids[2]]
    for query, field in [("?status=lost", "status"), ("?cursor=x", "cursor"),
                         ("?limit=0", "limit"), ("?colour=red", "colour")]:  # fmt: skip
        status, answer = await daemon.request("GET", f"/v1/messages{query}")
        assert (status, answer["error"]["field"]) == (400, field)


async def test_bad_times_are_refused_naming_the_field(
    tmp_path: Path, emulators: dict[str, Any], served: Any
) -> None:
    daemon = await served(config(tmp_path, emulators), FakeClock(autojump=False))
    spoilt: list[tuple[dict[str, Any], str]] = [
        ({"send_at": "tomorrow"}, "send_at"),
        ({"send_at": "2026-12-05T09:00:00"}, "send_at"),
        ({"expires_at": True}, "expires_at"),
        ({"send_at": 5e12}, "send_at"),
        ({"send_at": 200.0, "expires_at": 100.0}, "expires_at"),
        ({"urgent": "yes"}, "urgent"),
        ({"callback_url": "https://example.com/cb"}, "callback_url"),
    ]
    for body, field in spoilt:
        status, answer = await daemon.request(
            "POST", "/v1/messages", {"to": MOBILE, "text": "Hi", **body}
        )
        assert (status, answer["error"]["field"]) == (400, field), body


async def test_a_callback_url_gets_its_messages_reports_signed_with_retries_after_a_500(
    tmp_path: Path, emulators: dict[str, Any], served: Any
) -> None:
    posts: list[tuple[dict[str, str], bytes]] = []

    async def receive(request: web.Request) -> web.Response:
        posts.append((dict(request.headers), await request.read()))
        return web.Response(status=500 if len(posts) == 1 else 204)

    app = web.Application()
    app.router.add_post("/hooks/sms", receive)
    receiver = TestServer(app, host="127.0.0.1")
    await receiver.start_server()
    try:
        clock = FakeClock(autojump=False)
        secret = "callback-secret-0123"
        text = config(tmp_path, emulators) + (
            f'\n[message_callbacks]\nsecret = "{secret}"\nbackoff = "2s"\n'
        )
        daemon = await served(text, clock)
        url = str(receiver.make_url("/hooks/sms?token=abc"))
        answer = await daemon.send(to=MOBILE, text="Tracked", reference="order-7", callback_url=url)
        assert answer["recipients"][0]["status"] == "accepted"
        await wait_until(lambda: _true(len(posts) == 1))
        clock.advance(2)
        await wait_until(lambda: _true(len(posts) == 2))
        for headers, body in posts:
            signature = headers[SIGNATURE_HEADER]
            assert verify(secret, signature, body, clock.now)
            assert headers[EVENT_TYPE_HEADER] == "delivery_report"
        first, second = (json.loads(body) for _, body in posts)
        assert first == second
        data = first["data"]
        assert (data["message_id"], data["reference"], data["recipient"]) == (
            answer["id"], "order-7", MOBILE)  # fmt: skip
        assert data["provider"] == "broadcast"
        status, page = await daemon.request("GET", "/v1/events?webhook=callback_url")
        assert status == 200
        (item,) = page["items"]
        assert (item["state"], item["attempts"], item["last_status"]) == ("delivered", 2, 204)
        status, record = await daemon.request("GET", f"/v1/messages/{answer['id']}")
        assert record["callback_url"] == url
    finally:
        await receiver.close()


async def test_a_message_without_a_callback_url_posts_nothing_there(
    tmp_path: Path, emulators: dict[str, Any], served: Any
) -> None:
    text = config(tmp_path, emulators) + '\n[message_callbacks]\nsecret = "callback-secret-0123"\n'
    daemon = await served(text, FakeClock(autojump=False))
    answer = await daemon.send(to=MOBILE, text="Untracked")

    async def delivered() -> bool:
        delivery: object = (await daemon.recipient(answer["id"]))["delivery"]
        return delivery is not None

    await wait_until(delivered)
    status, page = await daemon.request("GET", "/v1/events?webhook=callback_url")
    assert (status, page["items"]) == (200, [])


async def test_a_held_message_outlives_a_killed_daemon_process(
    tmp_path: Path, emulators: dict[str, Any], daemon_factory: Any
) -> None:
    daemon = daemon_factory(config(tmp_path, emulators))
    await daemon.start()
    status, answer = await daemon.request(
        "POST",
        "/v1/messages",
        json={"to": MOBILE, "text": "Next year", "send_at": "2099-01-01T09:00:00+11:00"},
    )
    assert status == 200, answer
    held = answer["recipients"][0]
    assert held["status"] == "scheduled"
    daemon.signal(signal.SIGKILL)
    await daemon.wait()
    await daemon.start()
    status, record = await daemon.request("GET", f"/v1/messages/{answer['id']}")
    assert (status, record["state"]) == (200, "held")
    assert record["recipients"][0]["scheduled_at"] == held["scheduled_at"]
    status, page = await daemon.request("GET", "/v1/messages?status=scheduled")
    assert [m["id"] for m in page["items"]] == [answer["id"]]
    status, cancelled = await daemon.request("DELETE", f"/v1/messages/{answer['id']}")
    assert (status, cancelled["recipients"][0]["status"]) == (200, "cancelled")
    assert sent_texts(emulators["broadcast"]) == []
