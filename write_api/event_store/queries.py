"""Named SQL of the PostgreSQL event store's write side ($n parameters, no string building).

Readers of the whole log (read_all, the relay, rebuilds) use the gap-free read of shared/event_log.py, whose
docstring explains why positions are transaction ids.
"""

from __future__ import annotations

from shared.event_log import EVENT_COLUMNS

# Appends to several streams at their expected versions, with their snapshots and an optional idempotency record,
# in ONE statement (so one round trip and one implicit transaction). The streams to check ($1), the events ($2) and
# the snapshots ($3) come as JSON arrays of objects: one orjson call each in the write API, where the driver would
# encode and type-check every element of a dozen array parameters in Python (the write API's CPU is what limits how
# many orders it takes, PostgreSQL's JSON parser is cheap). Nothing is written unless every stream is at
# its expected version; UNIQUE (stream_id, version) rejects the race where two writers expected the same version,
# and the idempotency key's primary key rejects a concurrent request with the same key. The idempotency response
# gets the writing transaction's id as its "position" (known only inside the statement).
# $1 also carries the streams the command only read (a product whose price an order takes): one that has moved since
# fails the append like a written one. (One that changes after this statement's snapshot but before its commit is
# no anomaly: the command is then ordered before that change, which reads nothing the command writes.)
APPEND = """
WITH expected AS (
    SELECT x.stream_id, x.expected_version, x.ord,
           coalesce((SELECT max(e.version) FROM events e WHERE e.stream_id = x.stream_id), 0) AS actual
    FROM ROWS FROM (json_to_recordset($1::json) AS (stream_id text, expected_version bigint))
         WITH ORDINALITY AS x(stream_id, expected_version, ord)
), verdict AS (
    SELECT coalesce(bool_and(actual = expected_version), true) AS ok FROM expected
), inserted AS (
    INSERT INTO events (stream_id, stream_type, version, event_id, event_type, schema_version, data, metadata)
    SELECT n.stream_id, n.stream_type, n.version, n.event_id, n.event_type, n.schema_version, n.data, n.metadata
    FROM ROWS FROM (
            json_to_recordset($2::json) AS (stream_id text, stream_type text, version bigint, event_id uuid,
                                            event_type text, schema_version int, data jsonb, metadata jsonb)
         ) WITH ORDINALITY AS n(stream_id, stream_type, version, event_id, event_type, schema_version, data, metadata,
                                ord)
    WHERE (SELECT ok FROM verdict)
    ORDER BY n.ord
    RETURNING 1
), snapshot_rows AS (
    INSERT INTO snapshots (stream_id, version, schema_version, state, updated_at)
    SELECT s.stream_id, s.version, s.schema_version, s.state, now()
    FROM json_to_recordset($3::json) AS s(stream_id text, version bigint, schema_version int, state jsonb)
    WHERE (SELECT ok FROM verdict)
    ON CONFLICT (stream_id) DO UPDATE
    SET version = excluded.version, schema_version = excluded.schema_version, state = excluded.state,
        transaction_id = pg_current_xact_id(), updated_at = now()
    WHERE snapshots.version < excluded.version
    RETURNING 1
), idempotency AS (
    INSERT INTO idempotency_keys (key, request_hash, status_code, response)
    SELECT $4::text, $5::text, $6::int,
           CASE WHEN $7::jsonb ? 'position'
                THEN $7::jsonb || jsonb_build_object('position', pg_current_xact_id()::text::bigint)
                ELSE $7::jsonb END
    WHERE $4::text IS NOT NULL AND (SELECT ok FROM verdict)
    RETURNING 1
)
SELECT (SELECT ok FROM verdict) AS ok,
       (SELECT array_agg(actual ORDER BY ord) FROM expected) AS actual_versions,
       (SELECT count(*) FROM inserted) AS inserted,
       pg_current_xact_id()::text::bigint AS transaction_id
"""

# Latest snapshot and head version of several streams at once (the head tells whether events follow the snapshot).
LOAD_STREAMS = """
SELECT x.stream_id, s.version, s.schema_version, s.state, s.transaction_id::text::bigint AS transaction_id,
       coalesce((SELECT max(e.version) FROM events e WHERE e.stream_id = x.stream_id), 0) AS head
FROM unnest($1::text[]) AS x(stream_id)
LEFT JOIN snapshots s ON s.stream_id = x.stream_id
"""

INSERT_IDEMPOTENCY = """
INSERT INTO idempotency_keys (key, request_hash, status_code, response) VALUES ($1, $2, $3, $4)
ON CONFLICT (key) DO NOTHING
"""

SELECT_IDEMPOTENCY = "SELECT key, request_hash, status_code, response FROM idempotency_keys WHERE key = $1"

SELECT_SNAPSHOT = """
SELECT stream_id, version, schema_version, state, transaction_id::text::bigint AS transaction_id
FROM snapshots WHERE stream_id = $1
"""

READ_STREAM = f"""
SELECT {EVENT_COLUMNS} FROM events WHERE stream_id = $1 AND version > $2 ORDER BY version
"""

# The oldest transaction still running that holds readers back, and for how long (for the relay's metrics).
# Server-wide: pg_snapshot_xmin covers the transactions of every database, so any of them holds readers back.
OLDEST_RUNNING_TRANSACTION = """
SELECT coalesce(extract(epoch FROM now() - min(xact_start)), 0)::float8
FROM pg_stat_activity
WHERE backend_xid IS NOT NULL
"""
