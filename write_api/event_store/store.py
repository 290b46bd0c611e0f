"""The PostgreSQL event store (asyncpg)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg
import orjson

from shared.event_log import Conn, init_connection, read_all_on, recorded_event
from write_api.event_store import queries
from write_api.event_store.connections import Connections
from write_api.event_store.errors import DuplicateEvent, IdempotencyKeyTaken, WrongExpectedVersion
from write_api.event_store.records import (
    AppendResult,
    IdempotencyRecord,
    ReadAllResult,
    ReadPosition,
    RecordedEvent,
    Snapshot,
    StreamAppend,
    StreamHead,
    expected_versions,
)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


async def connect(dsn: str) -> asyncpg.Connection:
    """A connection with the store's codecs (JSON documents as dicts, through orjson)."""
    conn = await asyncpg.connect(dsn)
    await init_connection(conn)
    return conn


def _translated(
    exc: asyncpg.UniqueViolationError, appends: list[StreamAppend], record: IdempotencyRecord | None
) -> Exception:
    """The one place that maps the driver's unique violations to the store's errors."""
    if exc.constraint_name == "events_stream_version":
        detail = exc.detail or ""
        stream = next((a for a in appends if f"({a.stream_id}," in detail), appends[0])
        return WrongExpectedVersion(stream.stream_id, stream.expected_version)
    if exc.constraint_name == "idempotency_keys_pkey" and record is not None:
        return IdempotencyKeyTaken(record.key)
    if exc.constraint_name == "events_event_id_key":
        return DuplicateEvent(
            [str(e.event_id) for a in appends for e in a.events if str(e.event_id) in (exc.detail or "")]
        )
    return exc


class PostgresEventStore:
    """Every statement goes through `connections` (the write API's ConnectionPool)."""

    def __init__(self, connections: Connections) -> None:
        self.connections = connections

    async def append(
        self,
        appends: list[StreamAppend],
        idempotency: IdempotencyRecord | None = None,
        reads: Mapping[str, int] | None = None,
    ) -> AppendResult:
        checked = expected_versions(appends, reads)
        versions = {a.stream_id: a.expected_version + len(a.events) for a in appends}
        events = [(a, e, a.expected_version + i) for a in appends for i, e in enumerate(a.events, start=1)]
        snapshots = [a for a in appends if a.snapshot is not None]
        checks = [{"stream_id": stream_id, "expected_version": version} for stream_id, version in checked]
        rows = [
            {
                "stream_id": a.stream_id,
                "stream_type": a.stream_type,
                "version": version,
                "event_id": e.event_id,
                "event_type": e.event_type,
                "schema_version": e.schema_version,
                "data": e.data,
                "metadata": e.metadata,
            }
            for a, e, version in events
        ]
        snapshot_rows = [
            {
                "stream_id": a.stream_id,
                "version": versions[a.stream_id],
                "schema_version": a.snapshot_schema_version,
                "state": a.snapshot,
            }
            for a in snapshots
        ]
        try:
            row = await self.connections.fetchrow(
                queries.APPEND,
                _dumps(checks),
                _dumps(rows),
                _dumps(snapshot_rows),
                # The record's "position" is set by the statement, which alone knows its transaction id.
                None if idempotency is None else idempotency.key,
                None if idempotency is None else idempotency.request_hash,
                None if idempotency is None else idempotency.status_code,
                None if idempotency is None else idempotency.response,
            )
        except asyncpg.UniqueViolationError as exc:
            raise _translated(exc, appends, idempotency) from exc
        assert row is not None
        if not row["ok"]:
            for (stream_id, expected), actual in zip(checked, row["actual_versions"], strict=True):
                if actual != expected:
                    raise WrongExpectedVersion(stream_id, expected, actual)
        return AppendResult(position=row["transaction_id"], versions=versions)

    @staticmethod
    async def _insert_idempotency(conn: Conn, record: IdempotencyRecord) -> None:
        status = await conn.execute(
            queries.INSERT_IDEMPOTENCY, record.key, record.request_hash, record.status_code, record.response
        )
        if status.endswith(" 0"):
            raise IdempotencyKeyTaken(record.key)

    async def save_idempotency(self, record: IdempotencyRecord) -> None:
        async with self.connections.acquire() as conn:
            await self._insert_idempotency(conn, record)

    async def get_idempotency(self, key: str) -> IdempotencyRecord | None:
        row = await self.connections.fetchrow(queries.SELECT_IDEMPOTENCY, key)
        if row is None:
            return None
        return IdempotencyRecord(row["key"], row["request_hash"], row["status_code"], row["response"])

    async def read_stream(self, stream_id: str, after_version: int = 0) -> list[RecordedEvent]:
        rows = await self.connections.fetch(queries.READ_STREAM, stream_id, after_version)
        return [recorded_event(r) for r in rows]

    async def load_snapshot(self, stream_id: str) -> Snapshot | None:
        row = await self.connections.fetchrow(queries.SELECT_SNAPSHOT, stream_id)
        if row is None:
            return None
        return Snapshot(row["stream_id"], row["version"], row["schema_version"], row["state"], row["transaction_id"])

    async def load_streams(self, stream_ids: list[str]) -> dict[str, StreamHead]:
        rows = await self.connections.fetch(queries.LOAD_STREAMS, stream_ids)
        heads: dict[str, StreamHead] = {}
        for row in rows:
            snapshot = None
            if row["version"] is not None:
                snapshot = Snapshot(
                    row["stream_id"], row["version"], row["schema_version"], row["state"], row["transaction_id"]
                )
            heads[row["stream_id"]] = StreamHead(row["stream_id"], snapshot, row["head"])
        return heads

    async def read_all(self, after: ReadPosition, limit: int) -> ReadAllResult:
        async with self.connections.acquire() as conn:
            return await read_all_on(conn, after, limit)
