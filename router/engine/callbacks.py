"""Provider pushes: delivery reports and inbound texts, each matched once and announced once.

:class:`Callbacks` has the adapter parse a push, journals what it holds, matches each
delivery report to its message and recipient (once: the event hooks get both), and counts
and announces a push the provider sent again only the first time.

A provider may push a delivery report while the engine is still writing down the attempt
that produced it (a fast provider, a slow disk). Such a report matches nothing yet; it is
held in :class:`EarlyReports`, keyed by what could match it, and applied as soon as an
attempt with that provider message id or reference is journalled. Where the journal is
shared, another instance may journal that attempt, so held reports are also looked for in
the journal again every second. Held reports are bounded in number, total size and age.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence

import attrs

from router.clock import Clock
from router.engine.metrics import Metrics
from router.engine.providers import ProviderState
from router.errors import StoreError
from router.model import (
    CallbackKind,
    CallbackRequest,
    CallbackResult,
    DeliveryReport,
    InboundMessage,
)
from router.plugins import Events
from router.state import Pushes
from router.state.repeats import held_size
from router.store import MessageStore, ReportMatch

FinalListener = Callable[[DeliveryReport, ReportMatch], Awaitable[None]]
"""Told of each report that gave a recipient its final delivery status."""

log = logging.getLogger("smsrouter")


class Callbacks:
    """The way back from the providers: their pushes, into the journal and the hooks.

    Args:
        providers: every enabled provider's state, by configured name.
        store: the journal reports and inbound texts are written to.
        metrics: where reports and inbound texts are counted.
        events: the event hooks told of each.
        pushes: the recent pushes, so a repeated one is counted and announced once.
        clock: the time a push is journalled at.
        inbound_rules: what acts on each new inbound text first (opt-out keywords).
        on_final: told, in turn, of each report that gave a recipient its final delivery
            status.
    """

    def __init__(
        self,
        *,
        providers: Mapping[str, ProviderState],
        store: MessageStore,
        metrics: Metrics,
        events: Events,
        pushes: Pushes,
        clock: Clock,
        inbound_rules: Callable[[InboundMessage], Awaitable[None]] | None = None,
        on_final: Sequence[FinalListener] = (),
    ) -> None:
        self.on_final = on_final
        self.providers = providers
        self.store = store
        self.metrics = metrics
        self.events = events
        self.pushes = pushes
        self.clock = clock
        self.inbound_rules = inbound_rules
        self.early = EarlyReports()
        self._again: asyncio.Task[None] | None = None

    async def handle(
        self, provider: str, kind: CallbackKind, request: CallbackRequest
    ) -> CallbackResult:
        """Parse *provider*'s push, journal what it holds; the answer the provider expects.

        Raises:
            KeyError: no such provider is configured.
            CallbackError: the provider's adapter refused the push.
        """
        state = self.providers[provider]
        result = state.provider.parse_callback(kind, request)
        now = self.clock.time()
        for report in result.reports:
            if not await self.pushes.first_time(report):
                await self.store.apply_report(report, now)  # idempotent; not counted again
                continue
            self.metrics.delivery_reports.labels(provider, report.status.value).inc()
            await self.apply(report, now, hold=True)
        for inbound in result.inbound:
            answered = await self.store.add_inbound(inbound, now)
            key = (
                (provider, inbound.provider_message_id) if inbound.provider_message_id else inbound
            )
            if not await self.pushes.first_time(key):
                continue
            if answered is not None and inbound.in_reply_to != answered:
                inbound = attrs.evolve(inbound, in_reply_to=answered)
            self.metrics.inbound.labels(provider).inc()
            if self.inbound_rules is not None:
                await self.inbound_rules(inbound)
            await self.events.inbound_message(inbound)
        return result

    async def apply(self, report: DeliveryReport, now: float, *, hold: bool) -> None:
        """Journal *report* and announce it; with *hold*, keep an unmatched one for later."""
        matched = await self.store.apply_report(report, now)
        if matched is None and hold and self.early.hold(report, now):
            if self.store.shared:
                self._look_again_soon()
            return  # its attempt may still be being journalled: applied when it is
        await self._announce(report, matched)

    async def _announce(self, report: DeliveryReport, matched: ReportMatch | None) -> None:
        """Tell the final-report listeners and the event hooks what *report* matched."""
        status = None if matched is None or not matched.applied else matched.status
        if matched is not None and status is not None and status.is_final:
            for listener in self.on_final:
                await listener(report, matched)
        if matched is None:
            log.info(
                "provider %r: delivery report for an unknown message (%s)",
                report.provider,
                report.provider_message_id or report.ref,
            )
            await self.events.delivery_report(report, None, None, applied=False)
        else:
            await self.events.delivery_report(
                report, matched.message_id, matched.ref, applied=matched.applied
            )

    def _look_again_soon(self) -> None:
        """Look at the held reports every :data:`LOOK_AGAIN` seconds while any are held: in
        a shared journal, the attempt a report belongs to may be journalled by another
        instance, which releases nothing here."""
        if self._again is None or self._again.done():
            self._again = asyncio.get_running_loop().create_task(self._look_again())

    async def _look_again(self) -> None:
        while len(self.early):
            await self.clock.sleep(LOOK_AGAIN)
            now = self.clock.time()
            for since, report in self.early.take_all(now):
                await self._apply_held(report, now, since)

    async def _apply_held(self, report: DeliveryReport, now: float, since: float) -> None:
        """Apply a held report, else hold it again with its age (given up after
        :data:`MAX_AGE`): its attempt may be journalled yet, by another instance, or by
        another message of a coalesced call, whose recipients share the call's id."""
        try:
            matched = await self.store.apply_report(report, now)
        except StoreError:
            matched = None  # the journal failing: look again later
        if matched is None:
            self.early.hold(report, now, since=since)
        else:
            await self._announce(report, matched)

    async def stop(self) -> None:
        """Stop looking at held reports (they are given up as unknown)."""
        if self._again is not None:
            self._again.cancel()
            await asyncio.gather(self._again, return_exceptions=True)
            self._again = None

    async def release(self, provider: str, keys: tuple[str | None, ...]) -> None:
        """Apply the reports held for an attempt of *provider* just journalled with *keys*."""
        if not len(self.early):
            return
        now = self.clock.time()
        for since, report in self.early.take(provider, keys, now):
            await self._apply_held(report, now, since)  # called after a send: never raises


