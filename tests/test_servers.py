"""The server fixtures: each test has a database and a key prefix of its own, emptied after."""

from __future__ import annotations

import pytest

from tests.servers import database_url


def test_database_url_replaces_only_the_database() -> None:
    url = "postgresql://postgres@127.0.0.1:5432/postgres?sslmode=disable"
    assert database_url(url, "t1") == "postgresql://postgres@127.0.0.1:5432/t1?sslmode=disable"


async def test_a_database_of_its_own(postgres_url: str) -> None:
    asyncpg = pytest.importorskip("asyncpg")
    conn = await asyncpg.connect(postgres_url)
    try:
        name = await conn.fetchval("SELECT current_database()")
        tables = await conn.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
    finally:
        await conn.close()
    assert name.startswith("smsrouter_test_")
    assert tables == 0


async def test_a_key_prefix_of_its_own(redis_url: str, redis_prefix: str) -> None:
    redis = pytest.importorskip("redis.asyncio")
    client = redis.from_url(redis_url)
    try:
        assert [k async for k in client.scan_iter(match=f"{redis_prefix}*")] == []
        await client.set(f"{redis_prefix}:x", "1")
    finally:
        await client.aclose()
