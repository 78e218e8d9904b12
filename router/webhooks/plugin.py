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

_FAILED = frozenset({RecipientStatus.FAILED, RecipientStatus.REJECTED, RecipientStatus.EXPIRED})


class WebhookPlugin:
    """The event hooks that journal webhook events; the daemon registers one per Router.

    Which webhooks an event is journalled for is decided by the config of the Router this
    plugin is registered with (:meth:`bind`), not by the config in force elsewhere.
    """

    def __init__(self) -> None:
        self.service: WebhookService | None = None
        """Where events are journalled: set by :meth:`bind`."""
        self.webhooks: tuple[WebhookSettings, ...] = ()
        """The webhooks of this plugin's Router: set by :meth:`bind`."""
        self.callbacks = False
        """Whether its Router's messages may have their own ``callback_url``."""

    def bind(self, config: Config, service: WebhookService) -> None:
        """Journal events in *service* for *config*'s webhooks (this plugin's Router's).

        Until it is bound (while its Router is being built), the plugin journals nothing.
        """
        self.webhooks, self.service = config.webhooks, service
        self.callbacks = config.message_callbacks.secret is not None

    def _wanting(
        self, kind: EventType
    ) -> tuple[WebhookService, tuple[WebhookSettings, ...]] | None:
        """The service and the webhooks that want *kind*, or None when none does."""
        hooks = tuple(hook for hook in self.webhooks if kind in hook.events)
        return None if self.service is None or not hooks else (self.service, hooks)

    @hookimpl
    def smsrouter_delivery_report(
        self, report: DeliveryReport, message_id: str | None, ref: str | None, applied: bool
    ) -> Awaitable[None] | None:
        """Journal a ``delivery_report`` event, unless the journal matched the report but did
        not apply it (a final status is never downgraded, so neither are the events)."""
        wanted = self._wanting(EventType.DELIVERY_REPORT)
        if message_id is not None and not applied:
            return None
        if wanted is None:
            # Still journalled for the message's own callback_url, when it has one.
            if self.service is None or message_id is None or not self.callbacks:
                return None
            return self.service.on_report(report, message_id, ref, webhooks=())
        service, hooks = wanted
        return service.on_report(report, message_id, ref, webhooks=hooks)

    @hookimpl
    def smsrouter_inbound_message(self, message: InboundMessage) -> Awaitable[None] | None:
        """Journal an ``inbound_message`` event."""
        wanted = self._wanting(EventType.INBOUND_MESSAGE)
        if wanted is None:
            return None
        service, hooks = wanted
        return service.on_inbound(message, webhooks=hooks)

    @hookimpl
    def smsrouter_message_routed(
        self, message: Message, result: SendResult
    ) -> Awaitable[None] | None:
        """Journal a ``message_failed`` event for each recipient that failed, was rejected
        (opted out too) or expired unsent."""
        failed = [r for r in result.recipients if r.status in _FAILED]
        wanted = self._wanting(EventType.MESSAGE_FAILED)
        if not failed or wanted is None:
            return None
        service, hooks = wanted
        now = service.clock.time()
        events = (failed_event(message, r, now) for r in failed)
        return service.enqueue(*events, webhooks=hooks)

    @hookimpl
    def smsrouter_provider_state_changed(
        self, provider: str, old: str, new: str
    ) -> Awaitable[None] | None:
        """Journal a ``provider_state`` event."""
        wanted = self._wanting(EventType.PROVIDER_STATE)
        if wanted is None:
            return None
        service, hooks = wanted
        event = state_event(provider, old, new, service.clock.time())
        return service.enqueue(event, webhooks=hooks)
