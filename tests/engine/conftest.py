"""What the engine's tests share: Routers started on the fake clock, and their fake adapters."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import pytest

import router.testing
from router.engine import Router
from router.testing import FakeClock, FakeProvider

RouterFactory = Callable[..., Any]
"""``await started(config, plugins=(), on=clock)``: a started Router, closed after the test."""


@pytest.fixture
async def started(clock: FakeClock) -> AsyncIterator[RouterFactory]:
    """Start Routers on the fake clock (no balance polling) and close them after the test."""
    routers: list[Router] = []

    async def start(
        cfg: Mapping[str, Any], plugins: tuple[object, ...] = (), on: FakeClock | None = None
    ) -> Router:
        r = Router(cfg, plugins=[router.testing, *plugins], clock=on or clock)
        await r.start(track_balances=False)
        routers.append(r)
        return r

    yield start
    for r in routers:
        await r.aclose()


def fakes(r: Router) -> dict[str, FakeProvider]:
    """The fake adapters of a Router, by configured name."""
    out = {}
    for name in r.providers:
        provider = r.provider(name)
        assert isinstance(provider, FakeProvider)
        out[name] = provider
    return out
