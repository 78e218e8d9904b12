"""The fleet's config: ``[state]`` (the live state on Redis) and ``[store] lease``."""

from __future__ import annotations

from typing import Any

import pytest

from router.clock import SystemClock
from router.config import parse_config
from router.errors import ConfigError
from router.plugins import PluginHost
from router.state import MemoryState
from router.state.settings import open_state


def parse(doc: dict[str, Any]) -> Any:
    return parse_config(doc, PluginHost.load(autoload=False))


def test_unset_the_state_is_this_process_s() -> None:
    config = parse({})
    assert config.state.url is None
    assert config.state.prefix == "smsrouter"
    assert config.store.lease == 30.0
    assert config.state.lease == 15.0
    assert isinstance(open_state(config, SystemClock()), MemoryState)


def test_a_redis_url_and_prefix_give_the_shared_state() -> None:
    pytest.importorskip("redis")
    from router.state.shared import RedisState

    config = parse(
        {
            "state": {
                "url": "redis://:hunter2@127.0.0.1:6379/0",
                "prefix": "fleet-a",
                "lease": "4s",
            },
            "store": {"lease": "5s"},
        }
    )
    state = open_state(config, SystemClock())
    assert isinstance(state, RedisState)
    assert state.shared
    assert state.key("budget", "office") == "fleet-a:budget:office"
    assert "hunter2" not in repr(state)
    assert config.store.lease == 5.0
    assert state.lease == 4.0


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"state": {"prefix": ""}}, "state.prefix: expected letters, digits"),
        ({"state": {"prefix": "a b"}}, "state.prefix: expected letters, digits"),
        ({"state": {"port": 1}}, "state.port: unknown key"),
        ({"store": {"lease": "500ms"}}, "store.lease: must be at least 1 second, got 0.5"),
        ({"state": {"lease": "0s"}}, "state.lease: must be at least 1 second, got 0"),
    ],
)
def test_a_wrong_fleet_key_is_named(doc: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(doc)
    assert expected in str(caught.value)


def test_a_state_url_that_is_not_redis_is_named() -> None:
    config = parse({"state": {"url": "memcached://127.0.0.1"}})
    with pytest.raises(ConfigError, match=r"state.url: expected redis://, rediss:// or unix://"):
        open_state(config, SystemClock())
