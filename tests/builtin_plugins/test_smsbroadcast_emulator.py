"""The SMS Broadcast adapter against its emulator, over real loopback HTTP.

Sends, balances, the protocol's quirks, the limits the emulator enforces, injected faults,
pushed status reports and inbound texts (with retries on the fake clock), and the password
kept out of every error and log line.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest
from aiohttp import web

from plugins.smsbroadcast.adapter import SMSBroadcastConfig, SMSBroadcastProvider
from plugins.smsbroadcast.emulator import SMSBroadcastEmulator
from router.errors import ProviderRejectedError
from router.model import (
    Batch,
    CallbackKind,
    CallbackRequest,
    CallbackResult,
    DeliveryReport,
    DeliveryStatus,
    Encoding,
    ErrorKind,
    InboundMessage,
    Outcome,
    Recipient,
    RecipientOutcome,
    SenderKind,
)
from router.provider import ProviderContext
from router.redact import Secret
from router.testing import Account, FakeClock, Fault

MID = "0123456789abcdef"
A, B, C = "+61400111222", "+61400333444", "+61400555666"
LONG = "x" * 200  # two parts of 153 characters


@pytest.fixture
async def emulator(clock: FakeClock) -> AsyncIterator[SMSBroadcastEmulator]:
    emu = SMSBroadcastEmulator(clock=clock)
    await emu.start()
    yield emu
    await emu.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def adapter(
    session: aiohttp.ClientSession,
    base_url: str,
    *,
    username: str = "demo",
    password: str = "demo-password",
    timeout: float = 5.0,
) -> SMSBroadcastProvider:
    context = ProviderContext("x", session, logging.getLogger("t"), timeout=timeout)
    return SMSBroadcastProvider(SMSBroadcastConfig(username, Secret(password), base_url), context)


def batch(
    *numbers: str, text: str = "Hello", segments: int = 1, sender: str | None = None
) -> Batch:
    recipients = tuple(Recipient(n, "AU", 61, f"{MID}-{i}") for i, n in enumerate(numbers))
    kind = SenderKind.NONE if sender is None else SenderKind.ALPHANUMERIC
    return Batch(MID, text, sender, kind, Encoding.GSM7, segments, recipients)


async def raw(session: aiohttp.ClientSession, url: str, **fields: str) -> str:
    form = {"username": "demo", "password": "demo-password", **fields}
    async with session.post(url, data=form) as response:
        assert response.status == 200
        return await response.text()


class Receiver:
    """A tiny daemon stand-in: it hands each push to the adapter and answers its answer."""

    def __init__(self, provider: SMSBroadcastProvider, failures: int = 0) -> None:
        self.provider = provider
        self.failures = failures
        self.results: list[CallbackResult] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        if self.failures:
            self.failures -= 1
            return web.Response(status=500)
        kind = CallbackKind.DLR if request.path == "/dlr" else CallbackKind.INBOUND
        result = self.provider.parse_callback(
            kind, CallbackRequest(request.method, query=dict(request.query))
        )
        self.results.append(result)
        answer = result.response
        return web.Response(
            text=answer.body, status=answer.status, content_type=answer.content_type
        )

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_get("/dlr", self.handle)
        app.router.add_get("/inbound", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


# -- send and balance ----------------------------------------------------------------------


async def test_send_draws_credits_per_part_per_recipient(
    emulator: SMSBroadcastEmulator, session: aiohttp.ClientSession
) -> None:
    provider = adapter(session, emulator.api_url)
    outcomes = await provider.send(batch(A, B, text=LONG, segments=2, sender="Shop"))
    assert outcomes == [
        RecipientOutcome(A, Outcome.ACCEPTED, provider_message_id="2942263"),
        RecipientOutcome(B, Outcome.ACCEPTED, provider_message_id="2942264"),
    ]
    assert emulator.counters.sent == [
        {
            "to": to,
            "from": "Shop",
            "message": LONG,
            "ref": MID,
            "smsref": smsref,
            "segments": "2",
            "username": "demo",
        }
        for to, smsref in (("61400111222", "2942263"), ("61400333444", "2942264"))
    ]
    balance = await provider.balance()
    assert (balance.amount, balance.unit) == (Decimal(996), "credits")
    assert emulator.counters.requests == {"send": 1, "balance": 1}
    assert emulator.counters.violations == {}


async def test_a_bare_emulator_serves_the_demo_account_at_its_root(
    session: aiohttp.ClientSession,
) -> None:
    async with SMSBroadcastEmulator() as emu:
        assert isinstance(emu, SMSBroadcastEmulator)
        provider = adapter(session, emu.url)
        assert (await provider.balance()).amount == Decimal(1000)
        outcomes = await provider.send(batch(A))
    assert outcomes == [RecipientOutcome(A, Outcome.ACCEPTED, provider_message_id="2942263")]


async def test_get_is_served_too(
    emulator: SMSBroadcastEmulator, session: aiohttp.ClientSession
) -> None:
    query = {"action": "balance", "username": "demo", "password": "demo-password"}
    async with session.get(emulator.api_url, params=query) as response:
        assert await response.text() == "OK:1000"
    assert emulator.counters.requests == {"balance": 1}


async def test_no_status_operation(emulator: SMSBroadcastEmulator) -> None:
    # providers.md 1: SMS Broadcast has no status query; reports are pushed only.
    assert SMSBroadcastProvider.capabilities.status_query is False
    assert "status" not in emulator.counters.requests


# -- quirks --------------------------------------------------------------------------------


async def test_national_numbers_are_echoed_in_international_form(
    emulator: SMSBroadcastEmulator, session: aiohttp.ClientSession
) -> None:
    body = await raw(session, emulator.api_url, to="0400111222,400333444,61400555666", message="Hi")
    assert body == "OK:61400111222:2942263\nOK:61400333444:2942264\nOK:61400555666:2942265"
    assert [s["to"] for s in emulator.counters.sent] == [A[1:], B[1:], C[1:]]


async def test_an_invalid_number_is_bad_and_costs_nothing(
    emulator: SMSBroadcastEmulator, session: aiohttp.ClientSession
) -> None:
    body = await raw(session, emulator.api_url, to="0400abc111,0299998888", message="Hi")
    assert body == "BAD:0400abc111:Invalid Number\nBAD:0299998888:Invalid Number"
    provider = adapter(session, emulator.api_url)
    outcomes = await provider.send(batch(A, "+6140011122"))
    assert outcomes == [
        RecipientOutcome(A, Outcome.ACCEPTED, provider_message_id="2942263"),
        RecipientOutcome("+6140011122", Outcome.REJECTED_RECIPIENT, reason="BAD: Invalid Number"),
    ]
    assert emulator.accounts["demo"].balance == Decimal(999)
    assert len(emulator.counters.sent) == 1


async def test_wrong_credentials_fail_every_recipient_with_auth(
    emulator: SMSBroadcastEmulator, session: aiohttp.ClientSession
) -> None:
    provider = adapter(session, emulator.api_url, password="wrong")
    reason = "ERROR: Username or password is incorrect"
    assert await provider.send(batch(A, B)) == [
        RecipientOutcome(A, Outcome.PROVIDER_ERROR, reason=reason, kind=ErrorKind.AUTH),
        RecipientOutcome(B, Outcome.PROVIDER_ERROR, reason=reason, kind=ErrorKind.AUTH),
    ]
    with pytest.raises(ProviderRejectedError) as caught:
        await provider.balance()
    assert caught.value.kind is ErrorKind.AUTH
    assert emulator.counters.sent == []


async def test_running_out_of_credits(session: aiohttp.ClientSession) -> None:
    async with SMSBroadcastEmulator([Account("demo", "demo-password", Decimal(3))]) as emu:
        provider = adapter(session, f"{emu.url}/api-adv.php")
        short = await provider.send(batch(A, B, text=LONG, segments=2))
        enough = await provider.send(batch(C, text=LONG, segments=2))
        balance = await provider.balance()
    reason = "ERROR: Not enough credits"
    assert short == [
        RecipientOutcome(A, Outcome.PROVIDER_ERROR, reason=reason, kind=ErrorKind.CREDIT),
        RecipientOutcome(B, Outcome.PROVIDER_ERROR, reason=reason, kind=ErrorKind.CREDIT),
    ]
    assert enough == [RecipientOutcome(C, Outcome.ACCEPTED, provider_message_id="2942263")]
    assert balance.amount == Decimal(1)
    assert [s["to"] for s in emu.counters.sent] == [C[1:]]


# -- limits --------------------------------------------------------------------------------


async def test_a_text_longer_than_maxsplit_is_refused(
    emulator: SMSBroadcastEmulator, session: aiohttp.ClientSession
) -> None:
    provider = adapter(session, emulator.api_url)
    outcomes = await provider.send(batch(A, text=LONG, segments=1))
    assert outcomes == [
        RecipientOutcome(
            A, Outcome.PROVIDER_ERROR, reason="ERROR: Message too long", kind=ErrorKind.OTHER
        )
    ]
    assert emulator.counters.violations == {"length": 1}
    assert emulator.counters.sent == []


@pytest.mark.parametrize(
    ("fields", "answer", "rule"),
    [
        ({"maxsplit": "6", "message": "Hi"}, "ERROR: Invalid maxsplit", "maxsplit"),
        ({"from": "TwelveLetter", "message": "Hi"}, "ERROR: Invalid Sender ID", "sender"),
        ({"from": "My-Shop", "message": "Hi"}, "ERROR: Invalid Sender ID", "sender"),
        ({"ref": "r" * 21, "message": "Hi"}, "ERROR: Reference too long", "ref"),
        ({"message": ""}, "ERROR: No message", "message"),
    ],
)
async def test_rules_of_a_send(
    emulator: SMSBroadcastEmulator,
    session: aiohttp.ClientSession,
    fields: dict[str, str],
    answer: str,
    rule: str,
) -> None:
    assert await raw(session, emulator.api_url, to="61400111222", **fields) == answer
    assert emulator.counters.violations == {rule: 1}
    assert emulator.counters.sent == []


async def test_too_many_recipients(session: aiohttp.ClientSession) -> None:
    async with SMSBroadcastEmulator(max_recipients=2) as emu:
        provider = adapter(session, emu.api_url)
        outcomes = await provider.send(batch(A, B, C))
    assert {o.reason for o in outcomes} == {"ERROR: Too many recipients"}
    assert emu.counters.violations == {"recipients": 1}


# -- faults --------------------------------------------------------------------------------


async def test_http_5xx_is_unavailable(
    emulator: SMSBroadcastEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.inject(Fault(operation="send", status=503, times=1))
    provider = adapter(session, emulator.api_url)
    first = await provider.send(batch(A))
    second = await provider.send(batch(A))
    assert first == [
        RecipientOutcome(
            A,
            Outcome.UNAVAILABLE,
            reason=f"x: POST {emulator.api_url}: HTTP 503",
            kind=ErrorKind.OTHER,
        )
    ]
    assert [o.outcome for o in second] == [Outcome.ACCEPTED]
    assert len(emulator.counters.sent) == 1


async def test_an_error_body_is_a_provider_error(
    emulator: SMSBroadcastEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.inject(Fault(operation="send", body="ERROR: System busy"))
    outcomes = await adapter(session, emulator.api_url).send(batch(A))
    assert outcomes == [
        RecipientOutcome(
            A, Outcome.PROVIDER_ERROR, reason="ERROR: System busy", kind=ErrorKind.OTHER
        )
    ]


async def test_a_hang_is_ambiguous(
    emulator: SMSBroadcastEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.inject(Fault(operation="send", hang=True))
    provider = adapter(session, emulator.api_url, timeout=0.05)
    outcomes = await provider.send(batch(A, B))
    assert [(o.recipient, o.outcome) for o in outcomes] == [
        (A, Outcome.AMBIGUOUS),
        (B, Outcome.AMBIGUOUS),
    ]
    assert outcomes[0].reason == f"x: POST {emulator.api_url}: timed out waiting"


async def test_a_drop_after_the_send_took_effect_is_ambiguous_and_sent_once(
    emulator: SMSBroadcastEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.inject(Fault(operation="send", drop=True, after_effect=True, times=1))
    outcomes = await adapter(session, emulator.api_url).send(batch(A))
    assert [o.outcome for o in outcomes] == [Outcome.AMBIGUOUS]
    assert emulator.counters.requests == {"send": 1}
    assert [s["to"] for s in emulator.counters.sent] == [A[1:]]
    assert emulator.accounts["demo"].balance == Decimal(999)


async def test_a_drop_before_the_send_took_effect_sends_nothing(
    emulator: SMSBroadcastEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.inject(Fault(operation="send", drop=True, times=1))
    outcomes = await adapter(session, emulator.api_url).send(batch(A))
    assert [o.outcome for o in outcomes] == [Outcome.AMBIGUOUS]
    assert emulator.counters.requests == {"send": 1}
    assert emulator.counters.sent == []


# -- pushed reports and inbound texts ------------------------------------------------------


async def test_status_reports_round_trip(
    emulator: SMSBroadcastEmulator, session: aiohttp.ClientSession
) -> None:
    provider = adapter(session, emulator.api_url)
    emulator.dlr_statuses[B[1:]] = "Failed"
    async with Receiver(provider) as receiver:
        emulator.callback_url = f"{receiver.url}/dlr"
        await provider.send(batch(A, B))
        await emulator.settle()
    pushes = sorted(emulator.pushes, key=lambda p: p.params["to"])
    assert [(p.method, p.params, p.answers, p.body) for p in pushes] == [
        ("GET", {"to": A[1:], "ref": MID, "smsref": "2942263", "status": "Delivered"}, [200], "OK"),
        ("GET", {"to": B[1:], "ref": MID, "smsref": "2942264", "status": "Failed"}, [200], "OK"),
    ]
    reports = sorted(
        (r for x in receiver.results for r in x.reports), key=lambda r: r.recipient or ""
    )
    assert reports == [
        DeliveryReport("x", DeliveryStatus.DELIVERED, "Delivered", "2942263", MID, A),
        DeliveryReport("x", DeliveryStatus.FAILED, "Failed", "2942264", MID, B),
    ]


async def test_a_report_without_ref_leaves_it_out(
    emulator: SMSBroadcastEmulator, session: aiohttp.ClientSession
) -> None:
    provider = adapter(session, emulator.api_url)
    async with Receiver(provider) as receiver:
        emulator.callback_url = f"{receiver.url}/dlr"
        assert await raw(session, emulator.api_url, to="0400111222", message="Hi") == (
            "OK:61400111222:2942263"
        )
        await emulator.settle()
    assert emulator.pushes[0].params == {"to": A[1:], "smsref": "2942263", "status": "Delivered"}
    assert receiver.results[0].reports == (
        DeliveryReport("x", DeliveryStatus.DELIVERED, "Delivered", "2942263", None, A),
    )


async def test_a_failed_push_is_retried_on_the_schedule(
    emulator: SMSBroadcastEmulator, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    provider = adapter(session, emulator.api_url)
    async with Receiver(provider, failures=2) as receiver:
        emulator.callback_url = f"{receiver.url}/dlr"
        await provider.send(batch(A))
        await emulator.settle()
    assert emulator.pushes[0].answers == [500, 500, 200]
    assert clock.slept == [60.0, 300.0]
    assert len(receiver.results) == 1


async def test_a_push_gives_up_after_the_schedule(
    emulator: SMSBroadcastEmulator, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    provider = adapter(session, emulator.api_url)
    async with Receiver(provider, failures=10) as receiver:
        emulator.callback_url = f"{receiver.url}/dlr"
        emulator.push_scale = 0.5
        await provider.send(batch(A))
        await emulator.settle()
    assert emulator.pushes[0].answers == [500, 500, 500, 500]
    assert clock.slept == [30.0, 150.0, 450.0]
    assert receiver.results == []


async def test_inbound_round_trip(
    emulator: SMSBroadcastEmulator, session: aiohttp.ClientSession
) -> None:
    provider = adapter(session, emulator.api_url)
    async with Receiver(provider) as receiver:
        emulator.inbound_url = f"{receiver.url}/inbound"
        push = emulator.push_inbound(B, "61400111222", "YES & thanks", ref=MID)
        bare = emulator.push_inbound(C, A, "hello")
        await emulator.settle()
    assert push.params == {"to": A[1:], "from": B[1:], "message": "YES & thanks", "ref": MID}
    assert (push.answers, push.body) == ([200], "OK")
    assert bare.params == {"to": A[1:], "from": C[1:], "message": "hello"}
    inbound = sorted((m for r in receiver.results for m in r.inbound), key=lambda m: m.sender)
    assert inbound == [
        InboundMessage("x", B, A, "YES & thanks", in_reply_to=MID),
        InboundMessage("x", C, A, "hello"),
    ]


def test_push_inbound_needs_an_inbound_url() -> None:
    with pytest.raises(ValueError, match="inbound_url"):
        SMSBroadcastEmulator().push_inbound(A, B, "hi")


# -- the password stays secret --------------------------------------------------------------


PASSWORD = "Sup3r s&cret=pw+"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_no_password_when_the_provider_refuses_connections(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/api-adv.php"
    provider = adapter(session, url, username="user", password=PASSWORD)
    with caplog.at_level(logging.DEBUG):
        outcomes = await provider.send(batch(A))
        with pytest.raises(Exception) as caught:  # noqa: PT011 - any error, checked below
            await provider.balance()
    assert [o.outcome for o in outcomes] == [Outcome.UNAVAILABLE]
    texts = [str(caught.value), repr(caught.value), repr(outcomes), repr(provider)]
    texts += [repr(provider.config), *(r.getMessage() for r in caplog.records)]
    assert all(PASSWORD not in text for text in texts)
    assert "could not connect" in outcomes[0].reason


async def test_no_password_when_the_provider_fails(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    async with SMSBroadcastEmulator([Account("user", PASSWORD)]) as emu:
        provider = adapter(session, emu.api_url, username="user", password=PASSWORD, timeout=0.05)
        emu.inject(Fault(operation="send", status=500, times=1))
        emu.inject(Fault(operation="send", hang=True, times=1))
        emu.inject(Fault(operation="send", drop=True, times=1))
        emu.inject(Fault(operation="balance", body=f"ERROR: bad password {PASSWORD}"))
        with caplog.at_level(logging.DEBUG):
            outcomes = [(await provider.send(batch(A)))[0] for _ in range(3)]
            with pytest.raises(ProviderRejectedError) as caught:
                await provider.balance()
    assert [o.outcome for o in outcomes] == [
        Outcome.UNAVAILABLE,
        Outcome.AMBIGUOUS,
        Outcome.AMBIGUOUS,
    ]
    assert str(caught.value) == "x: balance: ERROR: bad password ***"
    texts = [str(caught.value), repr(outcomes), *(r.getMessage() for r in caplog.records)]
    assert caplog.records
    assert all(PASSWORD not in text for text in texts)
