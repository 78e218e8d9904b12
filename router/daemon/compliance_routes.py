"""The daemon's routes for held messages, finding messages and the opt-out list.

* ``GET /v1/messages?reference=&status=&since=&limit=&cursor=``: messages, newest first;
* ``DELETE /v1/messages/{id}``: cancel what of a message is not yet sent;
* ``GET /v1/optouts``, ``POST /v1/optouts``, ``DELETE /v1/optouts/{number}``: the opt-out
  list every provider's sends obey.

A bad parameter is a :class:`~router.errors.ValidationError` naming it (400).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from aiohttp import web
from multidict import MultiMapping

from router.daemon.json import error, read_body, record_json, respond
from router.daemon.times import parse_time
from router.errors import ValidationError
from router.model import RecipientStatus
from router.numbers import parse
from router.store import MessageState, OptOut

if TYPE_CHECKING:
    from router.daemon.app import Daemon

__all__ = ["FIND_PARAMETERS", "STATUSES", "add_routes", "optout_json", "read_cursor"]

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
FIND_PARAMETERS = ("reference", "status", "since", "limit", "cursor")
STATUSES = tuple(dict.fromkeys([*(s.value for s in MessageState), *RecipientStatus]))
"""What ``status`` may be: a message's state, or a recipient's send status."""
_CURSOR = re.compile(r"([0-9]+(?:\.[0-9]+)?)_([0-9A-Za-z]{1,16})")


def read_cursor(value: str) -> tuple[float, str]:
    """The (created_at, id) a ``next`` cursor names, or ValidationError naming ``cursor``."""
    match = _CURSOR.fullmatch(value)
    if match is None:
        raise ValidationError("cursor", "expected the `next` value of the previous page")
    return float(match.group(1)), match.group(2)


def _find_query(query: MultiMapping[str]) -> dict[str, Any]:
    for name in query:
        if name not in FIND_PARAMETERS:
            known = ", ".join(FIND_PARAMETERS)
            raise ValidationError(name, f"unknown parameter (known: {known})")
        if len(query.getall(name)) > 1:
            raise ValidationError(name, "given more than once")
    values: dict[str, Any] = {"limit": DEFAULT_LIMIT}
    if "reference" in query:
        if not query["reference"].strip():
            raise ValidationError("reference", "is empty")
        values["reference"] = query["reference"]
    if "status" in query:
        if query["status"] not in STATUSES:
            raise ValidationError("status", f"expected one of {', '.join(STATUSES)}")
        values["status"] = query["status"]
    if "since" in query:
        values["since"] = parse_time("since", query["since"])
    if "limit" in query:
        text = query["limit"]
        if not (text.isascii() and text.isdigit() and 1 <= int(text[:4]) <= MAX_LIMIT):
            raise ValidationError("limit", f"expected from 1 to {MAX_LIMIT}, got {text!r}")
        values["limit"] = int(text)
    if "cursor" in query:
        values["before"] = read_cursor(query["cursor"])
    return values


def optout_json(entry: OptOut) -> dict[str, Any]:
    """One opt-out list entry as JSON."""
    return {"number": entry.number, "at": entry.at, "provider": entry.provider,
            "source": entry.source}  # fmt: skip


class _Routes:
    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    async def find(self, request: web.Request) -> web.Response:
        """``GET /v1/messages``: messages, newest first, filtered and paged."""
        if any(part.startswith("=") for part in request.query_string.split("&")):
            raise ValidationError("query", "a parameter without a name")
        values = _find_query(request.query)
        limit = values.pop("limit")
        found = await self.daemon.store.find(**values, limit=limit + 1)
        items = found[:limit]
        last = items[-1] if items else None
        more = len(found) > limit and last is not None
        return respond(
            {
                "items": [record_json(r) for r in items],
                "next": f"{last.created_at!r}_{last.id}" if more and last else None,
            }
        )

    async def cancel(self, request: web.Request) -> web.Response:
        """``DELETE /v1/messages/{id}``: cancel the recipients not yet sent."""
        message_id = request.match_info["id"]
        before = await self.daemon.store.get(message_id)
        if before is None:
            return error(404, "not_found", "no message with this id", "id")
        record = await self.daemon.router.cancel(message_id)
        assert record is not None
        cancelled = RecipientStatus.CANCELLED
        was = sum(r.status is cancelled for r in before.recipients)
        if sum(r.status is cancelled for r in record.recipients) == was:
            return error(409, "not_cancellable", "every recipient was sent (or being sent)")
        return respond(record_json(record))

    def _number(self, value: object) -> str:
        if not isinstance(value, str):
            raise ValidationError("number", "expected a phone number string")
        region = self.daemon.config.router.default_region
        return parse(value, region, field="number").e164

    async def list_optouts(self, request: web.Request) -> web.Response:
        """``GET /v1/optouts``: the list, oldest first (``?number=`` for one number)."""
        number = request.query.get("number")
        for name in request.query:
            if name != "number":
                raise ValidationError(name, "unknown parameter (known: number)")
        optouts = self.daemon.router.compliance.optouts
        found = await optouts.entries(None if number is None else self._number(number))
        return respond({"items": [optout_json(o) for o in found]})

    async def add_optout(self, request: web.Request) -> web.Response:
        """``POST /v1/optouts`` ``{"number": ...}``: no provider sends to it from now on."""
        body = await read_body(request)
        if not isinstance(body, dict):
            raise ValidationError("body", "expected a JSON object")
        for key in body:
            if key != "number":
                raise ValidationError(ascii(key)[1:-1], "unknown field")
        number = self._number(body.get("number"))
        optouts = self.daemon.router.compliance.optouts
        added = await optouts.add(number, source="api")
        (entry,) = await optouts.entries(number)
        return respond(optout_json(entry), 201 if added else 200)

    async def remove_optout(self, request: web.Request) -> web.Response:
        """``DELETE /v1/optouts/{number}``: it may be sent to again."""
        number = self._number(request.match_info["number"])
        if not await self.daemon.router.compliance.optouts.remove(number):
            return error(404, "not_found", "the number is not on the opt-out list", "number")
        return respond({"number": number, "removed": True})


def add_routes(app: web.Application, daemon: Daemon) -> None:
    """Serve the held-message, search and opt-out routes on *app* from *daemon*."""
    handlers = _Routes(daemon)
    app.router.add_get("/v1/messages", handlers.find)
    app.router.add_delete("/v1/messages/{id}", handlers.cancel)
    app.router.add_get("/v1/optouts", handlers.list_optouts)
    app.router.add_post("/v1/optouts", handlers.add_optout)
    app.router.add_delete("/v1/optouts/{number}", handlers.remove_optout)
