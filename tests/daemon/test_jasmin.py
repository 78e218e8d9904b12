"""Jasmin's HTTP API (``/send``, ``/balance``) on the daemon, driven as Jasmin's clients do.

The requests are the ones Jasmin's documentation shows (GET with a query, a form POST, a
JSON POST); the daemon's app serves them in this process over loopback, sends through
the emulators, and posts the DLRs to the client's ``dlr-url`` at the levels it asked for,
until the client answers ``ACK/Jasmin``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.daemon.ingress_support import PASSWORD, Receiver, config
from tests.daemon.support import InProcessDaemon, sent_texts, wait_until
from tests.daemon.test_daemon import point_callbacks


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    made = Receiver(answer="ACK/Jasmin")
    await made.server.start_server()
    yield made
    await made.server.close()


@pytest.fixture
async def daemon(tmp_path: Path, emulators: dict[str, Any], served_factory: Any) -> InProcessDaemon:
    served: InProcessDaemon = served_factory(config(tmp_path, emulators))
    await served.start()
    point_callbacks(emulators, served)
    return served


async def call(
    daemon: InProcessDaemon, path: str, method: str = "GET", **kwargs: Any
) -> tuple[int, str, str]:
    assert daemon.http is not None
    async with daemon.http.request(method, daemon.url + path, **kwargs) as answer:
        return answer.status, await answer.text(), answer.content_type


def login(**fields: str) -> dict[str, str]:
    return {"username": "shop", "password": PASSWORD, **fields}


async def test_send_answers_success_with_the_id_and_posts_both_dlr_levels(
    daemon: InProcessDaemon, emulators: dict[str, Any], receiver: Receiver
) -> None:
    form = login(to="+61412345678", content="Hello Jasmin", dlr="yes", **{"from": "Shop"})
    form.update({"dlr-url": receiver.url, "dlr-level": "3"})

    status, body, _ = await call(daemon, "/send", "POST", data=form)

    assert status == 200
    assert body.startswith('Success "')
    message_id = body.removeprefix('Success "').removesuffix('"')
    await wait_until(lambda: _true(receiver.where(level="1") and receiver.where(level="2")))
    [level1] = receiver.where(level="1")
    assert level1["method"] == "POST"
    assert level1["form"] == {
        "id": message_id,
        "message_status": "ESME_ROK",
        "level": "1",
        "connector": "broadcast",
    }
    [level2] = receiver.where(level="2")
    fields = level2["form"]
    assert fields["id"] == message_id
    assert fields["message_status"] == "DELIVRD"
    assert fields["dlvrd"] == "001"
    assert fields["connector"] == "broadcast"
    assert fields["id_smsc"]
    assert len(fields["subdate"]) == len(fields["donedate"]) == 10
    assert sent_texts(emulators["broadcast"]) == ["Hello Jasmin"]
    status, record = await daemon.request("GET", f"/v1/messages/{message_id}")
    assert status == 200
    assert record["text"] == "Hello Jasmin"


async def test_a_get_with_dlr_method_get_and_level_2_only(
    daemon: InProcessDaemon, receiver: Receiver
) -> None:
    params = login(to="0412345678", content="by GET")
    params.update({"dlr-url": receiver.url, "dlr-level": "2", "dlr-method": "get"})

    status, body, content_type = await call(daemon, "/send", params=params)

    assert (status, content_type) == (200, "text/plain")
    assert body.startswith('Success "')
    await wait_until(lambda: _true(receiver.where(level="2")))
    assert receiver.where(level="1") == []
    assert receiver.calls[0]["method"] == "GET"
    assert receiver.calls[0]["query"]["message_status"] == "DELIVRD"


async def test_a_json_post_and_utf_16_content_with_coding_8(
    daemon: InProcessDaemon, emulators: dict[str, Any]
) -> None:
    body = json.dumps(login(to="+27821234567", content="by JSON"))
    status, answer, _ = await call(
        daemon, "/send", "POST", data=body, headers={"Content-Type": "application/json"}
    )
    assert status == 200, answer

    hex_content = "Grüße".encode("utf-16-be").hex()
    status, answer, _ = await call(
        daemon, "/send", params=login(to="+27821234567", coding="8", **{"hex-content": hex_content})
    )
    assert status == 200, answer

    await wait_until(lambda: _sent(emulators["office"], 2))
    assert sorted(sent_texts(emulators["office"])) == ["Grüße", "by JSON"]


async def test_a_client_that_does_not_ack_is_called_again(
    daemon: InProcessDaemon, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    import router.daemon.ingress as host

    monkeypatch.setattr(host, "CALLBACK_PAUSES", (0.0, 0.0))
    receiver.answer = "thanks"  # not ACK/Jasmin: Jasmin tries again
    form = login(to="+61412345678", content="retry me")
    form.update({"dlr-url": receiver.url, "dlr-level": "1"})

    status, _, _ = await call(daemon, "/send", "POST", data=form)

    assert status == 200
    await wait_until(lambda: _true(len(receiver.where(level="1")) == 3))


async def test_balance_answers_jasmins_json(daemon: InProcessDaemon) -> None:
    status, body, content_type = await call(daemon, "/balance", params=login())

    assert (status, content_type) == (200, "application/json")
    assert json.loads(body) == {"balance": "ND", "sms_count": "ND"}

    status, body, _ = await call(daemon, "/balance", params=login(password="wrong"))
    assert status == 403
    assert json.loads(body) == "Authentication failure for username:shop"

    status, body, _ = await call(daemon, "/balance", params={"username": "shop"})
    assert status == 400
    assert json.loads(body) == "Mandatory argument [password] is not found."


@pytest.mark.parametrize(
    ("fields", "status", "said"),
    [
        ({"password": "wrong"}, 403, "Authentication failure for username:shop"),
        ({"username": "nobody"}, 403, "Authentication failure for username:nobody"),
        ({"to": None}, 400, "Mandatory argument [to] is not found."),
        ({"to": "04 1234"}, 400, "Argument [to] has an invalid value: [04 1234]."),
        ({"colour": "red"}, 400, "Argument [colour] is unknown."),
        ({"dlr": "maybe"}, 400, "Argument [dlr] has an invalid value: [maybe]."),
        ({"dlr-level": "4"}, 400, "Argument [dlr-level] has an invalid value: [4]."),
        ({"dlr-url": "ftp://x"}, 400, "Argument [dlr-url] has an invalid value: [ftp://x]."),
        ({"content": None}, 400, "content or hex-content not present."),
        (
            {"hex-content": "00"},
            400,
            "content and hex-content cannot be used both in same request.",
        ),
        ({"coding": "3"}, 400, "Argument [coding] 3 is not supported by this gateway."),
        ({"priority": "1"}, 400, "Argument [priority] is not supported by this gateway."),
    ],
)
async def test_bad_requests_get_jasmins_answers_and_nothing_is_sent(
    daemon: InProcessDaemon,
    emulators: dict[str, Any],
    fields: dict[str, str | None],
    status: int,
    said: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    params = login(to="+61412345678", content="never sent")
    params.update({k: v for k, v in fields.items() if v is not None})
    for key in [k for k, v in fields.items() if v is None]:
        params.pop(key)

    with caplog.at_level(logging.DEBUG):
        got, body, _ = await call(daemon, "/send", params=params)

    assert (got, body) == (status, f'Error "{said}"')
    assert sent_texts(emulators["broadcast"]) == sent_texts(emulators["office"]) == []
    assert PASSWORD not in caplog.text


async def test_no_arguments_at_all(daemon: InProcessDaemon) -> None:
    status, body, _ = await call(daemon, "/send")

    assert status == 400
    assert body == (
        'Error "Mandatory arguments not found, please refer to the HTTPAPI specifications."'
    )


async def _true(value: object) -> bool:
    return bool(value)


async def _sent(emulator: Any, count: int) -> bool:
    return len(emulator.counters.sent) >= count
