"""Prometheus metrics: one :class:`Metrics` per Router, owning its own registry.

Never the global registry, so two Routers in one process do not collide. Every label comes
from a closed set (provider names from config, outcomes, statuses, operations) and is
pre-initialised for each configured provider; no number, message id or secret is a label.
A balance not yet read is NaN (unknown), not zero, in the unit ``unknown``; once read, its
series carries the unit the provider answered in (``credits`` or a currency code), so a
dashboard never adds credits to roubles. The registry also has ``smsrouter_build_info`` and
the process's own metrics (CPU, memory, file descriptors, start time), as a Prometheus
client's default registry would.
"""

from __future__ import annotations

import math
import platform
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import TypeVar

from prometheus_client import (
    GC_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics import MetricWrapperBase

from router.errors import ConfigError
from router.model import Balance, DeliveryStatus, Outcome, RecipientStatus, SendResult
from router.provider import Operation
from router.state import BreakerState
from router.version import VERSION

MESSAGE_STATUSES = ("accepted", "partial", "failed")
"""A message is accepted (every recipient), partial (some) or failed (none)."""
FAILOVER_REASONS = (
    Outcome.PROVIDER_ERROR,
    Outcome.UNAVAILABLE,
    Outcome.AMBIGUOUS,
    Outcome.REJECTED_RECIPIENT,  # only with router.on_rejected_recipient = "failover"
)
POLL_OUTCOMES = ("success", "error")
UNKNOWN_UNIT = "unknown"
"""The ``unit`` of a balance not read yet."""
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

M = TypeVar("M", bound=MetricWrapperBase)


class Metrics:
    """Every series smsrouter exports, on a registry of its own."""

    def __init__(self, providers: Iterable[str] = (), namespace: str = "smsrouter") -> None:
        # Long but flat: one declaration per metric family, each read on its own.
        self.registry = CollectorRegistry(auto_describe=True)
        self._series: dict[tuple[int, tuple[str, ...]], MetricWrapperBase] = {}
        r, ns = self.registry, namespace
        self._units: dict[str, str] = {}
        """The unit each provider's balance series shows now."""
        self.build = Info("build", "The running smsrouter's version", namespace=ns, registry=r)
        self.build.info({"version": VERSION, "python": platform.python_version()})
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        r.register(GC_COLLECTOR)
        self.messages = Counter(
            "messages", "Messages sent, by final status", ["status"], namespace=ns, registry=r
        )
        self.recipients = Counter(
            "recipients",
            "Recipients of sent messages, by final status",
            ["status"],
            namespace=ns,
            registry=r,
        )
        self.attempts = Counter(
            "attempts",
            "Attempts to hand a recipient to a provider, by outcome",
            ["provider", "outcome"],
            namespace=ns,
            registry=r,
        )
        self.failovers = Counter(
            "failovers",
            "Recipients moved on from a provider, by the outcome that moved them",
            ["provider", "reason"],
            namespace=ns,
            registry=r,
        )
        self.request_duration = Histogram(
            "provider_request_duration_seconds",
            "Duration of calls to providers",
            ["provider", "operation"],
            namespace=ns,
            registry=r,
            buckets=_LATENCY_BUCKETS,
        )
        self.in_flight = Gauge(
            "provider_requests_in_flight",
            "Calls to a provider under way",
            ["provider"],
            namespace=ns,
            registry=r,
        )
        self.balance = Gauge(
            "provider_balance",
            "Last known balance, in its unit: credits or a currency code (unknown: not read)",
            ["provider", "unit"],
            namespace=ns,
            registry=r,
        )
        self.balance_messages = Gauge(
            "provider_balance_messages",
            "Messages of one segment the last known balance pays for: a credit each, or at "
            "the provider's dearest configured price; NaN when the balance or price is unknown",
            ["provider"],
            namespace=ns,
            registry=r,
        )
        self.balance_success = Gauge(
            "provider_balance_last_success_timestamp_seconds",
            "When the balance was last read successfully",
            ["provider"],
            namespace=ns,
            registry=r,
        )
        self.balance_polls = Counter(
            "balance_polls",
            "Balance polls, by outcome",
            ["provider", "outcome"],
            namespace=ns,
            registry=r,
        )
        self.breaker = Gauge(
            "provider_breaker_state",
            "Circuit breaker state: 1 for the current state",
            ["provider", "state"],
            namespace=ns,
            registry=r,
        )
        self.limiter_waits = Counter(
            "limiter_waits",
            "Calls that waited for a slot in the provider's budget",
            ["provider"],
            namespace=ns,
            registry=r,
        )
        self.limiter_timeouts = Counter(
            "limiter_timeouts",
            "Calls that gave up waiting for a slot",
            ["provider"],
            namespace=ns,
            registry=r,
        )
        self.coalesced_calls = Counter(
            "coalesced_calls",
            "Send calls that carried several queued messages of one text",
            ["provider"],
            namespace=ns,
            registry=r,
        )
        self.coalesced_messages = Counter(
            "coalesced_messages",
            "Queued messages sent in a call shared with others",
            ["provider"],
            namespace=ns,
            registry=r,
        )
        self.segments = Counter(
            "segments_sent",
            "SMS segments accepted by providers",
            ["provider"],
            namespace=ns,
            registry=r,
        )
        self.cost = Counter(
            "cost_sent",
            "Estimated cost of accepted messages, in the base currency",
            ["provider"],
            namespace=ns,
            registry=r,
        )
        self.delivery_reports = Counter(
            "delivery_reports",
            "Delivery reports received, by status",
            ["provider", "status"],
            namespace=ns,
            registry=r,
        )
        self.inbound = Counter(
            "inbound_messages",
            "Inbound messages received",
            ["provider"],
            namespace=ns,
            registry=r,
        )
        self.suspended = Gauge(
            "provider_suspended",
            "1 while an operator has the provider suspended (no message is routed to it)",
            ["provider"],
            namespace=ns,
            registry=r,
        )
        for status in MESSAGE_STATUSES:
            self.messages.labels(status)
        for recipient_status in RecipientStatus:
            self.recipients.labels(recipient_status.value)
        for provider in providers:
            self.add_provider(provider)

    def add_provider(self, provider: str) -> None:
        """Pre-initialise every labelled series of *provider*.

        Raises:
            ConfigError: the name is empty or reads as a number, which a label never is.
        """
        _check_label(provider)
        self._units[provider] = UNKNOWN_UNIT
        self.balance.labels(provider, UNKNOWN_UNIT).set(math.nan)
        self.balance_messages.labels(provider).set(math.nan)
        self.balance_success.labels(provider)
        for outcome in Outcome:
            self.attempts.labels(provider, outcome.value)
        for reason in FAILOVER_REASONS:
            self.failovers.labels(provider, reason.value)
        for operation in Operation:
            self.request_duration.labels(provider, operation.value)
        for poll in POLL_OUTCOMES:
            self.balance_polls.labels(provider, poll)
        for state in BreakerState:
            self.breaker.labels(provider, state.value).set(state is BreakerState.CLOSED)
        for status in DeliveryStatus:
            self.delivery_reports.labels(provider, status.value)
        for per_provider in (
            self.in_flight,
            self.limiter_waits,
            self.limiter_timeouts,
            self.coalesced_calls,
            self.coalesced_messages,
            self.segments,
            self.cost,
            self.inbound,
            self.suspended,
        ):
            per_provider.labels(provider)

    def series(self, metric: M, *labels: str) -> M:
        """*metric*'s series for *labels*, as ``metric.labels(*labels)`` gives it.

        Remembered: ``labels()`` checks its arguments and takes a lock on every call, which
        the send path would pay several times per message.
        """
        key = (id(metric), labels)
        found = self._series.get(key)
        if found is None:
            found = self._series[key] = metric.labels(*labels)
        return found  # type: ignore[return-value]

    def count_result(self, result: SendResult) -> None:
        """Count a sent message and its recipients by their final status."""
        statuses = [r.status for r in result.recipients]
        for status in statuses:
            self.series(self.recipients, status.value).inc()
        accepted = sum(1 for s in statuses if s is RecipientStatus.ACCEPTED)
        overall = "accepted" if accepted == len(statuses) else "partial" if accepted else "failed"
        self.series(self.messages, overall).inc()

    def set_breaker(self, provider: str, state: BreakerState) -> None:
        """Show *state* as the current breaker state of *provider*."""
        for each in BreakerState:
            self.breaker.labels(provider, each.value).set(each is state)

    def watch_breaker(self, provider: str, state: Callable[[], BreakerState]) -> None:
        """Read *provider*'s breaker state through *state* at each scrape.

        A breaker moves from open to half-open when its state is next read; read at the
        scrape, the gauge never shows a cooldown that has ended. :meth:`set_breaker` is
        ignored for *provider* from then on.
        """
        for each in BreakerState:
            self.breaker.labels(provider, each.value).set_function(
                lambda each=each: float(state() is each)  # type: ignore[misc]
            )

    def set_balance(
        self, provider: str, balance: Balance, messages: Decimal | None, *, read: bool = True
    ) -> None:
        """Show *balance*, which pays for *messages* (None: unknown); *read*: a poll's answer.

        A balance in another unit than the last one replaces that series: one balance
        series per provider, in the unit it is in now.
        """
        unit = balance.unit
        if self._units.get(provider) != unit:
            old = self._units.get(provider)
            if old is not None:
                self.balance.remove(provider, old)
                self._series.pop((id(self.balance), (provider, old)), None)
            self._units[provider] = unit
        self.series(self.balance, provider, unit).set(float(balance.amount))
        self.series(self.balance_messages, provider).set(
            math.nan if messages is None else float(messages)
        )
        if read:
            self.balance_success.labels(provider).set(balance.at)

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


def _check_label(provider: str) -> None:
    try:
        float(provider)
    except ValueError:
        if provider.strip():
            return
    raise ConfigError(
        [f'providers."{provider}": a provider name must be a word (it labels metrics)']
    )
