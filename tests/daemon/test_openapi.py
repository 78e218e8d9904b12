"""The OpenAPI document: every operation named and tagged, every field described, every
route the daemon serves documented, and real answers holding no field it does not describe.

These hold routes and fields added later to the same; schemathesis (test_openapi_fuzz)
checks the answers against the schemas' types.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema

import router
import router.testing
from router.daemon.app import Daemon, make_app
from router.daemon.openapi import OPENAPI, TAGS
from tests.daemon.support import InProcessDaemon
from tests.daemon.test_daemon import config, point_callbacks

METHODS = {"get", "post", "put", "patch", "delete"}


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in OPENAPI["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def schemas(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema object under *node* (a schema, or any part of the document)."""
    if isinstance(node, dict):
        if "type" in node or "properties" in node or "$ref" in node or "oneOf" in node:
            yield where, node
        for key, value in node.items():
            yield from schemas(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from schemas(value, f"{where}[{index}]")


def test_every_operation_has_an_id_a_known_tag_and_a_summary() -> None:
    known = {tag["name"] for tag in TAGS}
    assert all(tag.get("description") for tag in TAGS)
    ids = []
    for path, method, operation in operations():
        where = f"{method.upper()} {path}"
        assert operation.get("operationId"), where
        assert operation.get("tags"), where
        assert set(operation["tags"]) <= known, where
        assert operation.get("summary"), where
        ids.append(operation["operationId"])
    assert len(ids) == len(set(ids)), "operationIds are unique"
    assert OPENAPI["tags"] == TAGS


def test_the_version_is_the_packages() -> None:
    assert OPENAPI["info"]["version"] == router.__version__
    assert OPENAPI["info"]["description"]


def test_every_field_and_parameter_is_described() -> None:
    undescribed = []
    for name, schema in OPENAPI["components"]["schemas"].items():
        if not schema.get("description"):
            undescribed.append(f"components.schemas.{name}")
    for where, schema in schemas(OPENAPI, "#"):
        for field, value in schema.get("properties", {}).items():
            if not value.get("description"):
                undescribed.append(f"{where}.properties.{field}")
    for path, method, operation in operations():
        for parameter in operation.get("parameters", []):
            if not parameter.get("description"):
                undescribed.append(f"{method.upper()} {path} parameter {parameter['name']}")
        for status, answer in operation["responses"].items():
            if not answer.get("description"):
                undescribed.append(f"{method.upper()} {path} answer {status}")
    assert undescribed == []
    providers = OPENAPI["components"]["schemas"]["NewMessage"]["properties"]["providers"]
    assert "configured provider" in providers["description"]


def test_every_route_the_daemon_serves_is_documented() -> None:
    daemon = Daemon(
        config_data={"providers": {"a": {"plugin": "fake"}}, "store": {"url": "memory:"}},
        plugins=(router.testing,),
    )
    app = make_app(daemon)
    # The ingresses speak other gateways' protocols (docs/kannel-jasmin.md), not this API.
    ingress_paths = set(daemon.router.plugins.ingresses.claimed())
    served = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if route.method in ("HEAD", "*") or path.startswith("/callbacks/"):
            continue  # HEAD comes with each GET; callbacks are the providers', not the API
        if path in ingress_paths:
            continue
        served.add((route.method.lower(), path))
    documented = {(method, path) for path, method, _ in operations()}
    assert served == documented


def undocumented(value: Any, schema: dict[str, Any], where: str = "") -> list[str]:
    """Every field of *value* that *schema* does not describe."""
    components = OPENAPI["components"]["schemas"]
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    for branch in schema.get("oneOf", schema.get("anyOf", [])):
        try:
            jsonschema.validate(value, {**branch, "components": OPENAPI["components"]})
        except jsonschema.ValidationError:
            continue
        return undocumented(value, branch, where)
    found: list[str] = []
    if isinstance(value, dict) and "properties" in schema:
        for key, item in value.items():
            field = schema["properties"].get(key)
            if field is None:
                found.append(f"{where}.{key}")
            else:
                found.extend(undocumented(item, field, f"{where}.{key}"))
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            found.extend(undocumented(item, schema["items"], f"{where}[{index}]"))
    return found


async def test_real_answers_hold_only_described_fields(
    tmp_path: Path, emulators: dict[str, Any], served_factory: Any
) -> None:
    daemon: InProcessDaemon = served_factory(config(tmp_path, emulators))
    await daemon.start()
    point_callbacks(emulators, daemon)
    body = {"to": ["+61412345678", "+27821234567"], "text": "hi", "reference": "r-1"}
    calls = [
        ("POST", "/v1/messages", body, 200, "SendResult"),
        ("POST", "/v1/messages", {**body, "reference": "r-2", "wait": False}, 202, "Queued"),
        ("POST", "/v1/route", {"to": "+61412345678", "text": "hi"}, 200, "Route"),
        ("GET", "/v1/providers", None, 200, "Providers"),
        ("GET", "/v1/plugins", None, 200, "Plugins"),
        ("GET", "/v1/inbound", None, 200, "InboundPage"),
        ("GET", "/v1/events", None, 200, "WebhookEventPage"),
        ("GET", "/healthz", None, 200, "Health"),
        ("POST", "/v1/route", {"to": "+61412345678"}, 400, "Error"),
        (
            "POST",
            "/v1/messages",
            {"to": "+61412345678", "text": "hi", "providers": "smsc"},
            400,
            "Error",
        ),
        ("POST", "/v1/providers/office/suspend", {"reason": "checking"}, 200, "Provider"),
        ("POST", "/v1/providers/office/resume", None, 200, "Provider"),
        ("GET", "/v1/providers/office/actions", None, 200, "AdminActions"),
    ]
    found = []
    for method, path, payload, expected, schema in calls:
        status, answer = await daemon.request(method, path, json=payload)
        assert status == expected, (path, answer)
        found.extend(undocumented(answer, {"$ref": f"#/{schema}"}, f"{method} {path}"))
        if path == "/v1/messages" and status == 200:
            sent = answer["id"]
    status, record = await daemon.request("GET", f"/v1/messages/{sent}")
    assert status == 200
    found.extend(undocumented(record, {"$ref": "#/MessageRecord"}, "GET /v1/messages/{id}"))
    assert found == []
    # And it would see a field nobody described.
    assert undocumented({"id": "x", "extra": 1}, {"$ref": "#/Queued"}) == [".extra"]
