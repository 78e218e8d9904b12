"""The routing daemon: an aiohttp app around one Router and its SQLite journal.

Every resource lives in ``cleanup_ctx`` (the Router, the journal, the send workers), so
nothing is closed that was never opened. A message the API acknowledges is committed to
the journal first; ``"wait": false`` answers 202 and a bounded pool of workers sends from
the journal. At start, the journal's unfinished messages are handed to the workers (the
Router resolves those caught mid-attempt). SIGTERM lets in-flight sends finish; SIGHUP
reloads the config, keeping the old one running when the new one is bad.

The daemon owns the journal and the webhook service: each Router it builds (one per config
reload) is handed both, and owns neither. The routes are in :mod:`router.daemon.routes`,
:mod:`router.daemon.inbound` and :mod:`router.webhooks.routes`; every error answer is
written by :func:`router.daemon.json.error`.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import signal
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from router.addresses import split_listen
from router.clock import Clock, SystemClock
from router.config import Config, read_toml
from router.daemon import admin, compliance_routes, inbound, loops, routes
from router.daemon import ingress as ingress_routes
from router.daemon.guards import SERVER_OPTIONS, errors, plain_bodies
from router.daemon.ingress import IngressHost
from router.daemon.json import error
from router.daemon.logbook import ACCESS, AccessLog, EventLog, started_line
from router.daemon.workers import SendWorkers
from router.engine import Router
from router.engine.schedule import Scheduler
from router.errors import RouterError
from router.logs import hide_in_aiohttp_logs, secrets_of
from router.state import LiveState
from router.state.settings import open_state
from router.store import MessageRecord, MessageStore, open_store
from router.version import VERSION
from router.webhooks import WebhookPlugin, WebhookService
from router.webhooks import routes as event_routes

__all__ = [
    "DAEMON",
    "DEFAULT_STORE",
    "SERVER_OPTIONS",
    "Daemon",
    "listen_on",
    "make_app",
    "serve",
    "split_listen",
]

log = logging.getLogger("smsrouter.server")

DEFAULT_STORE = "sqlite:///smsrouter.db"
"""The daemon's journal when ``[store] url`` is not set."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Daemon:
    """The daemon's state: its Router (swapped on reload), journal, webhooks and send workers."""

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
        self._store: MessageStore | None = None
        self._store_url = ""
        self._state: LiveState | None = None
        self._state_url = ""
        self._webhooks: WebhookService | None = None
        self.ingress = IngressHost(self)
        """The drop-in APIs of the config in force (``[ingress.NAME]``)."""
        self.router = self._build(self._read())
        self.ingress.configure(self.router)
        self.scheduler = Scheduler(self.store, self.clock, self._send_held)
        """Sends held messages when due, through the Router in force (one over reloads)."""
        self.webhooks.configure(self.config)
        hide_in_aiohttp_logs(secrets_of(self.config))
        self.sends = SendWorkers(self.store, lambda: self.router)
        """The send workers, and the count of every send under way."""
        self.stopping = False

    def _read(self) -> Mapping[str, Any]:
        return read_toml(self.config_path) if self.config_path else dict(self.config_data or {})

    def _build(self, data: Mapping[str, Any]) -> Router:
        """A Router for *data* on the daemon's journal, its webhook events journalled."""
        plugin = WebhookPlugin()
        extra = (*self.plugins, plugin, EventLog(), self.ingress)
        router = Router(
            data,
            plugins=extra,
            env=self.env,
            clock=self.clock,
            store=self._journal,
            state=self._live_state,
        )
        plugin.bind(router.config, self.webhooks)
        self.webhooks.watch(router.metrics)
        router.on_hold = self._held
        router.learning.always = True  # /v1/providers shows the statistics, whatever the chain
        return router

    def _held(self) -> None:
        self.scheduler.wake()  # a Router held or cancelled a message

    def _journal(self, config: Config) -> MessageStore:
        # The first config opens the journal (and the webhook service on it); it outlives
        # every Router a reload builds, so a reload may not move it.
        url, durability = config.store.url or DEFAULT_STORE, config.store.durability
        if self._store is None:
            self._store, self._store_url = (
                open_store(url, durability, lease=config.store.lease),
                f"{url} {durability}",
            )
            self._webhooks = WebhookService(self._store, self.clock)
        elif f"{url} {durability}" != self._store_url:
            raise RouterError("store.url and durability cannot change on reload; restart instead")
        return self._store

    def _live_state(self, config: Config) -> LiveState:
        # As the journal: the first config's live state serves every Router of a reload.
        key = f"{config.state.url} {config.state.prefix}"
        if self._state is None:
            self._state, self._state_url = open_state(config, self.clock), key
        elif key != self._state_url:
            raise RouterError("state.url and prefix cannot change on reload; restart instead")
        return self._state

    @property
    def live_state(self) -> LiveState:
        """The live state, opened for the first config and kept across reloads."""
        assert self._state is not None  # opened by the first Router's config
        return self._state

    @property
    def store(self) -> MessageStore:
        """The journal, opened for the first config and kept across reloads."""
        assert self._store is not None  # opened by the first Router's config
        return self._store

    @property
    def webhooks(self) -> WebhookService:
        """The webhook service on the journal, configured by the config in force."""
        assert self._webhooks is not None  # opened with the journal
        return self._webhooks

    @property
    def config(self) -> Config:
        """The config in force."""
        return self.router.config

    async def start(self) -> None:
        """Open the journal and the live state, start the Router and the send workers."""
        await self.store.open()
        await self.live_state.open()
        await self.webhooks.start()
        await self.ingress.start()
        await self.router.start(schedule=False)
        await self.sends.start(self.config)
        self.scheduler.start()

    async def stop(self) -> None:
        """Let in-flight sends finish, then stop workers, the Router and the journal."""
        self.stopping = True
        await self.sends.stop(self.config.server.shutdown_timeout)
        await self.scheduler.stop()
        await self.router.aclose()
        await self.ingress.stop()
        await self.webhooks.stop()
        await self.live_state.close()
        await self.store.close()

    async def _send_held(self, record: MessageRecord) -> None:
        """Send a held message that came due, through the Router in force."""
        if self.stopping:
            return
        with self.sends.sending():
            await self.router.resume(record)

    async def reload(self) -> bool:
        """Load the config again; on any error keep the running one and log why."""
        try:
            new = self._build(self._read())
            await new.start(schedule=False)
        except RouterError as exc:
            log.error("config reload failed, keeping the running config:\n%s", exc)
            return False
        except Exception:
            log.exception("config reload failed, keeping the running config")
            return False
        old, self.router = self.router, new
        self.webhooks.configure(new.config)
        self.ingress.configure(new)
        hide_in_aiohttp_logs(secrets_of(new.config))
        await old.aclose()
        log.info("config reloaded")
        return True


