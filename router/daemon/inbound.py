"""``GET /v1/inbound``: the journalled inbound messages, newest first, filtered and paged.

Query parameters, each optional and given at most once:

* ``provider``: a configured provider's name;
* ``number``: an E.164 number (``+61412345678``) the message came from or was sent to;
* ``since`` / ``until``: received at or after / before this time, as Unix seconds or
  ISO 8601 with a timezone (``2025-05-01T09:00:00+10:00``, ``...Z``);
* ``limit``: page size, 1 to 200 (default 50);
* ``before``: the ``next`` cursor of the previous page.

A bad value is a :class:`~router.errors.ValidationError` naming the parameter, which the
daemon answers with 400. Each item says which of our messages it replies to
(``in_reply_to``), when the provider named one the journal knows.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any, Protocol

import attrs
from aiohttp import web
from multidict import MultiMapping

from router.daemon.json import respond
from router.daemon.times import parse_time
from router.engine import Router
from router.errors import ValidationError
from router.store import InboundRecord, MessageStore

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_ID = 2**63 - 1
"""The largest journal id (SQLite's integer): a ``before`` above it is refused."""
PARAMETERS = ("provider", "number", "since", "until", "limit", "before")

_E164 = re.compile(r"\+[1-9][0-9]{1,14}")


class Journalled(Protocol):
    """What the handler needs of the daemon: its journal, and its Router for the providers."""

    @property
    def store(self) -> MessageStore:
        """The journal."""

    @property
    def router(self) -> Router:
        """The Router in force (a reload swaps it)."""


@attrs.frozen
class InboundQuery:
    """A ``GET /v1/inbound`` query, validated."""

    provider: str | None = None
    number: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int = DEFAULT_LIMIT
    before: int | None = None


def _integer(field: str, value: str, low: int, high: int | None = None) -> int:
    if not value.isascii() or not value.isdigit():
        raise ValidationError(field, f"expected a whole number, got {value!r}")
    if high is not None and len(value.lstrip("0")) > len(str(high)):
        raise ValidationError(field, f"expected from {low} to {high}, got {len(value)} digits")
    number = int(value)
    if number < low or (high is not None and number > high):
        bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise ValidationError(field, f"expected {bounds}, got {number}")
    return number


def read_query(query: MultiMapping[str], providers: Collection[str]) -> InboundQuery:
    """Validate the query string of ``GET /v1/inbound`` against the configured *providers*."""
    for name in query:
        if name not in PARAMETERS:
            raise ValidationError(name, f"unknown parameter (known: {', '.join(PARAMETERS)})")
        if len(query.getall(name)) > 1:
            raise ValidationError(name, "given more than once")
    values: dict[str, Any] = {}
    provider = query.get("provider")
    if provider is not None:
        if provider not in providers:
            known = ", ".join(sorted(providers)) or "none"
            raise ValidationError(
                "provider", f"unknown provider {provider!r} (configured: {known})"
            )
        values["provider"] = provider
    number = query.get("number")
    if number is not None:
        if not _E164.fullmatch(number):
            raise ValidationError("number", f"expected E.164 like +61412345678, got {number!r}")
        values["number"] = number
    for field in ("since", "until"):
        if field in query:
            values[field] = parse_time(field, query[field])
    if "since" in values and "until" in values and values["until"] <= values["since"]:
        raise ValidationError("until", "is not after since")
    if "limit" in query:
        values["limit"] = _integer("limit", query["limit"], 1, MAX_LIMIT)
    if "before" in query:
        values["before"] = _integer("before", query["before"], 1, MAX_ID)
    return InboundQuery(**values)


def inbound_json(record: InboundRecord) -> dict[str, Any]:
    """One journalled inbound message as JSON."""
    message = record.message
    return {
        "id": record.id,
        "provider": message.provider,
        "from": message.sender,
        "to": message.recipient,
        "text": message.text,
        "received_at": record.received_at,
        "in_reply_to": record.answers,
    }


async def page(store: MessageStore, query: InboundQuery) -> dict[str, Any]:
    """One page of inbound messages, and the cursor of the next page (None on the last)."""
    # One more than asked for tells whether there is a next page without a second query.
    found = await store.inbound(
        provider=query.provider,
        number=query.number,
        since=query.since,
        until=query.until,
        limit=query.limit + 1,
        before=query.before,
    )
    items = found[: query.limit]
    more = len(found) > query.limit
    return {
        "items": [inbound_json(r) for r in items],
        "next": str(items[-1].id) if more else None,
    }


class _Inbound:
    """The handler, on the daemon whose journal it serves."""

    def __init__(self, source: Journalled) -> None:
        self.source = source

    async def get(self, request: web.Request) -> web.Response:
        """``GET /v1/inbound``: inbound messages, newest first."""
        query = read_query(request.query, self.source.router.providers)
        return respond(await page(self.source.store, query))


def add_routes(app: web.Application, source: Journalled) -> None:
    """Serve ``GET /v1/inbound`` on *app* from *source*'s journal."""
    app.router.add_get("/v1/inbound", _Inbound(source).get)
