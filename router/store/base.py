"""The journal contract, its records, and the correlation rules every store shares.

A delivery report or an inbound message names the message it is about in one of a few
ways: the provider's message id, our per-recipient reference ``"<message id>-<n>"``, or our
message id plus the recipient's number. :func:`ref_candidates`, :func:`report_target` and
:func:`merge_report` hold those rules once, so every store matches and merges alike.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Sequence
from decimal import Decimal
from typing import NamedTuple

import attrs

from router.model import (
    Attempt,
    DeliveryReport,
    DeliveryStatus,
    Encoding,
    InboundMessage,
    Message,
    Recipient,
    RecipientResult,
    RecipientStatus,
    SendResult,
    message_of_ref,
)


class ReportMatch(NamedTuple):
    """What :meth:`MessageStore.apply_report` matched a report to, and what it did."""

    message_id: str
    ref: str
    """Our reference of the recipient the report is about."""
    applied: bool
    """Whether the report changed the recipient's delivery status: False when it had a
    final one already (a report never downgrades) or the report said nothing new."""


class MessageState(enum.StrEnum):
    """Where a journalled message is."""

    QUEUED = "queued"
    """Accepted, no attempt started."""
    SENDING = "sending"
    """Attempts under way."""
    DONE = "done"
    """Every recipient has its final send status."""


@attrs.frozen
class RecipientRecord:
    """One recipient of a journalled message."""

    recipient: str
    ref: str
    status: RecipientStatus | None = None
    """None until the recipient's last attempt ended."""
    provider: str | None = None
    provider_message_id: str | None = None
    attempts: tuple[Attempt, ...] = ()
    in_flight: str | None = None
    """The provider an attempt was started on and has not ended (for crash recovery)."""
    in_flight_at: float | None = None
    """When that attempt started, from the router's clock; None when not in flight, or
    when it was journalled without its start (by an older version)."""
    delivery: DeliveryStatus | None = None
    delivery_raw: str | None = None
    delivery_at: float | None = None
    delivery_parts: tuple[DeliveryStatus | None, ...] = ()
    """Each part's status when the provider reports the parts of a long text apart."""
    cost: Decimal | None = None


@attrs.frozen
class MessageRecord:
    """A journalled message."""

    id: str
    reference: str | None
    text: str
    sender: str | None
    providers: tuple[str, ...] | None
    encoding: Encoding
    segments: int
    created_at: float
    state: MessageState
    recipients: tuple[RecipientRecord, ...]

    def message(self) -> Message:
        """The message as it was sent to the router, numbers in E.164."""
        return Message(
            to=tuple(r.recipient for r in self.recipients),
            text=self.text,
            sender=self.sender,
            reference=self.reference,
            providers=self.providers,
            id=self.id,
        )

    def result(self, *, duplicate: bool = False) -> SendResult:
        """The send result as far as it is known."""
        return SendResult(
            message_id=self.id,
            reference=self.reference,
            recipients=tuple(
                RecipientResult(
                    recipient=r.recipient,
                    ref=r.ref,
                    status=r.status or RecipientStatus.AMBIGUOUS,
                    provider=r.provider,
                    provider_message_id=r.provider_message_id,
                    attempts=r.attempts,
                    segments=self.segments,
                    cost=r.cost,
                )
                for r in self.recipients
            ),
            encoding=self.encoding,
            segments=self.segments,
            duplicate=duplicate,
        )


@attrs.frozen
class InboundRecord:
    """A journalled inbound message."""

    id: int
    """Grows with each inbound message journalled: the cursor of :meth:`MessageStore.inbound`."""
    message: InboundMessage
    answers: str | None
    """The id of our message it answers, when the provider named one we know."""
    received_at: float
    """When the router journalled it, from the router's clock."""


@attrs.frozen
class CallRecord:
    """A call a provider's budget counted by a rate, kept so a restart keeps to the rate."""

    provider: str
    operation: str
    started: float
    """When it was admitted: with provider and operation, it names the call."""
    ended: float | None = None
    """When it ended; None while in flight (a process that died may have cut it short)."""

    @property
    def at(self) -> float:
        """Its time in the journal: its end, or its start while it has none."""
        return self.started if self.ended is None else self.ended


@attrs.frozen
class HoldRecord:
    """A provider's ``Retry-After``, kept until it ends."""

    provider: str
    operation: str | None
    """The operation held back, or None for every call."""
    until: float


@attrs.frozen
class RecentCalls:
    """What the journal remembers of the providers' budgets: calls and holds."""

    calls: tuple[CallRecord, ...] = ()
    holds: tuple[HoldRecord, ...] = ()


