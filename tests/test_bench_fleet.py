"""The fleet benchmark's quick mode on the real servers, and the sink that checks it.

The quick run starts every configuration (the daemon on SQLite, then one, two and three
daemons on this test's PostgreSQL database and Redis prefix) and asserts what must hold
whatever the speed: every acknowledged message reached the sink exactly once, and the
figures are well formed. Nothing here is about how fast.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

import bench.fleet
from bench.fleet_servers import Servers
from bench.fleet_sink import make_counting_app
from tests.test_bench import check_well_formed


async def test_quick_mode_sends_every_message_exactly_once(
    postgres_url: str, redis_url: str, redis_prefix: str
) -> None:
    servers = Servers(postgres_url, redis_url, redis_prefix)
    result = await bench.fleet.run(quick=True, servers=servers)
    check_well_formed(result.json())
    figures = result.figures
    sizes = bench.fleet.SIZES[True]
    per_configuration = sizes.warm + sizes.rounds * (sizes.raw + sizes.waiting + sizes.queued)
    for config in bench.fleet.CONFIGURATIONS:
        assert figures[f"{config.name}_acknowledged"] == per_configuration, config.name
        assert figures[f"{config.name}_missing"] == 0, config.name
        assert figures[f"{config.name}_repeats"] == 0, config.name
        for mode in bench.fleet.MODES:
            ratio = figures[f"{config.name}_{mode}"] / figures[f"{config.name}_raw"]
            assert figures[f"{config.name}_{mode}_ratio"] == pytest.approx(ratio)
    configurations = len(bench.fleet.CONFIGURATIONS)
    assert len(result.rows) == 1 + configurations * len(bench.fleet.MODES)
    assert [bar.met for bar in result.bars] == [True]


@pytest.fixture
async def sink() -> AsyncIterator[TestClient[aiohttp.web.Request, aiohttp.web.Application]]:
    async with TestClient(TestServer(make_counting_app(), host="127.0.0.1")) as client:
        yield client


def send(to: str) -> dict[str, str]:
    return {"username": "bench", "password": "x", "to": to, "message": "hi"}


async def test_the_sink_counts_a_number_sent_twice_as_a_repeat(
    sink: TestClient[aiohttp.web.Request, aiohttp.web.Application],
) -> None:
    for to in ("61412000001", "61412000002,61412000003", "61412000002"):
        async with sink.post("/instant/api-adv.php", data=send(to)) as answer:
            assert answer.status == 200
            assert (await answer.text()).startswith("OK:")
    async with sink.post("/instant/api-adv.php", data={"action": "balance"}) as answer:
        assert await answer.text() == "OK:1000000000"
    async with sink.get("/numbers") as answer:
        assert await answer.json() == {"distinct": 3, "repeats": 1}
    async with sink.get("/stats") as answer:
        assert await answer.json() == {"sends": 3, "recipients": 4}
