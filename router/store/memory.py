"""The in-memory journal: the library's default; gone when the process ends.

It is bounded so a long-running library user does not grow without limit: beyond
``max_messages`` the messages finished longest ago are forgotten with their indexes (an
unfinished message never is), so idempotency by reference holds for the recent ones only.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import attrs

from router.model import (
    Attempt,
    DeliveryReport,
    Encoding,
    InboundMessage,
    Message,
    Recipient,
    SendResult,
)
from router.store.admin import MemoryAdminJournal
from router.store.base import (
    INBOUND_REPEAT_WINDOW,
    CallRecord,
    HoldRecord,
    InboundRecord,
    MessageRecord,
    MessageState,
    MessageStore,
    OptOut,
    RecentCalls,
    ReportMatch,
    answered_by,
    bare_number,
    check_limit,
    inbound_key,
    ref_candidates,
)
from router.store.deliveries import DeliverySample, MemoryDeliveries
from router.store.held import cancelled, matches_status, state_after
from router.store.records import new_record
from router.store.reports import merge_report, report_target

DEFAULT_MAX_MESSAGES = 100_000
"""How many messages a :class:`MemoryStore` keeps by default (and inbound messages)."""


def _provider_ids(record: MessageRecord) -> Iterator[tuple[str, str]]:
    """Every (provider, provider message id) a message's recipients were given."""
    for recipient in record.recipients:
        if recipient.provider is not None and recipient.provider_message_id is not None:
            yield recipient.provider, recipient.provider_message_id
        for attempt in recipient.attempts:
            if attempt.provider_message_id is not None:
                yield attempt.provider, attempt.provider_message_id


