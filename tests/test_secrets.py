"""Secrets never leave: in every encoding a provider may echo them, at any cut, in any log.

Each secret is built to hold ``+/ &=%@:?`` between two markers that appear nowhere else,
so a prefix left by a cut, or a form the redaction missed, shows as a marker.
"""

from __future__ import annotations

import html
import json
import logging
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, quote_plus

import aiohttp
from aioresponses import aioresponses as AioResponses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yarl import URL

from plugins.smsbroadcast.adapter import SMSBroadcastProvider
from plugins.smsc.adapter import SMSCProvider
from plugins.smscentral.adapter import SMSCentralProvider
from plugins.smsoffice.adapter import SMSOfficeProvider
from router.config import make_config_converter
from router.logs import EscapeControls, HideSecrets, escape_controls, secrets_of
from router.model import Batch, Encoding, Recipient, SenderKind, StatusQuery
from router.provider import Provider, ProviderContext
from router.redact import MASK, Secret, encodings, redact

HEAD, TAIL = "Kx7", "9Qz"
HOSTILE = "+/ &=%@:?"
SECRETS = st.builds(
    lambda middle, extra: HEAD + middle + extra + TAIL,
    st.text(alphabet=HOSTILE, min_size=2, max_size=6),
    st.text(alphabet=HOSTILE + "abcXYZ019-_.~!$'()*,;\"\\<>", max_size=10),
)


def yarl_query(value: str) -> str:
    return URL.build(query={"v": value}).raw_query_string.removeprefix("v=")


ENCODERS: list[Callable[[str], str]] = [
    lambda v: v,
    lambda v: quote(v, safe=""),
    quote,
    lambda v: quote_plus(v, safe=""),
    quote_plus,
    yarl_query,
    lambda v: re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), yarl_query(v)),
    html.escape,
    lambda v: json.dumps(v)[1:-1],
    lambda v: html.escape(quote_plus(v)),
]


def leaks(text: str) -> bool:
    return HEAD.lower() in text.lower() or TAIL.lower() in text.lower()


@settings(max_examples=400, deadline=None)
@given(secret=SECRETS, encode=st.sampled_from(ENCODERS), before=st.text(max_size=30))
def test_redact_masks_every_encoding(
    secret: str, encode: Callable[[str], str], before: str
) -> None:
    text = f"{before}{encode(secret)} and again {encode(secret)}."
    assert not leaks(redact(text.replace(HEAD, "").replace(TAIL, "") + encode(secret), [secret]))
    assert MASK in redact(text, [Secret(secret)])
    assert not leaks(redact(text, [Secret(secret)]))
    assert encodings(secret) >= {secret, quote_plus(secret, safe=""), yarl_query(secret)}


PROVIDERS: dict[type[Provider[Any]], dict[str, Any]] = {
    SMSOfficeProvider: {"username": "u", "sender": "Shop", "base_url": "https://office.test/"},
    SMSBroadcastProvider: {"username": "u", "base_url": "https://broadcast.test/api"},
    SMSCentralProvider: {"username": "u", "base_url": "https://central.test/api"},
    SMSCProvider: {"login": "u", "base_url": "https://smsc.test/sys"},
}
SECRET_KEY: dict[type[Provider[Any]], str] = {SMSCProvider: "psw"}

BODIES = [
    "{pad}{echo}",
    "Error: {pad}{echo}",
    "ERROR: {pad}{echo}",
    "BAD:61412345678:{pad}{echo}",
    "OK:61412345678:{echo}",
    "1 {pad}{echo}",
    '{{"error": "{pad}{echo}", "error_code": 2}}',
    '{{"error": "{pad}{echo}", "error_code": 9}}',
    '{{"id": "{echo}", "cnt": 1}}',
    "<html><body>{pad}{echo}</body></html>",
]


@contextmanager
def captured() -> Iterator[list[str]]:
    """Every record logged anywhere at DEBUG, formatted as the daemon's handler writes it."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Keep(logging.DEBUG)
    handler.addFilter(EscapeControls())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def batch() -> Batch:
    recipient = Recipient("+61412345678", "AU", 61, "0123456789abcdef-0")
    return Batch("0123456789abcdef", "Hi", None, SenderKind.NONE, Encoding.GSM7, 1, (recipient,), 1)


async def drive(adapter: Provider[Any]) -> list[str]:
    """Send, balance and status query: every reason and error text they give."""
    # Not the provider's message id: an answer that makes the password its id is its id.
    texts = [str(o.reason) for o in await adapter.send(batch())]
    query = StatusQuery("77", "0123456789abcdef-0", "+61412345678")
    for call in (adapter.balance, lambda: adapter.query_status([query])):
        try:
            texts.append(repr(await call()))
        except NotImplementedError:
            pass
        except Exception as exc:
            texts.append(f"{exc!s} {exc!r}")
    return texts


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    secret=SECRETS,
    kind=st.sampled_from(list(PROVIDERS)),
    encode=st.sampled_from(ENCODERS),
    body=st.sampled_from(BODIES),
    pad=st.integers(min_value=0, max_value=240),
    status=st.sampled_from([200, 401, 500]),
)
async def test_a_provider_echoing_its_password_never_shows_it(
    mock_http: AioResponses,
    secret: str,
    kind: type[Provider[Any]],
    encode: Callable[[str], str],
    body: str,
    pad: int,
    status: int,
) -> None:
    options = PROVIDERS[kind] | {SECRET_KEY.get(kind, "password"): secret}
    config = make_config_converter().structure(options, kind.Config)
    answer = body.format(pad="x" * pad, echo=encode(secret))
    mock_http.clear()
    with captured() as lines:
        for method in (mock_http.get, mock_http.post):
            method(re.compile(r".*"), status=status, body=answer, repeat=True)
        async with aiohttp.ClientSession() as session:
            logger = logging.getLogger(f"smsrouter.provider.{kind.type_name}")
            context = ProviderContext(name="p", session=session, logger=logger)
            texts = await drive(kind(config, context))
    assert not [t for t in texts + lines if leaks(t)], (answer, texts, lines)


def test_the_config_secrets_are_found() -> None:
    found = secrets_of({"a": [Secret("x")], "b": (1, Secret("y")), "c": None})
    assert sorted(s.reveal() for s in found) == ["x", "y"]


@settings(max_examples=200, deadline=None)
@given(secret=SECRETS, encode=st.sampled_from(ENCODERS))
def test_aiohttp_log_records_are_masked(secret: str, encode: Callable[[str], str]) -> None:
    hide = HideSecrets()
    hide.secrets = (Secret(secret),)
    try:
        raise ValueError(f"Bad request line: GET /x/{encode(secret)} HTTP/1.1")
    except ValueError:
        record = logging.LogRecord(
            "aiohttp.server", logging.DEBUG, __file__, 1, "line %s", (encode(secret),), None
        )
        record.exc_info = sys.exc_info()
    assert hide.filter(record)
    text = logging.Formatter().format(record)
    assert not leaks(text), text
    assert escape_controls("a\nb") == "a\\nb"
