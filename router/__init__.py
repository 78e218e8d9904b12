"""smsrouter: one asyncio core in front of many SMS aggregators.

Embed it (``async with Router(config) as router: await router.send(Message(...))``), run it
as a daemon (``smsrouter serve``), or extend it with provider and policy plugins
(``from router import hookimpl``).
"""

from __future__ import annotations

import typing as _typing

from router.errors import (
    CallbackError,
    ConfigError,
    NoRouteError,
    PluginError,
    ProviderAmbiguousError,
    ProviderError,
    ProviderRejectedError,
    ProviderUnavailableError,
    RouterError,
    ValidationError,
)
from router.hookspecs import hookimpl
from router.model import (
    Attempt,
    Balance,
    Batch,
    CallbackKind,
    CallbackRequest,
    CallbackResponse,
    CallbackResult,
    Candidate,
    DeliveryReport,
    DeliveryStatus,
    Encoding,
    ErrorKind,
    Exclusion,
    InboundMessage,
    Message,
    Outcome,
    Recipient,
    RecipientOutcome,
    RecipientResult,
    RecipientStatus,
    Route,
    SenderKind,
    SendResult,
    StatusQuery,
)
from router.policy import Policy, ProviderView, RoutingContext
from router.provider import Capabilities, Limits, Operation, Provider, ProviderContext, Rate
from router.redact import Secret

__all__ = [
    "Attempt",
    "Balance",
    "Batch",
    "CallbackError",
    "CallbackKind",
    "CallbackRequest",
    "CallbackResponse",
    "CallbackResult",
    "Candidate",
    "Capabilities",
    "ConfigError",
    "DeliveryReport",
    "DeliveryStatus",
    "Encoding",
    "ErrorKind",
    "Exclusion",
    "InboundMessage",
    "Limits",
    "Message",
    "NoRouteError",
    "Operation",
    "Outcome",
    "PluginError",
    "Policy",
    "Provider",
    "ProviderAmbiguousError",
    "ProviderContext",
    "ProviderError",
    "ProviderRejectedError",
    "ProviderUnavailableError",
    "ProviderView",
    "Rate",
    "Recipient",
    "RecipientOutcome",
    "RecipientResult",
    "RecipientStatus",
    "Route",
    "Router",
    "RouterError",
    "RoutingContext",
    "Secret",
    "SendResult",
    "SenderKind",
    "StatusQuery",
    "ValidationError",
    "__version__",
    "hookimpl",
]


if _typing.TYPE_CHECKING:
    from router.engine import Router

    __version__: str


def __getattr__(name: str) -> object:
    # Router pulls in the engine, plugin loading and aiohttp's client: import it on use,
    # so plugins can import the contracts from here without a cycle.
    if name == "Router":
        from router.engine import Router

        return Router
    if name == "__version__":
        from importlib.metadata import version

        return version("smsrouter")
    raise AttributeError(f"module 'router' has no attribute {name!r}")
