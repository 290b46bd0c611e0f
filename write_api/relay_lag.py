"""What the relay has published (its log line per batch) and not published yet, and what holds it back (measured on a
connection of its own every 2 s)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg
from prometheus_client import Gauge

from shared.event_log import ReadPosition, TransactionBatch, connect
from write_api.relay_queries import LAG, OLDEST_RUNNING_TRANSACTION

LAG_EVENTS = Gauge("relay_lag_events", "Committed events not yet published")
LAG_SECONDS = Gauge("relay_lag_seconds", "Age of the oldest committed event not yet published")
HELD_SECONDS = Gauge("relay_held_seconds", "Age of the oldest open writing transaction, which holds readers back")
ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
log = logging.getLogger("write_api.relay")


async def measure_lag(database_url: str, checkpoint: Callable[[], ReadPosition], stop: asyncio.Event) -> None:
    """Gauges of a dependency that cannot be measured become NaN, never a stale reading."""
    conn: asyncpg.Connection | None = None
    while not stop.is_set():
        try:
            if conn is None or conn.is_closed():
                conn = await connect(database_url)
            at = checkpoint()
            row = await conn.fetchrow(LAG, str(at.transaction_id), at.global_position)
            LAG_EVENTS.set(row["events"] if row else 0)
            LAG_SECONDS.set(row["seconds"] if row else 0)
            HELD_SECONDS.set(await conn.fetchval(OLDEST_RUNNING_TRANSACTION))
        except ERRORS:
            for gauge in (LAG_EVENTS, LAG_SECONDS, HELD_SECONDS):
                gauge.set(float("nan"))
            conn = None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 2)
    if conn is not None:
        with contextlib.suppress(Exception):
            await conn.close(timeout=2)


def log_published(batch: TransactionBatch, events: int) -> None:
    """One line per published batch (not per transaction: the relay's cost is per message), with every correlation
    id in it, so that a grep for a command's id finds the batch that published it."""
    if log.isEnabledFor(logging.INFO):
        transactions = [t.transaction_id for t in batch.transactions]
        log.info(
            "published %d transactions (%d events), %d to %d",
            len(transactions),
            events,
            transactions[0],
            transactions[-1],
            extra={
                "transactions": transactions,
                "correlation_ids": sorted({c for t in batch.transactions for c in t.correlation_ids}),
                "events": events,
            },
        )
