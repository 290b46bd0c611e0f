"""What every handler shares: the command's context, appending its changes in one transaction, and deciding again
when another writer appended first."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from prometheus_client import Counter

from shared.events.payloads import EventPayload
from shared.events.registry import EVENT_TYPES
from write_api.domain.errors import VersionConflict
from write_api.event_store.errors import WrongExpectedVersion
from write_api.event_store.records import AppendResult, EventStore, IdempotencyRecord, NewEvent, StreamAppend
from write_api.service_layer.loading import Aggregate, Loaded
from write_api.service_layer.stream_cache import StreamCache
from write_api.service_layer.stream_locks import StreamLocks

EVENTS_APPENDED = Counter("events_appended_total", "Events appended to the store", ["event_type"])
COMMAND_RETRIES = Counter("command_retries_total", "Commands decided again after a concurrent append", ["command"])
# Label children made once: labels() takes a lock and builds a key on every call.
_APPENDED = {event_type: EVENTS_APPENDED.labels(event_type) for event_type in EVENT_TYPES}

MAX_ATTEMPTS = 30
S = TypeVar("S")
T = TypeVar("T")


@dataclass(frozen=True)
class Outcome(Generic[S]):
    """The command's main stream after the command: state, version, and the position of the write."""

    state: S | None
    version: int
    position: int
    events: list[EventPayload]


@dataclass(frozen=True)
class IdempotencyRequest:
    """An Idempotency-Key, the hash of its request, and the route's answer for an outcome (stored with the events,
    so that a retry gets the same answer)."""

    key: str
    request_hash: str
    status_code: int
    respond: Callable[[Outcome[Any]], dict[str, Any]]

    def record(self, outcome: Outcome[Any]) -> IdempotencyRecord:
        return IdempotencyRecord(self.key, self.request_hash, self.status_code, self.respond(outcome))


@dataclass(frozen=True)
class CommandContext:
    """What a command carries besides its fields: who sent it, If-Match, Idempotency-Key, and the process's locks
    and stream cache."""

    metadata: dict[str, Any] = field(default_factory=dict)
    expected_version: int | None = None
    idempotency: IdempotencyRequest | None = None
    locks: StreamLocks = field(default_factory=StreamLocks)
    cache: StreamCache | None = None


@dataclass(frozen=True)
class Change(Generic[S]):
    """A stream as loaded and the events a decision adds to it."""

    aggregate: Aggregate[S]
    key: str
    loaded: Loaded[S]
    events: list[EventPayload]

    @property
    def stream_id(self) -> str:
        return self.aggregate.stream_id(self.key)

    def new_state(self) -> S | None:
        state = self.loaded.state
        for event in self.events:
            state = self.aggregate.evolve(state, event)
        return state

    def to_append(self, state: S, metadata: dict[str, Any]) -> StreamAppend:
        """The append of this change's events at the version it was loaded at, with `state` as the snapshot."""
        return StreamAppend(
            stream_id=self.stream_id,
            stream_type=self.aggregate.stream_type,
            expected_version=self.loaded.version,
            events=tuple(NewEvent(e.TYPE, e.SCHEMA_VERSION, e.to_json(), metadata) for e in self.events),
            snapshot=self.aggregate.to_snapshot(state),
            snapshot_schema_version=self.aggregate.snapshot_schema_version,
        )


def check_if_match(context: CommandContext, loaded: Loaded[Any]) -> None:
    if context.expected_version is not None and context.expected_version != loaded.version:
        raise VersionConflict(
            f"the stream is at version {loaded.version}, not {context.expected_version}",
            expected=context.expected_version,
            actual=loaded.version,
        )


async def commit(
    store: EventStore,
    main: Change[S],
    others: list[Change[Any]],
    context: CommandContext,
    reads: dict[str, int] | None = None,
) -> Outcome[S]:
    """Append every change that has events, in one transaction; the main change's stream answers. `reads`: streams
    the decision read without changing them, at the versions it read (checked in the same transaction)."""
    new_state = main.new_state()
    appends: list[StreamAppend] = []
    cached: list[tuple[str, Any]] = []
    for change in (main, *others):
        if change.events:
            state = new_state if change is main else change.new_state()
            assert state is not None
            appends.append(change.to_append(state, context.metadata))
            if change.aggregate.cached:
                cached.append((change.stream_id, state))
    idempotency = context.idempotency
    if not appends:  # nothing changes: answer the stream as it is
        unchanged = Outcome(new_state, main.loaded.version, main.loaded.position, main.events)
        if idempotency is not None:
            await store.save_idempotency(idempotency.record(unchanged))
        return unchanged
    version = main.loaded.version + len(main.events)
    # The answer recorded with the events is rendered before the statement; the store fills in its position.
    record = None if idempotency is None else idempotency.record(Outcome(new_state, version, 0, main.events))
    result = await _append(store, appends, record, reads, context.cache)
    if context.cache is not None:
        for stream_id, state in cached:
            context.cache.put(stream_id, Loaded(state, result.versions[stream_id], result.position))
    return Outcome(new_state, version, result.position, main.events)


async def _append(
    store: EventStore,
    appends: list[StreamAppend],
    record: IdempotencyRecord | None,
    reads: dict[str, int] | None,
    cache: StreamCache | None,
) -> AppendResult:
    try:
        result = await store.append(appends, record, reads)
    except BaseException:
        # Stale (a conflict) or unknown (the connection broke): whatever this process knew of them is suspect.
        if cache is not None:
            cache.forget([a.stream_id for a in appends] + list(reads or ()))
        raise
    counts: dict[str, int] = {}
    for item in appends:
        for event in item.events:
            counts[event.event_type] = counts.get(event.event_type, 0) + 1
    for event_type, count in counts.items():
        _APPENDED[event_type].inc(count)
    return result


async def with_retries(name: str, context: CommandContext, attempt: Callable[[int], Awaitable[T]]) -> T:
    """Call `attempt` (load, decide, append) with its number, from 1, again when another writer appended first;
    not when If-Match pinned a version."""
    for number in range(1, MAX_ATTEMPTS + 1):
        try:
            return await attempt(number)
        except WrongExpectedVersion:
            if context.expected_version is not None or number == MAX_ATTEMPTS:
                raise
            COMMAND_RETRIES.labels(name).inc()
            await asyncio.sleep(random.uniform(0, 0.002 * min(number, 10)))
    raise AssertionError("unreachable")
