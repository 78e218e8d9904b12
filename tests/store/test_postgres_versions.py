"""Schema versions on PostgreSQL: each step once, however many instances open at once."""

from __future__ import annotations

import asyncio

import pytest

asyncpg = pytest.importorskip("asyncpg")

from router.store.postgres.versions import migrate  # noqa: E402 - needs the fleet extra

STEPS = (
    "CREATE TABLE t (n integer)",
    "INSERT INTO t VALUES (1)",
)


async def test_steps_run_once_when_instances_start_together(postgres_url: str) -> None:
    conns = [await asyncpg.connect(postgres_url) for _ in range(4)]
    try:
        versions = await asyncio.gather(*(migrate(c, "journal", STEPS) for c in conns))
        assert versions == [2, 2, 2, 2]
        assert await conns[0].fetchval("SELECT count(*) FROM t") == 1
        # A later version adds a step: only that one runs.
        assert await migrate(conns[1], "journal", (*STEPS, "INSERT INTO t VALUES (2)")) == 3
        assert await conns[0].fetchval("SELECT sum(n) FROM t") == 3
        # Parts keep their own versions.
        assert await migrate(conns[2], "events", ("CREATE TABLE e (n integer)",)) == 1
        rows = await conns[0].fetch("SELECT part, version FROM smsrouter_schema ORDER BY part")
        assert [tuple(r) for r in rows] == [("events", 1), ("journal", 3)]
    finally:
        for conn in conns:
            await conn.close()


async def test_a_newer_schema_is_refused(postgres_url: str) -> None:
    conn = await asyncpg.connect(postgres_url)
    try:
        await migrate(conn, "journal", STEPS)
        with pytest.raises(RuntimeError, match="journal schema is at version 2, newer than"):
            await migrate(conn, "journal", STEPS[:1])
    finally:
        await conn.close()


async def test_a_failing_step_leaves_the_version(postgres_url: str) -> None:
    conn = await asyncpg.connect(postgres_url)
    try:
        await migrate(conn, "journal", STEPS[:1])
        with pytest.raises(asyncpg.PostgresError):
            await migrate(conn, "journal", (*STEPS, "INSERT INTO missing VALUES (1)"))
        assert await conn.fetchval("SELECT version FROM smsrouter_schema") == 1
        assert await conn.fetchval("SELECT count(*) FROM t") == 0
    finally:
        await conn.close()
