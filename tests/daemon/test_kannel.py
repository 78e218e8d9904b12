"""Kannel's ``/cgi-bin/sendsms`` on the daemon, driven as Kannel's clients drive it.

The requests are what a Kannel client sends (GET with its query; a form POST; Kannel's
``text/plain`` POST with ``X-Kannel-*`` headers); the daemon's app serves them in this
process over loopback, sends through the emulators, and calls the client's ``dlr-url``
with Kannel's escapes filled when a provider takes the message and when its delivery
report comes back.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from yarl import URL

from router.errors import ConfigError
from router.testing import Fault
from tests.daemon.ingress_support import PASSWORD, Receiver, config
from tests.daemon.support import SECRET, InProcessDaemon, sent_texts, wait_until
from tests.daemon.test_daemon import point_callbacks

SENDSMS = "/cgi-bin/sendsms"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    made = Receiver()
    await made.server.start_server()
    yield made
    await made.server.close()


@pytest.fixture
async def daemon(tmp_path: Path, emulators: dict[str, Any], served_factory: Any) -> InProcessDaemon:
    served: InProcessDaemon = served_factory(config(tmp_path, emulators))
    await served.start()
    point_callbacks(emulators, served)
    return served


async def sendsms(
    daemon: InProcessDaemon, method: str = "GET", **kwargs: Any
) -> tuple[int, str, str]:
    """Call sendsms; (status, body, content type)."""
    assert daemon.http is not None
    async with daemon.http.request(method, daemon.url + SENDSMS, **kwargs) as answer:
        return answer.status, await answer.text(), answer.content_type


async def sendsms_raw(daemon: InProcessDaemon, query: str) -> tuple[int, str, str]:
    """A GET whose query is sent exactly as written (its bytes in another charset)."""
    assert daemon.http is not None
    async with daemon.http.get(URL(f"{daemon.url}{SENDSMS}?{query}", encoded=True)) as answer:
        return answer.status, await answer.text(), answer.content_type


def login(**fields: str) -> dict[str, str]:
    return {"username": "shop", "password": PASSWORD, **fields}


async def test_a_get_is_accepted_and_the_dlr_url_hears_the_ack_and_the_report(
    daemon: InProcessDaemon, emulators: dict[str, Any], receiver: Receiver
) -> None:
    dlr_url = f"{receiver.url}?id=order-42&type=%d&to=%p&from=%P&smsc=%i&reply=%A&at=%T&x=%q"
    params = login(to="0412345678", text="Hello Kannel", **{"from": "Shop"})
    params.update({"dlr-mask": "31", "dlr-url": dlr_url})

    status, body, content_type = await sendsms(daemon, params=params)

    assert (status, body, content_type) == (202, "0: Accepted for delivery", "text/html")
    await wait_until(lambda: _true(receiver.where(type="8") and receiver.where(type="1")))
    [ack] = receiver.where(type="8")
    assert ack["query"] == {
        "id": "order-42",
        "type": "8",
        "to": "0412345678",
        "from": "Shop",
        "smsc": "broadcast",
        "reply": "ACK/",
        "at": ack["query"]["at"],
        "x": "0412345678",
    }
    assert ack["query"]["at"].isdigit()
    [report] = receiver.where(type="1")
    assert report["query"]["reply"] == "Delivered"  # SMS Broadcast's own word, as %A
    assert report["query"]["id"] == "order-42"
    assert sent_texts(emulators["broadcast"]) == ["Hello Kannel"]


async def test_the_dlr_mask_picks_the_events_and_percent_escapes_are_filled_encoded(
    daemon: InProcessDaemon, emulators: dict[str, Any], receiver: Receiver
) -> None:
    dlr_url = f"{receiver.url}?d=%d&p=%p&n=%n&I=%I&pct=100%%"
    params = login(to="+61412345678", text="only the report", **{"from": "+61400000000"})
    params.update({"dlr-mask": "1", "dlr-url": dlr_url})

    status, _, _ = await sendsms(daemon, params=params)

    assert status == 202
    await wait_until(lambda: _true(receiver.where(d="1")))
    await emulators["broadcast"].settle()
    assert [c["query"]["d"] for c in receiver.calls] == ["1"]  # 8 was not asked for
    call = receiver.calls[0]
    assert "p=%2B61412345678" in call["raw_query"]  # the + percent-encoded, as Kannel does
    assert call["query"]["n"] == "shop"
    assert call["query"]["pct"] == "100%"
    assert len(call["query"]["I"]) == 16


async def test_a_failed_send_is_event_16_with_the_providers_answer(
    daemon: InProcessDaemon, emulators: dict[str, Any], receiver: Receiver
) -> None:
    for emulator in emulators.values():
        emulator.inject(Fault(operation="send", times=1, status=503))
    params = login(to="0412345678", text="nobody takes it")
    params.update({"dlr-mask": "24", "dlr-url": f"{receiver.url}?d=%d&A=%A"})

    status, body, _ = await sendsms(daemon, params=params)

    assert (status, body) == (202, "0: Accepted for delivery")  # taken: sent by a worker
    await wait_until(lambda: _true(receiver.where(d="16")))
    assert receiver.where(d="16")[0]["query"]["A"].startswith("NACK/")
    assert receiver.where(d="8") == []


async def test_a_form_post_and_kannels_text_plain_post_are_taken(
    daemon: InProcessDaemon, emulators: dict[str, Any]
) -> None:
    status, body, _ = await sendsms(
        daemon, "POST", data=login(to="0412345678", text="by form", smsc="office")
    )
    assert (status, body) == (202, "0: Accepted for delivery")

    headers = {
        "X-Kannel-Username": "shop",
        "X-Kannel-Password": PASSWORD,
        "X-Kannel-To": "0412345679",
        "Content-Type": "text/plain; charset=utf-8",
    }
    status, body, _ = await sendsms(daemon, "POST", data=b"by text/plain", headers=headers)
    assert (status, body) == (202, "0: Accepted for delivery")

    async def both() -> bool:
        return sorted(sent_texts(emulators["office"]) + sent_texts(emulators["broadcast"])) == [
            "by form",
            "by text/plain",
        ]

    await wait_until(both)
    assert sent_texts(emulators["office"]) == ["by form"]  # smsc names the provider


async def test_the_text_is_read_in_its_charset_and_coding_2_is_utf_16(
    daemon: InProcessDaemon, emulators: dict[str, Any], receiver: Receiver
) -> None:
    base = f"username=shop&password={PASSWORD}&to=%2B27821234567"
    status, body, _ = await sendsms_raw(daemon, f"{base}&text=Gr%FC%DFe&charset=ISO-8859-1")
    assert (status, body) == (202, "0: Accepted for delivery")
    await wait_until(lambda: _async_len(emulators["office"], 1))
    assert sent_texts(emulators["office"]) == ["Grüße"]

    # No provider here sends Unicode: the message fails (event 16), journalled as read.
    ucs2 = "".join(f"%{b:02X}" for b in "Привет".encode("utf-16-be"))
    dlr = f"{receiver.url}?d=%d&id=%I"
    query = f"{base}&text={ucs2}&coding=2&dlr-mask=16&dlr-url={_quote(dlr)}"
    status, body, _ = await sendsms_raw(daemon, query)
    assert (status, body) == (202, "0: Accepted for delivery")
    await wait_until(lambda: _true(receiver.where(d="16")))
    message_id = receiver.where(d="16")[0]["query"]["id"]
    status, record = await daemon.request("GET", f"/v1/messages/{message_id}")
    assert status == 200
    assert record["text"] == "Привет"
    assert record["encoding"] == "ucs2"


@pytest.mark.parametrize(
    ("fields", "status", "body"),
    [
        ({"password": "wrong"}, 403, "Authorization failed for sendsms"),
        ({"username": "nobody"}, 403, "Authorization failed for sendsms"),
        ({"to": None}, 400, "Missing receiver number, rejected"),
        ({"to": ""}, 400, "Empty receiver number not allowed, rejected"),
        ({"to": "0412abc"}, 400, "Number(s) has/have been denied by white- and/or black-lists."),
        ({"coding": "7"}, 400, "Coding field misformed, rejected"),
        ({"coding": "x"}, 400, "Coding field misformed, rejected"),
        ({"coding": "1"}, 400, "8-bit (binary) messages are not supported, rejected"),
        ({"dlr-mask": "99"}, 400, "DLR-Mask field misformed, rejected"),
        ({"dlr-url": "ftp://client/dlr"}, 400, "DLR-URL field misformed, rejected"),
        ({"charset": "no-such-charset"}, 400, "Charset or body misformed, rejected"),
        ({"udh": "%06%05"}, 400, "udh is not supported by this gateway, rejected"),
        ({"smsc": "elsewhere"}, 403, "Not routable. Do not try again."),
        ({"text": ""}, 400, None),
    ],
)
async def test_bad_requests_get_kannels_answers_and_nothing_is_sent(
    daemon: InProcessDaemon,
    emulators: dict[str, Any],
    fields: dict[str, str | None],
    status: int,
    body: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    params = login(to="0412345678", text="never sent")
    params.update({k: v for k, v in fields.items() if v is not None})
    for key in [k for k, v in fields.items() if v is None]:
        params.pop(key)

    with caplog.at_level(logging.DEBUG):
        got, answer, _ = await sendsms(daemon, params=params)

    assert got == status, answer
    if body is None:  # smsrouter's own check: the field and the problem, Kannel's way
        assert answer.startswith("text: ")
        assert answer.endswith(", rejected")
    else:
        assert answer == body
    assert sent_texts(emulators["broadcast"]) == sent_texts(emulators["office"]) == []
    assert PASSWORD not in caplog.text
    assert PASSWORD not in answer


async def test_without_its_table_the_ingress_is_off(
    tmp_path: Path, emulators: dict[str, Any], served_factory: Any
) -> None:
    served: InProcessDaemon = served_factory(config(tmp_path, emulators, ingress=""))
    await served.start()

    for path in (SENDSMS, "/send", "/balance"):
        status, _, _ = await _get(served, path, login(to="0412345678", text="x"))
        assert status == 404


async def test_a_user_whose_token_is_not_an_api_token_is_refused_by_the_config(
    tmp_path: Path, emulators: dict[str, Any], served_factory: Any
) -> None:
    table = f'[ingress.kannel.users.shop]\npassword = "{PASSWORD}"\ntoken = "not-a-token"\n'
    served: InProcessDaemon = served_factory(config(tmp_path, emulators, ingress=table))

    with pytest.raises(ConfigError) as caught:
        await served.start()

    assert "ingress.kannel.users.shop.token: not one of server.api_tokens" in str(caught.value)
    assert "not-a-token" not in str(caught.value)
    assert PASSWORD not in str(caught.value)


async def _get(daemon: InProcessDaemon, path: str, params: dict[str, str]) -> tuple[int, str, str]:
    assert daemon.http is not None
    async with daemon.http.get(daemon.url + path, params=params) as answer:
        return answer.status, await answer.text(), answer.content_type


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


async def _true(value: object) -> bool:
    return bool(value)


async def _async_len(emulator: Any, count: int) -> bool:
    return len(emulator.counters.sent) >= count


async def test_a_reload_turns_the_ingress_on_and_off(
    tmp_path: Path, emulators: dict[str, Any], served_factory: Any
) -> None:
    served: InProcessDaemon = served_factory(config(tmp_path, emulators, ingress=""))
    await served.start()
    assert served.daemon is not None
    params = login(to="0412345678", text="after the reload")

    assert (await sendsms(served, params=params))[0] == 404

    served.config.write_text(config(tmp_path, emulators), encoding="utf-8")
    assert await served.daemon.reload()
    assert (await sendsms(served, params=params))[:2] == (202, "0: Accepted for delivery")

    served.config.write_text(config(tmp_path, emulators, ingress=""), encoding="utf-8")
    assert await served.daemon.reload()
    assert (await sendsms(served, params=params))[0] == 404


async def test_a_report_arriving_after_a_restart_is_still_called_back(
    tmp_path: Path, emulators: dict[str, Any], served_factory: Any, receiver: Receiver
) -> None:
    broadcast = emulators["broadcast"]
    first: InProcessDaemon = served_factory(config(tmp_path, emulators))
    await first.start()
    broadcast.callback_url = None  # the report comes later, to the next daemon
    params = login(to="0412345678", text="report me later")
    params.update({"dlr-mask": "1", "dlr-url": f"{receiver.url}?d=%d&F=%F&p=%p"})
    assert (await sendsms(first, params=params))[:2] == (202, "0: Accepted for delivery")
    await wait_until(lambda: _async_len(broadcast, 1))
    sent = broadcast.counters.sent[0]
    await first.stop()

    second: InProcessDaemon = served_factory(config(tmp_path, emulators))
    await second.start()
    assert second.http is not None
    # SMS Broadcast's push (providers.md 1.4), as the emulator makes it.
    push = {"to": "61412345678", "ref": sent["ref"], "smsref": sent["smsref"]}
    push["status"] = "Delivered"
    url = f"{second.url}/callbacks/broadcast/dlr/{SECRET}"
    async with second.http.get(url, params=push) as answer:
        assert answer.status == 200

    await wait_until(lambda: _true(receiver.where(d="1")))
    assert receiver.where(d="1")[0]["query"] == {"d": "1", "F": sent["smsref"], "p": "0412345678"}


async def test_an_opted_out_number_is_event_16_and_never_sent(
    daemon: InProcessDaemon, emulators: dict[str, Any], receiver: Receiver
) -> None:
    status, _ = await daemon.request("POST", "/v1/optouts", json={"number": "+61412345679"})
    assert status == 201
    params = login(to="0412345679", text="not to them")
    params.update({"dlr-mask": "24", "dlr-url": f"{receiver.url}?d=%d&p=%p"})

    assert (await sendsms(daemon, params=params))[:2] == (202, "0: Accepted for delivery")

    await wait_until(lambda: _true(receiver.where(d="16")))
    assert receiver.where(d="16")[0]["query"]["p"] == "0412345679"
    assert sent_texts(emulators["broadcast"]) == sent_texts(emulators["office"]) == []
