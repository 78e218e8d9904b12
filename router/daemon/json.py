"""The daemon's JSON: reading requests strictly, writing results, records, routes and errors.

Reading is strict like the config: a body that is not JSON, an unknown field, a wrong type
or a missing field is a :class:`~router.errors.ValidationError` naming the field, which the
daemon answers with 400. Every answer goes out through :func:`respond`, and every error
answer through :func:`error`, so each has one shape: ``{"error": {code, message, field}}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs
from aiohttp import web

from router.daemon.learnt_json import countries_json
from router.daemon.timing import TIMING_FIELDS, read_timing, timing_json
from router.engine import ProviderState, RoutePlan
from router.engine.quality import QualityTracker
from router.errors import NoRouteError, ValidationError
from router.model import Attempt, Message, RecipientResult, SendResult
from router.store.base import MessageRecord, RecipientRecord

__all__ = [
    "MESSAGE_FIELDS",
    "SendRequest",
    "attempt_json",
    "error",
    "error_json",
    "no_route_json",
    "provider_json",
    "read_body",
    "read_message",
    "record_json",
    "respond",
    "result_json",
    "route_json",
]

MESSAGE_FIELDS = frozenset(
    {"to", "text", "sender", "reference", "providers", "wait", "coalesce", *TIMING_FIELDS}
)


@attrs.frozen
class SendRequest:
    """A ``POST /v1/messages`` body, validated."""

    message: Message
    wait: bool
    coalesce: bool = False
    """A waiting send that may share its provider calls (``Router.send(coalesce=True)``)."""


def _string(body: Mapping[str, Any], field: str, *, required: bool = False) -> str | None:
    value = body.get(field)
    if value is None:
        if required:
            raise ValidationError(field, "is required")
        return None
    if not isinstance(value, str):
        raise ValidationError(field, f"expected a string, got {type(value).__name__}")
    return _unicode(field, value)


def _unicode(field: str, value: str) -> str:
    """*value*, refused when it cannot be written as UTF-8 (a lone surrogate from JSON)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(field, f"holds a lone surrogate at {exc.start}") from None
    return value


def _strings(body: Mapping[str, Any], field: str) -> tuple[str, ...] | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, str):
        return (_unicode(field, value),)
    if not isinstance(value, list):
        raise ValidationError(
            field, f"expected a string or a list of strings, got {type(value).__name__}"
        )
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise ValidationError(
                f"{field}[{index}]", f"expected a string, got {type(item).__name__}"
            )
        _unicode(f"{field}[{index}]", item)
    return tuple(value)


def read_message(body: object, *, fields: frozenset[str] = MESSAGE_FIELDS) -> SendRequest:
    """Validate a message request body (a parsed JSON value)."""
    if not isinstance(body, dict):
        raise ValidationError("body", "expected a JSON object")
    for key in body:
        if key not in fields:
            raise ValidationError(ascii(key)[1:-1], "unknown field")
    to = _strings(body, "to")
    if not to:
        raise ValidationError("to", "is required")
    wait = body.get("wait", True)
    if not isinstance(wait, bool):
        raise ValidationError("wait", f"expected true or false, got {wait!r}")
    coalesce = body.get("coalesce", False)
    if not isinstance(coalesce, bool):
        raise ValidationError("coalesce", f"expected true or false, got {coalesce!r}")
    if "coalesce" in body and not wait:
        raise ValidationError("coalesce", "applies to a waiting send; a queued one always may")
    message = Message(
        to=to,
        text=_string(body, "text", required=True) or "",
        sender=_string(body, "sender"),
        reference=_string(body, "reference"),
        providers=_strings(body, "providers"),
        **read_timing(body, _string(body, "callback_url")),
    )
    return SendRequest(message, wait, coalesce)


