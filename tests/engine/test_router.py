"""The engine: failover, stops, ambiguity, attempts, no route, batching, validation, hooks."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from typing import Any

import pytest

import router.testing
from router import Message, hookimpl
from router.engine import Router, sender_kind
from router.errors import NoRouteError, ProviderUnavailableError, ValidationError
from router.model import (
    Attempt,
    Batch,
    DeliveryStatus,
    ErrorKind,
    Outcome,
    RecipientOutcome,
    RecipientStatus,
    SenderKind,
    SendResult,
)
from router.registries import ProviderRegistry
from router.testing import FakeClock, FakeProvider
from tests.engine.conftest import RouterFactory, fakes

AU = "+61412345678"
AU2 = "+61412345679"
ZA = "+27821234567"
RU = "+79123456789"
T0 = FakeClock().now


def fake(**options: Any) -> dict[str, Any]:
    """A ``fake`` provider table."""
    return {"plugin": "fake", **options}


def config(providers: Mapping[str, Mapping[str, Any]], **settings: Any) -> dict[str, Any]:
    """A config of fake providers, in priority order by default."""
    settings.setdefault("policy", ["priority"])
    return {"router": settings, "providers": dict(providers)}


def seen(r: Router) -> dict[str, list[tuple[str, ...]]]:
    """The recipients of every batch each fake provider was sent, in order."""
    return {
        name: [tuple(x.e164 for x in b.recipients) for b in p.batches]
        for name, p in fakes(r).items()
    }


def trail(result: SendResult, number: str = AU) -> list[tuple[str, Outcome]]:
    """(provider, outcome) of every attempt one recipient took."""
    return [(a.provider, a.outcome) for a in result[number].attempts]


# -- failover and stops ----------------------------------------------------------------------


@pytest.mark.parametrize("failure", [Outcome.PROVIDER_ERROR, Outcome.UNAVAILABLE])
async def test_fails_over_to_the_next_provider(started: RouterFactory, failure: Outcome) -> None:
    r = await started(config({"a": fake(outcome=failure), "b": fake()}))
    result = await r.send(Message(to=AU, text="hi", id="m1"))
    assert result.ok
    assert result[AU].status is RecipientStatus.ACCEPTED
    assert result[AU].provider == "b"
    assert result[AU].provider_message_id == "b-1"
    assert result[AU].ref == "m1-0"
    assert result[AU].attempts == (
        Attempt("a", failure, f"scripted {failure}", at=T0),
        Attempt("b", Outcome.ACCEPTED, "", "b-1", at=T0),
    )
    assert seen(r) == {"a": [(AU,)], "b": [(AU,)]}


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (Outcome.ACCEPTED, RecipientStatus.ACCEPTED),
        (Outcome.REJECTED_RECIPIENT, RecipientStatus.REJECTED),
        (Outcome.REJECTED_MESSAGE, RecipientStatus.REJECTED),
    ],
)
async def test_stops_on_acceptance_and_rejection(
    started: RouterFactory, outcome: Outcome, status: RecipientStatus
) -> None:
    r = await started(config({"a": fake(outcome=outcome), "b": fake()}))
    result = await r.send(Message(to=AU, text="hi"))
    assert result[AU].status is status
    assert result[AU].provider == "a"
    assert trail(result) == [("a", outcome)]
    assert seen(r) == {"a": [(AU,)], "b": []}
    assert result.ok is (status is RecipientStatus.ACCEPTED)


async def test_a_failed_provider_is_not_tried_again_for_the_same_message(
    started: RouterFactory,
) -> None:
    r = await started(
        config({"a": fake(outcome="provider_error"), "b": fake(outcome="unavailable"), "c": fake()})
    )
    result = await r.send(Message(to=AU, text="hi"))
    assert trail(result) == [
        ("a", Outcome.PROVIDER_ERROR),
        ("b", Outcome.UNAVAILABLE),
        ("c", Outcome.ACCEPTED),
    ]


async def test_a_credit_error_zeroes_the_balance(started: RouterFactory) -> None:
    r = await started(
        config(
            {"a": fake(outcome="provider_error", kind="credit", balance=50), "b": fake()},
        )
    )
    assert (await r.balance("a")).amount == 50
    result = await r.send(Message(to=AU, text="hi"))
    assert result[AU].provider == "b"
    assert result[AU].attempts[0].kind is ErrorKind.CREDIT
    balance = r.providers["a"].balance
    assert balance is not None
    assert (balance.amount, balance.unit) == (0, "credits")


# -- ambiguity -------------------------------------------------------------------------------


async def test_ambiguous_stops_by_default(started: RouterFactory) -> None:
    r = await started(config({"a": fake(outcome="ambiguous"), "b": fake()}))
    result = await r.send(Message(to=AU, text="hi"))
    assert result[AU].status is RecipientStatus.AMBIGUOUS
    assert result[AU].provider == "a"
    assert trail(result) == [("a", Outcome.AMBIGUOUS)]
    assert seen(r) == {"a": [(AU,)], "b": []}


async def test_ambiguous_fails_over_when_configured(started: RouterFactory) -> None:
    r = await started(
        config({"a": fake(outcome="ambiguous"), "b": fake()}, on_ambiguous="failover")
    )
    result = await r.send(Message(to=AU, text="hi"))
    assert result[AU].status is RecipientStatus.ACCEPTED
    assert result[AU].provider == "b"
    assert trail(result) == [("a", Outcome.AMBIGUOUS), ("b", Outcome.ACCEPTED)]


@pytest.mark.parametrize("on_ambiguous", ["stop", "failover"])
@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (DeliveryStatus.ACCEPTED, RecipientStatus.ACCEPTED),
        (DeliveryStatus.DELIVERED, RecipientStatus.ACCEPTED),
        (DeliveryStatus.ENROUTE, RecipientStatus.ACCEPTED),
        # The provider took it and delivery failed: never send it a second time.
        (DeliveryStatus.FAILED, RecipientStatus.ACCEPTED),
        (DeliveryStatus.EXPIRED, RecipientStatus.ACCEPTED),
        (DeliveryStatus.REJECTED, RecipientStatus.REJECTED),
    ],
)
async def test_a_status_query_settles_an_ambiguous_send(
    started: RouterFactory, on_ambiguous: str, answer: DeliveryStatus, status: RecipientStatus
) -> None:
    r = await started(
        config(
            {"a": fake(outcome="ambiguous", status_query=True), "b": fake()},
            on_ambiguous=on_ambiguous,
        )
    )
    fakes(r)["a"].status_answer = answer
    result = await r.send(Message(to=AU, text="hi", id="m1"))
    assert result[AU].status is status
    assert result[AU].provider == "a"
    assert trail(result) == [("a", Outcome.AMBIGUOUS)]
    queries = fakes(r)["a"].status_calls
    assert [(q.provider_message_id, q.ref, q.recipient) for (q,) in queries] == [(None, "m1-0", AU)]
    assert seen(r) == {"a": [(AU,)], "b": []}


@pytest.mark.parametrize(
    ("on_ambiguous", "status", "provider", "b_batches"),
    [
        ("stop", RecipientStatus.AMBIGUOUS, "a", []),
        ("failover", RecipientStatus.ACCEPTED, "b", [(AU,)]),
    ],
)
async def test_a_status_query_that_does_not_know_falls_back_to_on_ambiguous(
    started: RouterFactory,
    on_ambiguous: str,
    status: RecipientStatus,
    provider: str,
    b_batches: list[tuple[str, ...]],
) -> None:
    r = await started(
        config(
            {"a": fake(outcome="ambiguous", status_query=True), "b": fake()},
            on_ambiguous=on_ambiguous,
        )
    )
    fakes(r)["a"].status_answer = DeliveryStatus.UNKNOWN
    result = await r.send(Message(to=AU, text="hi"))
    assert result[AU].status is status
    assert result[AU].provider == provider
    assert len(fakes(r)["a"].status_calls) == 1
    assert seen(r)["b"] == b_batches


# -- attempts and no route -------------------------------------------------------------------


async def test_max_attempts_bounds_the_failover(started: RouterFactory) -> None:
    providers = {name: fake(outcome="unavailable") for name in "abcd"}
    r = await started(config(providers, max_attempts=2))
    with pytest.raises(NoRouteError) as raised:
        await r.send(Message(to=AU, text="hi"))
    result = raised.value.result
    assert isinstance(result, SendResult)
    assert result[AU].status is RecipientStatus.FAILED
    assert trail(result) == [("a", Outcome.UNAVAILABLE), ("b", Outcome.UNAVAILABLE)]
    assert seen(r) == {"a": [(AU,)], "b": [(AU,)], "c": [], "d": []}


async def test_no_route_when_every_provider_fails_lists_each(started: RouterFactory) -> None:
    r = await started(
        config({"a": fake(outcome="provider_error"), "b": fake(outcome="unavailable")})
    )
    with pytest.raises(NoRouteError) as raised:
        await r.send(Message(to=AU, text="hi"))
    assert raised.value.reasons == {
        "a": "provider_error: scripted provider_error",
        "b": "unavailable: scripted unavailable",
    }
    assert str(raised.value) == (
        "no provider could take the message\n"
        "  a: provider_error: scripted provider_error\n"
        "  b: unavailable: scripted unavailable"
    )


async def test_no_route_when_every_provider_is_excluded_lists_each(
    started: RouterFactory,
) -> None:
    r = await started(
        config(
            {
                "au": fake(prefixes=["61"]),
                "ascii": fake(unicode=False),
                "short": fake(max_parts=1),
            },
            policy=["prefix"],
        )
    )
    with pytest.raises(NoRouteError) as raised:
        await r.send(Message(to=ZA, text="Привет " * 20))
    assert raised.value.reasons == {
        "au": "prefix: does not send to +27821234567 (prefixes 61)",
        "ascii": "capability: cannot send Unicode (UCS-2) text",
        "short": "capability: 3 segments, it sends at most 1",
    }
    result = raised.value.result
    assert isinstance(result, SendResult)
    assert result[ZA].status is RecipientStatus.FAILED
    assert result[ZA].attempts == ()
    assert seen(r) == {"au": [], "ascii": [], "short": []}


@pytest.mark.parametrize(
    ("setting", "trail_", "status"),
    [
        ("stop", [("a", Outcome.REJECTED_RECIPIENT)], RecipientStatus.REJECTED),
        (
            "failover",
            [("a", Outcome.REJECTED_RECIPIENT), ("b", Outcome.ACCEPTED)],
            RecipientStatus.ACCEPTED,
        ),
    ],
)
async def test_a_refused_number_fails_over_only_when_configured(
    started: RouterFactory,
    setting: str,
    trail_: list[tuple[str, Outcome]],
    status: RecipientStatus,
) -> None:
    r = await started(
        config(
            {"a": fake(outcome="rejected_recipient"), "b": fake()},
            on_rejected_recipient=setting,
        )
    )
    result = await r.send(Message(to=AU, text="hi"))
    assert trail(result) == trail_
    assert result[AU].status is status


async def test_a_number_every_provider_refuses_ends_rejected(started: RouterFactory) -> None:
    r = await started(
        config(
            {"a": fake(outcome="rejected_recipient"), "b": fake(outcome="rejected_recipient")},
            on_rejected_recipient="failover",
        )
    )
    result = await r.send(Message(to=AU, text="hi"))
    assert trail(result) == [("a", Outcome.REJECTED_RECIPIENT), ("b", Outcome.REJECTED_RECIPIENT)]
    assert result[AU].status is RecipientStatus.REJECTED


async def test_no_route_keeps_each_recipients_distinct_reasons(started: RouterFactory) -> None:
    r = await started(config({"au": fake(prefixes=["61"])}, policy=["prefix"]))
    with pytest.raises(NoRouteError) as raised:
        await r.send(Message(to=[ZA, "+79123456789", "+27821234568"], text="hi"))
    assert raised.value.reasons == {
        "au": "prefix: does not send to +27821234567 (prefixes 61); "
        "prefix: does not send to +79123456789 (prefixes 61); "
        "prefix: does not send to +27821234568 (prefixes 61)"
    }


async def test_a_partly_failed_message_is_a_result_not_an_error(started: RouterFactory) -> None:
    r = await started(config({"au": fake(prefixes=["61"])}, policy=["prefix"]))
    result = await r.send(Message(to=[AU, ZA], text="hi"))
    assert result[AU].status is RecipientStatus.ACCEPTED
    assert result[ZA].status is RecipientStatus.FAILED
    assert not result.ok


# -- batching --------------------------------------------------------------------------------


async def test_recipients_are_batched_per_provider_up_to_its_size(
    started: RouterFactory,
) -> None:
    numbers = [f"+6141234567{i}" for i in range(5)] + [ZA, "+27821234568"]
    r = await started(
        config(
            {"au": fake(prefixes=["61"], max_recipients=2), "za": fake(prefixes=["27"])},
            policy=["prefix"],
        )
    )
    result = await r.send(Message(to=numbers, text="hi", id="m1"))
    assert result.ok
    assert seen(r) == {
        "au": [tuple(numbers[0:2]), tuple(numbers[2:4]), tuple(numbers[4:5])],
        "za": [tuple(numbers[5:7])],
    }
    assert [r.ref for r in result.recipients] == [f"m1-{i}" for i in range(7)]
    assert [r.provider for r in result.recipients] == ["au"] * 5 + ["za"] * 2
    first = fakes(r)["au"].batches[0]
    assert (first.message_id, first.text, first.segments, first.attempt) == ("m1", "hi", 1, 1)


async def test_a_failed_batch_fails_over_as_one_batch(started: RouterFactory) -> None:
    r = await started(config({"a": fake(outcome="unavailable"), "b": fake()}))
    result = await r.send(Message(to=[AU, AU2, ZA], text="hi"))
    assert result.ok
    assert seen(r) == {"a": [(AU, AU2, ZA)], "b": [(AU, AU2, ZA)]}


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "field", "text"),
    [
        (
            Message(to=[AU, "0412 345 678"], text="hi"),
            "to[1]",
            "+61412345678 is also to[0]: send it once",
        ),
        (Message(to=[AU, ZA, "12"], text="hi"), "to[2]", "'12' is not a valid phone number"),
        (Message(to="12", text="hi"), "to", "'12' is not a valid phone number"),
        (Message(to=[], text="hi"), "to", "no recipients"),
        (Message(to=AU, text=" "), "text", "is empty"),
        (
            Message(to=AU, text="hi", sender="ABCDEFGHIJKL"),
            "sender",
            "an alphanumeric sender has at most 11 characters: 'ABCDEFGHIJKL'",
        ),
        (
            Message(to=AU, text="hi", sender="Shop-Online"),
            "sender",
            "only letters and digits are allowed: 'Shop-Online'",
        ),
        (
            Message(to=AU, text="hi", sender="+6141234567890123"),
            "sender",
            "a numeric sender has at most 15 digits: '+6141234567890123'",
        ),
        (
            Message(to=AU, text="hi", sender=""),
            "sender",
            "is empty (leave it out for the provider's default)",
        ),
        (
            Message(to=AU, text="hi", providers=["a", "zz"]),
            "providers[1]",
            "unknown provider 'zz' (configured: a)",
        ),
        (Message(to=AU, text="hi", reference=""), "reference", "expected a non-empty string"),
        (
            Message(to=AU, text="hi", providers=[]),
            "providers",
            "is empty (leave it out to use every provider)",
        ),
    ],
)
async def test_a_wrong_message_names_the_field_and_sends_nothing(
    started: RouterFactory, message: Message, field: str, text: str
) -> None:
    r = await started(config({"a": fake()}, default_region="AU"))
    with pytest.raises(ValidationError) as raised:
        await r.send(message)
    assert (raised.value.field, raised.value.message) == (field, text)
    with pytest.raises(ValidationError):
        r.route(message)
    assert seen(r) == {"a": []}


async def test_at_most_a_thousand_recipients(started: RouterFactory) -> None:
    r = await started(config({"a": fake()}))
    numbers = [f"+614{i:08d}" for i in range(1001)]
    with pytest.raises(ValidationError) as raised:
        await r.send(Message(to=numbers, text="hi"))
    assert str(raised.value) == "to: 1001 recipients, at most 1000 in one message"


@pytest.mark.parametrize(
    ("sender", "kind"),
    [
        (None, SenderKind.NONE),
        ("Shop", SenderKind.ALPHANUMERIC),
        ("Shop24", SenderKind.ALPHANUMERIC),
        ("61412345678", SenderKind.NUMERIC),
        ("+61412345678", SenderKind.NUMERIC),
        ("12345678901234", SenderKind.NUMERIC),
    ],
)
async def test_the_sender_kind_reaches_the_provider(
    started: RouterFactory, sender: str | None, kind: SenderKind
) -> None:
    assert sender_kind(sender) is kind
    r = await started(config({"a": fake()}))
    await r.send(Message(to=AU, text="hi", sender=sender))
    (batch,) = fakes(r)["a"].batches
    assert (batch.sender, batch.sender_kind) == (sender, kind)


async def test_national_numbers_are_read_in_the_default_region(started: RouterFactory) -> None:
    r = await started(config({"a": fake()}, default_region="ZA"))
    result = await r.send(Message(to="082 123 4567", text="hi"))
    assert [x.recipient for x in result.recipients] == [ZA]


# -- idempotency -----------------------------------------------------------------------------


async def test_a_reference_seen_before_returns_the_first_result(started: RouterFactory) -> None:
    r = await started(config({"a": fake()}))
    first = await r.send(Message(to=AU, text="hi", reference="order-1"))
    again = await r.send(Message(to=AU, text="hi", reference="order-1"))
    assert first.duplicate is False
    assert again.duplicate is True
    assert again.message_id == first.message_id
    assert again[AU].provider_message_id == first[AU].provider_message_id == "a-1"
    assert seen(r) == {"a": [(AU,)]}
    other = await r.send(Message(to=AU, text="hi", reference="order-2"))
    assert other.message_id != first.message_id
    assert seen(r) == {"a": [(AU,), (AU,)]}


async def test_a_duplicate_of_a_message_only_journalled_sends_it_once(
    started: RouterFactory,
) -> None:
    r = await started(config({"a": fake()}))
    record, created = await r.accept(Message(to=AU, text="queued", reference="order-1"))
    assert created
    again = await r.send(Message(to=AU, text="queued", reference="order-1"))
    assert again.duplicate is True
    assert again.message_id == record.id
    assert again[AU].status is RecipientStatus.ACCEPTED
    resumed = await r.resume(record)
    assert resumed[AU].provider_message_id == again[AU].provider_message_id
    assert seen(r) == {"a": [(AU,)]}


async def test_a_duplicate_sent_while_the_first_is_under_way_waits_for_it(
    started: RouterFactory,
) -> None:
    r = await started(config({"a": fake(delay=0.01)}))
    first, again = await asyncio.gather(
        r.send(Message(to=AU, text="hi", reference="order-1")),
        r.send(Message(to=AU, text="hi", reference="order-1")),
    )
    assert (first.duplicate, again.duplicate) == (False, True)
    assert again[AU].status is RecipientStatus.ACCEPTED
    assert again.recipients == first.recipients
    assert seen(r) == {"a": [(AU,)]}


# -- per-recipient outcomes and misbehaving adapters -----------------------------------------


class PickyProvider(FakeProvider):
    """Answers each recipient by the last digit of its number (a scripted batch)."""

    type_name = "picky"
    by_last_digit = {
        "8": Outcome.ACCEPTED,
        "9": Outcome.REJECTED_RECIPIENT,
        "7": Outcome.PROVIDER_ERROR,
    }

    async def send(self, batch: Batch) -> list[RecipientOutcome]:
        self.batches.append(batch)
        outcomes = []
        for r in batch.recipients:
            outcome = self.by_last_digit.get(r.e164[-1], Outcome.UNAVAILABLE)
            outcomes.append(
                RecipientOutcome(
                    r.e164, outcome, "p-1" if outcome is Outcome.ACCEPTED else None, "picky"
                )
            )
        return outcomes


class BrokenProvider(FakeProvider):
    """Raises where it should answer, or answers for numbers it was not sent."""

    type_name = "broken"

    async def send(self, batch: Batch) -> list[RecipientOutcome]:
        self.batches.append(batch)
        if batch.text == "raise":
            raise KeyError("adapter bug")
        if batch.text == "unavailable":
            raise ProviderUnavailableError("HTTP 503", provider=self.name, retry_after=30)
        return [RecipientOutcome("+61400000000", Outcome.ACCEPTED, "x-1")]


@hookimpl
def smsrouter_register_providers(registry: ProviderRegistry) -> None:
    """Register the test providers of this module."""
    registry.add(PickyProvider)
    registry.add(BrokenProvider)


async def test_each_recipient_of_a_batch_goes_its_own_way(started: RouterFactory) -> None:
    ok, bad, failing = "+61412345678", "+61412345679", "+61412345677"
    r = await started(
        config({"picky": {"plugin": "picky"}, "b": fake()}),
        plugins=(sys.modules[__name__],),
    )
    result = await r.send(Message(to=[ok, bad, failing], text="hi"))
    assert (result[ok].status, result[ok].provider) == (RecipientStatus.ACCEPTED, "picky")
    assert (result[bad].status, result[bad].provider) == (RecipientStatus.REJECTED, "picky")
    assert (result[failing].status, result[failing].provider) == (RecipientStatus.ACCEPTED, "b")
    assert seen(r) == {"picky": [(ok, bad, failing)], "b": [(failing,)]}


@pytest.mark.parametrize(
    ("text", "outcome", "reason"),
    [
        # An adapter that raises may have sent: never resend blindly.
        ("raise", Outcome.AMBIGUOUS, "adapter failed: KeyError"),
        ("other", Outcome.AMBIGUOUS, "the adapter gave no outcome for it"),
        ("unavailable", Outcome.UNAVAILABLE, "broken: HTTP 503"),
    ],
)
async def test_a_misbehaving_adapter_is_contained(
    started: RouterFactory, text: str, outcome: Outcome, reason: str
) -> None:
    r = await started(
        config({"broken": {"plugin": "broken"}, "b": fake()}, on_ambiguous="failover"),
        plugins=(sys.modules[__name__],),
    )
    result = await r.send(Message(to=AU, text=text))
    kind = ErrorKind.OTHER if text == "unavailable" else None
    assert result[AU].attempts[0] == Attempt("broken", outcome, reason, kind=kind, at=T0)
    assert result[AU].provider == "b"
    if text == "unavailable":
        # Its Retry-After holds the provider's budget.
        assert r.providers["broken"].budget.blocked_for == 30


# -- restriction to named providers ----------------------------------------------------------


async def test_a_message_restricted_to_providers_uses_only_those(started: RouterFactory) -> None:
    r = await started(config({"a": fake(), "b": fake(outcome="unavailable"), "c": fake()}))
    with pytest.raises(NoRouteError) as raised:
        await r.send(Message(to=AU, text="hi", providers=["b"]))
    assert raised.value.reasons == {"b": "unavailable: scripted unavailable"}
    result = await r.send(Message(to=AU, text="hi", providers=["c", "b"]))
    assert trail(result) == [("b", Outcome.UNAVAILABLE), ("c", Outcome.ACCEPTED)]
    assert seen(r) == {"a": [], "b": [(AU,), (AU,)], "c": [(AU,)]}
    plan = r.route(Message(to=AU, text="hi", providers=["c"]))
    assert [route.providers for route in plan.routes] == [("c",)]


# -- event hooks -----------------------------------------------------------------------------


class Recorder:
    """A plugin that records every message routed, one sync and one async hook."""

    def __init__(self) -> None:
        self.routed: list[tuple[str, SendResult]] = []

    @hookimpl
    def smsrouter_message_routed(self, message: Message, result: SendResult) -> None:
        self.routed.append((message.id, result))


class AsyncRecorder:
    """The same, as an async hook, plus one that fails (it must not reach the message)."""

    def __init__(self) -> None:
        self.routed: list[str] = []

    @hookimpl
    async def smsrouter_message_routed(self, message: Message, result: SendResult) -> None:
        self.routed.append(message.id)
        raise RuntimeError("a broken plugin")


def test_the_hook_timeout_of_a_mapping_config_applies() -> None:
    r = Router(config({"a": fake()}, hook_timeout="10ms"), plugins=[router.testing])
    assert r.plugins.hook_timeout == 0.01


async def test_message_routed_hooks_fire(started: RouterFactory) -> None:
    sync, asynchronous = Recorder(), AsyncRecorder()
    r = await started(
        config({"a": fake(outcome="unavailable"), "b": fake()}), plugins=(sync, asynchronous)
    )
    result = await r.send(Message(to=AU, text="hi", id="m1"))
    assert sync.routed == [("m1", result)]
    assert asynchronous.routed == ["m1"]
    with pytest.raises(NoRouteError):
        await r.send(Message(to=AU, text="hi", id="m2", providers=["a"]))
    assert [m for m, _ in sync.routed] == ["m1", "m2"]
    assert sync.routed[1][1][AU].status is RecipientStatus.FAILED
