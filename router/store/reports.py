"""The journal's rules for delivery reports: which recipient a report is about, and how it
changes that recipient's delivery status (never downgrading a final one).

Both journals (memory.py, sqlite.py) match and merge through these, so they agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from router.model import DeliveryReport, DeliveryStatus
from router.store.base import MessageRecord, RecipientRecord, bare_number


def _provider_ids(recipient: RecipientRecord, provider: str) -> set[str | None] | None:
    """The ids *provider* gave *recipient* (None for none given), or None if never sent there."""
    ids = {a.provider_message_id for a in recipient.attempts if a.provider == provider}
    if recipient.provider == provider:
        ids.add(recipient.provider_message_id)
    if not ids and recipient.in_flight != provider:
        return None
    return ids


def report_target(record: MessageRecord, report: DeliveryReport) -> RecipientRecord | None:
    """The recipient of *record* that *report* is about, if it can be told.

    A report applies only to a recipient with an attempt through the report's provider
    (the one whose callback URL received it). Our per-recipient reference names one
    recipient outright. Otherwise the candidates
    are the recipients sent through the report's provider: those it gave the report's id
    (batch providers give one id to several recipients), else, as a provider may answer a
    send with no id and name one only in its reports (providers.md 4.2), those it gave no
    id. The report's number narrows them; exactly one must remain.
    """
    if report.ref is not None:
        for recipient in record.recipients:
            if recipient.ref == report.ref:
                # Only the provider it was sent through speaks for it: another provider's
                # callback URL naming our reference is no report of this recipient.
                sent_there = _provider_ids(recipient, report.provider) is not None
                return recipient if sent_there else None
    sent = [
        (r, ids)
        for r in record.recipients
        if (ids := _provider_ids(r, report.provider)) is not None
    ]
    wanted = report.provider_message_id
    if wanted is None:
        candidates = [r for r, _ in sent]
    else:
        candidates = [r for r, ids in sent if wanted in ids] or [
            r for r, ids in sent if not ids - {None}
        ]
    if report.recipient is not None:
        number = bare_number(report.recipient)
        candidates = [r for r in candidates if bare_number(r.recipient) == number]
    return candidates[0] if len(candidates) == 1 else None


_FAILED_PART = frozenset({DeliveryStatus.FAILED, DeliveryStatus.EXPIRED, DeliveryStatus.REJECTED})


def _combined(parts: Sequence[DeliveryStatus | None], latest: DeliveryStatus) -> DeliveryStatus:
    # providers.md 4.5: a long text is delivered when every part is, failed when any part is.
    for status in parts:
        if status in _FAILED_PART:
            assert status is not None
            return status
    if all(s is DeliveryStatus.DELIVERED for s in parts):
        return DeliveryStatus.DELIVERED
    if any(s in (DeliveryStatus.DELIVERED, DeliveryStatus.ENROUTE) for s in parts):
        return DeliveryStatus.ENROUTE
    return latest


def merge_report(current: RecipientRecord, report: DeliveryReport, now: float) -> RecipientRecord:
    """*current* with *report* applied; a final status is never replaced, and once a
    recipient was redelivered, the provider it failed on no longer speaks for it.

    A report about one part of a long text updates that part; the recipient's status is
    then the parts' together: delivered only when every part is, failed when any is.
    """
    if current.delivery is not None and current.delivery.is_final:
        return current
    if current.redelivered_from == report.provider != current.provider:
        return current  # about the send that failed before: the new one speaks now
    at = report.at if report.at is not None else now
    part = report.part
    if part is None or part[1] <= 1 or not 1 <= part[0] <= part[1]:
        return attrs.evolve(
            current, delivery=report.status, delivery_raw=report.raw_status, delivery_at=at
        )
    number, total = part
    parts = list(current.delivery_parts)
    parts.extend([None] * (total - len(parts)))
    previous = parts[number - 1]
    if previous is None or not previous.is_final:
        parts[number - 1] = report.status
    return attrs.evolve(
        current,
        delivery=_combined(parts, report.status),
        delivery_raw=report.raw_status,
        delivery_at=at,
        delivery_parts=tuple(parts),
    )
