-- The append-only event store, its snapshots, idempotency records and the relay's checkpoint.

CREATE TABLE events (
    global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id       text        NOT NULL,
    stream_type     text        NOT NULL,
    version         bigint      NOT NULL CHECK (version > 0),
    event_id        uuid        NOT NULL UNIQUE,
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL,
    data            jsonb       NOT NULL,
    metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    -- The writing transaction: readers order by (transaction_id, global_position); see queries.py.
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    -- Optimistic concurrency: two writers that read the same stream version cannot both append.
    CONSTRAINT events_stream_version UNIQUE (stream_id, version)
);

CREATE INDEX events_read_order ON events (transaction_id, global_position);

-- Latest state of a stream, written in the same transaction as its events, so loading is O(1) in stream length.
CREATE TABLE snapshots (
    stream_id      text        PRIMARY KEY,
    version        bigint      NOT NULL,
    schema_version integer     NOT NULL,
    state          jsonb       NOT NULL,
    -- The transaction that wrote the snapshot's last event: the position of a command that changes nothing.
    transaction_id xid8        NOT NULL DEFAULT pg_current_xact_id(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Idempotency-Key records, written in the same transaction as the events the command appended.
CREATE TABLE idempotency_keys (
    key          text        PRIMARY KEY,
    request_hash text        NOT NULL,
    status_code  integer     NOT NULL,
    response     jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Where each relay (by name) has published up to, as a read-order pair.
CREATE TABLE relay_checkpoints (
    name            text        PRIMARY KEY,
    transaction_id  xid8        NOT NULL,
    global_position bigint      NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Wakes the relay as soon as events commit (NOTIFY is delivered at commit, once per transaction and channel).
CREATE FUNCTION events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('events_appended', '');
    RETURN NULL;
END $$;

CREATE TRIGGER events_notify AFTER INSERT ON events FOR EACH STATEMENT EXECUTE FUNCTION events_notify();
