"""What a journal matched a delivery report to, and what it did with it."""

from __future__ import annotations

import attrs

from router.model import DeliveryStatus


@attrs.frozen
class ReportMatch:
    """What :meth:`MessageStore.apply_report` matched a report to, and what it did."""

    message_id: str
    ref: str
    """Our reference of the recipient the report is about."""
    applied: bool
    """Whether the report changed the recipient's delivery status: False when it had a
    final one already (a report never downgrades) or the report said nothing new."""
    status: DeliveryStatus | None = attrs.field(default=None, eq=False)
    """The recipient's delivery status after the report (the parts of a long text
    together). Left out of comparisons: it follows from the journal, not the match."""