DAEMON = web.AppKey("daemon", Daemon)
"""The daemon an application serves: the one piece of state on it."""


@web.middleware
async def _auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/v1/") and request.path != "/v1/openapi.json":
        tokens = request.app[DAEMON].config.server.api_tokens
        given = request.headers.get("Authorization", "")
        if not given.isascii():
            return error(
                400,
                "invalid",
                "the Authorization header is not ASCII",
                "Authorization",
                headers={"WWW-Authenticate": "Bearer"},
            )
        scheme, _, token = given.partition(" ")
        valid = (
            scheme.lower() == "bearer"
            and token
            and any(hmac.compare_digest(token.encode(), t.reveal().encode()) for t in tokens)
        )
        if not valid:
            return error(
                401,
                "unauthorized",
                "a valid bearer token is required",
                headers={"WWW-Authenticate": "Bearer"},
            )
    return await handler(request)


def make_app(daemon: Daemon) -> web.Application:
    """The daemon's aiohttp application."""
    app = web.Application(
        middlewares=[errors, plain_bodies, _auth], client_max_size=daemon.config.server.max_body
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
    routes.add_routes(app, daemon)
    compliance_routes.add_routes(app, daemon)
    inbound.add_routes(app, daemon)
    admin.add_routes(app, daemon)
    ingress_routes.add_routes(app, daemon)
    event_routes.add_routes(app, daemon.webhooks)
    return app


def listen_on(listen: str, change: str) -> list[socket.socket]:
    """Listening TCP sockets on ``HOST:PORT`` *listen*, one per address HOST names.

    Raises:
        RouterError: *listen* is not HOST:PORT, names no address, or is taken; one line
            naming *listen* and saying what to *change*.
    """
    sockets: list[socket.socket] = []
    try:
        host, port = split_listen(listen)
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        for family, address in dict.fromkeys((i[0], i[4]) for i in found):
            sockets.append(socket.create_server(address, family=family))
    except (OSError, ValueError) as exc:
        for made in sockets:
            made.close()
        why = str(exc)
        if isinstance(exc, socket.gaierror) and exc.strerror:
            why = exc.strerror  # the name does not resolve
        elif isinstance(exc, OSError) and exc.errno:
            why = os.strerror(exc.errno)  # without the socket module's wording around it
        raise RouterError(f"cannot listen on {listen}: {why}; {change}") from None
    return sockets


def serve_problems(config: Config) -> list[str]:
    """What a config lacks to be served as a daemon (a library Router needs none of it)."""
    if not config.server.api_tokens:
        return ["server.api_tokens: at least one token is needed to serve the API"]
    return []


def serve(config_path: str | Path, listen: str | None = None, *, access_log: bool = False) -> None:
    """Run the daemon until SIGTERM or SIGINT; SIGHUP reloads the config.

    Logs one line once it serves (where it listens, its providers, its journal) and, with
    *access_log*, one line per request on ``smsrouter.access``.

    Raises:
        RouterError: the config is wrong, or the address cannot be listened on.
    """
    daemon = Daemon(config_path)
    app = make_app(daemon)
    problems = serve_problems(daemon.config)
    if problems:
        raise RouterError("\n".join(problems))
    if listen is None:
        change = f"change server.listen in {config_path}, or pass --listen HOST:PORT"
    else:
        change = "pass another --listen HOST:PORT"
    sockets = listen_on(listen or daemon.config.server.listen, change)

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

    loop, loop_name = loops.event_loop(daemon.config.server.loop)

    async def started(app: web.Application) -> AsyncIterator[None]:
        # After the daemon's own start (the journal open, the workers running): the
        # sockets are bound and listening already, so this is when it serves.
        addresses = [s.getsockname()[:2] for s in sockets]
        store = daemon.config.store.url or DEFAULT_STORE
        line, fields = started_line(daemon.config, addresses, store, VERSION)
        log.info("%s; event loop: %s", line, loop_name, extra={**fields, "event_loop": loop_name})
        yield
        log.info("stopped")

    app.cleanup_ctx.extend([on_hangup, started])
    if access_log:
        ACCESS.setLevel(logging.INFO)  # switched on: written even under -q
    web.run_app(
        app,
        loop=loop,
        sock=sockets,
        shutdown_timeout=daemon.config.server.shutdown_timeout,
        print=None,
        access_log=ACCESS if access_log else None,
        access_log_class=AccessLog,
        **SERVER_OPTIONS,
    )