def _decimal(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def attempt_json(attempt: Attempt) -> dict[str, Any]:
    """One attempt as JSON."""
    return {
        "provider": attempt.provider,
        "outcome": attempt.outcome.value,
        "reason": attempt.reason,
        "provider_message_id": attempt.provider_message_id,
        "kind": None if attempt.kind is None else attempt.kind.value,
        "at": attempt.at,
    }


def _recipient_json(result: RecipientResult) -> dict[str, Any]:
    return {
        "to": result.recipient,
        "ref": result.ref,
        "status": result.status.value,
        "provider": result.provider,
        "provider_message_id": result.provider_message_id,
        "cost": _decimal(result.cost),
        "attempts": [attempt_json(a) for a in result.attempts],
        "reason": result.reason,
        "scheduled_at": result.scheduled_at,
    }


def result_json(result: SendResult) -> dict[str, Any]:
    """A send result as JSON."""
    return {
        "id": result.message_id,
        "reference": result.reference,
        "ok": result.ok,
        "duplicate": result.duplicate,
        "encoding": result.encoding.value,
        "segments": result.segments,
        "recipients": [_recipient_json(r) for r in result.recipients],
    }


def _record_recipient_json(recipient: RecipientRecord) -> dict[str, Any]:
    return {
        "to": recipient.recipient,
        "ref": recipient.ref,
        "status": None if recipient.status is None else recipient.status.value,
        "provider": recipient.provider,
        "provider_message_id": recipient.provider_message_id,
        "cost": _decimal(recipient.cost),
        "attempts": [attempt_json(a) for a in recipient.attempts],
        "reason": recipient.reason,
        "scheduled_at": recipient.due_at,
        "redelivered_from": recipient.redelivered_from,
        "redelivery_reason": recipient.redelivery_reason,
        "delivery": None
        if recipient.delivery is None
        else {
            "status": recipient.delivery.value,
            "raw_status": recipient.delivery_raw,
            "at": recipient.delivery_at,
        },
    }


def record_json(record: MessageRecord) -> dict[str, Any]:
    """A journalled message as JSON."""
    return {
        "id": record.id,
        "reference": record.reference,
        "state": record.state.value,
        "text": record.text,
        "sender": record.sender,
        "encoding": record.encoding.value,
        "segments": record.segments,
        "created_at": record.created_at,
        **timing_json(record),
        "recipients": [_record_recipient_json(r) for r in record.recipients],
    }


def route_json(plan: RoutePlan) -> dict[str, Any]:
    """A routing explanation as JSON."""
    return {
        "id": plan.message_id,
        "encoding": plan.encoding,
        "segments": plan.segments,
        "routes": [
            {
                "to": route.recipient,
                "candidates": [
                    {
                        "provider": c.provider,
                        "cost": _decimal(c.cost),
                        "keys": {k: str(v) for k, v in c.keys.items()},
                    }
                    for c in route.candidates
                ],
                "excluded": [
                    {"provider": e.provider, "policy": e.policy, "reason": e.reason}
                    for e in route.excluded
                ],
                "settled": None if settled is None else _settled_json(settled),
            }
            for route, settled in zip(plan.routes, plan.settled, strict=True)
        ],
    }


def _settled_json(result: RecipientResult) -> dict[str, Any]:
    return {
        "status": result.status.value,
        "reason": result.reason,
        "scheduled_at": result.scheduled_at,
    }


def provider_json(state: ProviderState, now: float, quality: QualityTracker) -> dict[str, Any]:
    """One provider's live state as JSON, with what was learnt of it (*quality*)."""
    balance = state.balance
    limits = state.settings.limits
    held = state.breaker.held
    return {
        "name": state.name,
        "plugin": state.settings.common.plugin,
        "breaker": state.breaker.state.value,
        # A provider that told us to back off (SMSC error 4): left alone until then.
        "hold": None if held is None else {"seconds_left": round(held[0], 3), "reason": held[1]},
        "suspended": None
        if state.suspended is None
        else {"reason": state.suspended.reason, "since": state.suspended.since},
        "balance": None
        if balance is None
        else {
            "amount": _decimal(balance.amount),
            "unit": balance.unit,
            "age_seconds": round(max(0.0, now - balance.at), 3),
        },
        "in_flight": state.budget.in_flight,
        "limits": {
            "concurrency": limits.concurrency,
            "rates": {op.value: f"{r.calls}/{r.per:g}s" for op, r in limits.rates.items()},
            "wait_seconds": limits.wait,
        },
        **countries_json(state, quality),
    }


def no_route_json(exc: NoRouteError) -> dict[str, Any]:
    """A NoRouteError as the API's error body, with the result when attempts were made."""
    body: dict[str, Any] = {
        "error": {
            "code": "no_route",
            "message": "no provider could take the message",
            "field": None,
            "reasons": exc.reasons,
        }
    }
    if isinstance(exc.result, SendResult):
        body["result"] = result_json(exc.result)
    return body


def error_json(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """The API's error body."""
    return {"error": {"code": code, "message": message, "field": field}}


def respond(body: object, status: int = 200) -> web.Response:
    """A JSON answer; values JSON lacks (Decimal) are written as strings.

    NaN and Infinity are refused (ValueError), never written: they are not JSON, and a
    client's parser would fail on the whole answer.
    """
    return web.json_response(body, status=status, dumps=_dumps)


def _dumps(body: object) -> str:
    return json.dumps(body, default=str, allow_nan=False)


def error(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """The API's error answer: *status* with the error body."""
    answer = respond(error_json(code, message, field), status)
    answer.headers.update(headers or {})
    return answer


async def read_body(request: web.Request) -> object:
    """The request's JSON body: UTF-8, nested at most :data:`MAX_DEPTH` deep.

    Raises:
        ValidationError: the body is not UTF-8, not JSON or nested too deep (field ``body``).
    """
    raw = await request.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError("body", f"not UTF-8 (at byte {exc.start})") from None
    brackets = text.count("[") + text.count("{")
    if brackets > MAX_DEPTH and _depth(text) > MAX_DEPTH:
        raise ValidationError("body", f"nested deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError("body", f"not valid JSON ({exc.msg} at {exc.pos})") from None
    except (ValueError, RecursionError) as exc:  # a number of too many digits, say
        raise ValidationError("body", f"not valid JSON ({type(exc).__name__})") from None


MAX_DEPTH = 64
"""How deep a request body's arrays and objects may nest; no request needs more than 3."""


def _depth(text: str) -> int:
    """How deep *text*'s brackets nest at most, outside strings (an upper bound for JSON)."""
    # Counted before parsing, as the parser recurses once per level.
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest
