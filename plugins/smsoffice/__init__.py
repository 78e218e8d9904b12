"""The built-in SMSOffice provider plugin."""

from __future__ import annotations

from plugins.smsoffice.adapter import SMSOfficeProvider
from router import hookimpl
from router.plugins import ProviderRegistry

__all__ = ["SMSOfficeProvider"]


@hookimpl
def smsrouter_register_providers(registry: ProviderRegistry) -> None:
    """Register the ``smsoffice`` provider type."""
    registry.add(SMSOfficeProvider)
