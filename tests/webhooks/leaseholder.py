"""An instance of a fleet that leases what is due in the event journal and lives until killed.

``python leaseholder.py URL LEASE NOW`` opens the PostgreSQL event journal at URL as owner
``holder``, leases every delivery due at NOW, prints their event ids on one line, then
renews its leases until it is killed (as an instance that dies mid-post), or for a minute
at most, so it never outlives a test that failed to kill it.
"""

from __future__ import annotations

import asyncio
import sys

from router.webhooks.postgres import PostgresEventJournal


async def hold(url: str, lease: float, now: float) -> None:
    """Lease what is due, say which, and keep it."""
    journal = PostgresEventJournal(url, owner="holder", lease=lease)
    await journal.open()
    leased = await journal.due(now, limit=100)
    print(" ".join(sorted(d.event.id for d in leased)), flush=True)
    await asyncio.sleep(60)


if __name__ == "__main__":
    asyncio.run(hold(sys.argv[1], float(sys.argv[2]), float(sys.argv[3])))
