"""The PostgreSQL event store (asyncpg)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any

import asyncpg
import orjson

from shared.event_log import Conn, init_connection, read_all_on, recorded_event
from write_api.event_store import queries
from write_api.event_store.errors import DuplicateEvent, IdempotencyKeyTaken, WrongExpectedVersion
from write_api.event_store.records import (
    AppendResult,
    IdempotencyRecord,
    PendingIdempotency,
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


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """Pool connections carry no session state (no SET, LISTEN or advisory locks: those live on dedicated
    connections), so releasing one skips asyncpg's reset query, a round trip per release. An open transaction is
    still rolled back by the pool."""


async def connect(dsn: str) -> asyncpg.Connection:
    """A connection of its own, with the codecs the pool's connections have."""
    conn = await asyncpg.connect(dsn)
    await init_connection(conn)
    return conn


async def create_pool(dsn: str, min_size: int = 2, max_size: int = 20) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=init_connection, reset=_keep_session
    )
    assert pool is not None
    return pool


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


class Appenders:
    """Connections of the append path's own, lent from a free list: asyncpg's pool costs some 75 µs of CPU per
    statement (a queue, a connection proxy, a shielded release task), as much as the statement itself, and an order
    is one statement. At most `size` are opened (lazily); when all are lent the statement takes the pool's way.

    A connection goes back to the free list after a statement, after a statement error (a unique violation) and
    after a cancellation (asyncpg cancels the statement on the server, as the pool would); a closed or broken one
    is terminated, and a new one is opened when needed."""

    def __init__(self, connect: Callable[[], Awaitable[asyncpg.Connection]], size: int) -> None:
        self._connect = connect
        self.size = size
        self._free: list[asyncpg.Connection] = []
        self._opened = 0
        self._closed = False

    async def fetchrow(self, pool: asyncpg.Pool, query: str, *args: Any) -> asyncpg.Record | None:
        if self._free:
            conn = self._free.pop()
        elif self._opened < self.size:
            self._opened += 1
            try:
                conn = await self._connect()
            except BaseException:
                self._opened -= 1
                raise
        else:
            return await pool.fetchrow(query, *args)
        try:
            row = await conn.fetchrow(query, *args)
        except BaseException as exc:
            # A statement error leaves the connection idle; so does a cancellation, once the cancel request asyncpg
            # sends has been answered (the connection's next statement waits for that). Anything else is suspect.
            sound = isinstance(exc, asyncpg.PostgresError | asyncio.CancelledError)
            self._give_back(conn, sound and not conn.is_closed() and not conn.is_in_transaction())
            raise
        self._give_back(conn, True)
        return row

    def _give_back(self, conn: asyncpg.Connection, sound: bool) -> None:
        if sound and not self._closed:
            self._free.append(conn)
        else:  # broken, or lent while the store closed
            conn.terminate()
            self._opened -= 1

    async def close(self) -> None:
        self._closed = True
        free, self._free = self._free, []
        self._opened -= len(free)
        for conn in free:
            await conn.close()

    def terminate(self) -> None:
        """Close the idle connections at once, without a goodbye to the server (for teardown that cannot await)."""
        self._closed = True
        free, self._free = self._free, []
        self._opened -= len(free)
        for conn in free:
            conn.terminate()


class PostgresEventStore:
    def __init__(self, pool: asyncpg.Pool, appenders: Appenders | None = None) -> None:
        self.pool = pool
        self.appenders = appenders

    async def close(self) -> None:
        if self.appenders is not None:
            await self.appenders.close()

    async def append(
        self,
        appends: list[StreamAppend],
        idempotency: PendingIdempotency | None = None,
        reads: Mapping[str, int] | None = None,
    ) -> AppendResult:
        checked = expected_versions(appends, reads)
        versions = {a.stream_id: a.expected_version + len(a.events) for a in appends}
        events = [(a, e, a.expected_version + i) for a in appends for i, e in enumerate(a.events, start=1)]
        snapshots = [a for a in appends if a.snapshot is not None]
        record = None
        if idempotency is not None:
            # Rendered with a placeholder position; the statement puts in its own transaction id.
            record = idempotency.record(AppendResult(position=0, versions=versions))
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
            fetchrow = self.pool.fetchrow if self.appenders is None else partial(self.appenders.fetchrow, self.pool)
            row = await fetchrow(
                queries.APPEND,
                _dumps(checks),
                _dumps(rows),
                _dumps(snapshot_rows),
                None if record is None else record.key,
                None if record is None else record.request_hash,
                None if record is None else record.status_code,
                None if record is None else record.response,
            )
        except asyncpg.UniqueViolationError as exc:
            raise _translated(exc, appends, record) from exc
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
        async with self.pool.acquire() as conn:
            await self._insert_idempotency(conn, record)

    async def get_idempotency(self, key: str) -> IdempotencyRecord | None:
        row = await self.pool.fetchrow(queries.SELECT_IDEMPOTENCY, key)
        if row is None:
            return None
        return IdempotencyRecord(row["key"], row["request_hash"], row["status_code"], row["response"])

    async def read_stream(self, stream_id: str, after_version: int = 0) -> list[RecordedEvent]:
        rows = await self.pool.fetch(queries.READ_STREAM, stream_id, after_version)
        return [recorded_event(r) for r in rows]

    async def load_snapshot(self, stream_id: str) -> Snapshot | None:
        row = await self.pool.fetchrow(queries.SELECT_SNAPSHOT, stream_id)
        if row is None:
            return None
        return Snapshot(row["stream_id"], row["version"], row["schema_version"], row["state"], row["transaction_id"])

    async def load_streams(self, stream_ids: list[str]) -> dict[str, StreamHead]:
        rows = await self.pool.fetch(queries.LOAD_STREAMS, stream_ids)
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
        async with self.pool.acquire() as conn:
            return await read_all_on(conn, after, limit)
