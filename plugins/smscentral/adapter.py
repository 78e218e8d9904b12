"""SMSCentral adapter: SKELETON, to be replaced."""

from __future__ import annotations

import attrs

from router.model import Batch, RecipientOutcome
from router.provider import Provider


@attrs.frozen
class SMSCentralConfig:
    """Options."""


class SMSCentralProvider(Provider[SMSCentralConfig]):
    """Skeleton."""

    type_name = "smscentral"
    Config = SMSCentralConfig

    async def send(self, batch: Batch) -> list[RecipientOutcome]:
        raise NotImplementedError
