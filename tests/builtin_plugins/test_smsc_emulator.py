"""SMSC adapter against its emulator over loopback HTTP: protocol, limits, faults, pushes."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from plugins.smsc.adapter import SMSCConfig, SMSCProvider, smsc_id
from plugins.smsc.emulator import SMSCEmulator
from router.errors import CallbackError, ProviderRejectedError, ProviderUnavailableError
from router.model import (
    Batch,
    CallbackKind,
    CallbackRequest,
    CallbackResult,
    DeliveryStatus,
    Encoding,
    ErrorKind,
    Outcome,
    Recipient,
    SenderKind,
    StatusQuery,
)
from router.provider import ProviderContext
from router.redact import Secret
from router.testing import Account, FakeClock, Fault, check_provider

PASSWORD = "Sup3r-s3cret-pw"
MID = "fedcba9876543210"
SID = smsc_id(MID)
A, B = "+79991234567", "+79991234568"


@pytest.fixture
async def emulator(clock: FakeClock) -> AsyncIterator[SMSCEmulator]:
    emu = SMSCEmulator([Account("acme", PASSWORD, Decimal(100))], clock=clock)
    await emu.start()
    yield emu
    await emu.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def provider(
    base_url: str, session: aiohttp.ClientSession, *, timeout: float = 5.0, **options: Any
) -> SMSCProvider:
    settings: dict[str, Any] = {"login": "acme", "psw": Secret(PASSWORD), **options}
    context = ProviderContext(
        name="ru", session=session, logger=logging.getLogger("t.smsc"), timeout=timeout
    )
    return SMSCProvider(SMSCConfig(base_url=base_url, **settings), context)


def batch(*numbers: str, text: str = "Hello", message_id: str = MID) -> Batch:
    recipients = tuple(Recipient(n, "RU", 7, f"{message_id}-{i}") for i, n in enumerate(numbers))
    return Batch(message_id, text, None, SenderKind.NONE, Encoding.GSM7, 1, recipients)


class Receiver:
    """The router's side of pushes: parse with the adapter, answer what it says."""

    def __init__(self, adapter: SMSCProvider) -> None:
        self.adapter = adapter
        self.results: list[CallbackResult] = []
        self.refused: list[CallbackError] = []
        self.fail_first = 0
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        if self.fail_first > 0:
            self.fail_first -= 1
            return web.Response(status=500, text="busy")
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        push = CallbackRequest(request.method, dict(request.query), form)
        try:
            result = self.adapter.parse_callback(CallbackKind(request.match_info["kind"]), push)
        except CallbackError as exc:
            self.refused.append(exc)
            return web.Response(status=403, text="refused")
        self.results.append(result)
        answer = result.response
        return web.Response(
            status=answer.status, text=answer.body, content_type=answer.content_type
        )


