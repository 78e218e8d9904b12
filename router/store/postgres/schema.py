"""The message journal's tables on PostgreSQL: the steps of its part (``journal``) of the
schema versions (:mod:`router.store.postgres.versions`).

Columns a listing is ordered by sort by code point (``COLLATE "C"``), as the other stores
sort, whatever the database's locale. Times from the router's clock are ``double
precision`` seconds, as the other stores keep them; the leases alone are ``timestamptz`` on
the database's clock, so instances whose clocks disagree still agree on when a lease runs
out.
"""

from __future__ import annotations

PART = "journal"
"""This journal's name among the schema versions."""

STEPS: tuple[str, ...] = (
    """
    CREATE TABLE messages (
        seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
        id text COLLATE "C" PRIMARY KEY,
        reference text UNIQUE,
        text text NOT NULL,
        sender text,
        providers text[],
        encoding text NOT NULL,
        segments integer NOT NULL,
        created_at double precision NOT NULL,
        state text NOT NULL,
        send_at double precision,
        expires_at double precision,
        urgent boolean NOT NULL,
        callback_url text,
        wake_at double precision,
        lease_owner text,
        lease_until timestamptz
    );
    CREATE INDEX messages_unfinished ON messages (seq) WHERE state <> 'done';
    CREATE INDEX messages_held ON messages (wake_at) WHERE state = 'held';
    CREATE INDEX messages_created ON messages (created_at, id);
    CREATE INDEX messages_lease_owner ON messages (lease_owner) WHERE lease_owner IS NOT NULL;

    CREATE TABLE recipients (
        message_id text NOT NULL REFERENCES messages (id),
        position integer NOT NULL,
        recipient text NOT NULL,
        ref text NOT NULL,
        status text,
        provider text,
        provider_message_id text,
        in_flight text,
        in_flight_at double precision,
        delivery text,
        delivery_raw text,
        delivery_at double precision,
        delivery_parts text[],
        cost text,
        reason text NOT NULL DEFAULT '',
        due_at double precision,
        redelivered_from text,
        redelivery_reason text,
        PRIMARY KEY (message_id, position),
        UNIQUE (message_id, ref)
    );
    CREATE INDEX recipients_provider_id ON recipients (provider, provider_message_id)
        WHERE provider_message_id IS NOT NULL;

    -- An attempt's number is its place among its recipient's; a result's account replaces
    -- them all in one statement, so the number is indexed, not unique.
    CREATE TABLE attempts (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        message_id text NOT NULL REFERENCES messages (id),
        ref text NOT NULL,
        seq integer NOT NULL,
        provider text NOT NULL,
        outcome text NOT NULL,
        reason text NOT NULL,
        provider_message_id text,
        kind text,
        at double precision NOT NULL
    );
    CREATE INDEX attempts_recipient ON attempts (message_id, ref, seq);
    CREATE INDEX attempts_provider_id ON attempts (provider, provider_message_id)
        WHERE provider_message_id IS NOT NULL;

    CREATE TABLE inbound (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        provider text NOT NULL,
        sender text NOT NULL,
        recipient text NOT NULL,
        text text NOT NULL,
        provider_message_id text,
        in_reply_to text,
        at double precision,
        answers text,
        received_at double precision NOT NULL
    );
    CREATE UNIQUE INDEX inbound_provider_id ON inbound (provider, provider_message_id)
        WHERE provider_message_id IS NOT NULL;
    CREATE INDEX inbound_received ON inbound (received_at);

    CREATE TABLE optouts (
        number text COLLATE "C" PRIMARY KEY,
        at double precision NOT NULL,
        provider text,
        source text NOT NULL
    );

    -- The providers' budgets across restarts (operation '' holds every call).
    CREATE TABLE budget_calls (
        provider text NOT NULL,
        operation text NOT NULL,
        started double precision NOT NULL,
        ended double precision,
        PRIMARY KEY (provider, operation, started)
    );
    CREATE INDEX budget_calls_at ON budget_calls (coalesce(ended, started));
    CREATE TABLE budget_holds (
        provider text NOT NULL,
        operation text NOT NULL,
        until double precision NOT NULL,
        PRIMARY KEY (provider, operation)
    );

    -- Operators' actions on providers, the suspensions in force, ingress notes.
    CREATE TABLE admin_actions (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        provider text NOT NULL,
        kind text NOT NULL,
        reason text NOT NULL,
        at double precision NOT NULL
    );
    CREATE INDEX admin_actions_provider ON admin_actions (provider, seq);
    CREATE TABLE suspensions (
        provider text COLLATE "C" PRIMARY KEY,
        reason text NOT NULL,
        since double precision NOT NULL
    );
    CREATE TABLE ingress_notes (
        message_id text PRIMARY KEY,
        ingress text NOT NULL,
        fields text NOT NULL,
        at double precision NOT NULL
    );

    -- Delivery statistics (a final report may come before its send is counted: its row
    -- waits without a country or send time), and the learnt weights.
    CREATE TABLE deliveries (
        provider text COLLATE "C" NOT NULL,
        ref text NOT NULL,
        country text COLLATE "C",
        sent_at double precision,
        status text,
        final_at double precision,
        PRIMARY KEY (provider, ref)
    );
    CREATE INDEX deliveries_sent ON deliveries (coalesce(sent_at, final_at));
    CREATE TABLE quality_weights (
        provider text COLLATE "C" NOT NULL,
        country text COLLATE "C" NOT NULL,
        weight double precision NOT NULL,
        PRIMARY KEY (provider, country)
    );
    CREATE TABLE quality_state (
        id integer PRIMARY KEY CHECK (id = 1),
        stepped_at double precision,
        frozen boolean NOT NULL
    );
    """,
    # The message an in-flight call went by, when it coalesced several messages.
    "ALTER TABLE recipients ADD COLUMN in_flight_via text",
)
"""The journal's steps, the first one first: a new step is appended, never edited."""
