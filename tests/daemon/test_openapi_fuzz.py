"""schemathesis, with every check, against the daemon's API as its OpenAPI document says.

The daemon runs in this process on a loopback port; schemathesis reads the document from
``/v1/openapi.json`` and calls the server from a thread (its client is synchronous), a
bounded number of examples per operation, positive and negative.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Err

from router.daemon.openapi import OPENAPI
from tests.daemon.support import TOKEN
from tests.daemon.test_daemon import config

CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            # What no schema can say: a number that is not one, a provider not configured,
            # a sender too long for its kind, are 400 naming the field; no route is 422.
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "400", "401", "404", "409", "422", "503"]
            }
        }
    }
)

EXAMPLES = 20
"""Examples per operation and generation mode: bounds the test to seconds."""


def fuzz(url: str) -> list[str]:
    """Run every operation's examples through every check; the failures' summaries."""
    schema = schemathesis.openapi.from_url(f"{url}/v1/openapi.json", config=CONFIG)
    failures: list[str] = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # a part of the document schemathesis cannot read
            failures.append(f"the document: {result.err()}")
            continue
        operation = result.ok()
        raw = operation.definition.raw
        takes_input = "parameters" in raw or "requestBody" in raw or raw.get("security") != []
        # An operation that takes nothing (no parameter, body or token) has no negative case.
        modes = [GenerationMode.POSITIVE] + [GenerationMode.NEGATIVE] * takes_input
        for mode in modes:

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(operation.as_strategy(generation_mode=mode))
            def check(case: Any) -> None:
                case.call_and_validate(
                    base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
                )

            try:
                check()
            except Exception as exc:  # every failure is reported, not only the first
                failures.append(f"{operation.label} {mode.value}: {exc}")
    return failures


async def test_schemathesis_finds_nothing(
    tmp_path: Path, emulators: dict[str, Any], served_factory: Any
) -> None:
    daemon = served_factory(config(tmp_path, emulators))
    await daemon.start()
    failures = await asyncio.to_thread(fuzz, daemon.url)
    assert not failures, "\n\n".join(failures)


async def test_the_document_refuses_what_the_server_refuses(
    tmp_path: Path, emulators: dict[str, Any], served_factory: Any
) -> None:
    daemon = served_factory(config(tmp_path, emulators))
    await daemon.start()
    new_message = {"$ref": "#/components/schemas/NewMessage", **OPENAPI}
    valid = {"to": "+61412345678", "text": "hi"}
    jsonschema.validate(valid, new_message)
    spoilt: list[tuple[dict[str, Any], str]] = [
        ({"text": ""}, "text"),
        ({"text": " \n"}, "text"),
        ({"to": ""}, "to"),
        ({"to": []}, "to"),
        ({"to": [""]}, "to"),
        ({"providers": []}, "providers"),
        ({"providers": [""]}, "providers[0]"),
    ]
    for change, field in spoilt:
        body = {**valid, **change}
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(body, new_message)
        status, answer = await daemon.request("POST", "/v1/route", json=body)
        assert (status, answer["error"]["field"]) == (400, field), (body, answer)
    assert daemon.http is not None
    for method, path in [("DELETE", "/v1/messages"), ("PUT", "/v1/providers")]:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with daemon.http.request(method, daemon.url + path, headers=headers) as answer:
            assert answer.status == 405
            assert answer.headers["Allow"]
            assert (await answer.json())["error"]["code"] == "method_not_allowed"
