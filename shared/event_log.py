"""The event log's read contract: what every reader of the PostgreSQL event store (the relay, a projection's rebuild,
`verify`) relies on, whoever wrote the events.

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
transaction holds every reader back until it ends -- keep write transactions short (the relay exposes how long it
is held back as `relay_held_seconds`).

Readers take whole transactions (`read_transactions`): the relay publishes each committed transaction as one
message (shared/events/messages.py), and a rebuild folds exactly those messages' events.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

# A connection of its own or one lent by a pool.
Conn = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


@dataclass(frozen=True, order=True)
class ReadPosition:
    """A place in the read side's order: (writing transaction id, global position)."""

    transaction_id: int
    global_position: int


START = ReadPosition(0, 0)


@dataclass(frozen=True)
class RecordedEvent:
    global_position: int
    transaction_id: int
    stream_id: str
    stream_type: str
    version: int
    event_id: uuid.UUID
    event_type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime

    @property
    def read_order(self) -> ReadPosition:
        return ReadPosition(self.transaction_id, self.global_position)


@dataclass(frozen=True)
class ReadAllResult:
    events: list[RecordedEvent]
    # Every transaction with id <= watermark has committed (or aborted) and all its events are in `events` or
    # before `after`: the position a reader has reached once it has handled this batch.
    watermark: int


@dataclass(frozen=True)
class CommittedTransaction:
    """One transaction's events (or, for a transaction larger than a read, a part of them), as JSON envelopes."""

    transaction_id: int
    last: ReadPosition  # read position of its last event here
    stream_types: tuple[str, ...]  # sorted, distinct
    event_types: tuple[str, ...]  # sorted, distinct
    events: int
    envelopes: bytes  # a JSON array of the events' envelopes, in read order
    complete: bool  # False: the transaction continues in the next read
    # The commands' correlation ids in its events' metadata (one, for a transaction a command wrote): for the logs.
    correlation_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class TransactionBatch:
    transactions: list[CommittedTransaction]
    watermark: int  # as in ReadAllResult
    full: bool  # the read stopped at its limit: more is waiting
    # Committed events wait after this read: beyond the limit, or behind a transaction still open (which sends no
    # NOTIFY when it ends): look again soon.
    waiting: bool

    @property
    def checkpoint(self) -> ReadPosition | None:
        return self.transactions[-1].last if self.transactions else None


EVENT_COLUMNS = """global_position, transaction_id::text::bigint AS transaction_id, stream_id, stream_type, version,
    event_id, event_type, schema_version, data, metadata, recorded_at"""

# Committed rows after a checkpoint, in read order. Run inside a REPEATABLE READ transaction together with
# CURRENT_XMIN, so both see the same snapshot.
READABLE = """
FROM events
WHERE (transaction_id, global_position) > ($1::text::xid8, $2)
  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY transaction_id, global_position
LIMIT $3
"""

READ_ALL = f"SELECT {EVENT_COLUMNS} {READABLE}"

# The same rows grouped by transaction, each event already its message envelope (the field names of
# shared/events/envelope.py): PostgreSQL writes the JSON, so the relay publishes text it never parses. The session
# time zone is UTC (connect()), so `recorded_at` reads as Python's isoformat() writes it. One statement, so one
# snapshot: the rows, the xmin they were read below (`xmin`, on every row, and on the one row with no transaction
# when there is nothing to read), and whether anything committed waits after them (`waiting`: behind an open
# transaction, or beyond the limit). The ORDER BY with LIMIT 1 keeps that check on the index (tests/integration/
# test_relay.py).
READ_TRANSACTIONS = """
WITH snapshot AS (
    SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin
), batch AS (
    SELECT transaction_id::text::bigint AS transaction_id, global_position, stream_type, event_type,
           metadata->>'correlation_id' AS correlation_id,
           json_build_object(
               'event_id', event_id, 'stream_id', stream_id, 'stream_type', stream_type, 'version', version,
               'global_position', global_position, 'transaction_id', transaction_id::text::bigint,
               'event_type', event_type, 'schema_version', schema_version, 'recorded_at', recorded_at,
               'data', data, 'metadata', metadata
           )::text AS envelope
    FROM events, snapshot
    WHERE (transaction_id, global_position) > ($1::text::xid8, $2)
      AND transaction_id < snapshot.xmin
    ORDER BY transaction_id, global_position
    LIMIT $3
), grouped AS (
    SELECT transaction_id,
           max(global_position) AS last_position,
           count(*) AS events,
           array_agg(DISTINCT stream_type ORDER BY stream_type) AS stream_types,
           array_agg(DISTINCT event_type ORDER BY event_type) AS event_types,
           array_remove(array_agg(DISTINCT correlation_id), NULL) AS correlation_ids,
           '[' || string_agg(envelope, ',' ORDER BY global_position) || ']' AS envelopes
    FROM batch
    GROUP BY transaction_id
)
SELECT g.*, snapshot.xmin::text::bigint AS xmin,
       EXISTS (
           SELECT 1 FROM (
               SELECT 1 FROM events
               WHERE (transaction_id, global_position) > (
                   coalesce((SELECT max(transaction_id) FROM batch)::text::xid8, $1::text::xid8),
                   coalesce((SELECT max(global_position) FROM batch
                             WHERE transaction_id = (SELECT max(transaction_id) FROM batch)), $2)
               )
               ORDER BY transaction_id, global_position
               LIMIT 1
           ) next
       ) AS waiting
FROM snapshot LEFT JOIN grouped g ON true
ORDER BY g.transaction_id
"""

