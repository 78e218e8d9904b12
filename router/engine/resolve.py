"""What a provider's status query says became of a send the router cannot account for.

A send is in doubt when its answer was lost (a timeout, a dropped connection: ambiguous),
or when a crash cut it short (the journal shows it in flight). Where the provider has a
status query, its answer settles it: the provider took it (even one whose delivery failed
was sent), refused it, or does not know it (``DeliveryReport.not_found``).

"Not known" proves that a send never arrived only once the attempt's timeout has passed
since it started (DESIGN 6): before then the request may still be on its way, or not yet
visible to the query (SMSC's status -3, providers.md 3.4). :meth:`Resolver.interrupted`
then waits until the timeout has passed and asks once more; a second "not known" is the
proof. An attempt whose start was not journalled (by an older version) cannot be timed,
so "not known" proves nothing there. No answer at all (the query failed) proves nothing.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence

import attrs

from router.clock import Clock
from router.engine.calls import ProviderCalls
from router.engine.providers import ProviderState
from router.model import DeliveryReport, DeliveryStatus, StatusQuery

log = logging.getLogger("smsrouter")

TAKEN = frozenset(
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
"""Statuses that say the provider has the message."""


class Verdict(enum.StrEnum):
    """What became of a send in doubt."""

    TAKEN = "taken"
    """The provider has it: it was sent."""
    REFUSED = "refused"
    """The provider refused it."""
    NEVER_ARRIVED = "never_arrived"
    """The provider does not know it, and the attempt's timeout has passed: send it."""
    NOT_KNOWN = "not_known"
    """The provider does not know it, but that proves nothing yet."""
    UNSETTLED = "unsettled"
    """No answer, or one that says nothing: ambiguous, per ``on_ambiguous``."""


@attrs.frozen
class Answer:
    """A verdict, with the provider's id of the send and words for the attempt's reason."""

    verdict: Verdict
    provider_message_id: str | None = None
    reason: str = ""


def verdict_of(reports: Sequence[DeliveryReport]) -> Answer:
    """The verdict of a status query's reports about one recipient."""
    for report in reports:
        if report.status in TAKEN:
            return Answer(Verdict.TAKEN, report.provider_message_id, f"status {report.status}")
        if report.status is DeliveryStatus.REJECTED:
            return Answer(Verdict.REFUSED, report.provider_message_id, "status rejected")
    if reports and all(r.not_found for r in reports):
        return Answer(Verdict.NOT_KNOWN, reason="the provider does not know it")
    return Answer(Verdict.UNSETTLED, reason="the status query did not tell")


def attempt_timeout(state: ProviderState) -> float:
    """The longest one send attempt on *state* may take: its wait for a budget slot, then
    its call's wait for a connection and the call itself."""
    common = state.settings.common
    return state.settings.limits.wait + float(common.connect_timeout) + float(common.timeout)


class Resolver:
    """Asks a provider's status query about sends in doubt.

    Args:
        calls: how the adapter is called (the status query takes a budget slot).
        clock: what the attempt's timeout is measured on, and waited out on.
    """

    def __init__(self, calls: ProviderCalls, clock: Clock) -> None:
        self.calls = calls
        self.clock = clock

    async def ask(self, state: ProviderState, query: StatusQuery) -> Answer:
        """What the provider says now; UNSETTLED when it has no status query or no answer."""
        if not state.provider.capabilities.status_query:
            return Answer(Verdict.UNSETTLED, reason="the provider has no status query")
        try:
            reports = await self.calls.query_status(state, [query])
        except Exception as exc:
            log.warning("provider %r: status query failed: %s", state.name, exc)
            return Answer(Verdict.UNSETTLED, reason=f"status query failed: {exc}")
        return verdict_of(reports)

    async def interrupted(
        self, state: ProviderState, query: StatusQuery, started: float | None
    ) -> Answer:
        """What became of an attempt a crash cut short, started at *started* (None: unknown).

        "Not known" before the attempt's timeout has passed since *started* is asked again
        once it has; "not known" then is NEVER_ARRIVED.
        """
        answer = await self.ask(state, query)
        if answer.verdict is not Verdict.NOT_KNOWN or started is None:
            return answer
        timeout = attempt_timeout(state)
        left = started + timeout - self.clock.time()
        if left > 0:
            await self.clock.sleep(left)
            answer = await self.ask(state, query)
            if answer.verdict is not Verdict.NOT_KNOWN:
                return answer
        elapsed = self.clock.time() - started
        reason = (
            f"{state.name} does not know it {elapsed:.0f}s after the attempt started "
            f"(its timeout is {timeout:g}s): it never arrived"
        )
        return Answer(Verdict.NEVER_ARRIVED, reason=reason)
