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
from router.engine.metrics import Metrics
from router.engine.prepare import Prepared
from router.engine.progress import Progress
from router.engine.providers import ProviderState
from router.engine.quality import QualityTracker
from router.engine.resolve import Answer, Resolver, Verdict
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
    StatusQuery,
)
from router.plugins import Events
from router.policy import Route, price_per_segment, suspension_reason, to_base
from router.state import account_signal
from router.store import MessageRecord, MessageStore, RecipientRecord

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
        quality: counts each accepted send in the delivery statistics.
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
        quality: QualityTracker | None = None,
    ) -> None:
        self.settings = settings
        self.quality = quality
        self.providers = providers
        self.store = store
        self.calls = calls
        self.balances = balances
        self.callbacks = callbacks
        self.metrics = metrics
        self.events = events
        self.clock = clock
        self.resolver = Resolver(calls, clock)

    async def deliver(
        self,
        prepared: Prepared,
        routes: Sequence[Route],
        record: MessageRecord | None = None,
        *,
        settled: Mapping[str, RecipientResult] | None = None,
    ) -> SendResult:
        """Send *prepared* along *routes*; *record* is its journal entry when resuming.

        Recipients in *settled* (by reference) are not sent: their results are given
        (opted out, expired, held until later; :mod:`router.compliance`).

        Raises:
            NoRouteError: every recipient failed; it carries each provider's reasons.
        """
        message, text = prepared.message, prepared.text
        progress = []
        for recipient, route in zip(prepared.recipients, routes, strict=True):
            reasons = {e.provider: f"{e.policy}: {e.reason}" for e in route.excluded}
            progress.append(Progress(recipient, route.providers, reasons))
            progress[-1].result = (settled or {}).get(recipient.ref)
        if record is not None:
            await self._recover(record, progress)
        pending = [p for p in progress if p.result is None]
        while pending:
            await self._round(prepared, pending)
            pending = [p for p in progress if p.result is None]
        result = SendResult(
            message_id=message.id,
            reference=message.reference,
            recipients=tuple(p.result for p in progress if p.result is not None),
            encoding=text.encoding,
            segments=text.segments,
        )
        await self.store.finish(result)
        if self.quality is not None:
            await self.quality.sent({r.ref: r for r in prepared.recipients}, result.recipients)
        self._count(result)
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

    async def send_again(
        self,
        prepared: Prepared,
        recipient: Recipient,
        candidates: Sequence[str],
        record: RecipientRecord,
    ) -> RecipientResult:
        """Send one recipient of a finished message once more along *candidates* (a
        redelivery), after the attempts of *record*; ``max_attempts`` counts the new ones."""
        item = Progress(recipient, tuple(candidates), {}, attempts=list(record.attempts))
        item.first = len(item.attempts)
        while item.result is None:
            await self._round(prepared, [item])
        message, text, result = prepared.message, prepared.text, item.result
        sent = SendResult(message.id, message.reference, (result,), text.encoding, text.segments)
        await self.store.finish(sent)
        if self.quality is not None:
            await self.quality.sent({recipient.ref: recipient}, sent.recipients)
        return result

    async def _recover(self, record: MessageRecord, progress: list[Progress]) -> None:
        by_ref = {r.ref: r for r in record.recipients}
        for item in progress:
            previous = by_ref.get(item.recipient.ref)
            if previous is None or item.result is not None:
                continue
            item.attempts.extend(previous.attempts)
            last = previous.attempts[-1] if previous.attempts else None
            if previous.in_flight is None and last is not None and self._settled_by(item, last):
                continue
            tried = {a.provider for a in previous.attempts}
            if previous.in_flight is not None:
                if await self._interrupted(record.id, item, previous):
                    continue
                if item.attempts[-1].outcome is Outcome.AMBIGUOUS:
                    tried.add(previous.in_flight)  # it may have it: never send it there again
            item.candidates = tuple(c for c in item.candidates if c not in tried)

    async def _interrupted(
        self, message_id: str, item: Progress, previous: RecipientRecord
    ) -> bool:
        """Settle an attempt a crash cut short, journalled as it ended; True when finished.

        A status query answers where the provider has one (:mod:`router.engine.resolve`):
        taken or refused finish the recipient; never arrived journals the attempt as
        unavailable, with why, and the recipient is sent again as routing says; anything
        else leaves it ambiguous, per ``on_ambiguous``.
        """
        name = previous.in_flight
        assert name is not None
        state = self.providers.get(name)
        query = StatusQuery(None, item.recipient.ref, item.recipient.e164)
        answer = (
            Answer(Verdict.UNSETTLED)
            if state is None
            else await self.resolver.interrupted(state, query, previous.in_flight_at)
        )
        never_arrived = answer.verdict is Verdict.NEVER_ARRIVED
        reason = "interrupted mid-attempt" + (f"; {answer.reason}" if never_arrived else "")
        outcome = Outcome.UNAVAILABLE if never_arrived else Outcome.AMBIGUOUS
        attempt = Attempt(name, outcome, reason, answer.provider_message_id, at=self.clock.time())
        item.attempts.append(attempt)
        # Journalled only now: a crash while asking leaves the mark, and its start, in place.
        await self.store.attempt_ended(message_id, item.recipient.ref, attempt)
        if answer.verdict is Verdict.TAKEN:
            item.finish(RecipientStatus.ACCEPTED, name, answer.provider_message_id)
        elif answer.verdict is Verdict.REFUSED:
            item.finish(RecipientStatus.REJECTED, name)
        elif never_arrived:
            item.reasons[name] = f"{outcome}: {reason}"
            return False
        return item.result is not None or self._settled_by(item, attempt)

    def _settled_by(self, item: Progress, last: Attempt) -> bool:
        """Finish a recovered recipient whose last journalled attempt was final."""
        if last.outcome is Outcome.ACCEPTED:
            item.finish(RecipientStatus.ACCEPTED, last.provider, last.provider_message_id)
        elif last.outcome.is_rejection:
            item.finish(RecipientStatus.REJECTED, last.provider)
        elif last.outcome is Outcome.AMBIGUOUS and self.settings.on_ambiguous == "stop":
            item.finish(RecipientStatus.AMBIGUOUS, last.provider, last.provider_message_id)
        else:
            return False
        return True

    async def _round(self, prepared: Prepared, pending: list[Progress]) -> None:
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
                calls.append(self._attempt(prepared, name, items[start : start + size]))
        if len(calls) == 1:
            await calls[0]  # the common case: a task and a gather would only cost time
        else:
            await asyncio.gather(*calls)

    async def _attempt(self, prepared: Prepared, name: str, items: list[Progress]) -> None:
        message, text = prepared.message, prepared.text
        state = self.providers[name]
        if state.suspended is not None:  # suspended since the route was decided
            for item in items:
                item.reasons[name] = suspension_reason(state.suspended.reason)
                item.position += 1
            return
        if not state.breaker.acquire():
            for item in items:
                item.reasons[name] = f"circuit breaker {state.breaker.state}"
                item.position += 1
            return
        items = self._admitted(state, items)
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
        try:
            refs = [i.recipient.ref for i in items]
            await self.store.attempt_started(message.id, name, refs, self.clock.time())
            outcomes = await self.calls.send(state, batch)
        except BaseException:
            state.breaker.abandon()  # the probe, if this was one, must not be lost
            for item in items:
                state.countries.abandon(item.recipient.country)
            raise
        if all(o.kind is ErrorKind.BUDGET for o in outcomes.values()):
            state.breaker.abandon()  # our own budget said no: the provider is not to blame
        else:
            state.breaker.record(*account_signal(outcomes.values()))
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
            await self.store.attempt_ended(message.id, item.recipient.ref, attempt)
            keys = (attempt.provider_message_id, item.recipient.ref, message.id)
            await self.callbacks.release(name, keys)
            self.metrics.series(self.metrics.attempts, name, outcome.outcome.value).inc()
            await self._settle(state, item, outcome, text.segments)

    def _admitted(self, state: ProviderState, items: list[Progress]) -> list[Progress]:
        """The recipients whose country's breaker lets them go to *state*; the rest move on."""
        admitted = []
        for item in items:
            country = item.recipient.country
            if state.countries.acquire(country):
                admitted.append(item)
            else:
                held = state.countries.breaker(country).state
                item.reasons[state.name] = f"circuit breaker for {country} {held}"
                item.position += 1
        return admitted

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
            if await self._settle_ambiguous(state, item, outcome.provider_message_id, segments):
                return
            if self.settings.on_ambiguous == "stop":
                item.finish(
                    RecipientStatus.AMBIGUOUS, name, outcome.provider_message_id, segments=segments
                )
                return
        self.metrics.failovers.labels(name, outcome.outcome.value).inc()
        item.position += 1

    async def _settle_ambiguous(
        self,
        state: ProviderState,
        item: Progress,
        provider_message_id: str | None,
        segments: int = 1,
    ) -> bool:
        """Ask the provider what became of an ambiguous send; True when that settled it.

        The send was just made, so "not known" proves nothing here: it stays ambiguous.
        """
        query = StatusQuery(provider_message_id, item.recipient.ref, item.recipient.e164)
        answer = await self.resolver.ask(state, query)
        if answer.verdict is Verdict.TAKEN:
            pmid = answer.provider_message_id or provider_message_id
            item.finish(RecipientStatus.ACCEPTED, state.name, pmid, segments=segments)
            return True
        if answer.verdict is Verdict.REFUSED:
            item.finish(RecipientStatus.REJECTED, state.name, segments=segments)
            return True
        return False

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

    def _count(self, result: SendResult) -> None:
        statuses = [r.status for r in result.recipients]
        for status in statuses:
            self.metrics.series(self.metrics.recipients, status.value).inc()
        accepted = sum(1 for s in statuses if s is RecipientStatus.ACCEPTED)
        overall = "accepted" if accepted == len(statuses) else "partial" if accepted else "failed"
        self.metrics.series(self.metrics.messages, overall).inc()
