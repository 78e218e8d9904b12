"""The daemon's side of the ingresses: built per config, their paths served, their events.

Every registered ingress's paths are mounted when the app is made, and answered only
while its ``[ingress.NAME]`` table is in the config in force (else 404), so a reload turns
one on or off. A message an ingress takes is journalled and queued as ``POST /v1/messages``
with ``"wait": false`` queues it. The :class:`IngressHost` is registered as a plugin with
each Router the daemon builds: when a message an ingress took is sent, and when its
delivery reports are applied, the ingress hears of it with the note it kept, and its
calls back to clients run in the background, retried while they fail.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from yarl import URL

from router.engine import Router
from router.errors import RouterError
from router.hookspecs import hookimpl
from router.ingress.base import Ingress, IngressCall, IngressContext
from router.model import DeliveryReport, Message, SendResult
from router.redact import Secret
from router.store.admin import IngressNote

if TYPE_CHECKING:
    from router.daemon.app import Daemon

__all__ = ["CALLBACK_PAUSES", "IngressHost", "add_routes"]

log = logging.getLogger("smsrouter.ingress")

CALLBACK_PAUSES = (30.0, 120.0)
"""Seconds before each retry of a call back to a client that failed: three tries in all."""
CALLBACK_TIMEOUT = 10.0
"""How long one call back may take, in seconds."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class IngressHost:
    """The daemon's ingresses and the calls they make back to their clients."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.instances: dict[str, Ingress] = {}
        """The ingresses of the config in force, by name."""
        self.mounted: set[str] = set()
        self._session: aiohttp.ClientSession | None = None
        self._calls: set[asyncio.Task[None]] = set()

    def configure(self, router: Router) -> None:
        """Build the ingresses *router*'s config names (at start and on each reload)."""
        instances = {}
        for name, options in router.config.ingress.items():
            cls = router.plugins.ingresses.get(name)
            assert cls is not None  # parse_config checked it
            if self.mounted and name not in self.mounted:
                log.warning("ingress %r was added by a reload: restart to serve it", name)
            instances[name] = cls(options, self._context(name, router))
        self.instances = instances

    def _context(self, name: str, router: Router) -> IngressContext:
        return IngressContext(
            name=name,
            accept=self._accept,
            keep_note=lambda message_id, fields: self._keep(name, message_id, fields),
            call_back=self.call_back,
            token_in_force=self._token_in_force,
            providers=tuple(router.config.providers),
            clock=self.daemon.clock,
            log=logging.getLogger(f"smsrouter.ingress.{name}"),
        )

    def mount(self, app: web.Application) -> None:
        """Serve every registered ingress's paths on *app*; each answers while configured."""
        for path, owner in self.daemon.router.plugins.ingresses.claimed().items():
            handler = self._handler(owner)
            app.router.add_get(path, handler)
            app.router.add_post(path, handler)
            self.mounted.add(owner)

    def _handler(self, owner: str) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            ingress = self.instances.get(owner)
            if ingress is None:  # off unless configured
                raise web.HTTPNotFound()
            return await ingress.handle(request)

        return handle

    async def start(self) -> None:
        """Open the HTTP session the calls back go through."""
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=CALLBACK_TIMEOUT))

    async def stop(self) -> None:
        """Abandon the calls back still waiting to be retried, and close the session."""
        for task in list(self._calls):
            task.cancel()
        await asyncio.gather(*self._calls, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _accept(self, message: Message) -> str:
        daemon = self.daemon
        if daemon.stopping:
            raise RouterError("the daemon is shutting down")
        record, created = await daemon.router.accept(message)
        if created:
            daemon.sends.put(record.id)
        return record.id

    async def _keep(self, name: str, message_id: str, fields: Mapping[str, str]) -> None:
        note = IngressNote(message_id, name, dict(fields), self.daemon.clock.time())
        await self.daemon.store.add_ingress_note(note)

    def _token_in_force(self, token: Secret) -> bool:
        given = token.reveal().encode()
        tokens = self.daemon.config.server.api_tokens
        return any(hmac.compare_digest(given, t.reveal().encode()) for t in tokens)

    def call_back(self, call: IngressCall) -> None:
        """Make *call* in the background, retried after each of :data:`CALLBACK_PAUSES`."""
        task = asyncio.get_running_loop().create_task(self._deliver(call))
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    async def _deliver(self, call: IngressCall) -> None:
        # The URL is the client's and may hold its token: it is never logged.
        for attempt in range(len(CALLBACK_PAUSES) + 1):
            if attempt:
                await self.daemon.clock.sleep(CALLBACK_PAUSES[attempt - 1])
            why = await self._try(call)
            if why is None:
                return
            log.warning("a call back to an ingress client failed (%s), try %d", why, attempt + 1)
        log.error("a call back to an ingress client was given up after %d tries", attempt + 1)

    async def _try(self, call: IngressCall) -> str | None:
        """None when the client took *call*, else why not."""
        assert self._session is not None, "the host is started with the daemon"
        url = URL(call.url, encoded=True)
        kwargs: dict[str, Any] = {}
        if call.method == "GET":
            url = url.extend_query(dict(call.fields)) if call.fields else url
        else:
            kwargs["data"] = dict(call.fields)
        try:
            async with self._session.request(call.method, url, **kwargs) as answer:
                body = await answer.text(errors="replace")
                if call.answered(answer.status, body):
                    return None
                return f"HTTP {answer.status}"
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            return type(exc).__name__

    @hookimpl
    def smsrouter_message_routed(
        self, message: Message, result: SendResult
    ) -> Awaitable[None] | None:
        """Tell the ingress that took *message* (if one did) how its send ended."""
        if not self.instances:
            return None
        return self._routed(message.id, result)

    async def _routed(self, message_id: str, result: SendResult) -> None:
        note = await self.daemon.store.ingress_note(message_id)
        ingress = None if note is None else self.instances.get(note.ingress)
        if note is not None and ingress is not None:
            await ingress.message_routed(note, result)

    @hookimpl
    def smsrouter_delivery_report(
        self, report: DeliveryReport, message_id: str | None, ref: str | None, applied: bool
    ) -> Awaitable[None] | None:
        """Tell the ingress that took the message (if one did) of a report applied to it."""
        if not self.instances or message_id is None or ref is None or not applied:
            return None
        return self._reported(message_id, report, ref)

    async def _reported(self, message_id: str, report: DeliveryReport, ref: str) -> None:
        note = await self.daemon.store.ingress_note(message_id)
        ingress = None if note is None else self.instances.get(note.ingress)
        if note is not None and ingress is not None:
            await ingress.delivery_report(note, report, ref)


def add_routes(app: web.Application, daemon: Daemon) -> None:
    """Serve every registered ingress's paths on *app* from *daemon*'s ingress host."""
    daemon.ingress.mount(app)
