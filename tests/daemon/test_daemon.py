"""The daemon against the SMS Broadcast and SMS Office emulators, over loopback HTTP.

Signals and a kill need the real process (``python -m router serve``); the rest drive the
same app in this process.
"""

from __future__ import annotations

import asyncio
import io
import json
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from router.daemon.openapi import OPENAPI
from router.testing import Fault
from tests.daemon.support import SECRET, DaemonClient, finished, sent_texts, wait_until

CONFIG = """
[router]
default_region = "AU"
policy = {policy}
plugins = ["event_recorder"]
on_ambiguous = "stop"

[server]
api_tokens = ["${{SMSROUTER_API_TOKEN}}"]
callback_secret = "${{SMSROUTER_CALLBACK_SECRET}}"
workers = 4
shutdown_timeout = "10s"

[store]
url = "sqlite:///{db}"

[providers.broadcast]
plugin = "smsbroadcast"
username = "demo"
password = "demo-password"
base_url = "{broadcast}/api-adv.php"
prefixes = ["61"]
priority = {broadcast_priority}
timeout = "5s"

[providers.office]
plugin = "smsoffice"
username = "demo"
password = "demo-password"
sender = "Demo"
base_url = "{office}/sms/api"
priority = 2
timeout = "5s"
"""


def config(
    tmp_path: Path,
    emulators: dict[str, Any],
    broadcast_priority: int = 1,
    policy: str = '["prefix", "priority"]',
) -> str:
    """The test config pointed at the emulators."""
    return CONFIG.format(
        policy=policy,
        db=tmp_path / "journal.db",
        broadcast=emulators["broadcast"].url,
        office=emulators["office"].url,
        broadcast_priority=broadcast_priority,
    )


def point_callbacks(emulators: dict[str, Any], daemon: DaemonClient) -> None:
    """Make each emulator push to the daemon's callback URLs."""
    for name, emulator in emulators.items():
        emulator.callback_url = f"{daemon.url}/callbacks/{name}/dlr/{SECRET}"
        emulator.inbound_url = f"{daemon.url}/callbacks/{name}/inbound/{SECRET}"


def events(tmp_path: Path) -> list[dict[str, Any]]:
    """What the event_recorder plugin wrote."""
    path = tmp_path / "events.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def schema(name: str) -> dict[str, Any]:
    """A component schema of the OpenAPI document, resolvable on its own."""
    return {"$ref": f"#/components/schemas/{name}", "components": OPENAPI["components"]}


async def test_send_fails_over_and_reports_come_back(
    tmp_path: Path, emulators: dict[str, Any], served_factory: Any
) -> None:
    daemon = served_factory(config(tmp_path, emulators))
    await daemon.start()
    point_callbacks(emulators, daemon)
    emulators["broadcast"].inject(
        Fault(operation="send", times=1, body="ERROR: Service temporarily unavailable")
    )
    status, result = await daemon.request(
        "POST", "/v1/messages", json={"to": "0412 345 678", "text": "failover please"}
    )
    assert status == 200, result
    jsonschema.validate(result, schema("SendResult"))
    recipient = result["recipients"][0]
    assert recipient["to"] == "+61412345678"
    assert recipient["status"] == "accepted"
    assert recipient["provider"] == "office"
    assert [(a["provider"], a["outcome"]) for a in recipient["attempts"]] == [
        ("broadcast", "provider_error"),
        ("office", "accepted"),
    ]
    assert sent_texts(emulators["office"]) == ["failover please"]
    assert sent_texts(emulators["broadcast"]) == []

    async def delivered() -> dict[str, Any] | None:
        _, record = await daemon.request("GET", f"/v1/messages/{result['id']}")
        delivery = record["recipients"][0]["delivery"]
        return record if delivery and delivery["status"] == "delivered" else None

    record = await wait_until(delivered)
    jsonschema.validate(record, schema("MessageRecord"))
    assert record["state"] == "done"

    emulators["broadcast"].push_inbound("61400111222", "61400000000", "YES please")
    await emulators["broadcast"].settle()
    inbound = await wait_until(
        lambda: asyncio.sleep(0, [e for e in events(tmp_path) if e["event"] == "inbound"])
    )
    assert inbound[0]["text"] == "YES please"
    assert inbound[0]["from"] == "+61400111222"
    assert inbound[0]["provider"] == "broadcast"
    assert any(e["event"] == "dlr" and e["message_id"] == result["id"] for e in events(tmp_path))


