"""A recipient's way through its candidates, and how a resumed message picks it up again.

:class:`Progress` is what the send loop keeps per recipient. :class:`Recovery` reads a
journalled message's attempts into it when the message is resumed: a recipient whose last
attempt was final is finished, one caught in flight by a crash is settled by a status
query where its provider has one (:mod:`router.engine.resolve`), else by ``on_ambiguous``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import attrs

from router.clock import Clock
from router.config import RouterSettings
from router.engine.providers import ProviderState
from router.engine.resolve import Answer, Resolver, Verdict
from router.model import (
    Attempt,
    Outcome,
    Recipient,
    RecipientOutcome,
    RecipientResult,
    RecipientStatus,
    StatusQuery,
)
from router.store import MessageRecord, MessageStore, RecipientRecord


@attrs.define
class Progress:
    """One recipient's way through its candidates."""

    recipient: Recipient
    candidates: tuple[str, ...]
    reasons: dict[str, str]
    position: int = 0
    attempts: list[Attempt] = attrs.Factory(list)
    result: RecipientResult | None = None
    first: int = 0
    """Attempts made before this send (a redelivery's): ``max_attempts`` counts the rest."""
    via: str | None = None
    """The message id its latest call went by when that was another's (a coalesced call)."""

    def finish(
        self,
        status: RecipientStatus,
        provider: str | None = None,
        provider_message_id: str | None = None,
        cost: Decimal | None = None,
        segments: int = 1,
    ) -> None:
        self.result = RecipientResult(
            recipient=self.recipient.e164,
            ref=self.recipient.ref,
            status=status,
            provider=provider,
            provider_message_id=provider_message_id,
            attempts=tuple(self.attempts),
            segments=segments,
            cost=cost,
        )


class Recovery:
    """Reading a journalled message's attempts back into its recipients' progress."""

    def __init__(
        self,
        settings: RouterSettings,
        providers: Mapping[str, ProviderState],
        store: MessageStore,
        resolver: Resolver,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.providers = providers
        self.store = store
        self.resolver = resolver
        self.clock = clock

    async def recover(self, record: MessageRecord, progress: list[Progress]) -> None:
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
        query = StatusQuery(None, item.recipient.ref, item.recipient.e164, previous.in_flight_via)
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


async def settle_ambiguous(
    resolver: Resolver,
    state: ProviderState,
    item: Progress,
    outcome: RecipientOutcome,
    segments: int = 1,
) -> bool:
    """Ask the provider what became of an ambiguous send; True when that settled it.

    The send was just made, so "not known" proves nothing here: it stays ambiguous.
    """
    sent_as = outcome.provider_message_id
    query = StatusQuery(sent_as, item.recipient.ref, item.recipient.e164, item.via)
    answer = await resolver.ask(state, query)
    if answer.verdict is Verdict.TAKEN:
        pmid = answer.provider_message_id or sent_as
        item.finish(RecipientStatus.ACCEPTED, state.name, pmid, segments=segments)
        return True
    if answer.verdict is Verdict.REFUSED:
        item.finish(RecipientStatus.REJECTED, state.name, segments=segments)
        return True
    return False
