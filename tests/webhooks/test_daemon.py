"""Webhooks end to end: the daemon, an emulator, a receiver on loopback.

A kill needs the real process (``python -m router serve``); the rest drive the same app in
this process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema

from plugins.smsbroadcast.emulator import SMSBroadcastEmulator
from router.daemon.openapi import OPENAPI
from tests.daemon.support import wait_until
from tests.webhooks.support import (
    CALLBACK_SECRET,
    DaemonProcess,
    InProcessDaemon,
    Receiver,
    WebhookMetric,
)

CONFIG = """
[router]
default_region = "AU"
policy = ["priority"]

[server]
api_tokens = ["${{SMSROUTER_API_TOKEN}}"]
callback_secret = "${{SMSROUTER_CALLBACK_SECRET}}"
shutdown_timeout = "5s"

[store]
url = "sqlite:///{db}"

[providers.broadcast]
plugin = "smsbroadcast"
username = "demo"
password = "demo-password"
base_url = "{broadcast}/api-adv.php"
timeout = "5s"

[[webhooks]]
name = "app"
url = "{receiver}"
events = {events}
secret = "${{SMSROUTER_WEBHOOK_SECRET}}"
timeout = "2s"
backoff = "100ms"
max_backoff = "{max_backoff}"
max_age = "{max_age}"
"""

Factory = Callable[[str], DaemonProcess]
Served = Callable[[str], InProcessDaemon]


def config(
    tmp_path: Path,
    broadcast: SMSBroadcastEmulator,
    receiver: Receiver,
    events: str = '["delivery_report", "inbound_message"]',
    max_backoff: str = "300ms",
    max_age: str = "1h",
) -> str:
    """The daemon's config: SMS Broadcast's emulator, and one webhook to the receiver."""
    return CONFIG.format(
        db=tmp_path / "journal.db",
        broadcast=broadcast.url,
        receiver=receiver.url,
        events=events,
        max_backoff=max_backoff,
        max_age=max_age,
    )


def point_callbacks(broadcast: SMSBroadcastEmulator, daemon: WebhookMetric) -> None:
    """Make the emulator push to the daemon."""
    broadcast.callback_url = f"{daemon.url}/callbacks/broadcast/dlr/{CALLBACK_SECRET}"
    broadcast.inbound_url = f"{daemon.url}/callbacks/broadcast/inbound/{CALLBACK_SECRET}"


def schema(name: str) -> dict[str, Any]:
    """A component schema of the OpenAPI document, resolvable on its own."""
    return {"$ref": f"#/components/schemas/{name}", "components": OPENAPI["components"]}


async def events(daemon: WebhookMetric, query: str = "") -> list[dict[str, Any]]:
    """``GET /v1/events``, checked against the OpenAPI document."""
    status, page = await daemon.request("GET", f"/v1/events{query}")
    assert status == 200, page
    jsonschema.validate(page, schema("WebhookEventPage"))
    items: list[dict[str, Any]] = page["items"]
    return items


async def test_a_report_and_an_inbound_text_reach_the_receiver_signed(
    tmp_path: Path,
    broadcast: SMSBroadcastEmulator,
    live_receiver: Receiver,
    served_factory: Served,
) -> None:
    await live_receiver.start()
    daemon = served_factory(config(tmp_path, broadcast, live_receiver))
    await daemon.start()
    point_callbacks(broadcast, daemon)
    body = {"to": "0412 345 678", "text": "Hello", "reference": "order-17"}
    status, sent = await daemon.request("POST", "/v1/messages", json=body)
    assert status == 200, sent
    smsref = sent["recipients"][0]["provider_message_id"]
    broadcast.push_inbound("61400111222", "61400000000", "YES please", ref=sent["id"])

    def by_type() -> dict[str, dict[str, Any]]:
        return {e["type"]: e for e in live_receiver.taken().values()}

    both = await wait_until(lambda: asyncio.sleep(0, len(by_type()) == 2 and by_type()))
    report, inbound = both["delivery_report"], both["inbound_message"]
    assert report["data"] == {
        "message_id": sent["id"],
        "reference": "order-17",
        "recipient": "+61412345678",
        "provider": "broadcast",
        "provider_message_id": smsref,
        "status": "delivered",
        "raw_status": "Delivered",
        "error_code": None,
        "description": "",
        "part": None,
        "at": None,
    }
    assert inbound["data"] == {
        "provider": "broadcast",
        "from": "+61400111222",
        "to": "+61400000000",
        "text": "YES please",
        "provider_message_id": None,
        "in_reply_to": sent["id"],
        "in_reply_to_reference": "order-17",
        "at": None,
    }
    assert len(live_receiver.posts) == 2
    for post in live_receiver.posts:
        assert post.verified
        assert post.headers["Smsrouter-Event-Id"] == post.event["id"]
        assert post.headers["Smsrouter-Event-Type"] == post.event["type"]

    delivered = await events(daemon, "?state=delivered")
    assert {(e["id"], e["webhook"], e["attempts"]) for e in delivered} == {
        (report["id"], "app", 1),
        (inbound["id"], "app", 1),
    }
    assert {e["id"]: e["data"] for e in delivered} == {
        report["id"]: report["data"],
        inbound["id"]: inbound["data"],
    }
    assert await events(daemon, "?state=dead") == []
    assert [await daemon.metric(o) for o in ("delivered", "retried", "dead")] == [2.0, 0.0, 0.0]

    status, first = await daemon.request("GET", "/v1/events?limit=1")
    assert status == 200
    jsonschema.validate(first, schema("WebhookEventPage"))
    assert first["next"] is not None
    second = await events(daemon, f"?limit=1&before={first['next']}")
    newest_first = [e["id"] for e in first["items"] + second]
    assert newest_first == [e["id"] for e in await events(daemon)]
    assert len(set(newest_first)) == 2
    assert [e["id"] for e in await events(daemon, "?type=inbound_message")] == [inbound["id"]]


async def test_a_failing_receiver_gets_retries_then_a_dead_letter_that_is_requeued(
    tmp_path: Path,
    broadcast: SMSBroadcastEmulator,
    live_receiver: Receiver,
    served_factory: Served,
) -> None:
    live_receiver.status = 500
    await live_receiver.start()
    text = config(
        tmp_path, broadcast, live_receiver, '["inbound_message"]', max_backoff="200ms", max_age="1s"
    )
    daemon = served_factory(text)
    await daemon.start()
    point_callbacks(broadcast, daemon)
    broadcast.push_inbound("61400111222", "61400000000", "STOP")

    (dead,) = await wait_until(lambda: events(daemon, "?state=dead"))
    posts = live_receiver.posts
    assert len(posts) >= 3, "retried with backoff within max_age"
    assert dead["attempts"] == len(posts)
    assert {p.event["id"] for p in posts} == {dead["id"]}
    assert all(p.verified and p.answered == 500 for p in posts)
    assert (dead["state"], dead["last_status"], dead["last_error"]) == ("dead", 500, "HTTP 500")
    assert dead["data"]["text"] == "STOP"
    assert await daemon.metric("retried") == len(posts) - 1
    assert await daemon.metric("dead") == 1.0

    live_receiver.status = 200
    status, requeued = await daemon.request("POST", f"/v1/events/{dead['id']}/retry")
    assert status == 200, requeued
    jsonschema.validate(requeued, schema("Requeued"))
    assert requeued["requeued"] == 1
    assert [e["id"] for e in await wait_until(lambda: events(daemon, "?state=delivered"))] == [
        dead["id"]
    ]
    assert list(live_receiver.taken()) == [dead["id"]]
    assert await daemon.metric("delivered") == 1.0
    assert await events(daemon, "?state=dead") == []

    for path, code in [
        (f"/v1/events/{dead['id']}/retry", 409),
        ("/v1/events/evt_nothing/retry", 404),
        (f"/v1/events/{dead['id']}/retry?webhook=other", 404),
        (f"/v1/events/{dead['id']}/retry?colour=red", 400),
    ]:
        status, answer = await daemon.request("POST", path)
        assert status == code, (path, answer)
        jsonschema.validate(answer, schema("Error"))
    for query, field in [
        ("?state=lost", "state"),
        ("?type=sms", "type"),
        ("?limit=0", "limit"),
        ("?before=x", "before"),
        ("?colour=red", "colour"),
    ]:
        status, answer = await daemon.request("GET", f"/v1/events{query}")
        assert (status, answer["error"]["field"]) == (400, field), query
    status, _ = await daemon.request("GET", "/v1/events", token=None)
    assert status == 401


async def test_a_killed_daemon_loses_no_pending_event(
    tmp_path: Path,
    broadcast: SMSBroadcastEmulator,
    live_receiver: Receiver,
    daemon_factory: Factory,
) -> None:
    text = config(tmp_path, broadcast, live_receiver)  # the receiver is down
    daemon = daemon_factory(text)
    point_callbacks(broadcast, daemon)
    await daemon.start()
    for n in range(3):
        status, _ = await daemon.request(
            "POST", "/v1/messages", json={"to": "+61412345678", "text": f"hello {n}"}
        )
        assert status == 200
    for n in range(2):
        broadcast.push_inbound("61400111222", "61400000000", f"reply {n}")

    async def all_tried() -> list[dict[str, Any]]:
        pending = await events(daemon, "?state=pending")
        return pending if len(pending) == 5 and all(e["attempts"] for e in pending) else []

    pending = await wait_until(all_tried)
    assert {e["type"] for e in pending} == {"delivery_report", "inbound_message"}
    assert {e["last_error"].split(" (")[0] for e in pending} == {"cannot connect"}
    await daemon.kill()

    await live_receiver.start()
    again = daemon_factory(text)
    await again.start()
    wanted = {e["id"] for e in pending}
    await wait_until(lambda: asyncio.sleep(0, set(live_receiver.taken()) == wanted))
    assert all(p.verified for p in live_receiver.posts)
    assert len(live_receiver.posts) == 5

    async def all_delivered() -> list[dict[str, Any]]:
        delivered = await events(again, "?state=delivered")
        return delivered if len(delivered) == 5 else []

    assert {e["id"] for e in await wait_until(all_delivered)} == wanted
    assert await events(again, "?state=pending") == []
