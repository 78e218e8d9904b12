"""For tests, yours and ours: a fake provider, a fake clock, the conformance kit, emulators.

Register the fake provider type by passing this module as a plugin::

    async with Router(config, plugins=[router.testing]) as router: ...

with a provider table ``plugin = "fake"``. Each send call takes the next scripted outcome
(``script = ["provider_error", "accepted"]``), then ``outcome`` for ever after.

The conformance kit checks a provider type against the contract every adapter keeps, in
one call from the plugin's own tests::

    await check_provider(make_provider, password="s3cret-pw", callbacks={...})

where ``make_provider(base_url, session)`` builds the adapter pointed at *base_url*. It
checks the declarations (:func:`check_provider_type`), how transport failures and
malformed answers map to outcomes against a misbehaving loopback server
(:func:`check_outcome_mapping`), that the
password shows nowhere (:func:`check_no_secret_leaks`) and how pushes are parsed
(:func:`check_callbacks`). Every problem found is reported together in one
:class:`ConformanceError`.

A provider's emulator, the double its own tests, the demo and users' integration tests run
against, subclasses :class:`Emulator`: a loopback aiohttp server with accounts, counters,
fault injection (:class:`Fault`) and pushed callbacks (:class:`Push`).
"""

from __future__ import annotations

from router.hookspecs import hookimpl
from router.registries import ProviderRegistry
from router.testing.conformance import (
    DEFAULT_NUMBERS,
    ConformanceError,
    ConformanceReport,
    check_callbacks,
    check_no_secret_leaks,
    check_outcome_mapping,
    check_provider,
    check_provider_type,
)
from router.testing.emulator import Account, Counters, Emulator, Fault, Handler, Push
from router.testing.fakes import FakeClock, FakeConfig, FakeProvider
from router.testing.faults import ProviderFactory

__all__ = [
    "DEFAULT_NUMBERS",
    "Account",
    "ConformanceError",
    "ConformanceReport",
    "Counters",
    "Emulator",
    "FakeClock",
    "FakeConfig",
    "FakeProvider",
    "Fault",
    "Handler",
    "ProviderFactory",
    "Push",
    "check_callbacks",
    "check_no_secret_leaks",
    "check_outcome_mapping",
    "check_provider",
    "check_provider_type",
    "smsrouter_register_providers",
]


@hookimpl
def smsrouter_register_providers(registry: ProviderRegistry) -> None:
    """Register the ``fake`` provider type."""
    registry.add(FakeProvider)
