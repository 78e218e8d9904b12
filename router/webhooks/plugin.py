"""The event hooks that turn what happens in a Router into webhook events.

The daemon registers one :class:`WebhookPlugin` with each Router it builds. Each hook
builds its :class:`~router.webhooks.events.Event` and hands it to the
:class:`~router.webhooks.service.WebhookService`, which journals it for the webhooks that
want it; a hook nobody's webhook wants does nothing and returns nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable

from router.hookspecs import hookimpl
from router.model import (
    DeliveryReport,
    EventType,
    InboundMessage,
    Message,
    RecipientStatus,
    SendResult,
)
from router.webhooks.events import failed_event, state_event
from router.webhooks.service import WebhookService

__all__ = ["WebhookPlugin"]

_FAILED = frozenset({RecipientStatus.FAILED, RecipientStatus.REJECTED})


class WebhookPlugin:
    """The event hooks that journal webhook events; the daemon registers one per Router."""

    def __init__(self, service: WebhookService) -> None:
        self.service = service

    @hookimpl
    def smsrouter_delivery_report(
        self, report: DeliveryReport, message_id: str | None
    ) -> Awaitable[None] | None:
        """Journal a ``delivery_report`` event."""
        if not self.service.wants(EventType.DELIVERY_REPORT):
            return None
        return self.service.on_report(report, message_id)

    @hookimpl
    def smsrouter_inbound_message(self, message: InboundMessage) -> Awaitable[None] | None:
        """Journal an ``inbound_message`` event."""
        if not self.service.wants(EventType.INBOUND_MESSAGE):
            return None
        return self.service.on_inbound(message)

    @hookimpl
    def smsrouter_message_routed(
        self, message: Message, result: SendResult
    ) -> Awaitable[None] | None:
        """Journal a ``message_failed`` event for each recipient that failed or was rejected."""
        failed = [r for r in result.recipients if r.status in _FAILED]
        if not failed or not self.service.wants(EventType.MESSAGE_FAILED):
            return None
        now = self.service.host.clock.time()
        return self.service.enqueue(*(failed_event(message, r, now) for r in failed))

    @hookimpl
    def smsrouter_provider_state_changed(
        self, provider: str, old: str, new: str
    ) -> Awaitable[None] | None:
        """Journal a ``provider_state`` event."""
        if not self.service.wants(EventType.PROVIDER_STATE):
            return None
        return self.service.enqueue(state_event(provider, old, new, self.service.host.clock.time()))
