"""SMSBroadcast adapter: SKELETON, to be replaced."""

from __future__ import annotations

import attrs

from router.model import Batch, RecipientOutcome
from router.provider import Provider


@attrs.frozen
class SMSBroadcastConfig:
    """Options."""


class SMSBroadcastProvider(Provider[SMSBroadcastConfig]):
    """Skeleton."""

    type_name = "smsbroadcast"
    Config = SMSBroadcastConfig

    async def send(self, batch: Batch) -> list[RecipientOutcome]:
        raise NotImplementedError
