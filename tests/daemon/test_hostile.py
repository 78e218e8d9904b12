"""Hostile input to the daemon: each class of it is a 4xx naming what is wrong, never a 500.

Each test generates many inputs of its class (hypothesis), sends them all to one daemon in
this process and checks every answer; the last-resort 500 is never reached.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
import urllib.parse
import zlib
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.daemon.guards import errors
from tests.daemon.support import SECRET, TOKEN
from tests.daemon.test_daemon import config

BEARER = {"Authorization": f"Bearer {TOKEN}"}
ROUTES = [
    ("POST", "/v1/messages"),
    ("POST", "/v1/route"),
    ("GET", "/v1/providers"),
    ("GET", "/v1/inbound"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/v1/openapi.json"),
    ("POST", f"/callbacks/broadcast/dlr/{SECRET}"),
    ("POST", f"/callbacks/office/inbound/{SECRET}"),
    ("POST", "/nowhere"),
]


def generated(strategy: st.SearchStrategy[Any], count: int = 100) -> list[Any]:
    """*count* inputs drawn from *strategy* (hypothesis generates, the test sends them)."""
    found: list[Any] = []

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: Any) -> None:
        found.append(value)

    collect()
    return found


def no_last_resort(caplog: pytest.LogCaptureFixture) -> None:
    """No request reached the error middleware's last resort."""
    assert not [r for r in caplog.records if r.getMessage().startswith("unhandled")]


