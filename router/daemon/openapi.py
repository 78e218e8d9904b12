"""The OpenAPI 3.1 document of the daemon's HTTP API, served at ``/v1/openapi.json``.

The bodies' schemas are :mod:`router.daemon.schemas`, :mod:`router.daemon.state_schemas` and
:mod:`router.daemon.compliance_schemas`;
this is the operations that use them. Every operation has an ``operationId`` and a tag, every
parameter and field a description, and ``info.version`` is the package's version (a test
holds each route added later to the same).
"""

from __future__ import annotations

from typing import Any

from router.daemon.compliance_routes import STATUSES
from router.daemon.compliance_schemas import COMPLIANCE_SCHEMAS
from router.daemon.quality_schemas import QUALITY_PATHS
from router.daemon.schemas import MESSAGE_SCHEMAS
from router.daemon.state_schemas import STATE_SCHEMAS
from router.version import VERSION

__all__ = ["OPENAPI"]


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": schema}


def _path(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


def _json(schema: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


def _answer(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, **_json(schema)}


def _operation(
    operation_id: str, tag: str, summary: str, responses: dict[str, Any], **more: Any
) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "tags": [tag],
        "summary": summary,
        **more,
        "responses": responses,
    }


_ERRORS = {
    "400": _answer("The request is wrong; `field` names what", "Error"),
    "401": _answer("No valid bearer token", "Error"),
}
_UNAVAILABLE = {
    "503": _answer(
        "The journal cannot serve now (a full disk): nothing was done; try again after the "
        "Retry-After header's seconds",
        "Error",
    ),
}
_PAGE = {"type": "integer", "minimum": 1, "default": 50}
_BEFORE = _query("before", "The `next` cursor of the previous page", {"type": "string"})
_OPEN: dict[str, Any] = {"security": []}
"""An operation that needs no bearer token."""

TAGS = [
    {"name": "messages", "description": "Send messages and follow them"},
    {"name": "routing", "description": "Explain routing decisions without sending"},
    {"name": "providers", "description": "The providers, their health, balances and limits"},
    {"name": "admin", "description": "Operators' actions on providers: suspend, resume, reset"},
    {"name": "plugins", "description": "What plugins are loaded"},
    {"name": "inbound", "description": "Texts people sent to our numbers"},
    {"name": "optouts", "description": "The opt-out list every provider's sends obey"},
    {"name": "events", "description": "Webhook events and their dead letters"},
    {"name": "operations", "description": "Liveness, metrics and this document"},
]
"""Every tag an operation may carry, each described."""

_PATHS: dict[str, Any] = {
    "/v1/messages": {
        "get": _operation(
            "findMessages",
            "messages",
            "Messages, newest first: find one by your reference, or page by status and time",
            {"200": _answer("One page", "MessagePage"), **_ERRORS},
            parameters=[
                _query("reference", "Your reference", {"type": "string", "minLength": 1}),
                _query(
                    "status",
                    "A message's state, or a recipient's send status",
                    {"enum": list(STATUSES)},
                ),
                _query(
                    "since",
                    "Created at or after: Unix seconds or ISO 8601 with a timezone",
                    {"type": "string"},
                ),
                _query("limit", "Page size", {**_PAGE, "maximum": 200}),
                _query(
                    "cursor",
                    "The `next` cursor of the previous page",
                    {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?_[0-9A-Za-z]{1,16}$"},
                ),
            ],
        ),
        "post": _operation(
            "sendMessage",
            "messages",
            "Send a message, or queue it with wait: false",
            {
                "200": _answer("Sent (or a duplicate reference)", "SendResult"),
                "202": _answer("Journalled and queued", "Queued"),
                "422": _answer("No provider could take it", "Error"),
                **_ERRORS,
                **_UNAVAILABLE,
            },
            requestBody={"required": True, **_json("NewMessage")},
        ),
    },
    "/v1/messages/{id}": {
        "get": _operation(
            "getMessage",
            "messages",
            "A message's status, attempts and delivery report",
            {
                "200": _answer("The message", "MessageRecord"),
                "404": _answer("No such message", "Error"),
                **_ERRORS,
                **_UNAVAILABLE,
            },
            parameters=[_path("id", "The message id a send answered with")],
        ),
        "delete": _operation(
            "cancelMessage",
            "messages",
            "Cancel what of a message is not yet sent (scheduled, or queued)",
            {
                "200": _answer("Cancelled: the message after", "MessageRecord"),
                "404": _answer("No such message", "Error"),
                "409": _answer("Every recipient was sent, or is being sent", "Error"),
                **_ERRORS,
                **_UNAVAILABLE,
            },
            parameters=[_path("id", "The message id a send answered with")],
        ),
    },
    "/v1/optouts": {
        "get": _operation(
            "listOptOuts",
            "optouts",
            "The opt-out list, oldest first",
            {"200": _answer("The list", "OptOuts"), **_ERRORS},
            parameters=[_query("number", "Only this number's entry", {"type": "string"})],
        ),
        "post": _operation(
            "addOptOut",
            "optouts",
            "Put a number on the opt-out list: no provider sends to it",
            {
                "201": _answer("Added", "OptOut"),
                "200": _answer("It was on the list already", "OptOut"),
                **_ERRORS,
            },
            requestBody={"required": True, **_json("NewOptOut")},
        ),
    },
    "/v1/optouts/{number}": {
        "delete": _operation(
            "removeOptOut",
            "optouts",
            "Take a number off the opt-out list",
            {
                "200": _answer("Removed", "OptOutRemoved"),
                "404": _answer("The number is not on the list", "Error"),
                **_ERRORS,
            },
            parameters=[_path("number", "The number, E.164 or national")],
        ),
    },
    "/v1/route": {
        "post": _operation(
            "explainRoute",
            "routing",
            "Explain the routing decision without sending",
            {"200": _answer("The decision", "Route"), **_ERRORS},
            requestBody={"required": True, **_json("NewMessage")},
        )
    },
    "/v1/providers": {
        "get": _operation(
            "listProviders",
            "providers",
            "Each provider's health, balance, limits and calls in flight",
            {"200": _answer("The providers", "Providers"), **_ERRORS},
        )
    },
    "/v1/plugins": {
        "get": _operation(
            "listPlugins",
            "plugins",
            "Loaded plugins, their versions and what each registered",
            {"200": _answer("The plugins", "Plugins"), **_ERRORS},
        )
    },
    "/v1/inbound": {
        "get": _operation(
            "listInbound",
            "inbound",
            "Inbound messages, newest first, each with the message it answers",
            {"200": _answer("One page", "InboundPage"), **_ERRORS},
            parameters=[
                _query("provider", "A configured provider's name", {"type": "string"}),
                _query("number", "E.164; matches from or to", {"type": "string"}),
                _query("since", "Unix seconds or ISO 8601 with a timezone", {"type": "string"}),
                _query("until", "Likewise; received before it", {"type": "string"}),
                _query("limit", "Page size", {**_PAGE, "maximum": 200}),
                _BEFORE,
            ],
        )
    },
    "/v1/events": {
        "get": _operation(
            "listEvents",
            "events",
            "Webhook events, one item per webhook, newest first",
            {"200": _answer("One page", "WebhookEventPage"), **_ERRORS},
            parameters=[
                _query("state", "pending, delivered or dead", {"type": "string"}),
                _query("type", "An event type", {"type": "string"}),
                _query("webhook", "A configured webhook's name", {"type": "string"}),
                _query("limit", "Page size", {**_PAGE, "maximum": 500}),
                _BEFORE,
            ],
        )
    },
    "/v1/events/{id}/retry": {
        "post": _operation(
            "retryEvent",
            "events",
            "Re-queue an event's dead letters, due now",
            {
                "200": _answer("Re-queued", "Requeued"),
                "404": _answer("No such event", "Error"),
                "409": _answer("The event has no dead letter", "Error"),
                **_ERRORS,
            },
            parameters=[
                _path("id", "The event's id"),
                _query("webhook", "Only the dead letter to this webhook", {"type": "string"}),
            ],
        )
    },
    "/v1/openapi.json": {
        "get": _operation(
            "getOpenAPI",
            "operations",
            "This document",
            {
                "200": {
                    "description": "The OpenAPI document",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
            **_OPEN,
        )
    },
    "/healthz": {
        "get": _operation(
            "getHealth",
            "operations",
            "Health: ok, stopping while the daemon shuts down, or degraded",
            {
                "200": _answer("Up", "Health"),
                "503": _answer("Up, but the shared live state cannot be reached", "Health"),
            },
            **_OPEN,
        )
    },
    "/metrics": {
        "get": _operation(
            "getMetrics",
            "operations",
            "The Prometheus exposition (text format 0.0.4)",
            {
                "200": {
                    "description": "Every metric, in the Prometheus text format",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
            **_OPEN,
        )
    },
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "smsrouter",
        "version": VERSION,
        "description": "Send SMS through many providers with routing policies and failover; "
        "follow each message, its attempts and delivery reports; see the providers' health "
        "and balances. Every /v1 operation but this document takes a bearer token.",
    },
    "tags": TAGS,
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {**MESSAGE_SCHEMAS, **STATE_SCHEMAS, **COMPLIANCE_SCHEMAS},
    },
    "security": [{"bearer": []}],
    "paths": {**_PATHS, **QUALITY_PATHS},
}


_ADMIN_SAID = {
    "suspend": (
        "Suspend a provider",
        "Route nothing to the provider until it is resumed: route explanations exclude it "
        "with policy `suspended` and the reason, and sends under way fail over past it. "
        "Journalled: the suspension survives a restart.",
    ),
    "resume": (
        "Resume a suspended provider",
        "The provider takes messages again, its circuit breaker permitting. Journalled.",
    ),
    "reset": (
        "Reset a provider's circuit breaker",
        "Close the breaker now and forget its failures, doubled cooldown and any hold the "
        "provider asked for. Journalled.",
    ),
}


def _admin_paths() -> dict[str, Any]:
    """The operators' routes (:mod:`router.daemon.admin`)."""
    name = _path("name", "A configured, enabled provider's name")
    paths: dict[str, Any] = {
        f"/v1/providers/{{name}}/{action}": {
            "post": _operation(
                f"{action}Provider",
                "admin",
                summary,
                {
                    "200": _answer("The provider, as GET /v1/providers shows it", "Provider"),
                    "404": _answer("No enabled provider with this name", "Error"),
                    **_ERRORS,
                    **_UNAVAILABLE,
                },
                description=description,
                parameters=[name],
                requestBody={"required": False, **_json("AdminReason")},
            )
        }
        for action, (summary, description) in _ADMIN_SAID.items()
    }
    paths["/v1/providers/{name}/actions"] = {
        "get": _operation(
            "listProviderActions",
            "admin",
            "What operators did to a provider, newest first",
            {"200": _answer("The actions", "AdminActions"), **_ERRORS, **_UNAVAILABLE},
            description="The journalled suspends, resumes and resets of the provider (by "
            "name, configured or not), each with its reason and time.",
            parameters=[
                _path("name", "A provider's name"),
                _query("limit", "How many actions at most", {**_PAGE, "maximum": 500}),
            ],
        )
    }
    return paths


OPENAPI["paths"].update(_admin_paths())
