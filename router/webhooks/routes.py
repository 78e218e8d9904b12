"""``GET /v1/events`` and ``POST /v1/events/{id}/retry``: the webhook events over HTTP.

``GET /v1/events`` lists deliveries newest first, filtered by ``state``, ``type`` or
``webhook`` and paged by the ``next`` cursor of the previous page;
``POST /v1/events/{id}/retry`` re-queues an event's dead letters. A bad parameter is a
:class:`~router.errors.ValidationError` naming it, which the daemon answers with 400; an
unknown event or one with nothing to retry is a :class:`~router.errors.RequestError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from router.errors import RequestError, ValidationError
from router.model import EventType
from router.webhooks.journal import Delivery, DeliveryState
from router.webhooks.service import WebhookService

__all__ = ["MAX_PAGE", "add_routes", "delivery_json"]

MAX_PAGE = 500


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    """One event's delivery to one webhook as JSON."""
    event = delivery.event
    return {
        "id": event.id,
        "type": event.type.value,
        "webhook": delivery.webhook,
        "state": delivery.state.value,
        "attempts": delivery.attempts,
        "created_at": event.created_at,
        "queued_at": delivery.queued_at,
        "next_at": delivery.next_at,
        "last_at": delivery.last_at,
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "delivered_at": delivery.delivered_at,
        "data": dict(event.data),
    }


def _query(request: web.Request, allowed: set[str]) -> Mapping[str, str]:
    for key in request.query:
        if key not in allowed:
            raise ValidationError(key, "unknown parameter")
    return request.query


def _whole(query: Mapping[str, str], name: str, most: int, wanted: str) -> int | None:
    text = query.get(name)
    if text is None:
        return None
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= most):
        raise ValidationError(name, f"expected {wanted}, got {text!r}")
    return int(text)


class _Events:
    """The handlers, on the service whose journal they serve."""

    def __init__(self, service: WebhookService) -> None:
        self.service = service

    async def list(self, request: web.Request) -> web.Response:
        """``GET /v1/events``: deliveries newest first, by ``state``, ``type`` or ``webhook``."""
        query = _query(request, {"state", "type", "webhook", "limit", "before"})
        choices: dict[str, Any] = {}
        for name, kind in (("state", DeliveryState), ("type", EventType)):
            if name in query:
                try:
                    choices[name] = kind(query[name])
                except ValueError:
                    known = ", ".join(kind)
                    raise ValidationError(name, f"expected one of {known}") from None
        limit = _whole(query, "limit", MAX_PAGE, f"a whole number from 1 to {MAX_PAGE}") or 50
        found = await self.service.list(
            webhook=query.get("webhook"),
            limit=limit,
            before=_whole(query, "before", 2**62, "the next cursor of a previous page"),
            **choices,
        )
        after = str(found[-1].seq) if len(found) == limit else None
        return web.json_response({"items": [delivery_json(d) for d in found], "next": after})

    async def retry(self, request: web.Request) -> web.Response:
        """``POST /v1/events/{id}/retry``: re-queue the event's dead letters, due now."""
        webhook = _query(request, {"webhook"}).get("webhook")
        event_id = request.match_info["id"]
        if not await self.service.deliveries(event_id, webhook=webhook):
            raise RequestError(404, "not_found", "no such event (for this webhook)", "id")
        requeued = await self.service.requeue(event_id, webhook=webhook)
        if not requeued:
            raise RequestError(409, "not_dead", "the event has no dead letter to retry", "id")
        after = await self.service.deliveries(event_id, webhook=webhook)
        return web.json_response({"requeued": requeued, "items": [delivery_json(d) for d in after]})


def add_routes(app: web.Application, service: WebhookService) -> None:
    """Serve ``GET /v1/events`` and ``POST /v1/events/{id}/retry`` from *service*."""
    handlers = _Events(service)
    app.router.add_get("/v1/events", handlers.list)
    app.router.add_post("/v1/events/{id}/retry", handlers.retry)
