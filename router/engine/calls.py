"""Every call of a provider's adapter: sends, status queries and balance reads alike.

Each call takes a slot in the provider's budget (concurrency, rates, Retry-After), counts
as in flight while it runs, and is measured: its duration by provider and operation, and
whether it had to wait for its slot or gave up waiting. A send's answer is checked at this
boundary too: whatever an adapter returns or raises, every recipient of the batch comes
out with exactly one :class:`~router.model.RecipientOutcome`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from router.clock import Clock
from router.engine.metrics import Metrics
from router.engine.providers import ProviderState
from router.errors import ProviderError
from router.model import Balance, Batch, DeliveryReport, Outcome, RecipientOutcome, StatusQuery
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
        A Retry-After in any outcome defers the budget.
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
        return outcomes

    async def query_status(
        self, state: ProviderState, queries: list[StatusQuery]
    ) -> list[DeliveryReport]:
        """What the provider says became of *queries*; raises what the adapter raised."""
        return await self.call(state, Operation.STATUS, state.provider.query_status, queries)

    async def balance(self, state: ProviderState) -> Balance:
        """The provider's balance now; raises what the adapter raised."""
        return await self.call(state, Operation.BALANCE, state.provider.balance)
