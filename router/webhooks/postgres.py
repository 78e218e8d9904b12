"""The webhook event journal on PostgreSQL, shared by every instance of a fleet.

Every instance journals the events it sees into the same two tables; an event pushed to two
instances has the same id (:mod:`router.webhooks.events` derives it from the push), so its
second ``add`` finds it journalled and leaves it as it is.

A pending delivery is posted by one instance at a time, as a queued message is sent: ``due``
*leases* what it returns to this instance (``FOR UPDATE SKIP LOCKED``, so two instances
asking at once never get the same delivery), and ``delivered`` / ``failed`` give the lease
up. Leases run on the database's clock. The journal renews its own leases while it is open
and gives them up when it closes, so another instance posts them at once; an instance that
dies stops renewing, and once its leases expire another instance's ``due`` takes them over.
Nothing pending is lost with an instance: it is in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from typing import Any

import asyncpg
from yarl import URL

from router.errors import ConfigError, StoreError
from router.model import EventType
from router.redact import MASK, redact
from router.store.base import check_limit
from router.store.postgres.versions import migrate
from router.webhooks import _postgres_sql as sql
from router.webhooks.events import Event
from router.webhooks.journal import Delivery, DeliveryState, EventJournal, delivery_record

__all__ = ["PostgresEventJournal"]

log = logging.getLogger("smsrouter.webhooks")

POOL_SIZE = 4
"""Connections each journal keeps at most: posts end one short write at a time."""
CONNECT_TIMEOUT = 10.0
"""Seconds to wait for the server when connecting."""
COMMAND_TIMEOUT = 30.0
"""Seconds a statement may take before the journal counts as failing."""

_FAILING = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,  # 08: the connection failed or was lost
    asyncpg.InvalidAuthorizationSpecificationError,  # 28: refused the user or password
    asyncpg.InvalidCatalogNameError,  # 3D000: no such database
    asyncpg.TransactionRollbackError,  # 40: a deadlock or serialisation failure, to retry
    asyncpg.InsufficientResourcesError,  # 53: disk full, out of memory, too many connections
    asyncpg.OperatorInterventionError,  # 57: shutting down, starting up, query cancelled
    asyncpg.PostgresSystemError,  # 58: I/O error
)
"""What says the journal is failing rather than the statement being wrong: a StoreError."""


def _shown(url: str) -> tuple[str, str | None]:
    """*url* with its password masked, and the password; all of a URL that does not read
    as one (no host) is masked, as there is no telling which part is the password."""
    try:
        parsed = URL(url)
    except ValueError:
        return MASK, url
    if not parsed.absolute:
        return MASK, url
    if not parsed.password:
        return url, None
    return str(parsed.with_password(MASK)), parsed.password


class PostgresEventJournal(EventJournal):
    """The event journal in a PostgreSQL database several router instances share.

    Args:
        url: the database, ``postgresql://user:password@host:port/database``.
        owner: this instance's name in the leases (unique within the fleet).
        lease: seconds a delivery stays this instance's, unrenewed, once ``due`` gave it.

    Errors that say the database cannot serve (unreachable, refusing the login, out of
    room, shutting down) are raised as :class:`~router.errors.StoreError`; the URL's
    password shows in no error and no repr.
    """

    def __init__(self, url: str, *, owner: str, lease: float) -> None:
        if not owner:
            raise ValueError("owner: expected this instance's name, got an empty one")
        if not lease > 0:
            raise ValueError(f"lease: expected seconds above 0, got {lease!r}")
        self._url = url
        self.owner = owner
        self.lease = float(lease)
        shown, password = _shown(url)
        self.name = f"PostgresEventJournal({shown!r})"
        self._secrets = [] if password is None else [password]
        self._pool: Any = None
        self._held: dict[tuple[str, str], int] = {}
        """The seq of each delivery ``due`` leased here that is neither delivered nor failed."""
        self._renewer: asyncio.Task[None] | None = None
        self._failing = False
        self._listener: Any = None
        """The connection :meth:`listen` hears other instances on."""

    def __repr__(self) -> str:
        return f"{self.name[:-1]}, owner={self.owner!r})"

    # -- life cycle -----------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, bring the schema up to date, and start renewing this instance's leases.

        Raises:
            StoreError: the database cannot be reached or refuses the login.
            ConfigError: the URL is not one, or the schema is newer than this smsrouter's.
        """
        try:
            self._pool = await asyncpg.create_pool(
                self._url,
                min_size=1,
                max_size=POOL_SIZE,
                timeout=CONNECT_TIMEOUT,
                command_timeout=COMMAND_TIMEOUT,
            )
        except _FAILING as exc:
            raise self._error(exc) from None
        except ValueError as exc:  # asyncpg's word for a URL it cannot read
            raise ConfigError([f"store.url: {self._redact(str(exc))}"]) from None
        try:
            async with self._connection() as conn:
                await migrate(conn, sql.PART, sql.STEPS)
        except RuntimeError as exc:  # a newer smsrouter migrated the database
            await self._close_pool()
            raise ConfigError([f"{self.name}: {exc}"]) from None
        except BaseException:
            await self._close_pool()
            raise
        self._renewer = asyncio.get_running_loop().create_task(self._renew_leases())

    async def close(self) -> None:
        """Stop renewing, give this instance's leases up (another instance takes them at
        once), and close the connections."""
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)
            self._renewer = None
        if self._pool is None:
            return
        try:
            await self.release()
        except StoreError as exc:
            log.warning("%s: leases not given up, they expire instead: %s", self, exc.reason)
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.terminate()
        await self._close_pool()

    async def _close_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), COMMAND_TIMEOUT)
        except _FAILING:  # the server is gone or slow: drop the connections regardless
            pool.terminate()

    # -- leases ---------------------------------------------------------------------------

    async def renew(self) -> int:
        """Extend this instance's leases on what ``due`` gave it; how many are still its."""
        if not self._held:
            return 0
        async with self._connection() as conn:
            kept = await conn.fetch(sql.RENEW, list(self._held.values()), self.owner, self.lease)
        ours = {row["seq"] for row in kept}
        # Those not renewed were taken over (this instance was thought dead) or are done.
        self._held = {key: seq for key, seq in self._held.items() if seq in ours}
        return len(self._held)

    async def release(self) -> int:
        """Give up this instance's leases on what ``due`` gave it, waking the instances that
        listen; how many were given up."""
        held, self._held = list(self._held.values()), {}
        if not held:
            return 0
        async with self._connection() as conn:
            given = await conn.fetchval(sql.RELEASE, held, self.owner, sql.CHANNEL)
        return int(given or 0)

    async def listen(self, wake: Callable[[], None]) -> None:
        """Call *wake* when another instance gives deliveries up, on a connection of its own;
        where it cannot be made, those deliveries are posted when their leases are due."""

        def heard(_conn: object, _pid: int, _channel: str, payload: str) -> None:
            if payload != self.owner:
                wake()

        try:
            self._listener = await asyncpg.connect(self._url, timeout=CONNECT_TIMEOUT)
            await self._listener.add_listener(sql.CHANNEL, heard)
        except _FAILING as exc:
            log.warning("%s: not told of deliveries given up: %s", self, self._error(exc).reason)

    async def _renew_leases(self) -> None:
        """Renew the leases a third of a lease apart, saying once when it fails and works."""
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                await self.renew()
            except StoreError as exc:
                if not self._failing:
                    log.warning("%s: cannot renew leases: %s", self, exc.reason)
                self._failing = True
                continue
            except Exception:
                log.exception("%s: renewing leases failed", self)
                continue
            if self._failing:
                log.warning("%s: renews its leases again", self)
            self._failing = False

    # -- the contract ---------------------------------------------------------------------

    async def add(self, event: Event, webhooks: Sequence[str], now: float) -> int:
        data = json.dumps(dict(event.data))
        async with self._connection() as conn, conn.transaction():
            await conn.execute(sql.ADD_EVENT, event.id, event.type.value, event.created_at, data)
            added = await conn.fetch(
                sql.ADD_DELIVERIES, event.id, now, list(dict.fromkeys(webhooks))
            )
        return len(added)

    async def due(self, now: float, *, limit: int, skip: Collection[str] = ()) -> list[Delivery]:
        """Pending deliveries due at *now* that no other live instance holds, soonest first,
        none to a webhook in *skip*: each is leased to this instance before it is returned."""
        async with self._connection() as conn:
            rows = await conn.fetch(sql.DUE, now, list(skip), self.owner, limit, self.lease)
        found = [delivery_record(row) for row in rows]
        self._held.update((d.key, d.seq) for d in found)
        return found

    async def next_due(self, after: float) -> float | None:
        async with self._connection() as conn:
            first = await conn.fetchval(sql.NEXT_DUE, after, self.owner)
        return None if first is None else float(first)

    async def _record(self, event_id: str, webhook: str, sets: str, values: list[Any]) -> None:
        async with self._connection() as conn:
            status = await conn.execute(sql.record(sets, len(values)), *values, event_id, webhook)
        self._held.pop((event_id, webhook), None)
        if sql.count(status) == 0:
            raise KeyError((event_id, webhook))

    async def delivered(self, event_id: str, webhook: str, now: float, status: int) -> None:
        await self._record(event_id, webhook, sql.DELIVERED, [now, status])

    async def failed(
        self,
        event_id: str,
        webhook: str,
        now: float,
        *,
        status: int | None,
        error: str,
        retry_at: float | None,
    ) -> None:
        state = DeliveryState.DEAD if retry_at is None else DeliveryState.PENDING
        await self._record(
            event_id, webhook, sql.FAILED, [state.value, retry_at, now, status, error]
        )

    async def requeue(self, event_id: str, now: float, *, webhook: str | None = None) -> int:
        async with self._connection() as conn:
            return sql.count(await conn.execute(sql.REQUEUE, now, event_id, webhook))

    async def deliveries(self, event_id: str) -> list[Delivery]:
        async with self._connection() as conn:
            rows = await conn.fetch(sql.BY_EVENT, event_id)
        return [delivery_record(row) for row in rows]

    async def list(
        self,
        *,
        state: DeliveryState | None = None,
        type: EventType | None = None,
        webhook: str | None = None,
        limit: int = 50,
        before: int | None = None,
    ) -> list[Delivery]:
        check_limit(limit)
        query, params = sql.listing(state, type, webhook, before)
        async with self._connection() as conn:
            rows = await conn.fetch(query, *params, limit)
        return [delivery_record(row) for row in rows]

    async def prune(self, before: float) -> int:
        async with self._connection() as conn, conn.transaction():
            status = await conn.execute(sql.PRUNE_DELIVERIES, before)
            orphans = await conn.fetch(sql.ORPHANS)
            await conn.execute(sql.PRUNE_EVENTS, [row["id"] for row in orphans])
        return sql.count(status)

    # -- connections and errors -----------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        """A connection of the pool; the database failing comes out as a StoreError."""
        if self._pool is None:
            raise RuntimeError(f"{self!r} is not open")
        try:
            async with self._pool.acquire() as conn:
                yield conn
        except _FAILING as exc:
            raise self._error(exc) from None

    def _error(self, exc: BaseException) -> StoreError:
        reason = self._redact(str(exc)) or type(exc).__name__
        return StoreError(self.name, reason)

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets) if self._secrets else text
