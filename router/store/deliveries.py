"""Delivery statistics in the journal: each accepted send, and its final report, counted
per provider and destination country; and the learnt routing weights beside them.

The engine counts a recipient's send when a provider accepts it
(:meth:`~router.store.MessageStore.record_sends`) and its final delivery report when one
comes (:meth:`~router.store.MessageStore.record_final`). Over a rolling window a store
answers with :class:`DeliveryFigures`: sends, delivered, failed, still missing after the
report timeout (counted as not delivered), and the mean time from send to final report.
Kept in the journal, they survive restarts and are shared by every router on that journal.
:class:`DeliveryJournal` is the contract (every store's ``deliveries``);
:class:`MemoryDeliveries` is the in-memory store's, SQLite's is SQL
(:mod:`router.store._learning`), and the store contract tests hold both to it.
"""

from __future__ import annotations

import abc
import collections
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from router.model import DeliveryStatus


@attrs.frozen
class DeliverySample:
    """One recipient's send a provider accepted, as the statistics count it."""

    provider: str
    country: str
    """The destination country (:attr:`router.Recipient.country`)."""
    ref: str
    """Our reference of the recipient: with the provider, it names the send."""
    sent_at: float


@attrs.frozen
class DeliveryFigures:
    """How one provider delivered to one country over the window."""

    provider: str
    country: str
    sent: int
    """Sends in the window."""
    delivered: int
    failed: int
    """Final reports other than delivered (failed, expired, rejected)."""
    missing: int
    """Sends with no final report after the report timeout: counted as not delivered."""
    pending: int
    """Sends with no final report yet, within the report timeout: not counted yet."""
    latency: float | None
    """Mean seconds from the send to its final report, when any came."""

    @property
    def outcomes(self) -> int:
        """Sends whose outcome counts: delivered, failed or missing."""
        return self.delivered + self.failed + self.missing

    @property
    def delivered_share(self) -> float | None:
        """Delivered of the sends whose outcome counts, or None with none."""
        return self.delivered / self.outcomes if self.outcomes else None


@attrs.frozen
class QualityWeight:
    """A provider's learnt weight to one country: the share of its traffic it keeps."""

    provider: str
    country: str
    weight: float


@attrs.frozen
class QualityState:
    """The learnt weights, when they last moved, and the operator's freeze."""

    weights: tuple[QualityWeight, ...] = ()
    stepped_at: float | None = None
    """When the weights last moved (or were last looked at to move), from the router's clock."""
    frozen: bool = False
    """Frozen through the API: the weights do not move until it is lifted."""


def figures(
    rows: Iterable[tuple[DeliverySample, DeliveryStatus | None, float | None]],
    since: float,
    missing_before: float,
) -> list[DeliveryFigures]:
    """The figures of the sends in *rows* at or after *since*, by provider and country.

    A send before *missing_before* with no final report is missing.
    """
    groups: dict[tuple[str, str], list[float]] = {}
    latencies: dict[tuple[str, str], list[float]] = {}
    for sample, status, final_at in rows:
        if sample.sent_at < since:
            continue
        key = (sample.provider, sample.country)
        counts = groups.setdefault(key, [0, 0, 0, 0, 0])
        counts[0] += 1
        if status is DeliveryStatus.DELIVERED:
            counts[1] += 1
        elif status is not None:
            counts[2] += 1
        elif sample.sent_at < missing_before:
            counts[3] += 1
        else:
            counts[4] += 1
        if status is not None and final_at is not None:
            latencies.setdefault(key, []).append(max(0.0, final_at - sample.sent_at))
    found = []
    for (provider, country), (sent, delivered, failed, missing, pending) in sorted(groups.items()):
        times = latencies.get((provider, country))
        latency = sum(times) / len(times) if times else None
        found.append(
            DeliveryFigures(
                provider, country, int(sent), int(delivered), int(failed), int(missing),
                int(pending), latency,
            )
        )  # fmt: skip
    return found


class DeliveryJournal(abc.ABC):
    """The part of a journal that routing learns from (``MessageStore.deliveries``)."""

    @abc.abstractmethod
    async def record_sends(self, samples: Sequence[DeliverySample]) -> None:
        """Count accepted sends; a (provider, ref) counted before is not counted again."""

    @abc.abstractmethod
    async def record_final(
        self, provider: str, ref: str, status: DeliveryStatus, now: float
    ) -> None:
        """Count the final report of the send of *ref* through *provider*; only the first
        final report of a send counts (one that comes before the send is kept for it)."""

    @abc.abstractmethod
    async def delivery_figures(self, since: float, missing_before: float) -> list[DeliveryFigures]:
        """The statistics of the sends at or after *since*, by provider and country (sorted
        so); a send before *missing_before* without a final report is missing."""

    @abc.abstractmethod
    async def forget_deliveries(self, before: float) -> None:
        """Forget the counted sends made before *before*."""

    @abc.abstractmethod
    async def quality_state(self) -> QualityState:
        """The learnt routing weights, when they last moved, and the API's freeze."""

    @abc.abstractmethod
    async def save_quality(self, state: QualityState) -> None:
        """Keep *state* in place of the one before."""

    @abc.abstractmethod
    async def claim_redelivery(self, message_id: str, ref: str, provider: str, reason: str) -> bool:
        """Mark a recipient sent through *provider* as redelivered, once: True when this
        call marked it (its delivery status is cleared for the new send's reports), False
        when it was marked before or its provider is not *provider*.

        Raises:
            KeyError: no such message.
        """


class MemoryDeliveries(DeliveryJournal):
    """The delivery statistics and learnt weights in memory, bounded to *max_samples*;
    *claim* marks a redelivery in the memory store's messages.

    A final report may come before its send is counted (the provider pushed it at once):
    it waits, without a sample, for the send.
    """

    def __init__(self, max_samples: int, claim: Callable[[str, str, str, str], bool]) -> None:
        self.max_samples = max_samples
        self._claim = claim
        self._rows: collections.OrderedDict[tuple[str, str], _Row] = collections.OrderedDict()
        self.quality = QualityState()

    async def record_sends(self, samples: Sequence[DeliverySample]) -> None:
        self.count(samples)

    def count(self, samples: Sequence[DeliverySample]) -> None:
        """Count *samples* now (the memory store's ``finish`` does, in the same step)."""
        for sample in samples:
            row = self._rows.setdefault((sample.provider, sample.ref), [None, None, None])
            if row[0] is None:
                row[0] = sample
        while len(self._rows) > self.max_samples:
            self._rows.popitem(last=False)

    async def record_final(
        self, provider: str, ref: str, status: DeliveryStatus, now: float
    ) -> None:
        row = self._rows.setdefault((provider, ref), [None, None, None])
        if row[1] is None:
            row[1], row[2] = status, now

    async def delivery_figures(self, since: float, missing_before: float) -> list[DeliveryFigures]:
        rows = [(r[0], r[1], r[2]) for r in self._rows.values() if r[0] is not None]
        return figures(rows, since, missing_before)

    async def forget_deliveries(self, before: float) -> None:
        for key, row in list(self._rows.items()):
            at = row[0].sent_at if row[0] is not None else row[2]
            if at is not None and at < before:
                del self._rows[key]

    async def quality_state(self) -> QualityState:
        return self.quality

    async def save_quality(self, state: QualityState) -> None:
        self.quality = state

    async def claim_redelivery(self, message_id: str, ref: str, provider: str, reason: str) -> bool:
        return self._claim(message_id, ref, provider, reason)


_Row = list[Any]
"""[sample or None, final status or None, when it came or None]."""
