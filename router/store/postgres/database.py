"""The PostgreSQL journal's connections: a pool, the URL shown without its password, and
the database's failures as :class:`~router.errors.StoreError`.

A server that cannot be reached, a connection lost, a server shutting down or out of room
is the journal failing, not the request: the caller gets a StoreError (the daemon answers
503 with ``Retry-After``), and the journal says so in the log once when it starts failing
and once when it works again. An error about the statement itself (a broken constraint, bad
SQL) is a bug and stays what asyncpg raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from router.errors import ConfigError, StoreError
from router.redact import MASK

log = logging.getLogger("smsrouter.store")

CONNECT_TIMEOUT = 10.0
"""Seconds a new connection may take before the journal is taken as unreachable."""
COMMAND_TIMEOUT = 30.0
"""Seconds a statement may take (waiting for a pool connection included)."""

_FAILING_CLASSES = frozenset({"08", "40", "53", "57", "58"})
"""SQLSTATE classes of the database failing rather than the statement: connection
exceptions, transaction rollbacks (deadlock, serialisation), insufficient resources,
operator intervention (shutdown), system errors."""


_BROKEN = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    # A connection the server ended while it was idle, before asyncpg saw it close.
    asyncpg.exceptions.InternalClientError,
)


def safe_url(url: str) -> str:
    """*url* with any password in it masked."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return MASK
    if not password:
        return url
    netloc = parts.netloc.rpartition("@")
    userinfo = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{userinfo}:{MASK}@{netloc[2]}"))


def _password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def is_failure(exc: BaseException) -> bool:
    """Whether *exc* is the database (or the way to it) failing, not the statement."""
    if isinstance(exc, (OSError, TimeoutError, *_BROKEN)):
        return True
    if isinstance(exc, asyncpg.PostgresError):
        return str(getattr(exc, "sqlstate", "") or "")[:2] in _FAILING_CLASSES
    return False


async def _kept(conn: object) -> None:
    """A connection goes back to the pool as it is: the journal leaves no session state on
    one (no LISTEN, no session lock, no setting), and asyncpg rolls back an open
    transaction itself; its default reset would cost a round trip per use."""


class Database:
    """A pool of connections to the journal's database.

    Args:
        url: the ``postgresql://`` URL (it may hold a password: never shown).
        name: what the journal is called in errors (the URL with its password masked).
        pool_size: the most connections this instance opens.

    Attributes:
        url: that URL, password and all: never to be shown (:attr:`name` is).
        statements: statements run so far on the pool's connections (each a round trip).
    """

    def __init__(self, url: str, *, name: str, pool_size: int = 10) -> None:
        if pool_size < 1:
            raise ValueError(f"pool_size must be at least 1, got {pool_size}")
        self.url = url
        self._secret = _password(url)
        self.name = name
        self.pool_size = pool_size
        self._pool: Any = None
        self.statements = 0
        self.failing = False
        """Whether the last use of the database failed."""

    def __repr__(self) -> str:
        return f"Database({self.name!r})"

    def redact(self, text: str) -> str:
        """*text* without the URL's password."""
        return text.replace(self._secret, MASK) if self._secret else text

    def error(self, exc: BaseException) -> StoreError:
        """The StoreError a caller gets for *exc*, its text without the URL's password."""
        text = self.redact(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        if not self.failing:
            log.warning("%s: the journal is failing (%s); what it cannot do is refused",
                        self.name, text)  # fmt: skip
        self.failing = True
        return StoreError(self.name, text)

    def works(self) -> None:
        """Note that the database answered: say so once if it was failing."""
        if self.failing:
            self.failing = False
            log.warning("%s: the journal works again", self.name)

    @contextlib.contextmanager
    def failures(self) -> Iterator[None]:
        """Turn the database failing, inside the block, into a StoreError (not chained to
        asyncpg's error, which might quote the URL)."""
        try:
            yield
        except StoreError:
            raise
        except Exception as exc:
            if is_failure(exc):
                raise self.error(exc) from None
            raise

    async def open(self) -> None:
        """Open the pool (one connection at once, to fail early when the server is away).

        Raises:
            StoreError: the server cannot be reached or refused the connection.
        """
        if self._pool is not None:
            return
        with self.failures():
            try:
                self._pool = await asyncpg.create_pool(
                    self.url,
                    min_size=1,
                    max_size=self.pool_size,
                    timeout=CONNECT_TIMEOUT,
                    command_timeout=COMMAND_TIMEOUT,
                    init=self._watch,
                    reset=_kept,
                )
            except asyncpg.PostgresError as exc:
                if is_failure(exc):
                    raise
                raise self.error(exc) from None  # a login refused, a database missing
            except ValueError as exc:  # asyncpg's word for a URL it cannot read
                raise ConfigError([f"store.url: {self.redact(str(exc))}"]) from None

    async def _watch(self, conn: Any) -> None:
        conn.add_query_logger(self._counted)

    def _counted(self, query: object) -> None:
        self.statements += 1

    async def close(self) -> None:
        """Close every connection (waiting for those in use, then closing them anyway)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), CONNECT_TIMEOUT)
            except (TimeoutError, OSError, asyncpg.PostgresError):
                pool.terminate()

    async def connect_alone(self) -> Any:
        """A connection of its own, outside the pool (for LISTEN); the caller closes it."""
        with self.failures():
            return await asyncpg.connect(self.url, timeout=CONNECT_TIMEOUT)

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        """A connection from the pool, the database's failures raised as StoreError."""
        if self._pool is None:
            raise RuntimeError(f"{self.name} is not open")
        pool = self._pool
        try:
            conn = await pool.acquire(timeout=COMMAND_TIMEOUT)
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            # Whatever stops a connection (re)opening: the server away, a login refused,
            # the database not accepting connections.
            raise self.error(exc) from None
        try:
            yield conn
        except StoreError:
            raise
        except Exception as exc:
            if not is_failure(exc):
                raise
            with contextlib.suppress(asyncpg.InterfaceError):  # the pool may have let it go
                conn.terminate()  # in a state nobody knows: never handed out again
            raise self.error(exc) from None
        finally:
            # A connection that cannot be put back is closed by the pool: a new one follows.
            with contextlib.suppress(OSError, TimeoutError, asyncpg.PostgresError,
                                     asyncpg.InterfaceError):  # fmt: skip
                await pool.release(conn)
        self.works()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        """A connection in a transaction, committed when the block ends."""
        async with self.connection() as conn, conn.transaction():
            yield conn

    async def execute(self, sql: str, *args: object) -> str:
        """Run one statement (its own transaction); the status asyncpg gives."""
        async with self.connection() as conn:
            status: str = await conn.execute(sql, *args)
            return status

    async def fetch(self, sql: str, *args: object) -> list[Any]:
        """The rows of one statement (its own transaction)."""
        async with self.connection() as conn:
            rows: list[Any] = await conn.fetch(sql, *args)
            return rows

    async def fetchval(self, sql: str, *args: object) -> Any:
        """The first column of the first row of one statement (its own transaction)."""
        async with self.connection() as conn:
            return await conn.fetchval(sql, *args)