async def test_same_reference_sends_once(
    tmp_path: Path, emulators: dict[str, Any], served_factory: Any
) -> None:
    daemon = served_factory(config(tmp_path, emulators))
    await daemon.start()
    body = {"to": "+61412345678", "text": "only once", "reference": "order-17"}
    first = await daemon.request("POST", "/v1/messages", json=body)
    second = await daemon.request("POST", "/v1/messages", json=body)
    assert first[0] == second[0] == 200
    assert first[1]["duplicate"] is False
    assert second[1]["duplicate"] is True
    assert second[1]["id"] == first[1]["id"]
    assert sent_texts(emulators["broadcast"]) == ["only once"]
    queued = await daemon.request("POST", "/v1/messages", json={**body, "wait": False})
    assert queued == (200, {"id": first[1]["id"], "reference": "order-17", "duplicate": True})


async def test_bad_requests_name_the_field(
    tmp_path: Path, emulators: dict[str, Any], served_factory: Any
) -> None:
    daemon = served_factory(config(tmp_path, emulators))
    await daemon.start()
    cases = [
        ({"to": "+61412345678"}, "text"),
        ({"text": "hi"}, "to"),
        ({"to": 61412345678, "text": "hi"}, "to"),
        ({"to": ["+61412345678", 5], "text": "hi"}, "to[1]"),
        ({"to": "+61412345678", "text": "hi", "colour": "red"}, "colour"),
        ({"to": "+61 4", "text": "hi"}, "to"),
        ({"to": "+61412345678", "text": "  "}, "text"),
        ({"to": "+61412345678", "text": "hi", "wait": "no"}, "wait"),
        ({"to": "+61412345678", "text": "hi", "coalesce": 1}, "coalesce"),
        ({"to": "+61412345678", "text": "hi", "wait": False, "coalesce": True}, "coalesce"),
        ({"to": "+61412345678", "text": "hi", "sender": "A very long sender"}, "sender"),
        ({"to": "+61412345678", "text": "hi", "providers": ["nope"]}, "providers[0]"),
        ([1, 2], "body"),
    ]
    for body, field in cases:
        status, answer = await daemon.request("POST", "/v1/messages", json=body)
        assert status == 400, (body, answer)
        jsonschema.validate(answer, schema("Error"))
        assert answer["error"]["field"] == field, (body, answer)
    assert daemon.http is not None
    async with daemon.http.post(
        f"{daemon.url}/v1/messages",
        data=b"{not json",
        headers={"Authorization": "Bearer test-token"},
    ) as answer:
        assert answer.status == 400
        assert (await answer.json())["error"]["field"] == "body"
    assert sent_texts(emulators["broadcast"]) == sent_texts(emulators["office"]) == []


async def test_tokens_are_required(
    tmp_path: Path, emulators: dict[str, Any], served_factory: Any
) -> None:
    daemon = served_factory(config(tmp_path, emulators))
    await daemon.start()
    body = {"to": "+61412345678", "text": "hi"}
    for token in (None, "wrong-token", ""):
        status, answer = await daemon.request("POST", "/v1/messages", json=body, token=token)
        assert status == 401
        assert answer["error"]["code"] == "unauthorized"
    status, _ = await daemon.request("GET", "/v1/providers", token=None)
    assert status == 401
    assert sent_texts(emulators["broadcast"]) == []
    status, _ = await daemon.request("GET", "/v1/openapi.json", token=None)
    assert status == 200


