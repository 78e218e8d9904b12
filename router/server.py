"""The routing daemon: an aiohttp app around one Router and its SQLite journal.

Every resource lives in ``cleanup_ctx`` (the Router, the journal, the send workers), so
nothing is closed that was never opened. A message the API acknowledges is committed to
the journal first; ``"wait": false`` answers 202 and a bounded pool of workers sends from
the journal. At start, the journal's unfinished messages are handed to the workers (the
Router resolves those caught mid-attempt). SIGTERM lets in-flight sends finish; SIGHUP
reloads the config, keeping the old one running when the new one is bad.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from router import api, inbound_api
from router.clock import Clock, SystemClock
from router.config import Config, read_toml
from router.engine import Router
from router.errors import CallbackError, NoRouteError, RequestError, RouterError, ValidationError
from router.model import CallbackKind, CallbackRequest
from router.openapi import OPENAPI
from router.store import MessageStore, open_store
from router.store.base import MessageState
from router.webhooks import WebhookPlugin, WebhookService
from router.webhooks.routes import add_routes as add_event_routes

log = logging.getLogger("smsrouter.server")

DEFAULT_STORE = "sqlite:///smsrouter.db"
"""The daemon's journal when ``[store] url`` is not set."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Daemon:
    """The daemon's state: its Router (swapped on reload), journal and send workers."""

    def __init__(
        self,
        config_path: str | Path | None = None,
        *,
        config_data: Mapping[str, Any] | None = None,
        plugins: tuple[object, ...] = (),
        env: Mapping[str, str] | None = None,
        clock: Clock | None = None,
    ) -> None:
        if config_path is None and config_data is None:
            raise ValueError("a config path or config data is needed")
        self.config_path = config_path
        self.config_data = config_data
        self.plugins = plugins
        self.env = env
        self.clock = clock or SystemClock()
        self.webhooks = WebhookService(self)
        self.webhook_plugin = WebhookPlugin(self.webhooks)
        self.router = self._build()
        self.store: MessageStore = open_store(self.router.config.store.url or DEFAULT_STORE)
        self._adopt(self.router)
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.workers: list[asyncio.Task[None]] = []
        self.busy = 0
        """Sends under way (API requests and workers)."""
        self._idle = asyncio.Event()
        self._idle.set()
        self.stopping = False

    def _build(self) -> Router:
        data = read_toml(self.config_path) if self.config_path else dict(self.config_data or {})
        plugins = (*self.plugins, self.webhook_plugin)
        return Router(data, plugins=plugins, env=self.env, clock=self.clock)

    def _adopt(self, router: Router) -> None:
        # The daemon owns the journal: it outlives every Router a reload builds.
        router.store, router.owns_store = self.store, False
        self.webhooks.watch(router.metrics)

    @property
    def config(self) -> Config:
        """The config in force."""
        return self.router.config

    async def start(self) -> None:
        """Open the journal, start the Router and the workers, requeue unfinished work."""
        await self.store.open()
        await self.webhooks.start()
        await self.router.start()
        for _ in range(self.config.server.workers):
            self.workers.append(asyncio.get_running_loop().create_task(self._work()))
        for record in await self.store.unfinished():
            self.queue.put_nowait(record.id)
        if not self.queue.empty():
            log.info("resuming %d unfinished messages from the journal", self.queue.qsize())

    async def stop(self) -> None:
        """Let in-flight sends finish, then stop workers, the Router and the journal."""
        self.stopping = True
        try:
            await asyncio.wait_for(self._idle.wait(), self.config.server.shutdown_timeout)
        except TimeoutError:
            log.warning("%d sends still under way at shutdown; the journal resumes them", self.busy)
        for worker in self.workers:
            worker.cancel()
        await asyncio.gather(*self.workers, return_exceptions=True)
        await self.router.aclose()
        await self.webhooks.stop()
        await self.store.close()

    async def _work(self) -> None:
        while not self.stopping:
            message_id = await self.queue.get()
            with self.sending():
                try:
                    record = await self.store.get(message_id)
                    if record is not None and record.state is not MessageState.DONE:
                        await self.router.resume(record)
                except NoRouteError:
                    pass  # journalled as failed, with every reason
                except Exception:
                    log.exception("sending journalled message %s failed", message_id)

    @contextlib.contextmanager
    def sending(self) -> Iterator[None]:
        """Count a send under way, so shutdown can wait for it."""
        self.busy += 1
        self._idle.clear()
        try:
            yield
        finally:
            self.busy -= 1
            if not self.busy:
                self._idle.set()

    async def reload(self) -> bool:
        """Load the config again; on any error keep the running one and log why."""
        try:
            new = self._build()
            if new.config.store.url != self.config.store.url:
                raise RouterError("store.url cannot change on reload; restart instead")
            self._adopt(new)
            await new.start()
        except RouterError as exc:
            log.error("config reload failed, keeping the running config:\n%s", exc)
            return False
        except Exception:
            log.exception("config reload failed, keeping the running config")
            return False
        old, self.router = self.router, new
        await old.aclose()
        log.info("config reloaded")
        return True


