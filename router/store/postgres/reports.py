"""Delivery reports on the PostgreSQL journal: the message a report is about, found by the
provider's id or our reference, and the report merged into its recipient under the
message's lock, so reports that two instances apply at once both count.

The matching and merging rules are every store's (:mod:`router.store.reports`).
"""

from __future__ import annotations

from router.model import DeliveryReport
from router.store.base import ReportMatch, ref_candidates
from router.store.postgres.database import Database
from router.store.postgres.rows import Connection, load_message, load_messages, parts_array
from router.store.reports import merge_report, report_target

_BY_PROVIDER_ID = """
SELECT id FROM messages WHERE id IN (
    SELECT message_id FROM attempts WHERE provider = $1 AND provider_message_id = $2
    UNION
    SELECT message_id FROM recipients WHERE provider = $1 AND provider_message_id = $2
) ORDER BY seq DESC
"""
"""The messages a provider gave this id, newest first: where one id was used twice, the
newest message wins."""


async def apply_report(db: Database, report: DeliveryReport, now: float) -> ReportMatch | None:
    """Attach *report* to its recipient (``MessageStore.apply_report``); what it matched."""
    async with db.connection() as conn:
        ids: list[str] = []
        if report.provider_message_id is not None:
            rows = await conn.fetch(_BY_PROVIDER_ID, report.provider, report.provider_message_id)
            ids.extend(row["id"] for row in rows)
        if report.ref is not None:
            ids.extend(i for i in ref_candidates(report.ref) if i not in ids)
        for record in await load_messages(conn, ids):
            if report_target(record, report) is not None:
                return await _apply(conn, record.id, report, now)
    return None


async def _apply(
    conn: Connection, message_id: str, report: DeliveryReport, now: float
) -> ReportMatch | None:
    """Merge *report* into its recipient of *message_id*, the message locked while it is
    read and written."""
    async with conn.transaction():
        await conn.execute("SELECT 1 FROM messages WHERE id = $1 FOR UPDATE", message_id)
        record = await load_message(conn, message_id)
        target = None if record is None else report_target(record, report)
        if target is None:
            return None
        merged = merge_report(target, report, now)
        if merged != target:
            await conn.execute(
                "UPDATE recipients SET delivery = $1, delivery_raw = $2, delivery_at = $3,"
                " delivery_parts = $4 WHERE message_id = $5 AND ref = $6",
                None if merged.delivery is None else merged.delivery.value,
                merged.delivery_raw,
                merged.delivery_at,
                parts_array(merged.delivery_parts),
                message_id,
                target.ref,
            )
    return ReportMatch(message_id, target.ref, merged != target, merged.delivery)
