"""The OpenAPI 3.1 document of the daemon's ``/v1`` API, served at ``/v1/openapi.json``."""

from __future__ import annotations

from typing import Any

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "field"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": ["string", "null"]},
                "reasons": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "result": {"$ref": "#/components/schemas/SendResult"},
    },
}
_ATTEMPT = {
    "type": "object",
    "required": ["provider", "outcome", "reason", "provider_message_id", "kind", "at"],
    "properties": {
        "provider": {"type": "string"},
        "outcome": {
            "enum": [
                "accepted",
                "rejected_recipient",
                "rejected_message",
                "provider_error",
                "unavailable",
                "ambiguous",
            ]
        },
        "reason": {"type": "string"},
        "provider_message_id": {"type": ["string", "null"]},
        "kind": {"type": ["string", "null"]},
        "at": {"type": "number"},
    },
}
_STATUS = {"enum": ["accepted", "rejected", "failed", "ambiguous"]}
_RECIPIENT = {
    "type": "object",
    "required": ["to", "ref", "status", "provider", "provider_message_id", "cost", "attempts"],
    "properties": {
        "to": {"type": "string"},
        "ref": {"type": "string"},
        "status": _STATUS,
        "provider": {"type": ["string", "null"]},
        "provider_message_id": {"type": ["string", "null"]},
        "cost": {"type": ["string", "null"]},
        "attempts": {"type": "array", "items": {"$ref": "#/components/schemas/Attempt"}},
    },
}
_RESULT = {
    "type": "object",
    "required": ["id", "reference", "ok", "duplicate", "encoding", "segments", "recipients"],
    "properties": {
        "id": {"type": "string"},
        "reference": {"type": ["string", "null"]},
        "ok": {"type": "boolean"},
        "duplicate": {"type": "boolean"},
        "encoding": {"enum": ["gsm7", "ucs2"]},
        "segments": {"type": "integer"},
        "recipients": {"type": "array", "items": {"$ref": "#/components/schemas/Recipient"}},
    },
}
_RECORD = {
    "type": "object",
    "required": [
        "id",
        "reference",
        "state",
        "text",
        "sender",
        "encoding",
        "segments",
        "created_at",
        "recipients",
    ],
    "properties": {
        "id": {"type": "string"},
        "reference": {"type": ["string", "null"]},
        "state": {"enum": ["queued", "sending", "done"]},
        "text": {"type": "string"},
        "sender": {"type": ["string", "null"]},
        "encoding": {"enum": ["gsm7", "ucs2"]},
        "segments": {"type": "integer"},
        "created_at": {"type": "number"},
        "recipients": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "to",
                    "ref",
                    "status",
                    "provider",
                    "provider_message_id",
                    "cost",
                    "attempts",
                    "delivery",
                ],
                "properties": {
                    "to": {"type": "string"},
                    "ref": {"type": "string"},
                    "status": {"anyOf": [_STATUS, {"type": "null"}]},
                    "provider": {"type": ["string", "null"]},
                    "provider_message_id": {"type": ["string", "null"]},
                    "cost": {"type": ["string", "null"]},
                    "attempts": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/Attempt"},
                    },
                    "delivery": {
                        "type": ["object", "null"],
                        "required": ["status", "raw_status", "at"],
                        "properties": {
                            "status": {"type": "string"},
                            "raw_status": {"type": ["string", "null"]},
                            "at": {"type": ["number", "null"]},
                        },
                    },
                },
            },
        },
    },
}
_NEW_MESSAGE = {
    "type": "object",
    "required": ["to", "text"],
    "additionalProperties": False,
    "properties": {
        "to": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "text": {"type": "string"},
        "sender": {"type": "string"},
        "reference": {"type": "string"},
        "providers": {"type": "array", "items": {"type": "string"}},
        "wait": {"type": "boolean", "default": True},
    },
}
_QUEUED = {
    "type": "object",
    "required": ["id", "reference", "duplicate"],
    "properties": {
        "id": {"type": "string"},
        "reference": {"type": ["string", "null"]},
        "duplicate": {"type": "boolean"},
    },
}
_ROUTE = {
    "type": "object",
    "required": ["id", "encoding", "segments", "routes"],
    "properties": {
        "id": {"type": "string"},
        "encoding": {"enum": ["gsm7", "ucs2"]},
        "segments": {"type": "integer"},
        "routes": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["to", "candidates", "excluded"],
                "properties": {
                    "to": {"type": "string"},
                    "candidates": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["provider", "cost", "keys"],
                            "properties": {
                                "provider": {"type": "string"},
                                "cost": {"type": ["string", "null"]},
                                "keys": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                },
                            },
                        },
                    },
                    "excluded": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["provider", "policy", "reason"],
                            "properties": {
                                "provider": {"type": "string"},
                                "policy": {"type": "string"},
                                "reason": {"type": "string"},
                            },
                        },
                    },
                },
            },
        },
    },
}
_PROVIDERS = {
    "type": "object",
    "required": ["providers"],
    "properties": {
        "providers": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "plugin", "breaker", "balance", "in_flight", "limits"],
                "properties": {
                    "name": {"type": "string"},
                    "plugin": {"type": "string"},
                    "breaker": {"enum": ["closed", "open", "half_open"]},
                    "balance": {
                        "type": ["object", "null"],
                        "required": ["amount", "unit", "age_seconds"],
                        "properties": {
                            "amount": {"type": "string"},
                            "unit": {"type": "string"},
                            "age_seconds": {"type": "number"},
                        },
                    },
                    "in_flight": {"type": "integer"},
                    "limits": {"type": "object"},
                },
            },
        }
    },
}
_PLUGINS = {
    "type": "object",
    "required": ["plugins"],
    "properties": {
        "plugins": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "version", "hooks", "providers", "policies"],
                "properties": {
                    "name": {"type": "string"},
                    "version": {"type": ["string", "null"]},
                    "hooks": {"type": "array", "items": {"type": "string"}},
                    "providers": {"type": "array", "items": {"type": "string"}},
                    "policies": {"type": "array", "items": {"type": "string"}},
                },
            },
        }
    },
}
_INBOUND = {
    "type": "object",
    "required": ["items", "next"],
    "properties": {
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "provider", "from", "to", "text", "received_at", "in_reply_to"],
                "properties": {
                    "id": {"type": "integer"},
                    "provider": {"type": "string"},
                    "from": {"type": "string"},
                    "to": {"type": "string"},
                    "text": {"type": "string"},
                    "received_at": {"type": "number"},
                    "in_reply_to": {"type": ["string", "null"]},
                },
            },
        },
        "next": {"type": ["string", "null"]},
    },
}
_NUMBER_OR_NULL = {"type": ["number", "null"]}
_EVENT_FIELDS = {
    "id": {"type": "string"},
    "type": {"enum": ["delivery_report", "inbound_message", "message_failed", "provider_state"]},
    "webhook": {"type": "string"},
    "state": {"enum": ["pending", "delivered", "dead"]},
    "attempts": {"type": "integer"},
    "created_at": {"type": "number"},
    "queued_at": {"type": "number"},
    "next_at": _NUMBER_OR_NULL,
    "last_at": _NUMBER_OR_NULL,
    "last_status": {"type": ["integer", "null"]},
    "last_error": {"type": ["string", "null"]},
    "delivered_at": _NUMBER_OR_NULL,
    "data": {"type": "object", "description": "The event's fields, as its receiver gets them"},
}
_EVENT = {
    "type": "object",
    "description": "One webhook event's delivery to one webhook",
    "required": list(_EVENT_FIELDS),
    "properties": _EVENT_FIELDS,
}
_EVENTS = {
    "type": "object",
    "required": ["items", "next"],
    "properties": {
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/WebhookEvent"}},
        "next": {"type": ["string", "null"]},
    },
}
_REQUEUED = {
    "type": "object",
    "required": ["requeued", "items"],
    "properties": {
        "requeued": {"type": "integer", "minimum": 1},
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/WebhookEvent"}},
    },
}


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

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "smsrouter", "version": "1"},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": _ERROR,
            "Attempt": _ATTEMPT,
            "Recipient": _RECIPIENT,
            "SendResult": _RESULT,
            "MessageRecord": _RECORD,
            "NewMessage": _NEW_MESSAGE,
            "Queued": _QUEUED,
            "Route": _ROUTE,
            "Providers": _PROVIDERS,
            "Plugins": _PLUGINS,
            "InboundPage": _INBOUND,
            "WebhookEvent": _EVENT,
            "WebhookEventPage": _EVENTS,
            "Requeued": _REQUEUED,
        },
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
