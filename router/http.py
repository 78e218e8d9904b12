"""One HTTP call to a provider, with every transport failure mapped to an outcome.

Adapters call :func:`call` instead of the aiohttp session so that three rules hold for all
of them:

* a failure before the request was written is ``unavailable`` (fail over at once), one
  after it may have been written is ``ambiguous`` (the provider may have sent the SMS);
  a call that found no connection in time (a free one in the pool, or a new one
  connected) is our own congestion: ``unavailable`` of kind ``budget``, which the
  provider's breaker does not count (see :func:`timeouts`);
* a request is never sent twice behind the engine's back: aiohttp re-sends an idempotent
  request (GET) once when a reused keep-alive connection drops, which for a GET send would
  be a second SMS nobody sees, so a per-request middleware refuses the second try;
* no secret reaches an error text or log line: aiohttp puts the full URL (query string and
  all) in its exception texts, so those are redacted and never chained.
"""

from __future__ import annotations

import email.utils
import logging
import math
import time
from collections.abc import Iterable, Mapping
from types import SimpleNamespace

import aiohttp
import attrs
from yarl import URL

from router.errors import (
    ProviderAmbiguousError,
    ProviderError,
    ProviderRejectedError,
    ProviderUnavailableError,
)
from router.model import ErrorKind
from router.provider import ProviderContext
from router.redact import Secret, redact


@attrs.frozen
class Answer:
    """A provider's HTTP answer."""

    status: int
    text: str
    headers: Mapping[str, str]


class _RepeatRefused(Exception):
    """aiohttp tried to send the same request a second time."""


_REPEATED_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
"""The idempotent methods (RFC 9110), the only ones aiohttp re-sends on a dropped keep-alive
connection: only these need the single-shot middleware, which costs every request a little."""


