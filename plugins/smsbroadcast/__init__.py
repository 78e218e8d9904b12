"""The built-in SMS Broadcast (Australia) provider plugin; its emulator is in ``emulator``."""

from __future__ import annotations

from plugins.smsbroadcast.adapter import SMSBroadcastProvider
from router import hookimpl
from router.plugins import ProviderRegistry

__all__ = ["SMSBroadcastProvider"]


@hookimpl
def smsrouter_register_providers(registry: ProviderRegistry) -> None:
    """Register the ``smsbroadcast`` provider type."""
    registry.add(SMSBroadcastProvider)
