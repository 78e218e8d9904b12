"""The fleet benchmark's servers: a scratch database and key prefix, and their processes.

:func:`scratch` makes a PostgreSQL database and a Redis key prefix of the run's own and
removes both after it (the database dropped, every key under the prefix deleted), also
when the run fails or is interrupted. :class:`ServerMeter` reads the CPU time of the
processes serving the run (the PostgreSQL backends connected to its database and the Redis
server, from ``/proc`` as :class:`bench.common.CpuMeter` does, through the processes
coming and going that a connection pool makes) and the database's transactions.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import attrs

from bench.common import cpu_seconds

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
"""The PostgreSQL server on this machine, as a user that may create databases."""
REDIS = "redis://127.0.0.1:6379/0"
"""The Redis server on this machine."""
STATISTICS_LAG = 1.2
"""Seconds after which PostgreSQL's statistics count a busy backend's transactions."""


@attrs.frozen
class Servers:
    """Where a fleet run keeps its journal and its live state."""

    database: str
    """A ``postgresql://`` URL of a database the run may fill."""
    redis: str
    prefix: str
    """Every Redis key of the run starts with it."""

    def prefix_of(self, name: str) -> str:
        """A prefix under :attr:`prefix` for one configuration, so none sees another's keys."""
        return f"{self.prefix}-{name}"


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def delete_keys(redis_url: str, prefix: str) -> int:
    """Delete every key starting with *prefix*; how many there were."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(redis_url, socket_connect_timeout=5)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
        if keys:
            await client.delete(*keys)
        return len(keys)
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def scratch(admin: str = ADMIN, redis_url: str = REDIS) -> AsyncIterator[Servers]:
    """A new database on *admin*'s server and a new prefix on *redis_url*, removed after."""
    import asyncpg

    run = uuid.uuid4().hex[:12]
    name = f"smsrouter_bench_{run}"
    connection = await asyncpg.connect(admin, timeout=5)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
        servers = Servers(_with_database(admin, name), redis_url, f"smsrouter-bench-{run}")
        try:
            yield servers
        finally:
            await delete_keys(redis_url, servers.prefix)
    finally:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.close()


async def transactions(servers: Servers) -> int:
    """Transactions committed or rolled back in the database so far, as its statistics say.

    A busy backend reports its counts at most once a second, so they lag that much.
    """
    import asyncpg

    connection = await asyncpg.connect(servers.database, timeout=5)
    try:
        count: int = await connection.fetchval(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database"
            " WHERE datname = current_database()"
        )
    finally:
        await connection.close()
    return count


async def server_pids(servers: Servers) -> dict[str, list[int]]:
    """The processes serving *servers* now: this database's backends, the Redis server."""
    import asyncpg
    import redis.asyncio as aioredis

    connection = await asyncpg.connect(servers.database, timeout=5)
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await connection.close()
    client = aioredis.from_url(servers.redis, socket_connect_timeout=5)
    try:
        info = await client.info("server")
    finally:
        await client.aclose()
    return {"postgres": [row["pid"] for row in rows], "redis": [int(info["process_id"])]}


def _cpu(pid: int) -> float | None:
    try:
        return cpu_seconds(pid)
    except (FileNotFoundError, ProcessLookupError):
        return None


class ServerMeter:
    """CPU seconds of the servers' processes over a stretch.

    A process there at :meth:`stop` and not at :meth:`start` (a new pooled connection)
    counts its whole life; one gone by :meth:`stop` is not counted, so a pool that churns
    reads low. The Redis server serves every client on the machine, not only the run.
    """

    def __init__(self, servers: Servers, lag: float = STATISTICS_LAG) -> None:
        self.servers = servers
        self.lag = lag
        """Seconds :meth:`stop` waits before it reads the transactions."""
        self._before: dict[int, float] = {}
        self._transactions = 0
        self.spent: dict[str, float] = {}
        self.transactions = 0
        """PostgreSQL transactions in the database over the last stretch."""

    async def start(self) -> None:
        """Note each server process's CPU time, and the database's transactions, now."""
        self._transactions = await transactions(self.servers)
        pids = await server_pids(self.servers)
        self._before = {
            pid: spent
            for group in pids.values()
            for pid in group
            if (spent := _cpu(pid)) is not None
        }

    async def stop(self) -> dict[str, float]:
        """CPU seconds since :meth:`start`, by ``postgres`` and ``redis``.

        The transactions are read :attr:`lag` seconds later, once every backend has
        reported the stretch's.
        """
        pids = await server_pids(self.servers)
        self.spent = {}
        for name, group in pids.items():
            total = 0.0
            for pid in group:
                now = _cpu(pid)
                if now is not None:
                    total += now - self._before.get(pid, 0.0)
            self.spent[name] = total
        await asyncio.sleep(self.lag)
        self.transactions = await transactions(self.servers) - self._transactions
        return self.spent

    def per_message(self, messages: int) -> dict[str, float]:
        """CPU microseconds per message over the last stretch, by server."""
        if not messages:
            return dict.fromkeys(self.spent, math.nan)
        return {name: 1e6 * spent / messages for name, spent in self.spent.items()}