class MessageStore(abc.ABC):
    """Where the engine journals messages. Every method is a coroutine."""

    async def open(self) -> None:  # noqa: B027 - most stores have nothing to open
        """Prepare the store (create files, run migrations)."""

    async def close(self) -> None:  # noqa: B027
        """Flush and release the store."""

    @abc.abstractmethod
    async def add(
        self,
        message: Message,
        recipients: Sequence[Recipient],
        encoding: Encoding,
        segments: int,
        now: float,
    ) -> tuple[MessageRecord, bool]:
        """Journal a new message, committed before this returns.

        Returns the record and True; or, when the message's ``reference`` (or its id) was
        seen before, the first message's record and False (nothing new is journalled).
        """

    async def add_started(
        self,
        message: Message,
        recipients: Sequence[Recipient],
        encoding: Encoding,
        segments: int,
        now: float,
        provider: str,
    ) -> tuple[MessageRecord, bool]:
        """Journal a new message with its first attempt started on *provider*, at *now*.

        What :meth:`add` then :meth:`attempt_started` for every recipient do, as one
        write: a store that commits (SQLite) commits once. Returns as :meth:`add` does;
        for a message seen before nothing is journalled, no mark either.
        """
        record, created = await self.add(message, recipients, encoding, segments, now)
        if created:
            await self.attempt_started(record.id, provider, [r.ref for r in recipients], now)
        return record, created

    @abc.abstractmethod
    async def get(self, message_id: str) -> MessageRecord | None:
        """The message with this id."""

    @abc.abstractmethod
    async def attempt_started(
        self, message_id: str, provider: str, refs: Sequence[str], now: float | None = None
    ) -> None:
        """Mark recipients as handed to *provider*, before the request goes out, at *now*.

        The start time is kept with the mark: after a crash, a provider that does not know
        the message once the attempt's timeout has passed since then never got it.

        Raises:
            KeyError: no such message.
        """

    @abc.abstractmethod
    async def attempt_ended(self, message_id: str, ref: str, attempt: Attempt) -> None:
        """Record one recipient's attempt and clear its in-flight mark and start time.

        Raises:
            KeyError: no such message, or no such recipient of it.
        """

    @abc.abstractmethod
    async def finish(self, result: SendResult) -> None:
        """Record every recipient's final send status; the message is done.

        Raises:
            KeyError: no such message.
        """

    @abc.abstractmethod
    async def apply_report(self, report: DeliveryReport, now: float) -> ReportMatch | None:
        """Attach a delivery report to its recipient; what it matched, or None.

        Matched by (provider, provider message id), by our per-recipient reference, or by
        our message id as reference, and only to a recipient with an attempt through
        ``report.provider``; the recipient's number picks one recipient when the rest
        leaves several (see :func:`report_target`). Where one provider message id
        was used twice, the newest message wins. A final status is never replaced: such a
        report is matched but not applied (``ReportMatch.applied`` is False).
        """

    @abc.abstractmethod
    async def add_inbound(self, message: InboundMessage, now: float) -> str | None:
        """Journal an inbound message; return the id of the message it answers, if known.

        The same (provider, provider message id) pushed again is journalled once; without
        a provider id, the same content (see :func:`inbound_key`) pushed again within
        :data:`INBOUND_REPEAT_WINDOW` is too.
        """

    @abc.abstractmethod
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
        """Journalled inbound messages, newest first.

        Args:
            provider: only those this provider pushed.
            number: only those from or to this number (a leading ``+`` is ignored).
            since: only those journalled at or after this time.
            until: only those journalled before this time.
            limit: at most this many (at least 1).
            before: only those whose id is below this: the last id of the previous page.

        Raises:
            ValueError: *limit* is below 1.
        """

    @abc.abstractmethod
    async def unfinished(self) -> list[MessageRecord]:
        """Messages not done, oldest first, each recipient with its attempts and in-flight mark.

        The daemon sends or resolves them at start.
        """

    async def record_calls(  # noqa: B027 - a store may remember nothing
        self, calls: Sequence[CallRecord], holds: Sequence[HoldRecord], *, forget_before: float
    ) -> None:
        """Remember budget calls and holds, forgetting those that ended before *forget_before*.

        A call recorded again (same provider, operation and start) takes the new end; an end
        once recorded stays. Of holds on one (provider, operation), the latest ``until``
        stands. A call counts by :attr:`CallRecord.at`, a hold by its ``until``. This
        default remembers nothing: a restart then starts with fresh budgets.
        """

    async def recent_calls(self, since: float) -> RecentCalls:
        """The calls and holds remembered whose time is at or after *since*, calls by start."""
        return RecentCalls()


INBOUND_REPEAT_WINDOW = 3600.0
"""Seconds within which an inbound text pushed again with no provider id (the same
provider, sender, our number, text, what it answers, and the provider's time) is taken as
the same text, journalled once."""


def inbound_key(message: InboundMessage) -> tuple[str | float | None, ...]:
    """What tells two pushes of *message* apart: the provider's id, else its content."""
    if message.provider_message_id is not None:
        return (message.provider, message.provider_message_id)
    # As the recent pushes see it (engine/callbacks.py): what it says it answers counts too.
    m = message
    return (m.provider, m.sender, m.recipient, m.text, m.at, m.in_reply_to)


def check_limit(limit: int) -> None:
    """Refuse a page size below one."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")


def bare_number(number: str) -> str:
    """*number* without a leading ``+``: providers write our numbers both ways."""
    return number.removeprefix("+")


def ref_candidates(ref: str) -> tuple[str, ...]:
    """The message ids *ref* may name: itself, or the message of a recipient's reference."""
    message_id = message_of_ref(ref)
    return (ref,) if message_id is None else (ref, message_id)


def answered_by(record: MessageRecord, in_reply_to: str) -> bool:
    """Whether *in_reply_to* names *record*: its id or one of its recipients' refs."""
    return record.id == in_reply_to or any(r.ref == in_reply_to for r in record.recipients)
