"""``POST /v1/messages`` racing on one reference, waiting and queued: sent once.

Generated mixes of ``"wait": false`` and waiting requests with one reference, sent at
once through the daemon's app and its worker queue, on the memory and SQLite journals.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given, settings
from hypothesis import strategies as st

from router.daemon import Daemon, make_app
from router.testing import FakeProvider

TOKEN = "duplicate-posts-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def _post_all(waits: list[bool], store_url: str, delay: float) -> None:
    config = {
        "router": {"policy": ["priority"], "plugins": ["router.testing"]},
        "server": {"api_tokens": [TOKEN], "callback_secret": "duplicate-posts-secret"},
        "store": {"url": store_url},
        "providers": {"a": {"plugin": "fake", "delay": delay}},
    }
    daemon = Daemon(config_data=config)
    client: TestClient[Any, Any] = TestClient(TestServer(make_app(daemon), host="127.0.0.1"))
    await client.start_server()
    try:

        async def post(wait: bool) -> tuple[int, Any]:
            body = {"to": "+61412345678", "text": "hi", "reference": "order-1", "wait": wait}
            async with client.post("/v1/messages", json=body, headers=AUTH) as answer:
                return answer.status, await answer.json()

        answers = await asyncio.gather(*(post(wait) for wait in waits))
        assert all(status in (200, 202) for status, _ in answers), answers
        assert len({body["id"] for _, body in answers}) == 1
        for _ in range(200):  # the workers finish what was queued
            record = await daemon.store.get(answers[0][1]["id"])
            if record is not None and record.state.value == "done" and not daemon.sends.busy:
                break
            await asyncio.sleep(0.005)
        provider = daemon.router.provider("a")
        assert isinstance(provider, FakeProvider)
        assert len(provider.batches) == 1
        assert record is not None
        assert len(record.recipients[0].attempts) == 1
        waited = [body for _, body in answers if "recipients" in body]
        assert len({b["recipients"][0]["provider_message_id"] for b in waited}) <= 1
    finally:
        await client.close()


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.booleans(), min_size=2, max_size=4),
    st.sampled_from(["memory", "sqlite"]),
    st.sampled_from([0.0, 0.002]),
)
def test_racing_posts_on_one_reference_send_once(
    waits: list[bool], kind: str, delay: float
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = "memory:" if kind == "memory" else f"sqlite:///{Path(tmp) / 'journal.db'}"
        asyncio.run(_post_all(waits, url, delay))
