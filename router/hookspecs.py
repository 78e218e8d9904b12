"""The plugin contract: every hook smsrouter calls, with when it runs and what it takes.

Plugins implement these with ``from router import hookimpl``. Registration hooks run once
per Router, synchronously, and only contribute classes to a registry; the core builds
instances from config and awaits their methods. Event hooks let a plugin observe; an event
hook may return an awaitable, which the core awaits with a timeout, so one plugin's
failure or slowness never reaches another plugin or the message.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from router.model import Balance, DeliveryReport, InboundMessage, Message, SendResult
    from router.plugins import PolicyRegistry, ProviderRegistry

PROJECT = "smsrouter"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def smsrouter_register_providers(registry: ProviderRegistry) -> None:
    """Add provider types: ``registry.add(MyProvider)``.

    Runs once when a Router starts, before any provider is built from config.
    """


@hookspec
def smsrouter_register_policies(registry: PolicyRegistry) -> None:
    """Add routing policy types: ``registry.add(MyPolicy)``.

    Runs once when a Router starts, before the policy chain is built from config.
    """


@hookspec
def smsrouter_message_routed(message: Message, result: SendResult) -> Awaitable[None] | None:
    """A message was sent: *result* holds every recipient's status and attempts.

    Runs after the last attempt of every recipient, before ``Router.send`` returns.
    """


@hookspec
def smsrouter_delivery_report(
    report: DeliveryReport, message_id: str | None
) -> Awaitable[None] | None:
    """A provider reported on a recipient; *message_id* is ours, when it was matched."""


@hookspec
def smsrouter_inbound_message(message: InboundMessage) -> Awaitable[None] | None:
    """Someone sent a text to one of our numbers."""


@hookspec
def smsrouter_balance_updated(provider: str, balance: Balance) -> Awaitable[None] | None:
    """A provider's balance was read (by a poll or from a send's answer)."""


@hookspec
def smsrouter_provider_state_changed(provider: str, old: str, new: str) -> Awaitable[None] | None:
    """A provider's circuit breaker moved from *old* to *new* (closed, open, half_open)."""
