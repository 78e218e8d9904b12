"""SMS Central adapter on the wire: the exact requests, and every documented answer parsed.

The answers are those providers.md section 4 records (the vendor pages' own examples where
it has them); the outcomes are its section 8.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import cattrs
import pytest
import yarl
from aioresponses import aioresponses as AioResponses

from plugins.smscentral.adapter import (
    PUSH_STATUSES,
    QUERY_STATUSES,
    PartTracker,
    SMSCentralConfig,
    SMSCentralProvider,
    parse_udh,
)
from router.config import make_config_converter
from router.errors import CallbackError, ProviderAmbiguousError, ProviderRejectedError
from router.model import (
    Balance,
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
from router.testing import check_provider

URL = "https://my.smscentral.com.au/api/v3.2"
USER = "user@example.com"
PASSWORD = "pa ss&w=rd+secret"
MID = "0123456789abcdef"
A, B, C = "+61412341234", "+61400333444", "+61400555666"


def make(session: aiohttp.ClientSession, **options: Any) -> SMSCentralProvider:
    context = ProviderContext(name="x", session=session, logger=logging.getLogger("t"))
    return SMSCentralProvider(SMSCentralConfig(USER, Secret(PASSWORD), **options), context)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def provider(session: aiohttp.ClientSession) -> SMSCentralProvider:
    return make(session)


def batch(
    *numbers: str,
    text: str = "Hello",
    sender: str | None = None,
    kind: SenderKind = SenderKind.NONE,
) -> Batch:
    recipients = tuple(Recipient(n, "AU", 61, f"{MID}-{i}") for i, n in enumerate(numbers))
    return Batch(MID, text, sender, kind, Encoding.GSM7, 1, recipients)


def sent(mock_http: AioResponses, index: int = 0) -> dict[str, Any]:
    data: dict[str, Any] = mock_http.requests[("POST", yarl.URL(URL))][index].kwargs["data"]
    return data


async def send_answering(
    provider: SMSCentralProvider, mock_http: AioResponses, body: str, *numbers: str
) -> list[RecipientOutcome]:
    mock_http.post(URL, body=body)
    return await provider.send(batch(*numbers))


# -- config and declarations ---------------------------------------------------------------


def test_config_structures_strictly_and_hides_the_passwords() -> None:
    converter = make_config_converter()
    config = converter.structure(
        {
            "username": USER,
            "password": PASSWORD,
            "originator": "shared",
            "callback_username": "hook",
            "callback_password": "hook-secret",
        },
        SMSCentralConfig,
    )
    assert config == SMSCentralConfig(
        USER,
        Secret(PASSWORD),
        originator="shared",
        callback_username="hook",
        callback_password=Secret("hook-secret"),
    )
    assert config.base_url == URL
    assert config.status_action == "status"
    assert PASSWORD not in repr(config)
    assert "hook-secret" not in repr(config)
    with pytest.raises(cattrs.BaseValidationError):
        converter.structure(
            {"username": USER, "password": PASSWORD, "sender": "x"}, SMSCentralConfig
        )
    with pytest.raises(cattrs.BaseValidationError):
        converter.structure({"username": USER, "password": 1234}, SMSCentralConfig)


def test_declarations() -> None:
    caps = SMSCentralProvider.capabilities
    assert SMSCentralProvider.type_name == "smscentral"
    assert (caps.max_recipients, caps.max_parts, caps.unicode) == (100, 6, False)
    assert (caps.balance, caps.status_query, caps.push_dlr, caps.push_inbound) == (
        True,
        True,
        True,
        True,
    )
    assert (caps.client_reference, caps.reference_length) == (True, 100)
    assert SMSCentralProvider.callback_answer == "0"
    assert SMSCentralProvider.limits.concurrency is None
    assert SMSCentralProvider.limits.rates == {}


# -- send: the request ---------------------------------------------------------------------


async def test_send_one_recipient_posts_the_documented_form(
    provider: SMSCentralProvider, mock_http: AioResponses
) -> None:
    mock_http.post(URL, body="0")
    outcomes = await provider.send(batch(A, text="Hello & good day"))
    assert sent(mock_http) == {
        "USERNAME": USER,
        "PASSWORD": PASSWORD,
        "ACTION": "send",
        "MESSAGE_TEXT": "Hello & good day",
        "RECIPIENT": "61412341234",
        "REFERENCE": f"{MID}-0",
    }
    assert outcomes == [RecipientOutcome(A, Outcome.ACCEPTED, provider_message_id=f"{MID}-0")]


async def test_send_many_recipients_posts_recipientmessages_json(
    provider: SMSCentralProvider, mock_http: AioResponses
) -> None:
    mock_http.post(URL, body="0")
    outcomes = await provider.send(batch(A, B, C, text="Hi"))
    data = sent(mock_http)
    assert set(data) == {"USERNAME", "PASSWORD", "ACTION", "MESSAGE_TEXT", "RECIPIENTMESSAGES"}
    assert (data["ACTION"], data["MESSAGE_TEXT"]) == ("send", "Hi")
    assert json.loads(data["RECIPIENTMESSAGES"]) == [
        {"RECIPIENT": "61412341234", "MESSAGE_TEXT": "Hi", "REFERENCE": f"{MID}-0"},
        {"RECIPIENT": "61400333444", "MESSAGE_TEXT": "Hi", "REFERENCE": f"{MID}-1"},
        {"RECIPIENT": "61400555666", "MESSAGE_TEXT": "Hi", "REFERENCE": f"{MID}-2"},
    ]
    assert outcomes == [
        RecipientOutcome(n, Outcome.ACCEPTED, provider_message_id=f"{MID}-{i}")
        for i, n in enumerate((A, B, C))
    ]


@pytest.mark.parametrize(
    ("configured", "sender", "kind", "originator"),
    [
        (None, None, SenderKind.NONE, None),
        ("shared", None, SenderKind.NONE, "shared"),
        ("shared", "+61400000000", SenderKind.NUMERIC, "61400000000"),
        (None, "ACME", SenderKind.ALPHANUMERIC, "ACME"),
    ],
)
async def test_send_originator(
    session: aiohttp.ClientSession,
    mock_http: AioResponses,
    configured: str | None,
    sender: str | None,
    kind: SenderKind,
    originator: str | None,
) -> None:
    provider = make(session, originator=configured)
    mock_http.post(URL, body="0")
    await provider.send(batch(A, sender=sender, kind=kind))
    assert sent(mock_http).get("ORIGINATOR") == originator


async def test_send_refuses_more_than_100_recipients_without_a_request(
    provider: SMSCentralProvider, mock_http: AioResponses
) -> None:
    numbers = [f"+614{n:08d}" for n in range(101)]
    outcomes = await provider.send(batch(*numbers))
    assert len(outcomes) == 101
    assert {(o.outcome, o.kind) for o in outcomes} == {
        (Outcome.PROVIDER_ERROR, ErrorKind.INVALID_REQUEST)
    }
    assert [o.recipient for o in outcomes] == numbers
    assert mock_http.requests == {}


# -- send: every answer --------------------------------------------------------------------


@pytest.mark.parametrize("body", ["0", " 0\r\n", "0\n", "0 Message queued"])
async def test_send_zero_is_accepted_with_our_reference_as_id(
    provider: SMSCentralProvider, mock_http: AioResponses, body: str
) -> None:
    outcomes = await send_answering(provider, mock_http, body, A)
    assert outcomes == [RecipientOutcome(A, Outcome.ACCEPTED, provider_message_id=f"{MID}-0")]


@pytest.mark.parametrize(
    ("body", "outcome", "kind"),
    [
        ("511 Username or Password incorrect", Outcome.PROVIDER_ERROR, ErrorKind.AUTH),
        # providers.md 4.2: a sibling gateway puts a newline between code and text.
        ("511\nUsername or Password incorrect", Outcome.PROVIDER_ERROR, ErrorKind.AUTH),
        ("512 Insufficient credit", Outcome.PROVIDER_ERROR, ErrorKind.CREDIT),
        ("530 Too many requests", Outcome.PROVIDER_ERROR, ErrorKind.THROTTLED),
        ("520 Invalid ORIGINATOR", Outcome.PROVIDER_ERROR, ErrorKind.OTHER),
        ("514 Missing parameter MESSAGE_TEXT", Outcome.PROVIDER_ERROR, ErrorKind.INVALID_REQUEST),
        ("599 Route unavailable", Outcome.PROVIDER_ERROR, ErrorKind.OTHER),
        ("599", Outcome.PROVIDER_ERROR, ErrorKind.OTHER),
        ("513 Invalid recipient number", Outcome.REJECTED_RECIPIENT, None),
        ("513 Invalid mobile 61412341234", Outcome.REJECTED_RECIPIENT, None),
    ],
)
async def test_send_coded_errors(
    provider: SMSCentralProvider,
    mock_http: AioResponses,
    body: str,
    outcome: Outcome,
    kind: ErrorKind | None,
) -> None:
    [result] = await send_answering(provider, mock_http, body, A)
    assert (result.recipient, result.outcome, result.kind) == (A, outcome, kind)
    assert result.reason == " ".join(body.split(maxsplit=1))
    assert result.provider_message_id is None


@pytest.mark.parametrize(
    "body",
    ["", "   ", "<html><body>502 Bad Gateway</body></html>", "OK", "Message queued"],
)
async def test_send_unrecognised_answer_is_ambiguous(
    provider: SMSCentralProvider, mock_http: AioResponses, body: str
) -> None:
    outcomes = await send_answering(provider, mock_http, body, A, B)
    assert [(o.recipient, o.outcome) for o in outcomes] == [
        (A, Outcome.AMBIGUOUS),
        (B, Outcome.AMBIGUOUS),
    ]
    assert outcomes[0].reason.startswith("unrecognised answer: ")


async def test_send_error_naming_one_of_many_numbers(
    provider: SMSCentralProvider, mock_http: AioResponses
) -> None:
    outcomes = await send_answering(
        provider, mock_http, "513 Invalid recipient number 61400333444", A, B, C
    )
    reason = "513 Invalid recipient number 61400333444"
    assert outcomes == [
        RecipientOutcome(
            A,
            Outcome.PROVIDER_ERROR,
            reason=f"refused with another recipient: {reason}",
            kind=ErrorKind.OTHER,
        ),
        RecipientOutcome(B, Outcome.REJECTED_RECIPIENT, reason=reason),
        RecipientOutcome(
            C,
            Outcome.PROVIDER_ERROR,
            reason=f"refused with another recipient: {reason}",
            kind=ErrorKind.OTHER,
        ),
    ]


async def test_send_error_about_an_unnamed_number_of_many_fails_over_all(
    provider: SMSCentralProvider, mock_http: AioResponses
) -> None:
    outcomes = await send_answering(provider, mock_http, "513 Invalid recipient", A, B)
    assert [(o.outcome, o.kind) for o in outcomes] == [
        (Outcome.PROVIDER_ERROR, ErrorKind.OTHER),
        (Outcome.PROVIDER_ERROR, ErrorKind.OTHER),
    ]


async def test_send_error_text_is_redacted(
    provider: SMSCentralProvider, mock_http: AioResponses
) -> None:
    [result] = await send_answering(provider, mock_http, f"511 Bad password {PASSWORD}", A)
    assert PASSWORD not in result.reason
    assert result.reason == "511 Bad password ***"


@pytest.mark.parametrize(
    ("status", "headers", "outcome", "kind", "retry_after"),
    [
        (500, {}, Outcome.UNAVAILABLE, ErrorKind.OTHER, None),
        (503, {}, Outcome.UNAVAILABLE, ErrorKind.OTHER, None),
        (429, {"Retry-After": "30"}, Outcome.UNAVAILABLE, ErrorKind.THROTTLED, 30.0),
        (401, {}, Outcome.PROVIDER_ERROR, ErrorKind.AUTH, None),
    ],
)
async def test_send_http_errors(
    provider: SMSCentralProvider,
    mock_http: AioResponses,
    status: int,
    headers: dict[str, str],
    outcome: Outcome,
    kind: ErrorKind,
    retry_after: float | None,
) -> None:
    mock_http.post(URL, status=status, body="oops", headers=headers)
    outcomes = await provider.send(batch(A, B))
    assert [(o.recipient, o.outcome, o.kind, o.retry_after) for o in outcomes] == [
        (A, outcome, kind, retry_after),
        (B, outcome, kind, retry_after),
    ]
    assert outcomes[0].reason == f"x: POST {URL}: HTTP {status}"


async def test_send_timeout_is_ambiguous(
    provider: SMSCentralProvider, mock_http: AioResponses
) -> None:
    mock_http.post(URL, exception=TimeoutError())
    [result] = await provider.send(batch(A))
    assert result.outcome is Outcome.AMBIGUOUS
    assert result.reason == f"x: POST {URL}: timed out waiting"


# -- balance -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "amount"),
    [
        ("<balance>125.34</balance>", Decimal("125.34")),
        ('<?xml version="1.0" encoding="UTF-8"?>\n<balance> 0.00 </balance>\n', Decimal("0.00")),
        ("<balance>-3.5</balance>", Decimal("-3.5")),
    ],
)
async def test_balance_in_dollars(
    provider: SMSCentralProvider, mock_http: AioResponses, body: str, amount: Decimal
) -> None:
    mock_http.post(URL, body=body)
    assert await provider.balance() == Balance(amount, "AUD")
    assert sent(mock_http) == {"USERNAME": USER, "PASSWORD": PASSWORD, "ACTION": "balance"}


@pytest.mark.parametrize(
    ("body", "kind", "text"),
    [
        (
            "<error><errorcode>511</errorcode><errormessage>Username or Password incorrect"
            "</errormessage></error>",
            ErrorKind.AUTH,
            "x: balance: 511 Username or Password incorrect",
        ),
        (
            "<errorcode>512</errorcode><errormessage>No credit left</errormessage>",
            ErrorKind.CREDIT,
            "x: balance: 512 No credit left",
        ),
        (
            "511 Username or Password incorrect",
            ErrorKind.AUTH,
            "x: balance: 511 Username or Password incorrect",
        ),
        (
            "Username or Password incorrect",
            ErrorKind.AUTH,
            "x: balance: Username or Password incorrect",
        ),
        ("599 Something broke", ErrorKind.OTHER, "x: balance: 599 Something broke"),
    ],
)
async def test_balance_errors_are_rejections_with_kinds(
    provider: SMSCentralProvider, mock_http: AioResponses, body: str, kind: ErrorKind, text: str
) -> None:
    mock_http.post(URL, body=body)
    with pytest.raises(ProviderRejectedError) as caught:
        await provider.balance()
    assert caught.value.kind is kind
    assert str(caught.value) == text


@pytest.mark.parametrize(
    "body",
    [
        "",
        "<html><body>Maintenance</body></html>",
        "<balance>lots</balance>",
        "<balance>NaN</balance>",
        "<balance>12",
        '<!DOCTYPE b [<!ENTITY x "1">]><balance>&x;</balance>',
        '<!ENTITY x "1"><balance>1</balance>',
    ],
)
async def test_balance_unrecognised_answers(
    provider: SMSCentralProvider, mock_http: AioResponses, body: str
) -> None:
    mock_http.post(URL, body=body)
    with pytest.raises(ProviderAmbiguousError, match="balance: unrecognised answer"):
        await provider.balance()


# -- status query --------------------------------------------------------------------------

SEED_STATUS = """<messages>
      <message>
            <reference>ABC123</reference>
            <datestamp>2015-01-02 18:17:59</datestamp>
            <recipient>61400000000</recipient>
            <status>DELIVRD</status>
            <statusdescription>0004: Delivered to mobile service</statusdescription>
      </message>
      <message>
            <reference>ABC456</reference>
            <datestamp>2015-01-02 21:28:44</datestamp>
            <recipient>61400000001</recipient>
            <status>DELIVRD</status>
            <statusdescription>0004: Delivered to mobile service</statusdescription>
      </message>
