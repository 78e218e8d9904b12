"""SMS Central adapter against its emulator over loopback HTTP.

Sends, balances and status queries go through real sockets; faults show the outcome
taxonomy end to end; pushes go to a small aiohttp server in the test that answers with
``adapter.parse_callback``, so the whole callback round trip runs, retries included.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from plugins.smscentral.adapter import SMSCentralConfig, SMSCentralProvider
from plugins.smscentral.emulator import SMSCentralEmulator
from router.errors import ProviderError, ProviderRejectedError, ProviderUnavailableError
from router.model import (
    Balance,
    Batch,
    CallbackKind,
    CallbackRequest,
    CallbackResult,
    DeliveryStatus,
    Encoding,
    ErrorKind,
    InboundMessage,
    Outcome,
    Recipient,
    RecipientOutcome,
    SenderKind,
    StatusQuery,
)
from router.provider import ProviderContext
from router.redact import Secret
from router.testing import Account, FakeClock, Fault

PASSWORD = "demo-password"
MID = "0123456789abcdef"
A, B, C = "+61412341234", "+61400333444", "+61400555666"
SCHEDULE = [300.0, 600.0, 900.0, 1200.0, 1500.0, 1800.0, 2100.0, 2400.0, 2700.0]


def batch(*numbers: str, text: str = "Hello", sender: str | None = None) -> Batch:
    recipients = tuple(Recipient(n, "AU", 61, f"{MID}-{i}") for i, n in enumerate(numbers))
    kind = SenderKind.NONE if sender is None else SenderKind.ALPHANUMERIC
    return Batch(MID, text, sender, kind, Encoding.GSM7, 1, recipients)


class Receiver:
    """The daemon's side of a push: parses with the adapter, answers what it says."""

    def __init__(self) -> None:
        self.adapter: SMSCentralProvider | None = None
        self.fail_with: list[int] = []
        """HTTP statuses to answer the next pushes with, before parsing any."""
        self.seen: list[dict[str, str]] = []
        self.results: list[CallbackResult] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{kind}", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(dict(request.query))
        if self.fail_with:
            return web.Response(status=self.fail_with.pop(0), text="not now")
        assert self.adapter is not None
        kind = CallbackKind(request.match_info["kind"])
        try:
            result = self.adapter.parse_callback(
                kind, CallbackRequest(request.method, query=dict(request.query))
            )
        except ProviderError:
            return web.Response(status=403, text="forbidden")
        self.results.append(result)
        return web.Response(text=result.response.body, status=result.response.status)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    await receiver.start()
    yield receiver
    await receiver.stop()


@pytest.fixture
async def emulator() -> AsyncIterator[SMSCentralEmulator]:
    emulator = SMSCentralEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


def adapter_for(
    url: str,
    session: aiohttp.ClientSession,
    *,
    password: str = PASSWORD,
    timeout: float = 5.0,
    **options: Any,
) -> SMSCentralProvider:
    context = ProviderContext(
        name="central", session=session, logger=logging.getLogger("t"), timeout=timeout
    )
    config = SMSCentralConfig("demo", Secret(password), base_url=f"{url}/api/v3.2", **options)
    return SMSCentralProvider(config, context)


@pytest.fixture
def adapter(emulator: SMSCentralEmulator, session: aiohttp.ClientSession) -> SMSCentralProvider:
    return adapter_for(emulator.url, session)


# -- send, balance, status -----------------------------------------------------------------


async def test_send_draws_the_balance_down(
    emulator: SMSCentralEmulator, adapter: SMSCentralProvider
) -> None:
    outcomes = await adapter.send(batch(A, sender="ACME"))
    assert outcomes == [RecipientOutcome(A, Outcome.ACCEPTED, provider_message_id=f"{MID}-0")]
    assert emulator.counters.sent == [
        {
            "ID": "00000001",
            "ORIGINATOR": "ACME",
            "RECIPIENT": "61412341234",
            "MESSAGE_TEXT": "Hello",
            "REFERENCE": f"{MID}-0",
        }
    ]
    assert await adapter.balance() == Balance(Decimal("999.95"), "AUD")
    assert emulator.counters.requests == {"send": 1, "balance": 1}


async def test_send_many_and_long(
    emulator: SMSCentralEmulator, adapter: SMSCentralProvider
) -> None:
    outcomes = await adapter.send(batch(A, B, C, text="x" * 200))
    assert [o.outcome for o in outcomes] == [Outcome.ACCEPTED] * 3
    assert [s["REFERENCE"] for s in emulator.counters.sent] == [f"{MID}-{i}" for i in range(3)]
    assert [m.parts for m in emulator.messages] == [2, 2, 2]
    # Two parts to each of three recipients at 5 cents a part.
    assert emulator.accounts["demo"].balance == Decimal("999.70")
    assert emulator.counters.requests["send"] == 1


