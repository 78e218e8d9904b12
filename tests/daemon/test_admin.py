"""The operators' routes over real HTTP: suspend, resume, reset, and what they change.

The daemon's app runs in this process against two emulators on loopback, its journal a
SQLite file, so a suspension is seen to survive a second daemon on the same file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from aiohttp.test_utils import TestClient, TestServer

from plugins.smsc.emulator import SMSCEmulator
from plugins.smsoffice.emulator import SMSOfficeEmulator
from router.daemon import Daemon, make_app
from router.daemon.openapi import OPENAPI
from router.testing import Fault

TOKEN = "admin-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
RU = "+79123456789"


def schema(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}", "components": OPENAPI["components"]}


@pytest.fixture
async def emulators() -> AsyncIterator[tuple[SMSCEmulator, SMSOfficeEmulator]]:
    smsc, office = SMSCEmulator(delivery_status=None), SMSOfficeEmulator()
    await smsc.start()
    await office.start()
    yield smsc, office
    await smsc.stop()
    await office.stop()


Serve = Callable[[], Any]


@pytest.fixture
async def serve(
    tmp_path: Path, emulators: tuple[SMSCEmulator, SMSOfficeEmulator]
) -> AsyncIterator[Serve]:
    """Start a daemon on the test's journal file; each is closed at the end."""
    smsc, office = emulators
    common = {"balance_interval": "1h", "timeout": "5s"}
    config = {
        "router": {"policy": ["priority"]},
        "server": {"api_tokens": [TOKEN]},
        "store": {"url": f"sqlite:///{tmp_path / 'journal.db'}"},
        "providers": {
            "smsc": {"plugin": "smsc", **smsc.provider_options(), "priority": 1, **common},
            "office": {
                "plugin": "smsoffice",
                **office.provider_options(),
                "sender": "Demo",
                "priority": 2,
                **common,
            },
        },
    }
    clients: list[TestClient[Any, Any]] = []

    async def start() -> TestClient[Any, Any]:
        app = make_app(Daemon(config_data=config))
        client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


async def call(
    client: TestClient[Any, Any], method: str, path: str, **kwargs: Any
) -> tuple[int, Any]:
    kwargs.setdefault("headers", AUTH)
    async with client.request(method, path, **kwargs) as answer:
        return answer.status, await answer.json(content_type=None)


async def provider(client: TestClient[Any, Any], name: str) -> dict[str, Any]:
    status, body = await call(client, "GET", "/v1/providers")
    assert status == 200
    jsonschema.validate(body, schema("Providers"))
    [entry] = [p for p in body["providers"] if p["name"] == name]
    return dict(entry)


async def test_suspend_shows_in_providers_route_metrics_and_sends_fail_over(
    serve: Serve, emulators: tuple[SMSCEmulator, SMSOfficeEmulator]
) -> None:
    smsc, office = emulators
    client = await serve()

    status, body = await call(
        client, "POST", "/v1/providers/smsc/suspend", json={"reason": "invoice unpaid"}
    )

    assert status == 200, body
    jsonschema.validate(body, schema("Provider"))
    assert body["name"] == "smsc"
    assert body["suspended"]["reason"] == "invoice unpaid"
    assert (await provider(client, "smsc"))["suspended"] == body["suspended"]
    assert (await provider(client, "office"))["suspended"] is None

    status, plan = await call(client, "POST", "/v1/route", json={"to": [RU], "text": "Hi"})
    assert status == 200
    [route] = plan["routes"]
    assert [c["provider"] for c in route["candidates"]] == ["office"]
    assert route["excluded"] == [
        {
            "provider": "smsc",
            "policy": "suspended",
            "reason": "suspended by an operator: invoice unpaid",
        }
    ]

    status, result = await call(client, "POST", "/v1/messages", json={"to": [RU], "text": "Hi"})
    assert status == 200
    assert result["recipients"][0]["provider"] == "office"
    assert smsc.counters.sent == []
    assert len(office.counters.sent) == 1

    async with client.get("/metrics") as answer:
        metrics = await answer.text()
    assert 'smsrouter_provider_suspended{provider="smsc"} 1.0' in metrics
    assert 'smsrouter_provider_suspended{provider="office"} 0.0' in metrics


async def test_a_suspension_survives_a_restart_until_resumed(serve: Serve) -> None:
    first = await serve()
    status, _ = await call(first, "POST", "/v1/providers/smsc/suspend", json={"reason": "x"})
    assert status == 200
    await first.close()

    second = await serve()
    assert (await provider(second, "smsc"))["suspended"]["reason"] == "x"

    status, body = await call(second, "POST", "/v1/providers/smsc/resume")
    assert status == 200
    assert body["suspended"] is None
    status, plan = await call(second, "POST", "/v1/route", json={"to": [RU], "text": "Hi"})
    assert [c["provider"] for c in plan["routes"][0]["candidates"]] == ["smsc", "office"]
    await second.close()

    third = await serve()
    assert (await provider(third, "smsc"))["suspended"] is None


