"""Command handlers: load the aggregate, decide, append with the expected version, retry on a lost race.

COMMAND_HANDLERS maps each command class to its handler explicitly; routes call `dispatch`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from prometheus_client import Counter

from shared.events.payloads import EventPayload
from shared.events.registry import decode
from write_api.commands import ChangeProductDetails, ChangeProductPrice, DiscontinueProduct, RegisterProduct
from write_api.domain import products
from write_api.domain.errors import VersionConflict
from write_api.event_store.errors import WrongExpectedVersion
from write_api.event_store.records import AppendResult, EventStore, NewEvent, PendingIdempotency, StreamAppend

log = logging.getLogger(__name__)

EVENTS_APPENDED = Counter("events_appended_total", "Events appended to the store", ["event_type"])
COMMAND_RETRIES = Counter("command_retries_total", "Commands decided again after a concurrent append", ["command"])

MAX_ATTEMPTS = 5
S = TypeVar("S")


@dataclass(frozen=True)
class Outcome(Generic[S]):
    state: S | None
    version: int
    position: int
    events: list[EventPayload]


@dataclass(frozen=True)
class IdempotencyRequest:
    """An Idempotency-Key, the hash of its request, and how to render the answer to store beside the events."""

    key: str
    request_hash: str
    status_code: int
    respond: Callable[[Outcome[Any]], dict[str, Any]]

    def pending(self, outcome: Callable[[AppendResult], Outcome[Any]]) -> PendingIdempotency:
        return PendingIdempotency(self.key, self.request_hash, self.status_code, lambda r: self.respond(outcome(r)))


@dataclass(frozen=True)
class CommandContext:
    """What a command carries besides its fields: who sent it, If-Match, Idempotency-Key."""

    metadata: dict[str, Any] = field(default_factory=dict)
    expected_version: int | None = None
    idempotency: IdempotencyRequest | None = None


@dataclass(frozen=True)
class Aggregate(Generic[S]):
    stream_type: str
    stream_id: Callable[[str], str]
    evolve: Callable[[S | None, EventPayload], S | None]
    to_snapshot: Callable[[S], dict[str, Any]]
    from_snapshot: Callable[[dict[str, Any]], S]
    snapshot_schema_version: int


@dataclass(frozen=True)
class Loaded(Generic[S]):
    state: S | None
    version: int
    position: int  # transaction id of the stream's last write (0 for a new stream)


async def load(store: EventStore, aggregate: Aggregate[S], key: str) -> Loaded[S]:
    """Latest state from the snapshot plus any events after it: O(1) in the stream's length."""
    stream_id = aggregate.stream_id(key)
    state: S | None = None
    version = position = 0
    snapshot = await store.load_snapshot(stream_id)
    if snapshot is not None and snapshot.schema_version == aggregate.snapshot_schema_version:
        state, version, position = aggregate.from_snapshot(snapshot.state), snapshot.version, snapshot.transaction_id
    for event in await store.read_stream(stream_id, version):
        state = aggregate.evolve(state, decode(event.event_type, event.schema_version, event.data))
        version, position = event.version, event.transaction_id
    return Loaded(state, version, position)


def to_new_events(events: list[EventPayload], metadata: dict[str, Any]) -> tuple[NewEvent, ...]:
    return tuple(NewEvent(e.TYPE, e.SCHEMA_VERSION, e.to_json(), metadata) for e in events)


async def execute(
    store: EventStore,
    aggregate: Aggregate[S],
    key: str,
    decide: Callable[[S | None], list[EventPayload]],
    context: CommandContext,
    command_name: str,
) -> Outcome[S]:
    """Decide against the current state and append; on a concurrent append decide again (bounded)."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        loaded = await load(store, aggregate, key)
        if context.expected_version is not None and context.expected_version != loaded.version:
            raise VersionConflict(
                f"stream is at version {loaded.version}, not {context.expected_version}",
                expected=context.expected_version,
                actual=loaded.version,
            )
        events = decide(loaded.state)
        state = loaded.state
        for event in events:
            state = aggregate.evolve(state, event)
        stream_id = aggregate.stream_id(key)

        def outcome(
            result: AppendResult,
            state: S | None = state,
            events: list[EventPayload] = events,
            stream_id: str = stream_id,
        ) -> Outcome[S]:
            return Outcome(state, result.versions[stream_id], result.position, events)

        pending = None if context.idempotency is None else context.idempotency.pending(outcome)
        if not events:
            unchanged = AppendResult(position=loaded.position, versions={stream_id: loaded.version})
            if pending is not None:
                await store.save_idempotency(pending.record(unchanged))
            return outcome(unchanged)
        assert state is not None
        append = StreamAppend(
            stream_id=stream_id,
            stream_type=aggregate.stream_type,
            expected_version=loaded.version,
            events=to_new_events(events, context.metadata),
            snapshot=aggregate.to_snapshot(state),
            snapshot_schema_version=aggregate.snapshot_schema_version,
        )
        try:
            result = await store.append([append], pending)
        except WrongExpectedVersion:
            if context.expected_version is not None or attempt == MAX_ATTEMPTS:
                raise
            COMMAND_RETRIES.labels(command_name).inc()
            continue
        for event in events:
            EVENTS_APPENDED.labels(event.TYPE).inc()
        return outcome(result)
    raise AssertionError("unreachable")


PRODUCT: Aggregate[products.Product] = Aggregate(
    stream_type=products.STREAM_TYPE,
    stream_id=products.stream_id,
    evolve=products.evolve,
    to_snapshot=products.Product.to_snapshot,
    from_snapshot=products.Product.from_snapshot,
    snapshot_schema_version=products.SNAPSHOT_SCHEMA_VERSION,
)

ProductCommandT = RegisterProduct | ChangeProductDetails | ChangeProductPrice | DiscontinueProduct


async def handle_product_command(
    store: EventStore, command: ProductCommandT, context: CommandContext
) -> Outcome[products.Product]:
    return await execute(
        store, PRODUCT, command.sku, lambda state: products.decide(command, state), context, type(command).__name__
    )


Handler = Callable[[EventStore, Any, CommandContext], Awaitable[Outcome[Any]]]

COMMAND_HANDLERS: dict[type, Handler] = {
    RegisterProduct: handle_product_command,
    ChangeProductDetails: handle_product_command,
    ChangeProductPrice: handle_product_command,
    DiscontinueProduct: handle_product_command,
}


async def dispatch(store: EventStore, command: object, context: CommandContext) -> Outcome[Any]:
    return await COMMAND_HANDLERS[type(command)](store, command, context)
