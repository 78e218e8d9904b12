"""SMSOffice adapter: SKELETON, to be replaced."""

from __future__ import annotations

import attrs

from router.model import Batch, RecipientOutcome
from router.provider import Provider


@attrs.frozen
class SMSOfficeConfig:
    """Options."""


class SMSOfficeProvider(Provider[SMSOfficeConfig]):
    """Skeleton."""

    type_name = "smsoffice"
    Config = SMSOfficeConfig

    async def send(self, batch: Batch) -> list[RecipientOutcome]:
        raise NotImplementedError
