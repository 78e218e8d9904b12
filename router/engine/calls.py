"""Every call of a provider's adapter: sends, status queries and balance reads alike.

Each call takes a slot in the provider's budget (concurrency, rates, Retry-After), counts
as in flight while it runs, and is measured: its duration by provider and operation, and
whether it had to wait for its slot or gave up waiting. A send's answer is checked at this
boundary too: whatever an adapter returns or raises, every recipient of the batch comes
out with exactly one :class:`~router.model.RecipientOutcome`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from router.clock import Clock
from router.engine.metrics import Metrics
from router.engine.providers import ProviderState
from router.errors import ProviderError
from router.model import (
    Balance,
    Batch,
    DeliveryReport,
    ErrorKind,
    Outcome,
    RecipientOutcome,
    StatusQuery,
)
from router.provider import Operation

log = logging.getLogger("smsrouter")

R = TypeVar("R")


class ProviderCalls:
    """The one way the engine calls an adapter.

    Args:
        metrics: where durations, in-flight calls and budget waits are counted.
        clock: what durations are measured with.
    """

    def __init__(self, metrics: Metrics, clock: Clock) -> None:
        self.metrics = metrics
        self.clock = clock

    async def call(
        self,
        state: ProviderState,
        operation: Operation,
        method: Callable[..., Awaitable[R]],
        *args: Any,
    ) -> R:
        """``await method(*args)`` in a slot of *state*'s budget, measured."""
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

    async def send(self, state: ProviderState, batch: Batch) -> dict[str, RecipientOutcome]:
        """Send *batch*; each recipient's outcome by E.164 number, never raising.

        An adapter that raises ProviderError gives that error's outcome to every recipient;
        one that fails otherwise, or leaves a recipient out, may have sent: ambiguous.
        A Retry-After in any outcome defers the budget; a provider error of kind
        ``throttled`` holds the provider (:func:`hold_if_throttled`).
        """
        numbers = [r.e164 for r in batch.recipients]
        answered: object
        try:
            answered = await self.call(state, Operation.SEND, state.provider.send, batch)
        except ProviderError as exc:
            answered = [exc.outcome_for(n) for n in numbers]
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
        hold_if_throttled(state, outcomes.values())
        return outcomes

    async def query_status(
        self, state: ProviderState, queries: list[StatusQuery]
    ) -> list[DeliveryReport]:
        """What the provider says became of *queries*; raises what the adapter raised."""
        return await self.call(state, Operation.STATUS, state.provider.query_status, queries)

    async def balance(self, state: ProviderState) -> Balance:
        """The provider's balance now; raises what the adapter raised."""
        return await self.call(state, Operation.BALANCE, state.provider.balance)


def hold_if_throttled(state: ProviderState, outcomes: Iterable[RecipientOutcome]) -> None:
    """Hold *state*'s provider when it answered that we call it too often.

    The provider answered (a provider error, not a lost call) of kind ``throttled``: its
    breaker is held open for the Retry-After it gave, else for its ``throttle_hold``, so
    routing leaves it alone meanwhile and one probe tries it after.
    """
    # providers.md 3.3: SMSC's error 4 blocks our IP for a while after frequent erroneous
    # requests ("back off; fail over"); calling again at once would only keep it blocked.
    for outcome in outcomes:
        if outcome.outcome is Outcome.PROVIDER_ERROR and outcome.kind is ErrorKind.THROTTLED:
            seconds = outcome.retry_after or float(state.settings.common.throttle_hold)
            state.breaker.hold(seconds, outcome.reason or "throttled")
            log.warning("provider %r said we call it too often: held for %gs", state.name, seconds)
            return
