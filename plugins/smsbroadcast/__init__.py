"""The built-in SMS Broadcast (Australia) provider plugin: the adapter and its emulator."""

from __future__ import annotations

from plugins.smsbroadcast.adapter import SMSBroadcastProvider
from plugins.smsbroadcast.emulator import SMSBroadcastEmulator
from router import EmulatorRegistry, ProviderRegistry, hookimpl

__all__ = ["SMSBroadcastEmulator", "SMSBroadcastProvider"]


@hookimpl
def smsrouter_register_providers(registry: ProviderRegistry) -> None:
    """Register the ``smsbroadcast`` provider type."""
    registry.add(SMSBroadcastProvider)


@hookimpl
def smsrouter_register_emulators(registry: EmulatorRegistry) -> None:
    """Register the SMS Broadcast emulator, for ``smsrouter emulate smsbroadcast`` and the demo."""
    registry.add(SMSBroadcastEmulator)
