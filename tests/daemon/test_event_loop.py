"""``[server] loop``: uvloop where it is installed, asyncio's own loop when asked or missing."""

from __future__ import annotations

import asyncio
import sys

import pytest
import uvloop

from router.daemon.loops import event_loop
from router.errors import RouterError


@pytest.mark.parametrize(
    ("choice", "kind"),
    [("auto", uvloop.Loop), ("uvloop", uvloop.Loop), ("asyncio", asyncio.BaseEventLoop)],
)
def test_the_loop_is_the_one_asked_for(choice: str, kind: type) -> None:
    loop, name = event_loop(choice)
    try:
        assert isinstance(loop, kind)
        assert name == ("asyncio" if choice == "asyncio" else "uvloop")
        if choice == "asyncio":
            assert not isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def test_without_uvloop_auto_falls_back_and_uvloop_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now raises ImportError
    loop, name = event_loop("auto")
    try:
        assert name == "asyncio"
        assert type(loop).__module__.startswith("asyncio")
    finally:
        loop.close()
    with pytest.raises(RouterError, match=r'server\.loop = "uvloop", but uvloop is not installed'):
        event_loop("uvloop")