@asynccontextmanager
async def receiving(adapter: SMSCProvider) -> AsyncIterator[Receiver]:
    receiver = Receiver(adapter)
    app = web.Application()
    app.router.add_post("/smsc/{kind}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/smsc"
    try:
        yield receiver
    finally:
        await runner.cleanup()


# -- the contract every adapter keeps -------------------------------------------------------


async def test_conforms() -> None:
    def make(base_url: str, session: aiohttp.ClientSession) -> SMSCProvider:
        return provider(base_url, session, callback_secret=Secret("cb-secret"))

    basis = f"{SID}:79991234567:1:cb-secret".encode()
    signed = {"id": str(SID), "phone": "79991234567", "status": "1", "err": "0", "ts": "1"}
    signed["md5"] = hashlib.md5(basis, usedforsecurity=False).hexdigest()
    inbound = {"id": "3", "phone": "79991234567", "mes": "Да", "to": "79990000000"}
    samples = {
        CallbackKind.DLR: [CallbackRequest("POST", form=signed)],
        CallbackKind.INBOUND: [CallbackRequest("POST", form=inbound)],
    }
    report = await check_provider(make, password=PASSWORD, callbacks=samples)
    assert report.provider_type == "smsc"
    assert {"type", "send/drop", "balance/hang", "status/refused", "secrets"} <= set(report.checks)


# -- the protocol ---------------------------------------------------------------------------


async def test_send_balance_and_status(
    emulator: SMSCEmulator, session: aiohttp.ClientSession
) -> None:
    adapter = provider(emulator.api_url, session)
    outcomes = await adapter.send(batch(A, B))
    assert [(o.recipient, o.outcome) for o in outcomes] == [
        (A, Outcome.ACCEPTED),
        (B, Outcome.ACCEPTED),
    ]
    assert {o.provider_message_id for o in outcomes} == {str(SID)}
    assert [o.cost for o in outcomes] == [Decimal("1.50")] * 2
    assert {o.balance for o in outcomes} == {Decimal("97.00")}
    assert [(s["id"], s["phone"], s["mes"]) for s in emulator.counters.sent] == [
        (str(SID), A[1:], "Hello"),
        (str(SID), B[1:], "Hello"),
    ]
    balance = await adapter.balance()
    assert (balance.amount, balance.unit) == (Decimal("97.00"), "RUB")
    reports = await adapter.query_status(
        [StatusQuery(str(SID), f"{MID}-0", A), StatusQuery(None, f"{MID}-1", B)]
    )
    assert [(r.recipient, r.status) for r in reports] == [
        (A, DeliveryStatus.DELIVERED),
        (B, DeliveryStatus.DELIVERED),
    ]
    assert emulator.counters.requests == {"send": 1, "balance": 1, "status": 1}


async def test_string_values_parse_alike(
    emulator: SMSCEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.string_values = True
    adapter = provider(emulator.api_url, session)
    [outcome] = await adapter.send(batch(A))
    assert outcome.outcome is Outcome.ACCEPTED
    assert (outcome.cost, outcome.balance) == (Decimal("1.50"), Decimal("98.50"))
    assert (await adapter.balance()).amount == Decimal("98.50")
    [report] = await adapter.query_status([StatusQuery(str(SID), f"{MID}-0", A)])
    assert report.status is DeliveryStatus.DELIVERED


async def test_balance_is_drawn_by_cost_per_part(
    emulator: SMSCEmulator, session: aiohttp.ClientSession
) -> None:
    # 100 Cyrillic characters are two UCS-2 parts of 67.
    [outcome] = await provider(emulator.api_url, session).send(batch(A, text="Ж" * 100))
    assert outcome.cost == Decimal("3.00")
    assert emulator.accounts["acme"].balance == Decimal(97)
    assert emulator.counters.sent[0]["parts"] == "2"


async def test_statuses_set_by_the_test(
    emulator: SMSCEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.delivery_status = None
    adapter = provider(emulator.api_url, session)
    await adapter.send(batch(A))
    query = [StatusQuery(str(SID), f"{MID}-0", A)]
    assert (await adapter.query_status(query))[0].status is DeliveryStatus.ACCEPTED
    emulator.set_status(SID, A, 0)
    assert (await adapter.query_status(query))[0].status is DeliveryStatus.ENROUTE
    emulator.set_status(SID, A, 1, err=200)
    [report] = await adapter.query_status(query)
    assert (report.status, report.error_code) == (DeliveryStatus.FAILED, "200")
    unknown = await adapter.query_status([StatusQuery("5", "x-0", B)])
    assert unknown[0].status is DeliveryStatus.UNKNOWN
    assert unknown[0].not_found, "status -3: SMSC does not know it"
    assert not report.not_found


async def test_credentials(emulator: SMSCEmulator, session: aiohttp.ClientSession) -> None:
    wrong = provider(emulator.api_url, session, psw=Secret("nope"))
    [outcome] = await wrong.send(batch(A))
    assert (outcome.outcome, outcome.kind) == (Outcome.PROVIDER_ERROR, ErrorKind.AUTH)
    with pytest.raises(ProviderRejectedError) as caught:
        await wrong.balance()
    assert caught.value.kind is ErrorKind.AUTH
    emulator.api_keys["key-1"] = "acme"
    by_key = provider(emulator.api_url, session, login="", psw=None, apikey=Secret("key-1"))
    assert (await by_key.balance()).amount == Decimal(100)
    md5 = hashlib.md5(PASSWORD.encode(), usedforsecurity=False).hexdigest()
    assert (await provider(emulator.api_url, session, psw=Secret(md5)).balance()).amount == 100
    assert not emulator.counters.sent


async def test_no_credit(clock: FakeClock, session: aiohttp.ClientSession) -> None:
    async with SMSCEmulator([Account("acme", PASSWORD, Decimal("2.00"))], clock=clock) as emu:
        assert isinstance(emu, SMSCEmulator)
        outcomes = await provider(emu.api_url, session).send(batch(A, B))
        assert {(o.outcome, o.kind) for o in outcomes} == {
            (Outcome.PROVIDER_ERROR, ErrorKind.CREDIT)
        }
        assert emu.accounts["acme"].balance == Decimal("2.00")
        assert not emu.counters.sent


async def test_undeliverable_numbers(
    emulator: SMSCEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.undeliverable = {B[1:]}
    adapter = provider(emulator.api_url, session)
    outcomes = await adapter.send(batch(A, B))
    assert [o.outcome for o in outcomes] == [Outcome.ACCEPTED, Outcome.REJECTED_RECIPIENT]
    assert [s["phone"] for s in emulator.counters.sent] == [A[1:]]
    assert emulator.accounts["acme"].balance == Decimal("98.50")
    [alone] = await adapter.send(batch(B, message_id="0000000000000001"))
    assert alone.outcome is Outcome.REJECTED_RECIPIENT
    assert "error 8" in alone.reason


# -- SMSC's limits --------------------------------------------------------------------------


async def test_identical_send_within_a_minute_is_error_9_and_status_resolves_it(
    emulator: SMSCEmulator, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    adapter = provider(emulator.api_url, session)
    await adapter.send(batch(A))
    clock.advance(59)
    [again] = await adapter.send(batch(A))
    assert (again.outcome, again.provider_message_id) == (Outcome.AMBIGUOUS, str(SID))
    assert emulator.counters.violations["duplicate_send"] == 1
    assert len(emulator.counters.sent) == 1
    # The engine resolves an ambiguous outcome by asking for the status of our id.
    [report] = await adapter.query_status([StatusQuery(again.provider_message_id, f"{MID}-0", A)])
    assert report.status is DeliveryStatus.DELIVERED
    clock.advance(1)
    [later] = await adapter.send(batch(A))
    assert later.outcome is Outcome.ACCEPTED
    assert len(emulator.counters.sent) == 2


async def test_eleventh_balance_call_in_a_minute_is_error_9(
    emulator: SMSCEmulator, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    adapter = provider(emulator.api_url, session)
    for _ in range(10):
        await adapter.balance()
        clock.advance(5)
    with pytest.raises(ProviderUnavailableError) as caught:
        await adapter.balance()
    assert caught.value.kind is ErrorKind.THROTTLED
    assert emulator.counters.violations["balance_rate"] == 1
    clock.advance(60)
    assert (await adapter.balance()).amount == Decimal(100)


async def test_fifteen_requests_at_once_draw_error_9(
    emulator: SMSCEmulator, session: aiohttp.ClientSession
) -> None:
    adapter = provider(emulator.api_url, session)
    emulator.hold = hold = asyncio.Event()
    query = [StatusQuery(str(SID), f"{MID}-0", A)]
    held = [asyncio.ensure_future(adapter.query_status(query)) for _ in range(14)]
    for _ in range(2000):
        if emulator.counters.in_flight == 14:
            break
        await asyncio.sleep(0.001)
    assert emulator.counters.in_flight == 14
    with pytest.raises(ProviderUnavailableError) as caught:
        await adapter.query_status(query)
    assert caught.value.kind is ErrorKind.THROTTLED
    assert emulator.counters.violations["concurrency"] == 1
    hold.set()
    reports = await asyncio.gather(*held)
    assert all(r[0].status is DeliveryStatus.UNKNOWN for r in reports)
    assert emulator.counters.max_in_flight == 15


async def test_identical_cost_quotes(
    emulator: SMSCEmulator, session: aiohttp.ClientSession
) -> None:
    form = {"login": "acme", "psw": PASSWORD, "phones": A, "mes": "Hi", "cost": "1", "fmt": "3"}
    answers = []
    for _ in range(6):
        async with session.post(f"{emulator.api_url}/send.php", data=form) as response:
            answers.append(await response.json())
    assert answers[0] == {"cost": 1.5, "cnt": 1}
    assert answers[5] == {"error": "duplicate request, wait a minute", "error_code": 9}
    assert emulator.counters.violations["cost_rate"] == 1
    assert not emulator.counters.sent


async def test_text_answers_without_fmt(
    emulator: SMSCEmulator, session: aiohttp.ClientSession
) -> None:
    # providers.md 3.2: fmt 0 (the default) answers in text; errors still come with HTTP 200.
    base = emulator.api_url
    params = {"login": "acme", "psw": PASSWORD, "phones": A, "mes": "Hi", "id": "5", "cost": "3"}
    async with session.get(f"{base}/send.php", params=params) as response:
        assert await response.text() == "OK - 1 SMS, ID - 5, COST - 1.50, BALANCE - 98.50"
    async with session.get(f"{base}/send.php", params={**params, "psw": "x"}) as response:
        assert response.status == 200
        assert await response.text() == "ERROR = 2 (authorise error), ID - 5"
    async with session.get(f"{base}/balance.php", params={"login": "acme", "psw": PASSWORD}) as r:
        assert await r.text() == "98.50"


# -- faults ---------------------------------------------------------------------------------


async def test_a_5xx_is_unavailable(emulator: SMSCEmulator, session: aiohttp.ClientSession) -> None:
    emulator.inject(Fault(operation="send", status=503, retry_after="7"))
    [outcome] = await provider(emulator.api_url, session).send(batch(A))
    assert (outcome.outcome, outcome.retry_after) == (Outcome.UNAVAILABLE, 7.0)
    assert not emulator.counters.sent


async def test_a_hang_is_ambiguous(emulator: SMSCEmulator, session: aiohttp.ClientSession) -> None:
    emulator.inject(Fault(operation="send", hang=True, times=1))
    adapter = provider(emulator.api_url, session, timeout=0.05)
    [outcome] = await adapter.send(batch(A))
    assert (outcome.outcome, outcome.provider_message_id) == (Outcome.AMBIGUOUS, str(SID))


async def test_a_drop_after_the_send_took_effect_is_ambiguous_and_counts_once(
    emulator: SMSCEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.inject(Fault(operation="send", drop=True, after_effect=True, times=1))
    adapter = provider(emulator.api_url, session)
    [outcome] = await adapter.send(batch(A))
    assert outcome.outcome is Outcome.AMBIGUOUS
    assert emulator.counters.requests["send"] == 1
    assert len(emulator.counters.sent) == 1
    [report] = await adapter.query_status([StatusQuery(outcome.provider_message_id, "r", A)])
    assert report.status is DeliveryStatus.DELIVERED


# -- pushes ---------------------------------------------------------------------------------


async def test_status_push_round_trip(
    emulator: SMSCEmulator, session: aiohttp.ClientSession
) -> None:
    adapter = provider(emulator.api_url, session, callback_secret=Secret("cb-secret"))
    async with receiving(adapter) as receiver:
        emulator.callback_url = f"{receiver.url}/dlr"
        emulator.callback_secret = "cb-secret"
        await adapter.send(batch(A))
        await emulator.settle()
    [push] = emulator.pushes
    assert push.method == "POST"
    assert push.params["id"] == str(SID)
    assert (push.params["phone"], push.params["status"], push.params["err"]) == (A[1:], "1", "0")
    assert {"time", "ts", "md5"} <= set(push.params)
    assert (push.answers, push.body) == ([200], "OK")
    [report] = receiver.results[0].reports
    assert (report.provider, report.status) == ("ru", DeliveryStatus.DELIVERED)
    assert (report.provider_message_id, report.recipient) == (str(SID), A)


async def test_a_push_with_the_wrong_secret_is_refused_and_retried(
    emulator: SMSCEmulator, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    adapter = provider(emulator.api_url, session, callback_secret=Secret("right"))
    async with receiving(adapter) as receiver:
        emulator.callback_url = f"{receiver.url}/dlr"
        emulator.callback_secret = "wrong"
        await adapter.send(batch(A))
        await emulator.settle()
    assert emulator.pushes[0].answers == [403] * 4
    # The report waits dlr_delay, then each retry waits its turn of the schedule.
    assert clock.slept == [emulator.dlr_delay, *SMSCEmulator.push_schedule]
    assert len(receiver.refused) == 4
    assert not receiver.results


async def test_a_push_is_retried_until_answered(
    clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    emulator = SMSCEmulator(clock=clock, push_scale=0.001)
    async with emulator:
        adapter = provider(emulator.api_url, session, login="demo", psw=Secret("demo-password"))
        async with receiving(adapter) as receiver:
            receiver.fail_first = 2
            emulator.callback_url = f"{receiver.url}/dlr"
            await adapter.send(batch(A))
            await emulator.settle()
        assert emulator.pushes[0].answers == [500, 500, 200]
        assert clock.slept == [emulator.dlr_delay, 60 * 0.001, 300 * 0.001]
        assert receiver.results[0].reports[0].status is DeliveryStatus.DELIVERED


async def test_inbound_push_round_trip(
    emulator: SMSCEmulator, session: aiohttp.ClientSession
) -> None:
    adapter = provider(emulator.api_url, session)
    async with receiving(adapter) as receiver:
        emulator.inbound_url = f"{receiver.url}/inbound"
        push = emulator.push_reply("79991234567", "79990000000", "Да, приду")
        await emulator.settle()
    assert push.params == {
        "id": "1",
        "phone": "79991234567",
        "mes": "Да, приду",
        "to": "79990000000",
    }
    assert (push.answers, push.body) == ([200], "OK")
    [inbound] = receiver.results[0].inbound
    assert (inbound.sender, inbound.recipient, inbound.text) == (A, "+79990000000", "Да, приду")


# -- the password stays hidden --------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize("where", ["closed port", "fault"])
@pytest.mark.parametrize("credential", ["psw", "apikey"])
async def test_the_password_appears_nowhere(
    emulator: SMSCEmulator,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    where: str,
    credential: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    base = f"http://127.0.0.1:{closed_port()}/sys" if where == "closed port" else emulator.api_url
    emulator.inject(Fault(status=500))
    options: dict[str, Any] = (
        {"login": "", "psw": None, "apikey": Secret(PASSWORD)} if credential == "apikey" else {}
    )
    adapter = provider(base, session, **options)
    texts = [repr(adapter), repr(adapter.config)]
    [outcome] = await adapter.send(batch(A))
    assert outcome.outcome is Outcome.UNAVAILABLE
    texts += [outcome.reason, repr(outcome)]
    for operation in (adapter.balance(), adapter.query_status([StatusQuery(None, "m-0", A)])):
        with pytest.raises(ProviderUnavailableError) as caught:
            await operation
        texts += [str(caught.value), repr(caught.value), repr(caught.value.__cause__)]
        texts += [repr(caught.value.__context__)]
    texts += [record.getMessage() for record in caplog.records]
    texts += [repr(record.args) for record in caplog.records]
    if where == "fault":
        assert caplog.records, "the calls were logged"
    assert not [text for text in texts if PASSWORD in text]
