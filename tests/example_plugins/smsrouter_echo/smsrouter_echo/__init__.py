"""smsrouter-echo: a provider plugin for the Echo SMS API.

smsrouter finds this module through the entry point in ``pyproject.toml``
(``[project.entry-points.smsrouter] echo = "smsrouter_echo"``) and calls the hook below
once per Router; a provider table with ``plugin = "echo"`` then builds an
:class:`EchoProvider`, and ``smsrouter emulate echo`` serves an :class:`EchoEmulator`.
"""

from __future__ import annotations

from router import EmulatorRegistry, ProviderRegistry, hookimpl

from .adapter import EchoConfig, EchoProvider
from .emulator import EchoEmulator

__all__ = ["EchoConfig", "EchoEmulator", "EchoProvider"]


@hookimpl
def smsrouter_register_providers(registry: ProviderRegistry) -> None:
    """Register the ``echo`` provider type."""
    registry.add(EchoProvider)


@hookimpl
def smsrouter_register_emulators(registry: EmulatorRegistry) -> None:
    """Register the Echo emulator, for ``smsrouter emulate echo``."""
    registry.add(EchoEmulator)
