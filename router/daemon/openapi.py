"""The OpenAPI 3.1 document of the daemon's ``/v1`` API, served at ``/v1/openapi.json``.

The bodies' schemas are :mod:`router.daemon.schemas`; this is the paths that use them.
"""

from __future__ import annotations

from typing import Any

from router.daemon.schemas import SCHEMAS

__all__ = ["OPENAPI"]


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": schema}


def _json(schema: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


def _answer(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, **_json(schema)}


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

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "smsrouter", "version": "1"},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": SCHEMAS,
    },
    "security": [{"bearer": []}],
    "paths": {
        "/v1/messages": {
            "post": {
                "summary": "Send a message, or queue it with wait: false",
                "requestBody": {"required": True, **_json("NewMessage")},
                "responses": {
                    "200": _answer("Sent (or a duplicate reference)", "SendResult"),
                    "202": _answer("Journalled and queued", "Queued"),
                    "422": _answer("No provider could take it", "Error"),
                    **_ERRORS,
                    **_UNAVAILABLE,
                },
            }
        },
        "/v1/messages/{id}": {
            "get": {
                "summary": "A message's status, attempts and delivery report",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": _answer("The message", "MessageRecord"),
                    "404": _answer("No such message", "Error"),
                    **_ERRORS,
                    **_UNAVAILABLE,
                },
            }
        },
        "/v1/route": {
            "post": {
                "summary": "Explain the routing decision without sending",
                "requestBody": {"required": True, **_json("NewMessage")},
                "responses": {"200": _answer("The decision", "Route"), **_ERRORS},
            }
        },
        "/v1/providers": {
            "get": {
                "summary": "Each provider's health, balance, limits and calls in flight",
                "responses": {"200": _answer("The providers", "Providers"), **_ERRORS},
            }
        },
        "/v1/plugins": {
            "get": {
                "summary": "Loaded plugins, their versions and what each registered",
                "responses": {"200": _answer("The plugins", "Plugins"), **_ERRORS},
            }
        },
        "/v1/inbound": {
            "get": {
                "summary": "Inbound messages, newest first, each with the message it answers",
                "parameters": [
                    _query("provider", "A configured provider's name", {"type": "string"}),
                    _query("number", "E.164; matches from or to", {"type": "string"}),
                    _query("since", "Unix seconds or ISO 8601 with a timezone", {"type": "string"}),
                    _query("until", "Likewise; received before it", {"type": "string"}),
                    _query(
                        "limit",
                        "Page size",
                        {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
                    ),
                    _query("before", "The `next` cursor of the previous page", {"type": "string"}),
                ],
                "responses": {"200": _answer("One page", "InboundPage"), **_ERRORS},
            }
        },
        "/v1/events": {
            "get": {
                "summary": "Webhook events, one item per webhook, newest first",
                "parameters": [
                    _query("state", "pending, delivered or dead", {"type": "string"}),
                    _query("type", "An event type", {"type": "string"}),
                    _query("webhook", "A configured webhook's name", {"type": "string"}),
                    _query(
                        "limit",
                        "Page size",
                        {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
                    ),
                    _query("before", "The `next` cursor of the previous page", {"type": "string"}),
                ],
                "responses": {"200": _answer("One page", "WebhookEventPage"), **_ERRORS},
            }
        },
        "/v1/events/{id}/retry": {
            "post": {
                "summary": "Re-queue an event's dead letters, due now",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
                    _query("webhook", "Only the dead letter to this webhook", {"type": "string"}),
                ],
                "responses": {
                    "200": _answer("Re-queued", "Requeued"),
                    "404": _answer("No such event", "Error"),
                    "409": _answer("The event has no dead letter", "Error"),
                    **_ERRORS,
                },
            }
        },
    },
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
    """The operators' routes (``router.daemon.admin``)."""
    name = {
        "name": "name",
        "in": "path",
        "required": True,
        "description": "A configured, enabled provider's name",
        "schema": {"type": "string"},
    }
    paths: dict[str, Any] = {
        f"/v1/providers/{{name}}/{action}": {
            "post": {
                "operationId": f"{action}Provider",
                "tags": ["admin"],
                "summary": summary,
                "description": description,
                "parameters": [name],
                "requestBody": {"required": False, **_json("AdminReason")},
                "responses": {
                    "200": _answer("The provider, as GET /v1/providers shows it", "Provider"),
                    "404": _answer("No enabled provider with this name", "Error"),
                    **_ERRORS,
                    **_UNAVAILABLE,
                },
            }
        }
        for action, (summary, description) in _ADMIN_SAID.items()
    }
    paths["/v1/providers/{name}/actions"] = {
        "get": {
            "operationId": "listProviderActions",
            "tags": ["admin"],
            "summary": "What operators did to a provider, newest first",
            "description": "The journalled suspends, resumes and resets of the provider "
            "(by name, configured or not), each with its reason and time.",
            "parameters": [
                {**name, "description": "A provider's name"},
                _query(
                    "limit",
                    "How many actions at most",
                    {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
                ),
            ],
            "responses": {
                "200": _answer("The actions", "AdminActions"),
                **_ERRORS,
                **_UNAVAILABLE,
            },
        }
    }
    return paths


OPENAPI["paths"].update(_admin_paths())
