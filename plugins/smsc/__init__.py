"""The built-in SMSC provider plugin: the adapter and its emulator."""

from __future__ import annotations

from plugins.smsc.adapter import SMSCProvider
from plugins.smsc.emulator import SMSCEmulator
from router import EmulatorRegistry, ProviderRegistry, hookimpl

__all__ = ["SMSCEmulator", "SMSCProvider"]


@hookimpl
def smsrouter_register_providers(registry: ProviderRegistry) -> None:
    """Register the ``smsc`` provider type."""
    registry.add(SMSCProvider)


@hookimpl
def smsrouter_register_emulators(registry: EmulatorRegistry) -> None:
    """Register the SMSC emulator, for ``smsrouter emulate smsc`` and the demo."""
    registry.add(SMSCEmulator)