DAEMON = web.AppKey("daemon", Daemon)


def _json(body: object, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=lambda o: json.dumps(o, default=str))


def _error(status: int, code: str, message: str, field: str | None = None) -> web.Response:
    return _json(api.error_json(code, message, field), status)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ValidationError as exc:
        return _error(400, "invalid", exc.message, exc.field)
    except RequestError as exc:
        return _error(exc.status, exc.code, exc.message, exc.field)
    except NoRouteError as exc:
        return _json(api.no_route_json(exc), 422)
    except web.HTTPRequestEntityTooLarge:
        return _error(413, "too_large", "the request body is too large")
    except web.HTTPException as exc:
        if exc.status >= 400 and request.path.startswith("/v1"):
            return _error(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)
        raise


@web.middleware
async def _auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/v1/") and request.path != "/v1/openapi.json":
        tokens = request.app[DAEMON].config.server.api_tokens
        given = request.headers.get("Authorization", "")
        scheme, _, token = given.partition(" ")
        valid = (
            scheme.lower() == "bearer"
            and token
            and any(hmac.compare_digest(token.encode(), t.reveal().encode()) for t in tokens)
        )
        if not valid:
            return web.json_response(
                api.error_json("unauthorized", "a valid bearer token is required"),
                status=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
    return await handler(request)


async def _body(request: web.Request) -> object:
    try:
        return await request.json()
    except json.JSONDecodeError as exc:
        raise ValidationError("body", f"not valid JSON ({exc.msg} at {exc.pos})") from None


async def post_message(request: web.Request) -> web.Response:
    """``POST /v1/messages``: send, or journal and queue with ``"wait": false``."""
    daemon = request.app[DAEMON]
    send = api.read_message(await _body(request))
    if daemon.stopping:
        return _error(503, "stopping", "the daemon is shutting down")
    router = daemon.router
    if not send.wait:
        record, created = await router.accept(send.message)
        if created:
            daemon.queue.put_nowait(record.id)
        return _json(
            {"id": record.id, "reference": record.reference, "duplicate": not created},
            202 if created else 200,
        )
    with daemon.sending():
        result = await router.send(send.message)
    return _json(api.result_json(result))


async def get_message(request: web.Request) -> web.Response:
    """``GET /v1/messages/{id}``: status, attempts and delivery of a message."""
    record = await request.app[DAEMON].store.get(request.match_info["id"])
    if record is None:
        return _error(404, "not_found", "no message with this id", "id")
    return _json(api.record_json(record))


async def post_route(request: web.Request) -> web.Response:
    """``POST /v1/route``: what would be chosen and why, without sending."""
    body = await _body(request)
    fields = api.MESSAGE_FIELDS - {"wait"}
    send = api.read_message(body, fields=fields)
    return _json(api.route_json(request.app[DAEMON].router.route(send.message)))


async def get_providers(request: web.Request) -> web.Response:
    """``GET /v1/providers``: health, balance and its age, limits, in flight."""
    router = request.app[DAEMON].router
    now = router.clock.time()
    return _json({"providers": [api.provider_json(s, now) for s in router.providers.values()]})


async def get_plugins(request: web.Request) -> web.Response:
    """``GET /v1/plugins``: loaded plugins, versions, what each registered."""
    infos = request.app[DAEMON].router.plugins.describe()
    return _json(
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


async def callback(request: web.Request) -> web.Response:
    """``GET|POST /callbacks/{provider}/{kind}/{secret}``: a provider's push."""
    daemon = request.app[DAEMON]
    secret = daemon.config.server.callback_secret
    given = request.match_info["secret"]
    if secret is None or not hmac.compare_digest(given.encode(), secret.reveal().encode()):
        raise web.HTTPNotFound()
    name = request.match_info["provider"]
    try:
        kind = CallbackKind(request.match_info["kind"])
    except ValueError:
        raise web.HTTPNotFound() from None
    if name not in daemon.router.providers:
        raise web.HTTPNotFound()
    form = dict(await request.post()) if request.method == "POST" else {}
    pushed = CallbackRequest(
        method=request.method,
        query=dict(request.query),
        form={k: v for k, v in form.items() if isinstance(v, str)},
        headers=dict(request.headers),
    )
    try:
        result = await daemon.router.handle_callback(name, kind, pushed)
    except CallbackError as exc:
        log.warning("refused a %s push from %r: %s", kind, name, exc)
        raise web.HTTPForbidden() from None
    answer = result.response
    return web.Response(text=answer.body, status=answer.status, content_type=answer.content_type)


async def metrics(request: web.Request) -> web.Response:
    """``GET /metrics``: the Prometheus exposition."""
    body = request.app[DAEMON].router.metrics.exposition()
    return web.Response(
        body=body,
        content_type="text/plain",
        charset="utf-8",
        headers={"X-Content-Type-Options": "nosniff"},
    )


async def healthz(request: web.Request) -> web.Response:
    """``GET /healthz``: liveness."""
    return _json({"status": "stopping" if request.app[DAEMON].stopping else "ok"})


async def openapi(request: web.Request) -> web.Response:
    """``GET /v1/openapi.json``: the API's OpenAPI document."""
    return _json(OPENAPI)


def make_app(daemon: Daemon) -> web.Application:
    """The daemon's aiohttp application."""
    app = web.Application(
        middlewares=[_errors, _auth], client_max_size=daemon.config.server.max_body
    )
    app[DAEMON] = daemon

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await daemon.start()
        yield
        await daemon.stop()

    async def draining(app: web.Application) -> None:
        daemon.stopping = True

    app.cleanup_ctx.append(lifecycle)
    app.on_shutdown.append(draining)
    app.router.add_post("/v1/messages", post_message)
    app.router.add_get("/v1/messages/{id}", get_message)
    app.router.add_post("/v1/route", post_route)
    app.router.add_get("/v1/providers", get_providers)
    app.router.add_get("/v1/plugins", get_plugins)
    inbound_api.register(app, daemon)
    add_event_routes(app, daemon.webhooks)
    app.router.add_get("/v1/openapi.json", openapi)
    app.router.add_route("*", "/callbacks/{provider}/{kind}/{secret}", callback)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    return app


def split_listen(listen: str) -> tuple[str, int]:
    """``"127.0.0.1:8080"`` -> ("127.0.0.1", 8080)."""
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {listen!r}")
    return host.strip("[]"), int(port)


def serve(config_path: str | Path, listen: str | None = None) -> None:
    """Run the daemon until SIGTERM or SIGINT; SIGHUP reloads the config."""
    daemon = Daemon(config_path)
    app = make_app(daemon)
    host, port = split_listen(listen or daemon.config.server.listen)
    if not daemon.config.server.api_tokens:
        raise RouterError("server.api_tokens: at least one token is needed to serve the API")

    async def on_hangup(app: web.Application) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[bool]] = set()

        def reload() -> None:
            task = loop.create_task(daemon.reload())
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        loop.add_signal_handler(signal.SIGHUP, reload)
        yield
        loop.remove_signal_handler(signal.SIGHUP)

    app.cleanup_ctx.append(on_hangup)
    web.run_app(
        app,
        host=host,
        port=port,
        shutdown_timeout=daemon.config.server.shutdown_timeout,
        print=lambda text: log.info("%s", text),
        access_log=None,
    )