async def test_status_query_reads_what_was_sent(
    emulator: SMSCentralEmulator, adapter: SMSCentralProvider
) -> None:
    await adapter.send(batch(A, B))
    emulator.set_status(f"{MID}-1", "UNDELIV", "0007: Undeliverable")
    queries = [
        StatusQuery(f"{MID}-0", f"{MID}-0", A),
        StatusQuery(f"{MID}-1", f"{MID}-1", B),
        StatusQuery(None, f"{MID}-9", C),
    ]
    reports = await adapter.query_status(queries)
    assert [(r.ref, r.recipient, r.status, r.error_code) for r in reports] == [
        (f"{MID}-0", A, DeliveryStatus.DELIVERED, "0004"),
        (f"{MID}-1", B, DeliveryStatus.FAILED, "0007"),
        (f"{MID}-9", C, DeliveryStatus.UNKNOWN, None),
    ]
    assert [r.not_found for r in reports] == [False, False, True]
    assert emulator.counters.requests["status"] == 1


async def test_status_query_of_150_references_takes_two_requests(
    emulator: SMSCentralEmulator, adapter: SMSCentralProvider
) -> None:
    queries = [StatusQuery(None, f"{MID}-{n}", A) for n in range(150)]
    reports = await adapter.query_status(queries)
    assert len(reports) == 150
    assert emulator.counters.requests["status"] == 2
    assert emulator.counters.violations == {}


async def test_wrong_status_action_is_refused(
    emulator: SMSCentralEmulator, session: aiohttp.ClientSession
) -> None:
    adapter = adapter_for(emulator.url, session, status_action="check")
    with pytest.raises(ProviderRejectedError) as caught:
        await adapter.query_status([StatusQuery(None, "R1", A)])
    assert caught.value.kind is ErrorKind.INVALID_REQUEST
    assert str(caught.value) == "central: status: 514 Missing or invalid parameter: ACTION"


# -- the quirks: errors as HTTP 200 bodies ---------------------------------------------------


async def test_bad_credentials(
    emulator: SMSCentralEmulator, session: aiohttp.ClientSession
) -> None:
    adapter = adapter_for(emulator.url, session, password="wrong")
    [outcome] = await adapter.send(batch(A))
    assert (outcome.outcome, outcome.kind, outcome.reason) == (
        Outcome.PROVIDER_ERROR,
        ErrorKind.AUTH,
        "511 Username or Password incorrect",
    )
    with pytest.raises(ProviderRejectedError) as caught:
        await adapter.balance()
    assert caught.value.kind is ErrorKind.AUTH
    with pytest.raises(ProviderRejectedError) as status_error:
        await adapter.query_status([StatusQuery(None, "R1", A)])
    assert status_error.value.kind is ErrorKind.AUTH
    assert emulator.counters.sent == []


async def test_no_credit(session: aiohttp.ClientSession) -> None:
    async with SMSCentralEmulator([Account("demo", PASSWORD, Decimal("0.12"))]) as emulator:
        adapter = adapter_for(emulator.url, session)
        outcomes = await adapter.send(batch(A, B, C))
        assert {(o.outcome, o.kind) for o in outcomes} == {
            (Outcome.PROVIDER_ERROR, ErrorKind.CREDIT)
        }
        assert emulator.counters.sent == []
        [single] = await adapter.send(batch(A))
        assert single.outcome is Outcome.ACCEPTED
        assert await adapter.balance() == Balance(Decimal("0.07"), "AUD")


async def test_invalid_recipient(emulator: SMSCentralEmulator, adapter: SMSCentralProvider) -> None:
    emulator.invalid_recipients.add("61400333444")
    [alone] = await adapter.send(batch(B))
    assert (alone.outcome, alone.reason) == (
        Outcome.REJECTED_RECIPIENT,
        "513 Invalid recipient number 61400333444",
    )
    outcomes = await adapter.send(batch(A, B))
    assert [o.outcome for o in outcomes] == [Outcome.PROVIDER_ERROR, Outcome.REJECTED_RECIPIENT]
    assert emulator.counters.sent == []


