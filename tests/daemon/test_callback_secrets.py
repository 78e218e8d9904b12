"""Callback URLs: the shared secret, or the provider's own on its own URLs only.

Generated probes of every provider's URL with the shared secret, each provider's own
secret and random ones: a probe gets past the secret exactly when it should.
"""

from __future__ import annotations

import asyncio
import string
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given, settings
from hypothesis import strategies as st

from router.daemon import Daemon, make_app

TOKEN = "secrets-test-token"
SHARED = "shared-callback-secret"
OWN = {"broadcast": "broadcast-own-secret", "central": "central-own-secret", "plain": None}


def _provider(name: str) -> dict[str, Any]:
    table: dict[str, Any] = {
        "plugin": "smsbroadcast",
        "username": "demo",
        "password": "demo-password",
        "base_url": "http://127.0.0.1:9/api-adv.php",
        "balance_interval": "0s",
    }
    if OWN[name] is not None:
        table["callback_url_secret"] = OWN[name]
    return table


probe = st.tuples(
    st.sampled_from(sorted(OWN)),
    st.one_of(
        st.sampled_from([SHARED, *(s for s in OWN.values() if s is not None)]),
        st.text(string.ascii_letters + string.digits + "-_.~", min_size=1, max_size=40),
    ),
    st.sampled_from(["dlr", "inbound"]),
)


async def _probe_all(probes: list[tuple[str, str, str]]) -> None:
    config = {
        "server": {"api_tokens": [TOKEN], "callback_secret": SHARED},
        "store": {"url": "memory:"},
        "providers": {name: _provider(name) for name in OWN},
    }
    client: TestClient[Any, Any] = TestClient(
        TestServer(make_app(Daemon(config_data=config)), host="127.0.0.1")
    )
    await client.start_server()
    try:
        for provider, secret, kind in probes:
            async with client.get(f"/callbacks/{provider}/{kind}/{secret}") as answer:
                allowed = secret in (SHARED, OWN[provider])
                assert (answer.status != 404) is allowed, (provider, secret, answer.status)
                assert answer.status < 500
    finally:
        await client.close()


@settings(max_examples=15, deadline=None)
@given(st.lists(probe, min_size=1, max_size=25))
def test_a_callback_is_let_in_by_the_shared_or_its_providers_own_secret(
    probes: list[tuple[str, str, str]],
) -> None:
    asyncio.run(_probe_all(probes))
