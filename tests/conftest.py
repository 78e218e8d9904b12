"""Shared fixtures: fresh state per test, the one aioresponses bridge, a fake clock; and
the hypothesis profile every test runs under."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import aiohttp
import aioresponses.core
import pytest
from aioresponses import aioresponses as AioResponses
from hypothesis import settings

from router.testing import FakeClock

pytest_plugins = ["tests.servers"]  # postgres_url, redis_url: the fleet backends' servers

# Generated inputs are the same on every run, so a run that passes passes again; set
# HYPOTHESIS_PROFILE=explore to draw new ones while hunting.
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


class _BridgedResponse(aiohttp.ClientResponse):
    """aioresponses 0.7.9 builds responses without aiohttp 3.14's ``stream_writer``.

    Rather than pin aiohttp below a security release, this subclass supplies a writer that
    reports nothing written, which is all a mocked, already-sent request needs.
    """

    class _Sent:
        output_size = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", self._Sent())
        super().__init__(*args, **kwargs)


@pytest.fixture
def mock_http(monkeypatch: pytest.MonkeyPatch) -> Iterator[AioResponses]:
    """aioresponses, bridged to the installed aiohttp; loopback traffic passes through."""
    monkeypatch.setattr(aioresponses.core, "ClientResponse", _BridgedResponse)
    with AioResponses(passthrough=["http://127.0.0.1"]) as mocked:
        yield mocked


@pytest.fixture(autouse=True)
def _no_plugin_autoload(monkeypatch: pytest.MonkeyPatch) -> None:
    # Installed third-party plugins must not leak into tests; tests that want them opt in.
    monkeypatch.setenv("SMSROUTER_DISABLE_PLUGIN_AUTOLOAD", "1")


@pytest.fixture
def clock() -> FakeClock:
    """A clock that starts at a fixed time and moves only when told or slept on."""
    return FakeClock()
