"""The PostgreSQL event journal's schema and statements (:mod:`router.webhooks.postgres`
runs them), and its rows read back as deliveries.

Deliveries carry their lease: ``leased_by`` (an instance's name) and ``lease_until`` (on
the database's clock), set together by ``DUE`` and cleared together by a post recorded,
a re-queue or a release.
"""

from __future__ import annotations

from typing import Any

from router.model import EventType
from router.webhooks.journal import DeliveryState

PART = "events"
"""The event journal's name in the schema versions (``smsrouter_schema``)."""

STEPS: tuple[str, ...] = (
    """
    CREATE TABLE webhook_events (
        id text PRIMARY KEY,
        type text NOT NULL,
        created_at double precision NOT NULL,
        data text NOT NULL
    );
    CREATE TABLE webhook_deliveries (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        event_id text NOT NULL REFERENCES webhook_events (id),
        webhook text NOT NULL,
        state text NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
        attempts integer NOT NULL,
        queued_at double precision NOT NULL,
        next_at double precision,
        last_at double precision,
        last_status integer,
        last_error text,
        delivered_at double precision,
        leased_by text,
        lease_until timestamptz,
        UNIQUE (event_id, webhook)
    );
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_at, seq)
        WHERE state = 'pending';
    CREATE INDEX webhook_deliveries_delivered ON webhook_deliveries (delivered_at)
        WHERE state = 'delivered';
    """,
)
"""The schema's steps, oldest first: each takes it from its index to the next version."""

COLUMNS = (
    "d.seq, d.event_id, d.webhook, d.state, d.attempts, d.queued_at, d.next_at, d.last_at,"
    " d.last_status, d.last_error, d.delivered_at, e.type, e.created_at, e.data"
)
SELECT = f"SELECT {COLUMNS} FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id"  # noqa: S608 - fixed SQL

DUE = f"""
WITH picked AS (
    SELECT seq FROM webhook_deliveries
    WHERE state = 'pending' AND next_at <= $1 AND webhook <> ALL($2::text[])
        AND (leased_by IS NULL OR leased_by = $3 OR lease_until <= now())
    ORDER BY next_at, seq
    LIMIT $4
    FOR UPDATE SKIP LOCKED
), d AS (
    UPDATE webhook_deliveries w
    SET leased_by = $3, lease_until = now() + make_interval(secs => $5)
    FROM picked WHERE w.seq = picked.seq
    RETURNING w.*
)
SELECT {COLUMNS} FROM d JOIN webhook_events e ON e.id = d.event_id ORDER BY d.next_at, d.seq
"""  # noqa: S608 - fixed SQL
"""Lease the deliveries due that no other live instance holds, and read them."""

NEXT_DUE = """
SELECT min(CASE WHEN next_at > $1 THEN next_at
                ELSE $1 + extract(epoch FROM lease_until - now())::double precision END)
FROM webhook_deliveries
WHERE state = 'pending'
    AND (next_at > $1 OR (leased_by <> $2 AND lease_until > now()))
"""
"""The next time something is due here: a delivery coming due, or another instance's lease
on a due one running out (in seconds from *after*, the database's clock being the judge)."""


ADD_EVENT = (
    "INSERT INTO webhook_events (id, type, created_at, data) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT (id) DO UPDATE SET id = excluded.id WHERE false"
)
"""Journal an event once. DO UPDATE ... WHERE false writes nothing but locks the event's
row till the transaction ends, so a prune cannot delete it under the deliveries added."""

ADD_DELIVERIES = (
    "INSERT INTO webhook_deliveries (event_id, webhook, state, attempts, queued_at, next_at)"
    " SELECT $1, name, 'pending', 0, $2, $2"
    " FROM unnest($3::text[]) WITH ORDINALITY AS given (name, n) ORDER BY n"
    " ON CONFLICT (event_id, webhook) DO NOTHING RETURNING seq"
)
"""A pending delivery of event $1 to each webhook of $3 not journalled before, due at $2."""

RENEW = (
    "UPDATE webhook_deliveries SET lease_until = now() + make_interval(secs => $3)"
    " WHERE seq = ANY($1::bigint[]) AND leased_by = $2 AND state = 'pending' RETURNING seq"
)
RELEASE = (
    "WITH given AS (UPDATE webhook_deliveries SET leased_by = NULL, lease_until = NULL"
    " WHERE seq = ANY($1::bigint[]) AND leased_by = $2 RETURNING 1)"
    " SELECT count(*) AS n, pg_notify($3, $2) FROM given HAVING count(*) > 0"
)
"""Give deliveries up, telling the instances listening on channel $3 (``CHANNEL``)."""
CHANNEL = "smsrouter_webhook_deliveries"
"""Where an instance that gives deliveries up says so, its name as the payload."""
REQUEUE = (
    "UPDATE webhook_deliveries SET state = 'pending', queued_at = $1, next_at = $1,"
    " leased_by = NULL, lease_until = NULL"
    " WHERE event_id = $2 AND state = 'dead' AND ($3::text IS NULL OR webhook = $3)"
)
DELIVERED = (
    "state = 'delivered', next_at = NULL, last_at = $1, last_status = $2,"
    " last_error = NULL, delivered_at = $1"
)
FAILED = "state = $1, next_at = $2, last_at = $3, last_status = $4, last_error = $5"
BY_EVENT = f"{SELECT} WHERE d.event_id = $1 ORDER BY d.seq"
PRUNE_DELIVERIES = "DELETE FROM webhook_deliveries WHERE state = 'delivered' AND delivered_at < $1"
ORPHANS = (
    "SELECT id FROM webhook_events e WHERE NOT EXISTS"
    " (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id) FOR UPDATE SKIP LOCKED"
)
"""Lock the events left with no delivery, skipping any an ``add`` holds."""
PRUNE_EVENTS = (
    "DELETE FROM webhook_events e WHERE e.id = ANY($1::text[]) AND NOT EXISTS"
    " (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id)"
)
"""Delete the events locked by ``ORPHANS``, looking again after the locks were taken."""


def record(sets: str, values: int) -> str:
    """The update that records a post: *sets* (with $1 to $*values*), one more attempt, the
    lease cleared; the delivery is named by the next two placeholders."""
    return (
        "UPDATE webhook_deliveries SET attempts = attempts + 1, leased_by = NULL,"  # noqa: S608 - fixed SQL
        f" lease_until = NULL, {sets}"
        f" WHERE event_id = ${values + 1} AND webhook = ${values + 2}"
    )


def listing(
    state: DeliveryState | None, type: EventType | None, webhook: str | None, before: int | None
) -> tuple[str, list[Any]]:
    """The query of a page of deliveries, newest first, its limit the last placeholder; and
    its other values."""
    where, params = ["true"], []
    for clause, value in (
        ("d.state = ${}", None if state is None else state.value),
        ("e.type = ${}", None if type is None else type.value),
        ("d.webhook = ${}", webhook),
        ("d.seq < ${}", before),
    ):
        if value is not None:
            params.append(value)
            where.append(clause.format(len(params)))
    sql = f"{SELECT} WHERE {' AND '.join(where)} ORDER BY d.seq DESC LIMIT ${len(params) + 1}"
    return sql, params


def count(status: str) -> int:
    """The row count of a command's status (``UPDATE 3`` -> 3)."""
    return int(status.rpartition(" ")[2])
