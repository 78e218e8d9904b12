"""The operators' journal (:class:`~router.store.admin.AdminJournal`) in the SQLite file.

Its tables come with the schema migration :data:`ADMIN_MIGRATION` (in
:data:`router.store._schema.MIGRATIONS`); every read and write goes through the store's one
writer thread.
"""

from __future__ import annotations

import json
import sqlite3

from router.store._sqlite import JournalWriter
from router.store.admin import AdminAction, AdminJournal, AdminKind, IngressNote, Suspension

ADMIN_MIGRATION: tuple[str, ...] = (
    # Operators' actions on providers (suspend, resume, reset), the suspensions in force,
    # and what an ingress keeps beside a message to call its client back.
    """CREATE TABLE admin_actions (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        provider TEXT NOT NULL,
        kind TEXT NOT NULL,
        reason TEXT NOT NULL,
        at REAL NOT NULL
    )""",
    "CREATE INDEX admin_actions_provider ON admin_actions (provider, seq)",
    """CREATE TABLE suspensions (
        provider TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        since REAL NOT NULL
    )""",
    """CREATE TABLE ingress_notes (
        message_id TEXT PRIMARY KEY,
        ingress TEXT NOT NULL,
        fields TEXT NOT NULL,
        at REAL NOT NULL
    )""",
)
"""The migration step that adds the operators' tables."""


class SQLiteAdminJournal(AdminJournal):
    """The operators' journal in the SQLite store's file, through its *writer*."""

    writer: JournalWriter

    async def record_admin(self, action: AdminAction) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO admin_actions (provider, kind, reason, at) VALUES (?, ?, ?, ?)",
                (action.provider, action.kind.value, action.reason, action.at),
            )
            if action.kind is AdminKind.SUSPEND:
                conn.execute(
                    "INSERT INTO suspensions VALUES (?, ?, ?)"
                    " ON CONFLICT (provider) DO UPDATE SET reason = excluded.reason",
                    (action.provider, action.reason, action.at),
                )
            elif action.kind is AdminKind.RESUME:
                conn.execute("DELETE FROM suspensions WHERE provider = ?", (action.provider,))

        await self.writer.run(work)

    async def suspensions(self) -> dict[str, Suspension]:
        def work(conn: sqlite3.Connection) -> dict[str, Suspension]:
            rows = conn.execute("SELECT * FROM suspensions ORDER BY provider")
            return {r["provider"]: Suspension(r["provider"], r["reason"], r["since"]) for r in rows}

        return await self.writer.run(work)

    async def admin_actions(
        self, *, provider: str | None = None, limit: int = 50
    ) -> list[AdminAction]:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")

        def work(conn: sqlite3.Connection) -> list[AdminAction]:
            rows = conn.execute(
                "SELECT * FROM admin_actions WHERE ? IS NULL OR provider = ?"
                " ORDER BY seq DESC LIMIT ?",
                (provider, provider, limit),
            )
            return [
                AdminAction(r["provider"], AdminKind(r["kind"]), r["reason"], r["at"]) for r in rows
            ]

        return await self.writer.run(work)

    async def add_ingress_note(self, note: IngressNote) -> None:
        fields = json.dumps(dict(note.fields), sort_keys=True)
        await self.writer.run(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO ingress_notes VALUES (?, ?, ?, ?)",
                (note.message_id, note.ingress, fields, note.at),
            )
        )

    async def ingress_note(self, message_id: str) -> IngressNote | None:
        def work(conn: sqlite3.Connection) -> IngressNote | None:
            row = conn.execute(
                "SELECT * FROM ingress_notes WHERE message_id = ?", (message_id,)
            ).fetchone()
            if row is None:
                return None
            fields = json.loads(row["fields"])
            return IngressNote(row["message_id"], row["ingress"], fields, row["at"])

        return await self.writer.run(work)
