"""Loading aggregates: the latest state of a stream from its snapshot and the events after it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from shared.events.payloads import EventPayload
from shared.events.registry import decode
from write_api.domain import inventory, orders, products
from write_api.event_store.records import EventStore, StreamHead

S = TypeVar("S")


@dataclass(frozen=True)
class Aggregate(Generic[S]):
    """What the service layer needs to know of an aggregate type: its streams, its fold and its snapshot."""

    stream_type: str
    stream_id: Callable[[str], str]
    evolve: Callable[[S | None, EventPayload], S | None]
    to_snapshot: Callable[[S], dict[str, Any]]
    from_snapshot: Callable[[dict[str, Any]], S]
    snapshot_schema_version: int
    cached: bool = False  # kept in the process's StreamCache (few, often read streams: not orders)


PRODUCT: Aggregate[products.Product] = Aggregate(
    products.STREAM_TYPE,
    products.stream_id,
    products.evolve,
    products.Product.to_snapshot,
    products.Product.from_snapshot,
    products.SNAPSHOT_SCHEMA_VERSION,
    cached=True,
)
INVENTORY: Aggregate[inventory.Inventory] = Aggregate(
    inventory.STREAM_TYPE,
    inventory.stream_id,
    inventory.evolve,
    inventory.Inventory.to_snapshot,
    inventory.Inventory.from_snapshot,
    inventory.SNAPSHOT_SCHEMA_VERSION,
    cached=True,
)
ORDER: Aggregate[orders.Order] = Aggregate(
    orders.STREAM_TYPE,
    orders.stream_id,
    orders.evolve,
    orders.Order.to_snapshot,
    orders.Order.from_snapshot,
    orders.SNAPSHOT_SCHEMA_VERSION,
)


@dataclass(frozen=True)
class Loaded(Generic[S]):
    state: S | None
    version: int
    position: int  # transaction id of the stream's last write (0 for a new stream)


async def load_many(store: EventStore, aggregate: Aggregate[S], keys: list[str]) -> dict[str, Loaded[S]]:
    """Latest state of several streams of one aggregate type, keyed by key: one round trip when every stream's
    snapshot is current (the normal case, since every append writes one), so O(1) in the streams' lengths."""
    heads = await store.load_streams([aggregate.stream_id(k) for k in keys])
    return await from_heads(store, aggregate, keys, heads)


async def load(store: EventStore, aggregate: Aggregate[S], key: str) -> Loaded[S]:
    return (await load_many(store, aggregate, [key]))[key]


async def from_heads(
    store: EventStore, aggregate: Aggregate[S], keys: list[str], heads: dict[str, StreamHead]
) -> dict[str, Loaded[S]]:
    """The streams of `keys` from heads loaded already (with other streams, in the same round trip)."""
    loaded: dict[str, Loaded[S]] = {}
    for key in keys:
        head = heads[aggregate.stream_id(key)]
        state: S | None = None
        version = position = 0
        snapshot = head.snapshot
        if snapshot is not None and snapshot.schema_version == aggregate.snapshot_schema_version:
            state = aggregate.from_snapshot(snapshot.state)
            version, position = snapshot.version, snapshot.transaction_id
        if head.head > version:  # events the snapshot does not cover (or no usable snapshot)
            for event in await store.read_stream(aggregate.stream_id(key), version):
                state = aggregate.evolve(state, decode(event.event_type, event.schema_version, event.data))
                version, position = event.version, event.transaction_id
        loaded[key] = Loaded(state, version, position)
    return loaded
