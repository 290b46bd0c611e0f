"""The PostgreSQL event store (asyncpg)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson

from write_api.event_store import queries
from write_api.event_store.errors import IdempotencyKeyTaken, WrongExpectedVersion
from write_api.event_store.records import (
    AppendResult,
    IdempotencyRecord,
    PendingIdempotency,
    ReadAllResult,
    ReadPosition,
    RecordedEvent,
    Snapshot,
    StreamAppend,
)

# A connection of its own or one lent by a pool.
Conn = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


async def init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=_dumps, decoder=orjson.loads, schema="pg_catalog")


async def create_pool(dsn: str, min_size: int = 2, max_size: int = 20) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=init_connection)
    assert pool is not None
    return pool


@asynccontextmanager
async def _translated_errors(stream_id: str, expected: int) -> AsyncIterator[None]:
    """The one place that maps the driver's unique violation to WrongExpectedVersion."""
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "events_stream_version":
            raise WrongExpectedVersion(stream_id, expected) from exc
        raise


def _recorded(row: asyncpg.Record) -> RecordedEvent:
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


class PostgresEventStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def append(self, appends: list[StreamAppend], idempotency: PendingIdempotency | None = None) -> AppendResult:
        versions: dict[str, int] = {}
        transaction_id = 0
        async with self.pool.acquire() as conn, conn.transaction():
            for item in appends:
                events = item.events
                async with _translated_errors(item.stream_id, item.expected_version):
                    row = await conn.fetchrow(
                        queries.APPEND_TO_STREAM,
                        item.stream_id,
                        item.stream_type,
                        item.expected_version,
                        [e.event_id for e in events],
                        [e.event_type for e in events],
                        [e.schema_version for e in events],
                        [e.data for e in events],
                        [e.metadata for e in events],
                    )
                assert row is not None
                if row["new_version"] < 0:
                    raise WrongExpectedVersion(item.stream_id, item.expected_version, row["current_version"])
                versions[item.stream_id] = row["new_version"]
                transaction_id = row["transaction_id"]
                if item.snapshot is not None:
                    await conn.execute(
                        queries.UPSERT_SNAPSHOT,
                        item.stream_id,
                        row["new_version"],
                        item.snapshot_schema_version,
                        item.snapshot,
                    )
            result = AppendResult(position=transaction_id, versions=versions)
            if idempotency is not None:
                await self._insert_idempotency(conn, idempotency.record(result))
        return result

    @staticmethod
    async def _insert_idempotency(conn: Conn, record: IdempotencyRecord) -> None:
        status = await conn.execute(
            queries.INSERT_IDEMPOTENCY, record.key, record.request_hash, record.status_code, record.response
        )
        if status.endswith(" 0"):
            raise IdempotencyKeyTaken(record.key)

    async def save_idempotency(self, record: IdempotencyRecord) -> None:
        async with self.pool.acquire() as conn:
            await self._insert_idempotency(conn, record)

    async def get_idempotency(self, key: str) -> IdempotencyRecord | None:
        row = await self.pool.fetchrow(queries.SELECT_IDEMPOTENCY, key)
        if row is None:
            return None
        return IdempotencyRecord(row["key"], row["request_hash"], row["status_code"], row["response"])

    async def read_stream(self, stream_id: str, after_version: int = 0) -> list[RecordedEvent]:
        rows = await self.pool.fetch(queries.READ_STREAM, stream_id, after_version)
        return [_recorded(r) for r in rows]

    async def load_snapshot(self, stream_id: str) -> Snapshot | None:
        row = await self.pool.fetchrow(queries.SELECT_SNAPSHOT, stream_id)
        if row is None:
            return None
        return Snapshot(row["stream_id"], row["version"], row["schema_version"], row["state"], row["transaction_id"])

    async def read_all(self, after: ReadPosition, limit: int) -> ReadAllResult:
        async with self.pool.acquire() as conn:
            return await read_all_on(conn, after, limit)


async def read_all_on(conn: Conn, after: ReadPosition, limit: int) -> ReadAllResult:
    """Gap-free read of committed events after `after`, in read order (see queries.py)."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        xmin = await conn.fetchval(queries.CURRENT_XMIN)
        rows = await conn.fetch(queries.READ_ALL, str(after.transaction_id), after.global_position, limit)
    events = [_recorded(r) for r in rows]
    # Below xmin every transaction has finished and we have read all of it; after a full batch, the last
    # transaction may continue in the next one.
    watermark = xmin - 1 if len(events) < limit else events[-1].transaction_id - 1
    return ReadAllResult(events, max(watermark, after.transaction_id - 1 if after.transaction_id else 0))
