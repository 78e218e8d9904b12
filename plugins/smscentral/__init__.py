"""The built-in SMS Central (AU) provider plugin: the adapter, and an emulator beside it."""

from __future__ import annotations

from plugins.smscentral.adapter import SMSCentralConfig, SMSCentralProvider
from plugins.smscentral.emulator import SMSCentralEmulator
from router import EmulatorRegistry, ProviderRegistry, hookimpl

__all__ = ["SMSCentralConfig", "SMSCentralEmulator", "SMSCentralProvider"]


@hookimpl
def smsrouter_register_providers(registry: ProviderRegistry) -> None:
    """Register the ``smscentral`` provider type."""
    registry.add(SMSCentralProvider)


@hookimpl
def smsrouter_register_emulators(registry: EmulatorRegistry) -> None:
    """Register the SMS Central emulator, for ``smsrouter emulate smscentral`` and the demo."""
    registry.add(SMSCentralEmulator)
