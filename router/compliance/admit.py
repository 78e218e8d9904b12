"""Admitting each recipient of a message: opted out, expired, held until its time, or sent.

Runs when a message is sent and again when a held one comes due, on the recipients never
handed to a provider: one on the opt-out list is refused (``rejected``, ``opted out``); a
message past its ``expires_at`` ends ``expired``; one whose time (``send_at``, else now)
falls in its quiet hours, unless the message is urgent, is held (``scheduled``) until they
end. The rest go on to routing. A recipient already attempted is left to recovery: it may
be at a provider.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from router.compliance.optouts import OptOutList
from router.compliance.quiet import quiet_until, zones_for
from router.config import RouterSettings
from router.config.compliance import QuietHours, parse_quiet_hours
from router.model import Message, Recipient, RecipientResult, RecipientStatus
from router.store import MessageRecord, RecipientRecord

__all__ = ["OPTED_OUT", "Admission", "recorded_result"]

OPTED_OUT = "opted out"
EXPIRED = "expired before it was sent"


def recorded_result(recipient: RecipientRecord, segments: int) -> RecipientResult:
    """The result a journalled recipient already has."""
    assert recipient.status is not None
    return RecipientResult(
        recipient=recipient.recipient,
        ref=recipient.ref,
        status=recipient.status,
        provider=recipient.provider,
        provider_message_id=recipient.provider_message_id,
        attempts=recipient.attempts,
        segments=segments,
        cost=recipient.cost,
        reason=recipient.reason,
        scheduled_at=recipient.due_at,
    )


class Admission:
    """Which recipients of a message go now, and what becomes of the others.

    Args:
        settings: the ``[router]`` table (its quiet hours).
        optouts: the opt-out list.
    """

    def __init__(self, settings: RouterSettings, optouts: OptOutList) -> None:
        self.optouts = optouts
        self.quiet_hours = None if settings.quiet_hours is None else (
            parse_quiet_hours(settings.quiet_hours)
        )  # fmt: skip
        self.by_country: Mapping[str, QuietHours | None] = {
            country: parse_quiet_hours(window)
            for country, window in settings.quiet_hours_by_country.items()
        }

    def window(self, region: str | None) -> QuietHours | None:
        """The quiet hours of a recipient in *region*."""
        if region is not None and region in self.by_country:
            return self.by_country[region]
        return self.quiet_hours

    def admit(
        self,
        message: Message,
        recipients: Sequence[Recipient],
        segments: int,
        now: float,
        record: MessageRecord | None = None,
        *,
        exempt: bool = False,
    ) -> dict[str, RecipientResult]:
        """The results of the recipients not to be sent now, by reference.

        *record* is the message's journal entry when it is resumed; *exempt* lets a reply
        to an opt-out keyword through the list and quiet hours.
        """
        journalled = {} if record is None else {r.ref: r for r in record.recipients}
        settled: dict[str, RecipientResult] = {}
        for recipient in recipients:
            known = journalled.get(recipient.ref)
            if known is not None and known.status not in (None, RecipientStatus.SCHEDULED):
                settled[recipient.ref] = recorded_result(known, segments)
                continue
            if known is not None and (known.attempts or known.in_flight is not None):
                continue  # it may be at a provider: recovery settles it
            result = self._decide(message, recipient, segments, now, exempt)
            if result is not None:
                settled[recipient.ref] = result
        return settled

    def _decide(
        self, message: Message, recipient: Recipient, segments: int, now: float, exempt: bool
    ) -> RecipientResult | None:
        status, reason, due = None, "", max(now, message.send_at or now)
        if recipient.e164 in self.optouts and not exempt:
            status, reason = RecipientStatus.REJECTED, OPTED_OUT
        elif message.expires_at is not None and now >= message.expires_at:
            status, reason = RecipientStatus.EXPIRED, EXPIRED
        else:
            window = None if message.urgent or exempt else self.window(recipient.region)
            ends = None if window is None else quiet_until(window, zones_for(recipient.e164), due)
            due = ends or due
            if due <= now:
                return None
            status = RecipientStatus.SCHEDULED
        return RecipientResult(
            recipient=recipient.e164,
            ref=recipient.ref,
            status=status,
            provider=None,
            provider_message_id=None,
            attempts=(),
            segments=segments,
            reason=reason,
            scheduled_at=due if status is RecipientStatus.SCHEDULED else None,
        )
