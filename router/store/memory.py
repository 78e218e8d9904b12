"""The in-memory journal: the library's default; gone when the process ends."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
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
from router.store.base import MessageRecord, MessageState, MessageStore, RecipientRecord


def report_target(record: MessageRecord, report: DeliveryReport) -> RecipientRecord | None:
    """The recipient of *record* that *report* is about, if it can be told."""
    for recipient in record.recipients:
        if report.ref is not None and recipient.ref == report.ref:
            return recipient
    candidates = [
        r
        for r in record.recipients
        if r.provider == report.provider
        and (
            report.provider_message_id is None
            or r.provider_message_id == report.provider_message_id
        )
    ]
    if report.recipient is not None:
        candidates = [r for r in candidates if r.recipient == report.recipient]
    return candidates[0] if len(candidates) == 1 else None


def merge_report(current: RecipientRecord, report: DeliveryReport, now: float) -> RecipientRecord:
    """*current* with *report* applied; a final status is never replaced."""
    if current.delivery is not None and current.delivery.is_final:
        return current
    return attrs.evolve(
        current,
        delivery=report.status,
        delivery_raw=report.raw_status,
        delivery_at=report.at if report.at is not None else now,
    )


class MemoryStore(MessageStore):
    """Every record in dictionaries."""

    def __init__(self) -> None:
        self._messages: dict[str, MessageRecord] = {}
        self._references: dict[str, str] = {}
        self._provider_ids: dict[tuple[str, str], set[str]] = {}
        self._inbound: list[tuple[InboundMessage, str | None]] = []
        self._order = itertools.count()

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
        record = MessageRecord(
            id=message.id,
            reference=message.reference,
            text=message.text,
            sender=message.sender,
            providers=message.providers,
            encoding=encoding,
            segments=segments,
            created_at=now,
            state=MessageState.QUEUED,
            recipients=tuple(RecipientRecord(r.e164, r.ref) for r in recipients),
        )
        self._messages[record.id] = record
        if message.reference is not None:
            self._references[message.reference] = record.id
        return record, True

    async def get(self, message_id: str) -> MessageRecord | None:
        return self._messages.get(message_id)

    def _update(self, message_id: str, ref: str, **changes: Any) -> None:
        record = self._messages[message_id]
        recipients = tuple(
            attrs.evolve(r, **changes) if r.ref == ref else r for r in record.recipients
        )
        self._messages[message_id] = attrs.evolve(
            record, recipients=recipients, state=MessageState.SENDING
        )

    async def attempt_started(self, message_id: str, provider: str, refs: Sequence[str]) -> None:
        for ref in refs:
            self._update(message_id, ref, in_flight=provider)

    async def attempt_ended(self, message_id: str, ref: str, attempt: Attempt) -> None:
        record = self._messages[message_id]
        current = next(r for r in record.recipients if r.ref == ref)
        self._update(message_id, ref, in_flight=None, attempts=(*current.attempts, attempt))
        if attempt.provider_message_id is not None:
            key = (attempt.provider, attempt.provider_message_id)
            self._provider_ids.setdefault(key, set()).add(message_id)

    async def finish(self, result: SendResult) -> None:
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
                in_flight=None,
            )
            if r.ref in by_ref
            else r
            for r in record.recipients
        )
        self._messages[record.id] = attrs.evolve(
            record, recipients=recipients, state=MessageState.DONE
        )

    def _candidates(self, report: DeliveryReport) -> list[str]:
        ids: list[str] = []
        if report.provider_message_id is not None:
            ids.extend(self._provider_ids.get((report.provider, report.provider_message_id), ()))
        if report.ref is not None:
            for message_id in (report.ref, report.ref.rpartition("-")[0]):
                if message_id in self._messages and message_id not in ids:
                    ids.append(message_id)
        return ids

    async def apply_report(self, report: DeliveryReport, now: float) -> tuple[str, str] | None:
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
            return message_id, target.ref
        return None

    async def add_inbound(self, message: InboundMessage, now: float) -> str | None:
        answered = None
        if message.in_reply_to is not None:
            for message_id in (message.in_reply_to, message.in_reply_to.rpartition("-")[0]):
                if message_id in self._messages:
                    answered = message_id
                    break
        self._inbound.append((message, answered))
        return answered

    async def unfinished(self) -> list[MessageRecord]:
        return [r for r in self._messages.values() if r.state is not MessageState.DONE]
