"""The journal on PostgreSQL: one database shared by every instance of a fleet.

:class:`PostgresStore` keeps the journal contract in SQL on a pool of asyncpg
connections, and its work queue (:mod:`router.store.postgres.leases`): every message not
done is leased to one instance at a time. A new message is journalled in one statement, and
so is a result, so a message to one recipient costs two round trips and two commits. A new
message's reference is unique in the table: of two instances adding one reference at the
same moment, one journals it and the other answers with it.

When the database cannot be reached or fails, a call gets a
:class:`~router.errors.StoreError` (the daemon answers 503); what was asked was not done.
A write about a message under way (an attempt started or ended, its result) is tried again
for a while first: the message may be at a provider already. One that still fails gives
the message's lease up once the database answers again, so the instance that claims it
resolves it as after a crash. The URL's password is in no repr, error or log line.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import attrs

from router.errors import ConfigError, StoreError
from router.model import (
    Attempt,
    DeliveryReport,
    Encoding,
    InboundMessage,
    Message,
    Recipient,
    SendResult,
)
from router.store.base import (
    CallRecord,
    HoldRecord,
    InboundRecord,
    MessageRecord,
    MessageState,
    MessageStore,
    OptOut,
    RecentCalls,
    ReportMatch,
    check_limit,
)
from router.store.deliveries import DeliverySample
from router.store.held import cancelled, state_after
from router.store.postgres import reports, side, writes
from router.store.postgres.admin import PostgresAdminJournal, PostgresDeliveries
from router.store.postgres.database import Database, safe_url
from router.store.postgres.leases import Leases
from router.store.postgres.rows import (
    load_message,
    load_messages,
    select_messages,
)
from router.store.postgres.schema import PART, STEPS
from router.store.postgres.versions import migrate
from router.store.records import new_record

__all__ = ["PostgresStore", "default_owner"]

T = TypeVar("T")


def default_owner() -> str:
    """This instance's name in the leases: its host, process id and a short random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


KEEP_TRYING = 10.0
"""Seconds a write about a message under way is tried again while the database fails."""
RETRY_FIRST = 0.1
"""Seconds before its first retry; each failed retry doubles it, up to :data:`RETRY_MAX`."""
RETRY_MAX = 2.0