def _single_shot() -> aiohttp.ClientMiddlewareType:
    sent = False

    async def middleware(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        nonlocal sent
        if sent:
            raise _RepeatRefused
        sent = True
        return await handler(request)

    return middleware


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def timeouts(connect: float, request: float) -> aiohttp.ClientTimeout:
    """aiohttp's bounds for one call: *connect* to get a connection, then *request*.

    aiohttp's ``total`` runs from the start of the call, through the wait for a free
    connection in the pool (aiohttp issue 10313), and its expiry is a bare TimeoutError
    whatever the phase: alone it cannot tell a send that never left the process from one
    the provider may have taken. So the phases get their own bounds (aiohttp 3.14,
    ``client.py`` and ``connector.py``):

    * ``connect`` covers the pool wait and the new connection (DNS, TCP, TLS);
      ``sock_connect`` only the socket's connect. Either expiring raises
      ``ConnectionTimeoutError``, and nothing was written yet.
    * ``sock_read`` starts once the request was sent: silence from the provider for that
      long raises ``SocketTimeoutError``.
    * ``total`` is *connect* plus *request*, so it can expire only after the connection was
      had, never in the pool wait; the request then has at least *request* seconds.

    Deadlines are exact (no ``ceil_threshold`` rounding up to the next second), or a
    rounded ``connect`` deadline could fall after ``total``'s.
    """
    return aiohttp.ClientTimeout(
        total=connect + request,
        connect=connect,
        sock_connect=connect,
        sock_read=request,
        ceil_threshold=math.inf,
    )


class _Phase:
    """How far one call got in finding a connection, as the session's trace tells it."""

    def __init__(self) -> None:
        self.queued = False
        self.connecting = False


async def _queued(_: object, trace: SimpleNamespace, __: object) -> None:
    if isinstance(phase := trace.trace_request_ctx, _Phase):
        phase.queued = True


async def _connecting(_: object, trace: SimpleNamespace, __: object) -> None:
    if isinstance(phase := trace.trace_request_ctx, _Phase):
        phase.connecting = True


def connection_trace() -> aiohttp.TraceConfig:
    """A trace that tells :func:`call` whether a call waited in the pool or was connecting.

    With it on the session (the Router's own session has it), a connect that did not
    complete in time without any wait in the pool is the provider's fault (a host that
    never answers), counted by its breaker; without it, or after a wait in the pool, no
    connection in time is our own congestion.
    """
    trace = aiohttp.TraceConfig()
    trace.on_connection_queued_start.append(_queued)
    trace.on_connection_create_start.append(_connecting)
    return trace


async def call(
    context: ProviderContext,
    method: str,
    url: str | URL,
    *,
    params: Mapping[str, str] | None = None,
    data: Mapping[str, str] | None = None,
    secrets: Iterable[Secret | str] = (),
    timeout: float | None = None,
) -> Answer:
    """One HTTP call for a provider, its 2xx answer; *timeout* (default ``context.timeout``)
    and ``context.connect_timeout`` bound it as :func:`timeouts` says.

    Raises:
        ProviderUnavailableError: nothing was sent (refused, DNS, 5xx, 429, other 4xx),
            with ``retry_after`` when the provider gave one; kind ``budget`` when no
            connection was had in time (our congestion: the breaker does not count it).
        ProviderRejectedError: HTTP 401 or 403 (kind ``auth``).
        ProviderAmbiguousError: the request may have been sent (read timeout, connection
            lost after writing, a second send refused).
    """
    hidden = tuple(secrets)
    name = context.name
    phase = _Phase()

    def where() -> str:
        # Built only for an error text or a debug line: most calls need neither.
        return redact(f"{method} {URL(url).with_query(None)}", hidden)

    try:
        async with context.session.request(
            method,
            url,
            params=params,
            data=data,
            timeout=timeouts(context.connect_timeout, timeout or context.timeout),
            middlewares=(_single_shot(),) if method.upper() in _REPEATED_METHODS else (),
            allow_redirects=False,
            trace_request_ctx=phase,
        ) as response:
            text = await response.text(errors="replace")
            status, headers = response.status, dict(response.headers)
    except aiohttp.ConnectionTimeoutError:  # before its base TimeoutError: nothing was written
        raise _no_connection(where(), context, phase) from None
    except (aiohttp.ClientConnectorError, aiohttp.InvalidURL) as exc:
        reason = redact(f"{where()}: could not connect ({type(exc).__name__})", hidden)
        raise ProviderUnavailableError(reason, provider=name) from None
    except TimeoutError:  # sock_read or total: after the connection was had (timeouts())
        raise ProviderAmbiguousError(f"{where()}: timed out waiting", provider=name) from None
    except _RepeatRefused:
        reason = f"{where()}: connection dropped after the request was written; not repeated"
        raise ProviderAmbiguousError(reason, provider=name) from None
    except aiohttp.ClientError as exc:
        reason = redact(f"{where()}: connection lost ({type(exc).__name__})", hidden)
        raise ProviderAmbiguousError(reason, provider=name) from None
    if context.logger.isEnabledFor(logging.DEBUG):
        context.logger.debug("%s -> HTTP %s", where(), status)
    if 200 <= status < 300:
        return Answer(status, text, headers)
    raise _refused(status, headers, redact(f"{where()}: HTTP {status}", hidden), name)


def _no_connection(where: str, context: ProviderContext, phase: _Phase) -> ProviderError:
    """No connection within the connect bound: the provider's fault only when it was a
    connect of its own that did not complete, with no wait in our pool before it."""
    bound = f"{context.connect_timeout:g}s"
    if phase.connecting and not phase.queued:
        reason = f"{where}: could not connect within {bound}; not sent"
        return ProviderUnavailableError(reason, provider=context.name)
    reason = f"{where}: no connection within {bound}; not sent"
    return ProviderUnavailableError(reason, provider=context.name, kind=ErrorKind.BUDGET)


def _refused(status: int, headers: Mapping[str, str], summary: str, name: str) -> ProviderError:
    """What a non-2xx answer means: nothing was sent, or the account was refused."""
    if status in (401, 403):
        return ProviderRejectedError(summary, provider=name, kind=ErrorKind.AUTH)
    return ProviderUnavailableError(
        summary,
        provider=name,
        kind=ErrorKind.THROTTLED if status == 429 else None,
        retry_after=retry_after(headers.get("Retry-After")),
    )
