"""One recipient's way through its candidates while the send loop sends it."""

from __future__ import annotations

from decimal import Decimal

import attrs

from router.model import Attempt, Recipient, RecipientResult, RecipientStatus


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

    def finish(
        self,
        status: RecipientStatus,
        provider: str | None = None,
        provider_message_id: str | None = None,
        cost: Decimal | None = None,
        segments: int = 1,
    ) -> None:
        """End here: *status*, on *provider* when one took (or refused) it."""
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
