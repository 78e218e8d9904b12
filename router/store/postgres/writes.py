"""The statements that journal a message on PostgreSQL: its rows when it is accepted, its
attempts, and its result. Each is one statement, so one round trip and one commit.

A new message is inserted with ``ON CONFLICT DO NOTHING`` on its id and its reference: of
two instances adding one reference at the same moment, one inserts and the other waits for
that commit, inserts nothing, and reads the first message.
"""

from __future__ import annotations

from collections.abc import Sequence

from router.model import Attempt, Message, Recipient, RecipientStatus, SendResult
from router.store.base import MessageState
from router.store.deliveries import DeliverySample
from router.store.postgres.leases import UNTIL

ADD = f"""
WITH m AS (
    INSERT INTO messages (id, reference, text, sender, providers, encoding, segments,
        created_at, state, send_at, expires_at, urgent, callback_url, lease_owner, lease_until)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, {UNTIL.format("$15")})
    ON CONFLICT DO NOTHING
    RETURNING id
), r AS (
    INSERT INTO recipients (message_id, position, recipient, ref, in_flight, in_flight_at)
    SELECT m.id, u.position - 1, u.recipient, u.ref, $18, $19
    FROM m, unnest($16::text[], $17::text[]) WITH ORDINALITY AS u (recipient, ref, position)
)
SELECT count(*) FROM m
"""  # noqa: S608 - fixed SQL
"""Insert a message and its recipients unless its id or reference is taken; 1 or 0."""


def add_args(
    message: Message,
    recipients: Sequence[Recipient],
    encoding: str,
    segments: int,
    now: float,
    started: str | None,
    owner: str,
    lease: float,
) -> tuple[object, ...]:
    """The values of :data:`ADD`."""
    state = MessageState.QUEUED if started is None else MessageState.SENDING
    return (
        message.id,
        message.reference,
        message.text,
        message.sender,
        None if message.providers is None else list(message.providers),
        encoding,
        segments,
        now,
        state.value,
        message.send_at,
        message.expires_at,
        message.urgent,
        message.callback_url,
        owner,
        lease,
        [r.e164 for r in recipients],
        [r.ref for r in recipients],
        started,
        None if started is None else now,
    )


FIRST = """
SELECT id FROM messages WHERE reference = $1
UNION ALL
SELECT id FROM messages WHERE id = $2
LIMIT 1
"""
"""The message a new one repeats: the one with its reference, else the one with its id."""

_SENDING = "CASE WHEN state = 'queued' THEN 'sending' ELSE state END"

STARTED = f"""
WITH m AS (
    UPDATE messages SET state = {_SENDING} WHERE id = $1 RETURNING id
), r AS (
    UPDATE recipients SET in_flight = $2, in_flight_at = $3, in_flight_via = $5
    WHERE message_id = $1 AND ref = ANY($4::text[]) AND EXISTS (SELECT FROM m)
)
SELECT count(*) FROM m
"""  # noqa: S608 - fixed SQL
"""Mark recipients in flight (the message sending), by the message their call went by
when it is another's; 0 when there is no such message."""


def started_args(
    message_id: str, provider: str, refs: Sequence[str], now: float | None, via: str | None
) -> tuple[object, ...]:
    """The values of :data:`STARTED`."""
    return (message_id, provider, now, list(refs), via)


ENDED = f"""
WITH r AS (
    UPDATE recipients SET in_flight = NULL, in_flight_at = NULL, in_flight_via = NULL
    WHERE message_id = $1 AND ref = $2
    RETURNING message_id
), m AS (
    UPDATE messages SET state = {_SENDING} WHERE id = $1 AND EXISTS (SELECT FROM r)
), a AS (
    INSERT INTO attempts (message_id, ref, seq, provider, outcome, reason,
        provider_message_id, kind, at)
    SELECT $1, $2, (SELECT count(*) FROM attempts WHERE message_id = $1 AND ref = $2),
        $3, $4, $5, $6, $7, $8
    FROM r
)
SELECT count(*) FROM r
"""  # noqa: S608 - fixed SQL
"""Record one attempt of one recipient and clear its in-flight mark; 0 when there is no
such recipient."""


