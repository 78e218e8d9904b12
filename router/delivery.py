"""The per-message send loop: rounds of batched attempts, failover, ambiguity, settling.

:class:`SendLoop` is mixed into :class:`~router.engine.Router`, which owns the state these
methods read (providers, journal, metrics, balances); the Router validates and routes a
message, then hands it here to be sent until every recipient has a final status.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from router.errors import NoRouteError, ProviderError
from router.model import (
    Attempt,
    Batch,
    DeliveryReport,
    DeliveryStatus,
    ErrorKind,
    Message,
    Outcome,
    Recipient,
    RecipientOutcome,
    RecipientResult,
    RecipientStatus,
    Route,
    SenderKind,
    SendResult,
    StatusQuery,
)
from router.provider import Operation

if TYPE_CHECKING:
    from router import text as texts
    from router.balances import BalanceTracker
    from router.clock import Clock
    from router.config import Config
    from router.early import EarlyReports
    from router.metrics import Metrics
    from router.plugins import PluginHost
    from router.state import ProviderState
    from router.store import MessageRecord, MessageStore

log = logging.getLogger("smsrouter")

_TAKEN = frozenset(
    {
        DeliveryStatus.ACCEPTED,
        DeliveryStatus.ENROUTE,
        DeliveryStatus.DELIVERED,
        # Failed or expired still means the provider took it: sending it elsewhere
        # now would be a second send, not a retry of a lost one.
        DeliveryStatus.FAILED,
        DeliveryStatus.EXPIRED,
    }
)


@attrs.define
class _Progress:
    """One recipient's way through its candidates."""

    recipient: Recipient
    candidates: tuple[str, ...]
    reasons: dict[str, str]
    position: int = 0
    attempts: list[Attempt] = attrs.Factory(list)
    result: RecipientResult | None = None


