"""Named SQL of the relay ($n parameters, no string building); the gap-free read itself is shared/event_log.py's."""

from __future__ import annotations

from write_api.event_store.queries import OLDEST_RUNNING_TRANSACTION

__all__ = ["LAG", "LOAD_CHECKPOINT", "OLDEST_RUNNING_TRANSACTION", "SAVE_CHECKPOINT"]

LOAD_CHECKPOINT = """
SELECT transaction_id::text::bigint AS transaction_id, global_position FROM relay_checkpoints WHERE name = $1
"""
SAVE_CHECKPOINT = """
INSERT INTO relay_checkpoints (name, transaction_id, global_position, updated_at)
VALUES ($1, $2::text::xid8, $3, now())
ON CONFLICT (name) DO UPDATE
SET transaction_id = excluded.transaction_id, global_position = excluded.global_position, updated_at = now()
"""
LAG = """
SELECT count(*) AS events, coalesce(extract(epoch FROM now() - min(recorded_at)), 0)::float8 AS seconds
FROM events
WHERE (transaction_id, global_position) > ($1::text::xid8, $2)
  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
"""
