"""When two pushes of an inbound text are one: what tells them apart, and how long a push
with no provider id is taken as a repeat (every journal keeps the rule)."""

from __future__ import annotations

from router.model import InboundMessage

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
