"""A push with a field over the cap is answered as its provider expects, logged, not held.

Generated pushes, query and form, with fields of generated sizes around the cap and many
fields: an oversized one gets the provider's usual answer and nothing of it is kept;
none gets a 500.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given, settings
from hypothesis import strategies as st

from router.daemon import Daemon, make_app
from router.daemon.routes import MAX_PUSH_FIELD, MAX_PUSH_FIELDS
from router.state import RecentPushes

SECRET = "push-limits-secret"

sizes = st.sampled_from([0, 10, MAX_PUSH_FIELD, MAX_PUSH_FIELD + 1, 3 * MAX_PUSH_FIELD])
push = st.tuples(
    st.sampled_from(["dlr", "inbound"]),
    st.sampled_from(["text", "ref", "from", "junk"]),
    sizes,
    st.sampled_from([1, MAX_PUSH_FIELDS + 1]),
)


async def _push_all(pushes: list[tuple[str, str, int, int]]) -> None:
    config = {
        "server": {"api_tokens": ["push-limits-token"], "callback_secret": SECRET},
        "store": {"url": "memory:"},
        "providers": {
            "broadcast": {
                "plugin": "smsbroadcast",
                "username": "demo",
                "password": "demo-password",
                "base_url": "http://127.0.0.1:9/api-adv.php",
                "balance_interval": "0s",
            }
        },
    }
    daemon = Daemon(config_data=config)
    client: TestClient[Any, Any] = TestClient(TestServer(make_app(daemon), host="127.0.0.1"))
    await client.start_server()
    recent = daemon.router.callbacks.pushes
    assert isinstance(recent, RecentPushes)
    try:
        for kind, name, size, count in pushes:
            form = {"to": "61400000000", "from": "61412345678", "ref": "r", "status": "Delivered"}
            form[name] = "y" * size
            form.update({f"extra{n}": "1" for n in range(count - 1)})
            url = f"/callbacks/broadcast/{kind}/{SECRET}"
            before = len(recent), len(daemon.router.callbacks.early)
            async with client.post(url, data=form) as answer:
                body = await answer.text()
                assert answer.status < 500
            if size > MAX_PUSH_FIELD or len(form) > MAX_PUSH_FIELDS:
                assert (answer.status, body) == (200, "OK")
                after = len(recent), len(daemon.router.callbacks.early)
                assert after == before
    finally:
        await client.close()


@settings(max_examples=12, deadline=None)
@given(st.lists(push, min_size=1, max_size=12))
def test_an_oversized_push_is_answered_and_dropped(pushes: list[tuple[str, str, int, int]]) -> None:
    asyncio.run(_push_all(pushes))
