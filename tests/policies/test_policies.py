"""Routing policies, each alone and chained, the always-on filters, and the explanation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from typing import Any

import pytest

import router.testing
from policies import Cheapest, HighestBalance, Prefix, Priority
from router.engine import Router
from router.model import (
    Balance,
    Encoding,
    Message,
    Outcome,
    Recipient,
    SenderKind,
)
from router.numbers import parse
from router.policy import (
    Candidate,
    Exclusion,
    NoOptions,
    Policy,
    PolicyChain,
    ProviderView,
    Route,
    RoutingContext,
)
from router.provider import Capabilities
from router.testing import FakeClock

AU = "+61412345678"
AU_LANDLINE = "+61298765432"
ZA = "+27821234567"
D = Decimal
CAPS = Capabilities(max_recipients=100, max_parts=10, unicode=True)


def context(
    number: str = AU,
    *,
    segments: int = 1,
    recipients: int = 1,
    encoding: Encoding = Encoding.GSM7,
    sender: SenderKind = SenderKind.NONE,
    sender_length: int = 0,
) -> RoutingContext:
    """The routing context of one destination."""
    parsed = parse(number, None)
    return RoutingContext(
        recipient=Recipient(parsed.e164, parsed.region, parsed.country_code, "m-0"),
        encoding=encoding,
        segments=segments,
        sender_kind=sender,
        sender_length=sender_length,
        recipient_count=recipients,
        base_currency="AUD",
        currencies={"ZAR": D("0.083"), "RUB": D("0.019")},
    )


def views(**providers: Mapping[str, Any]) -> list[ProviderView]:
    """Provider views in the order given (their config order)."""
    out = []
    for index, (name, settings) in enumerate(providers.items()):
        options: dict[str, Any] = {
            "capabilities": CAPS,
            "prefixes": (),
            "prices": {},
            "currency": "AUD",
            "priority": None,
            "balance": None,
            **settings,
        }
        options["prices"] = {k: D(str(v)) for k, v in options["prices"].items()}
        out.append(ProviderView(name=name, index=index, **options))
    return out


def chain(*policies: type[Policy]) -> PolicyChain:
    """A chain of built-in policies, none of which take options."""
    return PolicyChain([p(NoOptions()) for p in policies])


def order(
    policies: PolicyChain, ctx: RoutingContext, providers: list[ProviderView]
) -> list[tuple[str, dict[str, object]]]:
    """The candidates in order, with their keys as the explanation shows them."""
    candidates, _ = policies.decide(ctx, providers)
    return [(c.provider, dict(c.keys)) for c in candidates]


# -- prefix ----------------------------------------------------------------------------------


def test_prefix_excludes_with_a_reason() -> None:
    candidates, excluded = chain(Prefix).decide(
        context(ZA), views(au={"prefixes": ("61",)}, za={"prefixes": ("27", "7")})
    )
    assert [c.provider for c in candidates] == ["za"]
    assert excluded == (Exclusion("au", "prefix", "does not send to +27821234567 (prefixes 61)"),)


def test_prefix_orders_the_longest_match_first() -> None:
    providers = views(
        anywhere={},
        au={"prefixes": ("61",)},
        mobile={"prefixes": ("614",)},
        narrow={"prefixes": ("27", "6141")},
        other={"prefixes": ("27",)},
    )
    assert order(chain(Prefix), context(AU), providers) == [
        ("narrow", {"prefix": "prefix length 4"}),
        ("mobile", {"prefix": "prefix length 3"}),
        ("au", {"prefix": "prefix length 2"}),
        ("anywhere", {"prefix": "any destination"}),
    ]
    assert order(chain(Prefix), context(AU_LANDLINE), providers) == [
        ("au", {"prefix": "prefix length 2"}),
        ("anywhere", {"prefix": "any destination"}),
    ]


# -- cheapest --------------------------------------------------------------------------------


def test_cheapest_uses_the_longest_prefix_price() -> None:
    providers = views(
        split={"prices": {"61": 0.05, "614": 0.042}},
        flat={"prices": {"61": 0.045}},
    )
    assert order(chain(Cheapest), context(AU), providers) == [
        ("split", {"cheapest": "cost 0.042"}),
        ("flat", {"cheapest": "cost 0.045"}),
    ]
    assert order(chain(Cheapest), context(AU_LANDLINE), providers) == [
        ("flat", {"cheapest": "cost 0.045"}),
        ("split", {"cheapest": "cost 0.05"}),
    ]


def test_cheapest_converts_to_the_base_currency() -> None:
    providers = views(
        aud={"prices": {"61": 0.045}},
        zar={"prices": {"61": 0.5}, "currency": "ZAR"},
        rub={"prices": {"61": 2}, "currency": "RUB"},
    )
    candidates, _ = chain(Cheapest).decide(context(AU), providers)
    assert [(c.provider, c.cost) for c in candidates] == [
        ("rub", D("0.038")),
        ("zar", D("0.0415")),
        ("aud", D("0.045")),
    ]


def test_cheapest_multiplies_by_segments_and_recipients() -> None:
    providers = views(a={"prices": {"61": 0.045}}, b={"prices": {"61": 0.05}})
    candidates, _ = chain(Cheapest).decide(context(AU, segments=3, recipients=4), providers)
    assert [(c.provider, c.cost, dict(c.keys)) for c in candidates] == [
        ("a", D("0.540"), {"cheapest": "cost 0.540"}),
        ("b", D("0.60"), {"cheapest": "cost 0.60"}),
    ]


def test_cheapest_puts_unpriced_providers_last_in_config_order() -> None:
    providers = views(
        unpriced={"prices": {"27": 0.01}},
        dear={"prices": {"61": 0.09}},
        nothing={},
        cheap={"prices": {"6": 0.04}},
    )
    assert order(chain(Cheapest), context(AU), providers) == [
        ("cheap", {"cheapest": "cost 0.04"}),
        ("dear", {"cheapest": "cost 0.09"}),
        ("unpriced", {"cheapest": "no price"}),
        ("nothing", {"cheapest": "no price"}),
    ]


# -- balance ---------------------------------------------------------------------------------


def test_balance_orders_by_messages_affordable_at_the_destination() -> None:
    providers = views(
        unknown={},
        credits={"balance": Balance(D(300), "credits")},
        money={"balance": Balance(D(10), "AUD"), "prices": {"61": 0.04, "27": 0.5}},
        rand={"balance": Balance(D(100), "ZAR"), "prices": {"61": 0.5}, "currency": "ZAR"},
    )
    assert order(chain(HighestBalance), context(AU), providers) == [
        ("credits", {"balance": "affords 300 messages"}),
        ("money", {"balance": "affords 250 messages"}),
        ("rand", {"balance": "affords 200 messages"}),
        ("unknown", {"balance": "balance unknown"}),
    ]
    # Two segments: a credit pays one segment, money pays the price of each.
    assert order(chain(HighestBalance), context(AU, segments=2), providers)[:3] == [
        ("credits", {"balance": "affords 150 messages"}),
        ("money", {"balance": "affords 125 messages"}),
        ("rand", {"balance": "affords 100 messages"}),
    ]
    # The same money buys fewer messages where the price is higher.
    assert order(chain(HighestBalance), context(ZA), providers) == [
        ("credits", {"balance": "affords 300 messages"}),
        ("money", {"balance": "affords 20 messages"}),
        ("unknown", {"balance": "balance unknown"}),
        ("rand", {"balance": "balance unknown"}),
    ]


def test_a_balance_in_another_currency_than_the_prices_is_converted() -> None:
    # Prices in AUD, the account held in ZAR: 120 ZAR is 9.96 AUD, 249 messages at 0.04.
    providers = views(a={"balance": Balance(D(120), "ZAR"), "prices": {"61": 0.04}})
    assert order(chain(HighestBalance), context(AU), providers) == [
        ("a", {"balance": "affords 249 messages"}),
    ]


# -- priority --------------------------------------------------------------------------------


def test_priority_is_a_static_order_unset_last_ties_in_config_order() -> None:
    providers = views(
        a={"priority": 2}, unset={}, b={"priority": 1}, c={"priority": 1}, also_unset={}
    )
    assert order(chain(Priority), context(AU), providers) == [
        ("b", {"priority": "priority 1"}),
        ("c", {"priority": "priority 1"}),
        ("a", {"priority": "priority 2"}),
        ("unset", {"priority": "no priority"}),
        ("also_unset", {"priority": "no priority"}),
    ]


def test_no_ordering_policy_keeps_config_order() -> None:
    assert order(PolicyChain([]), context(AU), views(z={}, a={}, m={})) == [
        ("z", {}),
        ("a", {}),
        ("m", {}),
    ]


# -- chained ---------------------------------------------------------------------------------


def test_a_chain_orders_by_each_key_in_turn() -> None:
    providers = views(
        za_only={"prefixes": ("27",), "prices": {"27": 0.01}},
        au_dear={"prefixes": ("61",), "prices": {"61": 0.06}},
        mobile={"prefixes": ("614",), "prices": {"61": 0.07}},
        au_cheap_low={
            "prefixes": ("61",),
            "prices": {"61": 0.04},
            "balance": Balance(D(5), "credits"),
        },
        au_cheap_high={
            "prefixes": ("61",),
            "prices": {"61": 0.04},
            "balance": Balance(D(9), "credits"),
        },
        anywhere={"prices": {"61": 0.01}},
    )
    candidates, excluded = chain(Prefix, Cheapest, HighestBalance).decide(context(AU), providers)
    assert [(c.provider, dict(c.keys)) for c in candidates] == [
        (
            "mobile",
            {"prefix": "prefix length 3", "cheapest": "cost 0.07", "balance": "balance unknown"},
        ),
        (
            "au_cheap_high",
            {"prefix": "prefix length 2", "cheapest": "cost 0.04", "balance": "affords 9 messages"},
        ),
        (
            "au_cheap_low",
            {"prefix": "prefix length 2", "cheapest": "cost 0.04", "balance": "affords 5 messages"},
        ),
        (
            "au_dear",
            {"prefix": "prefix length 2", "cheapest": "cost 0.06", "balance": "balance unknown"},
        ),
        (
            "anywhere",
            {"prefix": "any destination", "cheapest": "cost 0.01", "balance": "balance unknown"},
        ),
    ]
    assert excluded == (
        Exclusion("za_only", "prefix", "does not send to +61412345678 (prefixes 27)"),
    )


def test_the_chain_order_decides_which_key_comes_first() -> None:
    providers = views(
        dear_first={"priority": 1, "prices": {"61": 0.09}},
        cheap_second={"priority": 2, "prices": {"61": 0.03}},
    )
    assert [p for p, _ in order(chain(Priority, Cheapest), context(AU), providers)] == [
        "dear_first",
        "cheap_second",
    ]
    assert [p for p, _ in order(chain(Cheapest, Priority), context(AU), providers)] == [
        "cheap_second",
        "dear_first",
    ]


# -- always-on filters -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "ctx", "exclusion"),
    [
        (
            {"accepting": False, "breaker": "open"},
            context(),
            ("breaker", "circuit breaker is open"),
        ),
        (
            {"capabilities": Capabilities(max_parts=10, unicode=False)},
            context(encoding=Encoding.UCS2),
            ("capability", "cannot send Unicode (UCS-2) text"),
        ),
        (
            {"capabilities": Capabilities(max_parts=3, unicode=True)},
            context(segments=4),
            ("capability", "4 segments, it sends at most 3"),
        ),
        (
            {"capabilities": Capabilities(sender_kinds=frozenset({SenderKind.NUMERIC}))},
            context(sender=SenderKind.ALPHANUMERIC, sender_length=4),
            ("capability", "does not take an alphanumeric sender ID"),
        ),
        (
            {"capabilities": Capabilities(sender_kinds=frozenset({SenderKind.ALPHANUMERIC}))},
            context(sender=SenderKind.NUMERIC, sender_length=11),
            ("capability", "does not take a numeric sender ID"),
        ),
        (
            {"capabilities": Capabilities(sender_kinds=frozenset({SenderKind.NUMERIC}))},
            context(),
            ("capability", "needs a sender ID"),
        ),
        (
            {"capabilities": Capabilities(max_sender_length=6)},
            context(sender=SenderKind.ALPHANUMERIC, sender_length=7),
            ("capability", "sender longer than 6 characters"),
        ),
        (
            {"balance": Balance(D(1), "credits")},
            context(segments=2),
            ("balance", "balance 1 is below the message's cost"),
        ),
        (
            {"balance": Balance(D(3), "credits")},
            context(recipients=4),
            ("balance", "balance 3 is below the message's cost"),
        ),
        (
            {"balance": Balance(D("0.08"), "AUD"), "prices": {"61": 0.045}},
            context(segments=2),
            ("balance", "balance 0.08 is below the message's cost"),
        ),
        (
            # Nothing pays for nothing, even where the price is unknown.
            {"balance": Balance(D(0), "AUD")},
            context(),
            ("balance", "balance 0 is below the message's cost"),
        ),
    ],
)
def test_always_on_filters_exclude_before_any_policy(
    settings: dict[str, Any], ctx: RoutingContext, exclusion: tuple[str, str]
) -> None:
    # Even an empty chain applies them.
    candidates, excluded = PolicyChain([]).decide(ctx, views(p=settings, ok={}))
    assert [c.provider for c in candidates] == ["ok"]
    assert excluded == (Exclusion("p", *exclusion),)


@pytest.mark.parametrize(
    "settings",
    [
        {"accepting": True, "breaker": "half_open"},
        {"capabilities": Capabilities(max_parts=4, unicode=True)},
        {"balance": Balance(D(2), "credits")},
        {"balance": Balance(D("0.09"), "AUD"), "prices": {"61": 0.045}},
        {"balance": Balance(D(1), "AUD")},  # no price: the cost is unknown, not excluded
    ],
)
def test_always_on_filters_let_a_capable_provider_through(settings: dict[str, Any]) -> None:
    ctx = context(segments=2, encoding=Encoding.UCS2)
    candidates, excluded = PolicyChain([]).decide(ctx, views(p=settings))
    assert [c.provider for c in candidates] == ["p"]
    assert excluded == ()


def test_the_first_reason_is_the_one_given() -> None:
    providers = views(p={"accepting": False, "breaker": "open", "prefixes": ("27",)})
    _, excluded = chain(Prefix).decide(context(AU), providers)
    assert excluded == (Exclusion("p", "breaker", "circuit breaker is open"),)


# -- the explanation, through the Router -----------------------------------------------------


@pytest.fixture
async def explained(clock: FakeClock) -> AsyncIterator[Router]:
    """A Router of five fake providers behind ``prefix``, ``cheapest`` and ``balance``."""
    cfg = {
        "router": {
            "policy": ["prefix", "cheapest", "balance"],
            "currencies": {"ZAR": 0.083},
        },
        "providers": {
            "za": {"plugin": "fake", "prefixes": ["27"], "prices": {"27": 0.2}, "currency": "ZAR"},
            "broadcast": {
                "plugin": "fake",
                "prefixes": ["61"],
                "prices": {"61": 0.045, "614": 0.042},
            },
            "central": {
                "plugin": "fake",
                "prefixes": ["61"],
                "prices": {"61": 0.05},
                "balance": 20,
                "unicode": False,
            },
            "global": {"plugin": "fake", "prices": {"61": 0.06, "27": 0.03}},
            "spare": {"plugin": "fake"},
        },
    }
    r = Router(cfg, plugins=[router.testing], clock=clock)
    await r.start(track_balances=False)
    try:
        yield r
    finally:
        await r.aclose()


async def test_route_explains_candidates_with_keys_and_exclusions_with_reasons(
    explained: Router,
) -> None:
    await explained.balance("central")
    plan = explained.route(Message(to=[AU, ZA, AU_LANDLINE], text="hi", id="m1"))
    assert (plan.message_id, plan.encoding, plan.segments) == ("m1", "gsm7", 1)
    assert plan.routes == (
        Route(
            AU,
            candidates=(
                Candidate(
                    "broadcast",
                    {
                        "prefix": "prefix length 2",
                        "cheapest": "cost 0.126",
                        "balance": "balance unknown",
                    },
                    D("0.126"),
                ),
                Candidate(
                    "central",
                    {
                        "prefix": "prefix length 2",
                        "cheapest": "cost 0.15",
                        "balance": "affords 20 messages",
                    },
                    D("0.15"),
                ),
                Candidate(
                    "global",
                    {
                        "prefix": "any destination",
                        "cheapest": "cost 0.18",
                        "balance": "balance unknown",
                    },
                    D("0.18"),
                ),
                Candidate(
                    "spare",
                    {
                        "prefix": "any destination",
                        "cheapest": "no price",
                        "balance": "balance unknown",
                    },
                    None,
                ),
            ),
            excluded=(Exclusion("za", "prefix", "does not send to +61412345678 (prefixes 27)"),),
        ),
        Route(
            ZA,
            candidates=(
                Candidate(
                    "za",
                    {
                        "prefix": "prefix length 2",
                        "cheapest": "cost 0.0498",
                        "balance": "balance unknown",
                    },
                    D("0.0498"),
                ),
                Candidate(
                    "global",
                    {
                        "prefix": "any destination",
                        "cheapest": "cost 0.09",
                        "balance": "balance unknown",
                    },
                    D("0.09"),
                ),
                Candidate(
                    "spare",
                    {
                        "prefix": "any destination",
                        "cheapest": "no price",
                        "balance": "balance unknown",
                    },
                    None,
                ),
            ),
            excluded=(
                Exclusion("broadcast", "prefix", "does not send to +27821234567 (prefixes 61)"),
                Exclusion("central", "prefix", "does not send to +27821234567 (prefixes 61)"),
            ),
        ),
        Route(
            AU_LANDLINE,
            candidates=(
                Candidate(
                    "broadcast",
                    {
                        "prefix": "prefix length 2",
                        "cheapest": "cost 0.135",
                        "balance": "balance unknown",
                    },
                    D("0.135"),
                ),
                Candidate(
                    "central",
                    {
                        "prefix": "prefix length 2",
                        "cheapest": "cost 0.15",
                        "balance": "affords 20 messages",
                    },
                    D("0.15"),
                ),
                Candidate(
                    "global",
                    {
                        "prefix": "any destination",
                        "cheapest": "cost 0.18",
                        "balance": "balance unknown",
                    },
                    D("0.18"),
                ),
                Candidate(
                    "spare",
                    {
                        "prefix": "any destination",
                        "cheapest": "no price",
                        "balance": "balance unknown",
                    },
                    None,
                ),
            ),
            excluded=(Exclusion("za", "prefix", "does not send to +61298765432 (prefixes 27)"),),
        ),
    )


async def test_route_shows_the_always_on_filters(explained: Router) -> None:
    await explained.balance("central")
    plan = explained.route(Message(to=AU, text="Привет"))
    (route,) = plan.routes
    assert plan.encoding == "ucs2"
    assert route.providers == ("broadcast", "global", "spare")
    assert route.excluded == (
        Exclusion("za", "prefix", "does not send to +61412345678 (prefixes 27)"),
        Exclusion("central", "capability", "cannot send Unicode (UCS-2) text"),
    )


async def test_route_reads_the_live_breaker_and_balance(
    explained: Router, clock: FakeClock
) -> None:
    # Three segments to seven recipients: twenty credits pay for six copies.
    message = Message(to=[f"+6141234567{i}" for i in range(7)], text="a" * 307)
    everyone = ("broadcast", "central", "global", "spare")
    assert explained.route(message).routes[0].providers == everyone
    await explained.balance("central")
    route = explained.route(message).routes[0]
    assert route.providers == ("broadcast", "global", "spare")
    assert route.excluded[-1] == Exclusion(
        "central", "balance", "balance 20 is below the message's cost"
    )
    # A stale balance is unknown, not zero: the provider is a candidate again.
    clock.advance(901)
    assert explained.route(message).routes[0].providers == everyone
    # Three unavailable answers in a row open the breaker of the first choice.
    broadcast = explained.provider("broadcast")
    assert isinstance(broadcast, router.testing.FakeProvider)
    broadcast.script(Outcome.UNAVAILABLE, Outcome.UNAVAILABLE, Outcome.UNAVAILABLE)
    for _ in range(3):
        result = await explained.send(Message(to=AU, text="hi"))
        assert result[AU].provider == "central"
    route = explained.route(message).routes[0]
    assert route.providers == ("central", "global", "spare")
    assert route.excluded[-1] == Exclusion("broadcast", "breaker", "circuit breaker is open")
    # After its cooldown it is half open: a candidate again, for one probe.
    clock.advance(30)
    assert explained.route(message).routes[0].providers == everyone