async def test_callback_with_a_wrong_secret_records_nothing(
    tmp_path: Path, emulators: dict[str, Any], served_factory: Any
) -> None:
    daemon = served_factory(config(tmp_path, emulators))
    await daemon.start()
    _, result = await daemon.request(
        "POST", "/v1/messages", json={"to": "+61412345678", "text": "report me"}
    )
    smsref = result["recipients"][0]["provider_message_id"]
    query = f"to=61412345678&ref={result['id']}&smsref={smsref}&status=Delivered"
    assert daemon.http is not None
    async with daemon.http.get(f"{daemon.url}/callbacks/broadcast/dlr/wrong?{query}") as answer:
        assert answer.status == 404
    async with daemon.http.get(f"{daemon.url}/callbacks/nobody/dlr/{SECRET}?{query}") as answer:
        assert answer.status == 404
    _, record = await daemon.request("GET", f"/v1/messages/{result['id']}")
    assert record["recipients"][0]["delivery"] is None
    async with daemon.http.get(f"{daemon.url}/callbacks/broadcast/dlr/{SECRET}?{query}") as answer:
        assert answer.status == 200
        assert await answer.text() == "OK"
    _, record = await daemon.request("GET", f"/v1/messages/{result['id']}")
    assert record["recipients"][0]["delivery"]["status"] == "delivered"


async def test_sigterm_finishes_sends_in_flight(
    tmp_path: Path, emulators: dict[str, Any], daemon_factory: Any
) -> None:
    daemon = daemon_factory(config(tmp_path, emulators))
    await daemon.start()
    emulators["broadcast"].inject(Fault(operation="send", times=1, latency=0.5))
    sending = asyncio.ensure_future(
        daemon.request("POST", "/v1/messages", json={"to": "+61412345678", "text": "in flight"})
    )
    await wait_until(lambda: asyncio.sleep(0, emulators["broadcast"].counters.requests["send"]))
    daemon.signal(signal.SIGTERM)
    status, result = await sending
    assert status == 200
    assert result["recipients"][0]["status"] == "accepted"
    assert await daemon.wait() == 0
    assert sent_texts(emulators["broadcast"]) == ["in flight"]


@pytest.mark.parametrize(
    ("loop", "durability", "runs_on"),
    [("auto", "power", "uvloop"), ("asyncio", "process", "asyncio")],
)
async def test_sigkill_mid_load_loses_nothing(
    tmp_path: Path,
    emulators: dict[str, Any],
    daemon_factory: Any,
    loop: str,
    durability: str,
    runs_on: str,
) -> None:
    # A killed process loses no acknowledged message with either durability (``process``
    # gives up only what a power cut takes), on either event loop.
    text = (
        config(tmp_path, emulators)
        .replace("[server]\n", f'[server]\nloop = "{loop}"\n')
        .replace("[store]\n", f'[store]\ndurability = "{durability}"\n')
    )
    daemon = daemon_factory(text)
    await daemon.start()
    assert f"event loop: {runs_on}" in daemon.log.read_text()
    emulators["broadcast"].inject(Fault(operation="send", latency=0.02))
    acknowledged: dict[str, str] = {}

    async def post(n: int) -> None:
        text = f"load {n}"
        body = {"to": "+61412345678", "text": text, "wait": False}
        status, answer = await daemon.request("POST", "/v1/messages", json=body)
        if status == 202:
            acknowledged[answer["id"]] = text

    posts = [asyncio.ensure_future(post(n)) for n in range(120)]
    await wait_until(lambda: asyncio.sleep(0, len(sent_texts(emulators["broadcast"])) >= 10))
    daemon.signal(signal.SIGKILL)
    await asyncio.gather(*posts, return_exceptions=True)
    await daemon.wait()
    assert acknowledged, "the API acknowledged nothing before the kill"

    emulators["broadcast"].clear_faults()
    again = daemon_factory(text)
    await again.start()

    records = await wait_until(lambda: finished(again, acknowledged), 30)
    sent = Counter(sent_texts(emulators["broadcast"]) + sent_texts(emulators["office"]))
    for message_id, record in records.items():
        status = record["recipients"][0]["status"]
        count = sent[acknowledged[message_id]]
        if status == "accepted":
            assert count == 1, (record, count)
        else:
            assert status == "ambiguous", record
            assert count <= 1, (record, count)


