"""The send loop: rounds of batched attempts until every recipient has a final status.

For each recipient the routes give providers in failover order. Recipients going to the
same provider are batched up to its declared batch size; each batch passes the provider's
breaker and budget, then the adapter's outcome decides: accepted or rejected stop,
provider_error and unavailable fail over, ambiguous is resolved by a status query where
the provider has one, else by ``on_ambiguous``. Every attempt is journalled before it is
made and when it ends, so a restart resumes exactly where a crash cut the loop short.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from decimal import Decimal

from router.clock import Clock
from router.config import RouterSettings
from router.engine.balances import BalanceTracker
from router.engine.callbacks import Callbacks
from router.engine.calls import ProviderCalls
from router.engine.coalesce import Coalescer
from router.engine.countries import admitted
from router.engine.loading import journal_message
from router.engine.metrics import Metrics
from router.engine.prepare import Prepared
from router.engine.providers import ProviderState
from router.engine.quality import QualityTracker
from router.engine.recover import Progress, Recovery, settle_ambiguous
from router.engine.resolve import Resolver
from router.errors import NoRouteError
from router.model import (
    Attempt,
    Batch,
    ErrorKind,
    Outcome,
    Recipient,
    RecipientOutcome,
    RecipientResult,
    RecipientStatus,
    SendResult,
)
from router.plugins import Events
from router.policy import Route, price_per_segment, suspension_reason, to_base
from router.store import MessageRecord, MessageStore

log = logging.getLogger("smsrouter")


class SendLoop:
    """Sending prepared messages along their routes, journalled, counted and announced.

    Args:
        settings: the ``[router]`` table (attempts, ambiguity and rejection rules,
            currencies).
        providers: every enabled provider's state, by configured name.
        store: the journal every attempt and result is written to.
        calls: how an adapter is called.
        balances: told of every accepted send and every no-credit answer.
        callbacks: holds reports that came before their attempt was journalled.
        metrics: where attempts, failovers, costs and results are counted.
        events: the event hooks told of every routed message.
        clock: the time attempts are stamped with.
    """

    def __init__(
        self,
        *,
        settings: RouterSettings,
        providers: Mapping[str, ProviderState],
        store: MessageStore,
        calls: ProviderCalls,
        balances: BalanceTracker,
        callbacks: Callbacks,
        metrics: Metrics,
        events: Events,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.quality: QualityTracker | None = None
        """Counts each accepted send in the delivery statistics, once wired."""
        self.providers = providers
        self.store = store
        self.calls = calls
        self.balances = balances
        self.callbacks = callbacks
        self.metrics = metrics
        self.events = events
        self.clock = clock
        self.resolver = Resolver(calls, clock)
        self.coalescer = Coalescer(calls, clock, settings.coalesce_window)
        self.recovery = Recovery(settings, providers, store, self.resolver, clock)

    def first_call(self, prepared: Prepared, routes: Sequence[Route]) -> str | None:
        """The provider of a new message's first attempt when it is one call (every first
        candidate the same, within its batch size, its breaker acquired here), else None;
        a caller that journals nothing after all must :meth:`abandon` it."""
        if self.settings.max_attempts < 1 or not routes:
            return None
        firsts = {route.providers[0] if route.providers else None for route in routes}
        if len(firsts) != 1:
            return None
        (name,) = firsts
        if name is None:
            return None
        state = self.providers[name]
        if state.suspended is not None or state.countries.closed_to():
            return None
        if len(routes) > max(1, state.provider.capabilities.max_recipients):
            return None
        return name if state.breaker.acquire() else None

    async def journal_new(
        self, prepared: Prepared, routes: Sequence[Route], settled: Mapping[str, object]
    ) -> tuple[MessageRecord, bool, str | None]:
        """Journal a new message, with its first call's start when it has one (nothing
        *settled*): (record, created, that provider); a duplicate gives the breaker back."""
        started = None if settled else self.first_call(prepared, routes)
        try:
            record, created = await journal_message(
                self.store, prepared, self.clock.time(), started
            )
        except BaseException:
            self.abandon(started)
            raise
        if not created:
            self.abandon(started)
        return record, created, started if created else None

    def abandon(self, started: str | None) -> None:
        """Give back the breaker :meth:`first_call` took for a call that is not made."""
        if started is not None:
            self.providers[started].breaker.abandon()

    async def deliver(
        self,
        prepared: Prepared,
        routes: Sequence[Route],
        record: MessageRecord | None = None,
        *,
        settled: Mapping[str, RecipientResult] | None = None,
        started: str | None = None,
        queued: bool = False,
    ) -> SendResult:
        """Send *prepared* along *routes*; *record* is its journal entry when resuming.

        Recipients in *settled* (by reference) are not sent: their results are given
        (opted out, expired, held until later; :mod:`router.compliance`). *started* is
        the provider :meth:`first_call` gave, the message journalled with that attempt
        started: the first round makes it without journalling its start. A *queued*
        message (nobody waits on it) may share its calls with others of the same text
        (:mod:`router.engine.coalesce`).

        Raises:
            NoRouteError: every recipient failed; it carries each provider's reasons.
        """
        # Long but in order: the recipients' progress, the rounds, the result, the why.
        message, text = prepared.message, prepared.text
        progress = []
        for recipient, route in zip(prepared.recipients, routes, strict=True):
            reasons = {e.provider: f"{e.policy}: {e.reason}" for e in route.excluded}
            progress.append(Progress(recipient, route.providers, reasons))
            progress[-1].result = (settled or {}).get(recipient.ref)
        if record is not None:
            await self.recovery.recover(record, progress)
        pending = [p for p in progress if p.result is None]
        ended: list[tuple[str, Progress]] = []
        """Final attempts not journalled yet: the result journals them, or the next round."""
        while pending:
            if started is not None:
                await self._attempt(prepared, started, pending, ended, started=True)
                started = None
            else:
                await self._round(prepared, pending, ended, queued=queued)
            pending = [p for p in progress if p.result is None]
            if pending and ended:
                await self._journal_ended(message.id, ended)
        result = SendResult(
            message_id=message.id,
            reference=message.reference,
            recipients=tuple(p.result for p in progress if p.result is not None),
            encoding=text.encoding,
            segments=text.segments,
        )
        # The result holds every attempt, so the final ones are journalled with it: one
        # write for the outcome. Until it lands their in-flight mark stands, as it did
        # between the send and its end: a crash then is resolved as any interrupted call.
        refs = {r.ref: r for r in prepared.recipients} if self.quality is not None else {}
        sent = self.quality.samples(refs, result.recipients) if self.quality is not None else []
        await self.store.finish(result, sent)
        await self._release(message.id, ended)
        self.metrics.count_result(result)
        await self.events.message_routed(message, result)
        if {r.status for r in result.recipients} == {RecipientStatus.FAILED}:
            why: dict[str, list[str]] = {}
            for p in progress:
                for provider, reason in p.reasons.items():
                    seen = why.setdefault(provider, [])
                    if reason not in seen:  # one line per distinct reason, recipients alike
                        seen.append(reason)
            raise NoRouteError({k: "; ".join(v) for k, v in why.items()}, result)
        return result

    async def send_one(self, prepared: Prepared, item: Progress) -> RecipientResult:
        """Send one recipient along its candidates until it ends (a redelivery's)."""
        ended: list[tuple[str, Progress]] = []
        while item.result is None:
            await self._round(prepared, [item], ended)
            await self._journal_ended(prepared.message.id, ended)
        return item.result

    async def _journal_ended(self, message_id: str, ended: list[tuple[str, Progress]]) -> None:
        """Journal the final attempts held back, before another round is made."""
        for _, item in ended:
            await self.store.attempt_ended(message_id, item.recipient.ref, item.attempts[-1])
        await self._release(message_id, ended)

    async def _release(self, message_id: str, ended: list[tuple[str, Progress]]) -> None:
        """Apply the reports that came before the attempts in *ended* were journalled."""
        for name, item in ended:
            keys = (item.attempts[-1].provider_message_id, item.recipient.ref, message_id)
            await self.callbacks.release(name, keys)
        ended.clear()

    def _final(self, item: Progress, outcome: RecipientOutcome) -> bool:
        """Whether *outcome* ends its recipient here, with no call or failover after it."""
        if outcome.outcome is Outcome.ACCEPTED:
            return True
        if not outcome.outcome.is_rejection:
            return False
        more = item.position + 1 < len(item.candidates)
        wanted = self.settings.on_rejected_recipient == "failover"
        return not (outcome.outcome is Outcome.REJECTED_RECIPIENT and wanted and more)

    async def _round(
        self,
        prepared: Prepared,
        pending: list[Progress],
        ended: list[tuple[str, Progress]],
        *,
        queued: bool = False,
    ) -> None:
        """One attempt for every pending recipient: batched per provider, concurrently."""
        segments = prepared.text.segments
        groups: dict[str, list[Progress]] = {}
        for item in pending:
            if (
                item.position >= len(item.candidates)
                or len(item.attempts) - item.first >= self.settings.max_attempts
            ):
                item.finish(RecipientStatus.FAILED, segments=segments)
                continue
            groups.setdefault(item.candidates[item.position], []).append(item)
        calls = []
        for name, items in groups.items():
            size = max(1, self.providers[name].provider.capabilities.max_recipients)
            for start in range(0, len(items), size):
                part = items[start : start + size]
                calls.append(self._attempt(prepared, name, part, ended, queued=queued))
        if len(calls) == 1:
            await calls[0]  # the common case: a task and a gather would only cost time
        else:
            await asyncio.gather(*calls)

    async def _attempt(
        self,
        prepared: Prepared,
        name: str,
        items: list[Progress],
        ended: list[tuple[str, Progress]],
        *,
        started: bool = False,
        queued: bool = False,
    ) -> None:
        """One call to *name* for *items* (*started*: its breaker and journal mark taken; a
        *queued* message's may be coalesced with others'); a final outcome's attempt goes to
        *ended*, journalled with the result or next round."""
        # One call, start to end: breaker, journal mark, the send, then each outcome in turn.
        message, text = prepared.message, prepared.text
        state = self.providers[name]
        # Suspended since the route was decided; a call whose start is journalled already
        # (first_call checked it then) goes on as a send under way does.
        if not started and state.suspended is not None:
            for item in items:
                item.reasons[name] = suspension_reason(state.suspended.reason)
                item.position += 1
            return
        if not started and not state.breaker.acquire():
            for item in items:
                item.reasons[name] = f"circuit breaker {state.breaker.state}"
                item.position += 1
            return
        items = admitted(state, items)
        if not items:
            state.breaker.abandon()
            return
        batch = Batch(
            message_id=message.id,
            text=message.text,
            sender=message.sender,
            sender_kind=prepared.sender_kind,
            encoding=text.encoding,
            segments=text.segments,
            recipients=tuple(i.recipient for i in items),
            attempt=1 + sum(1 for a in items[0].attempts if a.provider == name),
        )

        async def start(via: str | None) -> None:
            for item in items:
                item.via = via
            refs = [i.recipient.ref for i in items]
            await self.store.attempt_started(message.id, name, refs, self.clock.time(), via=via)

        try:
            outcomes = await self.coalescer.send(state, batch, None if started else start, queued)
        except BaseException:  # the breaker was given back (or counted the call)
            for item in items:
                state.countries.abandon(item.recipient.country)
            raise
        for item in items:
            outcome = outcomes[item.recipient.e164]
            state.countries.record(item.recipient.country, outcome.outcome, outcome.kind)
            attempt = Attempt(
                provider=name,
                outcome=outcome.outcome,
                reason=outcome.reason,
                provider_message_id=outcome.provider_message_id,
                kind=outcome.kind,
                at=self.clock.time(),
            )
            item.attempts.append(attempt)
            self.metrics.series(self.metrics.attempts, name, outcome.outcome.value).inc()
            if self._final(item, outcome):
                ended.append((name, item))  # journalled with the result, or before a round
            else:
                await self.store.attempt_ended(message.id, item.recipient.ref, attempt)
                keys = (attempt.provider_message_id, item.recipient.ref, message.id)
                await self.callbacks.release(name, keys)
            await self._settle(state, item, outcome, text.segments)

    async def _settle(
        self, state: ProviderState, item: Progress, outcome: RecipientOutcome, segments: int
    ) -> None:
        """Decide what one recipient's outcome means: stop, fail over, or resolve."""
        name = state.name
        if outcome.outcome is Outcome.ACCEPTED:
            cost = self._accepted(state, item.recipient, segments, outcome)
            item.finish(RecipientStatus.ACCEPTED, name, outcome.provider_message_id, cost, segments)
            return
        if outcome.outcome.is_rejection:
            more = item.position + 1 < len(item.candidates)
            wanted = self.settings.on_rejected_recipient == "failover"
            if not (outcome.outcome is Outcome.REJECTED_RECIPIENT and wanted and more):
                item.finish(RecipientStatus.REJECTED, name, segments=segments)
                return
        item.reasons[name] = f"{outcome.outcome}: {outcome.reason}".rstrip(": ")
        if outcome.kind is ErrorKind.CREDIT:
            self.balances.exhausted(name)
        if outcome.outcome is Outcome.AMBIGUOUS:
            if await settle_ambiguous(self.resolver, state, item, outcome, segments):
                return
            if self.settings.on_ambiguous == "stop":
                item.finish(
                    RecipientStatus.AMBIGUOUS, name, outcome.provider_message_id, segments=segments
                )
                return
        self.metrics.failovers.labels(name, outcome.outcome.value).inc()
        item.position += 1

    def _accepted(
        self, state: ProviderState, recipient: Recipient, segments: int, outcome: RecipientOutcome
    ) -> Decimal | None:
        """Count an accepted recipient, draw down the balance; its cost in base currency."""
        name, common = state.name, state.settings.common
        self.metrics.series(self.metrics.segments, name).inc(segments)
        cost_native = outcome.cost
        if cost_native is None:
            price = price_per_segment(common.prices, recipient.digits, state.price_lengths)
            cost_native = None if price is None else price * segments
        self.balances.spent(name, segments, cost_native, outcome.balance)
        if cost_native is None:
            return None
        settings = self.settings
        cost = to_base(cost_native, common.currency, settings.base_currency, settings.currencies)
        if cost is not None:
            self.metrics.series(self.metrics.cost, name).inc(float(cost))
        return cost
