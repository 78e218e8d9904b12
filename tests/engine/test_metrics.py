"""The Prometheus exposition: every series named, typed and labelled as designed, and clean."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from typing import Any

import attrs
import pytest
from prometheus_client.parser import text_string_to_metric_families

import router.testing
from router import Message, hookimpl
from router.engine import Router
from router.engine.metrics import Metrics
from router.errors import ConfigError
from router.model import (
    Balance,
    Batch,
    DeliveryStatus,
    Outcome,
    RecipientOutcome,
    RecipientStatus,
)
from router.provider import Capabilities, Operation, Provider
from router.redact import Secret
from router.registries import ProviderRegistry
from router.state import Breaker, BreakerSettings, BreakerState
from router.testing import FakeClock

AU, AU2 = "+61412345678", "+61412345679"
PASSWORD = "hunter2-Zq9"
BUCKETS = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0"]
BUCKETS += ["2.5", "5.0", "10.0", "30.0", "+Inf"]

OUTCOMES = [o.value for o in Outcome]
FAILOVER_REASONS = ["provider_error", "unavailable", "ambiguous", "rejected_recipient"]
OPERATIONS = [o.value for o in Operation]
STATES = [s.value for s in BreakerState]
DELIVERY = [s.value for s in DeliveryStatus]

# name: (type, label names, the values of each label but "provider")
SERIES: dict[str, tuple[str, tuple[str, ...], list[list[str]]]] = {
    "smsrouter_messages": ("counter", ("status",), [["accepted", "partial", "failed"]]),
    "smsrouter_recipients": ("counter", ("status",), [[s.value for s in RecipientStatus]]),
    "smsrouter_attempts": ("counter", ("provider", "outcome"), [OUTCOMES]),
    "smsrouter_failovers": ("counter", ("provider", "reason"), [FAILOVER_REASONS]),
    "smsrouter_provider_request_duration_seconds": (
        "histogram",
        ("provider", "operation"),
        [OPERATIONS],
    ),
    "smsrouter_provider_requests_in_flight": ("gauge", ("provider",), []),
    "smsrouter_provider_suspended": ("gauge", ("provider",), []),
    "smsrouter_provider_balance": ("gauge", ("provider", "unit"), [["unknown"]]),
    "smsrouter_provider_balance_messages": ("gauge", ("provider",), []),
    "smsrouter_provider_balance_last_success_timestamp_seconds": ("gauge", ("provider",), []),
    "smsrouter_balance_polls": ("counter", ("provider", "outcome"), [["success", "error"]]),
    "smsrouter_provider_breaker_state": ("gauge", ("provider", "state"), [STATES]),
    "smsrouter_limiter_waits": ("counter", ("provider",), []),
    "smsrouter_limiter_timeouts": ("counter", ("provider",), []),
    "smsrouter_coalesced_calls": ("counter", ("provider",), []),
    "smsrouter_coalesced_messages": ("counter", ("provider",), []),
    "smsrouter_segments_sent": ("counter", ("provider",), []),
    "smsrouter_cost_sent": ("counter", ("provider",), []),
    "smsrouter_delivery_reports": ("counter", ("provider", "status"), [DELIVERY]),
    "smsrouter_inbound_messages": ("counter", ("provider",), []),
}
SUFFIXES = {"counter": {"_total"}, "gauge": {""}, "histogram": {"_bucket", "_count", "_sum"}}
# The classic text format carries each counter's and histogram's start time as a gauge.
CREATED = {f"{name}_created": name for name, (kind, _, _) in SERIES.items() if kind != "gauge"}


def expected_label_sets(name: str, providers: list[str]) -> set[tuple[tuple[str, str], ...]]:
    """Every label set *name* must show, pre-initialised."""
    _, labels, values = SERIES[name]
    others = iter(values)
    sets: list[dict[str, str]] = [{}]
    for label in labels:
        choices = providers if label == "provider" else next(others)
        sets = [{**s, label: choice} for s in sets for choice in choices]
    return {tuple(sorted(s.items())) for s in sets}


def parse(metrics: Metrics) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(metrics.exposition().decode())}


PROCESS = {"process_cpu_seconds", "process_resident_memory_bytes", "process_start_time_seconds"}
"""Some of the process's own families, which a Router's registry shows as the default would."""


def test_every_series_is_named_typed_and_labelled_for_every_provider() -> None:
    metrics = Metrics(["office", "smsc"])
    families = parse(metrics)
    process = {n for n in families if n.startswith(("process_", "python_"))}
    assert process >= PROCESS
    assert "python_info" in process
    build = families.pop("smsrouter_build_info")
    assert [(x.labels["version"], x.value) for x in build.samples] == [(router.__version__, 1)]
    assert sorted(set(families) - process) == sorted([*SERIES, *CREATED])
    for name, family in families.items():
        if name in process:
            continue
        of = CREATED.get(name, name)
        kind, labels, _ = SERIES[of]
        kind = "gauge" if name in CREATED else kind
        assert (name, family.type) == (name, kind)
        assert family.documentation, name
        assert {s.name.removeprefix(name) for s in family.samples} == SUFFIXES[kind], name
        seen: dict[str, set[tuple[tuple[str, str], ...]]] = {}
        for s in family.samples:
            sample_labels = dict(s.labels)
            if s.name.endswith("_bucket"):
                sample_labels.pop("le")
            assert tuple(sorted(sample_labels)) == tuple(sorted(labels)), s
            seen.setdefault(s.name, set()).add(tuple(sorted(sample_labels.items())))
        expected = expected_label_sets(of, ["office", "smsc"])
        for sample_name, label_sets in seen.items():
            assert label_sets == expected, sample_name
    buckets = [
        s.labels["le"]
        for s in families["smsrouter_provider_request_duration_seconds"].samples
        if s.name.endswith("_bucket")
        and s.labels["provider"] == "office"
        and s.labels["operation"] == "send"
    ]
    assert buckets == BUCKETS


def test_pre_initialised_values_say_nothing_is_known_yet() -> None:
    metrics = Metrics(["office"])
    value = metrics.registry.get_sample_value

    def provider(metric: str, **labels: str) -> float | None:
        return value(metric, {"provider": "office", **labels})

    balance = provider("smsrouter_provider_balance", unit="unknown")
    assert balance is not None
    assert math.isnan(balance)  # unknown, not zero
    messages = provider("smsrouter_provider_balance_messages")
    assert messages is not None
    assert math.isnan(messages)
    assert provider("smsrouter_provider_balance_last_success_timestamp_seconds") == 0
    assert [provider("smsrouter_provider_breaker_state", state=s) for s in STATES] == [1, 0, 0]
    assert provider("smsrouter_attempts_total", outcome="accepted") == 0
    metrics.set_balance("office", Balance(Decimal("12.5"), "ZAR", 1_700_000_000.0), None)
    assert provider("smsrouter_provider_balance", unit="ZAR") == 12.5
    assert provider("smsrouter_provider_balance", unit="unknown") is None  # one series
    assert provider("smsrouter_provider_balance_last_success_timestamp_seconds") == 1.7e9
    metrics.set_breaker("office", BreakerState.HALF_OPEN)
    assert [provider("smsrouter_provider_breaker_state", state=s) for s in STATES] == [0, 0, 1]


def test_a_watched_breaker_shows_its_state_at_the_scrape(clock: FakeClock) -> None:
    metrics = Metrics(["office"])
    b = Breaker("office", BreakerSettings(threshold=1, cooldown=30), clock)
    metrics.watch_breaker("office", lambda: b.state)

    def shown() -> list[float | None]:
        text = metrics.exposition().decode()
        (family,) = [
            f
            for f in text_string_to_metric_families(text)
            if f.name == "smsrouter_provider_breaker_state"
        ]
        return [s.value for s in family.samples]  # closed, open, half_open

    assert shown() == [1, 0, 0]
    assert b.acquire()
    b.record(Outcome.UNAVAILABLE)
    assert shown() == [0, 1, 0]
    clock.advance(30)  # nothing read the breaker since: the scrape does
    assert shown() == [0, 0, 1]


@pytest.mark.parametrize("name", ["123", "1e5", "nan", "inf", " ", ""])
def test_a_provider_name_that_reads_as_a_number_is_refused(name: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Metrics([name])
    assert raised.value.problems == (
        f'providers."{name}": a provider name must be a word (it labels metrics)',
    )


# -- through Routers -------------------------------------------------------------------------


@attrs.frozen
class VaultConfig:
    """Credentials that must never show."""

    username: str
    password: Secret


class VaultProvider(Provider[VaultConfig]):
    """Takes every message, answering ids made of the number and the message id."""

    type_name = "vault"
    Config = VaultConfig
    capabilities = Capabilities(max_recipients=10, balance=True)

    async def send(self, batch: Batch) -> list[RecipientOutcome]:
        return [
            RecipientOutcome(
                r.e164,
                Outcome.ACCEPTED,
                f"{batch.message_id}-{r.digits}",
                cost=Decimal("0.07"),
                balance=Decimal("987.65"),
            )
            for r in batch.recipients
        ]

    async def balance(self) -> Balance:
        return Balance(Decimal("1000.25"), "AUD")


class Vault:
    """A plugin registering the ``vault`` provider type."""

    @hookimpl
    def smsrouter_register_providers(self, registry: ProviderRegistry) -> None:
        """Register it."""
        registry.add(VaultProvider)


@pytest.fixture
async def routers(clock: FakeClock) -> AsyncIterator[list[Router]]:
    """Two Routers in one process, each with a vault and a fake provider."""
    made = []
    for _ in range(2):
        config: Mapping[str, Any] = {
            "router": {"policy": ["priority"]},
            "providers": {
                "vault": {
                    "plugin": "vault",
                    "username": "acme",
                    "password": PASSWORD,
                    "prices": {"61": 0.05},
                },
                "spare": {"plugin": "fake"},
            },
        }
        r = Router(config, plugins=[router.testing, Vault()], clock=clock)
        await r.start(track_balances=False)
        made.append(r)
    yield made
    for r in made:
        await r.aclose()


async def test_two_routers_in_one_process_keep_their_own_series(routers: list[Router]) -> None:
    first, second = routers
    assert first.metrics.registry is not second.metrics.registry
    await first.send(Message(to=[AU, AU2], text="hi"))

    def attempts(r: Router) -> float | None:
        return r.metrics.registry.get_sample_value(
            "smsrouter_attempts_total", {"provider": "vault", "outcome": "accepted"}
        )

    assert (attempts(first), attempts(second)) == (2, 0)
    assert sorted(parse(first.metrics)) == sorted(parse(second.metrics))


async def test_no_label_is_a_number_a_message_id_or_a_secret(routers: list[Router]) -> None:
    r = routers[0]
    result = await r.send(Message(to=[AU, AU2], text="hi", reference="order-77"))
    await r.balance("vault")
    ids = [x.provider_message_id or "" for x in result.recipients]
    assert ids == [f"{result.message_id}-{AU[1:]}", f"{result.message_id}-{AU2[1:]}"]
    text = r.metrics.exposition().decode()
    forbidden = [PASSWORD, AU, AU[1:], AU2[1:], result.message_id, "order-77", *ids]
    assert [word for word in forbidden if word in text] == []
    for family in text_string_to_metric_families(text):
        if not family.name.startswith("smsrouter_"):
            continue  # the process's and Python's own, with their generations and versions
        for s in family.samples:
            for label, value in s.labels.items():
                if label == "le":
                    continue  # a histogram bucket's bound is a number by design
                with pytest.raises(ValueError, match="could not convert"):
                    float(value)
    # The send did count, by closed labels only.
    sample = r.metrics.registry.get_sample_value
    assert sample("smsrouter_recipients_total", {"status": "accepted"}) == 2
    assert sample("smsrouter_segments_sent_total", {"provider": "vault"}) == 2
    assert sample("smsrouter_cost_sent_total", {"provider": "vault"}) == pytest.approx(0.14)
    assert sample("smsrouter_provider_balance", {"provider": "vault", "unit": "AUD"}) == 1000.25
