"""smsrouter-echo: a provider plugin for the Echo SMS API.

smsrouter finds this module through the entry point in ``pyproject.toml``
(``[project.entry-points.smsrouter] echo = "smsrouter_echo"``) and calls the hook below
once per Router; a provider table with ``plugin = "echo"`` then builds an
:class:`EchoProvider`.
"""

from __future__ import annotations

from router import hookimpl
from router.plugins import ProviderRegistry

from .adapter import EchoConfig, EchoProvider

__all__ = ["EchoConfig", "EchoProvider"]


@hookimpl
def smsrouter_register_providers(registry: ProviderRegistry) -> None:
    """Register the ``echo`` provider type."""
    registry.add(EchoProvider)
