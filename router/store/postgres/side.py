"""What the PostgreSQL journal keeps beside its messages: inbound texts, the opt-out list,
the providers' budget calls and holds, and the message search.

Functions of the store's :class:`~router.store.postgres.database.Database`; the store
(:mod:`router.store.postgres.store`) keeps the contract's docstrings.
"""

from __future__ import annotations

from collections.abc import Sequence

from router.model import InboundMessage
from router.store.base import (
    INBOUND_REPEAT_WINDOW,
    CallRecord,
    HoldRecord,
    InboundRecord,
    MessageRecord,
    OptOut,
    RecentCalls,
    bare_number,
    ref_candidates,
)
from router.store.postgres.database import Database
from router.store.postgres.rows import load_messages
from router.store.records import inbound_record

_ANSWERED = """
SELECT c.id FROM unnest($1::text[]) WITH ORDINALITY AS c (id, n)
JOIN messages m ON m.id = c.id
WHERE c.id = $2 OR EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = c.id AND r.ref = $2)
ORDER BY c.n LIMIT 1
"""

_INSERT_INBOUND = """
INSERT INTO inbound (provider, sender, recipient, text, provider_message_id, in_reply_to,
    at, answers, received_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
"""

_SAME_CONTENT = """
SELECT answers FROM inbound
WHERE provider = $1 AND provider_message_id IS NULL AND sender = $2 AND recipient = $3
    AND text = $4 AND at IS NOT DISTINCT FROM $5 AND in_reply_to IS NOT DISTINCT FROM $6
    AND received_at >= $7
ORDER BY id DESC LIMIT 1
"""


async def add_inbound(db: Database, message: InboundMessage, now: float) -> str | None:
    """Journal an inbound text once; the id of the message it answers."""
    m = message
    async with db.transaction() as conn:
        answers = None
        if m.in_reply_to is not None:
            candidates = list(ref_candidates(m.in_reply_to))
            answers = await conn.fetchval(_ANSWERED, candidates, m.in_reply_to)
        values = (m.provider, m.sender, m.recipient, m.text, m.provider_message_id,
                  m.in_reply_to, m.at, answers, now)  # fmt: skip
        if m.provider_message_id is not None:
            inserted = await conn.fetch(
                f"{_INSERT_INBOUND} ON CONFLICT (provider, provider_message_id)"
                " WHERE provider_message_id IS NOT NULL DO NOTHING RETURNING id",
                *values,
            )
            if inserted:
                return answers
            known: str | None = await conn.fetchval(
                "SELECT answers FROM inbound WHERE provider = $1 AND provider_message_id = $2",
                m.provider,
                m.provider_message_id,
            )
            return known
        # No id: the same content within the window is the same text. The instances that
        # journal one content at once take turns under a lock of that content.
        key = repr((m.provider, m.sender, m.recipient, m.text, m.at, m.in_reply_to))
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)
        rows = await conn.fetch(
            _SAME_CONTENT, m.provider, m.sender, m.recipient, m.text, m.at, m.in_reply_to,
            now - INBOUND_REPEAT_WINDOW,
        )  # fmt: skip
        if rows:
            repeated: str | None = rows[0]["answers"]
            return repeated
        await conn.execute(_INSERT_INBOUND, *values)
        return answers


async def inbound(
    db: Database,
    provider: str | None,
    number: str | None,
    since: float | None,
    until: float | None,
    limit: int,
    before: int | None,
) -> list[InboundRecord]:
    """Inbound texts, newest first, filtered as ``MessageStore.inbound`` says."""
    rows = await db.fetch(
        "SELECT * FROM inbound WHERE ($1::text IS NULL OR provider = $1)"
        " AND ($2::text IS NULL OR ltrim(sender, '+') = $2 OR ltrim(recipient, '+') = $2)"
        " AND ($3::float8 IS NULL OR received_at >= $3)"
        " AND ($4::float8 IS NULL OR received_at < $4)"
        " AND ($5::bigint IS NULL OR id < $5)"
        " ORDER BY id DESC LIMIT $6",
        provider,
        None if number is None else bare_number(number),
        since,
        until,
        before,
        limit,
    )
    return [inbound_record(row) for row in rows]