class MemoryStore(MemoryAdminJournal, MessageStore):
    """Every record in dictionaries, bounded.

    Args:
        max_messages: how many messages to keep; beyond it the messages finished longest
            ago are dropped. Unfinished messages are always kept.
        max_inbound: how many inbound messages to keep; beyond it the oldest are dropped.
    """

    def __init__(
        self,
        *,
        max_messages: int = DEFAULT_MAX_MESSAGES,
        max_inbound: int = DEFAULT_MAX_MESSAGES,
    ) -> None:
        if max_messages < 1 or max_inbound < 1:
            raise ValueError("max_messages and max_inbound must be at least 1")
        MemoryAdminJournal.__init__(self, max_notes=max_messages)
        self.max_messages = max_messages
        self.max_inbound = max_inbound
        self._messages: dict[str, MessageRecord] = {}
        self._references: dict[str, str] = {}
        # Lists keep the order ids were learnt in, so the newest message wins a reused id.
        self._provider_ids: dict[tuple[str, str], list[str]] = {}
        # Finished message ids, longest finished first: the eviction order.
        self._finished: dict[str, None] = {}
        self._inbound: collections.deque[InboundRecord] = collections.deque()
        self._inbound_ids: dict[tuple[str | float | None, ...], InboundRecord] = {}
        self._inbound_seq = itertools.count(1)
        self._calls: dict[tuple[str, str, float], CallRecord] = {}
        self._holds: dict[tuple[str, str | None], HoldRecord] = {}
        self._held: dict[str, float] = {}
        """Held messages' ids and when each is due: all the scheduler reads."""
        self._optouts: dict[str, OptOut] = {}
        self.deliveries: MemoryDeliveries = MemoryDeliveries(max_messages, self._claim_redelivery)

    async def add(
        self,
        message: Message,
        recipients: Sequence[Recipient],
        encoding: Encoding,
        segments: int,
        now: float,
    ) -> tuple[MessageRecord, bool]:
        if message.reference is not None and message.reference in self._references:
            return self._messages[self._references[message.reference]], False
        if message.id in self._messages:
            return self._messages[message.id], False
        record = new_record(message, recipients, encoding, segments, now)
        self._messages[record.id] = record
        if message.reference is not None:
            self._references[message.reference] = record.id
        self._evict()
        return record, True

    async def get(self, message_id: str) -> MessageRecord | None:
        return self._messages.get(message_id)

    def _update(self, message_id: str, ref: str, **changes: Any) -> None:
        record = self._messages[message_id]
        recipients = tuple(
            attrs.evolve(r, **changes) if r.ref == ref else r for r in record.recipients
        )
        state = MessageState.DONE if record.state is MessageState.DONE else MessageState.SENDING
        self._messages[message_id] = attrs.evolve(record, recipients=recipients, state=state)

    def _index(self, message_id: str, provider: str, provider_message_id: str | None) -> None:
        if provider_message_id is None:
            return
        ids = self._provider_ids.setdefault((provider, provider_message_id), [])
        if message_id not in ids:
            ids.append(message_id)

    async def attempt_started(
        self,
        message_id: str,
        provider: str,
        refs: Sequence[str],
        now: float | None = None,
        *,
        via: str | None = None,
    ) -> None:
        if message_id not in self._messages:
            raise KeyError(message_id)
        for ref in refs:
            self._update(message_id, ref, in_flight=provider, in_flight_at=now, in_flight_via=via)

    async def attempt_ended(self, message_id: str, ref: str, attempt: Attempt) -> None:
        record = self._messages[message_id]
        current = next((r for r in record.recipients if r.ref == ref), None)
        if current is None:
            raise KeyError(ref)
        attempts = (*current.attempts, attempt)
        self._update(
            message_id,
            ref,
            in_flight=None,
            in_flight_at=None,
            in_flight_via=None,
            attempts=attempts,
        )
        self._index(message_id, attempt.provider, attempt.provider_message_id)

    async def finish(self, result: SendResult, sent: Sequence[DeliverySample] = ()) -> None:
        self.deliveries.count(sent)
        record = self._messages[result.message_id]
        by_ref = {r.ref: r for r in result.recipients}
        recipients = tuple(
            attrs.evolve(
                r,
                status=by_ref[r.ref].status,
                provider=by_ref[r.ref].provider,
                provider_message_id=by_ref[r.ref].provider_message_id,
                attempts=by_ref[r.ref].attempts,
                cost=by_ref[r.ref].cost,
                reason=by_ref[r.ref].reason,
                due_at=by_ref[r.ref].scheduled_at,
                in_flight=None,
                in_flight_at=None,
                in_flight_via=None,
            )
            if r.ref in by_ref
            else r
            for r in record.recipients
        )
        record = attrs.evolve(record, recipients=recipients)
        self._settle(record)
        for provider, provider_message_id in _provider_ids(record):
            self._index(record.id, provider, provider_message_id)

    def _settle(self, record: MessageRecord, *, finished: bool = True) -> None:
        """Keep *record* done (when *finished*, or every recipient has its status), or held
        until its wake time while a recipient is scheduled."""
        state, due = state_after(record)
        if finished and due is None:
            state = MessageState.DONE
        self._messages[record.id] = record = attrs.evolve(record, state=state)
        self._held.pop(record.id, None)
        self._finished.pop(record.id, None)
        if due is not None:
            self._held[record.id] = due
        elif state is MessageState.DONE:
            self._finished[record.id] = None
            self._evict()

    def _evict(self) -> None:
        """Forget the messages finished longest ago while there are too many."""
        while len(self._messages) > self.max_messages and self._finished:
            message_id = next(iter(self._finished))
            del self._finished[message_id]
            record = self._messages.pop(message_id)
            if record.reference is not None:
                self._references.pop(record.reference, None)
            for key in set(_provider_ids(record)):
                ids = self._provider_ids.get(key, [])
                if message_id in ids:
                    ids.remove(message_id)
                if not ids:
                    self._provider_ids.pop(key, None)

    def _candidates(self, report: DeliveryReport) -> list[str]:
        ids: list[str] = []
        if report.provider_message_id is not None:
            key = (report.provider, report.provider_message_id)
            ids.extend(reversed(self._provider_ids.get(key, [])))
        if report.ref is not None:
            for message_id in ref_candidates(report.ref):
                if message_id in self._messages and message_id not in ids:
                    ids.append(message_id)
        return ids

    async def apply_report(self, report: DeliveryReport, now: float) -> ReportMatch | None:
        for message_id in self._candidates(report):
            record = self._messages[message_id]
            target = report_target(record, report)
            if target is None:
                continue
            merged = merge_report(target, report, now)
            self._messages[message_id] = attrs.evolve(
                record,
                recipients=tuple(merged if r is target else r for r in record.recipients),
            )
            return ReportMatch(message_id, target.ref, merged != target, merged.delivery)
        return None

    def _answered(self, in_reply_to: str | None) -> str | None:
        if in_reply_to is None:
            return None
        for message_id in ref_candidates(in_reply_to):
            record = self._messages.get(message_id)
            if record is not None and answered_by(record, in_reply_to):
                return message_id
        return None

    async def add_inbound(self, message: InboundMessage, now: float) -> str | None:
        key = inbound_key(message)
        known = self._inbound_ids.get(key)
        if known is not None and (
            message.provider_message_id is not None
            or now - known.received_at <= INBOUND_REPEAT_WINDOW
        ):
            return known.answers
        record = InboundRecord(
            id=next(self._inbound_seq),
            message=message,
            answers=self._answered(message.in_reply_to),
            received_at=now,
        )
        self._inbound.append(record)
        self._inbound_ids[key] = record
        while len(self._inbound) > self.max_inbound:
            dropped = self._inbound.popleft()
            dropped_key = inbound_key(dropped.message)
            if self._inbound_ids.get(dropped_key) is dropped:
                del self._inbound_ids[dropped_key]
        return record.answers

    async def inbound(
        self,
        *,
        provider: str | None = None,
        number: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 50,
        before: int | None = None,
    ) -> list[InboundRecord]:
        check_limit(limit)
        wanted = None if number is None else bare_number(number)
        found: list[InboundRecord] = []
        for record in reversed(self._inbound):
            message = record.message
            if (
                (before is not None and record.id >= before)
                or (provider is not None and message.provider != provider)
                or (since is not None and record.received_at < since)
                or (until is not None and record.received_at >= until)
                or (
                    wanted is not None
                    and wanted not in (bare_number(message.sender), bare_number(message.recipient))
                )
            ):
                continue
            found.append(record)
            if len(found) == limit:
                break
        return found

    async def unfinished(self) -> list[MessageRecord]:
        return [r for r in self._messages.values() if r.state is not MessageState.DONE]

    async def held_due(self, now: float, limit: int = 64) -> list[str]:
        due = sorted((at, i) for i, at in self._held.items() if at <= now)
        return [message_id for _, message_id in due[:limit]]

    async def next_held(self) -> float | None:
        return min(self._held.values(), default=None)

    async def cancel(self, message_id: str, now: float) -> MessageRecord | None:
        record = self._messages.get(message_id)
        if record is None or record.state is MessageState.DONE:
            return record
        changed = tuple(cancelled(r) or r for r in record.recipients)
        if changed != record.recipients:
            self._settle(attrs.evolve(record, recipients=changed), finished=False)
        return self._messages[message_id]

    async def find(
        self,
        *,
        reference: str | None = None,
        status: str | None = None,
        since: float | None = None,
        limit: int = 50,
        before: tuple[float, str] | None = None,
    ) -> list[MessageRecord]:
        check_limit(limit)
        if reference is not None:
            known = self._references.get(reference)
            chosen = [] if known is None else [self._messages[known]]
        else:
            chosen = list(self._messages.values())
        found = [
            r
            for r in chosen
            if matches_status(r, status)
            and (since is None or r.created_at >= since)
            and (before is None or (r.created_at, r.id) < before)
        ]
        found.sort(key=lambda r: (r.created_at, r.id), reverse=True)
        return found[:limit]

    async def opt_out(self, entry: OptOut) -> bool:
        if entry.number in self._optouts:
            return False
        self._optouts[entry.number] = entry
        return True

    async def opt_in(self, number: str) -> bool:
        return self._optouts.pop(number, None) is not None

    async def optouts(self, *, number: str | None = None) -> list[OptOut]:
        if number is not None:
            return [self._optouts[number]] if number in self._optouts else []
        return list(self._optouts.values())

    async def record_calls(
        self, calls: Sequence[CallRecord], holds: Sequence[HoldRecord], *, forget_before: float
    ) -> None:
        for call in calls:
            key = (call.provider, call.operation, call.started)
            kept = self._calls.get(key)
            if call.ended is not None or kept is None:
                self._calls[key] = call
        for hold in holds:
            held = self._holds.get((hold.provider, hold.operation))
            if held is None or held.until < hold.until:
                self._holds[hold.provider, hold.operation] = hold
        self._calls = {k: c for k, c in self._calls.items() if c.at >= forget_before}
        self._holds = {k: h for k, h in self._holds.items() if h.until >= forget_before}

    async def recent_calls(self, since: float) -> RecentCalls:
        calls = sorted((c for c in self._calls.values() if c.at >= since), key=lambda c: c.started)
        holds = [h for h in self._holds.values() if h.until >= since]
        return RecentCalls(tuple(calls), tuple(holds))

    def _claim_redelivery(self, message_id: str, ref: str, provider: str, reason: str) -> bool:
        record = self._messages[message_id]
        current = next((r for r in record.recipients if r.ref == ref), None)
        if current is None or current.provider != provider or current.redelivered_from:
            return False
        cleared = {"delivery": None, "delivery_raw": None, "delivery_at": None}
        self._update(message_id, ref, redelivered_from=provider, redelivery_reason=reason,
                     delivery_parts=(), **cleared)  # fmt: skip
        return True