CURRENT_XMIN = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


async def init_connection(conn: asyncpg.Connection) -> None:
    """jsonb as Python values, read and written with orjson."""
    await conn.set_type_codec("jsonb", encoder=_dumps, decoder=orjson.loads, schema="pg_catalog")


async def connect(dsn: str) -> asyncpg.Connection:
    """A reader's connection of its own: orjson for jsonb, timestamps in UTC."""
    conn = await asyncpg.connect(dsn, server_settings={"timezone": "UTC"})
    await init_connection(conn)
    return conn


def recorded_event(row: asyncpg.Record) -> RecordedEvent:
    return RecordedEvent(
        global_position=row["global_position"],
        transaction_id=row["transaction_id"],
        stream_id=row["stream_id"],
        stream_type=row["stream_type"],
        version=row["version"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        schema_version=row["schema_version"],
        data=row["data"],
        metadata=row["metadata"],
        recorded_at=row["recorded_at"],
    )


def _watermark(after: ReadPosition, xmin: int, unfinished: int | None) -> int:
    """Every transaction below xmin has finished and has been read, unless the read stopped in `unfinished` (a
    transaction the limit cut, which continues in the next read)."""
    watermark = (unfinished if unfinished is not None else xmin) - 1
    return max(watermark, after.transaction_id - 1 if after.transaction_id else 0)


async def read_all_on(conn: Conn, after: ReadPosition, limit: int) -> ReadAllResult:
    """Gap-free read of committed events after `after`, in read order."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        xmin = await conn.fetchval(CURRENT_XMIN)
        rows = await conn.fetch(READ_ALL, str(after.transaction_id), after.global_position, limit)
    events = [recorded_event(r) for r in rows]
    unfinished = events[-1].transaction_id if len(events) == limit else None
    return ReadAllResult(events, _watermark(after, xmin, unfinished))


async def read_transactions(conn: Conn, after: ReadPosition, limit: int) -> TransactionBatch:
    """Gap-free read of the committed transactions after `after`, at most `limit` events, whole transactions only:
    a transaction cut by the limit is left for the next read -- unless it is the only one, which is then returned
    as a part (`complete` False), continued by the next read. One statement: one round trip."""
    rows = await conn.fetch(READ_TRANSACTIONS, str(after.transaction_id), after.global_position, limit)
    xmin, waiting = rows[0]["xmin"], rows[0]["waiting"]
    transactions = [
        CommittedTransaction(
            transaction_id=r["transaction_id"],
            last=ReadPosition(r["transaction_id"], r["last_position"]),
            stream_types=tuple(r["stream_types"]),
            event_types=tuple(r["event_types"]),
            events=r["events"],
            envelopes=r["envelopes"].encode(),
            complete=True,
            correlation_ids=tuple(r["correlation_ids"]),
        )
        for r in rows
        if r["transaction_id"] is not None
    ]
    unfinished = None
    if sum(t.events for t in transactions) == limit:  # the limit may have cut the last transaction
        unfinished = transactions[-1].transaction_id
        if len(transactions) > 1:
            transactions.pop()  # read it whole next time
        else:
            transactions = [dataclasses.replace(transactions[0], complete=False)]
    watermark = _watermark(after, xmin, unfinished)
    return TransactionBatch(transactions, watermark, unfinished is not None, waiting or unfinished is not None)
