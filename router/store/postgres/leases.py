"""The work queue of the PostgreSQL journal (:class:`~router.store.queue.WorkQueue`): leases
on messages, renewed while this instance lives, claimed with ``FOR UPDATE SKIP LOCKED`` once
they expire, and ``LISTEN/NOTIFY`` to wake instances when leases are given up.

A lease is ``messages.lease_owner`` and ``lease_until``, always set or cleared together, and
its time is the database's (``clock_timestamp()``): instances whose clocks disagree still
agree on when a lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from router.errors import StoreError
from router.store.postgres.database import Database

log = logging.getLogger("smsrouter.store")

CHANNEL = "smsrouter_work"
"""The channel instances are told on that leases were given up (the payload: who)."""

UNTIL = "clock_timestamp() + {} * interval '1 second'"
"""When a lease taken now ends, the lease's seconds at the placeholder given."""

_FREE = "(lease_until IS NULL OR lease_until < clock_timestamp())"

_CLAIM = f"""
UPDATE messages m SET lease_owner = $1, lease_until = {UNTIL.format("$2")}
FROM (
    SELECT id FROM messages
    WHERE state IN ('queued', 'sending') AND {_FREE}
    ORDER BY seq LIMIT $3
    FOR UPDATE SKIP LOCKED
) free
WHERE m.id = free.id
RETURNING m.id, m.seq
"""  # noqa: S608 - fixed SQL

_LEASE = f"""
WITH taken AS (
    UPDATE messages SET lease_owner = $2, lease_until = {UNTIL.format("$3")}
    WHERE id = $1 AND state <> 'done'
        AND (lease_owner = $2 OR {_FREE})
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM taken)
    OR NOT EXISTS (SELECT 1 FROM messages WHERE id = $1 AND state <> 'done')
"""  # noqa: S608 - fixed SQL

_RELEASE = """
WITH given AS (
    UPDATE messages SET lease_owner = NULL, lease_until = NULL
    WHERE id = ANY($1::text[]) AND lease_owner = $2
    RETURNING 1
)
SELECT pg_notify($3, $2) FROM (SELECT count(*) AS n FROM given) g WHERE g.n > 0
"""

_RENEW = f"""
UPDATE messages SET lease_until = {UNTIL.format("$2")}
WHERE lease_owner = $1 AND state <> 'done' AND id <> ALL($3::text[])
"""  # noqa: S608 - fixed SQL

_HELD_DUE = f"""
UPDATE messages m SET lease_owner = $1, lease_until = {UNTIL.format("$2")}
FROM (
    SELECT id FROM messages
    WHERE state = 'held' AND wake_at <= $3 AND (lease_owner = $1 OR {_FREE})
    ORDER BY wake_at LIMIT $4
    FOR UPDATE SKIP LOCKED
) due
WHERE m.id = due.id
RETURNING m.id, m.wake_at
"""  # noqa: S608 - fixed SQL


class Leases:
    """This instance's leases in the journal, and the wake-ups of other instances'.

    Args:
        db: the journal's database.
        owner: this instance's name in the leases.
        lease: seconds a lease lasts unrenewed; it is renewed every third of it.
    """

    def __init__(self, db: Database, *, owner: str, lease: float) -> None:
        if lease <= 0:
            raise ValueError(f"lease must be positive, got {lease}")
        self.db = db
        self.owner = owner
        self.lease = float(lease)
        self._renewer: asyncio.Task[None] | None = None
        self._listener: Any = None
        self._work = asyncio.Event()
        self._abandoned: set[str] = set()

    async def start(self) -> None:
        """Start renewing this instance's leases and listening for work given up."""
        await self._listen()
        if self._renewer is None:
            self._renewer = asyncio.get_running_loop().create_task(
                self._renew_forever(), name=f"smsrouter-leases:{self.owner}"
            )

    async def stop(self) -> None:
        """Stop renewing (the leases held run out unless given up) and listening."""
        task, self._renewer = self._renewer, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(listener.close(), self.lease)

    def abandon(self, message_id: str) -> None:
        """Stop renewing the lease on *message_id* and give it up when the database answers
        again: a write about it under way failed, so the instance that takes it over
        resolves it as after a crash."""
        self._abandoned.add(message_id)

    async def renew(self) -> int:
        """Renew every lease this instance holds on a message not done (and give up those
        abandoned); how many were renewed."""
        abandoned = list(self._abandoned)
        status = await self.db.execute(_RENEW, self.owner, self.lease, abandoned)
        if abandoned:
            await self.release(abandoned)
            self._abandoned.difference_update(abandoned)
        return int(status.split()[-1])

    async def _renew_forever(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                await self.renew()
            except StoreError as exc:
                if not failing:
                    log.warning("cannot renew the leases of %s: %s", self.owner, exc.reason)
                failing = True
            else:
                if failing:
                    log.warning("the leases of %s are renewed again", self.owner)
                failing = False

    async def claim(self, limit: int) -> list[str]:
        """Lease up to *limit* unfinished messages no live instance holds; their ids, oldest
        first."""
        if limit < 1:
            return []
        rows = await self.db.fetch(_CLAIM, self.owner, self.lease, limit)
        return [row["id"] for row in sorted(rows, key=lambda row: row["seq"])]

    async def take(self, message_id: str) -> bool:
        """:meth:`~router.store.queue.WorkQueue.lease`."""
        taken: bool = await self.db.fetchval(_LEASE, message_id, self.owner, self.lease)
        return taken

    async def release(self, message_ids: Sequence[str]) -> None:
        """Give up this instance's leases on *message_ids* and wake the other instances."""
        if message_ids:
            await self.db.execute(_RELEASE, list(message_ids), self.owner, CHANNEL)

    async def held_due(self, now: float, limit: int) -> list[str]:
        """Lease the held messages due by *now* that no other live instance holds; their
        ids, soonest first."""
        rows = await self.db.fetch(_HELD_DUE, self.owner, self.lease, now, limit)
        return [row["id"] for row in sorted(rows, key=lambda row: (row["wake_at"], row["id"]))]

    async def wait_for_work(self, timeout: float) -> None:
        """Return when another instance gave leases up, or after *timeout* seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self._listener is None or self._listener.is_closed():  # lost: listen again
            with contextlib.suppress(StoreError, TimeoutError):
                await asyncio.wait_for(self._listen(), timeout)
        left = deadline - loop.time()
        if left > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._work.wait(), left)
        self._work.clear()

    async def _listen(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        conn = await self.db.connect_alone()
        try:
            with self.db.failures():
                await conn.add_listener(CHANNEL, self._notified)
        except BaseException:
            conn.terminate()
            raise
        self._listener = conn

    def _notified(self, conn: object, pid: int, channel: str, owner: str) -> None:
        if owner != self.owner:
            self._work.set()
