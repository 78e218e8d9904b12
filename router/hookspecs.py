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
    from router.registries import (
        EmulatorRegistry,
        IngressRegistry,
        PolicyRegistry,
        ProviderRegistry,
    )

PROJECT = "smsrouter"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def smsrouter_register_providers(registry: ProviderRegistry) -> None:
    """Add provider types: ``registry.add(MyProvider)``.

    Runs once when a Router starts, before any provider is built from config. A provider
    table names the type by its ``type_name`` (``plugin = "smsoffice"``).

    Args:
        registry: where provider classes go; a ``type_name`` two plugins both add, a class
            that is not a :class:`~router.Provider`, or one without an attrs ``Config``
            stops the Router from starting with a :class:`~router.PluginError`.
    """


@hookspec
def smsrouter_register_policies(registry: PolicyRegistry) -> None:
    """Add routing policy types: ``registry.add(MyPolicy)``.

    Runs once when a Router starts, before the policy chain is built from config. The
    chain names a policy by its ``name`` (``policy = ["prefix", "cheapest"]``).

    Args:
        registry: where policy classes go; a ``name`` two plugins both add, or a class that
            is not a :class:`~router.Policy`, stops the Router with a PluginError.
    """


@hookspec
def smsrouter_register_emulators(registry: EmulatorRegistry) -> None:
    """Add provider emulators: ``registry.add(MyEmulator)``.

    Runs once when a plugin host loads, beside the other registration hooks. An emulator
    is a :class:`~router.testing.Emulator` whose ``name`` is the ``type_name`` of the
    provider type it doubles for; ``smsrouter emulate`` and ``smsrouter demo`` find it
    by that name.

    Args:
        registry: where emulator classes go; a name two plugins both add, or a class that
            is not an emulator, stops the Router with a PluginError.
    """


@hookspec
def smsrouter_register_ingresses(registry: IngressRegistry) -> None:
    """Add ingresses, drop-in HTTP APIs of other gateways: ``registry.add(MyIngress)``.

    Runs once when a plugin host loads, beside the other registration hooks. An ingress
    is a :class:`~router.Ingress` whose ``name`` is its config table's
    (``[ingress.kannel]``); the daemon serves its ``paths`` only while that table is in
    the config.

    Args:
        registry: where ingress classes go; a name two plugins both add, a path two
            ingresses claim or one of the daemon's own (``/v1/...``), or a class that is not
            an Ingress stops the Router with a PluginError.
    """


@hookspec
def smsrouter_message_routed(message: Message, result: SendResult) -> Awaitable[None] | None:
    """A message was sent: every recipient ended accepted, rejected, failed or ambiguous.

    Runs after the last attempt of every recipient, before ``Router.send`` returns (also
    when it goes on to raise NoRouteError).

    Args:
        message: the message as the caller gave it.
        result: each recipient's status, provider and attempts.

    Returns:
        None, or an awaitable the core awaits within ``router.hook_timeout``.
    """


@hookspec
def smsrouter_delivery_report(
    report: DeliveryReport, message_id: str | None, ref: str | None, applied: bool
) -> Awaitable[None] | None:
    """A provider reported on one recipient of a message it took.

    Runs after the report is journalled, for every report a push held. The report is
    matched to its message once, by the core; a hook needs no second look-up.

    Args:
        report: the provider's report, its status normalised.
        message_id: our id of the message it was matched to; None when it matched none.
        ref: our reference of the recipient it was matched to (see
            :func:`router.recipient_ref`); None when it matched none.
        applied: whether the journal changed the recipient's delivery status with it;
            False when it matched none, or the recipient had a final status already (a
            report never downgrades one: a hook mirroring the journal skips it).

    Returns:
        None, or an awaitable the core awaits within ``router.hook_timeout``.
    """


@hookspec
def smsrouter_inbound_message(message: InboundMessage) -> Awaitable[None] | None:
    """Someone sent a text to one of our numbers, and a provider pushed it to us.

    Args:
        message: the text, its sender (E.164 where it parses) and our number.

    Returns:
        None, or an awaitable the core awaits within ``router.hook_timeout``.
    """


@hookspec
def smsrouter_balance_updated(provider: str, balance: Balance) -> Awaitable[None] | None:
    """A provider's balance was learnt: polled, told by a send's answer, or zero on no credit.

    The estimate lowered after each accepted send does not call it.

    Args:
        provider: the configured name of the provider (``office``), not its type.
        balance: the amount and its unit (``credits`` or a currency code).

    Returns:
        None, or an awaitable the core awaits within ``router.hook_timeout``.
    """


@hookspec
def smsrouter_provider_state_changed(provider: str, old: str, new: str) -> Awaitable[None] | None:
    """A provider's circuit breaker moved: it stopped or started taking messages.

    Args:
        provider: the configured name of the provider.
        old: the state it left: ``closed``, ``open`` or ``half_open``.
        new: the state it entered.

    Returns:
        None, or an awaitable the core awaits within ``router.hook_timeout``.
    """
