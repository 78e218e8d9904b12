"""The daemon's outer middlewares and server options: what no request gets past.

:func:`errors` turns every error into one answer of :func:`~router.daemon.json.error` (and
anything unforeseen into a logged JSON 500); :func:`plain_bodies` refuses compressed
bodies unread; :data:`SERVER_OPTIONS` bounds what the server itself reads and keeps.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from router.daemon.json import error, no_route_json, respond
from router.errors import NoRouteError, RequestError, StoreError, ValidationError

__all__ = ["SERVER_OPTIONS", "errors", "plain_bodies"]

log = logging.getLogger("smsrouter.server")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SERVER_OPTIONS: dict[str, Any] = {
    # Bodies are read as sent: a compressed one is refused (415) by plain_bodies, never
    # inflated, so a bomb cannot hold the loop.
    "auto_decompress": False,
    # An answered request's unread body is drained this long at most, not 10 s.
    "lingering_time": 1.0,
    # An idle keep-alive connection is closed after this long.
    "keepalive_timeout": 15.0,
}
"""The aiohttp server options the daemon is served with (``serve`` and the tests alike)."""

_IDENTITY = frozenset({"", "identity"})


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every error through :func:`~router.daemon.json.error`; a 500 as the last resort."""
    try:
        return await handler(request)
    except ValidationError as exc:
        return error(400, "invalid", exc.message, exc.field)
    except RequestError as exc:
        return error(exc.status, exc.code, exc.message, exc.field)
    except NoRouteError as exc:
        return respond(no_route_json(exc), 422)
    except StoreError as exc:  # logged by the journal when it starts failing, not per request
        wait = math.ceil(exc.retry_after)
        return error(
            503,
            "journal_unavailable",
            f"the journal cannot serve this request now ({exc.reason}); nothing was done: "
            f"try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    except web.HTTPRequestEntityTooLarge:
        return error(413, "too_large", "the request body is too large")
    except web.HTTPException as exc:
        if exc.status >= 400 and request.path.startswith("/v1"):
            allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
            return error(
                exc.status, exc.reason.lower().replace(" ", "_"), exc.reason, headers=allow
            )
        raise
    except Exception as exc:
        # The last resort: one line naming the route's pattern (never the path, which may
        # hold the callback secret) and the exception's type (never its text or values).
        resource = request.match_info.route.resource
        where = resource.canonical if resource is not None else "an unmatched path"
        log.error("unhandled %s answering %s %s", type(exc).__name__, request.method, where)
        return error(500, "internal", "the daemon failed to answer this request")


@web.middleware
async def plain_bodies(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse (415) a request whose body is compressed, before anything reads it."""
    encoding = request.headers.get("Content-Encoding", "")
    if encoding.strip().lower() not in _IDENTITY:
        # Providers and clients send plain bodies: a compressed one is refused unread, and
        # the connection closed so that nothing lingers to drain (or inflate) it.
        answer = error(
            415,
            "unsupported_encoding",
            "compressed request bodies are not accepted; send the body as is",
            "Content-Encoding",
        )
        answer.force_close()
        return answer
    return await handler(request)
