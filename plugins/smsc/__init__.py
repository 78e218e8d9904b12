"""The built-in SMSC provider plugin."""

from __future__ import annotations

from plugins.smsc.adapter import SMSCProvider
from router import hookimpl
from router.plugins import ProviderRegistry

__all__ = ["SMSCProvider"]


@hookimpl
def smsrouter_register_providers(registry: ProviderRegistry) -> None:
    """Register the ``smsc`` provider type."""
    registry.add(SMSCProvider)
