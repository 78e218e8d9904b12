"""Decision cost: ``Router.route()`` with 20 providers of 250 price prefixes each.

Each provider has its own price for each of 250 E.164 prefixes (every country calling code
and some longer mobile prefixes), some in foreign currencies, some limited to a few
countries by ``prefixes``, about half with a known balance. The chain is
``prefix, cheapest, balance``, so every policy has work. Each call routes one message to a
number of its own, in one of five countries. ``Router.route()`` is timed whole (checking
the message, parsing its number, the text's encoding and segments, the policy chain), and
the policy chain alone beside it, so the figure says where the time goes.
"""

from __future__ import annotations

import gc
import random
import time
from decimal import Decimal
from typing import Any

import phonenumbers

from bench.common import PASSWORD, TEXT, Bar, Result, median, percentile
from router import Message, Router
from router.model import Balance

PROVIDERS = 20
PREFIXES = 250
BAR_MEDIAN_US = 20.0
BAR_P99_US = 100.0
SEEN = 4_000
"""Distinct numbers routed again for the seen-before row (within the number cache)."""

DESTINATIONS = ("+61412{:06d}", "+2782{:07d}", "+7912{:07d}", "+447400{:06d}", "+1201555{:04d}")
"""Number patterns in Australia, South Africa, Russia, the UK and the US."""


def price_prefixes() -> list[str]:
    """250 distinct E.164 digit prefixes: every calling code, then longer mobile ones."""
    codes = sorted(str(code) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
    longer = [
        f"{cc}{digit}" for cc in ("61", "27", "7", "44", "1", "49", "33") for digit in "0123456789"
    ]
    longer += [f"614{d}{e}" for d in "01234" for e in "0123456789"]
    prefixes = list(dict.fromkeys([*codes, *longer]))
    if len(prefixes) < PREFIXES:
        raise RuntimeError(f"only {len(prefixes)} prefixes")
    return prefixes[:PREFIXES]


def decision_config() -> dict[str, Any]:
    """Twenty providers, each with its own prices for the same 250 prefixes."""
    rng = random.Random(20)
    prefixes = price_prefixes()
    currencies = ("AUD", "AUD", "ZAR", "RUB")
    providers = {}
    for index in range(PROVIDERS):
        table: dict[str, Any] = {
            "plugin": "smsbroadcast",
            "username": f"bench{index}",
            "password": PASSWORD,
            # Never called: route() does not send.
            "base_url": "http://127.0.0.1:9/api-adv.php",
            "currency": currencies[index % len(currencies)],
            "prices": {p: round(rng.uniform(0.01, 0.2), 4) for p in prefixes},
        }
        if index % 3 == 1:
            table["prefixes"] = rng.sample(["61", "27", "7", "44", "1", "49", "33"], 3)
        providers[f"p{index:02d}"] = table
    return {
        "router": {
            "default_region": "AU",
            "policy": ["prefix", "cheapest", "balance"],
            "base_currency": "AUD",
            "currencies": {"ZAR": 0.083, "RUB": 0.019},
        },
        "store": {"url": "memory:"},
        "providers": providers,
    }


def _destination(index: int) -> str:
    pattern = DESTINATIONS[index % len(DESTINATIONS)]
    return pattern.format(index // len(DESTINATIONS) % 10_000)


async def run(quick: bool = False) -> Result:
    """Time Router.route() and the policy chain alone."""
    started = time.perf_counter()
    calls = 100 if quick else 30_000
    warm = 10 if quick else 1_000
    router = Router(decision_config(), autoload=False)
    await router.start(track_balances=False)
    try:
        now = router.clock.time()
        for index, state in enumerate(router.providers.values()):
            if index % 2 == 0:
                state.balance = Balance(Decimal(500 + 37 * index), "credits", now)
        messages = [Message(to=_destination(i), text=TEXT) for i in range(warm + calls)]
        for message in messages[:warm]:
            router.route(message)
        whole: list[float] = []
        chain: list[float] = []
        plans = []
        clock = time.perf_counter_ns
        gc.collect()
        for message in messages[warm:]:
            begin = clock()
            plan = router.route(message)
            whole.append((clock() - begin) / 1000)
            plans.append(plan)
        # Numbers seen before: a set the number cache holds, routed once, then timed.
        repeated = messages[warm : warm + min(calls, SEEN)]
        for message in repeated:
            router.route(message)
        seen: list[float] = []
        for message in repeated:
            begin = clock()
            router.route(message)
            seen.append((clock() - begin) / 1000)
        # The chain alone: what route() does once the message is checked and parsed.
        prepared = [router.prepare(m) for m in messages[warm:]]
        for checked in prepared:
            begin = clock()
            router.decider.routes(checked)
            chain.append((clock() - begin) / 1000)
    finally:
        await router.aclose()
    hits = router.decider.decisions.hits
    candidates = median([len(p.routes[0].candidates) for p in plans])
    excluded = median([len(p.routes[0].excluded) for p in plans])
    rows = (
        ("Router.route()", round(median(whole), 1), round(percentile(whole, 0.99), 1)),
        (
            "Router.route(), every number seen before",
            round(median(seen), 1),
            round(percentile(seen, 0.99), 1),
        ),
        ("policy chain alone", round(median(chain), 1), round(percentile(chain, 0.99), 1)),
        (
            "checking and parsing (the rest)",
            round(median(whole) - median(chain), 1),
            "",
        ),
    )
    return Result(
        name="decision",
        title=f"Decision cost: Router.route(), {PROVIDERS} providers x {PREFIXES} price prefixes",
        columns=("what", "median µs", "p99 µs"),
        rows=rows,
        bars=(
            Bar("Router.route() median µs", BAR_MEDIAN_US, median(whole), False),
            Bar("Router.route() p99 µs", BAR_P99_US, percentile(whole, 0.99), False),
        ),
        notes=(
            f"{calls:,} calls, each to a number of its own in one of five countries; "
            f"median {candidates:g} candidates and {excluded:g} excluded per decision",
            "policy chain: prefix, cheapest, balance; half the providers with a known balance",
            f"{hits:,} decisions answered from the decision cache (per destination prefix "
            "and message shape)",
        ),
        figures={
            "route_median_us": median(whole),
            "route_p99_us": percentile(whole, 0.99),
            "route_seen_median_us": median(seen),
            "cache_hits": float(hits),
            "chain_median_us": median(chain),
            "chain_p99_us": percentile(chain, 0.99),
        },
        seconds=time.perf_counter() - started,
    )