async def post(
    http: aiohttp.ClientSession, url: str, data: bytes, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """POST raw bytes; (status, parsed JSON body)."""
    async with http.post(
        url, data=io.BytesIO(data), headers={**BEARER, **(headers or {})}
    ) as answer:
        return answer.status, await answer.json(content_type=None)


async def test_malformed_requests_are_400s_naming_the_field(
    tmp_path: Path, emulators: dict[str, Any], served_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    daemon = served_factory(config(tmp_path, emulators))
    await daemon.start()
    http = daemon.http
    assert http is not None
    caplog.set_level(logging.WARNING)
    # Non-UTF-8 bodies: a valid message encoded in another way, or bytes that are no UTF-8.
    bodies = generated(
        st.one_of(
            st.text(min_size=1)
            .map(lambda t: json.dumps({"to": "+61412345678", "text": t}, ensure_ascii=False))
            .map(lambda t: t.encode("utf-16")),
            st.binary(min_size=1).filter(lambda b: not _utf8(b)),
        )
    )
    for body in bodies:
        for path in ("/v1/messages", "/v1/route"):
            status, answer = await post(http, daemon.url + path, body)
            assert (status, answer["error"]["field"]) == (400, "body"), (body, answer)
    # Nesting: deep enough to exhaust the parser's recursion, in arrays, objects or both.
    for depth in generated(st.integers(65, 100_000), 20):
        for opening, closing in (("[", "]"), ('{"a":', "}")):
            body = (opening * depth + "1" + closing * depth).encode()
            status, answer = await post(http, f"{daemon.url}/v1/messages", body)
            assert (status, answer["error"]["field"]) == (400, "body")
    # A lone surrogate in any string field, either endpoint: refused the same way by both.
    surrogate = st.integers(0xD800, 0xDFFF).map(chr)
    spoilt = st.tuples(st.text(max_size=5), surrogate, st.text(max_size=5)).map("".join)
    cases = generated(st.tuples(st.sampled_from(["text", "reference", "sender", "to"]), spoilt))
    for field, value in cases:
        message = {"to": "+61412345678", "text": "hi", field: value}
        for path in ("/v1/messages", "/v1/route"):
            status, answer = await daemon.request("POST", path, json=message)
            assert (status, answer["error"]["field"]) == (400, field), (path, message, answer)
    # Out-of-range numbers in queries.
    numbers = generated(st.integers(2**63, 10**4000).map(str), 50)
    numbers += ["9" * 5000, "0" * 30 + "1", "1e400", "-1"]
    for number in numbers:
        for name in ("before", "limit"):
            status, answer = await daemon.request("GET", f"/v1/inbound?{name}={number}")
            if number == "0" * 30 + "1":
                assert status == 200
                continue
            assert (status, answer["error"]["field"]) == (400, name), (number, answer)
    for moment in ("0001-01-01T00:00:00+14:00", "1969-12-31T23:59:59Z", "1e400", "-5"):
        status, answer = await daemon.request("GET", f"/v1/inbound?since={moment}")
        assert (status, answer["error"]["field"]) == (400, "since")
    # A non-ASCII Authorization header, before any token is checked.
    printable = st.characters(exclude_categories=("Cc", "Cs"))
    headers = generated(st.text(printable, min_size=1).filter(lambda t: not t.isascii()))
    for header in headers:
        raw = (
            f"Bearer {header}".encode("utf-8", "surrogatepass")
            .replace(b"\r", b"")
            .replace(b"\n", b"")
        )
        status, answer = await _raw(daemon.url, b"GET /v1/providers HTTP/1.1\r\n", raw)
        assert status == 400, (header, answer)
        assert answer["error"]["field"] == "Authorization"
    no_last_resort(caplog)


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


async def _raw(url: str, request_line: bytes, authorization: bytes) -> tuple[int, Any]:
    """Send a GET with raw header bytes (aiohttp's client refuses to); (status, JSON)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            request_line
            + b"Host: x\r\nAuthorization: "
            + authorization
            + b"\r\nConnection: close\r\n\r\n"
        )
        answer = await reader.read()
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body) if body.startswith(b"{") else body


def _bomb(size: int) -> bytes:
    """A gzip body of zeros that inflates to *size* bytes."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(1 << 20)
    parts = [packer.compress(chunk) for _ in range(size >> 20)]
    return b"".join(parts) + packer.flush()


async def test_a_compression_bomb_never_delays_healthz(
    tmp_path: Path, emulators: dict[str, Any], served_factory: Any
) -> None:
    daemon = served_factory(config(tmp_path, emulators))
    await daemon.start()
    http = daemon.http
    assert http is not None
    bomb = _bomb(300 << 20)

    async def bombard(path: str) -> int:
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        async with http.post(daemon.url + path, data=io.BytesIO(bomb), headers=headers) as answer:
            status: int = answer.status
            return status

    async def slowest_healthz() -> float:
        slowest = 0.0
        for _ in range(20):
            started = time.perf_counter()
            async with http.get(f"{daemon.url}/healthz") as answer:
                assert answer.status == 200
            slowest = max(slowest, time.perf_counter() - started)
            await asyncio.sleep(0.005)
        return slowest

    # A loose bound, with a repeat: a shared machine may stall any one trial.
    delays = []
    for _ in range(2):
        paths = [p for m, p in ROUTES if m == "POST"] * 2
        statuses, delay = await asyncio.gather(
            asyncio.gather(*(bombard(p) for p in paths)), slowest_healthz()
        )
        assert set(statuses) == {415}
        delays.append(delay)
        if delay < 0.1:
            break
    print(f"slowest /healthz under bombs: {[round(d * 1000, 1) for d in delays]} ms")
    assert min(delays) < 0.1, delays


async def test_compressed_bodies_are_refused_unread(
    tmp_path: Path, emulators: dict[str, Any], served_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    daemon = served_factory(config(tmp_path, emulators))
    await daemon.start()
    caplog.set_level(logging.WARNING)
    names = st.sampled_from(["gzip", "x-gzip", "deflate", "br", "compress", "zstd", "foo"])
    spelt = st.tuples(names, st.sampled_from([str.lower, str.upper, str.title])).map(
        lambda p: p[1](p[0])
    )
    nested = st.lists(spelt, min_size=1, max_size=4).map(", ".join)
    encodings = st.one_of(nested, nested.map(lambda e: f"identity, {e}"), nested.map(" {} ".format))
    cases = generated(st.tuples(encodings, st.sampled_from(ROUTES)), 80)
    host, port = daemon.url.removeprefix("http://").split(":")
    for encoding, (method, path) in cases:
        reader, writer = await asyncio.open_connection(host, int(port))
        # Ten megabytes announced, a few bytes sent: an answer proves none was waited for.
        writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Encoding: {encoding}\r\nContent-Length: 10000000\r\n\r\n".encode()
            + b"\x1f\x8b\x08\x00"
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.close()
        assert head.split()[1] == b"415", (encoding, path, head)
    no_last_resort(caplog)


CP1251_TEXT = st.text(
    st.sampled_from("абвгдежзийклмнопрстуфхцчшщъыьэюяАБВЁё Hello 123!?"), min_size=1, max_size=30
)


async def test_pushes_in_other_encodings_are_decoded_or_answered_never_500(
    tmp_path: Path, emulators: dict[str, Any], served_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    text = config(tmp_path, emulators).replace(
        'prefixes = ["61"]', 'prefixes = ["61"]\npush_charset = "cp1251"'
    )
    daemon = served_factory(text)
    await daemon.start()
    http = daemon.http
    assert http is not None
    caplog.set_level(logging.WARNING)
    url = f"{daemon.url}/callbacks/broadcast/inbound/{SECRET}"
    form = "application/x-www-form-urlencoded"
    sent: list[str] = []
    # Decodable: raw or percent-encoded cp1251 without a charset (in a form or a query),
    # or another charset named.
    for n, message in enumerate(generated(CP1251_TEXT, 40)):
        marked = f"{message} #{n}"
        quoted = urllib.parse.quote(marked, encoding="cp1251").encode()

        def fields(way: int, text: bytes, n: int = n) -> bytes:
            # A sender per way: the same text from the same number would be one repeated push.
            return f"from=614000{way}{n:04d}&to=61411111111&message=".encode() + text

        raw = marked.encode("cp1251")
        variants = [
            (fields(0, raw), form),
            (fields(1, quoted), form),
            (fields(2, raw).decode("cp1251").encode("utf-16"), f"{form}; charset=utf-16"),
            (fields(3, raw).decode("cp1251").encode("koi8-r"), f"{form}; charset=koi8-r"),
        ]
        for body, content_type in variants:
            async with http.post(
                url, data=io.BytesIO(body), headers={"Content-Type": content_type}
            ) as answer:
                assert (answer.status, await answer.text()) == (200, "OK"), (body, content_type)
            sent.append(marked)
        query = f"?{fields(4, quoted).decode()}"
        async with http.get(url + query) as answer:
            assert (answer.status, await answer.text()) == (200, "OK"), query
        sent.append(marked)
    status, page = await daemon.request("GET", "/v1/inbound?provider=broadcast&limit=200")
    assert status == 200
    assert sorted(i["text"] for i in page["items"]) == sorted(sent)
    # Undecodable: a bogus charset, UTF-16 without a charset, broken multipart, noise.
    junk = generated(
        st.tuples(
            st.binary(max_size=200),
            st.sampled_from(
                [
                    f"{form}; charset=bogus-42",
                    f"{form}; charset=utf-8",
                    "multipart/form-data; boundary=xyz",
                    "multipart/form-data",
                    "text/plain; charset=utf-16",
                    "",
                ]
            ),
        ),
        150,
    )
    junk += [("from=+61400000999&message=é".encode("utf-16"), form)] * 2
    for body, content_type in junk:
        headers = {"Content-Type": content_type} if content_type else {}
        async with http.post(url, data=io.BytesIO(body), headers=headers) as answer:
            assert answer.status != 500, (body, content_type)
            if answer.status == 200:
                assert await answer.text() == "OK"
    _, after = await daemon.request("GET", "/v1/inbound?provider=broadcast&limit=200")
    assert not [i for i in after["items"] if "\ufffd" in i["text"] or "\x00" in i["text"]]
    no_last_resort(caplog)


async def test_the_last_resort_is_json_and_logs_no_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "s3cret+/ &=%@:?"
    app = web.Application()

    async def failing(request: web.Request) -> web.Response:
        raise RuntimeError(f"boom {secret}")

    app.router.add_post("/callbacks/{provider}/{kind}/{secret}", failing)
    path = f"/callbacks/p/dlr/{urllib.parse.quote(secret, safe='')}"
    match = await app.router.resolve(make_mocked_request("POST", path, app=app))
    request = make_mocked_request("POST", path, app=app)
    request._match_info = match
    with caplog.at_level(logging.ERROR):
        answer = await errors(request, failing)
    assert answer.status == 500
    assert isinstance(answer, web.Response)
    assert answer.text is not None
    assert json.loads(answer.text)["error"]["code"] == "internal"
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["unhandled RuntimeError answering POST /callbacks/{provider}/{kind}/{secret}"]
    assert not any(r.exc_info for r in caplog.records)
