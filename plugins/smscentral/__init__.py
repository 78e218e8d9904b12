"""The built-in SMS Central (AU) provider plugin: the adapter, and an emulator beside it."""

from __future__ import annotations

from plugins.smscentral.adapter import SMSCentralConfig, SMSCentralProvider
from router import hookimpl
from router.plugins import ProviderRegistry

__all__ = ["SMSCentralConfig", "SMSCentralProvider"]


@hookimpl
def smsrouter_register_providers(registry: ProviderRegistry) -> None:
    """Register the ``smscentral`` provider type."""
    registry.add(SMSCentralProvider)
