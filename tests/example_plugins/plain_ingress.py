"""An ingress plugin, as docs/plugins.md writes one: a one-line HTTP API of its own."""

from __future__ import annotations

import hmac

import attrs
from aiohttp import web

from router import Ingress, IngressRegistry, Message, RouterError, Secret, ValidationError, hookimpl


@attrs.frozen
class PlainConfig:
    """The ``[ingress.plain]`` table."""

    key: Secret
    """What clients send as ``key``."""
    token: Secret
    """The API token they act under: one of ``[server] api_tokens``."""


class PlainIngress(Ingress):
    """``GET|POST /plain/send?key=...&to=...&text=...``, answered ``OK <id>``."""

    name = "plain"
    Config = PlainConfig
    config: PlainConfig
    paths = ("/plain/send",)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        fields = {**request.query, **(await request.post())}
        key = str(fields.get("key", ""))
        if not hmac.compare_digest(key.encode(), self.config.key.reveal().encode()):
            return web.Response(status=403, text="ERR key")
        if not self.context.token_in_force(self.config.token):
            return web.Response(status=403, text="ERR key")
        message = Message(to=str(fields.get("to", "")), text=str(fields.get("text", "")))
        try:
            message_id = await self.context.accept(message)
        except ValidationError as exc:
            return web.Response(status=400, text=f"ERR {exc.field}: {exc.message}")
        except RouterError:
            return web.Response(status=503, text="ERR try again later")
        return web.Response(text=f"OK {message_id}")


@hookimpl
def smsrouter_register_ingresses(registry: IngressRegistry) -> None:
    registry.add(PlainIngress)