class PostgresStore(PostgresAdminJournal, MessageStore):
    """The journal in a PostgreSQL database, shared with the other instances on it.

    Args:
        url: ``postgresql://user:password@host:port/database`` (or ``postgres://``).
        lease: seconds an instance's lease on a message lasts unrenewed (``[store] lease``);
            this store renews its own every third of it while it is open.
        owner: this instance's name in the leases (by default its host, process id and a
            random part: unique to this process).
        pool_size: the most connections this instance opens.

    Attributes:
        db: the pool of connections to the database.
        leases: this instance's leases, renewed while the store is open.
        keep_trying: seconds a write about a message under way is tried again while the
            database fails (tests shorten it).
    """

    shared = True

    def __init__(
        self, url: str, *, lease: float = 30.0, owner: str | None = None, pool_size: int = 10
    ) -> None:
        self.name = f"PostgresStore({safe_url(url)!r})"
        self.db = Database(url, name=self.name, pool_size=pool_size)
        self.owner = owner or default_owner()
        self.lease_seconds = float(lease)
        self.leases = Leases(self.db, owner=self.owner, lease=lease)
        self.deliveries = PostgresDeliveries(self.db)
        self.keep_trying = KEEP_TRYING

    def __repr__(self) -> str:
        return self.name

    @property
    def url(self) -> str:
        """The database's URL, password and all (the event journal opens it too): never
        to be shown; :attr:`name` is the URL as shown."""
        return self.db.url

    async def open(self) -> None:
        """Connect, bring the journal's tables up to date (once, however many instances
        open together), and start renewing leases and listening for work.

        Raises:
            StoreError: the database cannot be reached or refused the connection.
            ConfigError: the URL is not one, or a newer smsrouter migrated the database.
        """
        await self.db.open()
        try:
            async with self.db.connection() as conn:
                await migrate(conn, PART, STEPS)
            await self.leases.start()
        except RuntimeError as exc:  # a newer smsrouter migrated the database
            await self.db.close()
            raise ConfigError([f"{self.name}: {exc}"]) from None
        except BaseException:
            await self.leases.stop()
            await self.db.close()
            raise

    async def close(self) -> None:
        """Stop renewing leases (those held run out after ``lease``) and disconnect."""
        await self.leases.stop()
        await self.db.close()

    # -- messages -------------------------------------------------------------------------

    async def add(
        self,
        message: Message,
        recipients: Sequence[Recipient],
        encoding: Encoding,
        segments: int,
        now: float,
    ) -> tuple[MessageRecord, bool]:
        return await self._add(message, recipients, encoding, segments, now, None)

    async def add_started(
        self,
        message: Message,
        recipients: Sequence[Recipient],
        encoding: Encoding,
        segments: int,
        now: float,
        provider: str,
    ) -> tuple[MessageRecord, bool]:
        return await self._add(message, recipients, encoding, segments, now, provider)

    async def _add(
        self,
        message: Message,
        recipients: Sequence[Recipient],
        encoding: Encoding,
        segments: int,
        now: float,
        started: str | None,
    ) -> tuple[MessageRecord, bool]:
        """Journal *message*, leased to this instance, its recipients in flight on
        *started* when it is set; or the first message with its reference or id."""
        args = writes.add_args(message, recipients, encoding.value, segments, now, started,
                               self.owner, self.lease_seconds)  # fmt: skip
        async with self.db.connection() as conn:
            if await conn.fetchval(writes.ADD, *args):
                state = MessageState.QUEUED if started is None else MessageState.SENDING
                at = None if started is None else now
                record = new_record(message, recipients, encoding, segments, now, state=state,
                                    started=started, in_flight_at=at)  # fmt: skip
                return record, True
            first = await conn.fetchval(writes.FIRST, message.reference, message.id)
            found = None if first is None else await load_message(conn, first)
        if found is None:  # taken and gone between the two statements: nothing deletes one
            raise RuntimeError(f"message {message.id} was neither journalled nor found")
        return found, False

    async def get(self, message_id: str) -> MessageRecord | None:
        async with self.db.connection() as conn:
            return await load_message(conn, message_id)

    async def _under_way(self, message_id: str, write: Callable[[], Awaitable[T]]) -> T:
        """*write* about *message_id*, tried again for :attr:`keep_trying` seconds while
        the database fails; once it has failed that long, the message is abandoned."""
        loop = asyncio.get_running_loop()
        deadline, delay = loop.time() + self.keep_trying, RETRY_FIRST
        while True:
            try:
                return await write()
            except StoreError:
                if loop.time() + delay > deadline:
                    self.leases.abandon(message_id)
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    async def attempt_started(
        self,
        message_id: str,
        provider: str,
        refs: Sequence[str],
        now: float | None = None,
        *,
        via: str | None = None,
    ) -> None:
        async def write() -> object:
            args = writes.started_args(message_id, provider, refs, now, via)
            return await self.db.fetchval(writes.STARTED, *args)

        if not await self._under_way(message_id, write):
            raise KeyError(message_id)

    async def attempt_ended(self, message_id: str, ref: str, attempt: Attempt) -> None:
        async def write() -> tuple[object, object]:
            async with self.db.connection() as conn:
                args = writes.ended_args(message_id, ref, attempt)
                if await conn.fetchval(writes.ENDED, *args):
                    return True, True
                known = await conn.fetchval("SELECT 1 FROM messages WHERE id = $1", message_id)
                return False, known

        ended, known = await self._under_way(message_id, write)
        if not ended:
            raise KeyError(ref if known else message_id)

    async def finish(self, result: SendResult, sent: Sequence[DeliverySample] = ()) -> None:
        async def write() -> object:
            return await self.db.fetchval(writes.FINISH, *writes.finish_args(result, sent))

        if not await self._under_way(result.message_id, write):
            raise KeyError(result.message_id)

    async def apply_report(self, report: DeliveryReport, now: float) -> ReportMatch | None:
        return await reports.apply_report(self.db, report, now)

    async def unfinished(self) -> list[MessageRecord]:
        async with self.db.connection() as conn:
            return await select_messages(conn, "m.state <> 'done'")

    # -- held messages and cancels ----------------------------------------------------------

    async def held_due(self, now: float, limit: int = 64) -> list[str]:
        """Ids of held messages due by *now*, soonest first, each leased to this instance
        (one another live instance holds is left to it): two instances' schedulers never
        resume one message."""
        return await self.leases.held_due(now, limit)

    async def next_held(self) -> float | None:
        due: float | None = await self.db.fetchval(
            "SELECT min(wake_at) FROM messages WHERE state = 'held'"
        )
        return due

    async def cancel(self, message_id: str, now: float) -> MessageRecord | None:
        async with self.db.transaction() as conn:
            await conn.execute("SELECT 1 FROM messages WHERE id = $1 FOR UPDATE", message_id)
            record = await load_message(conn, message_id)
            if record is None or record.state is MessageState.DONE:
                return record
            ended = [c for r in record.recipients if (c := cancelled(r)) is not None]
            if not ended:
                return record
            await conn.executemany(
                "UPDATE recipients SET status = $1, reason = $2, due_at = NULL"
                " WHERE message_id = $3 AND ref = $4",
                [(str(c.status), c.reason, message_id, c.ref) for c in ended],
            )
            by_ref = {c.ref: c for c in ended}
            after = attrs.evolve(
                record, recipients=tuple(by_ref.get(r.ref, r) for r in record.recipients)
            )
            state, due = state_after(after)
            await conn.execute(
                "UPDATE messages SET state = $1, wake_at = $2,"
                " lease_owner = CASE WHEN $3 THEN NULL ELSE lease_owner END,"
                " lease_until = CASE WHEN $3 THEN NULL ELSE lease_until END WHERE id = $4",
                state.value,
                due,
                state in (MessageState.DONE, MessageState.HELD),
                message_id,
            )
            return attrs.evolve(after, state=state)

    async def find(
        self,
        *,
        reference: str | None = None,
        status: str | None = None,
        since: float | None = None,
        limit: int = 50,
        before: tuple[float, str] | None = None,
    ) -> list[MessageRecord]:
        check_limit(limit)
        return await side.find(self.db, reference, status, since, limit, before)

    # -- the work queue -------------------------------------------------------------------

    async def lease(self, message_id: str) -> bool:
        return await self.leases.take(message_id)

    async def claim(self, limit: int) -> list[MessageRecord]:
        ids = await self.leases.claim(limit)
        async with self.db.connection() as conn:
            return await load_messages(conn, ids)

    async def release(self, message_ids: Sequence[str]) -> None:
        await self.leases.release(message_ids)

    async def wait_for_work(self, timeout: float) -> None:
        await self.leases.wait_for_work(timeout)

    # -- inbound, opt-outs, budgets ---------------------------------------------------------

    async def add_inbound(self, message: InboundMessage, now: float) -> str | None:
        return await side.add_inbound(self.db, message, now)

    async def inbound(
        self,
        *,
        provider: str | None = None,
        number: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 50,
        before: int | None = None,
    ) -> list[InboundRecord]:
        check_limit(limit)
        return await side.inbound(self.db, provider, number, since, until, limit, before)

    async def opt_out(self, entry: OptOut) -> bool:
        return await side.opt_out(self.db, entry)

    async def opt_in(self, number: str) -> bool:
        return await side.opt_in(self.db, number)

    async def optouts(self, *, number: str | None = None) -> list[OptOut]:
        return await side.optouts(self.db, number)

    async def record_calls(
        self, calls: Sequence[CallRecord], holds: Sequence[HoldRecord], *, forget_before: float
    ) -> None:
        await side.record_calls(self.db, calls, holds, forget_before)

    async def recent_calls(self, since: float) -> RecentCalls:
        return await side.recent_calls(self.db, since)
