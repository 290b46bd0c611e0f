"""Named SQL of the relay ($n parameters, no string building); the gap-free read itself is shared/event_log.py's."""

from __future__ import annotations

from write_api.event_store.queries import OLDEST_RUNNING_TRANSACTION

__all__ = ["HAS_UNREAD", "LAG", "LOAD_CHECKPOINT", "OLDEST_RUNNING_TRANSACTION", "SAVE_CHECKPOINT"]

LOAD_CHECKPOINT = """
SELECT transaction_id::text::bigint AS transaction_id, global_position FROM relay_checkpoints WHERE name = $1
"""
SAVE_CHECKPOINT = """
INSERT INTO relay_checkpoints (name, transaction_id, global_position, updated_at)
VALUES ($1, $2::text::xid8, $3, now())
ON CONFLICT (name) DO UPDATE
SET transaction_id = excluded.transaction_id, global_position = excluded.global_position, updated_at = now()
"""
# Any committed event after the checkpoint, readable or not (not yet readable: an older transaction is open): true or
# no row. Not `SELECT EXISTS (...)`: as a prepared statement that gets a generic plan, and PostgreSQL chose a scan of
# the whole table for it (the row comparison's selectivity is a guess). ORDER BY the index's columns with LIMIT 1
# keeps it on the index (tests/integration/test_relay.py).
HAS_UNREAD = """
SELECT true FROM events WHERE (transaction_id, global_position) > ($1::text::xid8, $2)
ORDER BY transaction_id, global_position
LIMIT 1
"""
LAG = """
SELECT count(*) AS events, coalesce(extract(epoch FROM now() - min(recorded_at)), 0)::float8 AS seconds
FROM events
WHERE (transaction_id, global_position) > ($1::text::xid8, $2)
  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
"""