async def test_error_body_fault_and_unrecognised_body(
    emulator: SMSCentralEmulator, adapter: SMSCentralProvider
) -> None:
    emulator.inject(Fault(operation="send", times=1, body="599 Route unavailable"))
    emulator.inject(Fault(operation="send", times=1, body="<html>Service Unavailable</html>"))
    [error] = await adapter.send(batch(A))
    [odd] = await adapter.send(batch(A))
    assert (error.outcome, error.kind) == (Outcome.PROVIDER_ERROR, ErrorKind.OTHER)
    assert odd.outcome is Outcome.AMBIGUOUS


# -- the limits ----------------------------------------------------------------------------


async def post(url: str, session: aiohttp.ClientSession, **form: str) -> str:
    data = {"USERNAME": "demo", "PASSWORD": PASSWORD, **form}
    async with session.post(f"{url}/api/v3.2", data=data) as response:
        assert response.status == 200
        return await response.text()


async def test_limits_are_enforced_and_counted(
    emulator: SMSCentralEmulator, session: aiohttp.ClientSession
) -> None:
    messages = [{"RECIPIENT": f"614{n:08d}", "REFERENCE": f"r{n}"} for n in range(101)]
    body = await post(
        emulator.url,
        session,
        ACTION="send",
        MESSAGE_TEXT="Hi",
        RECIPIENTMESSAGES=json.dumps(messages),
    )
    assert body == "515 Too many messages in one request"
    refs = ",".join(f"r{n}" for n in range(101))
    assert (await post(emulator.url, session, ACTION="status", REFERENCE=refs)).startswith("514")
    numbers = ",".join(f"614{n:08d}" for n in range(11))
    assert (await post(emulator.url, session, ACTION="status", RECIPIENT=numbers)).startswith("514")
    long_ref = "r" * 101
    assert (
        await post(
            emulator.url,
            session,
            ACTION="send",
            MESSAGE_TEXT="Hi",
            RECIPIENT="61412341234",
            REFERENCE=long_ref,
        )
    ).startswith("514")
    adapter = adapter_for(emulator.url, session)
    [too_long] = await adapter.send(batch(A, text="y" * (153 * 6 + 1)))
    assert (too_long.outcome, too_long.reason) == (
        Outcome.PROVIDER_ERROR,
        "516 Message too long",
    )
    assert emulator.counters.violations == {
        "recipientmessages_max_100": 1,
        "status_max_100_references": 1,
        "status_max_10_recipients": 1,
        "reference_length": 1,
        "max_parts": 1,
    }
    assert emulator.counters.sent == []


async def test_status_by_recipient_gives_the_last_ten(
    emulator: SMSCentralEmulator, session: aiohttp.ClientSession
) -> None:
    adapter = adapter_for(emulator.url, session)
    for n in range(12):
        await adapter.send(batch_with_ref(A, ref=f"R{n}"))
    body = await post(emulator.url, session, ACTION="status", RECIPIENT="61412341234")
    assert body.count("<message>") == 10
    assert "<reference>R2</reference>" in body
    assert "<reference>R1</reference>" not in body


def batch_with_ref(number: str, ref: str) -> Batch:
    return Batch(
        MID, "Hi", None, SenderKind.NONE, Encoding.GSM7, 1, (Recipient(number, "AU", 61, ref),)
    )


# -- faults --------------------------------------------------------------------------------


async def test_5xx_is_unavailable_and_nothing_is_sent(
    emulator: SMSCentralEmulator, adapter: SMSCentralProvider
) -> None:
    emulator.inject(Fault(operation="send", times=1, status=503))
    [outcome] = await adapter.send(batch(A))
    assert outcome.outcome is Outcome.UNAVAILABLE
    emulator.inject(Fault(operation="balance", times=1, status=500))
    with pytest.raises(ProviderUnavailableError):
        await adapter.balance()
    assert emulator.counters.sent == []


async def test_hang_past_the_timeout_is_ambiguous(
    emulator: SMSCentralEmulator, session: aiohttp.ClientSession
) -> None:
    adapter = adapter_for(emulator.url, session, timeout=0.05)
    emulator.inject(Fault(operation="send", times=1, hang=True))
    [outcome] = await adapter.send(batch(A))
    assert outcome.outcome is Outcome.AMBIGUOUS
    assert "timed out" in outcome.reason


async def test_drop_after_the_send_took_effect_is_ambiguous_and_sent_once(
    emulator: SMSCentralEmulator, adapter: SMSCentralProvider
) -> None:
    emulator.inject(Fault(operation="send", times=1, drop=True, after_effect=True))
    [outcome] = await adapter.send(batch(A))
    assert outcome.outcome is Outcome.AMBIGUOUS
    assert len(emulator.counters.sent) == 1
    assert emulator.counters.requests["send"] == 1
    # The status query the engine makes next settles it: the provider has it.
    [report] = await adapter.query_status([StatusQuery(None, f"{MID}-0", A)])
    assert report.status is DeliveryStatus.DELIVERED