</messages>"""


def query(ref: str, recipient: str = A) -> StatusQuery:
    return StatusQuery(provider_message_id=ref, ref=ref, recipient=recipient)


async def test_status_posts_references_and_parses_the_documented_xml(
    provider: SMSCentralProvider, mock_http: AioResponses
) -> None:
    mock_http.post(URL, body=SEED_STATUS)
    reports = await provider.query_status(
        [query("ABC123", "+61400000000"), query("ABC456", "+61400000001"), query("NOPE")]
    )
    assert sent(mock_http) == {
        "USERNAME": USER,
        "PASSWORD": PASSWORD,
        "ACTION": "status",
        "REFERENCE": "ABC123,ABC456,NOPE",
    }
    delivered = [
        DeliveryReport(
            provider="x",
            status=DeliveryStatus.DELIVERED,
            raw_status="DELIVRD",
            provider_message_id=ref,
            ref=ref,
            recipient=number,
            error_code="0004",
            description="0004: Delivered to mobile service",
        )
        for ref, number in (("ABC123", "+61400000000"), ("ABC456", "+61400000001"))
    ]
    assert reports == [
        *delivered,
        DeliveryReport(
            provider="x",
            status=DeliveryStatus.UNKNOWN,
            raw_status="",
            provider_message_id="NOPE",
            ref="NOPE",
            recipient=A,
            description="SMS Central lists no message with this REFERENCE",
        ),
    ]
    assert [r.not_found for r in reports] == [False, False, True], "only the one not listed"


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("DELIVRD", DeliveryStatus.DELIVERED),
        ("delivrd", DeliveryStatus.DELIVERED),
        ("DELIVERD", DeliveryStatus.DELIVERED),
        ("ENROUTE", DeliveryStatus.ENROUTE),
        ("ACCEPTD", DeliveryStatus.ENROUTE),
        ("BUFFRED", DeliveryStatus.ENROUTE),
        ("EXPIRED", DeliveryStatus.EXPIRED),
        ("UNDELIV", DeliveryStatus.FAILED),
        ("FAILED", DeliveryStatus.FAILED),
        ("DELETED", DeliveryStatus.FAILED),
        ("REJECTD", DeliveryStatus.REJECTED),
        ("UNKNOWN", DeliveryStatus.UNKNOWN),
        ("SOMETHING", DeliveryStatus.UNKNOWN),
        ("", DeliveryStatus.UNKNOWN),
    ],
)
async def test_status_values(
    provider: SMSCentralProvider, mock_http: AioResponses, raw: str, status: DeliveryStatus
) -> None:
    body = (
        f"<messages><message><reference>R1</reference><recipient>61412341234</recipient>"
        f"<status>{raw}</status><statusdescription>Text</statusdescription></message></messages>"
    )
    mock_http.post(URL, body=body)
    [report] = await provider.query_status([query("R1")])
    assert (report.status, report.raw_status, report.error_code) == (status, raw, None)
    assert (report.description, report.recipient) == ("Text", A)


def test_status_tables_cover_the_documented_values() -> None:
    assert set(QUERY_STATUSES) == {
        "DELIVRD",
        "DELIVERD",
        "ENROUTE",
        "ACCEPTD",
        "BUFFRED",
        "EXPIRED",
        "UNDELIV",
        "FAILED",
        "DELETED",
        "REJECTD",
    }
    assert set(PUSH_STATUSES) == {"DELIVERD", "DELIVRD", "BUFFRED", "FAILED"}


async def test_status_prefers_the_most_taken_of_one_reference(
    provider: SMSCentralProvider, mock_http: AioResponses
) -> None:
    body = (
        "<messages>"
        "<message><reference>R1</reference><status>UNDELIV</status></message>"
        "<message><reference>R1</reference><status>DELIVRD</status></message>"
        "<message><reference>OTHER</reference><status>DELIVRD</status></message>"
        "</messages>"
    )
    mock_http.post(URL, body=body)
    [report] = await provider.query_status([query("R1")])
    assert (report.status, report.recipient) == (DeliveryStatus.DELIVERED, A)


async def test_status_splits_into_requests_of_100_references(
    provider: SMSCentralProvider, mock_http: AioResponses
) -> None:
    mock_http.post(URL, body="<messages></messages>", repeat=True)
    refs = [f"{MID}-{n}" for n in range(150)]
    reports = await provider.query_status([query(r) for r in refs])
    assert [sent(mock_http, i)["REFERENCE"] for i in (0, 1)] == [
        ",".join(refs[:100]),
        ",".join(refs[100:]),
    ]
    assert len(mock_http.requests[("POST", yarl.URL(URL))]) == 2
    assert [r.ref for r in reports] == refs
    assert {r.status for r in reports} == {DeliveryStatus.UNKNOWN}


async def test_status_action_is_configurable_and_may_be_left_out(
    session: aiohttp.ClientSession, mock_http: AioResponses
) -> None:
    mock_http.post(URL, body="<messages/>", repeat=True)
    await make(session, status_action=None).query_status([query("R1")])
    await make(session, status_action="check").query_status([query("R1")])
    assert sent(mock_http, 0) == {"USERNAME": USER, "PASSWORD": PASSWORD, "REFERENCE": "R1"}
    assert sent(mock_http, 1)["ACTION"] == "check"


@pytest.mark.parametrize(
    ("body", "error", "kind"),
    [
        ("511 Username or Password incorrect", ProviderRejectedError, ErrorKind.AUTH),
        ("Invalid REFERENCE parameter", ProviderRejectedError, ErrorKind.INVALID_REQUEST),
        ("<html>error</html>", ProviderAmbiguousError, ErrorKind.OTHER),
        ("", ProviderAmbiguousError, ErrorKind.OTHER),
    ],
)
async def test_status_errors(
    provider: SMSCentralProvider,
    mock_http: AioResponses,
    body: str,
    error: type[Exception],
    kind: ErrorKind,
) -> None:
    mock_http.post(URL, body=body)
    with pytest.raises(error) as caught:
        await provider.query_status([query("R1")])
    assert getattr(caught.value, "kind", None) is kind


# -- delivery report pushes ----------------------------------------------------------------

# providers.md 4.5, the example push.
DLR = {
    "USER_NAME": "u",
    "PASSWORD": "p",
    "ORIGINATOR": "61400000000",
    "RECIPIENT": "61412341234",
    "PROVIDER": "telstra",
    "MESSAGE_TEXT": "Hello",
    "ID": "abc123",
    "REFERENCE": "msg-000123",
    "RESULT": "0",
    "STATUS": "DELIVERD",
    "STATUSDESCRIPTION": "",
}


def dlr(provider: SMSCentralProvider, **changes: str) -> DeliveryReport:
    result = provider.parse_callback(
        CallbackKind.DLR, CallbackRequest("GET", query={**DLR, **changes})
    )
    assert result.response == CallbackResponse("0")
    assert result.inbound == ()
    [report] = result.reports
    return report


def test_dlr_documented_example(provider: SMSCentralProvider) -> None:
    assert dlr(provider) == DeliveryReport(
        provider="x",
        status=DeliveryStatus.DELIVERED,
        raw_status="DELIVERD",
        provider_message_id="msg-000123",
        ref="msg-000123",
        recipient=A,
    )


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("DELIVERD", DeliveryStatus.DELIVERED),
        ("DELIVRD", DeliveryStatus.DELIVERED),
        ("deliverd", DeliveryStatus.DELIVERED),
        ("BUFFRED", DeliveryStatus.ENROUTE),
        ("FAILED", DeliveryStatus.FAILED),
        ("EXPIRED", DeliveryStatus.UNKNOWN),
        ("WHATEVER", DeliveryStatus.UNKNOWN),
    ],
)
def test_dlr_statuses(provider: SMSCentralProvider, raw: str, status: DeliveryStatus) -> None:
    report = dlr(provider, STATUS=raw)
    assert (report.status, report.raw_status) == (status, raw)


def test_dlr_failure_keeps_result_and_description(provider: SMSCentralProvider) -> None:
    report = dlr(provider, STATUS="FAILED", RESULT="14", STATUSDESCRIPTION="Absent subscriber")
    assert (report.status, report.error_code, report.description) == (
        DeliveryStatus.FAILED,
        "14",
        "Absent subscriber",
    )


def test_dlr_without_reference_uses_the_provider_id(provider: SMSCentralProvider) -> None:
    report = dlr(provider, REFERENCE="")
    assert (report.ref, report.provider_message_id) == (None, "abc123")


@pytest.mark.parametrize(
    "changes",
    [{"STATUS": ""}, {"REFERENCE": "", "ID": ""}],
)
def test_dlr_missing_fields_are_refused(
    provider: SMSCentralProvider, changes: dict[str, str]
) -> None:
    with pytest.raises(CallbackError):
        dlr(provider, **changes)


def test_dlr_credentials_checked_when_configured(session: aiohttp.ClientSession) -> None:
    provider = make(session, callback_username="u", callback_password=Secret("p-secret"))
    assert dlr(provider, PASSWORD="p-secret").status is DeliveryStatus.DELIVERED
    for changes in ({"PASSWORD": "wrong"}, {"USER_NAME": "other", "PASSWORD": "p-secret"}):
        with pytest.raises(CallbackError) as caught:
            dlr(provider, **changes)
        assert "p-secret" not in str(caught.value)
        assert "wrong" not in str(caught.value)
    without = CallbackRequest("GET", query={k: v for k, v in DLR.items() if k != "PASSWORD"})
    with pytest.raises(CallbackError):
        provider.parse_callback(CallbackKind.DLR, without)


def test_dlr_username_alone_may_be_checked(session: aiohttp.ClientSession) -> None:
    provider = make(session, callback_username="u")
    assert dlr(provider, PASSWORD="anything").status is DeliveryStatus.DELIVERED
    with pytest.raises(CallbackError):
        dlr(provider, USER_NAME="v")


def test_dlr_form_fields_are_read_too(provider: SMSCentralProvider) -> None:
    result = provider.parse_callback(CallbackKind.DLR, CallbackRequest("POST", form=DLR))
    assert result.reports[0].ref == "msg-000123"


# -- multi-part reports --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("udh", "parsed"),
    [
        ("0500038A0302", ("8A", 3, 2)),
        ("0500038a0101", ("8A", 1, 1)),
        ("0608041A2B0201", ("1A2B", 2, 1)),
        ("0B05040B8423F00003AA0201", ("AA", 2, 1)),
        ("", None),
        ("zz", None),
        ("05000389", None),
        ("0500038A0304", None),
        ("0500038A0300", None),
        ("0401020304", None),
    ],
)
def test_parse_udh(udh: str, parsed: tuple[str, int, int] | None) -> None:
    assert parse_udh(udh) == parsed


def part(provider: SMSCentralProvider, n: int, status: str, ref: str = "R1") -> DeliveryReport:
    return dlr(provider, REFERENCE=ref, STATUS=status, UDH=f"0500038A03{n:02X}")


def test_parts_all_delivered_is_delivered_only_at_the_last(provider: SMSCentralProvider) -> None:
    first = part(provider, 1, "DELIVERD")
    assert (first.status, first.part, first.raw_status) == (
        DeliveryStatus.ENROUTE,
        (1, 3),
        "DELIVERD",
    )
    assert part(provider, 3, "BUFFRED").status is DeliveryStatus.ENROUTE
    assert part(provider, 3, "DELIVERD").status is DeliveryStatus.ENROUTE
    assert part(provider, 1, "DELIVERD").status is DeliveryStatus.ENROUTE  # a repeated push
    assert len(provider.parts) == 1
    last = part(provider, 2, "DELIVERD")
    assert (last.status, last.part) == (DeliveryStatus.DELIVERED, (2, 3))
    assert len(provider.parts) == 0


def test_parts_one_failed_fails_the_message_at_once(provider: SMSCentralProvider) -> None:
    assert part(provider, 1, "DELIVERD").status is DeliveryStatus.ENROUTE
    assert part(provider, 2, "FAILED").status is DeliveryStatus.FAILED
    assert len(provider.parts) == 0
    # Later parts report the final status, never a regression.
    assert part(provider, 3, "DELIVERD").status is DeliveryStatus.FAILED


def test_parts_of_different_references_are_apart(provider: SMSCentralProvider) -> None:
    assert part(provider, 1, "FAILED", ref="R1").status is DeliveryStatus.FAILED
    assert part(provider, 1, "DELIVERD", ref="R2").status is DeliveryStatus.ENROUTE
    single = dlr(provider, REFERENCE="R3", UDH="")
    assert (single.status, single.part) == (DeliveryStatus.DELIVERED, None)


def test_part_table_is_bounded() -> None:
    tracker = PartTracker(size=2)
    for ref in ("R1", "R2", "R3"):
        tracker.record((ref, "8A", 2), 1, 2, DeliveryStatus.DELIVERED)
    assert len(tracker) == 2
    # R1 was dropped: its second part alone cannot make it delivered.
    assert tracker.record(("R1", "8A", 2), 2, 2, DeliveryStatus.DELIVERED) is (
        DeliveryStatus.ENROUTE
    )
    assert tracker.record(("R3", "8A", 2), 2, 2, DeliveryStatus.DELIVERED) is (
        DeliveryStatus.DELIVERED
    )
    for ref in ("F1", "F2", "F3"):
        tracker.record((ref, "8A", 2), 1, 2, DeliveryStatus.FAILED)
    assert len(tracker._final) == 2


# -- inbound pushes ------------------------------------------------------------------------

# providers.md 4.6, the example push (field names from one public client).
MO = {
    "USER_NAME": "u",
    "PASSWORD": "p",
    "ORIGINATOR": "61412341234",
    "RECIPIENT": "61400000000",
    "PROVIDER": "optus",
    "CAMPAIGN": "",
    "MESSAGE_TEXT": "YES",
    "REFERENCE": "msg-000123",
}


def test_inbound_documented_example(provider: SMSCentralProvider) -> None:
    result = provider.parse_callback(CallbackKind.INBOUND, CallbackRequest("GET", query=MO))
    assert result.response == CallbackResponse("0")
    assert result.reports == ()
    assert result.inbound == (
        InboundMessage(
            provider="x",
            sender=A,
            recipient="+61400000000",
            text="YES",
            in_reply_to="msg-000123",
        ),
    )


def test_inbound_without_reference_and_with_a_name(provider: SMSCentralProvider) -> None:
    params = {**MO, "REFERENCE": "", "RECIPIENT": "", "ORIGINATOR": "ACME"}
    [message] = provider.parse_callback(
        CallbackKind.INBOUND, CallbackRequest("GET", query=params)
    ).inbound
    assert (message.sender, message.recipient, message.in_reply_to) == ("ACME", "", None)


def test_inbound_refused_without_sender_or_with_bad_credentials(
    session: aiohttp.ClientSession,
) -> None:
    provider = make(session, callback_password=Secret("p"))
    with pytest.raises(CallbackError):
        provider.parse_callback(
            CallbackKind.INBOUND, CallbackRequest("GET", query={**MO, "ORIGINATOR": ""})
        )
    with pytest.raises(CallbackError):
        provider.parse_callback(
            CallbackKind.INBOUND, CallbackRequest("GET", query={**MO, "PASSWORD": "q"})
        )


# -- the conformance kit -------------------------------------------------------------------


async def test_conforms_to_the_provider_contract() -> None:
    def make_provider(base_url: str, session: aiohttp.ClientSession) -> SMSCentralProvider:
        context = ProviderContext(name="x", session=session, logger=logging.getLogger("t"))
        config = SMSCentralConfig(
            USER, Secret(PASSWORD), base_url=base_url, callback_password=Secret("p")
        )
        return SMSCentralProvider(config, context)

    report = await check_provider(
        make_provider,
        password=PASSWORD,
        callbacks={
            CallbackKind.DLR: [
                CallbackRequest("GET", query=DLR),
                CallbackRequest("GET", query={**DLR, "UDH": "0500038A0302"}),
            ],
            CallbackKind.INBOUND: [CallbackRequest("GET", query=MO)],
        },
    )
    assert report.provider_type == "smscentral"
    assert "send/drop" in report.checks
    assert "status/hang" in report.checks
