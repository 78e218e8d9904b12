"""At DEBUG, through sends, faults, wrong passwords, callbacks and malformed requests, no
configured secret (each built to hold ``+/ &=%@:?``) reaches a log line, an API answer, a
metric or an exception text."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from aioresponses import aioresponses as AioResponses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yarl import URL

from router.daemon import Daemon, make_app
from tests.test_secrets import HEAD, HOSTILE, SECRETS, TAIL, captured, leaks

PATH_SAFE = "+&=@:!$'()*,;"
"""What a callback secret may hold: it is a segment of the callback URL's path."""
CALLBACK_SECRETS = st.builds(
    lambda middle: HEAD + middle + TAIL, st.text(alphabet=PATH_SAFE + "-_.~", min_size=8)
)


def config(token: str, callback: str, password: str, push: str) -> dict[str, Any]:
    common = {"username": "u", "password": password}
    return {
        "server": {"api_tokens": [token], "callback_secret": callback},
        "store": {"url": "memory:"},
        "providers": {
            "central": {
                "plugin": "smscentral",
                "priority": 1,
                "base_url": "https://central.test/api",
                "callback_password": push,
                **common,
            },
            "office": {
                "plugin": "smsoffice",
                "priority": 2,
                "sender": "Shop",
                "base_url": "https://office.test/",
                **common,
            },
        },
    }


def echo(password: str) -> str:
    """A provider answer quoting the password as yarl wrote it into the query string."""
    query = URL.build(query={"password": password}).raw_query_string
    return f"ERROR: login refused for {query} and {password}"


async def raw(server: TestServer, request: bytes) -> None:
    """Write *request* as is to the server and read its answer's first bytes.

    aiohttp's 400 quotes the bad line back to the one who sent it; what matters here is
    what it logs.
    """
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(request)
        await writer.drain()
        await asyncio.wait_for(reader.read(100), 0.5)
    finally:
        writer.close()


async def exercise(server: TestServer, token: str, callback: str, push: str) -> list[str]:
    """Everything the daemon answers to sends, wrong credentials, pushes and bad requests."""
    texts: list[str] = []
    base = str(server.make_url("")).rstrip("/")
    good = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:

        async def call(method: str, path: str, **kwargs: Any) -> None:
            async with http.request(method, base + path, **kwargs) as answer:
                texts.append(f"{answer.status} {dict(answer.headers)} {await answer.text()}")

        body = {"to": "+61412345678", "text": "hi"}
        await call("POST", "/v1/messages", json=body, headers=good)
        await call("POST", "/v1/messages", json=body | {"wait": False}, headers=good)
        await call("POST", "/v1/route", json=body, headers=good)
        for path in ("/v1/providers", "/metrics", "/v1/plugins"):
            await call("GET", path, headers=good)
        await call("GET", "/v1/providers", headers={"Authorization": f"Bearer {token}x"})
        await call("GET", "/v1/providers", headers={"Authorization": token})
        for kind in ("dlr", "inbound"):
            path = f"/callbacks/central/{kind}/{callback}"
            form = {"USER_NAME": "u", "PASSWORD": push[:-1], "MESSAGEID": "x", "STATUS": "1"}
            await call("POST", path, data=form)
            await call("POST", path + "x", data=form | {"PASSWORD": push})
    bad = [
        f"GET /callbacks/central/dlr/{callback}?PASSWORD={push} HTTP/1.1\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: nope\r\n\r\n",
        f"POST /v1/messages?{token} HTTP/9.9\r\nAuthorization: Bearer {token}\r\n\r\n",
        f"GET /{callback}{push}\x00 HTTP/1.1\r\nHost: \x01{token}\r\n\r\n",
    ]
    for request in bad:
        await raw(server, request.encode())
    return texts


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(token=SECRETS, callback=CALLBACK_SECRETS, password=SECRETS, push=SECRETS)
async def test_no_secret_leaves_the_daemon(
    mock_http: AioResponses, token: str, callback: str, password: str, push: str
) -> None:
    assert set(HOSTILE) & set(token + password + push)
    mock_http.clear()
    for method in (mock_http.get, mock_http.post):
        method(re.compile(r"https://.*"), status=200, body=echo(password), repeat=True)
    daemon = Daemon(config_data=config(token, callback, password, push))
    server = TestServer(make_app(daemon), host="127.0.0.1")
    with captured() as lines:
        for name in ("aiohttp", "smsrouter"):
            logging.getLogger(name).setLevel(logging.DEBUG)
        await server.start_server()
        try:
            texts = await exercise(server, token, callback, push)
        finally:
            await server.close()
    assert len(lines) > 5
    assert not [t for t in texts + lines if leaks(t)], [t for t in texts + lines if leaks(t)]