# -- pushes: delivery reports --------------------------------------------------------------


async def pushing(
    receiver: Receiver, session: aiohttp.ClientSession, **options: Any
) -> tuple[SMSCentralEmulator, SMSCentralProvider]:
    emulator = SMSCentralEmulator(
        callback_url=f"{receiver.url}/dlr", inbound_url=f"{receiver.url}/inbound", **options
    )
    await emulator.start()
    adapter = adapter_for(
        emulator.url, session, callback_username="hook", callback_password=Secret("hook-pw")
    )
    receiver.adapter = adapter
    return emulator, adapter


async def test_dlr_round_trip(receiver: Receiver, session: aiohttp.ClientSession) -> None:
    emulator, adapter = await pushing(
        receiver, session, callback_username="hook", callback_password="hook-pw"
    )
    try:
        await adapter.send(batch(A))
        await emulator.settle()
    finally:
        await emulator.stop()
    [push] = emulator.pushes
    assert (push.method, push.answers, push.body) == ("GET", [200], "0")
    assert receiver.seen == [
        {
            "USER_NAME": "hook",
            "PASSWORD": "hook-pw",
            "ORIGINATOR": "61400000000",
            "RECIPIENT": "61412341234",
            "PROVIDER": "telstra",
            "MESSAGE_TEXT": "Hello",
            "ID": "00000001",
            "REFERENCE": f"{MID}-0",
            "RESULT": "0",
            "STATUS": "DELIVERD",
            "STATUSDESCRIPTION": "",
        }
    ]
    [result] = receiver.results
    [report] = result.reports
    assert (report.provider, report.status, report.ref, report.recipient, report.part) == (
        "central",
        DeliveryStatus.DELIVERED,
        f"{MID}-0",
        A,
        None,
    )


async def test_dlr_parts_combine(receiver: Receiver, session: aiohttp.ClientSession) -> None:
    emulator, adapter = await pushing(
        receiver, session, callback_username="hook", callback_password="hook-pw"
    )
    emulator.part_statuses["61400333444"] = ["DELIVERD", "FAILED", "DELIVERD"]
    try:
        await adapter.send(batch(A, B, text="z" * 400))
        await emulator.settle()
    finally:
        await emulator.stop()
    assert len(emulator.pushes) == 6
    assert [p.params["UDH"] for p in emulator.pushes] == [
        "0500038A0301",
        "0500038A0302",
        "0500038A0303",
        "0500038B0301",
        "0500038B0302",
        "0500038B0303",
    ]
    by_ref: dict[str, list[DeliveryStatus]] = {}
    for result in receiver.results:
        for report in result.reports:
            by_ref.setdefault(report.ref or "", []).append(report.status)
    # Pushes run concurrently, so only the order of parts within a message is unknown.
    assert sorted(by_ref[f"{MID}-0"]) == sorted(
        [DeliveryStatus.ENROUTE, DeliveryStatus.ENROUTE, DeliveryStatus.DELIVERED]
    )
    assert by_ref[f"{MID}-0"][-1] is DeliveryStatus.DELIVERED
    assert DeliveryStatus.FAILED in by_ref[f"{MID}-1"]
    assert DeliveryStatus.DELIVERED not in by_ref[f"{MID}-1"]
    assert by_ref[f"{MID}-1"][-1] is DeliveryStatus.FAILED
    assert len(adapter.parts) == 0