class SendLoop:
    """Sending a validated message: the Router's part that talks to the adapters."""

    # Set by the Router: what the send loop reads and updates.
    config: Config
    clock: Clock
    store: MessageStore
    metrics: Metrics
    plugins: PluginHost
    balances: BalanceTracker
    _states: dict[str, ProviderState]
    _early: EarlyReports

    if TYPE_CHECKING:
        # The Router's own, used here: routing a message and applying a report.

        def _routes(
            self,
            message: Message,
            recipients: Sequence[Recipient],
            info: texts.TextInfo,
            kind: SenderKind,
        ) -> list[Route]: ...

        async def _apply_report(
            self, report: DeliveryReport, now: float, *, hold: bool
        ) -> None: ...

    async def _deliver(
        self,
        message: Message,
        recipients: Sequence[Recipient],
        info: texts.TextInfo,
        kind: SenderKind,
        record: MessageRecord | None = None,
    ) -> SendResult:
        routes = self._routes(message, recipients, info, kind)
        progress = []
        for recipient, route in zip(recipients, routes, strict=True):
            reasons = {e.provider: f"{e.policy}: {e.reason}" for e in route.excluded}
            progress.append(_Progress(recipient, route.providers, reasons))
        if record is not None:
            await self._recover(record, progress)
        pending = [p for p in progress if p.result is None]
        while pending:
            await self._round(message, info, kind, pending)
            pending = [p for p in progress if p.result is None]
        result = SendResult(
            message_id=message.id,
            reference=message.reference,
            recipients=tuple(p.result for p in progress if p.result is not None),
            encoding=info.encoding,
            segments=info.segments,
        )
        await self.store.finish(result)
        self._count(result)
        await self.plugins.notify("smsrouter_message_routed", message=message, result=result)
        if {r.status for r in result.recipients} == {RecipientStatus.FAILED}:
            why: dict[str, list[str]] = {}
            for p in progress:
                for provider, reason in p.reasons.items():
                    seen = why.setdefault(provider, [])
                    if reason not in seen:  # one line per distinct reason, recipients alike
                        seen.append(reason)
            raise NoRouteError({k: "; ".join(v) for k, v in why.items()}, result)
        return result

    async def _recover(self, record: MessageRecord, progress: list[_Progress]) -> None:
        by_ref = {r.ref: r for r in record.recipients}
        for item in progress:
            previous = by_ref.get(item.recipient.ref)
            if previous is None:
                continue
            item.attempts.extend(previous.attempts)
            last = previous.attempts[-1] if previous.attempts else None
            if previous.in_flight is None and last is not None and self._settled_by(item, last):
                continue
            tried = {a.provider for a in previous.attempts}
            if previous.in_flight is not None:
                tried.add(previous.in_flight)
                state = self._states.get(previous.in_flight)
                attempt = Attempt(
                    previous.in_flight,
                    Outcome.AMBIGUOUS,
                    "interrupted mid-attempt",
                    at=self.clock.time(),
                )
                item.attempts.append(attempt)
                await self.store.attempt_ended(record.id, item.recipient.ref, attempt)
                if state is not None and await self._settle_ambiguous(state, item, None, record.id):
                    continue
                if self._settled_by(item, attempt):
                    continue
            item.candidates = tuple(c for c in item.candidates if c not in tried)

    def _settled_by(self, item: _Progress, last: Attempt) -> bool:
        """Finish a recovered recipient whose last journalled attempt was final."""
        if last.outcome is Outcome.ACCEPTED:
            self._finish(item, RecipientStatus.ACCEPTED, last.provider, last.provider_message_id)
        elif last.outcome.is_rejection:
            self._finish(item, RecipientStatus.REJECTED, last.provider)
        elif last.outcome is Outcome.AMBIGUOUS and self.config.router.on_ambiguous == "stop":
            self._finish(item, RecipientStatus.AMBIGUOUS, last.provider, last.provider_message_id)
        else:
            return False
        return True

    def _finish(
        self,
        item: _Progress,
        status: RecipientStatus,
        provider: str | None = None,
        provider_message_id: str | None = None,
        cost: Decimal | None = None,
        segments: int = 1,
    ) -> None:
        item.result = RecipientResult(
            recipient=item.recipient.e164,
            ref=item.recipient.ref,
            status=status,
            provider=provider,
            provider_message_id=provider_message_id,
            attempts=tuple(item.attempts),
            segments=segments,
            cost=cost,
        )

    async def _round(
        self, message: Message, info: texts.TextInfo, kind: SenderKind, pending: list[_Progress]
    ) -> None:
        """One attempt for every pending recipient: batched per provider, concurrently."""
        groups: dict[str, list[_Progress]] = {}
        for item in pending:
            if (
                item.position >= len(item.candidates)
                or len(item.attempts) >= self.config.router.max_attempts
            ):
                self._finish(item, RecipientStatus.FAILED, segments=info.segments)
                continue
            groups.setdefault(item.candidates[item.position], []).append(item)
        calls = []
        for name, items in groups.items():
            size = max(1, self._states[name].provider.capabilities.max_recipients)
            for start in range(0, len(items), size):
                calls.append(self._attempt(message, info, kind, name, items[start : start + size]))
        if len(calls) == 1:
            await calls[0]  # the common case: a task and a gather would only cost time
        else:
            await asyncio.gather(*calls)

    async def _attempt(
        self,
        message: Message,
        info: texts.TextInfo,
        kind: SenderKind,
        name: str,
        items: list[_Progress],
    ) -> None:
        state = self._states[name]
        if not state.breaker.acquire():
            for item in items:
                item.reasons[name] = f"circuit breaker {state.breaker.state}"
                item.position += 1
            return
        batch = Batch(
            message_id=message.id,
            text=message.text,
            sender=message.sender,
            sender_kind=kind,
            encoding=info.encoding,
            segments=info.segments,
            recipients=tuple(i.recipient for i in items),
            attempt=1 + sum(1 for a in items[0].attempts if a.provider == name),
        )
        try:
            await self.store.attempt_started(message.id, name, [i.recipient.ref for i in items])
            outcomes = await self._call_send(state, batch)
        except BaseException:
            state.breaker.abandon()  # the probe, if this was one, must not be lost
            raise
        if all(o.kind is ErrorKind.BUDGET for o in outcomes.values()):
            state.breaker.abandon()  # our own budget said no: the provider is not to blame
        else:
            state.breaker.record(*_breaker_signal(outcomes.values()))
        for item in items:
            outcome = outcomes[item.recipient.e164]
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
            if len(self._early):
                keys = (attempt.provider_message_id, item.recipient.ref, message.id)
                for report in self._early.take(name, keys, self.clock.time()):
                    await self._apply_report(report, self.clock.time(), hold=False)
            self.metrics.series(self.metrics.attempts, name, outcome.outcome.value).inc()
            await self._settle(state, item, outcome, info, message.id)

    async def _call_send(self, state: ProviderState, batch: Batch) -> dict[str, RecipientOutcome]:
        numbers = [r.e164 for r in batch.recipients]
        try:
            answered = await self._call(state, Operation.SEND, state.provider.send, batch)
        except ProviderError as exc:
            answered = [_outcome_of(n, exc) for n in numbers]
        except Exception as exc:  # an adapter bug: it may have sent, so never resend blindly
            log.exception("provider %r failed in send", state.name)
            reason = f"adapter failed: {type(exc).__name__}"
            answered = [RecipientOutcome(n, Outcome.AMBIGUOUS, reason=reason) for n in numbers]
        given = {
            o.recipient: o
            for o in (answered if isinstance(answered, list | tuple) else ())
            if isinstance(o, RecipientOutcome)
        }
        outcomes = {}
        for number in numbers:
            outcome = outcomes[number] = given.get(number) or RecipientOutcome(
                number, Outcome.AMBIGUOUS, reason="the adapter gave no outcome for it"
            )
            if outcome.retry_after:
                state.budget.defer(outcome.retry_after)
        return outcomes

    async def _call(
        self, state: ProviderState, operation: Operation, method: Any, *args: Any
    ) -> Any:
        """Call an adapter method through the provider's budget, measured."""
        metrics, name = self.metrics, state.name
        budget = state.budget
        waits, timeouts = budget.waits, budget.timeouts
        in_flight = metrics.series(metrics.in_flight, name)
        try:
            async with budget.slot(operation):
                in_flight.inc()
                started = self.clock.time()
                try:
                    return await method(*args)
                finally:
                    in_flight.dec()
                    elapsed = max(0.0, self.clock.time() - started)
                    duration = metrics.series(metrics.request_duration, name, operation.value)
                    duration.observe(elapsed)
        finally:
            if budget.waits > waits:
                metrics.limiter_waits.labels(name).inc()
            if budget.timeouts > timeouts:
                metrics.limiter_timeouts.labels(name).inc()

    async def _settle(
        self,
        state: ProviderState,
        item: _Progress,
        outcome: RecipientOutcome,
        info: texts.TextInfo,
        message_id: str,
    ) -> None:
        """Decide what one recipient's outcome means: stop, fail over, or resolve."""
        name = state.name
        if outcome.outcome is Outcome.ACCEPTED:
            cost = self._accepted(state, item.recipient, info, outcome)
            self._finish(
                item,
                RecipientStatus.ACCEPTED,
                name,
                outcome.provider_message_id,
                cost,
                info.segments,
            )
            return
        if outcome.outcome.is_rejection:
            more = item.position + 1 < len(item.candidates)
            wanted = self.config.router.on_rejected_recipient == "failover"
            if not (outcome.outcome is Outcome.REJECTED_RECIPIENT and wanted and more):
                self._finish(item, RecipientStatus.REJECTED, name, segments=info.segments)
                return
        item.reasons[name] = f"{outcome.outcome}: {outcome.reason}".rstrip(": ")
        if outcome.kind is ErrorKind.CREDIT:
            self.balances.exhausted(name)
        if outcome.outcome is Outcome.AMBIGUOUS:
            if await self._settle_ambiguous(
                state, item, outcome.provider_message_id, message_id, info.segments
            ):
                return
            if self.config.router.on_ambiguous == "stop":
                self._finish(
                    item,
                    RecipientStatus.AMBIGUOUS,
                    name,
                    outcome.provider_message_id,
                    segments=info.segments,
                )
                return
        self.metrics.failovers.labels(name, outcome.outcome.value).inc()
        item.position += 1

    async def _settle_ambiguous(
        self,
        state: ProviderState,
        item: _Progress,
        provider_message_id: str | None,
        message_id: str,
        segments: int = 1,
    ) -> bool:
        """Ask the provider what became of an ambiguous send; True when that settled it."""
        if not state.provider.capabilities.status_query:
            return False
        query = StatusQuery(provider_message_id, item.recipient.ref, item.recipient.e164)
        try:
            reports = await self._call(
                state, Operation.STATUS, state.provider.query_status, [query]
            )
        except Exception as exc:
            log.warning("provider %r: status query failed: %s", state.name, exc)
            return False
        for report in reports:
            if report.status in _TAKEN:
                self._finish(
                    item,
                    RecipientStatus.ACCEPTED,
                    state.name,
                    report.provider_message_id or provider_message_id,
                    segments=segments,
                )
                return True
            if report.status is DeliveryStatus.REJECTED:
                self._finish(item, RecipientStatus.REJECTED, state.name, segments=segments)
                return True
        return False

    def _accepted(
        self,
        state: ProviderState,
        recipient: Recipient,
        info: texts.TextInfo,
        outcome: RecipientOutcome,
    ) -> Decimal | None:
        """Count an accepted recipient, draw down the balance; its cost in base currency."""
        name, common = state.name, state.settings.common
        self.metrics.series(self.metrics.segments, name).inc(info.segments)
        price = None
        for end in range(len(recipient.digits), 0, -1):
            price = common.prices.get(recipient.digits[:end])
            if price is not None:
                break
        cost_native = (
            outcome.cost
            if outcome.cost is not None
            else (None if price is None else price * info.segments)
        )
        self.balances.spent(name, info.segments, cost_native, outcome.balance)
        if cost_native is None:
            return None
        settings = self.config.router
        rate = (
            Decimal(1)
            if common.currency == settings.base_currency
            else settings.currencies.get(common.currency)
        )
        if rate is None:
            return None
        cost = cost_native * rate
        self.metrics.series(self.metrics.cost, name).inc(float(cost))
        return cost

    def _count(self, result: SendResult) -> None:
        statuses = [r.status for r in result.recipients]
        for status in statuses:
            self.metrics.series(self.metrics.recipients, status.value).inc()
        accepted = sum(1 for s in statuses if s is RecipientStatus.ACCEPTED)
        overall = "accepted" if accepted == len(statuses) else "partial" if accepted else "failed"
        self.metrics.series(self.metrics.messages, overall).inc()


def _outcome_of(number: str, exc: ProviderError) -> RecipientOutcome:
    return RecipientOutcome(
        number, exc.outcome, reason=str(exc), kind=exc.kind, retry_after=exc.retry_after
    )


def _breaker_signal(outcomes: Iterable[RecipientOutcome]) -> tuple[Outcome, ErrorKind | None]:
    """One outcome for the breaker from a batch: any answer is the provider working."""
    seen = list(outcomes)
    if any(o.kind is ErrorKind.AUTH for o in seen):
        return Outcome.PROVIDER_ERROR, ErrorKind.AUTH
    for outcome in seen:
        if outcome.outcome not in (Outcome.UNAVAILABLE, Outcome.AMBIGUOUS):
            return outcome.outcome, None
    return (seen[0].outcome if seen else Outcome.UNAVAILABLE), None