LOOK_AGAIN = 1.0
"""Seconds between looks at held reports, where another instance may journal their attempt."""
MAX_HELD = 10_000
MAX_AGE = 600.0
"""Seconds a report is held before it is given up as unknown."""
MAX_HELD_BYTES = 8 * 1024 * 1024
"""About how many bytes of reports are held at most (see :func:`held_size`)."""


class EarlyReports:
    """Reports waiting for their attempt to be journalled: bounded in number, size and age."""

    def __init__(
        self, max_held: int = MAX_HELD, max_age: float = MAX_AGE, max_bytes: int = MAX_HELD_BYTES
    ) -> None:
        self.max_held = max_held
        self.max_age = max_age
        self.max_bytes = max_bytes
        self._held: OrderedDict[tuple[str, str], list[tuple[float, DeliveryReport]]] = OrderedDict()
        self.dropped = 0
        self.held_bytes = 0
        """About how many bytes the held reports take."""

    def __len__(self) -> int:
        return sum(len(reports) for reports in self._held.values())

    def hold(self, report: DeliveryReport, now: float, *, since: float | None = None) -> bool:
        """Keep *report* for later (held since *since*, else *now*: its age counts from
        then); False when it carries nothing to match it by."""
        key = report.provider_message_id or report.ref
        if key is None:
            return False
        self._expire(now)
        size = held_size(report)
        if size > self.max_bytes:
            self.dropped += 1
            return True  # too large to hold: given up as unknown at once
        self._held.setdefault((report.provider, key), []).append(
            (now if since is None else since, report)
        )
        self.held_bytes += size
        while len(self._held) > self.max_held or self.held_bytes > self.max_bytes:
            self._drop_oldest()
        return True

    def take(
        self, provider: str, keys: tuple[str | None, ...], now: float
    ) -> list[tuple[float, DeliveryReport]]:
        """The held reports of *provider* that any of *keys* may match, each with when it
        was first held, oldest first."""
        if not self._held:
            return []
        self._expire(now)
        found: list[tuple[float, DeliveryReport]] = []
        for key in keys:
            if key is not None:
                taken = self._held.pop((provider, key), [])
                self.held_bytes -= sum(held_size(report) for _, report in taken)
                found.extend(taken)
        return sorted(found, key=lambda pair: pair[0])

    def take_all(self, now: float) -> list[tuple[float, DeliveryReport]]:
        """Every report held (those too old given up first), each with when it was first
        held, oldest first; none is held after."""
        self._expire(now)
        found = [pair for reports in self._held.values() for pair in reports]
        self._held.clear()
        self.held_bytes = 0
        return sorted(found, key=lambda pair: pair[0])

    def _expire(self, now: float) -> None:
        while self._held:
            reports = next(iter(self._held.values()))
            if now - reports[-1][0] <= self.max_age:
                return
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        _, reports = self._held.popitem(last=False)
        self.held_bytes -= sum(held_size(report) for _, report in reports)
        self.dropped += len(reports)
