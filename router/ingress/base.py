"""The ingress contract: a drop-in HTTP API of another gateway, served by the daemon.

An ingress speaks a protocol clients already use (Kannel's ``/cgi-bin/sendsms``, Jasmin's
``/send``) so that switching to smsrouter means changing a URL, not rewriting clients. It
is a plugin like a provider: a class with a ``name``, an attrs ``Config`` for its
``[ingress.NAME]`` table and the ``paths`` it answers (GET and POST), registered with
``smsrouter_register_ingresses``. It is off unless its table is in the config.

The daemon builds one instance per config and hands it an :class:`IngressContext`: a way
to journal and queue a message (as ``POST /v1/messages`` with ``"wait": false`` does), to
keep a note beside it (what it needs to call its client back, kept across restarts), and
to call its client back with retries. When the message is sent and when its delivery
reports arrive, the daemon calls :meth:`Ingress.message_routed` and
:meth:`Ingress.delivery_report` with the note.
"""

from __future__ import annotations

import abc
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar

import attrs
from aiohttp import web

from router.clock import Clock
from router.model import DeliveryReport, Message, SendResult
from router.redact import Secret
from router.store.admin import IngressNote

__all__ = ["Ingress", "IngressCall", "IngressContext", "IngressUser", "find_user", "user_problems"]


@attrs.frozen
class IngressUser:
    """A client account of an ingress: its password, and the API token it acts under.

    The token must be one of ``[server] api_tokens``: taking it out of them shuts this
    account out too. ``default_sender`` is used when a request names none;
    ``forced_sender`` replaces whatever a request names; ``providers`` restricts where its
    messages may go (configured provider names).
    """

    password: Secret
    token: Secret
    default_sender: str | None = None
    forced_sender: str | None = None
    providers: tuple[str, ...] | None = None


@attrs.frozen
class IngressCall:
    """An HTTP call to an ingress's client (a delivery report, in its protocol)."""

    method: str
    """``GET`` (the fields are added to the URL's query) or ``POST`` (a form body)."""
    url: str
    fields: Mapping[str, str] = attrs.field(factory=dict)
    answered: Callable[[int, str], bool] = lambda status, body: 200 <= status < 300
    """Whether the client's answer (status, body) means it took the call; else it is
    tried again, a few times."""


@attrs.frozen
class IngressContext:
    """What the daemon gives an ingress."""

    name: str
    """The ingress's name (its ``[ingress.NAME]`` table)."""
    accept: Callable[[Message], Awaitable[str]]
    """Journal *message* and queue it for sending; returns its id. Raises
    :class:`~router.errors.ValidationError` for a bad message, and
    :class:`~router.errors.RouterError` when the daemon cannot take it now (shutting down,
    the journal failing)."""
    keep_note: Callable[[str, Mapping[str, str]], Awaitable[None]]
    """Keep fields (strings) beside a message id, for :meth:`Ingress.message_routed` and
    :meth:`Ingress.delivery_report`; kept in the journal, across restarts."""
    call_back: Callable[[IngressCall], None]
    """Make a call to the client in the background, retried while it fails."""
    token_in_force: Callable[[Secret], bool]
    """Whether a token is one of ``[server] api_tokens`` now (checked on each request:
    a reload that drops it shuts its users out)."""
    providers: Sequence[str]
    """The configured providers' names."""
    clock: Clock
    log: logging.Logger


class Ingress(abc.ABC):
    """The base of every ingress: a foreign gateway's HTTP API, answered by the daemon.

    Args:
        config: its validated ``Config`` (the ``[ingress.NAME]`` table).
        context: what the daemon gives it.
    """

    name: ClassVar[str]
    """The name of its config table: ``[ingress.kannel]``."""
    Config: ClassVar[type[Any]]
    """An attrs class for its table."""
    paths: ClassVar[tuple[str, ...]]
    """The paths it answers, GET and POST (``/cgi-bin/sendsms``); none under ``/v1/``."""

    def __init__(self, config: Any, context: IngressContext) -> None:
        self.config = config
        self.context = context

    @classmethod
    def config_problems(
        cls, config: Any, api_tokens: Sequence[str], providers: Sequence[str]
    ) -> list[str]:
        """What is wrong with *config* beyond its types, each ``path: message`` relative
        to the table (``users.shop.token: ...``). Secrets are never quoted back."""
        return []

    @abc.abstractmethod
    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer a request to one of :attr:`paths`, as the foreign gateway would."""

    async def message_routed(self, note: IngressNote, result: SendResult) -> None:  # noqa: B027
        """A message this ingress took (*note* is what it kept) was sent: *result*."""

    async def delivery_report(  # noqa: B027 - an ingress may not report back
        self, note: IngressNote, report: DeliveryReport, ref: str
    ) -> None:
        """A delivery report matched (and applied to) recipient *ref* of a message it took."""


def find_user(
    users: Mapping[str, IngressUser], username: str | None, password: str | None
) -> tuple[str, IngressUser] | None:
    """The account *username* names when *password* is its own, compared in constant time."""
    if username is None or password is None:
        return None
    user = users.get(username)
    if user is None:
        return None
    if not hmac.compare_digest(password.encode(), user.password.reveal().encode()):
        return None
    return username, user


def user_problems(
    users: Mapping[str, IngressUser], api_tokens: Sequence[str], providers: Sequence[str]
) -> list[str]:
    """The users whose token is not an API token, or who name an unknown provider."""
    problems = []
    for name, user in users.items():
        given = user.token.reveal()
        if not any(hmac.compare_digest(given.encode(), t.encode()) for t in api_tokens):
            problems.append(f"users.{name}.token: not one of server.api_tokens")
        for index, provider in enumerate(user.providers or ()):
            if provider not in providers:
                problems.append(f"users.{name}.providers[{index}]: no provider {provider!r}")
    return problems
