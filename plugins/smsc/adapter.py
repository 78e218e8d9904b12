"""SMSC adapter: SKELETON, to be replaced."""

from __future__ import annotations

import attrs

from router.model import Batch, RecipientOutcome
from router.provider import Provider


@attrs.frozen
class SMSCConfig:
    """Options."""


class SMSCProvider(Provider[SMSCConfig]):
    """Skeleton."""

    type_name = "smsc"
    Config = SMSCConfig

    async def send(self, batch: Batch) -> list[RecipientOutcome]:
        raise NotImplementedError
