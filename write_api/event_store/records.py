"""What goes into the store and what comes out of it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from shared.event_log import START, ReadAllResult, ReadPosition, RecordedEvent
from write_api.ids import uuid7

# What is read back is the event log's shared read contract (shared/event_log.py), re-exported for the write side.
__all__ = [
    "START",
    "AppendResult",
    "EventStore",
    "IdempotencyRecord",
    "NewEvent",
    "ReadAllResult",
    "ReadPosition",
    "RecordedEvent",
    "Snapshot",
    "StreamAppend",
    "StreamHead",
    "expected_versions",
    "with_position",
]


@dataclass(frozen=True)
class NewEvent:
    event_type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    event_id: uuid.UUID = field(default_factory=uuid7)


@dataclass(frozen=True)
class StreamAppend:
    stream_id: str
    stream_type: str
    expected_version: int  # 0: the stream must not exist yet
    events: tuple[NewEvent, ...]
    # Latest state after these events, stored as the stream's snapshot in the same transaction (None: keep none).
    snapshot: dict[str, Any] | None = None
    snapshot_schema_version: int = 1


def expected_versions(appends: list[StreamAppend], reads: Mapping[str, int] | None) -> list[tuple[str, int]]:
    """Every stream an append checks, with the version it must be at: the written ones, then those only read."""
    return [(a.stream_id, a.expected_version) for a in appends] + list((reads or {}).items())


@dataclass(frozen=True)
class IdempotencyRecord:
    """The answer given to a request with an Idempotency-Key, kept so that a retry gets the same answer. Stored
    with an append, a top-level "position" in `response` is set to the append's position (the writing transaction's
    id, known only once the append runs)."""

    key: str
    request_hash: str
    status_code: int
    response: dict[str, Any]


def with_position(record: IdempotencyRecord, position: int) -> IdempotencyRecord:
    """The record as an append at `position` stores it (what the PostgreSQL store's APPEND does in SQL)."""
    if "position" not in record.response:
        return record
    return replace(record, response={**record.response, "position": position})


@dataclass(frozen=True)
class AppendResult:
    # The read-your-writes token: the id of the transaction that committed these events. The read side applies
    # transactions in id order, so a projection that has applied every transaction up to this id has seen the write.
    position: int
    versions: dict[str, int]  # stream id -> new version


@dataclass(frozen=True)
class Snapshot:
    stream_id: str
    version: int
    schema_version: int
    state: dict[str, Any]
    transaction_id: int  # of the transaction that wrote it


@dataclass(frozen=True)
class StreamHead:
    """What loading a stream starts from: its snapshot (if any) and its current version."""

    stream_id: str
    snapshot: Snapshot | None
    head: int


class EventStore(Protocol):
    async def append(
        self,
        appends: list[StreamAppend],
        idempotency: IdempotencyRecord | None = None,
        reads: Mapping[str, int] | None = None,
    ) -> AppendResult:
        """Append to every stream atomically, each at its expected version; store snapshots and the idempotency
        record (its "position" set to the append's) in the same transaction. `reads`: streams the decision read but
        does not write, each of which must still be at the given version. Raises WrongExpectedVersion or
        IdempotencyKeyTaken and appends nothing."""
        ...

    async def read_stream(self, stream_id: str, after_version: int = 0) -> list[RecordedEvent]: ...

    async def load_snapshot(self, stream_id: str) -> Snapshot | None: ...

    async def load_streams(self, stream_ids: list[str]) -> dict[str, StreamHead]:
        """Snapshot and head version of each stream, in one round trip."""
        ...

    async def read_all(self, after: ReadPosition, limit: int) -> ReadAllResult: ...

    async def get_idempotency(self, key: str) -> IdempotencyRecord | None: ...

    async def save_idempotency(self, record: IdempotencyRecord) -> None:
        """For a command that appended nothing; raises IdempotencyKeyTaken if the key exists."""
        ...
