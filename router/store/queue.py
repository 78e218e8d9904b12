"""Who sends a journalled message when several router instances share one journal.

In a shared journal (PostgreSQL, fleet mode) every message that is not done is *leased* to
one instance at a time: the instance that journalled it (``add`` and ``add_started`` take
the lease), or the one that claimed it after its holder's lease expired, or the one whose
scheduler found it due (``held_due`` leases what it returns). The store renews its own
leases while its instance lives and gives a message's lease up when the message is done or
held again (``finish``, ``cancel``). An instance that dies stops renewing; once its leases
expire, on the journal's own clock, another instance claims each message and resolves it as
after a crash (a status query where the provider has one).

A journal of one process (memory, SQLite) grants every lease: the Router's own claims are
enough there. :class:`WorkQueue` is that part of the :class:`~router.store.MessageStore`
contract, with the single-process behaviour as its defaults.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from router.store.base import MessageRecord

__all__ = ["LEASE_POLL", "WorkQueue"]

LEASE_POLL = 0.2
"""Seconds between looks at a message whose lease another instance holds."""


class WorkQueue:
    """Leases on journalled messages, for a journal several instances share."""

    shared: bool = False
    """Whether other router instances use this journal too (leases then matter)."""
    owner: str = "local"
    """This instance's name in the journal's leases."""

    async def lease(self, message_id: str) -> bool:
        """Take the lease on *message_id* for this instance.

        True when it is this instance's now (it was free, its holder's lease expired, or
        this instance held it already) or the message is done; False while another
        instance's lease on it runs.
        """
        return True

    async def hold(self, message_id: str) -> None:
        """Lease *message_id* to this instance, waiting while another instance's lease on it
        runs (that instance is sending it, or dies and its lease expires)."""
        while not await self.lease(message_id):  # noqa: ASYNC110 - held by another process
            await asyncio.sleep(LEASE_POLL)

    async def claim(self, limit: int) -> list[MessageRecord]:
        """Lease up to *limit* unfinished messages that no instance holds (never leased, given
        up, or their holder's lease expired), oldest first, and return them as
        :meth:`~router.store.MessageStore.unfinished` does. Two instances claiming at once
        never get the same message. Held messages are not claimed (``held_due`` is)."""
        return []

    async def release(self, message_ids: Sequence[str]) -> None:
        """Give up this instance's leases on *message_ids* (it is stopping with them unsent),
        waking instances waiting for work so one takes them at once."""

    async def wait_for_work(self, timeout: float) -> None:
        """Return when another instance may have left work to claim (it gave leases up), or
        after *timeout* seconds."""
        await asyncio.sleep(timeout)
