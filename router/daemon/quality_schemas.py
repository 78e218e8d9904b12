"""The JSON Schemas and operations of what routing learnt: the figures and country breakers
each provider shows in ``/v1/providers``, and ``/v1/quality`` with its freeze (a redelivered
recipient's two fields are with the rest of the recipient). Parts of the OpenAPI document,
built as :mod:`router.daemon.schemas` builds the rest."""

from __future__ import annotations

from typing import Any

from router.daemon.schemas import STRING, described, list_of, object_of, ref

_COUNT = {"type": "integer"}
_NUMBER_OR_NULL = {"type": ["number", "null"]}
_LEARNT = object_of(
    "What was learnt of one provider's delivery to one destination country",
    {
        "country": described("The ISO country, or + and the calling code for none", STRING),
        "weight": described(
            "The share of its traffic there it keeps (the quality policy's weight)",
            type="number",
        ),
        "resting_weight": described("Where its weight returns to", type="number"),
        "sent": described("Sends accepted in the statistics window", _COUNT),
        "delivered": described("Of them, reported delivered", _COUNT),
        "failed": described("Of them, reported failed, expired or rejected", _COUNT),
        "missing": described(
            "Of them, with no final report after the report timeout: not delivered", _COUNT
        ),
        "pending": described("Of them, with no final report yet, within the timeout", _COUNT),
        "delivered_share": described(
            "Delivered of delivered, failed and missing; null with none", _NUMBER_OR_NULL
        ),
        "report_latency_seconds": described(
            "Mean time from a send to its final report; null with none", _NUMBER_OR_NULL
        ),
    },
)
PROVIDER_COUNTRIES: dict[str, Any] = {
    "country_breakers": described(
        "Each destination country its breaker per country holds it from (not closed), and "
        "that breaker's state: open or half_open",
        type="object",
        additionalProperties=STRING,
    ),
    "delivery": list_of("What was learnt of its delivery, by destination country", _LEARNT),
}
"""The properties a provider in ``/v1/providers`` has for routing that learns."""
QUALITY = object_of(
    "The learnt routing weights, with their figures, and whether they are frozen",
    {
        "frozen": described("Whether the weights stay where they are", type="boolean"),
        "frozen_by": described(
            "config (router.quality.frozen), api (PUT /v1/quality/freeze), or null",
            enum=["config", "api", None],
        ),
        "stepped_at": described(
            "When the weights last moved or were last looked at to (Unix seconds)",
            _NUMBER_OR_NULL,
        ),
        "interval_seconds": described("How often they move", type="number"),
        "window_seconds": described("The window the statistics count", type="number"),
        "providers": described(
            "Each enabled provider's learnt figures, by configured name",
            type="object",
            additionalProperties=list_of("By destination country", _LEARNT),
        ),
    },
)


def _answer(description: str, schema: str = "Quality") -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": ref(schema)}},
    }


def _operation(operation_id: str, summary: str, responses: dict[str, Any]) -> dict[str, Any]:
    errors = {
        "400": _answer("The request is wrong; `field` names what", "Error"),
        "401": _answer("No valid bearer token", "Error"),
    }
    return {
        "operationId": operation_id,
        "tags": ["providers"],
        "summary": summary,
        "responses": {**responses, **errors},
    }


QUALITY_PATHS: dict[str, Any] = {
    "/v1/quality": {
        "get": _operation(
            "getQuality",
            "The learnt routing weights, with their figures, and their freeze",
            {"200": _answer("The weights")},
        )
    },
    "/v1/quality/freeze": {
        "put": _operation(
            "freezeQuality",
            "Freeze the learnt weights (the statistics go on being counted)",
            {"200": _answer("Frozen")},
        ),
        "delete": _operation(
            "unfreezeQuality",
            "Lift the freeze set through the API",
            {
                "200": _answer("No longer frozen by the API"),
                "409": _answer("The config freezes them (router.quality.frozen)", "Error"),
            },
        ),
    },
}
"""The operations :mod:`router.daemon.quality` serves."""
