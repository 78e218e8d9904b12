"""The daemon's own routes: messages, routes, providers, plugins, callbacks, metrics, health.

* ``POST /v1/messages``, ``GET /v1/messages/{id}``: send (or queue) and look up messages;
* ``POST /v1/route``: what would be chosen and why, without sending;
* ``GET /v1/providers``, ``GET /v1/plugins``: the Router in force, as JSON;
* ``GET|POST /callbacks/{provider}/{kind}/{secret}``: a provider's push;
* ``GET /metrics``, ``GET /healthz``, ``GET /v1/openapi.json``.

Each handler reads the :class:`~router.daemon.app.Daemon` it was registered with, so a
reload's new Router is the one answering from then on.
"""

from __future__ import annotations

import hmac
import logging
from typing import TYPE_CHECKING

from aiohttp import web

from router.daemon import quality
from router.daemon.json import (
    MESSAGE_FIELDS,
    error,
    provider_json,
    read_body,
    read_message,
    record_json,
    respond,
    result_json,
    route_json,
)
from router.daemon.openapi import OPENAPI
from router.daemon.pushes import Unreadable, read_push
from router.errors import CallbackError
from router.model import CallbackKind, CallbackRequest

if TYPE_CHECKING:
    from router.daemon.app import Daemon

__all__ = ["add_routes"]

log = logging.getLogger("smsrouter.server")


class _Routes:
    """The handlers, on the daemon they serve."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    async def post_message(self, request: web.Request) -> web.Response:
        """``POST /v1/messages``: send, or journal and queue with ``"wait": false``."""
        daemon = self.daemon
        send = read_message(await read_body(request))
        if daemon.stopping:
            return error(503, "stopping", "the daemon is shutting down")
        router = daemon.router
        if not send.wait:
            record, created = await router.accept(send.message)
            if created:
                daemon.sends.put(record.id)
            return respond(
                {"id": record.id, "reference": record.reference, "duplicate": not created},
                202 if created else 200,
            )
        with daemon.sends.sending():
            result = await router.send(send.message, coalesce=send.coalesce)
        return respond(result_json(result))

    async def get_message(self, request: web.Request) -> web.Response:
        """``GET /v1/messages/{id}``: status, attempts and delivery of a message."""
        record = await self.daemon.store.get(request.match_info["id"])
        if record is None:
            return error(404, "not_found", "no message with this id", "id")
        return respond(record_json(record))

    async def post_route(self, request: web.Request) -> web.Response:
        """``POST /v1/route``: what would be chosen and why, without sending."""
        body = await read_body(request)
        fields = MESSAGE_FIELDS - {"wait", "coalesce"}
        send = read_message(body, fields=fields)
        return respond(route_json(self.daemon.router.route(send.message)))

    async def get_providers(self, request: web.Request) -> web.Response:
        """``GET /v1/providers``: health, balance and its age, limits, in flight."""
        router = self.daemon.router
        now = router.clock.time()
        learnt = router.quality
        return respond(
            {"providers": [provider_json(s, now, learnt) for s in router.providers.values()]}
        )

    async def get_plugins(self, request: web.Request) -> web.Response:
        """``GET /v1/plugins``: loaded plugins, versions, what each registered."""
        infos = self.daemon.router.plugins.describe()
        return respond(
            {
                "plugins": [
                    {
                        "name": i.name,
                        "version": i.version,
                        "hooks": list(i.hooks),
                        "providers": list(i.providers),
                        "policies": list(i.policies),
                    }
                    for i in infos
                ]
            }
        )

    async def callback(self, request: web.Request) -> web.Response:
        """``GET|POST /callbacks/{provider}/{kind}/{secret}``: a provider's push."""
        daemon = self.daemon
        name = request.match_info["provider"]
        if not _callback_secret_ok(daemon, name, request.match_info["secret"]):
            raise web.HTTPNotFound()
        try:
            kind = CallbackKind(request.match_info["kind"])
        except ValueError:
            raise web.HTTPNotFound() from None
        if name not in daemon.router.providers:
            raise web.HTTPNotFound()
        state = daemon.router.providers[name]
        try:
            query, form = await read_push(request, state.settings.common.push_charset)
        except Unreadable as exc:  # answered as the provider expects, so it is not retried
            log.warning("could not read a %s push from %r: %s", kind, name, exc)
            return web.Response(text=type(state.provider).callback_answer)
        pushed = CallbackRequest(
            method=request.method, query=query, form=form, headers=dict(request.headers)
        )
        too_large = _too_large(pushed)
        if too_large is not None:
            # Bounded before the adapter or any cache holds it; answered as the provider
            # expects so it does not push it again and again.
            log.warning("dropped a %s push from %r: %s", kind, name, too_large)
            answer_body = daemon.router.provider(name).callback_answer
            return web.Response(text=answer_body, content_type="text/plain")
        try:
            result = await daemon.router.handle_callback(name, kind, pushed)
        except CallbackError as exc:
            log.warning("refused a %s push from %r: %s", kind, name, exc)
            raise web.HTTPForbidden() from None
        answer = result.response
        return web.Response(
            text=answer.body, status=answer.status, content_type=answer.content_type
        )

    async def metrics(self, request: web.Request) -> web.Response:
        """``GET /metrics``: the Prometheus exposition."""
        body = self.daemon.router.metrics.exposition()
        return web.Response(
            body=body,
            content_type="text/plain",
            charset="utf-8",
            headers={"X-Content-Type-Options": "nosniff"},
        )

    async def healthz(self, request: web.Request) -> web.Response:
        """``GET /healthz``: up, stopping, or degraded (503) while the live state is away."""
        if self.daemon.stopping:
            return respond({"status": "stopping"})
        problem = self.daemon.router.state.problem()
        if problem is not None:
            return respond({"status": "degraded", "problems": [f"state: {problem}"]}, status=503)
        return respond({"status": "ok"})

    async def openapi(self, request: web.Request) -> web.Response:
        """``GET /v1/openapi.json``: the API's OpenAPI document."""
        return respond(OPENAPI)


def add_routes(app: web.Application, daemon: Daemon) -> None:
    """Serve the daemon's own routes on *app* from *daemon*."""
    handlers = _Routes(daemon)
    app.router.add_post("/v1/messages", handlers.post_message)
    app.router.add_get("/v1/messages/{id}", handlers.get_message)
    app.router.add_post("/v1/route", handlers.post_route)
    app.router.add_get("/v1/providers", handlers.get_providers)
    app.router.add_get("/v1/plugins", handlers.get_plugins)
    app.router.add_get("/v1/openapi.json", handlers.openapi)
    app.router.add_route("*", "/callbacks/{provider}/{kind}/{secret}", handlers.callback)
    app.router.add_get("/metrics", handlers.metrics)
    app.router.add_get("/healthz", handlers.healthz)
    quality.add_routes(app, daemon)  # /v1/quality and its freeze


def _callback_secret_ok(daemon: Daemon, provider: str, given: str) -> bool:
    """Whether *given* is the shared callback secret or *provider*'s own, in constant time."""
    secrets = [daemon.config.server.callback_secret]
    settings = daemon.config.providers.get(provider)
    if settings is not None:
        secrets.append(settings.common.callback_url_secret)
    ok = False
    for secret in secrets:
        if secret is not None:
            ok |= hmac.compare_digest(given.encode(), secret.reveal().encode())
    return ok


MAX_PUSH_FIELD = 16_384
"""The longest field name or value of a push, in characters (a long SMS is ~1,600)."""
MAX_PUSH_FIELDS = 200
"""The most fields a push may have, query and form together."""


def _too_large(pushed: CallbackRequest) -> str | None:
    """What makes *pushed* too large to take, or None when nothing does."""
    fields = [*pushed.query.items(), *pushed.form.items()]
    if len(fields) > MAX_PUSH_FIELDS:
        return f"{len(fields)} fields, more than {MAX_PUSH_FIELDS}"
    for key, value in fields:
        if len(key) > MAX_PUSH_FIELD or len(value) > MAX_PUSH_FIELD:
            return f"a field over {MAX_PUSH_FIELD} characters ({key[:40]!r}...)"
    return None
