"""SMS Broadcast adapter on the wire: the exact requests, and every documented answer parsed.

The answers are those providers.md section 1 records (literal fixtures from public clients
where it has them); the outcomes are its section 8.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import cattrs
import pytest
import yarl
from aioresponses import aioresponses as AioResponses

from plugins.smsbroadcast.adapter import SMSBroadcastConfig, SMSBroadcastProvider
from router.config import make_config_converter
from router.errors import CallbackError, ProviderAmbiguousError, ProviderRejectedError
from router.model import (
    Batch,
    CallbackKind,
    CallbackRequest,
    CallbackResponse,
    DeliveryReport,
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

URL = "https://api.smsbroadcast.com.au/api-adv.php"
PASSWORD = "pa ss&w=rd+secret"
MID = "0123456789abcdef"
A, B, C = "+61400111222", "+61400333444", "+61400555666"


@pytest.fixture
async def provider() -> AsyncIterator[SMSBroadcastProvider]:
    async with aiohttp.ClientSession() as session:
        context = ProviderContext(name="x", session=session, logger=logging.getLogger("t"))
        config = SMSBroadcastConfig(username="user", password=Secret(PASSWORD))
        yield SMSBroadcastProvider(config, context)


def batch(
    *numbers: str,
    text: str = "Hello",
    sender: str | None = None,
    kind: SenderKind = SenderKind.NONE,
    segments: int = 1,
) -> Batch:
    recipients = tuple(Recipient(n, "AU", 61, f"{MID}-{i}") for i, n in enumerate(numbers))
    return Batch(MID, text, sender, kind, Encoding.GSM7, segments, recipients)


def sent(mock_http: AioResponses, index: int = 0) -> dict[str, Any]:
    calls = mock_http.requests[("POST", yarl.URL(URL))]
    data: dict[str, Any] = calls[index].kwargs["data"]
    return data


async def send_answering(
    provider: SMSBroadcastProvider, mock_http: AioResponses, body: str, *numbers: str
) -> list[RecipientOutcome]:
    mock_http.post(URL, body=body)
    return await provider.send(batch(*numbers))


def accepted(number: str, smsref: str) -> RecipientOutcome:
    return RecipientOutcome(number, Outcome.ACCEPTED, provider_message_id=smsref)


def test_declarations() -> None:
    caps = SMSBroadcastProvider.capabilities
    assert SMSBroadcastProvider.type_name == "smsbroadcast"
    assert SMSBroadcastProvider.callback_answer == "OK"
    assert (caps.max_recipients, caps.max_parts, caps.unicode) == (1000, 5, False)
    assert caps.sender_kinds == frozenset(SenderKind)
    assert (caps.balance, caps.status_query, caps.push_dlr, caps.push_inbound) == (
        True,
        False,
        True,
        True,
    )
    assert (caps.client_reference, caps.reference_length, caps.max_sender_length) == (
        True,
        20,
        11,
    )
    assert SMSBroadcastProvider.limits.concurrency is None
    assert SMSBroadcastProvider.limits.rates == {}


def test_config_from_toml_values() -> None:
    converter = make_config_converter()
    config = converter.structure({"username": "u", "password": "hush"}, SMSBroadcastConfig)
    assert config.base_url == URL
    assert config.password.reveal() == "hush"
    assert "hush" not in repr(config)
    with pytest.raises(cattrs.ClassValidationError):
        converter.structure({"username": "u", "password": "p", "sender": "X"}, SMSBroadcastConfig)


# -- the send request ---------------------------------------------------------------------


async def test_send_posts_every_field(
    provider: SMSBroadcastProvider, mock_http: AioResponses
) -> None:
    mock_http.post(URL, body="OK:61400111222:1\nOK:61400333444:2")
    await provider.send(batch(A, B, text="line1\nline2", segments=2))
    assert list(mock_http.requests) == [("POST", yarl.URL(URL))]
    assert sent(mock_http) == {
        "username": "user",
        "password": PASSWORD,
        "to": "61400111222,61400333444",
        "message": "line1\nline2",
        "ref": MID,
        "maxsplit": "2",
    }


@pytest.mark.parametrize(
    ("sender", "kind", "wire"),
    [
        ("MyShop", SenderKind.ALPHANUMERIC, "MyShop"),
        ("My Shop", SenderKind.ALPHANUMERIC, "MyShop"),
        ("+61400999888", SenderKind.NUMERIC, "61400999888"),
    ],
)
async def test_send_sender_is_digits_or_letters(
    provider: SMSBroadcastProvider,
    mock_http: AioResponses,
    sender: str,
    kind: SenderKind,
    wire: str,
) -> None:
    mock_http.post(URL, body="OK:61400111222:1")
    await provider.send(batch(A, sender=sender, kind=kind))
    assert sent(mock_http)["from"] == wire


# -- the send answer: one line per recipient -----------------------------------------------


async def test_ok_lines_are_accepted_with_the_smsref(
    provider: SMSBroadcastProvider, mock_http: AioResponses
) -> None:
    body = "OK:61400111222:2942263\nOK:61400333444:2942264\n"
    outcomes = await send_answering(provider, mock_http, body, A, B)
    assert outcomes == [accepted(A, "2942263"), accepted(B, "2942264")]


@pytest.mark.parametrize(
    "body",
    [
        "OK: 61400111222:2942263\r\nOK: 61400333444 : 2942264 \r\n",  # spaces after colons
        "OK:61400333444:2942264\nOK:61400111222:2942263",  # lines out of order
        "OK:0400111222:2942263\nOK:0400333444:2942264",  # national echo
        "ok:+61400111222:2942263\n\n  \nOK:61400333444:2942264",  # case, blanks, a plus
    ],
)
async def test_ok_lines_are_matched_by_number(
    provider: SMSBroadcastProvider, mock_http: AioResponses, body: str
) -> None:
    outcomes = await send_answering(provider, mock_http, body, A, B)
    assert outcomes == [accepted(A, "2942263"), accepted(B, "2942264")]


async def test_repeated_numbers_take_lines_in_order(
    provider: SMSBroadcastProvider, mock_http: AioResponses
) -> None:
    body = "OK:61400111222:1\nOK:61400111222:2"
    outcomes = await send_answering(provider, mock_http, body, A, A)
    assert outcomes == [accepted(A, "1"), accepted(A, "2")]


@pytest.mark.parametrize("reason", ["Invalid Number", "Invalid number", " INVALID NUMBER "])
async def test_bad_invalid_number_rejects_the_recipient(
    provider: SMSBroadcastProvider, mock_http: AioResponses, reason: str
) -> None:
    body = f"OK:61400111222:2942263\nBAD:61400333444:{reason}"
    outcomes = await send_answering(provider, mock_http, body, A, B)
    assert outcomes == [
        accepted(A, "2942263"),
        RecipientOutcome(B, Outcome.REJECTED_RECIPIENT, reason=f"BAD: {reason.strip()}"),
    ]


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("Blocked by operator", ErrorKind.OTHER),
        ("Not enough credits", ErrorKind.CREDIT),
    ],
)
async def test_bad_other_reason_is_a_provider_error(
    provider: SMSBroadcastProvider, mock_http: AioResponses, reason: str, kind: ErrorKind
) -> None:
    outcomes = await send_answering(provider, mock_http, f"BAD:61400111222:{reason}", A)
    assert outcomes == [
        RecipientOutcome(A, Outcome.PROVIDER_ERROR, reason=f"BAD: {reason}", kind=kind)
    ]


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("ERROR: Username or password is incorrect", ErrorKind.AUTH),
        ("ERROR:Username or password is incorrect\r\n", ErrorKind.AUTH),
        ("ERROR: bad auth", ErrorKind.AUTH),
        ("ERROR: Not enough credits", ErrorKind.CREDIT),
        ("ERROR: Message too long", ErrorKind.OTHER),
    ],
)
async def test_error_fails_every_recipient(
    provider: SMSBroadcastProvider, mock_http: AioResponses, body: str, kind: ErrorKind
) -> None:
    outcomes = await send_answering(provider, mock_http, body, A, B)
    reason = "ERROR: " + body.partition(":")[2].strip()
    assert outcomes == [
        RecipientOutcome(A, Outcome.PROVIDER_ERROR, reason=reason, kind=kind),
        RecipientOutcome(B, Outcome.PROVIDER_ERROR, reason=reason, kind=kind),
    ]


async def test_a_recipient_without_a_line_is_ambiguous(
    provider: SMSBroadcastProvider, mock_http: AioResponses
) -> None:
    outcomes = await send_answering(provider, mock_http, "OK:61400111222:7", A, B)
    assert outcomes == [
        accepted(A, "7"),
        RecipientOutcome(B, Outcome.AMBIGUOUS, reason="the answer had no line for this recipient"),
    ]


@pytest.mark.parametrize("body", ["", "\r\n", "<html>Service Unavailable</html>", "OK:5000"])
async def test_a_body_of_no_known_form_is_ambiguous(
    provider: SMSBroadcastProvider, mock_http: AioResponses, body: str
) -> None:
    outcomes = await send_answering(provider, mock_http, body, A)
    assert outcomes == [
        RecipientOutcome(A, Outcome.AMBIGUOUS, reason="the answer fits no known form")
    ]


async def test_unknown_lines_are_skipped_with_a_warning(
    provider: SMSBroadcastProvider, mock_http: AioResponses, caplog: pytest.LogCaptureFixture
) -> None:
    # providers.md 1.2: one client claims a balance line comes first; another line is junk;
    # and one line names a number we never sent.
    body = (
        "OK:4995\nOK:61400111222:9\nWHAT:is this\nOK:61499999999:10\nBAD:61400333444:Invalid Number"
    )
    with caplog.at_level(logging.WARNING, logger="t"):
        outcomes = await send_answering(provider, mock_http, body, A, B)
    assert outcomes == [
        accepted(A, "9"),
        RecipientOutcome(B, Outcome.REJECTED_RECIPIENT, reason="BAD: Invalid Number"),
    ]
    assert [r.getMessage() for r in caplog.records] == [
        "x: skipped an unrecognised answer line: 'OK:4995'",
        "x: skipped an unrecognised answer line: 'WHAT:is this'",
        "x: skipped a line for a number not in the request: 'OK:61499999999:10'",
    ]
    assert all(r.levelno == logging.WARNING for r in caplog.records)


async def test_no_secret_in_a_logged_line(
    provider: SMSBroadcastProvider, mock_http: AioResponses, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        outcomes = await send_answering(provider, mock_http, f"Echo {PASSWORD}", A)
    assert outcomes[0].outcome is Outcome.AMBIGUOUS
    assert caplog.records
    assert all(PASSWORD not in r.getMessage() for r in caplog.records)
    assert "Echo ***" in caplog.records[-1].getMessage()


# -- transport failures --------------------------------------------------------------------


async def test_http_5xx_is_unavailable(
    provider: SMSBroadcastProvider, mock_http: AioResponses
) -> None:
    mock_http.post(URL, status=503, body="down")
    outcomes = await provider.send(batch(A, B))
    assert [o.outcome for o in outcomes] == [Outcome.UNAVAILABLE, Outcome.UNAVAILABLE]
    assert outcomes[0].reason == f"x: POST {URL}: HTTP 503"


async def test_http_429_is_unavailable_and_throttled(
    provider: SMSBroadcastProvider, mock_http: AioResponses
) -> None:
    mock_http.post(URL, status=429, headers={"Retry-After": "30"})
    outcomes = await provider.send(batch(A))
    assert outcomes == [
        RecipientOutcome(
            A,
            Outcome.UNAVAILABLE,
            reason=f"x: POST {URL}: HTTP 429",
            kind=ErrorKind.THROTTLED,
            retry_after=30.0,
        )
    ]


async def test_http_401_is_a_provider_error_of_auth(
    provider: SMSBroadcastProvider, mock_http: AioResponses
) -> None:
    mock_http.post(URL, status=401)
    outcomes = await provider.send(batch(A))
    assert (outcomes[0].outcome, outcomes[0].kind) == (Outcome.PROVIDER_ERROR, ErrorKind.AUTH)


@pytest.mark.parametrize("exc", [TimeoutError(), aiohttp.ServerDisconnectedError()])
async def test_timeout_or_lost_connection_is_ambiguous(
    provider: SMSBroadcastProvider, mock_http: AioResponses, exc: Exception
) -> None:
    mock_http.post(URL, exception=exc)
    outcomes = await provider.send(batch(A, B))
    assert [o.outcome for o in outcomes] == [Outcome.AMBIGUOUS, Outcome.AMBIGUOUS]
    assert [o.recipient for o in outcomes] == [A, B]


# -- balance -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "amount"),
    [("OK:5000", "5000"), ("OK: 435", "435"), ("OK:12.50\r\n", "12.50")],
)
async def test_balance(
    provider: SMSBroadcastProvider, mock_http: AioResponses, body: str, amount: str
) -> None:
    mock_http.post(URL, body=body)
    balance = await provider.balance()
    assert (balance.amount, balance.unit) == (Decimal(amount), "credits")
    assert sent(mock_http) == {"action": "balance", "username": "user", "password": PASSWORD}


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("ERROR: bad auth", ErrorKind.AUTH),
        ("ERROR: Username or password is incorrect", ErrorKind.AUTH),
        ("ERROR: Something else", ErrorKind.OTHER),
    ],
)
async def test_balance_error(
    provider: SMSBroadcastProvider, mock_http: AioResponses, body: str, kind: ErrorKind
) -> None:
    mock_http.post(URL, body=body)
    with pytest.raises(ProviderRejectedError) as caught:
        await provider.balance()
    assert caught.value.kind is kind
    assert caught.value.outcome is Outcome.PROVIDER_ERROR
    assert str(caught.value) == f"x: balance: {body}"


@pytest.mark.parametrize("body", ["", "OK:", "OK:lots", "OK:NaN", "Hello"])
async def test_balance_of_no_known_form(
    provider: SMSBroadcastProvider, mock_http: AioResponses, body: str
) -> None:
    mock_http.post(URL, body=body)
    with pytest.raises(ProviderAmbiguousError, match="balance: unexpected answer"):
        await provider.balance()


# -- status --------------------------------------------------------------------------------


async def test_no_status_query(provider: SMSBroadcastProvider) -> None:
    with pytest.raises(NotImplementedError):
        await provider.query_status([StatusQuery("1", f"{MID}-0", A)])


# -- callbacks -----------------------------------------------------------------------------


def dlr(**query: str) -> CallbackRequest:
    return CallbackRequest("GET", query=query)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("Delivered", DeliveryStatus.DELIVERED),
        ("Expired", DeliveryStatus.EXPIRED),
        ("Failed", DeliveryStatus.FAILED),
        ("delivered", DeliveryStatus.DELIVERED),
        ("FAILED", DeliveryStatus.FAILED),
        ("Pending", DeliveryStatus.UNKNOWN),
        ("", DeliveryStatus.UNKNOWN),
    ],
)
def test_status_push(provider: SMSBroadcastProvider, raw: str, status: DeliveryStatus) -> None:
    result = provider.parse_callback(
        CallbackKind.DLR, dlr(to="61400111222", ref=MID, smsref="1122334455", status=raw)
    )
    assert result.response == CallbackResponse("OK", 200, "text/plain")
    assert result.inbound == ()
    assert result.reports == (
        DeliveryReport(
            provider="x",
            status=status,
            raw_status=raw,
            provider_message_id="1122334455",
            ref=MID,
            recipient=A,
        ),
    )


def test_status_push_without_our_ref(provider: SMSBroadcastProvider) -> None:
    result = provider.parse_callback(
        CallbackKind.DLR, dlr(to="0400111222", smsref="1122334455", status="Delivered")
    )
    assert result.reports == (
        DeliveryReport("x", DeliveryStatus.DELIVERED, "Delivered", "1122334455", None, A),
    )


def test_status_push_without_any_reference_is_refused(provider: SMSBroadcastProvider) -> None:
    with pytest.raises(CallbackError, match="without smsref or ref"):
        provider.parse_callback(CallbackKind.DLR, dlr(to="61400111222", status="Delivered"))


def test_inbound_push(provider: SMSBroadcastProvider) -> None:
    request = dlr(to="61400111222", message=" YES please ", ref=MID, **{"from": "61400333444"})
    result = provider.parse_callback(CallbackKind.INBOUND, request)
    assert result.response == CallbackResponse("OK")
    assert result.reports == ()
    assert result.inbound == (
        InboundMessage(provider="x", sender=B, recipient=A, text=" YES please ", in_reply_to=MID),
    )


def test_inbound_push_without_ref(provider: SMSBroadcastProvider) -> None:
    request = dlr(to="61400111222", message="hi", ref="", **{"from": "0400333444"})
    (inbound,) = provider.parse_callback(CallbackKind.INBOUND, request).inbound
    assert (inbound.sender, inbound.in_reply_to, inbound.provider_message_id) == (B, None, None)


def test_inbound_push_without_a_sender_is_refused(provider: SMSBroadcastProvider) -> None:
    with pytest.raises(CallbackError, match="without a sender"):
        provider.parse_callback(CallbackKind.INBOUND, dlr(to="61400111222", message="hi"))


def test_no_password_in_reprs(provider: SMSBroadcastProvider) -> None:
    assert PASSWORD not in repr(provider)
    assert PASSWORD not in repr(provider.config)
