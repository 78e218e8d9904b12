"""A fleet member whose Redis goes away says so in /healthz and fails sends over as
unavailable rather than break a provider's limit; it recovers when Redis comes back.

The daemon runs in this process on the test's own database and key prefix; Redis is
reached through a loopback link the test cuts and restores.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from plugins.smsoffice.emulator import SMSOfficeEmulator
from tests.daemon.fleet_support import FLEET, options
from tests.daemon.support import InProcessDaemon, wait_until
from tests.link import Link

ZA = "+27821234567"


@pytest.fixture
async def office() -> AsyncIterator[SMSOfficeEmulator]:
    emulator = SMSOfficeEmulator()
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest.fixture
async def redis_link(redis_url: str) -> AsyncIterator[Link]:
    """A link to the test's Redis that the test can cut."""
    server = urlsplit(redis_url)
    link = Link(server.hostname or "127.0.0.1", server.port or 6379)
    await link.restore()
    try:
        yield link
    finally:
        await link.cut()


async def test_a_member_without_redis_is_degraded_and_sends_nothing_unbudgeted(
    office: SMSOfficeEmulator,
    redis_link: Link,
    postgres_url: str,
    redis_prefix: str,
    served_factory: Any,
) -> None:
    shared = FLEET.format(
        postgres=postgres_url, redis=f"redis://127.0.0.1:{redis_link.port}/0", prefix=redis_prefix
    )
    providers = f"""
[providers.office]
plugin = "smsoffice"
{options(office)}
sender = "Acme"
prefixes = ["27"]
limit_wait = "1s"
balance_interval = "1h"
"""
    served: InProcessDaemon = served_factory(shared + providers)
    await served.start()
    assert await served.request("GET", "/healthz", token=None) == (200, {"status": "ok"})
    status, sent = await served.request("POST", "/v1/messages", json={"to": ZA, "text": "one"})
    assert (status, sent["recipients"][0]["status"]) == (200, "accepted")

    await redis_link.cut()
    status, refused = await served.request("POST", "/v1/messages", json={"to": ZA, "text": "two"})
    assert (status, refused["error"]["code"]) == (422, "no_route"), refused
    [recipient] = refused["result"]["recipients"]
    assert recipient["status"] == "failed", refused
    [attempt] = recipient["attempts"]
    assert attempt["outcome"] == "unavailable"
    assert "shared state" in attempt["reason"], attempt
    status, health = await served.request("GET", "/healthz", token=None)
    assert status == 503
    assert health["status"] == "degraded"
    assert any("Redis" in problem for problem in health["problems"]), health
    assert len(office.counters.sent) == 1, "a send went out without its budget"

    await redis_link.restore()

    async def recovered() -> bool:
        status, sent = await served.request("POST", "/v1/messages", json={"to": ZA, "text": "3"})
        return status == 200 and sent["recipients"][0]["status"] == "accepted"

    await wait_until(recovered, 15)
    assert await served.request("GET", "/healthz", token=None) == (200, {"status": "ok"})
    assert office.counters.violations["concurrent_connections"] == 0
