"""An in-memory event store for unit tests of pure code. tests/contract proves it behaves like PostgresEventStore."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime

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
    with_position,
)


class InMemoryEventStore:
    def __init__(self) -> None:
        self._events: list[RecordedEvent] = []
        self._event_ids: set[uuid.UUID] = set()
        self._streams: dict[str, list[RecordedEvent]] = {}
        self._snapshots: dict[str, Snapshot] = {}
        self._idempotency: dict[str, IdempotencyRecord] = {}
        self._transaction_id = 1000  # any start will do; PostgreSQL's ids start well above zero too
        self._lock = asyncio.Lock()

    async def append(
        self,
        appends: list[StreamAppend],
        idempotency: IdempotencyRecord | None = None,
        reads: Mapping[str, int] | None = None,
    ) -> AppendResult:
        async with self._lock:
            for stream_id, version in expected_versions(appends, reads):
                actual = len(self._streams.get(stream_id, ()))
                if actual != version:
                    raise WrongExpectedVersion(stream_id, version, actual)
            if idempotency is not None and idempotency.key in self._idempotency:
                raise IdempotencyKeyTaken(idempotency.key)
            if duplicates := [str(e.event_id) for a in appends for e in a.events if e.event_id in self._event_ids]:
                raise DuplicateEvent(duplicates)
            self._transaction_id += 1
            now = datetime.now(UTC)
            versions: dict[str, int] = {}
            for item in appends:
                stream = self._streams.setdefault(item.stream_id, [])
                for event in item.events:
                    recorded = RecordedEvent(
                        global_position=len(self._events) + 1,
                        transaction_id=self._transaction_id,
                        stream_id=item.stream_id,
                        stream_type=item.stream_type,
                        version=len(stream) + 1,
                        event_id=event.event_id,
                        event_type=event.event_type,
                        schema_version=event.schema_version,
                        data=event.data,
                        metadata=event.metadata,
                        recorded_at=now,
                    )
                    stream.append(recorded)
                    self._event_ids.add(event.event_id)
                    self._events.append(recorded)
                versions[item.stream_id] = len(stream)
                if item.snapshot is not None:
                    self._snapshots[item.stream_id] = Snapshot(
                        item.stream_id, len(stream), item.snapshot_schema_version, item.snapshot, self._transaction_id
                    )
            result = AppendResult(position=self._transaction_id, versions=versions)
            if idempotency is not None:
                self._idempotency[idempotency.key] = with_position(idempotency, self._transaction_id)
            return result

    async def save_idempotency(self, record: IdempotencyRecord) -> None:
        async with self._lock:
            if record.key in self._idempotency:
                raise IdempotencyKeyTaken(record.key)
            self._idempotency[record.key] = record

    async def get_idempotency(self, key: str) -> IdempotencyRecord | None:
        return self._idempotency.get(key)

    async def read_stream(self, stream_id: str, after_version: int = 0) -> list[RecordedEvent]:
        return [e for e in self._streams.get(stream_id, ()) if e.version > after_version]

    async def load_snapshot(self, stream_id: str) -> Snapshot | None:
        snapshot = self._snapshots.get(stream_id)
        return None if snapshot is None else replace(snapshot)

    async def load_streams(self, stream_ids: list[str]) -> dict[str, StreamHead]:
        return {
            sid: StreamHead(sid, await self.load_snapshot(sid), len(self._streams.get(sid, ()))) for sid in stream_ids
        }

    async def read_all(self, after: ReadPosition, limit: int) -> ReadAllResult:
        # Appends commit atomically under the lock, so transaction-id order is global-position order here.
        events = [e for e in self._events if e.read_order > after][:limit]
        watermark = self._transaction_id if len(events) < limit else events[-1].transaction_id - 1
        return ReadAllResult(events, max(watermark, after.transaction_id - 1 if after.transaction_id else 0))
