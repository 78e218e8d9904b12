"""The value types and the exception tree."""

from __future__ import annotations

import re
from decimal import Decimal

import attrs
import pytest

from router.errors import (
    CallbackError,
    ConfigError,
    NoRouteError,
    PluginError,
    ProviderAmbiguousError,
    ProviderError,
    ProviderRejectedError,
    ProviderUnavailableError,
    RouterError,
    ValidationError,
)
from router.model import (
    Balance,
    CallbackRequest,
    DeliveryStatus,
    Encoding,
    ErrorKind,
    Message,
    Outcome,
    Recipient,
    RecipientResult,
    RecipientStatus,
    SendResult,
    new_message_id,
)
from router.policy import Candidate, Route


def test_a_message_takes_one_number_or_many() -> None:
    assert Message(to="+61412345678", text="hi").to == ("+61412345678",)
    assert Message(to=["+61412345678", "+27821234567"], text="hi").to == (
        "+61412345678",
        "+27821234567",
    )
    assert Message(to=iter(["+61412345678"]), text="hi").to == ("+61412345678",)


def test_a_message_takes_one_provider_name_or_many() -> None:
    assert Message(to="+61412345678", text="hi").providers is None
    assert Message(to="+61412345678", text="hi", providers="office").providers == ("office",)
    assert Message(to="+61412345678", text="hi", providers=["a", "b"]).providers == ("a", "b")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"to": [61412345678], "text": "hi"},
        {"to": "+61412345678", "text": None},
        {"to": "+61412345678", "text": "hi", "sender": 123},
        {"to": "+61412345678", "text": "hi", "reference": 7},
        {"to": "+61412345678", "text": "hi", "providers": [1]},
    ],
)
def test_a_message_of_the_wrong_types_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(TypeError):
        Message(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("id", ["", "order-17", "a" * 17, "m 1", "é"])
def test_a_message_id_keeps_references_within_twenty_characters(id: str) -> None:
    with pytest.raises(ValueError, match="'id' must match regex"):
        Message(to="+61412345678", text="hi", id=id)


def test_new_message_ids() -> None:
    ids = {new_message_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"[0-9a-f]{16}", i) for i in ids)
    # The longest per-recipient reference of the largest message.
    assert len(f"{new_message_id()}-999") == 20


def test_a_message_is_frozen() -> None:
    message = Message(to="+61412345678", text="hi")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        message.text = "changed"  # type: ignore[misc]


def test_outcomes() -> None:
    assert [o for o in Outcome if o.is_rejection] == [
        Outcome.REJECTED_RECIPIENT,
        Outcome.REJECTED_MESSAGE,
    ]
    assert Outcome("provider_error") is Outcome.PROVIDER_ERROR
    assert f"{Outcome.AMBIGUOUS}" == "ambiguous"


def test_final_delivery_statuses() -> None:
    assert {s for s in DeliveryStatus if s.is_final} == {
        DeliveryStatus.DELIVERED,
        DeliveryStatus.FAILED,
        DeliveryStatus.EXPIRED,
        DeliveryStatus.REJECTED,
    }


def test_recipient_digits() -> None:
    recipient = Recipient("+61412345678", "AU", 61, "abc-0")
    assert recipient.digits == "61412345678"


def test_balance_unit() -> None:
    assert Balance(Decimal(10), "credits").is_credits
    assert not Balance(Decimal(10), "AUD").is_credits


def test_callback_params_form_wins_over_query() -> None:
    request = CallbackRequest("POST", query={"a": "1", "b": "2"}, form={"b": "3"})
    assert request.params == {"a": "1", "b": "3"}


def _result(*statuses: RecipientStatus) -> SendResult:
    return SendResult(
        message_id="m1",
        reference=None,
        recipients=tuple(
            RecipientResult(f"+6141234567{i}", f"m1-{i}", status, None, None, ())
            for i, status in enumerate(statuses)
        ),
        encoding=Encoding.GSM7,
        segments=1,
    )


def test_send_result_ok_and_lookup() -> None:
    assert _result(RecipientStatus.ACCEPTED, RecipientStatus.ACCEPTED).ok
    assert not _result(RecipientStatus.ACCEPTED, RecipientStatus.AMBIGUOUS).ok
    assert not _result(RecipientStatus.REJECTED).ok
    result = _result(RecipientStatus.ACCEPTED, RecipientStatus.FAILED)
    assert result["+61412345671"].status is RecipientStatus.FAILED
    with pytest.raises(KeyError):
        result["+61499999999"]


def test_route_providers_in_failover_order() -> None:
    route = Route(
        "+61412345678",
        (Candidate("b", {}, None), Candidate("a", {}, Decimal("0.04"))),
        (),
    )
    assert route.providers == ("b", "a")


# -- errors ----------------------------------------------------------------------------------


def test_every_error_is_a_router_error() -> None:
    for cls in (
        ConfigError,
        PluginError,
        ValidationError,
        NoRouteError,
        ProviderError,
        ProviderUnavailableError,
        ProviderAmbiguousError,
        ProviderRejectedError,
        CallbackError,
    ):
        assert issubclass(cls, RouterError)


def test_config_error_holds_every_problem() -> None:
    error = ConfigError(["a: one", "b.c: two"])
    assert error.problems == ("a: one", "b.c: two")
    assert str(error) == "a: one\nb.c: two"


def test_validation_error_names_the_field() -> None:
    error = ValidationError("to[2]", "'12' is not a valid phone number")
    assert (error.field, error.message) == ("to[2]", "'12' is not a valid phone number")
    assert str(error) == "to[2]: '12' is not a valid phone number"


def test_no_route_error_lists_every_provider() -> None:
    error = NoRouteError({"a": "prefix: no", "b": "unavailable: HTTP 503"})
    assert error.reasons == {"a": "prefix: no", "b": "unavailable: HTTP 503"}
    assert error.result is None
    assert str(error) == (
        "no provider could take the message\n  a: prefix: no\n  b: unavailable: HTTP 503"
    )
    assert str(NoRouteError({})) == "no provider could take the message\n  no providers"


@pytest.mark.parametrize(
    ("cls", "outcome"),
    [
        (ProviderError, Outcome.PROVIDER_ERROR),
        (ProviderRejectedError, Outcome.PROVIDER_ERROR),
        (ProviderUnavailableError, Outcome.UNAVAILABLE),
        (ProviderAmbiguousError, Outcome.AMBIGUOUS),
    ],
)
def test_provider_errors_carry_their_outcome(cls: type[ProviderError], outcome: Outcome) -> None:
    error = cls("HTTP 503", provider="office")
    assert (error.outcome, error.kind, error.retry_after) == (outcome, ErrorKind.OTHER, None)
    assert str(error) == "office: HTTP 503"
    error = cls("no credit", outcome=Outcome.UNAVAILABLE, kind=ErrorKind.CREDIT, retry_after=5.0)
    assert (error.outcome, error.kind, error.retry_after) == (
        Outcome.UNAVAILABLE,
        ErrorKind.CREDIT,
        5.0,
    )
    assert str(error) == "no credit"
