"""Named SQL of the PostgreSQL event store ($n parameters, no string building).

Why readers order by (transaction id, global position) and not by global position alone
----------------------------------------------------------------------------------------
`global_position` is an identity: its value is taken when the INSERT runs, not when the transaction commits.
Transaction A may take position 10, transaction B position 11, and B may commit first. A reader that saw 11 and
keeps "position > 11" as its checkpoint would never see 10 once A commits: the event is skipped forever.

Every transaction gets an id (xid8) when it first writes, and each event row records it (`transaction_id`).
`pg_snapshot_xmin(pg_current_snapshot())` is the lowest id of any transaction still running: every transaction with
a smaller id has finished, so the rows it wrote are final and no new row can ever carry such an id. Readers
therefore take only rows with `transaction_id < xmin`, in (transaction_id, global_position) order, and keep their
checkpoint as that pair. Nothing can later appear behind a checkpoint, so nothing is skipped. The price: the read
side sees transaction-id order, which is not global-position order, so every position compared against a checkpoint
(the relay's, a projection's, the read-your-writes token a write returns) is a transaction id; and one long-open
transaction holds every reader back until it ends — keep write transactions short (the relay exposes how long it is
held back as `relay_held_seconds`).
"""

from __future__ import annotations

# Appends one stream's events at the expected version, in one statement. The version check in the WHERE clause
# rejects an expectation that is ahead of the stream (which the UNIQUE constraint alone would let through as a gap);
# UNIQUE (stream_id, version) rejects the race where two writers expected the same version.
APPEND_TO_STREAM = """
WITH current_version AS (
    SELECT coalesce(max(version), 0) AS v FROM events WHERE stream_id = $1
), inserted AS (
    INSERT INTO events (stream_id, stream_type, version, event_id, event_type, schema_version, data, metadata)
    SELECT $1, $2, $3 + e.ord, e.event_id, e.event_type, e.schema_version, e.data, e.metadata
    FROM unnest($4::uuid[], $5::text[], $6::int[], $7::jsonb[], $8::jsonb[])
         WITH ORDINALITY AS e(event_id, event_type, schema_version, data, metadata, ord)
    WHERE (SELECT v FROM current_version) = $3
    RETURNING version
)
SELECT (SELECT v FROM current_version) AS current_version, coalesce(max(version), -1) AS new_version,
       pg_current_xact_id()::text::bigint AS transaction_id
FROM inserted
"""

UPSERT_SNAPSHOT = """
INSERT INTO snapshots (stream_id, version, schema_version, state, updated_at)
VALUES ($1, $2, $3, $4, now())
ON CONFLICT (stream_id) DO UPDATE
SET version = excluded.version, schema_version = excluded.schema_version, state = excluded.state,
    transaction_id = pg_current_xact_id(), updated_at = now()
WHERE snapshots.version < excluded.version
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

EVENT_COLUMNS = """global_position, transaction_id::text::bigint AS transaction_id, stream_id, stream_type, version,
    event_id, event_type, schema_version, data, metadata, recorded_at"""

READ_STREAM = f"""
SELECT {EVENT_COLUMNS} FROM events WHERE stream_id = $1 AND version > $2 ORDER BY version
"""

# Run inside a REPEATABLE READ transaction together with CURRENT_XMIN, so both see the same snapshot.
READ_ALL = f"""
SELECT {EVENT_COLUMNS} FROM events
WHERE (transaction_id, global_position) > ($1::text::xid8, $2)
  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY transaction_id, global_position
LIMIT $3
"""

CURRENT_XMIN = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"

# The oldest transaction still running that holds readers back, and for how long (for the relay's metrics).
OLDEST_RUNNING_TRANSACTION = """
SELECT coalesce(extract(epoch FROM now() - min(xact_start)), 0)::float8
FROM pg_stat_activity
WHERE backend_xid IS NOT NULL AND datname = current_database()
"""
