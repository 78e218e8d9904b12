"""The operators' routes: ``POST /v1/providers/{name}/suspend``, ``/resume`` and ``/reset``.

Each takes an optional JSON body ``{"reason": "..."}``, journals the action (a suspension
survives a restart) and answers with the provider as ``GET /v1/providers`` shows it;
``GET /v1/providers/{name}/actions`` lists what was done to it, newest first. The bearer
token the rest of ``/v1`` needs is checked by the daemon's middleware.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from router.daemon.json import error, provider_json, read_body, respond
from router.engine.admin import MAX_REASON
from router.errors import ValidationError

if TYPE_CHECKING:
    from router.daemon.app import Daemon

__all__ = ["ACTIONS", "add_routes"]

ACTIONS = ("suspend", "resume", "reset")
"""The actions, each the last segment of its path."""
MAX_ACTIONS = 500
"""The most actions one ``GET /v1/providers/{name}/actions`` lists."""


async def _reason(request: web.Request) -> str:
    """The ``reason`` of the request's body; empty when there is no body."""
    if not request.can_read_body:
        return ""
    body: Any = await read_body(request)
    if not isinstance(body, dict):
        raise ValidationError("body", "expected a JSON object")
    unknown = sorted(set(body) - {"reason"})
    if unknown:
        raise ValidationError(unknown[0], "unknown field")
    reason = body.get("reason", "")
    if not isinstance(reason, str):
        raise ValidationError("reason", "expected a string")
    if len(reason) > MAX_REASON:
        raise ValidationError("reason", f"longer than {MAX_REASON} characters")
    if any(not ch.isprintable() for ch in reason):
        raise ValidationError("reason", "has a control character in it")
    return reason


def add_routes(app: web.Application, daemon: Daemon) -> None:
    """Serve the operators' routes on *app* from *daemon*."""

    def handler(action: str) -> Any:
        async def act(request: web.Request) -> web.Response:
            name = request.match_info["name"]
            reason = await _reason(request)
            router = daemon.router
            if name not in router.providers:
                return error(404, "not_found", "no enabled provider with this name", "name")
            state = await getattr(router.admin, action)(name, reason)
            return respond(provider_json(state, router.clock.time()))

        act.__doc__ = f"``POST /v1/providers/{{name}}/{action}``."
        return act

    async def actions(request: web.Request) -> web.Response:
        """``GET /v1/providers/{name}/actions``: the journalled actions, newest first."""
        name = request.match_info["name"]
        for key in request.query:
            if key != "limit":
                raise ValidationError(key, "unknown parameter (known: limit)")
        if len(request.query.getall("limit", [])) > 1:
            raise ValidationError("limit", "given more than once")
        raw = request.query.get("limit", "50")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_ACTIONS:
            raise ValidationError("limit", f"expected a whole number from 1 to {MAX_ACTIONS}")
        found = await daemon.store.admin_actions(provider=name, limit=int(raw))
        items = [
            {"provider": a.provider, "action": a.kind.value, "reason": a.reason, "at": a.at}
            for a in found
        ]
        return respond({"actions": items})

    for action in ACTIONS:
        app.router.add_post(f"/v1/providers/{{name}}/{action}", handler(action))
    app.router.add_get("/v1/providers/{name}/actions", actions)