async def test_reset_closes_a_breaker_the_provider_opened(
    serve: Serve, emulators: tuple[SMSCEmulator, SMSOfficeEmulator]
) -> None:
    smsc, _ = emulators
    client = await serve()
    smsc.inject(Fault(operation="send", status=503, times=3))
    for n in range(3):
        status, _ = await call(client, "POST", "/v1/messages", json={"to": [RU], "text": f"{n}"})
        assert status == 200
    assert (await provider(client, "smsc"))["breaker"] == "open"

    status, body = await call(client, "POST", "/v1/providers/smsc/reset")

    assert status == 200
    assert body["breaker"] == "closed"
    status, result = await call(client, "POST", "/v1/messages", json={"to": [RU], "text": "ok"})
    assert result["recipients"][0]["provider"] == "smsc"


async def test_the_actions_are_listed_newest_first_across_a_restart(serve: Serve) -> None:
    first = await serve()
    for action, reason in (("suspend", "invoice unpaid"), ("resume", "paid"), ("reset", "")):
        body = {"reason": reason} if reason else None
        status, _ = await call(first, "POST", f"/v1/providers/smsc/{action}", json=body)
        assert status == 200
    await call(first, "POST", "/v1/providers/office/reset")
    await first.close()

    second = await serve()
    status, body = await call(second, "GET", "/v1/providers/smsc/actions")

    assert status == 200
    jsonschema.validate(body, schema("AdminActions"))
    assert [(a["action"], a["reason"]) for a in body["actions"]] == [
        ("reset", ""),
        ("resume", "paid"),
        ("suspend", "invoice unpaid"),
    ]
    status, body = await call(second, "GET", "/v1/providers/smsc/actions?limit=1")
    assert [a["action"] for a in body["actions"]] == ["reset"]
    status, body = await call(second, "GET", "/v1/providers/smsc/actions?limit=0")
    assert status == 400
    assert body["error"]["field"] == "limit"
    for query in ("limit=1&limit=2", "colour=red"):
        status, body = await call(second, "GET", f"/v1/providers/smsc/actions?{query}")
        assert status == 400, query
    status, _ = await call(second, "GET", "/v1/providers/smsc/actions", headers={})
    assert status == 401


@pytest.mark.parametrize("action", ["suspend", "resume", "reset"])
async def test_the_routes_need_the_token(serve: Serve, action: str) -> None:
    client = await serve()

    status, body = await call(client, "POST", f"/v1/providers/smsc/{action}", headers={})
    assert status == 401
    assert body["error"]["code"] == "unauthorized"
    wrong = {"Authorization": "Bearer not-the-token"}
    status, _ = await call(client, "POST", f"/v1/providers/smsc/{action}", headers=wrong)
    assert status == 401
    assert (await provider(client, "smsc"))["suspended"] is None


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/v1/providers/nobody/suspend", None, 404, "name"),
        ("/v1/providers/smsc/suspend", {"reason": 5}, 400, "reason"),
        ("/v1/providers/smsc/suspend", {"reason": "a\nb"}, 400, "reason"),
        ("/v1/providers/smsc/suspend", {"reason": "x" * 501}, 400, "reason"),
        ("/v1/providers/smsc/suspend", {"why": "x"}, 400, "why"),
        ("/v1/providers/smsc/suspend", ["x"], 400, "body"),
    ],
)
async def test_bad_requests_name_what_is_wrong(
    serve: Serve, path: str, body: Any, status: int, field: str
) -> None:
    client = await serve()

    got, answer = await call(client, "POST", path, json=body)

    assert got == status, answer
    jsonschema.validate(answer, schema("Error"))
    assert answer["error"]["field"] == field
    assert (await provider(client, "smsc"))["suspended"] is None


def test_the_openapi_document_describes_the_routes() -> None:
    for action in ("suspend", "resume", "reset"):
        operation = OPENAPI["paths"][f"/v1/providers/{{name}}/{action}"]["post"]
        assert operation["operationId"] == f"{action}Provider"
        assert operation["tags"] == ["admin"]
        assert operation["description"]
        assert operation["summary"]
        assert set(operation["responses"]) >= {"200", "400", "401", "404"}
    jsonschema.Draft202012Validator.check_schema(schema("Provider"))
