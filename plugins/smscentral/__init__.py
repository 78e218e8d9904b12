"""The built-in SMSCentral provider plugin."""

from __future__ import annotations

from plugins.smscentral.adapter import SMSCentralProvider
from router import hookimpl
from router.plugins import ProviderRegistry

__all__ = ["SMSCentralProvider"]


@hookimpl
def smsrouter_register_providers(registry: ProviderRegistry) -> None:
    """Register the ``smscentral`` provider type."""
    registry.add(SMSCentralProvider)
