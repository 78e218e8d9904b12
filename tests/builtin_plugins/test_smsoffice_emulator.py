"""The SMS Office adapter against its emulator over real loopback HTTP."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest
from aiohttp import web

from plugins.smsoffice.adapter import SMSOfficeConfig, SMSOfficeProvider
from plugins.smsoffice.emulator import SMSOfficeEmulator
from router.errors import ProviderError, ProviderRejectedError
from router.model import (
    Batch,
    CallbackKind,
    CallbackRequest,
    CallbackResult,
    DeliveryReport,
    DeliveryStatus,
    ErrorKind,
    Outcome,
    Recipient,
    RecipientOutcome,
    SenderKind,
)
from router.provider import ProviderContext
from router.redact import Secret
from router.testing import Account, FakeClock, Fault
from router.text import analyse

PASSWORD = "Pw-9&x y%z"
ZA = "+27821234567"
ZA2 = "+27831234567"
MESSAGE_ID = "0123456789abcdef"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


@pytest.fixture
async def emulator(clock: FakeClock) -> AsyncIterator[SMSOfficeEmulator]:
    office = SMSOfficeEmulator(
        [Account("acme", PASSWORD, Decimal(10)), Account("poor", "poor-password", Decimal(2))],
        clock=clock,
    )
    await office.start()
    try:
        yield office
    finally:
        await office.stop()


def adapter(
    session: aiohttp.ClientSession,
    base_url: str,
    *,
    username: str = "acme",
    password: str = PASSWORD,
    timeout: float = 5.0,
    logger: str = "t.smsoffice",
) -> SMSOfficeProvider:
    config = SMSOfficeConfig(username, Secret(password), "AcmeCo", base_url=base_url)
    context = ProviderContext(
        name="office", session=session, logger=logging.getLogger(logger), timeout=timeout
    )
    return SMSOfficeProvider(config, context)


def batch(*numbers: str, text: str = "Hello world", sender: str | None = None) -> Batch:
    info = analyse(text)
    return Batch(
        message_id=MESSAGE_ID,
        text=text,
        sender=sender,
        sender_kind=SenderKind.ALPHANUMERIC if sender else SenderKind.NONE,
        encoding=info.encoding,
        segments=info.segments,
        recipients=tuple(
            Recipient(e164=n, region="ZA", country_code=27, ref=f"{MESSAGE_ID}-{i}")
            for i, n in enumerate(numbers or (ZA,))
        ),
    )


async def raw_get(
    session: aiohttp.ClientSession, url: str, params: dict[str, str]
) -> tuple[int, str]:
    async with session.get(url, params=params) as answer:
        return answer.status, await answer.text()


def send_query(**changes: str) -> dict[str, str]:
    query = {
        "username": "acme",
        "password": PASSWORD,
        "from": "AcmeCo",
        "to": "27821234567",
        "message": "Hello",
    }
    query.update(changes)
    return query


async def arrived(emulator: SMSOfficeEmulator, operation: str) -> None:
    """Wait (bounded) until the emulator has seen a request of *operation*."""
    for _ in range(1000):
        if emulator.counters.requests[operation]:
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"no {operation} request arrived")


async def client_gone(emulator: SMSOfficeEmulator) -> None:
    """Wait (bounded) until every request still held has lost its client."""
    for _ in range(1000):
        # The emulator's own record of requests being answered, read to avoid a race.
        held = emulator._answering
        if all(r.transport is None or r.transport.is_closing() for r in held):
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the held request's connection never closed")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class CallbackServer:
    """A tiny daemon stand-in: hands each push to the adapter and answers its response.

    The first answers can be scripted as bare HTTP statuses, to make the emulator resend.
    """

    def __init__(self, provider: SMSOfficeProvider, statuses: tuple[int, ...] = ()) -> None:
        self.provider = provider
        self.statuses = list(statuses)
        self.seen: list[dict[str, str]] = []
        self.results: list[CallbackResult] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.seen.append(query)
        if self.statuses:
            return web.Response(status=self.statuses.pop(0), text="scripted")
        result = self.provider.parse_callback(
            CallbackKind.DLR, CallbackRequest(request.method, query=query)
        )
        self.results.append(result)
        answer = result.response
        return web.Response(
            text=answer.body, status=answer.status, content_type=answer.content_type
        )

    async def __aenter__(self) -> CallbackServer:
        app = web.Application()
        app.router.add_get("/callbacks/office/dlr", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/callbacks/office/dlr"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


# -- send and balance ---------------------------------------------------------------------


async def test_a_default_emulator_serves_the_demo_account(
    session: aiohttp.ClientSession,
) -> None:
    async with SMSOfficeEmulator() as office:
        assert isinstance(office, SMSOfficeEmulator)
        provider = adapter(
            session, office.url + "/sms/api", username="demo", password="demo-password"
        )
        [outcome] = await provider.send(batch())
        assert outcome == RecipientOutcome(ZA, Outcome.ACCEPTED, provider_message_id="480001")
        assert (await provider.balance()).amount == Decimal("999.00")


async def test_send_is_taken_and_draws_credits_per_part(
    emulator: SMSOfficeEmulator, session: aiohttp.ClientSession
) -> None:
    provider = adapter(session, emulator.api_url)
    text = "Dear & dearest 100% +1 caf\u00e9\nsecond line " + "x" * 140
    assert analyse(text).segments == 2
    outcomes = await provider.send(batch(ZA, ZA2, text=text))
    assert outcomes == [
        RecipientOutcome(ZA, Outcome.ACCEPTED, provider_message_id="480001"),
        RecipientOutcome(ZA2, Outcome.ACCEPTED, provider_message_id="480002"),
    ]
    assert emulator.counters.sent == [
        {
            "messageid": "480001",
            "to": "27821234567",
            "from": "AcmeCo",
            "message": text,
            "segments": "2",
            "username": "acme",
        },
        {
            "messageid": "480002",
            "to": "27831234567",
            "from": "AcmeCo",
            "message": text,
            "segments": "2",
            "username": "acme",
        },
    ]
    assert emulator.counters.requests["send"] == 2
    balance = await provider.balance()
    assert (balance.amount, balance.unit) == (Decimal("6.00"), "credits")
    assert emulator.counters.requests["balance"] == 1
    assert emulator.counters.violations == {}


async def test_the_message_s_own_sender_goes_as_from(
    emulator: SMSOfficeEmulator, session: aiohttp.ClientSession
) -> None:
    await adapter(session, emulator.api_url).send(batch(sender="Pizza4U"))
    assert [sms["from"] for sms in emulator.counters.sent] == ["Pizza4U"]


async def test_wrong_credentials_fail_login(
    emulator: SMSOfficeEmulator, session: aiohttp.ClientSession
) -> None:
    provider = adapter(session, emulator.api_url, password="wrong")
    outcomes = await provider.send(batch(ZA, ZA2))
    assert outcomes == [
        RecipientOutcome(
            n, Outcome.PROVIDER_ERROR, reason="Error: Login Failed", kind=ErrorKind.AUTH
        )
        for n in (ZA, ZA2)
    ]
    # The account failed: the second recipient was not tried.
    assert emulator.counters.requests["send"] == 1
    with pytest.raises(ProviderRejectedError) as caught:
        await provider.balance()
    assert caught.value.kind is ErrorKind.AUTH
    assert emulator.counters.sent == []


async def test_no_credits_left(emulator: SMSOfficeEmulator, session: aiohttp.ClientSession) -> None:
    provider = adapter(session, emulator.api_url, username="poor", password="poor-password")
    [first] = await provider.send(batch(text="one part"))
    assert first.outcome is Outcome.ACCEPTED
    three_parts = "y" * 400
    [second] = await provider.send(batch(text=three_parts))
    assert second == RecipientOutcome(
        ZA, Outcome.PROVIDER_ERROR, reason="Error: Not enough credits", kind=ErrorKind.CREDIT
    )
    assert [sms["message"] for sms in emulator.counters.sent] == ["one part"]
    assert (await provider.balance()).amount == Decimal("1.00")


@pytest.mark.parametrize(
    ("changes", "body", "rule"),
    [
        ({"from": ""}, "Error:Invalid [from] parameter", "from"),
        ({"from": "Twelve chars"}, "Error:Invalid [from] parameter", "from"),
        ({"from": "Acme-Co"}, "Error:Invalid [from] parameter", "from"),
        (
            {"to": "0821234567"},
            "Error:Number must start with international prefix, 0 not allowed.",
            "international_prefix",
        ),
        ({"to": "+27821234567"}, "Error:Invalid [to] parameter", "to"),
        ({"to": "2782abc"}, "Error:Invalid [to] parameter", "to"),
        ({"to": ""}, "Error:Invalid [to] parameter", "to"),
        ({"message": ""}, "Error:Invalid [message] parameter", "message"),
        ({"message": "z" * 613}, "Error:Max of 4 parts per message exceeded", "parts"),
    ],
)
async def test_bad_input_gets_the_provider_s_error_text(
    emulator: SMSOfficeEmulator,
    session: aiohttp.ClientSession,
    changes: dict[str, str],
    body: str,
    rule: str,
) -> None:
    status, text = await raw_get(session, f"{emulator.api_url}/sendsms.asp", send_query(**changes))
    assert (status, text) == (200, body)
    assert emulator.counters.violations == {rule: 1}
    assert emulator.counters.sent == []


async def test_the_largest_text_is_four_parts(
    emulator: SMSOfficeEmulator, session: aiohttp.ClientSession
) -> None:
    status, text = await raw_get(
        session, f"{emulator.api_url}/sendsms.asp", send_query(message="z" * 612)
    )
    assert (status, text) == (200, "Success:480001")
    assert emulator.counters.sent[0]["segments"] == "4"


async def test_refusals_map_through_the_adapter(
    emulator: SMSOfficeEmulator, session: aiohttp.ClientSession
) -> None:
    provider = adapter(session, emulator.api_url)
    [bad_from] = await provider.send(batch(sender="Acme Co"))
    assert (bad_from.outcome, bad_from.kind, bad_from.reason) == (
        Outcome.PROVIDER_ERROR,
        ErrorKind.INVALID_REQUEST,
        "Error:Invalid [from] parameter",
    )
    [too_long] = await provider.send(batch(text="w" * 700))
    assert (too_long.outcome, too_long.kind) == (Outcome.PROVIDER_ERROR, ErrorKind.INVALID_REQUEST)
    [blank] = await provider.send(batch(text="   "))
    assert blank.outcome is Outcome.REJECTED_MESSAGE
    assert emulator.counters.sent == []


async def test_balance_answer_is_a_two_decimal_float(
    emulator: SMSOfficeEmulator, session: aiohttp.ClientSession
) -> None:
    url = f"{emulator.api_url}/balance.asp"
    assert await raw_get(session, url, {"username": "acme", "password": PASSWORD}) == (
        200,
        "10.00",
    )
    assert await raw_get(session, url, {"username": "acme", "password": "nope"}) == (
        200,
        "Error: Login Failed",
    )


# -- the one-connection rule --------------------------------------------------------------


async def test_a_second_connection_at_once_is_a_violation(
    emulator: SMSOfficeEmulator,
) -> None:
    # The first request is held unanswered, so the second surely comes while it waits.
    emulator.inject(Fault(operation="send", times=1, hang=True))
    url = f"{emulator.api_url}/sendsms.asp"
    # Two sessions: two connections, as two careless workers would open.
    async with aiohttp.ClientSession() as one, aiohttp.ClientSession() as two:
        held = asyncio.ensure_future(raw_get(one, url, send_query(message="first")))
        await arrived(emulator, "send")
        second = await raw_get(two, url, send_query(message="second"))
        assert second == (200, "Success:480001")
        assert emulator.counters.violations == {"concurrent_connections": 1}
        held.cancel()
        with pytest.raises(asyncio.CancelledError):
            await held
    # A request whose client gave up no longer counts as one in flight.
    await client_gone(emulator)
    async with aiohttp.ClientSession() as three:
        third = await raw_get(three, url, send_query(message="third"))
    assert third == (200, "Success:480002")
    assert emulator.counters.violations == {"concurrent_connections": 1}
    assert [sms["message"] for sms in emulator.counters.sent] == ["second", "third"]


async def test_the_adapter_keeps_to_one_connection(
    emulator: SMSOfficeEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.inject(Fault(operation="send", times=2, latency=0.02))
    provider = adapter(session, emulator.api_url)
    results = await asyncio.gather(
        provider.send(batch(ZA, text="a")),
        provider.send(batch(ZA2, text="b")),
        provider.balance(),
    )
    assert [o.outcome for o in results[0] + results[1]] == [Outcome.ACCEPTED] * 2
    assert emulator.counters.max_in_flight == 1
    assert emulator.counters.violations == {}


# -- faults -------------------------------------------------------------------------------


async def test_http_5xx_is_unavailable(
    emulator: SMSOfficeEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.inject(Fault(operation="send", times=1, status=503))
    [outcome] = await adapter(session, emulator.api_url).send(batch())
    assert outcome.outcome is Outcome.UNAVAILABLE
    assert outcome.reason.endswith("/sms/api/sendsms.asp: HTTP 503")
    assert emulator.counters.sent == []


async def test_an_error_body_fault_is_a_provider_error(
    emulator: SMSOfficeEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.inject(Fault(operation="send", times=1, body="Error: Not enough credits"))
    [outcome] = await adapter(session, emulator.api_url).send(batch())
    assert (outcome.outcome, outcome.kind) == (Outcome.PROVIDER_ERROR, ErrorKind.CREDIT)


async def test_a_hang_past_the_timeout_is_ambiguous(
    emulator: SMSOfficeEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.inject(Fault(operation="send", times=1, hang=True))
    [outcome] = await adapter(session, emulator.api_url, timeout=0.05).send(batch())
    assert outcome.outcome is Outcome.AMBIGUOUS
    assert "timed out" in outcome.reason
    assert emulator.counters.sent == []


async def test_a_dropped_connection_after_the_send_is_ambiguous_and_sent_once(
    emulator: SMSOfficeEmulator, session: aiohttp.ClientSession
) -> None:
    provider = adapter(session, emulator.api_url)
    # A first call leaves a kept-alive connection, which is where aiohttp would re-send.
    await provider.balance()
    emulator.inject(Fault(operation="send", times=1, drop=True, after_effect=True))
    [outcome] = await provider.send(batch())
    assert outcome.outcome is Outcome.AMBIGUOUS
    assert len(emulator.counters.sent) == 1
    assert emulator.counters.requests["send"] == 1


async def test_without_call_aiohttp_would_send_that_sms_twice(
    emulator: SMSOfficeEmulator, session: aiohttp.ClientSession
) -> None:
    # The trap the previous test guards against, shown with the bare session.
    balance = {"username": "acme", "password": PASSWORD}
    await raw_get(session, f"{emulator.api_url}/balance.asp", balance)
    emulator.inject(Fault(operation="send", times=1, drop=True, after_effect=True))
    assert await raw_get(session, f"{emulator.api_url}/sendsms.asp", send_query()) == (
        200,
        "Success:480002",
    )
    assert len(emulator.counters.sent) == 2


# -- delivery reports ---------------------------------------------------------------------


async def test_delivery_report_round_trip(
    emulator: SMSOfficeEmulator, session: aiohttp.ClientSession
) -> None:
    provider = adapter(session, emulator.api_url)
    async with CallbackServer(provider) as daemon:
        emulator.callback_url = daemon.url
        emulator.dlr_statuses["27831234567"] = 300
        outcomes = await provider.send(batch(ZA, ZA2))
        await emulator.settle()
    assert sorted(daemon.seen, key=lambda q: q["messageid"]) == [
        {
            "messageid": "480001",
            "to": "27821234567",
            "from": "AcmeCo",
            "StatusID": "200",
            "statusMessage": "Delivered to Mobile",
        },
        {
            "messageid": "480002",
            "to": "27831234567",
            "from": "AcmeCo",
            "StatusID": "300",
            "statusMessage": "Delivery Failed",
        },
    ]
    reports = sorted(
        (r for result in daemon.results for r in result.reports),
        key=lambda r: r.provider_message_id or "",
    )
    assert reports == [
        DeliveryReport(
            provider="office",
            status=DeliveryStatus.DELIVERED,
            raw_status="200",
            provider_message_id=outcomes[0].provider_message_id,
            recipient=ZA,
            description="Delivered to Mobile",
        ),
        DeliveryReport(
            provider="office",
            status=DeliveryStatus.FAILED,
            raw_status="300",
            provider_message_id=outcomes[1].provider_message_id,
            recipient=ZA2,
            description="Delivery Failed",
        ),
    ]
    assert [(p.method, p.answers, p.body) for p in emulator.pushes] == [
        ("GET", [200], "OK"),
        ("GET", [200], "OK"),
    ]


async def test_no_report_without_a_callback_url_or_for_a_refused_send(
    emulator: SMSOfficeEmulator, session: aiohttp.ClientSession
) -> None:
    provider = adapter(session, emulator.api_url)
    await provider.send(batch())
    emulator.callback_url = "http://127.0.0.1:9/never"
    await provider.send(batch(sender="Bad Sender"))
    await emulator.settle()
    assert emulator.pushes == []


async def test_a_report_waits_on_the_emulator_clock(
    emulator: SMSOfficeEmulator, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    provider = adapter(session, emulator.api_url)
    async with CallbackServer(provider) as daemon:
        emulator.callback_url = daemon.url
        await provider.send(batch())
        await emulator.settle()
    assert clock.slept == [0.2]
    assert len(daemon.seen) == 1


@pytest.mark.parametrize(
    ("answers", "tries", "waits"),
    [
        # providers.md 2.4: a 500 is resent after 60 minutes, 3 hours more, 12 hours more.
        ((500, 500), [500, 500, 200], [3600.0, 10800.0]),
        ((500, 500, 500, 500), [500, 500, 500, 500], [3600.0, 10800.0, 43200.0]),
        # Any other answer counts as delivered.
        ((404,), [404], []),
        ((503,), [503], []),
        ((302,), [302], []),
    ],
)
async def test_reports_are_resent_only_after_a_500(
    session: aiohttp.ClientSession,
    clock: FakeClock,
    answers: tuple[int, ...],
    tries: list[int],
    waits: list[float],
) -> None:
    office = SMSOfficeEmulator(clock=clock, dlr_delay=0)
    await office.start()
    try:
        provider = adapter(session, office.api_url, username="demo", password="demo-password")
        async with CallbackServer(provider, statuses=answers) as daemon:
            office.callback_url = daemon.url
            await provider.send(batch())
            await office.settle()
    finally:
        await office.stop()
    [push] = office.pushes
    assert push.answers == tries
    assert clock.slept == waits
    assert len(daemon.seen) == len(tries)
    assert all(query == daemon.seen[0] for query in daemon.seen)


async def test_reports_are_resent_after_network_errors_on_the_scaled_schedule(
    session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    office = SMSOfficeEmulator(clock=clock, dlr_delay=0, push_scale=0.5)
    office.callback_url = f"http://127.0.0.1:{closed_port()}/dlr"
    await office.start()
    try:
        provider = adapter(session, office.api_url, username="demo", password="demo-password")
        await provider.send(batch())
        await office.settle()
    finally:
        await office.stop()
    [push] = office.pushes
    assert push.answers == [None, None, None, None]
    assert clock.slept == [1800.0, 5400.0, 21600.0]


# -- secrets ------------------------------------------------------------------------------


async def test_the_password_shows_nowhere(
    emulator: SMSOfficeEmulator,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    refused = adapter(session, f"http://127.0.0.1:{closed_port()}/sms/api")
    texts: list[str] = [repr(refused), repr(refused.config), str(refused.config.password)]
    [outcome] = await refused.send(batch())
    assert outcome.outcome is Outcome.UNAVAILABLE
    texts.append(outcome.reason)
    with pytest.raises(ProviderError) as caught:
        await refused.balance()
    texts += [str(caught.value), repr(caught.value)]

    provider = adapter(session, emulator.api_url)
    await provider.balance()
    emulator.inject(Fault(operation="send", times=1, drop=True, after_effect=True))
    emulator.inject(Fault(operation="balance", times=1, drop=True))
    [dropped] = await provider.send(batch())
    assert dropped.outcome is Outcome.AMBIGUOUS
    texts.append(dropped.reason)
    with pytest.raises(ProviderError) as dropped_balance:
        await provider.balance()
    texts += [str(dropped_balance.value), repr(dropped_balance.value)]
    emulator.inject(Fault(operation="send", times=1, body=f"Error: bad password={PASSWORD}"))
    [echoed] = await provider.send(batch())
    texts.append(echoed.reason)

    texts += [record.getMessage() for record in caplog.records]
    assert caplog.records, "expected the calls to be logged"
    forms = {PASSWORD, "Pw-9%26x%20y%25z", "Pw-9%26x+y%25z"}
    for text in texts:
        for form in forms:
            assert form not in text, text
