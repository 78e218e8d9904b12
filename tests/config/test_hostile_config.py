"""Configs serve would refuse or crash on are refused at parse, each problem at its path,
with no traceback and no secret quoted back."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.addresses import PATH_SAFE, split_listen
from router.config import parse_config, read_toml
from router.config.settings import MAX_WORKERS, MIN_API_TOKEN
from router.errors import ConfigError
from router.plugins import PluginHost

HOST = PluginHost.load(autoload=False)
TOKEN = "token-abcdef"


def problems(data: dict[str, Any], env: dict[str, str] | None = None) -> tuple[str, ...]:
    try:
        parse_config(data, HOST, env=env or {})
    except ConfigError as exc:
        found = exc.problems
    else:
        return ()
    assert all(": " in line for line in found), found
    return found


def server(**keys: Any) -> dict[str, Any]:
    return {"server": {"api_tokens": [TOKEN], **keys}}


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200) | st.integers(1, 3000).map(lambda n: b"a = " + b"[" * n))
def test_any_file_reads_or_is_a_config_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as where:
        path = Path(where) / "config.toml"
        path.write_bytes(data)
        try:
            read_toml(path)
        except ConfigError as exc:
            message = str(exc)
        else:
            return
    assert str(path) in message


def test_invalid_utf8_and_deep_nesting() -> None:
    with tempfile.TemporaryDirectory() as where:
        for body in (b'a = "\xff\xfe"', b"a = " + b"[" * 100_000 + b"]" * 100_000):
            path = Path(where) / "c.toml"
            path.write_bytes(body)
            with pytest.raises(ConfigError):
                read_toml(path)


@settings(max_examples=100, deadline=None)
@given(value=st.sampled_from([math.nan, math.inf, -math.inf]), where=st.integers(0, 2))
def test_numbers_are_finite(value: float, where: int) -> None:
    data: list[dict[str, Any]] = [
        {"router": {"currencies": {"USD": value}}},
        {"providers": {"p": {"plugin": "fake", "prices": {"61": value}}}},
        {
            "webhooks": [
                {
                    "name": "w",
                    "url": "https://x/",
                    "events": ["message_failed"],
                    "secret": "s" * 16,
                    "timeout": value,
                }
            ]
        },
    ]
    found = problems(data[where])
    assert found
    assert any("finite" in line or "duration" in line for line in found), found


LISTEN = st.text(alphabet=":[]0123456789.abcf ", max_size=14) | st.integers(65536, 10**9).map(
    lambda port: f"127.0.0.1:{port}"
)


@settings(max_examples=300, deadline=None)
@given(listen=LISTEN)
def test_listen_is_refused_as_serve_would(listen: str) -> None:
    try:
        split_listen(listen)
    except ValueError:
        assert any(line.startswith("server.listen: ") for line in problems(server(listen=listen)))
    else:
        assert problems(server(listen=listen)) == ()


def messages(found: Sequence[str]) -> list[str]:
    """What each problem says after its path: where a value would be quoted back."""
    return [line.partition(": ")[2] for line in found]


@settings(max_examples=200, deadline=None)
@given(token=st.text(max_size=MIN_API_TOKEN - 1) | st.just(" " + TOKEN))
def test_short_tokens_are_refused_unquoted(token: str) -> None:
    found = problems({"server": {"api_tokens": [TOKEN, "${T}"]}}, env={"T": token})
    assert [line for line in found if line.startswith("server.api_tokens")], found
    if len(token.strip()) > 2:
        assert token not in "\n".join(messages(found))


@settings(max_examples=200, deadline=None)
@given(secret=st.text(min_size=1).filter(lambda s: not set(s) <= PATH_SAFE))
def test_a_callback_secret_is_one_path_segment(secret: str) -> None:
    found = problems(server(callback_secret="${S}"), env={"S": secret})
    assert [line for line in found if line.startswith("server.callback_secret: ")], found
    assert secret not in "\n".join(messages(found)) or len(secret) < 3


@settings(max_examples=100, deadline=None)
@given(workers=st.integers(MAX_WORKERS + 1, 10**12) | st.integers(-(10**6), 0))
def test_workers_are_bounded(workers: int) -> None:
    assert [line for line in problems(server(workers=workers)) if "server.workers" in line]


@settings(max_examples=200, deadline=None)
@given(
    secret=st.text(alphabet="abcXYZ+/ &=%@:?", min_size=6),
    place=st.sampled_from(
        [
            lambda v: {"server": {"workers": v}},
            lambda v: {"server": v},
            lambda v: {"router": {"currencies": v}},
            lambda v: {"server": {"listen": v}},
            lambda v: {"server": {"max_body": [v]}},
            lambda v: {"providers": {"p": {"plugin": v}}},
            lambda v: {"webhooks": [{"name": v, "url": v}]},
        ]
    ),
)
def test_a_secret_in_the_wrong_key_is_never_quoted(secret: str, place: Any) -> None:
    found = problems(place("${S}"), env={"S": secret})
    assert found
    assert secret not in "\n".join(found)
