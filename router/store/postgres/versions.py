"""Schema versions on PostgreSQL: each part of the journal (the message journal, the event
journal) brings its tables up to date with its own numbered steps, once, however many
instances open the database at the same moment.

The steps of every part are recorded in one table, ``smsrouter_schema`` (part, version).
A step is run in the same transaction as its record, under a transaction-scoped advisory
lock, so two instances starting together never run one step twice, and a step that fails
leaves the version where it was.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

__all__ = ["migrate"]

_LOCK = 0x736D_7372  # the advisory lock every instance takes while migrating ("smsr")

_TABLE = """
CREATE TABLE IF NOT EXISTS smsrouter_schema (
    part text PRIMARY KEY,
    version integer NOT NULL CHECK (version >= 0)
)
"""


async def migrate(conn: asyncpg.Connection, part: str, steps: Sequence[str]) -> int:
    """Run the steps of *part* (SQL, in order, step 1 first) that its recorded version has
    not reached, and return the version after. *conn* must not be in a transaction.

    Raises:
        RuntimeError: the database was migrated by a newer version (it has more steps).
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
        await conn.execute(_TABLE)
        found = await conn.fetchval("SELECT version FROM smsrouter_schema WHERE part = $1", part)
        version = 0 if found is None else int(found)
        if version > len(steps):
            raise RuntimeError(
                f"the {part} schema is at version {version}, newer than this smsrouter's"
                f" {len(steps)}: upgrade smsrouter"
            )
        for step in steps[version:]:
            await conn.execute(step)
        await conn.execute(
            "INSERT INTO smsrouter_schema (part, version) VALUES ($1, $2)"
            " ON CONFLICT (part) DO UPDATE SET version = excluded.version",
            part,
            len(steps),
        )
    return len(steps)
