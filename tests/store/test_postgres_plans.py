"""The PostgreSQL journal's statements of every message find their rows by index, so what a
message costs does not grow with the journal: checked on the plans PostgreSQL makes for a
journal of thousands of messages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

asyncpg = pytest.importorskip("asyncpg")

from router.model import (  # noqa: E402
    Attempt,
    Encoding,
    Outcome,
    RecipientResult,
    RecipientStatus,
    SendResult,
)
from router.store.deliveries import DeliverySample  # noqa: E402
from router.store.postgres import PostgresStore, leases, reports, writes  # noqa: E402

MESSAGES = 5000

FILL = """
INSERT INTO messages (id, text, encoding, segments, created_at, state, urgent)
SELECT lpad(to_hex(n), 16, '0'), 'filler', 'gsm7', 1, n, 'done', false
FROM generate_series(1, $1) AS n;
INSERT INTO recipients (message_id, position, recipient, ref, status, provider,
    provider_message_id)
SELECT lpad(to_hex(n), 16, '0'), 0, '+61412345678', lpad(to_hex(n), 16, '0') || '-0',
    'accepted', 'p', 'x' || n
FROM generate_series(1, $1) AS n;
INSERT INTO attempts (message_id, ref, seq, provider, outcome, reason, provider_message_id,
    at)
SELECT lpad(to_hex(n), 16, '0'), lpad(to_hex(n), 16, '0') || '-0', 0, 'p', 'accepted', '',
    'x' || n, n
FROM generate_series(1, $1) AS n;
ANALYZE messages, recipients, attempts;
"""
"""A journal of *MESSAGES* messages sent and done, one recipient and one attempt each."""

ONE = "0000000000000042"
REF = f"{ONE}-0"
ATTEMPT = Attempt("p", Outcome.ACCEPTED, "", "x42", None, 1.0)
RESULT = SendResult(
    message_id=ONE,
    reference=None,
    recipients=(
        RecipientResult(
            recipient="+61412345678",
            ref=REF,
            status=RecipientStatus.ACCEPTED,
            provider="p",
            provider_message_id="x42",
            attempts=(ATTEMPT,),
        ),
    ),
    encoding=Encoding.GSM7,
    segments=1,
)
STATEMENTS = {
    "started": (writes.STARTED, writes.started_args(ONE, "p", [REF], 1.0, "m0")),
    "ended": (writes.ENDED, writes.ended_args(ONE, REF, ATTEMPT)),
    "finish": (
        writes.FINISH,
        writes.finish_args(
            RESULT, [DeliverySample(provider="p", ref=REF, country="AU", sent_at=1.0)]
        ),
    ),
    "first": (writes.FIRST, ("order-1", ONE)),
    "report": (reports._BY_PROVIDER_ID, ("p", "x42")),
    "claim": (leases._CLAIM, ("me", 30.0, 8)),
    "lease": (leases._LEASE, (ONE, "me", 30.0)),
    "renew": (leases._RENEW, ("me", 30.0, [])),
    "held": (leases._HELD_DUE, ("me", 30.0, 1.0, 8)),
}


@pytest.fixture
async def journal(postgres_url: str) -> AsyncIterator[Any]:
    """A connection to a journal of thousands of messages, its statistics up to date."""
    store = PostgresStore(postgres_url)
    await store.open()  # creates the tables
    await store.close()
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute(FILL.replace("$1", str(MESSAGES)))
        yield conn
    finally:
        await conn.close()


@pytest.mark.parametrize("name", sorted(STATEMENTS))
async def test_a_statement_of_every_message_reads_no_whole_table(journal: Any, name: str) -> None:
    sql, args = STATEMENTS[name]
    plan = "\n".join(row[0] for row in await journal.fetch(f"EXPLAIN {sql}", *args))
    assert "Seq Scan" not in plan, plan
