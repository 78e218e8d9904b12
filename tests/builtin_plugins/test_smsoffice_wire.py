"""SMS Office adapter on the wire: exact requests, and every documented answer's outcome."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses as AioResponses
from cattrs.errors import ClassValidationError
from yarl import URL

from plugins.smsoffice.adapter import SMSOfficeConfig, SMSOfficeProvider
from router.config import make_config_converter
from router.errors import (
    CallbackError,
    ProviderAmbiguousError,
    ProviderRejectedError,
    ProviderUnavailableError,
)
from router.model import (
    Batch,
    CallbackKind,
    CallbackRequest,
    CallbackResponse,
    DeliveryReport,
    DeliveryStatus,
    Encoding,
    ErrorKind,
    Outcome,
    Recipient,
    RecipientOutcome,
    SenderKind,
)
from router.provider import Capabilities, Limits, ProviderContext
from router.redact import Secret

SEND_URL = URL("http://www.smsoffice.co.za/sms/api/sendsms.asp")
BALANCE_URL = URL("http://www.smsoffice.co.za/sms/api/balance.asp")
PASSWORD = "pa ss&word"
MESSAGE_ID = "0123456789abcdef"
ZA = "+27821234567"
ZA2 = "+27831234567"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


def adapter(session: aiohttp.ClientSession, **options: Any) -> SMSOfficeProvider:
    config = SMSOfficeConfig(
        username=options.pop("username", "acme"),
        password=Secret(PASSWORD),
        sender=options.pop("sender", "AcmeCo"),
        **options,
    )
    context = ProviderContext(name="office", session=session, logger=logging.getLogger("t"))
    return SMSOfficeProvider(config, context)


def recipient(e164: str, index: int = 0) -> Recipient:
    return Recipient(e164=e164, region="ZA", country_code=27, ref=f"{MESSAGE_ID}-{index}")


def batch(
    *numbers: str,
    text: str = "Hello world",
    sender: str | None = None,
    kind: SenderKind = SenderKind.NONE,
) -> Batch:
    return Batch(
        message_id=MESSAGE_ID,
        text=text,
        sender=sender,
        sender_kind=kind,
        encoding=Encoding.GSM7,
        segments=1,
        recipients=tuple(recipient(n, i) for i, n in enumerate(numbers or (ZA,))),
    )


def requests(mock: AioResponses) -> list[tuple[str, URL, dict[str, str]]]:
    """Every request made: method, URL without query, and the query parameters passed."""
    made = []
    for (method, url), calls in mock.requests.items():
        for call in calls:
            assert dict(url.query) == call.kwargs["params"]
            made.append((method, url.with_query(None), call.kwargs["params"]))
    return made


def send_params(
    to: str = "27821234567", sender: str = "AcmeCo", message: str = "Hello world"
) -> dict[str, str]:
    """The exact query of a send."""
    return {
        "username": "acme",
        "password": PASSWORD,
        "from": sender,
        "to": to,
        "message": message,
    }


# -- send: the request --------------------------------------------------------------------


async def test_send_is_one_get_with_every_parameter(
    mock_http: AioResponses, session: aiohttp.ClientSession
) -> None:
    mock_http.get(re_send(), body="Success:123456")
    outcomes = await adapter(session).send(batch(text="Hello world & more\nline 2"))
    assert outcomes == [RecipientOutcome(ZA, Outcome.ACCEPTED, provider_message_id="123456")]
    assert requests(mock_http) == [
        ("GET", SEND_URL, send_params(message="Hello world & more\nline 2"))
    ]


async def test_base_url_is_configurable(
    mock_http: AioResponses, session: aiohttp.ClientSession
) -> None:
    mock_http.get(re.compile(r"^https://sms\.example/api/sendsms\.asp\?"), body="Success:1")
    await adapter(session, base_url="https://sms.example/api/").send(batch())
    assert [(m, u) for m, u, _ in requests(mock_http)] == [
        ("GET", URL("https://sms.example/api/sendsms.asp"))
    ]


@pytest.mark.parametrize(
    ("sender", "kind", "wire"),
    [
        (None, SenderKind.NONE, "AcmeCo"),
        ("Pizza4U", SenderKind.ALPHANUMERIC, "Pizza4U"),
        # providers.md 2.2: the sender is letters or digits, so a number goes without '+'.
        ("+27831234567", SenderKind.NUMERIC, "27831234567"),
    ],
)
async def test_sender_is_the_message_s_or_the_configured_one(
    mock_http: AioResponses,
    session: aiohttp.ClientSession,
    sender: str | None,
    kind: SenderKind,
    wire: str,
) -> None:
    mock_http.get(re_send(), body="Success:1")
    await adapter(session).send(batch(sender=sender, kind=kind))
    assert requests(mock_http) == [("GET", SEND_URL, send_params(sender=wire))]


async def test_a_numeric_configured_sender_goes_without_plus(
    mock_http: AioResponses, session: aiohttp.ClientSession
) -> None:
    mock_http.get(re_send(), body="Success:1")
    await adapter(session, sender="+27831234567").send(batch())
    assert requests(mock_http) == [("GET", SEND_URL, send_params(sender="27831234567"))]


async def test_each_recipient_is_its_own_request_in_order(
    mock_http: AioResponses, session: aiohttp.ClientSession
) -> None:
    mock_http.get(re_send(), body="Success:11")
    mock_http.get(re_send(), body="Error:Invalid [to] parameter")
    outcomes = await adapter(session).send(batch(ZA, ZA2))
    assert [(o.recipient, o.outcome, o.provider_message_id) for o in outcomes] == [
        (ZA, Outcome.ACCEPTED, "11"),
        (ZA2, Outcome.REJECTED_RECIPIENT, None),
    ]
    assert requests(mock_http) == [
        ("GET", SEND_URL, send_params(to="27821234567")),
        ("GET", SEND_URL, send_params(to="27831234567")),
    ]


@pytest.mark.parametrize(
    ("body", "outcome", "kind"),
    [
        ("Error: Login Failed", Outcome.PROVIDER_ERROR, ErrorKind.AUTH),
        ("Error: Not enough credits", Outcome.PROVIDER_ERROR, ErrorKind.CREDIT),
    ],
)
async def test_an_account_error_ends_the_batch(
    mock_http: AioResponses,
    session: aiohttp.ClientSession,
    body: str,
    outcome: Outcome,
    kind: ErrorKind,
) -> None:
    mock_http.get(re_send(), body=body, repeat=True)
    outcomes = await adapter(session).send(batch(ZA, ZA2))
    assert outcomes == [
        RecipientOutcome(ZA, outcome, reason=body, kind=kind),
        RecipientOutcome(ZA2, outcome, reason=body, kind=kind),
    ]
    assert len(requests(mock_http)) == 1


async def test_after_an_ambiguous_answer_the_rest_are_not_sent(
    mock_http: AioResponses, session: aiohttp.ClientSession
) -> None:
    mock_http.get(re_send(), body="<html>Server busy</html>", repeat=True)
    first, second = await adapter(session).send(batch(ZA, ZA2))
    assert first.outcome is Outcome.AMBIGUOUS
    assert second == RecipientOutcome(
        ZA2, Outcome.UNAVAILABLE, reason="not sent: an earlier request failed"
    )
    assert len(requests(mock_http)) == 1


# -- send: every documented answer -------------------------------------------------------

ANSWERS = [
    # providers.md 2.2: Success:<tracking number>, split on the first ':' and trimmed.
    ("Success:123456", Outcome.ACCEPTED, None, "123456"),
    ("Success: 123456", Outcome.ACCEPTED, None, "123456"),
    ("Success:123456\r\n", Outcome.ACCEPTED, None, "123456"),
    ("SUCCESS:abc:def", Outcome.ACCEPTED, None, "abc:def"),
    ("Success:123456\r\n<!-- served by ASP -->", Outcome.ACCEPTED, None, "123456"),
    # The spec writes the answer "Success:message tracking number:".
    ("Success:123456:", Outcome.ACCEPTED, None, "123456"),
    # No tracking number: our reference stands in.
    ("Success:", Outcome.ACCEPTED, None, f"{MESSAGE_ID}-0"),
    # providers.md 2.2 and 8, the spec's exact texts.
    ("Error:Invalid [from] parameter", Outcome.PROVIDER_ERROR, ErrorKind.INVALID_REQUEST, None),
    ("Error:Invalid [to] parameter", Outcome.REJECTED_RECIPIENT, None, None),
    ("Error:Invalid [message] parameter", Outcome.REJECTED_MESSAGE, None, None),
    (
        "Error:Number must start with international prefix, 0 not allowed.",
        Outcome.REJECTED_RECIPIENT,
        None,
        None,
    ),
    ("Error: Not enough credits", Outcome.PROVIDER_ERROR, ErrorKind.CREDIT, None),
    (
        "Error:Max of 4 parts per message exceeded",
        Outcome.PROVIDER_ERROR,
        ErrorKind.INVALID_REQUEST,
        None,
    ),
    ("Error: Login Failed", Outcome.PROVIDER_ERROR, ErrorKind.AUTH, None),
    # The space after the colon is inconsistent, and case is not to be relied on.
    ("Error:Login Failed", Outcome.PROVIDER_ERROR, ErrorKind.AUTH, None),
    ("ERROR: LOGIN FAILED", Outcome.PROVIDER_ERROR, ErrorKind.AUTH, None),
    ("error:not enough credits", Outcome.PROVIDER_ERROR, ErrorKind.CREDIT, None),
    ("Error: Invalid [to] parameter", Outcome.REJECTED_RECIPIENT, None, None),
    ("Error : Invalid [message] parameter", Outcome.REJECTED_MESSAGE, None, None),
    # The spec: descriptions may go on with syntax examples.
    (
        "Error:Invalid [to] parameter. Example: to=27831234567",
        Outcome.REJECTED_RECIPIENT,
        None,
        None,
    ),
    # Any other Error is a provider error.
    ("Error:Route unavailable", Outcome.PROVIDER_ERROR, ErrorKind.OTHER, None),
    ("Error", Outcome.PROVIDER_ERROR, ErrorKind.OTHER, None),
    # Anything else may have been sent.
    ("", Outcome.AMBIGUOUS, None, None),
    ("OK", Outcome.AMBIGUOUS, None, None),
    ("<html><body>Service Unavailable</body></html>", Outcome.AMBIGUOUS, None, None),
    ("Successful", Outcome.AMBIGUOUS, None, None),
]


@pytest.mark.parametrize(("body", "outcome", "kind", "message_id"), ANSWERS)
async def test_every_documented_answer_maps_to_its_outcome(
    mock_http: AioResponses,
    session: aiohttp.ClientSession,
    body: str,
    outcome: Outcome,
    kind: ErrorKind | None,
    message_id: str | None,
) -> None:
    mock_http.get(re_send(), body=body)
    [result] = await adapter(session).send(batch())
    assert result.recipient == ZA
    assert result.outcome is outcome
    assert result.kind is kind
    assert result.provider_message_id == message_id
    assert result.retry_after is None
    if outcome is Outcome.ACCEPTED:
        assert result.reason == ""
    elif outcome is Outcome.AMBIGUOUS:
        assert result.reason == f"the answer fits no known form: {body.strip()!r}"
    else:
        assert result.reason == body.strip()


async def test_a_password_echoed_in_an_answer_is_redacted(
    mock_http: AioResponses, session: aiohttp.ClientSession
) -> None:
    body = f"Error:Invalid [from] parameter. Example: username=acme&password={PASSWORD}&from=X"
    mock_http.get(re_send(), body=body)
    [result] = await adapter(session).send(batch())
    assert PASSWORD not in result.reason
    assert result.reason == (
        "Error:Invalid [from] parameter. Example: username=acme&password=***&from=X"
    )


# -- send: transport failures -------------------------------------------------------------


async def test_http_5xx_is_unavailable(
    mock_http: AioResponses, session: aiohttp.ClientSession
) -> None:
    mock_http.get(re_send(), status=503, body="down")
    [result] = await adapter(session).send(batch())
    assert result.outcome is Outcome.UNAVAILABLE
    assert result.kind is ErrorKind.OTHER
    assert result.reason == ("office: GET http://www.smsoffice.co.za/sms/api/sendsms.asp: HTTP 503")


async def test_http_429_is_unavailable_and_throttled_with_retry_after(
    mock_http: AioResponses, session: aiohttp.ClientSession
) -> None:
    mock_http.get(re_send(), status=429, headers={"Retry-After": "30"})
    [result] = await adapter(session).send(batch())
    assert (result.outcome, result.kind, result.retry_after) == (
        Outcome.UNAVAILABLE,
        ErrorKind.THROTTLED,
        30.0,
    )


async def test_http_401_is_a_login_failure(
    mock_http: AioResponses, session: aiohttp.ClientSession
) -> None:
    mock_http.get(re_send(), status=401)
    [result] = await adapter(session).send(batch())
    assert (result.outcome, result.kind) == (Outcome.PROVIDER_ERROR, ErrorKind.AUTH)


async def test_a_timeout_is_ambiguous(
    mock_http: AioResponses, session: aiohttp.ClientSession
) -> None:
    mock_http.get(re_send(), exception=TimeoutError())
    [result] = await adapter(session).send(batch())
    assert result.outcome is Outcome.AMBIGUOUS
    assert "timed out" in result.reason


async def test_a_lost_connection_is_ambiguous(
    mock_http: AioResponses, session: aiohttp.ClientSession
) -> None:
    mock_http.get(re_send(), exception=aiohttp.ServerDisconnectedError())
    [result] = await adapter(session).send(batch())
    assert result.outcome is Outcome.AMBIGUOUS
    assert result.reason == (
        "office: GET http://www.smsoffice.co.za/sms/api/sendsms.asp: "
        "connection lost (ServerDisconnectedError)"
    )


# -- balance ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "amount"),
    [
        ("1234.56", Decimal("1234.56")),
        ("0.00", Decimal("0.00")),
        (" 17.50\r\n", Decimal("17.50")),
        # The spec heads the float "Success:".
        ("Success: 1234.56", Decimal("1234.56")),
        ("Success:3.00", Decimal("3.00")),
    ],
)
async def test_balance_is_a_get_answered_with_credits(
    mock_http: AioResponses, session: aiohttp.ClientSession, body: str, amount: Decimal
) -> None:
    mock_http.get(re_balance(), body=body)
    balance = await adapter(session).balance()
    assert (balance.amount, balance.unit, balance.is_credits) == (amount, "credits", True)
    assert requests(mock_http) == [("GET", BALANCE_URL, {"username": "acme", "password": PASSWORD})]


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("Error: Login Failed", ErrorKind.AUTH),
        ("Error:Login Failed", ErrorKind.AUTH),
        ("Error: Account suspended", ErrorKind.OTHER),
    ],
)
async def test_balance_error_is_rejected(
    mock_http: AioResponses, session: aiohttp.ClientSession, body: str, kind: ErrorKind
) -> None:
    mock_http.get(re_balance(), body=body)
    with pytest.raises(ProviderRejectedError) as caught:
        await adapter(session).balance()
    assert caught.value.kind is kind
    assert caught.value.outcome is Outcome.PROVIDER_ERROR
    assert str(caught.value) == f"office: balance: {body}"


@pytest.mark.parametrize("body", ["", "lots", "NaN", "Infinity", "<html>oops</html>"])
async def test_balance_in_no_known_form_is_ambiguous(
    mock_http: AioResponses, session: aiohttp.ClientSession, body: str
) -> None:
    mock_http.get(re_balance(), body=body)
    with pytest.raises(ProviderAmbiguousError):
        await adapter(session).balance()


async def test_balance_on_http_503_is_unavailable(
    mock_http: AioResponses, session: aiohttp.ClientSession
) -> None:
    mock_http.get(re_balance(), status=503)
    with pytest.raises(ProviderUnavailableError):
        await adapter(session).balance()


# -- delivery reports ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status_id", "message", "status"),
    [
        ("100", "Submitted to gateway", DeliveryStatus.ENROUTE),
        ("200", "Delivered to Mobile", DeliveryStatus.DELIVERED),
        ("300", "Delivery Failed", DeliveryStatus.FAILED),
        ("400", "Route not available", DeliveryStatus.REJECTED),
        ("999", "Something new", DeliveryStatus.UNKNOWN),
        ("", "", DeliveryStatus.UNKNOWN),
    ],
)
async def test_delivery_report_statuses(
    session: aiohttp.ClientSession, status_id: str, message: str, status: DeliveryStatus
) -> None:
    provider = adapter(session)
    query = {
        "messageid": "123456",
        "to": "27821234567",
        "from": "AcmeCo",
        "StatusID": status_id,
        "statusMessage": message,
    }
    result = provider.parse_callback(CallbackKind.DLR, CallbackRequest("GET", query=query))
    assert result.response == CallbackResponse("OK", 200, "text/plain")
    assert result.inbound == ()
    assert result.reports == (
        DeliveryReport(
            provider="office",
            status=status,
            raw_status=status_id,
            provider_message_id="123456",
            recipient=ZA,
            description=message,
        ),
    )


async def test_a_report_without_messageid_is_still_answered_200(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    provider = adapter(session)
    query = {"to": "27821234567", "StatusID": "200"}
    with caplog.at_level(logging.WARNING):
        result = provider.parse_callback(CallbackKind.DLR, CallbackRequest("GET", query=query))
    assert result.response == CallbackResponse("OK")
    assert result.reports == ()
    assert "delivery report without a messageid" in caplog.text


async def test_a_report_without_to_has_no_recipient(session: aiohttp.ClientSession) -> None:
    query = {"messageid": " 77 ", "StatusID": " 200 "}
    result = adapter(session).parse_callback(CallbackKind.DLR, CallbackRequest("GET", query=query))
    [report] = result.reports
    assert (report.provider_message_id, report.recipient, report.status) == (
        "77",
        None,
        DeliveryStatus.DELIVERED,
    )


async def test_inbound_pushes_are_refused(session: aiohttp.ClientSession) -> None:
    with pytest.raises(CallbackError):
        adapter(session).parse_callback(
            CallbackKind.INBOUND, CallbackRequest("GET", query={"from": "27821234567"})
        )


# -- declarations and config --------------------------------------------------------------


def test_capabilities_and_limits() -> None:
    assert SMSOfficeProvider.type_name == "smsoffice"
    assert SMSOfficeProvider.Config is SMSOfficeConfig
    assert SMSOfficeProvider.capabilities == Capabilities(
        max_recipients=1,
        max_parts=4,
        unicode=False,
        sender_kinds=frozenset(SenderKind),
        max_sender_length=11,
        balance=True,
        status_query=False,
        push_dlr=True,
        push_inbound=False,
        client_reference=False,
        reference_length=None,
    )
    assert SMSOfficeProvider.limits == Limits(concurrency=1)
    assert SMSOfficeProvider.callback_answer == "OK"


def test_config_is_structured_strictly() -> None:
    converter = make_config_converter()
    config = converter.structure(
        {"username": "acme", "password": PASSWORD, "sender": "AcmeCo"}, SMSOfficeConfig
    )
    assert config == SMSOfficeConfig("acme", Secret(PASSWORD), "AcmeCo")
    assert config.base_url == "http://www.smsoffice.co.za/sms/api"
    assert PASSWORD not in repr(config)
    for bad in (
        {"username": "acme", "password": PASSWORD},
        {"username": "acme", "password": PASSWORD, "sender": "Far too long"},
        {"username": "acme", "password": PASSWORD, "sender": "Acme Co"},
        {"username": "acme", "password": PASSWORD, "sender": ""},
        {"username": "acme", "password": PASSWORD, "sender": "AcmeCo", "colour": "red"},
        {"username": "acme", "password": 5, "sender": "AcmeCo"},
    ):
        with pytest.raises(ClassValidationError):
            converter.structure(bad, SMSOfficeConfig)


def re_send() -> re.Pattern[str]:
    """Any send URL, whatever its query."""
    return re.compile(r"^http://www\.smsoffice\.co\.za/sms/api/sendsms\.asp\?")


def re_balance() -> re.Pattern[str]:
    """Any balance URL, whatever its query."""
    return re.compile(r"^http://www\.smsoffice\.co\.za/sms/api/balance\.asp\?")
