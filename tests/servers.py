"""The real servers the fleet backends are tested against: PostgreSQL and Redis.

A test that needs one takes the ``postgres_url`` or ``redis_url`` fixture (and is marked
``servers``). Each such test gets a database of its own, created empty and dropped after,
or a Redis key prefix of its own whose keys are deleted after, so tests never see each
other's data and can run side by side.

Where a server does not answer, the test is skipped with the reason printed; with
``SMSROUTER_TEST_SERVERS=require`` (``.ci/run`` sets it) it fails instead, so a run never
passes by skipping them. ``SMSROUTER_TEST_POSTGRES`` and ``SMSROUTER_TEST_REDIS`` point at
other servers (an admin URL of the PostgreSQL server, and a Redis URL).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import pytest

POSTGRES = os.environ.get(
    "SMSROUTER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
"""A PostgreSQL URL with the right to create databases."""
REDIS = os.environ.get("SMSROUTER_TEST_REDIS", "redis://127.0.0.1:6379/0")
REQUIRE = "SMSROUTER_TEST_SERVERS"
"""Set to ``require``, a server that does not answer fails the test instead of skipping it."""


def unavailable(what: str, exc: BaseException) -> None:
    """Skip the test (or fail it, where servers are required): *what* did not answer."""
    reason = f"{what} did not answer ({type(exc).__name__}: {exc}); set {REQUIRE}=require to fail"
    if os.environ.get(REQUIRE) == "require":
        pytest.fail(f"{what} is required ({REQUIRE}=require) and did not answer: {exc}")
    pytest.skip(reason)


def database_url(admin_url: str, name: str) -> str:
    """*admin_url* with its database replaced by *name*."""
    parts = urlsplit(admin_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


SERVER_FIXTURES = frozenset({"postgres_url", "redis_url"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a server ``servers``, so ``-m "not servers"`` leaves them out."""
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.servers)


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """The URL of a new, empty PostgreSQL database of this test's own, dropped after it."""
    asyncpg = pytest.importorskip("asyncpg")
    try:
        admin = await asyncpg.connect(POSTGRES, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        unavailable(f"PostgreSQL at {POSTGRES}", exc)
    name = f"smsrouter_test_{uuid.uuid4().hex[:12]}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield database_url(POSTGRES, name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
def redis_prefix() -> str:
    """A Redis key prefix no other test uses."""
    return f"smsrouter-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def redis_url(redis_prefix: str) -> AsyncIterator[str]:
    """The Redis server's URL; every key under ``redis_prefix`` is deleted after the test."""
    redis = pytest.importorskip("redis.asyncio")
    client = redis.from_url(REDIS, socket_connect_timeout=5)
    try:
        await client.ping()
    except (OSError, redis.RedisError) as exc:
        await client.aclose()
        unavailable(f"Redis at {REDIS}", exc)
    try:
        yield REDIS
    finally:
        keys = [key async for key in client.scan_iter(match=f"{redis_prefix}*", count=500)]
        if keys:
            await client.delete(*keys)
        await client.aclose()
