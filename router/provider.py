"""The provider contract: what an adapter declares and the methods the core awaits.

An adapter subclasses :class:`Provider`, names itself with ``type_name``, declares an
attrs ``Config`` class for its own config keys, its :class:`Capabilities` and its default
:class:`Limits`, and implements ``send`` (plus ``balance``, ``query_status`` and
``parse_callback`` where the provider has them). Every vendor answer and every transport
error is translated into the outcome taxonomy (:class:`~router.model.Outcome`) here, at
the adapter boundary; nothing vendor-specific passes it.
"""

from __future__ import annotations

import abc
import enum
import logging
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar

import aiohttp
import attrs

from router.errors import CallbackError
from router.model import (
    Balance,
    Batch,
    CallbackKind,
    CallbackRequest,
    CallbackResult,
    DeliveryReport,
    RecipientOutcome,
    SenderKind,
    StatusQuery,
)
from router.redact import Secret, redact


class Operation(enum.StrEnum):
    """The kinds of call a provider account is budgeted for."""

    SEND = "send"
    BALANCE = "balance"
    STATUS = "status"


@attrs.frozen
class Capabilities:
    """What a provider can do; the always-on routing filters read these."""

    max_recipients: int = 1
    """Recipients one send call may carry."""
    coalesce: bool = False
    """Whether one send call may carry the recipients of several messages of one text and
    sender (a campaign queued as single messages): the adapter keeps each recipient apart
    by its ``ref``, and knows the call by :attr:`~router.model.Batch.message_id`, the first
    message's (:mod:`router.engine.coalesce`)."""
    max_parts: int = 1
    """Segments one message may have."""
    unicode: bool = False
    """Whether UCS-2 texts are supported."""
    sender_kinds: frozenset[SenderKind] = frozenset(SenderKind)
    max_sender_length: int = 11
    """Characters of an alphanumeric sender ID."""
    balance: bool = False
    status_query: bool = False
    push_dlr: bool = False
    push_inbound: bool = False
    client_reference: bool = False
    """Whether the provider keeps a reference of ours and echoes it back."""
    reference_length: int | None = None


@attrs.frozen
class Rate:
    """At most *calls* calls in any window of *per* seconds."""

    calls: int = attrs.field(validator=attrs.validators.ge(1))
    per: float = attrs.field(validator=attrs.validators.gt(0))


@attrs.frozen
class Limits:
    """One provider account's budget: concurrent calls and per-operation rates."""

    concurrency: int | None = None
    """Calls in flight at once, across every operation; None for no cap."""
    rates: dict[Operation, Rate] = attrs.field(factory=dict)
    wait: float = 10.0
    """Seconds a call may wait for its slot before it is unavailable."""


ConfigT = TypeVar("ConfigT")


@attrs.frozen
class ProviderContext:
    """What the core hands every provider instance."""

    name: str
    """The configured name of this instance (``office``), not its type."""
    session: aiohttp.ClientSession
    """The Router's one HTTP client session."""
    logger: logging.Logger
    default_region: str | None = None
    timeout: float = 30.0
    """Seconds one HTTP call to this provider may take once it has its connection."""
    connect_timeout: float = 10.0
    """Seconds one HTTP call may wait for a connection (a free one in the Router's pool, or
    a new one connected) before it is unavailable, with nothing sent."""


class Provider(abc.ABC, Generic[ConfigT]):
    """The base of every provider adapter.

    Subclasses set the class attributes and implement :meth:`send`; the rest have
    defaults that say the provider cannot do that.
    """

    type_name: ClassVar[str]
    """The plugin name a config table uses: ``plugin = "smsoffice"``."""
    Config: ClassVar[type[Any]]
    """An attrs class for this provider's own config keys."""
    capabilities: Capabilities = Capabilities()
    """What this provider can do; an instance may narrow it from its config."""
    limits: ClassVar[Limits] = Limits()
    callback_answer: ClassVar[str] = "OK"
    """The body this provider expects in answer to a push."""

    def __init__(self, config: ConfigT, context: ProviderContext) -> None:
        self.config = config
        self.context = context
        self.name = context.name

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    @property
    def secrets(self) -> tuple[Secret, ...]:
        """The secrets this instance holds, which :meth:`redact` masks; none by default.

        An adapter whose config holds passwords or tokens returns them here.
        """
        return ()

    def redact(self, text: str, limit: int | None = None) -> str:
        """*text* with every one of :attr:`secrets` masked, cut to *limit* characters if given.

        Masking comes first, so a cut never leaves part of a secret behind.
        """
        text = redact(text, self.secrets)
        return text if limit is None else text[:limit]

    @abc.abstractmethod
    async def send(self, batch: Batch) -> list[RecipientOutcome]:
        """Send *batch*: one :class:`RecipientOutcome` per recipient, in batch order.

        Never raises for a provider answer or a transport failure: both map to an outcome.
        """

    async def balance(self) -> Balance:
        """The account balance; raises a :class:`~router.errors.ProviderError` on failure."""
        raise NotImplementedError(f"{self.type_name} has no balance query")

    async def query_status(self, queries: Sequence[StatusQuery]) -> list[DeliveryReport]:
        """The current status of sent recipients; raises ProviderError on failure."""
        raise NotImplementedError(f"{self.type_name} has no status query")

    def parse_callback(self, kind: CallbackKind, request: CallbackRequest) -> CallbackResult:
        """The reports or inbound messages a push holds, and the answer it expects.

        Raises :class:`~router.errors.CallbackError` when the push is not acceptable.
        """
        raise CallbackError(f"{self.type_name} does not push {kind} callbacks", provider=self.name)

    async def aclose(self) -> None:
        """Release what the adapter holds; the HTTP session belongs to the Router."""
        return
