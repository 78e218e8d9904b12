"""The journal contract, its records, and the rules by which every store matches a report or
an inbound text to its message (:func:`ref_candidates`, :func:`report_target`, ...)."""

from __future__ import annotations

import abc
import enum
from collections.abc import Sequence
from decimal import Decimal

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
from router.store.admin import AdminJournal
from router.store.budget_records import CallRecord as CallRecord
from router.store.budget_records import HoldRecord as HoldRecord
from router.store.budget_records import RecentCalls as RecentCalls
from router.store.deliveries import DeliveryJournal, DeliverySample
from router.store.inbound_keys import INBOUND_REPEAT_WINDOW as INBOUND_REPEAT_WINDOW
from router.store.inbound_keys import inbound_key as inbound_key
from router.store.matches import ReportMatch as ReportMatch
from router.store.queue import WorkQueue


class MessageState(enum.StrEnum):
    """Where a journalled message is."""

    QUEUED = "queued"
    """Accepted, no attempt started."""
    SENDING = "sending"
    """Attempts under way."""
    DONE = "done"
    """Every recipient has its final send status."""
    HELD = "held"
    """Some recipients are ``scheduled``: the scheduler sends them at their time."""


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
    in_flight_via: str | None = None
    """The id of the message that attempt's call went by when it is another message's (a
    call coalescing several messages goes by the first one's): recovery asks the provider
    by it. None when not in flight, or when the call went by this message's own id."""
    delivery: DeliveryStatus | None = None
    delivery_raw: str | None = None
    delivery_at: float | None = None
    delivery_parts: tuple[DeliveryStatus | None, ...] = ()
    """Each part's status when the provider reports the parts of a long text apart."""
    cost: Decimal | None = None
    reason: str = ""
    """Why it was not sent, when no provider was asked (``opted out``, ``expired``)."""
    due_at: float | None = None
    """When a ``scheduled`` recipient is to be sent."""
    redelivered_from: str | None = None
    """The provider whose failed or expired report had this recipient sent once more."""
    redelivery_reason: str | None = None
    """Why it was sent once more: that report, in words."""


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
    send_at: float | None = None
    expires_at: float | None = None
    urgent: bool = False
    callback_url: str | None = None

    def message(self) -> Message:
        """The message as it was sent to the router, numbers in E.164."""
        return Message(
            to=tuple(r.recipient for r in self.recipients),
            text=self.text,
            sender=self.sender,
            reference=self.reference,
            providers=self.providers,
            id=self.id,
            send_at=self.send_at,
            expires_at=self.expires_at,
            urgent=self.urgent,
            callback_url=self.callback_url,
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
                    reason=r.reason,
                    scheduled_at=r.due_at,
                )
                for r in self.recipients
            ),
            encoding=self.encoding,
            segments=self.segments,
            duplicate=duplicate,
        )


@attrs.frozen
class OptOut:
    """A number on the opt-out list: no provider sends to it until it is taken off."""

    number: str
    """E.164, with the ``+``."""
    at: float
    """When it was added, from the router's clock."""
    provider: str | None = None
    """The provider whose inbound keyword added it; None when added by hand."""
    source: str = "api"
    """The keyword it was added by (``STOP``), or ``api`` / ``cli``."""


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


class MessageStore(AdminJournal, WorkQueue, abc.ABC):
    """Where the engine journals messages, operators their actions (:class:`AdminJournal`),
    and instances sharing it lease their work (:class:`WorkQueue`).

    Every method is a coroutine.
    """

    deliveries: DeliveryJournal  # delivery statistics, learnt weights, redelivery claims

    async def open(self) -> None:
        """Prepare the store (create files, run migrations)."""

    async def close(self) -> None:
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
        """:meth:`add`, then :meth:`attempt_started` on *provider*, in one write (one commit)."""
        record, created = await self.add(message, recipients, encoding, segments, now)
        if created:
            await self.attempt_started(record.id, provider, [r.ref for r in recipients], now)
        return record, created

    @abc.abstractmethod
    async def get(self, message_id: str) -> MessageRecord | None:
        """The message with this id."""

    @abc.abstractmethod
    async def attempt_started(
        self,
        message_id: str,
        provider: str,
        refs: Sequence[str],
        now: float | None = None,
        *,
        via: str | None = None,
    ) -> None:
        """Mark recipients as handed to *provider*, before the request goes out, at *now*.

        The start time is kept with the mark: after a crash, a provider that does not know
        the message once the attempt's timeout has passed since then never got it.

        *via* is the id of the message the call goes by when it is another message's (a
        call that coalesces several messages); None when the call goes by this message's
        own id. It is kept with the mark, as :attr:`RecipientRecord.in_flight_via`.

        Raises:
            KeyError: no such message.
        """

    @abc.abstractmethod
    async def attempt_ended(self, message_id: str, ref: str, attempt: Attempt) -> None:
        """Record one recipient's attempt and clear its in-flight mark, start time and via.

        Raises:
            KeyError: no such message, or no such recipient of it.
        """

    @abc.abstractmethod
    async def finish(self, result: SendResult, sent: Sequence[DeliverySample] = ()) -> None:
        """Record every recipient's send status: the message is done, or ``held`` while a
        recipient is ``scheduled`` (due at its ``scheduled_at``; see :meth:`held_due`).
        The *sent* samples are counted in :attr:`deliveries` in the same write.

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

    @abc.abstractmethod
    async def held_due(self, now: float, limit: int = 64) -> list[str]:
        """Ids of held messages due by *now* (a recipient's time, or ``expires_at``), soonest
        first: found by an index, never by reading every message."""

    @abc.abstractmethod
    async def next_held(self) -> float | None:
        """When the soonest held message is due, or None when none is held."""

    @abc.abstractmethod
    async def cancel(self, message_id: str, now: float) -> MessageRecord | None:
        """Cancel every recipient not yet sent: ``scheduled`` ones, and never-attempted ones
        of a queued message; the record after, or None when there is no such message."""

    @abc.abstractmethod
    async def find(
        self,
        *,
        reference: str | None = None,
        status: str | None = None,
        since: float | None = None,
        limit: int = 50,
        before: tuple[float, str] | None = None,
    ) -> list[MessageRecord]:
        """Messages, newest first (by ``created_at``, then id).

        Args:
            reference: only the one with this client reference.
            status: only those in this :class:`MessageState`, or with a recipient of this
                :class:`~router.model.RecipientStatus`.
            since: only those created at or after this time.
            limit: at most this many (at least 1).
            before: (created_at, id) of the previous page's last: only those after it.
        """

    @abc.abstractmethod
    async def opt_out(self, entry: OptOut) -> bool:
        """Put a number on the opt-out list; False when it was on it already (kept as it was)."""

    @abc.abstractmethod
    async def opt_in(self, number: str) -> bool:
        """Take a number off the opt-out list; False when it was not on it."""

    @abc.abstractmethod
    async def optouts(self, *, number: str | None = None) -> list[OptOut]:
        """The opt-out list (or *number*'s entry), oldest first."""

    async def record_calls(
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
