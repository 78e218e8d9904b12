"""smsrouter: one asyncio core in front of many SMS aggregators.

Embed it (``async with Router(config) as router: await router.send(Message(...))``), run it
as a daemon (``smsrouter serve``), or extend it with provider and policy plugins
(``from router import hookimpl``).

This module is the whole public surface, for users and plugin authors alike: the Router
and its values, the hook marker and the registries, the one HTTP call every adapter makes
(:func:`call`), numbers, text, redaction. Plugin authors' test kit is :mod:`router.testing`.
Everything else is internal and may change between releases.
"""

from __future__ import annotations

from router.clock import Clock, SystemClock, read_time
from router.config import Duration
from router.engine import RoutePlan, Router
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
    StoreError,
    ValidationError,
)
from router.hookspecs import hookimpl
from router.http import Answer, call, retry_after
from router.ingress.base import Ingress, IngressCall, IngressContext, IngressUser
from router.model import (
    Attempt,
    Balance,
    Batch,
    CallbackKind,
    CallbackRequest,
    CallbackResponse,
    CallbackResult,
    DeliveryReport,
    DeliveryStatus,
    Encoding,
    ErrorKind,
    InboundMessage,
    Message,
    Outcome,
    Recipient,
    RecipientOutcome,
    RecipientResult,
    RecipientStatus,
    SenderKind,
    SendResult,
    StatusQuery,
    message_of_ref,
    recipient_ref,
)
from router.numbers import international_digits, national, to_e164
from router.policy import Candidate, Exclusion, Policy, ProviderView, Route, RoutingContext
from router.provider import Capabilities, Limits, Operation, Provider, ProviderContext, Rate
from router.redact import Secret, redact
from router.registries import EmulatorRegistry, IngressRegistry, PolicyRegistry, ProviderRegistry
from router.store import MessageRecord, MessageStore, open_store
from router.store.admin import IngressNote
from router.text import TextInfo, analyse
from router.version import VERSION as __version__

__all__ = [
    "Answer",
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
    "Clock",
    "ConfigError",
    "DeliveryReport",
    "DeliveryStatus",
    "Duration",
    "EmulatorRegistry",
    "Encoding",
    "ErrorKind",
    "Exclusion",
    "InboundMessage",
    "Ingress",
    "IngressCall",
    "IngressContext",
    "IngressNote",
    "IngressRegistry",
    "IngressUser",
    "Limits",
    "Message",
    "MessageRecord",
    "MessageStore",
    "NoRouteError",
    "Operation",
    "Outcome",
    "PluginError",
    "Policy",
    "PolicyRegistry",
    "Provider",
    "ProviderAmbiguousError",
    "ProviderContext",
    "ProviderError",
    "ProviderRegistry",
    "ProviderRejectedError",
    "ProviderUnavailableError",
    "ProviderView",
    "Rate",
    "Recipient",
    "RecipientOutcome",
    "RecipientResult",
    "RecipientStatus",
    "Route",
    "RoutePlan",
    "Router",
    "RouterError",
    "RoutingContext",
    "Secret",
    "SendResult",
    "SenderKind",
    "StatusQuery",
    "StoreError",
    "SystemClock",
    "TextInfo",
    "ValidationError",
    "__version__",
    "analyse",
    "call",
    "hookimpl",
    "international_digits",
    "message_of_ref",
    "national",
    "open_store",
    "read_time",
    "recipient_ref",
    "redact",
    "retry_after",
    "to_e164",
]
