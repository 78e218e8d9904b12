"""SMSC adapter on the wire: the exact requests, and the parse of every documented answer.

Each answer literal comes from providers.md section 3; the outcome each maps to is the
table of providers.md section 8.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses as AioResponses
from yarl import URL

from plugins.smsc.adapter import SMSCConfig, SMSCProvider, smsc_id
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

BASE = "https://smsc.ru/sys"
SEND, STATUS, BALANCE = f"{BASE}/send.php", f"{BASE}/status.php", f"{BASE}/balance.php"
PASSWORD = "pa55-w0rd"
MID = "0123456789abcdef"
SID = smsc_id(MID)
A, B, C = "+79991234567", "+79991234568", "+61412345678"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def provider(session: aiohttp.ClientSession, **options: Any) -> SMSCProvider:
    settings: dict[str, Any] = {"login": "acme", "psw": Secret(PASSWORD), **options}
    context = ProviderContext(name="x", session=session, logger=logging.getLogger("t"))
    return SMSCProvider(SMSCConfig(**settings), context)


def batch(*numbers: str, text: str = "Hello", sender: str | None = None, attempt: int = 1) -> Batch:
    recipients = tuple(Recipient(n, None, 7, f"{MID}-{i}") for i, n in enumerate(numbers))
    kind = SenderKind.NONE if sender is None else SenderKind.ALPHANUMERIC
    return Batch(MID, text, sender, kind, Encoding.GSM7, 1, recipients, attempt)


def sent(mock_http: AioResponses, url: str, index: int = 0) -> dict[str, str]:
    call = mock_http.requests[("POST", URL(url))][index]
    assert call.kwargs.get("params") is None, "nothing may travel in the query string"
    data: dict[str, str] = call.kwargs["data"]
    return data


# -- config ---------------------------------------------------------------------------------


def test_config_is_strict_and_needs_credentials() -> None:
    converter = make_config_converter()
    config = converter.structure({"login": "acme", "psw": PASSWORD}, SMSCConfig)
    assert config.base_url == BASE
    assert config.currency == "RUB"
    assert PASSWORD not in repr(config)
    assert converter.structure({"apikey": "k"}, SMSCConfig).apikey == Secret("k")
    for bad in ({"login": "acme"}, {"login": "acme", "psw": 1}, {"apikey": "k", "x": 1}):
        with pytest.raises(Exception):  # noqa: B017, PT011 - cattrs wraps the causes
            converter.structure(bad, SMSCConfig)


def test_id_is_stable_per_message_and_a_positive_32_bit_integer() -> None:
    ids = {smsc_id(f"{n:016x}") for n in range(2000)}
    assert all(1 <= i <= 2_147_483_647 for i in ids)
    assert len(ids) == 2000
    assert smsc_id(MID) == smsc_id(MID)


def test_declared_capabilities_and_limits() -> None:
    caps, limits = SMSCProvider.capabilities, SMSCProvider.limits
    assert (caps.max_recipients, caps.max_parts) == (100, 14)
    assert caps.max_parts * 67 <= 1000 < (caps.max_parts + 1) * 67
    flags = (caps.unicode, caps.balance, caps.status_query, caps.push_dlr, caps.push_inbound)
    assert all(flags)
    assert caps.client_reference
    assert limits.concurrency == 5
    assert limits.rates[next(iter(limits.rates))].calls == 10


# -- send: the request ----------------------------------------------------------------------


async def test_send_is_a_form_post_with_every_parameter(
    mock_http: AioResponses, session: aiohttp.ClientSession
) -> None:
    mock_http.post(SEND, body=json.dumps({"id": SID, "cnt": 2}))
    await provider(session).send(batch(A, B, text="Привет"))
    data = sent(mock_http, SEND)
    assert data == {
        "login": "acme",
        "psw": PASSWORD,
        "phones": f"{A},{B}",
        "mes": "Привет",
        "id": str(SID),
        "fmt": "3",
        "charset": "utf-8",
        "cost": "3",
        "op": "1",
        "err": "1",
    }


async def test_send_with_apikey_and_a_sender(
    mock_http: AioResponses, session: aiohttp.ClientSession
) -> None:
    mock_http.post(SEND, body=json.dumps({"id": SID, "cnt": 1}), repeat=True)
    adapter = provider(session, login="", psw=None, apikey=Secret("k-123"), sender="Default")
    await adapter.send(batch(A, sender="Acme"))
    await adapter.send(batch(A, attempt=2))
    first, second = sent(mock_http, SEND, 0), sent(mock_http, SEND, 1)
    assert first["apikey"] == "k-123"
    assert "login" not in first
    assert "psw" not in first
    assert first["sender"] == "Acme"
    assert second["sender"] == "Default"
    assert first["id"] == second["id"] == str(SID), "the id is stable across attempts"


async def test_no_sender_key_without_a_sender(
    mock_http: AioResponses, session: aiohttp.ClientSession
) -> None:
    mock_http.post(SEND, body=json.dumps({"id": SID, "cnt": 1}))
    await provider(session).send(batch(A))
    assert "sender" not in sent(mock_http, SEND)


async def test_text_over_1000_characters_is_refused_without_a_call(
    mock_http: AioResponses, session: aiohttp.ClientSession
) -> None:
    outcomes = await provider(session).send(batch(A, B, text="x" * 1001))
    assert [o.outcome for o in outcomes] == [Outcome.PROVIDER_ERROR] * 2
    assert [o.recipient for o in outcomes] == [A, B]
    assert not mock_http.requests


# -- send: the answers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"id": SID, "cnt": 1, "cost": 1.4, "balance": 98.6},
        {"id": str(SID), "cnt": "1", "cost": "1.40", "balance": "98.60"},
    ],
    ids=["numbers", "strings"],
)
async def test_accepted_with_cost_and_balance(
    mock_http: AioResponses, session: aiohttp.ClientSession, body: dict[str, Any]
) -> None:
    mock_http.post(SEND, body=json.dumps(body))
    [outcome] = await provider(session).send(batch(A))
    assert outcome.outcome is Outcome.ACCEPTED
    assert outcome.recipient == A
    assert outcome.provider_message_id == str(SID)
    assert outcome.cost == Decimal("1.40")
    assert outcome.balance == Decimal("98.60")


async def test_accepted_without_breakdown_shares_the_cost(
    mock_http: AioResponses, session: aiohttp.ClientSession
) -> None:
    # providers.md 3.2, the fmt=3 cost=3 literal: every value a string.
    body = {"id": str(SID), "cnt": "2", "cost": "4.48", "balance": "1231.21"}
    mock_http.post(SEND, body=json.dumps(body))
    outcomes = await provider(session).send(batch(A, B))
    assert [o.outcome for o in outcomes] == [Outcome.ACCEPTED] * 2
    assert [o.cost for o in outcomes] == [Decimal("2.24")] * 2
    assert {o.balance for o in outcomes} == {Decimal("1231.21")}


async def test_accepted_without_cost_fields(
    mock_http: AioResponses, session: aiohttp.ClientSession
) -> None:
    # providers.md 3.2: {"id":12345,"cnt":2} is the answer without cost=3.
    mock_http.post(SEND, body=json.dumps({"id": SID, "cnt": 2}))
    [outcome] = await provider(session).send(batch(A))
    assert outcome.outcome is Outcome.ACCEPTED
    assert (outcome.cost, outcome.balance) == (None, None)


async def test_an_other_id_in_the_answer_keeps_ours_and_warns(
    mock_http: AioResponses, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    mock_http.post(SEND, body=json.dumps({"id": 12345, "cnt": 1}))
    [outcome] = await provider(session).send(batch(A))
    assert outcome.provider_message_id == str(SID)
    assert "12345" in caplog.text


async def test_per_number_breakdown_gives_each_number_its_outcome(
    mock_http: AioResponses, session: aiohttp.ClientSession
) -> None:
    body = {
        "id": SID,
        "cnt": 1,
        "cost": "1.40",
        "balance": "50.00",
        "phones": [
            {"phone": "79991234567", "mccmnc": "25001", "cost": "1.40", "status": "-1"},
            {"phone": "79991234568", "mccmnc": "0", "cost": "0", "error": "7"},
            {"phone": "+61412345678", "mccmnc": "0", "cost": 0, "error": 8},
        ],
    }
    mock_http.post(SEND, body=json.dumps(body))
    outcomes = await provider(session).send(batch(A, B, C))
    assert [o.recipient for o in outcomes] == [A, B, C]
    assert [o.outcome for o in outcomes] == [
        Outcome.ACCEPTED,
        Outcome.REJECTED_RECIPIENT,
        Outcome.REJECTED_RECIPIENT,
    ]
    assert outcomes[0].cost == Decimal("1.40")
    assert outcomes[0].balance == Decimal("50.00")
    assert outcomes[1].provider_message_id is None
    assert "7" in outcomes[1].reason


async def test_per_number_text_error_and_a_missing_number(
    mock_http: AioResponses, session: aiohttp.ClientSession
) -> None:
    body = {
        "id": SID,
        "cnt": 1,
        "phones": [
            {"phone": "79991234567", "error": "0"},
            {"phone": "79991234568", "error": "invalid number"},
        ],
    }
    mock_http.post(SEND, body=json.dumps(body))
    outcomes = await provider(session).send(batch(A, B, C))
    assert [o.outcome for o in outcomes] == [
        Outcome.ACCEPTED,
        Outcome.REJECTED_RECIPIENT,
        Outcome.AMBIGUOUS,
    ]
    assert outcomes[2].provider_message_id == str(SID), "the status query needs it"


@pytest.mark.parametrize(
    ("code", "outcome", "kind"),
    [
        (1, Outcome.PROVIDER_ERROR, ErrorKind.INVALID_REQUEST),
        (2, Outcome.PROVIDER_ERROR, ErrorKind.AUTH),
        (3, Outcome.PROVIDER_ERROR, ErrorKind.CREDIT),
        (4, Outcome.PROVIDER_ERROR, ErrorKind.THROTTLED),
        (5, Outcome.PROVIDER_ERROR, ErrorKind.INVALID_REQUEST),
        (6, Outcome.REJECTED_MESSAGE, None),
        (7, Outcome.REJECTED_RECIPIENT, None),
        (8, Outcome.REJECTED_RECIPIENT, None),
        (9, Outcome.AMBIGUOUS, ErrorKind.THROTTLED),
        (42, Outcome.PROVIDER_ERROR, ErrorKind.OTHER),
    ],
)
@pytest.mark.parametrize("as_string", [False, True])
async def test_every_error_code(
    mock_http: AioResponses,
    session: aiohttp.ClientSession,
    code: int,
    outcome: Outcome,
    kind: ErrorKind | None,
    as_string: bool,
) -> None:
    # providers.md 3.2: {"error":"description","error_code":N}, possibly with "id".
    body = {"error": "some description", "error_code": str(code) if as_string else code}
    if code == 7:
        body["id"] = SID
    mock_http.post(SEND, body=json.dumps(body))
    outcomes = await provider(session).send(batch(A, B))
    assert [o.recipient for o in outcomes] == [A, B]
    assert {o.outcome for o in outcomes} == {outcome}
    assert {o.kind for o in outcomes} == {kind}
    assert all(f"error {code}: some description" in o.reason for o in outcomes)
    expected_id = str(SID) if outcome is Outcome.AMBIGUOUS else None
    assert {o.provider_message_id for o in outcomes} == {expected_id}


async def test_malformed_request_errors_are_logged_loudly(
    mock_http: AioResponses, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    mock_http.post(SEND, body=json.dumps({"error": "parameters error", "error_code": 1}))
    with caplog.at_level(logging.ERROR, logger="t"):
        await provider(session).send(batch(A))
    assert any(r.levelno == logging.ERROR and "malformed" in r.message for r in caplog.records)


@pytest.mark.parametrize(
    "text",
    [
        "OK - 1 SMS, ID - 1234",  # a fmt=0 answer: not what we asked for
        "<html>gateway</html>",
        "",
        json.dumps({"cnt": 1}),
        '{"id": NaN, "cnt": 1, "phones": [{"phone": Infinity}]}',
        json.dumps([{"id": 1}]),
    ],
)
async def test_answers_of_no_known_form_are_ambiguous(
    mock_http: AioResponses, session: aiohttp.ClientSession, text: str
) -> None:
    mock_http.post(SEND, body=text)
    outcomes = await provider(session).send(batch(A, B))
    assert {o.outcome for o in outcomes} == {Outcome.AMBIGUOUS}
    assert {o.provider_message_id for o in outcomes} == {str(SID)}


@pytest.mark.parametrize(
    ("status", "headers", "outcome", "kind", "retry_after"),
    [
        (500, {}, Outcome.UNAVAILABLE, ErrorKind.OTHER, None),
        (503, {"Retry-After": "30"}, Outcome.UNAVAILABLE, ErrorKind.OTHER, 30.0),
        (429, {"Retry-After": "5"}, Outcome.UNAVAILABLE, ErrorKind.THROTTLED, 5.0),
        (403, {}, Outcome.PROVIDER_ERROR, ErrorKind.AUTH, None),
    ],
)
async def test_http_errors(
    mock_http: AioResponses,
    session: aiohttp.ClientSession,
    status: int,
    headers: dict[str, str],
    outcome: Outcome,
    kind: ErrorKind,
    retry_after: float | None,
) -> None:
    mock_http.post(SEND, status=status, headers=headers, body="no")
    outcomes = await provider(session).send(batch(A, B))
    assert [(o.recipient, o.outcome, o.kind, o.retry_after) for o in outcomes] == [
        (A, outcome, kind, retry_after),
        (B, outcome, kind, retry_after),
    ]
    assert all(f"HTTP {status}" in o.reason for o in outcomes)


async def test_a_timeout_is_ambiguous_with_our_id(
    mock_http: AioResponses, session: aiohttp.ClientSession
) -> None:
    mock_http.post(SEND, exception=TimeoutError())
    [outcome] = await provider(session).send(batch(A))
    assert outcome.outcome is Outcome.AMBIGUOUS
    assert outcome.provider_message_id == str(SID)


async def test_a_lost_connection_is_ambiguous(
    mock_http: AioResponses, session: aiohttp.ClientSession
) -> None:
    mock_http.post(SEND, exception=aiohttp.ServerDisconnectedError())
    [outcome] = await provider(session).send(batch(A))
    assert outcome.outcome is Outcome.AMBIGUOUS


# -- status ---------------------------------------------------------------------------------


def query(number: str = A, pmid: str | None = str(SID), index: int = 0) -> StatusQuery:
    return StatusQuery(pmid, f"{MID}-{index}", number)


async def test_status_request_for_one_has_trailing_commas(
    mock_http: AioResponses, session: aiohttp.ClientSession
) -> None:
    mock_http.post(STATUS, body=json.dumps([{"id": SID, "phone": A[1:], "status": 1, "err": 0}]))
    await provider(session).query_status([query()])
    assert sent(mock_http, STATUS) == {
        "login": "acme",
        "psw": PASSWORD,
        "id": f"{SID},",
        "phone": f"{A},",
        "fmt": "3",
        "all": "0",
        "charset": "utf-8",
    }


async def test_status_request_for_many_and_a_rebuilt_id(
    mock_http: AioResponses, session: aiohttp.ClientSession
) -> None:
    mock_http.post(STATUS, body="[]")
    await provider(session).query_status([query(A, "77"), query(B, None, 1)])
    data = sent(mock_http, STATUS)
    assert data["id"] == f"77,{SID}", "an id we lost is rebuilt from our reference"
    assert data["phone"] == f"{A},{B}"


async def test_status_of_a_coalesced_call_asks_by_the_id_it_went_by(
    mock_http: AioResponses, session: aiohttp.ClientSession
) -> None:
    # A recipient of m2 sent in a call that went by m1's id: recovery knows it as via.
    mock_http.post(STATUS, body="[]")
    lost = StatusQuery(None, "m2-0", A, via="m1")
    await provider(session).query_status([lost, StatusQuery(None, "m3-0", B)])
    assert sent(mock_http, STATUS)["id"] == f"{smsc_id('m1')},{smsc_id('m3')}"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (-3, DeliveryStatus.UNKNOWN),
        (-2, DeliveryStatus.FAILED),
        (-1, DeliveryStatus.ACCEPTED),
        (0, DeliveryStatus.ENROUTE),
        (1, DeliveryStatus.DELIVERED),
        (2, DeliveryStatus.DELIVERED),
        (3, DeliveryStatus.EXPIRED),
        (4, DeliveryStatus.DELIVERED),
        (20, DeliveryStatus.FAILED),
        (22, DeliveryStatus.REJECTED),
        (23, DeliveryStatus.REJECTED),
        (24, DeliveryStatus.REJECTED),
        (25, DeliveryStatus.FAILED),
        (77, DeliveryStatus.UNKNOWN),
    ],
)
async def test_status_codes(
    mock_http: AioResponses, session: aiohttp.ClientSession, status: int, expected: DeliveryStatus
) -> None:
    # providers.md 3.4: the client-fixture shape, once with numbers and once with strings.
    item = {"id": SID, "phone": A[1:], "status": status, "err": 0, "last_timestamp": 1700000001}
    strings = {k: str(v) for k, v in item.items()}
    mock_http.post(STATUS, body=json.dumps([item]))
    mock_http.post(STATUS, body=json.dumps([strings]))
    adapter = provider(session)
    for _ in range(2):
        [report] = await adapter.query_status([query()])
        assert report.status is expected
        assert report.raw_status == str(status)
        assert (report.provider, report.provider_message_id) == ("x", str(SID))
        assert (report.recipient, report.ref) == (A, f"{MID}-0")
        assert report.at == 1700000001.0


async def test_test_mode_is_never_delivered(
    mock_http: AioResponses, session: aiohttp.ClientSession
) -> None:
    body = [{"id": SID, "phone": A[1:], "status": 1, "err": 200}]
    mock_http.post(STATUS, body=json.dumps(body))
    [report] = await provider(session).query_status([query()])
    assert report.status is DeliveryStatus.FAILED
    assert report.error_code == "200"
    assert "test mode" in report.description


async def test_status_answers_matched_by_id_and_phone(
    mock_http: AioResponses, session: aiohttp.ClientSession
) -> None:
    body = [
        {"id": SID, "phone": B[1:], "status": 3, "err": 6},
        {"id": SID, "phone": A[1:], "status": 0, "err": 0},
    ]
    mock_http.post(STATUS, body=json.dumps(body))
    reports = await provider(session).query_status([query(A), query(B, index=1), query(C, "5")])
    assert [r.status for r in reports] == [
        DeliveryStatus.ENROUTE,
        DeliveryStatus.EXPIRED,
        DeliveryStatus.UNKNOWN,
    ]
    assert reports[1].description == "subscriber offline"
    assert reports[2].description == "not in the status answer"


async def test_only_status_minus_3_says_smsc_does_not_know_the_message(
    mock_http: AioResponses, session: aiohttp.ClientSession
) -> None:
    # providers.md 3.4: -3 is "message not found"; an item left out or an item error is not.
    body = [
        {"id": SID, "phone": A[1:], "status": -3, "err": 0},
        {"id": SID, "phone": B[1:], "status": "-3", "err": "0"},
        {"id": 5, "phone": C[1:], "error": "e", "error_code": 1},
    ]
    mock_http.post(STATUS, body=json.dumps(body))
    queries = [query(A), query(B, index=1), query(C, "5", 2), query(C, "6", 3)]
    reports = await provider(session).query_status(queries)
    assert [(r.status, r.not_found) for r in reports] == [
        (DeliveryStatus.UNKNOWN, True),
        (DeliveryStatus.UNKNOWN, True),
        (DeliveryStatus.UNKNOWN, False),
        (DeliveryStatus.UNKNOWN, False),
    ]


async def test_status_single_object_and_item_errors(
    mock_http: AioResponses, session: aiohttp.ClientSession
) -> None:
    mock_http.post(STATUS, body=json.dumps({"status": "-1", "err": "0"}))
    mock_http.post(STATUS, body=json.dumps([{"error": "not found", "error_code": 1, "id": SID}]))
    adapter = provider(session)
    [single] = await adapter.query_status([query()])
    assert single.status is DeliveryStatus.ACCEPTED
    [failed] = await adapter.query_status([query()])
    assert failed.status is DeliveryStatus.UNKNOWN
    assert failed.error_code == "1"


@pytest.mark.parametrize(
    ("code", "error", "kind"),
    [
        (1, ProviderRejectedError, ErrorKind.INVALID_REQUEST),
        (2, ProviderRejectedError, ErrorKind.AUTH),
        (4, ProviderUnavailableError, ErrorKind.THROTTLED),
        (9, ProviderUnavailableError, ErrorKind.THROTTLED),
    ],
)
async def test_status_errors(
    mock_http: AioResponses,
    session: aiohttp.ClientSession,
    code: int,
    error: type[Exception],
    kind: ErrorKind,
) -> None:
    mock_http.post(STATUS, body=json.dumps({"error": "e", "error_code": code}))
    with pytest.raises(error) as caught:
        await provider(session).query_status([query()])
    assert getattr(caught.value, "kind", None) is kind


async def test_status_answer_of_no_known_form(
    mock_http: AioResponses, session: aiohttp.ClientSession
) -> None:
    mock_http.post(STATUS, body="Status = 1, check_time = 10.10.2010 10:10:10")
    with pytest.raises(ProviderAmbiguousError):
        await provider(session).query_status([query()])


# -- balance --------------------------------------------------------------------------------


async def test_balance_request(mock_http: AioResponses, session: aiohttp.ClientSession) -> None:
    mock_http.post(BALANCE, body=json.dumps({"balance": "250.80", "currency": "KZT"}))
    balance = await provider(session).balance()
    assert sent(mock_http, BALANCE) == {"login": "acme", "psw": PASSWORD, "fmt": "3", "cur": "1"}
    assert (balance.amount, balance.unit) == (Decimal("250.80"), "KZT")


@pytest.mark.parametrize(
    ("text", "amount", "unit"),
    [
        (json.dumps({"balance": 250.8}), Decimal("250.8"), "RUB"),
        (json.dumps({"balance": "12", "currency": "RUR"}), Decimal(12), "RUB"),
        ("250.80", Decimal("250.80"), "RUB"),  # providers.md 3.5: the fmt 0/1 form
    ],
)
async def test_balance_answers(
    mock_http: AioResponses, session: aiohttp.ClientSession, text: str, amount: Decimal, unit: str
) -> None:
    mock_http.post(BALANCE, body=text)
    balance = await provider(session).balance()
    assert (balance.amount, balance.unit) == (amount, unit)


async def test_balance_unit_from_config(
    mock_http: AioResponses, session: aiohttp.ClientSession
) -> None:
    mock_http.post(BALANCE, body=json.dumps({"balance": "1.00"}))
    assert (await provider(session, currency="KZT").balance()).unit == "KZT"


@pytest.mark.parametrize(
    ("code", "error", "kind", "retry_after"),
    [
        (1, ProviderRejectedError, ErrorKind.INVALID_REQUEST, None),
        (2, ProviderRejectedError, ErrorKind.AUTH, None),
        (4, ProviderUnavailableError, ErrorKind.THROTTLED, None),
        (9, ProviderUnavailableError, ErrorKind.THROTTLED, None),
    ],
)
async def test_balance_errors(
    mock_http: AioResponses,
    session: aiohttp.ClientSession,
    code: int,
    error: type[Exception],
    kind: ErrorKind,
    retry_after: float | None,
) -> None:
    mock_http.post(BALANCE, body=json.dumps({"error": "e", "error_code": str(code)}))
    with pytest.raises(error) as caught:
        await provider(session).balance()
    assert getattr(caught.value, "kind", None) is kind
    assert getattr(caught.value, "retry_after", None) == retry_after


@pytest.mark.parametrize("text", ["ERROR = 2 (authorise error)", json.dumps({"x": 1}), "[]"])
async def test_balance_answer_of_no_known_form(
    mock_http: AioResponses, session: aiohttp.ClientSession, text: str
) -> None:
    mock_http.post(BALANCE, body=text)
    with pytest.raises(ProviderAmbiguousError):
        await provider(session).balance()


# -- pushes ---------------------------------------------------------------------------------


def status_push(secret: str | None = None, **fields: str) -> CallbackRequest:
    form = {"id": str(SID), "phone": A[1:], "status": "1", "err": "0", "ts": "1700000005"}
    form |= {"time": "14.11.2023 22:13:25"}
    if secret is not None:
        basis = f"{form['id']}:{form['phone']}:{form['status']}:{secret}".encode()
        form["md5"] = hashlib.md5(basis, usedforsecurity=False).hexdigest()
    form |= fields
    return CallbackRequest("POST", form=form)


async def test_status_push_unsigned(session: aiohttp.ClientSession) -> None:
    result = provider(session).parse_callback(CallbackKind.DLR, status_push())
    assert result.response.body == "OK"
    assert result.response.status == 200
    [report] = result.reports
    assert report.provider == "x"
    assert report.status is DeliveryStatus.DELIVERED
    assert (report.provider_message_id, report.recipient) == (str(SID), A)
    assert report.raw_status == "1"
    assert report.at == 1700000005.0
    assert report.error_code is None


async def test_status_push_signed(session: aiohttp.ClientSession) -> None:
    adapter = provider(session, callback_secret=Secret("s3"))
    result = adapter.parse_callback(CallbackKind.DLR, status_push("s3"))
    assert result.reports[0].status is DeliveryStatus.DELIVERED
    basis = f"{SID}:{A[1:]}:1:s3".encode()
    sha1 = hashlib.sha1(basis, usedforsecurity=False).hexdigest()
    signed = adapter.parse_callback(CallbackKind.DLR, status_push(sha1=sha1.upper()))
    assert signed.reports[0].recipient == A


@pytest.mark.parametrize(
    "request_",
    [
        status_push(),  # unsigned while a secret is configured
        status_push("other"),
        status_push("s3", status="3"),  # the signed fields were changed
        status_push("s3", sha1="0" * 40),
    ],
)
async def test_status_push_refused(
    session: aiohttp.ClientSession, request_: CallbackRequest
) -> None:
    adapter = provider(session, callback_secret=Secret("s3"))
    with pytest.raises(CallbackError) as caught:
        adapter.parse_callback(CallbackKind.DLR, request_)
    assert "s3" not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "err", "expected", "error_code"),
    [
        ("3", "6", DeliveryStatus.EXPIRED, "6"),
        ("20", "13", DeliveryStatus.FAILED, "13"),
        ("22", "249", DeliveryStatus.REJECTED, "249"),
        ("1", "200", DeliveryStatus.FAILED, "200"),
        ("-1", "0", DeliveryStatus.ACCEPTED, None),
        ("odd", "", DeliveryStatus.UNKNOWN, None),
    ],
)
async def test_status_push_statuses(
    session: aiohttp.ClientSession,
    status: str,
    err: str,
    expected: DeliveryStatus,
    error_code: str | None,
) -> None:
    push = status_push(status=status, err=err)
    [report] = provider(session).parse_callback(CallbackKind.DLR, push).reports
    assert (report.status, report.error_code) == (expected, error_code)


async def test_status_push_without_its_fields(session: aiohttp.ClientSession) -> None:
    with pytest.raises(CallbackError):
        provider(session).parse_callback(
            CallbackKind.DLR, CallbackRequest("POST", form={"id": "1"})
        )


@pytest.mark.parametrize("kind", list(CallbackKind))
async def test_inbound_push_on_either_url(
    session: aiohttp.ClientSession, kind: CallbackKind
) -> None:
    # providers.md 3.6: inbound is told apart by mes and to, whatever URL it came to.
    form = {"id": "31", "phone": "79991234567", "mes": "Да", "to": "79990000000"}
    adapter = provider(session, callback_secret=Secret("s3"))
    result = adapter.parse_callback(kind, CallbackRequest("POST", form=form))
    assert result.response.body == "OK"
    assert not result.reports
    [inbound] = result.inbound
    assert (inbound.provider, inbound.sender, inbound.recipient) == ("x", A, "+79990000000")
    assert (inbound.text, inbound.provider_message_id) == ("Да", "31")
