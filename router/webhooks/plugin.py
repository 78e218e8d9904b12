"""The event hooks that turn what happens in a Router into webhook events.

The daemon registers one :class:`WebhookPlugin` with each Router it builds. Each hook
builds its :class:`~router.webhooks.events.Event` and hands it to the
:class:`~router.webhooks.service.WebhookService`, which journals it for the webhooks that
want it; a hook nobody's webhook wants does nothing and returns nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable

from router.config import Config, WebhookSettings
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
    """The event hooks that journal webhook events; the daemon registers one per Router.

    Which webhooks an event is journalled for is decided by the config of the Router this
    plugin is registered with (:meth:`bind`), not by the config in force elsewhere.
    """

    def __init__(self, service: WebhookService) -> None:
        self.service = service
        self.webhooks: tuple[WebhookSettings, ...] = ()
        """The webhooks of this plugin's Router: set by :meth:`bind`."""

    def bind(self, config: Config) -> None:
        """Journal events for *config*'s webhooks: the config of this plugin's Router."""
        self.webhooks = config.webhooks

    def _wanting(self, kind: EventType) -> tuple[WebhookSettings, ...]:
        return tuple(hook for hook in self.webhooks if kind in hook.events)

    @hookimpl
    def smsrouter_delivery_report(
        self, report: DeliveryReport, message_id: str | None
    ) -> Awaitable[None] | None:
        """Journal a ``delivery_report`` event."""
        hooks = self._wanting(EventType.DELIVERY_REPORT)
        if not hooks:
            return None
        return self.service.on_report(report, message_id, webhooks=hooks)

    @hookimpl
    def smsrouter_inbound_message(self, message: InboundMessage) -> Awaitable[None] | None:
        """Journal an ``inbound_message`` event."""
        hooks = self._wanting(EventType.INBOUND_MESSAGE)
        if not hooks:
            return None
        return self.service.on_inbound(message, webhooks=hooks)

    @hookimpl
    def smsrouter_message_routed(
        self, message: Message, result: SendResult
    ) -> Awaitable[None] | None:
        """Journal a ``message_failed`` event for each recipient that failed or was rejected."""
        failed = [r for r in result.recipients if r.status in _FAILED]
        hooks = self._wanting(EventType.MESSAGE_FAILED)
        if not failed or not hooks:
            return None
        now = self.service.clock.time()
        events = (failed_event(message, r, now) for r in failed)
        return self.service.enqueue(*events, webhooks=hooks)

    @hookimpl
    def smsrouter_provider_state_changed(
        self, provider: str, old: str, new: str
    ) -> Awaitable[None] | None:
        """Journal a ``provider_state`` event."""
        hooks = self._wanting(EventType.PROVIDER_STATE)
        if not hooks:
            return None
        event = state_event(provider, old, new, self.service.clock.time())
        return self.service.enqueue(event, webhooks=hooks)