async def test_sighup_reloads_and_keeps_the_old_config_when_bad(
    tmp_path: Path, emulators: dict[str, Any], daemon_factory: Any
) -> None:
    daemon = daemon_factory(config(tmp_path, emulators))
    await daemon.start()
    body = {"to": "+61412345678", "text": "route me"}
    _, plan = await daemon.request("POST", "/v1/route", json=body)
    jsonschema.validate(plan, schema("Route"))
    assert [c["provider"] for c in plan["routes"][0]["candidates"]] == ["broadcast", "office"]

    daemon.config.write_text(
        config(tmp_path, emulators, broadcast_priority=3, policy='["priority"]')
    )
    daemon.signal(signal.SIGHUP)

    async def swapped() -> bool:
        _, plan = await daemon.request("POST", "/v1/route", json=body)
        return [c["provider"] for c in plan["routes"][0]["candidates"]] == ["office", "broadcast"]

    await wait_until(swapped)
    daemon.config.write_text(config(tmp_path, emulators) + "\n[oops]\n")
    daemon.signal(signal.SIGHUP)
    await wait_until(lambda: asyncio.sleep(0, "config reload failed" in daemon.log.read_text()))
    assert await swapped()
    status, providers = await daemon.request("GET", "/v1/providers")
    assert status == 200
    jsonschema.validate(providers, schema("Providers"))
    status, plugins = await daemon.request("GET", "/v1/plugins")
    jsonschema.validate(plugins, schema("Plugins"))
    assert {"smsbroadcast", "smsoffice"} <= {p for i in plugins["plugins"] for p in i["providers"]}


async def test_queued_messages_are_sent_by_the_workers(
    tmp_path: Path, emulators: dict[str, Any], served_factory: Any
) -> None:
    daemon = served_factory(config(tmp_path, emulators))
    await daemon.start()
    status, queued = await daemon.request(
        "POST",
        "/v1/messages",
        json={"to": ["+61412345678", "+61412345679"], "text": "queued", "wait": False},
    )
    assert status == 202
    jsonschema.validate(queued, schema("Queued"))

    async def done() -> dict[str, Any] | None:
        _, record = await daemon.request("GET", f"/v1/messages/{queued['id']}")
        return record if record["state"] == "done" else None

    record = await wait_until(done)
    assert [r["status"] for r in record["recipients"]] == ["accepted", "accepted"]
    assert sent_texts(emulators["broadcast"]) == ["queued", "queued"]
    status, answer = await daemon.request("GET", "/v1/messages/nope")
    assert status == 404
    jsonschema.validate(answer, schema("Error"))


async def test_waiting_sends_that_may_coalesce_share_provider_requests(
    tmp_path: Path, emulators: dict[str, Any], served_factory: Any
) -> None:
    # A window the six concurrent posts surely fall in, however slow the machine.
    text = config(tmp_path, emulators).replace("[router]\n", '[router]\ncoalesce_window = "2s"\n')
    daemon = served_factory(text)
    await daemon.start()
    broadcast = emulators["broadcast"]
    numbers = [f"+6141234{n:04d}" for n in range(6)]

    async def post(to: str) -> tuple[int, Any]:
        body = {"to": to, "text": "campaign", "coalesce": True, "reference": f"c-{to}"}
        status, answer = await daemon.request("POST", "/v1/messages", json=body)
        return status, answer

    answers = await asyncio.gather(*(post(to) for to in numbers))
    for (status, result), to in zip(answers, numbers, strict=True):
        assert status == 200, result
        jsonschema.validate(result, schema("SendResult"))
        assert [(r["to"], r["status"]) for r in result["recipients"]] == [(to, "accepted")]
    assert sent_texts(broadcast) == ["campaign"] * 6
    assert broadcast.counters.requests["send"] < 6  # the six shared requests
    again = await post(numbers[0])
    assert again[0] == 200
    assert (again[1]["duplicate"], again[1]["id"]) == (True, answers[0][1]["id"])
    assert sent_texts(broadcast) == ["campaign"] * 6


async def test_a_body_over_the_limit_is_refused(
    tmp_path: Path, emulators: dict[str, Any], served_factory: Any
) -> None:
    daemon = served_factory(config(tmp_path, emulators))
    await daemon.start()
    body = json.dumps({"to": "+61412345678", "text": "x" * 2_000_000}).encode()
    assert daemon.http is not None
    async with daemon.http.post(
        f"{daemon.url}/v1/messages",
        data=io.BytesIO(body),
        headers={"Authorization": "Bearer test-token", "Content-Type": "application/json"},
    ) as answer:
        assert answer.status == 413
        assert (await answer.json())["error"]["code"] == "too_large"
    assert sent_texts(emulators["broadcast"]) == []
