"""A third-party ingress, added the way the built-in Kannel and Jasmin ones are.

The plugin is ``tests/example_plugins/plain_ingress.py``, the one docs/plugins.md shows;
the daemon's app serves it in this process, and the registry refuses what would clash.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from router import Ingress, IngressRegistry, hookimpl
from router.daemon import Daemon, make_app
from router.errors import ConfigError, PluginError
from router.plugins import PluginHost
from router.testing import FakeProvider
from tests.daemon.support import sent_texts, wait_until
from tests.example_plugins import plain_ingress

TOKEN = "plain-test-token"


@pytest.fixture
async def client(emulators: dict[str, Any]) -> AsyncIterator[TestClient[Any, Any]]:
    office = emulators["office"]
    config = {
        "server": {"api_tokens": [TOKEN]},
        "store": {"url": "memory:"},
        "providers": {
            "office": {"plugin": "smsoffice", **office.provider_options(), "sender": "Demo"}
        },
        "ingress": {"plain": {"key": "plain-key", "token": TOKEN}},
    }
    daemon = Daemon(config_data=config, plugins=(plain_ingress,))
    made: TestClient[Any, Any] = TestClient(TestServer(make_app(daemon), host="127.0.0.1"))
    await made.start_server()
    yield made
    await made.close()


async def test_a_plugins_ingress_is_served_like_the_built_in_ones(
    client: TestClient[Any, Any], emulators: dict[str, Any]
) -> None:
    params = {"key": "plain-key", "to": "+27821234567", "text": "Hello plain"}
    async with client.get("/plain/send", params=params) as answer:
        body = await answer.text()
    assert answer.status == 200
    assert body.startswith("OK ")

    async with client.get("/plain/send", params={**params, "key": "wrong"}) as answer:
        assert (answer.status, await answer.text()) == (403, "ERR key")
    async with client.get("/cgi-bin/sendsms") as answer:
        assert answer.status == 404  # the built-in ones are off: no table for them

    office = emulators["office"]
    await wait_until(lambda: asyncio.sleep(0, office.counters.sent))
    assert sent_texts(office) == ["Hello plain"]


def _plugin(path: str) -> types.SimpleNamespace:
    class Clash(Ingress):
        name = "clash"
        Config = plain_ingress.PlainConfig
        paths = (path,)

        async def handle(self, request: web.Request) -> web.StreamResponse:
            return web.Response()

    @hookimpl
    def smsrouter_register_ingresses(registry: IngressRegistry) -> None:
        registry.add(Clash)

    return types.SimpleNamespace(
        __name__="clash_plugin", smsrouter_register_ingresses=smsrouter_register_ingresses
    )


@pytest.mark.parametrize(
    ("path", "said"),
    [
        ("/send", "Clash claims /send, as ingress 'jasmin' does"),
        ("/v1/messages", "Clash may not answer /v1/messages: the daemon does"),
        ("send", "Clash.paths must be paths like '/send'"),
    ],
)
def test_a_path_claimed_twice_or_the_daemons_own_is_refused_at_start(path: str, said: str) -> None:
    with pytest.raises(PluginError, match="clash_plugin") as caught:
        PluginHost.load(extra=[_plugin(path)], autoload=False)

    assert said in str(caught.value)


def test_something_that_is_not_an_ingress_is_refused() -> None:
    registry = IngressRegistry()

    with pytest.raises(PluginError, match="is not a Ingress"):
        registry.add(FakeProvider)


def test_an_unknown_ingress_table_is_a_config_error() -> None:
    config = {"server": {"api_tokens": [TOKEN]}, "ingress": {"smpp": {}}}

    with pytest.raises(ConfigError) as caught:
        Daemon(config_data=config)

    assert "ingress.smpp: unknown ingress 'smpp' (known: jasmin, kannel)" in str(caught.value)


def test_the_guide_shows_the_example_as_it_is() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    source = (root / "tests" / "example_plugins" / "plain_ingress.py").read_text()
    body = source.split("from __future__ import annotations\n\n", 1)[1]
    guide = (root / "docs" / "plugins.md").read_text()

    assert f"```python\n{body}```" in guide