def ended_args(message_id: str, ref: str, attempt: Attempt) -> tuple[object, ...]:
    """The values of :data:`ENDED`."""
    return (
        message_id,
        ref,
        attempt.provider,
        attempt.outcome.value,
        attempt.reason,
        attempt.provider_message_id,
        None if attempt.kind is None else attempt.kind.value,
        attempt.at,
    )


_SAMPLES = """
INSERT INTO deliveries (provider, ref, country, sent_at)
SELECT * FROM unnest({}::text[], {}::text[], {}::text[], {}::float8[])
ON CONFLICT (provider, ref) DO UPDATE SET country = excluded.country,
    sent_at = excluded.sent_at WHERE deliveries.sent_at IS NULL
"""

SAMPLES = _SAMPLES.format("$1", "$2", "$3", "$4")
"""Count accepted sends; one counted before is not counted again."""


def samples_args(samples: Sequence[DeliverySample]) -> tuple[object, ...]:
    """The values of :data:`SAMPLES`."""
    return (
        [s.provider for s in samples],
        [s.ref for s in samples],
        [s.country for s in samples],
        [s.sent_at for s in samples],
    )


FINISH = f"""
WITH m AS (
    UPDATE messages SET state = CASE WHEN $2 THEN 'held' ELSE 'done' END,
        wake_at = CASE WHEN $2 THEN least(
            $3::float8,
            (SELECT min(coalesce(due_at, 0)) FROM recipients
             WHERE message_id = $1 AND status = 'scheduled' AND ref <> ALL($4::text[])),
            expires_at) END,
        lease_owner = NULL, lease_until = NULL
    WHERE id = $1
    RETURNING id
), r AS (
    UPDATE recipients SET status = u.status, provider = u.provider,
        provider_message_id = u.provider_message_id, cost = u.cost, reason = u.reason,
        due_at = u.due_at, in_flight = NULL, in_flight_at = NULL, in_flight_via = NULL
    FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
        $10::float8[]) AS u (ref, status, provider, provider_message_id, cost, reason, due_at)
    WHERE recipients.message_id = $1 AND recipients.ref = u.ref AND EXISTS (SELECT FROM m)
), gone AS (
    DELETE FROM attempts
    WHERE message_id = $1 AND ref = ANY($4::text[]) AND EXISTS (SELECT FROM m)
), a AS (
    INSERT INTO attempts (message_id, ref, seq, provider, outcome, reason,
        provider_message_id, kind, at)
    SELECT m.id, u.ref, u.seq, u.provider, u.outcome, u.reason, u.provider_message_id,
        u.kind, u.at
    FROM m, unnest($11::text[], $12::int[], $13::text[], $14::text[], $15::text[],
        $16::text[], $17::text[], $18::float8[])
        AS u (ref, seq, provider, outcome, reason, provider_message_id, kind, at)
), s AS ({_SAMPLES.format("$19", "$20", "$21", "$22")})
SELECT count(*) FROM m
"""  # noqa: S608 - fixed SQL
"""Record every recipient's result, replace its attempts with the result's account, count
the accepted sends, and mark the message done (or held, due at its soonest scheduled
recipient or its expiry), its lease given up; 0 when there is no such message."""


def finish_args(result: SendResult, sent: Sequence[DeliverySample]) -> tuple[object, ...]:
    """The values of :data:`FINISH`."""
    rs = result.recipients
    scheduled = [r for r in rs if r.status is RecipientStatus.SCHEDULED]
    due = min((r.scheduled_at or 0.0 for r in scheduled), default=None)
    attempts = [(r.ref, seq, a) for r in rs for seq, a in enumerate(r.attempts)]
    return (
        result.message_id,
        bool(scheduled),
        due,
        [r.ref for r in rs],
        [r.status.value for r in rs],
        [r.provider for r in rs],
        [r.provider_message_id for r in rs],
        [None if r.cost is None else str(r.cost) for r in rs],
        [r.reason for r in rs],
        [r.scheduled_at for r in rs],
        [ref for ref, _, _ in attempts],
        [seq for _, seq, _ in attempts],
        [a.provider for _, _, a in attempts],
        [a.outcome.value for _, _, a in attempts],
        [a.reason for _, _, a in attempts],
        [a.provider_message_id for _, _, a in attempts],
        [None if a.kind is None else a.kind.value for _, _, a in attempts],
        [a.at for _, _, a in attempts],
        *samples_args(sent),
    )
