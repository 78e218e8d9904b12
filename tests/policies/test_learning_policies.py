"""``share`` and ``quality``: splits fixed by message id, chained with the others, and
their explanations; the always-on filter of the breakers per country."""

from __future__ import annotations

import collections
from decimal import Decimal
from typing import Any

import attrs
import pytest

import router.testing
from policies import Cheapest, Prefix, Quality, Share
from policies.share import ShareConfig
from router.config import parse_config
from router.errors import ConfigError
from router.model import Encoding, Recipient, SenderKind
from router.numbers import parse
from router.plugins import PluginHost
from router.policy import Learnt, NoOptions, PolicyChain, ProviderView, RoutingContext
from router.provider import Capabilities
from router.store import DeliveryFigures

ZA = "+27821234567"
CAPS = Capabilities(max_recipients=100, max_parts=10, unicode=True)


def context(ref: str, number: str = ZA) -> RoutingContext:
    parsed = parse(number, None)
    return RoutingContext(
        recipient=Recipient(parsed.e164, parsed.region, parsed.country_code, ref),
        encoding=Encoding.GSM7,
        segments=1,
        sender_kind=SenderKind.NONE,
        sender_length=0,
        recipient_count=1,
        base_currency="AUD",
        currencies={},
    )


def view(name: str, index: int, price: str, **extra: Any) -> ProviderView:
    return ProviderView(
        name=name,
        index=index,
        capabilities=CAPS,
        prefixes=(),
        prices={"27": Decimal(price)},
        currency="AUD",
        priority=None,
        balance=None,
        **extra,
    )


def firsts(
    chain: PolicyChain, providers: list[ProviderView], count: int = 2000
) -> collections.Counter[str]:
    found: collections.Counter[str] = collections.Counter()
    for i in range(count):
        candidates, _ = chain.decide(context(f"m{i}-0"), providers)
        found[candidates[0].provider] += 1
    return found


def test_share_splits_by_weight_and_goes_the_same_way_every_time() -> None:
    chain = PolicyChain([Share(ShareConfig({"a": 70, "b": 30}))])
    providers = [view("a", 0, "0.05"), view("b", 1, "0.04")]
    split = firsts(chain, providers)
    assert 1320 < split["a"] < 1480  # 70% of 2000, give or take
    assert split == firsts(chain, providers)  # the same message ids, the same way
    candidates, _ = chain.decide(context("m1-0"), providers)
    assert len(candidates) == 2  # the other stays the failover
    assert "weight 70 of 100" in str(
        candidates[[c.provider for c in candidates].index("a")].keys["share"]
    )


def test_share_renormalises_over_the_providers_that_pass_the_filters() -> None:
    chain = PolicyChain([Share(ShareConfig({"a": 50, "b": 30, "c": 20}))])
    open_ = [view("a", 0, "0.05"), view("b", 1, "0.04"), view("c", 2, "0.04")]
    held = [view("a", 0, "0.05", closed_to={"ZA": "open"}), *open_[1:]]
    split = firsts(chain, held)
    assert split["a"] == 0
    assert 1100 < split["b"] < 1300  # 30 of 50
    unweighted = PolicyChain([Share(ShareConfig({"a": 1}))])
    candidates, _ = unweighted.decide(context("m1-0"), open_)
    assert [c.provider for c in candidates] == ["a", "b", "c"]  # weight 0: config order after


def test_the_breaker_per_country_excludes_for_that_country_only() -> None:
    chain = PolicyChain([Cheapest(NoOptions())])
    held = view("a", 0, "0.01", closed_to={"ZA": "half_open"})
    candidates, excluded = chain.decide(context("m-0"), [held, view("b", 1, "0.02")])
    assert [c.provider for c in candidates] == ["b"]
    assert [(e.provider, e.policy, e.reason) for e in excluded] == [
        ("a", "breaker", "circuit breaker for ZA is half_open")
    ]
    au = attrs.evolve(held, prices={"61": Decimal("0.01")})
    candidates, _ = chain.decide(context("m-0", "+61412345678"), [au])
    assert [c.provider for c in candidates] == ["a"]


def test_quality_at_resting_weights_leaves_the_order_to_the_next_policy() -> None:
    chain = PolicyChain([Prefix(NoOptions()), Quality(NoOptions()), Cheapest(NoOptions())])
    providers = [view("a", 0, "0.05"), view("b", 1, "0.04")]
    assert firsts(chain, providers, 200) == {"b": 200}


def test_quality_moves_the_share_a_weight_gives_up_and_explains_with_its_figures() -> None:
    figures = DeliveryFigures("b", "ZA", 40, 10, 25, 5, 0, 8.25)
    learnt = {"ZA": Learnt(0.25, 1.0, figures)}
    chain = PolicyChain([Quality(NoOptions()), Cheapest(NoOptions())])
    providers = [view("a", 0, "0.05"), view("b", 1, "0.04", learnt=learnt)]
    split = firsts(chain, providers)
    assert 420 < split["b"] < 580  # b keeps about a quarter of what it would have
    candidates, _ = chain.decide(context("m1-0"), providers)
    words = str({c.provider: c.keys for c in candidates}["b"]["quality"])
    assert "weight 0.25 (resting 1.00) to ZA" in words
    assert "delivered 10 of 40 (25%), 25 failed, 5 missing, 0 pending" in words
    assert "mean report after 8.2s" in words


def test_both_declare_they_cannot_be_cached() -> None:
    assert not Share.cacheable
    assert not Quality.cacheable
    assert not PolicyChain([Prefix(NoOptions()), Quality(NoOptions())]).cacheable
    assert not PolicyChain([Share(ShareConfig({"a": 1}))]).cacheable


def problems(data: dict[str, Any]) -> list[str]:
    host = PluginHost.load(extra=[router.testing], autoload=False)
    with pytest.raises(ConfigError) as caught:
        parse_config(data, host)
    return list(caught.value.problems)


def test_wrong_weights_and_names_are_named_at_their_paths() -> None:
    fake = {"plugin": "fake"}
    assert problems(
        {
            "router": {"policy": ["share"], "quality": {"resting": {"ghost": 0.5}}},
            "providers": {"a": fake},
            "policies": {"share": {"weights": {"a": 70, "nobody": 30}}},
        }
    ) == [
        "router.quality.resting.ghost: no provider is named 'ghost'",
        "policies.share.weights.nobody: no provider is named 'nobody'",
    ]
    assert problems(
        {"router": {"policy": ["share"]}, "policies": {"share": {"weights": {"a": -1}}}}
    ) == ["policies.share.weights: a: a weight cannot be below 0, got -1.0"]
