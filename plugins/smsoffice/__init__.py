"""The built-in SMS Office provider plugin: the adapter and its emulator."""

from __future__ import annotations

from plugins.smsoffice.adapter import SMSOfficeProvider
from plugins.smsoffice.emulator import SMSOfficeEmulator
from router import EmulatorRegistry, ProviderRegistry, hookimpl

__all__ = ["SMSOfficeEmulator", "SMSOfficeProvider"]


@hookimpl
def smsrouter_register_providers(registry: ProviderRegistry) -> None:
    """Register the ``smsoffice`` provider type."""
    registry.add(SMSOfficeProvider)


@hookimpl
def smsrouter_register_emulators(registry: EmulatorRegistry) -> None:
    """Register the SMS Office emulator, for ``smsrouter emulate smsoffice`` and the demo."""
    registry.add(SMSOfficeEmulator)
