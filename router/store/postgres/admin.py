"""The operators' journal (:class:`~router.store.admin.AdminJournal`) and the delivery
statistics, learnt weights and redelivery claims (:class:`~router.store.deliveries.
DeliveryJournal`) in the PostgreSQL journal.

The learnt weights move at most once per interval whoever looks, across instances too:
each instance remembers when the weights had last moved as it last saw them, and a save
that moves them again lands only if no other instance moved them since (a conditional
update under the row's lock). Of two instances stepping at once, the first one's step
stands and the second's is dropped; both read the one that stands at their next look.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from router.model import DeliveryStatus
from router.store.admin import AdminAction, AdminJournal, AdminKind, IngressNote, Suspension
from router.store.deliveries import (
    DeliveryFigures,
    DeliveryJournal,
    DeliverySample,
    QualityState,
    QualityWeight,
)
from router.store.postgres.database import Database
from router.store.postgres.writes import SAMPLES, samples_args


class PostgresAdminJournal(AdminJournal):
    """The operators' journal in the store's database (its :attr:`db`)."""

    db: Database

    async def record_admin(self, action: AdminAction) -> None:
        await self.db.execute(
            """
            WITH a AS (
                INSERT INTO admin_actions (provider, kind, reason, at) VALUES ($1, $2, $3, $4)
            ), s AS (
                INSERT INTO suspensions SELECT $1, $3, $4 WHERE $2 = 'suspend'
                ON CONFLICT (provider) DO UPDATE SET reason = excluded.reason
            )
            DELETE FROM suspensions WHERE provider = $1 AND $2 = 'resume'
            """,
            action.provider,
            action.kind.value,
            action.reason,
            action.at,
        )

    async def suspensions(self) -> dict[str, Suspension]:
        rows = await self.db.fetch("SELECT * FROM suspensions ORDER BY provider")
        return {r["provider"]: Suspension(r["provider"], r["reason"], r["since"]) for r in rows}

    async def admin_actions(
        self, *, provider: str | None = None, limit: int = 50
    ) -> list[AdminAction]:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        rows = await self.db.fetch(
            "SELECT * FROM admin_actions WHERE $1::text IS NULL OR provider = $1"
            " ORDER BY seq DESC LIMIT $2",
            provider,
            limit,
        )
        return [
            AdminAction(r["provider"], AdminKind(r["kind"]), r["reason"], r["at"]) for r in rows
        ]

    async def add_ingress_note(self, note: IngressNote) -> None:
        await self.db.execute(
            "INSERT INTO ingress_notes VALUES ($1, $2, $3, $4) ON CONFLICT (message_id)"
            " DO UPDATE SET ingress = excluded.ingress, fields = excluded.fields,"
            " at = excluded.at",
            note.message_id,
            note.ingress,
            json.dumps(dict(note.fields), sort_keys=True),
            note.at,
        )

    async def ingress_note(self, message_id: str) -> IngressNote | None:
        rows = await self.db.fetch("SELECT * FROM ingress_notes WHERE message_id = $1", message_id)
        if not rows:
            return None
        row = rows[0]
        return IngressNote(row["message_id"], row["ingress"], json.loads(row["fields"]), row["at"])


_UNSEEN = object()
"""When the weights had moved, before this instance looked."""


class PostgresDeliveries(DeliveryJournal):
    """The delivery statistics, learnt weights and redelivery claims in *db*."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._seen: object = _UNSEEN
        """When the weights had last moved as this instance last read or wrote them."""

    async def record_sends(self, samples: Sequence[DeliverySample]) -> None:
        if samples:
            await self.db.execute(SAMPLES, *samples_args(samples))

    async def record_final(
        self, provider: str, ref: str, status: DeliveryStatus, now: float
    ) -> None:
        await self.db.execute(
            "INSERT INTO deliveries (provider, ref, status, final_at) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (provider, ref) DO UPDATE SET status = excluded.status,"
            " final_at = excluded.final_at WHERE deliveries.status IS NULL",
            provider,
            ref,
            status.value,
            now,
        )

    async def delivery_figures(self, since: float, missing_before: float) -> list[DeliveryFigures]:
        rows = await self.db.fetch(
            "SELECT provider, country, count(*) AS sent,"
            " count(*) FILTER (WHERE status = 'delivered') AS delivered,"
            " count(*) FILTER (WHERE status <> 'delivered') AS failed,"
            " count(*) FILTER (WHERE status IS NULL AND sent_at < $1) AS missing,"
            " count(*) FILTER (WHERE status IS NULL AND sent_at >= $1) AS pending,"
            " avg(greatest(final_at - sent_at, 0)) FILTER (WHERE final_at IS NOT NULL)"
            " AS latency"
            " FROM deliveries WHERE sent_at >= $2 GROUP BY provider, country"
            " ORDER BY provider, country",
            missing_before,
            since,
        )
        return [
            DeliveryFigures(
                r["provider"], r["country"], r["sent"], r["delivered"], r["failed"],
                r["missing"], r["pending"], r["latency"],
            )
            for r in rows
        ]  # fmt: skip

    async def forget_deliveries(self, before: float) -> None:
        await self.db.execute(
            "DELETE FROM deliveries WHERE coalesce(sent_at, final_at) < $1", before
        )

    async def quality_state(self) -> QualityState:
        async with self.db.connection() as conn:
            rows = await conn.fetch(
                "SELECT provider, country, weight, s.stepped_at, s.frozen"
                " FROM (SELECT 1) one LEFT JOIN quality_state s ON true"
                " LEFT JOIN quality_weights w ON true ORDER BY provider, country"
            )
        weights = tuple(
            QualityWeight(r["provider"], r["country"], r["weight"])
            for r in rows
            if r["provider"] is not None
        )
        stepped_at, frozen = rows[0]["stepped_at"], bool(rows[0]["frozen"])
        self._seen = stepped_at
        return QualityState(weights, stepped_at, frozen)

    async def save_quality(self, state: QualityState) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO quality_state VALUES (1, NULL, false) ON CONFLICT (id) DO NOTHING"
            )
            stored = await conn.fetchval("SELECT stepped_at FROM quality_state FOR UPDATE")
            moved = self._seen is not _UNSEEN and stored != self._seen
            if moved and state.stepped_at != self._seen:
                self._seen = stored  # another instance moved them since: its step stands
                return
            if moved:  # only the freeze changes: the weights another instance moved stay
                await conn.execute("UPDATE quality_state SET frozen = $1", state.frozen)
                self._seen = stored
                return
            await conn.execute("DELETE FROM quality_weights")
            await conn.executemany(
                "INSERT INTO quality_weights VALUES ($1, $2, $3)",
                [(w.provider, w.country, w.weight) for w in state.weights],
            )
            await conn.execute(
                "UPDATE quality_state SET stepped_at = $1, frozen = $2",
                state.stepped_at,
                state.frozen,
            )
            self._seen = state.stepped_at

    async def claim_redelivery(self, message_id: str, ref: str, provider: str, reason: str) -> bool:
        row = await self.db.fetch(
            """
            WITH c AS (
                UPDATE recipients SET redelivered_from = $3, redelivery_reason = $4,
                    delivery = NULL, delivery_raw = NULL, delivery_at = NULL,
                    delivery_parts = NULL
                WHERE message_id = $1 AND ref = $2 AND provider = $3
                    AND redelivered_from IS NULL
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM c) AS claimed,
                EXISTS (SELECT 1 FROM messages WHERE id = $1) AS known
            """,
            message_id,
            ref,
            provider,
            reason,
        )
        if not row[0]["known"]:
            raise KeyError(message_id)
        return bool(row[0]["claimed"])