async def test_dlr_retries_until_200_and_zero(
    receiver: Receiver, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    emulator, adapter = await pushing(
        receiver, session, clock=clock, callback_username="hook", callback_password="hook-pw"
    )
    receiver.fail_with = [500, 200]
    try:
        await adapter.send(batch(A))
        await emulator.settle()
    finally:
        await emulator.stop()
    [push] = emulator.pushes
    # The 200 with body "not now" is no receipt either: SMS Central wants "0".
    assert (push.answers, push.body) == ([500, 200, 200], "0")
    assert clock.slept == [300.0, 600.0]
    assert len(receiver.results) == 1


async def test_dlr_with_wrong_credentials_is_refused_and_given_up(
    receiver: Receiver, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    emulator, adapter = await pushing(
        receiver, session, clock=clock, callback_username="hook", callback_password="guess"
    )
    try:
        await adapter.send(batch(A))
        await emulator.settle()
    finally:
        await emulator.stop()
    [push] = emulator.pushes
    assert push.answers == [403] * 10
    assert clock.slept == SCHEDULE
    assert sum(SCHEDULE) == 225 * 60
    assert receiver.results == []


async def test_dlr_push_scale_shrinks_the_schedule(
    receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    emulator, adapter = await pushing(
        receiver, session, push_scale=1e-6, callback_username="hook", callback_password="hook-pw"
    )
    receiver.fail_with = [503, 503, 503]
    try:
        await adapter.send(batch(A))
        await emulator.settle()
    finally:
        await emulator.stop()
    assert emulator.pushes[0].answers == [503, 503, 503, 200]


# -- pushes: inbound -----------------------------------------------------------------------


async def test_inbound_round_trip(receiver: Receiver, session: aiohttp.ClientSession) -> None:
    emulator, _ = await pushing(
        receiver, session, callback_username="hook", callback_password="hook-pw"
    )
    try:
        push = emulator.push_inbound("61412341234", "61400000000", "YES", reference=f"{MID}-0")
        bare = emulator.push_inbound("61400333444", "61400000000", "STOP")
        await emulator.settle()
    finally:
        await emulator.stop()
    assert (push.answers, push.body, bare.answers) == ([200], "0", [200])
    assert receiver.seen[0] == {
        "USER_NAME": "hook",
        "PASSWORD": "hook-pw",
        "ORIGINATOR": "61412341234",
        "RECIPIENT": "61400000000",
        "PROVIDER": "optus",
        "CAMPAIGN": "",
        "MESSAGE_TEXT": "YES",
        "REFERENCE": f"{MID}-0",
    }
    inbound = sorted((m for r in receiver.results for m in r.inbound), key=lambda m: m.text)
    assert inbound == [
        InboundMessage("central", B, "+61400000000", "STOP"),
        InboundMessage("central", A, "+61400000000", "YES", in_reply_to=f"{MID}-0"),
    ]


async def test_inbound_needs_a_url() -> None:
    with pytest.raises(ValueError, match="inbound_url"):
        SMSCentralEmulator().push_inbound("61412341234", "61400000000", "YES")


# -- the demo defaults and the password ----------------------------------------------------


async def test_the_default_emulator_serves_the_demo_account_at_its_root(
    session: aiohttp.ClientSession,
) -> None:
    async with SMSCentralEmulator() as emulator:
        assert isinstance(emulator, SMSCentralEmulator)
        context = ProviderContext(name="demo", session=session, logger=logging.getLogger("t"))
        config = SMSCentralConfig("demo", Secret("demo-password"), base_url=emulator.url)
        adapter = SMSCentralProvider(config, context)
        assert (await adapter.send(batch(A)))[0].outcome is Outcome.ACCEPTED
        assert await adapter.balance() == Balance(Decimal("999.95"), "AUD")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_password_never_shows(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "S3cr3t pass&word"
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    closed = adapter_for(f"http://127.0.0.1:{closed_port()}", session, password=secret)
    [refused] = await closed.send(batch(A))
    assert refused.outcome is Outcome.UNAVAILABLE
    texts.append(refused.reason)
    for operation in (closed.balance(), closed.query_status([StatusQuery(None, "R", A)])):
        with pytest.raises(ProviderError) as caught:
            await operation
        texts.extend([str(caught.value), repr(caught.value)])
    async with SMSCentralEmulator([Account("demo", secret)]) as emulator:
        adapter = adapter_for(emulator.url, session, password=secret, timeout=0.05)
        emulator.inject(Fault(times=1, status=500))
        emulator.inject(Fault(times=1, hang=True))
        emulator.inject(Fault(times=1, body=f"599 echo {secret}"))
        emulator.inject(Fault(times=1, body=f"<html>{secret}</html>"))
        for _ in range(4):
            texts.extend(o.reason for o in await adapter.send(batch(A, B)))
        emulator.inject(Fault(operation="balance", times=1, body=f"511 bad {secret}"))
        with pytest.raises(ProviderRejectedError) as rejected:
            await adapter.balance()
        texts.append(str(rejected.value))
        texts.extend([repr(adapter), repr(adapter.config), str(adapter.config)])
    texts.extend(record.getMessage() for record in caplog.records)
    texts.extend(repr(record.args) for record in caplog.records)
    assert len(texts) > 15
    for text in texts:
        assert secret not in text
        assert "S3cr3t" not in text
