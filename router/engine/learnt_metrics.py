"""The metrics of routing that learns, read at each scrape from what the Router holds.

Per provider and destination country: the delivery statistics over the window, the learnt
weight, and the country breakers' states; the weights' freeze; and redeliveries by the
provider whose report failed and how they ended. Countries are a bounded set (ISO codes),
and a series shows only once a provider sent there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from router.engine.providers import ProviderState
from router.engine.quality import QualityTracker
from router.model import RecipientStatus
from router.state import BreakerState

OUTCOMES = ("delivered", "failed", "missing", "pending")


class LearntCollector(Collector):
    """Yields the learnt figures and the country breakers as gauges at each scrape."""

    def __init__(
        self,
        quality: QualityTracker,
        providers: Callable[[], Mapping[str, ProviderState]],
        namespace: str = "smsrouter",
    ) -> None:
        self.quality = quality
        self.providers = providers
        self.ns = namespace

    def describe(self) -> list[Metric]:
        return []  # series come and go with the countries sent to

    def collect(self) -> Iterator[Metric]:
        ns, labels = self.ns, ["provider", "country"]
        sends = GaugeMetricFamily(
            f"{ns}_delivery_sends",
            "Sends accepted in the statistics window, by provider and destination country",
            labels=labels,
        )
        outcomes = GaugeMetricFamily(
            f"{ns}_delivery_outcomes",
            "Sends in the window by what their final report said (missing: none in time)",
            labels=[*labels, "outcome"],
        )
        share = GaugeMetricFamily(
            f"{ns}_delivery_delivered_ratio",
            "Delivered of the sends whose outcome counts, in the window",
            labels=labels,
        )
        latency = GaugeMetricFamily(
            f"{ns}_delivery_report_latency_seconds",
            "Mean time from a send to its final report, in the window",
            labels=labels,
        )
        for (provider, country), f in sorted(self.quality.figures.items()):
            sends.add_metric([provider, country], f.sent)
            counts = (f.delivered, f.failed, f.missing, f.pending)
            for name, value in zip(OUTCOMES, counts, strict=True):
                outcomes.add_metric([provider, country, name], value)
            if f.delivered_share is not None:
                share.add_metric([provider, country], f.delivered_share)
            if f.latency is not None:
                latency.add_metric([provider, country], f.latency)
        weight = GaugeMetricFamily(
            f"{ns}_quality_weight",
            "Learnt weight (the share of its traffic a provider keeps) by destination country",
            labels=labels,
        )
        for name in sorted(self.providers()):
            for country, learnt in sorted(self.quality.learnt(name).items()):
                weight.add_metric([name, country], learnt.weight)
        frozen = GaugeMetricFamily(
            f"{ns}_quality_frozen",
            "1 while the learnt weights are frozen",
            value=self.quality.frozen,
        )
        yield from (sends, outcomes, share, latency, weight, frozen, self._breakers())

    def _breakers(self) -> Metric:
        family = GaugeMetricFamily(
            f"{self.ns}_provider_country_breaker_state",
            "Circuit breaker per provider and destination country: 1 for the current state",
            labels=["provider", "country", "state"],
        )
        for name, state in sorted(self.providers().items()):
            countries = state.countries
            for country in sorted(countries.known()):
                now = countries.breaker(country).state
                for each in BreakerState:
                    family.add_metric([name, country, each.value], float(each is now))
        return family


def redeliveries(
    registry: CollectorRegistry, providers: Iterable[str], namespace: str = "smsrouter"
) -> Counter:
    """The redeliveries counter, by the provider whose report failed and the new status,
    its series made for every configured provider."""
    counter = Counter(
        "redeliveries",
        "Recipients sent once more after a failed or expired report, by the provider it"
        " failed on and how the new send ended",
        ["provider", "status"],
        namespace=namespace,
        registry=registry,
    )
    for provider in providers:
        for status in RecipientStatus:
            counter.labels(provider, status.value)
    return counter