async def find(
    db: Database,
    reference: str | None,
    status: str | None,
    since: float | None,
    limit: int,
    before: tuple[float, str] | None,
) -> list[MessageRecord]:
    """Messages, newest first, filtered as ``MessageStore.find`` says."""
    async with db.connection() as conn:
        rows = await conn.fetch(
            "SELECT id FROM messages m WHERE ($1::text IS NULL OR reference = $1)"
            " AND ($2::text IS NULL OR state = $2 OR EXISTS (SELECT 1 FROM recipients r"
            "      WHERE r.message_id = m.id AND r.status = $2))"
            " AND ($3::float8 IS NULL OR created_at >= $3)"
            " AND ($4::float8 IS NULL OR (created_at, id) < ($4, $5::text))"
            " ORDER BY created_at DESC, id DESC LIMIT $6",
            reference,
            status,
            since,
            None if before is None else before[0],
            None if before is None else before[1],
            limit,
        )
        return await load_messages(conn, [row["id"] for row in rows])


async def opt_out(db: Database, entry: OptOut) -> bool:
    """Put a number on the opt-out list; False when it was on it already."""
    status = await db.execute(
        "INSERT INTO optouts VALUES ($1, $2, $3, $4) ON CONFLICT (number) DO NOTHING",
        entry.number,
        entry.at,
        entry.provider,
        entry.source,
    )
    return status != "INSERT 0 0"


async def opt_in(db: Database, number: str) -> bool:
    """Take a number off the opt-out list; False when it was not on it."""
    return await db.execute("DELETE FROM optouts WHERE number = $1", number) != "DELETE 0"


async def optouts(db: Database, number: str | None) -> list[OptOut]:
    """The opt-out list, or *number*'s entry, oldest first."""
    rows = await db.fetch(
        "SELECT * FROM optouts WHERE $1::text IS NULL OR number = $1 ORDER BY at, number",
        number,
    )
    return [OptOut(r["number"], r["at"], r["provider"], r["source"]) for r in rows]


async def record_calls(
    db: Database, calls: Sequence[CallRecord], holds: Sequence[HoldRecord], forget_before: float
) -> None:
    """Keep the budgets' *calls* and *holds*; forget what ended before *forget_before*."""
    # One statement may not touch a row twice: fold repeats as the contract says first.
    kept: dict[tuple[str, str, float], CallRecord] = {}
    for call in calls:
        key = (call.provider, call.operation, call.started)
        if call.ended is not None or key not in kept:
            kept[key] = call
    latest: dict[tuple[str, str], float] = {}
    for hold in holds:
        key2 = (hold.provider, hold.operation or "")
        latest[key2] = max(hold.until, latest.get(key2, hold.until))
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO budget_calls SELECT * FROM unnest($1::text[], $2::text[],"
            " $3::float8[], $4::float8[]) ON CONFLICT (provider, operation, started)"
            " DO UPDATE SET ended = coalesce(excluded.ended, budget_calls.ended)",
            [c.provider for c in kept.values()],
            [c.operation for c in kept.values()],
            [c.started for c in kept.values()],
            [c.ended for c in kept.values()],
        )
        await conn.execute(
            "INSERT INTO budget_holds SELECT * FROM unnest($1::text[], $2::text[],"
            " $3::float8[]) ON CONFLICT (provider, operation)"
            " DO UPDATE SET until = greatest(budget_holds.until, excluded.until)",
            [p for p, _ in latest],
            [o for _, o in latest],
            list(latest.values()),
        )
        await conn.execute(
            "DELETE FROM budget_calls WHERE coalesce(ended, started) < $1", forget_before
        )
        await conn.execute("DELETE FROM budget_holds WHERE until < $1", forget_before)


async def recent_calls(db: Database, since: float) -> RecentCalls:
    """The budgets' calls and holds that still count at *since*."""
    async with db.connection() as conn:
        calls = await conn.fetch(
            "SELECT * FROM budget_calls WHERE coalesce(ended, started) >= $1 ORDER BY started",
            since,
        )
        holds = await conn.fetch("SELECT * FROM budget_holds WHERE until >= $1", since)
    return RecentCalls(
        tuple(CallRecord(r["provider"], r["operation"], r["started"], r["ended"]) for r in calls),
        tuple(HoldRecord(r["provider"], r["operation"] or None, r["until"]) for r in holds),
    )
