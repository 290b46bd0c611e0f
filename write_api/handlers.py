"""Command handlers: load the streams a command needs, decide (pure), append every changed stream in one
transaction at its expected version, and decide again if another writer got there first (bounded).

COMMAND_HANDLERS maps each command class to its handler explicitly; routes call `dispatch`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from prometheus_client import Counter

from shared.events.payloads import EventPayload
from shared.events.registry import decode
from shared.metrics import child
from write_api.commands import (
    AddOrderLine,
    AdjustStock,
    CancelOrder,
    ChangeProductDetails,
    ChangeProductPrice,
    DiscontinueProduct,
    PlaceOrder,
    ReceiveStock,
    RegisterProduct,
    SetLowStockThreshold,
    ShipOrder,
)
from write_api.domain import inventory, orders, products
from write_api.domain.errors import DomainError, NotFound, ProductDiscontinued, VersionConflict
from write_api.event_store.errors import WrongExpectedVersion
from write_api.event_store.records import (
    AppendResult,
    EventStore,
    NewEvent,
    PendingIdempotency,
    StreamAppend,
    StreamHead,
)

log = logging.getLogger(__name__)

EVENTS_APPENDED = Counter("events_appended_total", "Events appended to the store", ["event_type"])
COMMAND_RETRIES = Counter("command_retries_total", "Commands decided again after a concurrent append", ["command"])
CACHE_LOOKUPS = Counter(
    "write_stream_cache_lookups_total",
    "Order placements by where their inputs came from: hit (all cached), miss (some not), bypassed (the cache keeps "
    "going stale), stale (decided on the cache, failed at commit)",
    ["result"],
)

MAX_ATTEMPTS = 30
S = TypeVar("S")


# ---------------------------------------------------------------- aggregates and loading
@dataclass(frozen=True)
class Aggregate(Generic[S]):
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
    return await _from_heads(store, aggregate, keys, heads)


async def _from_heads(
    store: EventStore, aggregate: Aggregate[S], keys: list[str], heads: dict[str, StreamHead]
) -> dict[str, Loaded[S]]:
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


async def load(store: EventStore, aggregate: Aggregate[S], key: str) -> Loaded[S]:
    return (await load_many(store, aggregate, [key]))[key]


# ---------------------------------------------------------------- outcome, context, committing
@dataclass(frozen=True)
class Outcome(Generic[S]):
    """The command's main stream after the command: state, version, and the position of the write."""

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


class StreamLocks:
    """In-process locks per stream: concurrent commands on the same streams in one process take turns instead of
    losing optimistic-concurrency races over and over (a best-selling SKU). The database's expected-version check
    stays the source of truth across processes."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def hold(self, stream_ids: list[str]) -> AsyncIterator[None]:
        ordered = sorted(set(stream_ids))  # one global order: no deadlock between commands
        for sid in ordered:
            self._users[sid] = self._users.get(sid, 0) + 1
            self._locks.setdefault(sid, asyncio.Lock())
        acquired: list[str] = []
        try:
            for sid in ordered:
                await self._locks[sid].acquire()
                acquired.append(sid)
            yield
        finally:
            for sid in acquired:
                self._locks[sid].release()
            for sid in ordered:
                self._users[sid] -= 1
                if not self._users[sid]:
                    del self._users[sid], self._locks[sid]


class StreamCache:
    """The latest state this process knows of product and inventory streams, so that placing an order needs no read
    round trip. Never trusted: an order decided on cached states appends with every stream it read expected at its
    cached version (inventories as written streams, products as read-checks), so a stale entry fails the append
    (WrongExpectedVersion), is dropped with the others, and the command is decided again on fresh loads; a refusal
    decided on cached states is decided again on fresh loads before it is answered. Bounded: the least recently
    used stream goes first; 0 turns it off.

    Other writers of the same streams (uvicorn workers, more instances) make entries stale, and a stale decision
    costs a failed append on top of the fresh path. So the cache watches the share of its decisions that were stale
    (a moving average) and, above STALE_LIMIT, is only tried for one order in PROBE_EVERY, to notice when it pays
    again."""

    STALE_LIMIT = 0.2
    PROBE_EVERY = 20
    _WEIGHT = 0.05  # of the latest outcome in the moving average (about the last 20 decisions)

    def __init__(self, max_streams: int = 50_000) -> None:
        self.max_streams = max_streams
        self._entries: OrderedDict[str, Loaded[Any]] = OrderedDict()
        self.stale_share = 0.0
        self._skipped = 0

    def worth_trying(self) -> bool:
        if self.max_streams <= 0:
            return False
        if self.stale_share <= self.STALE_LIMIT:
            return True
        self._skipped += 1
        if self._skipped >= self.PROBE_EVERY:
            self._skipped = 0
            return True
        child(CACHE_LOOKUPS, "bypassed").inc()
        return False

    def decided(self, *, stale: bool) -> None:
        """How a decision made on cached states fared at commit."""
        self.stale_share += self._WEIGHT * ((1.0 if stale else 0.0) - self.stale_share)
        if stale:
            child(CACHE_LOOKUPS, "stale").inc()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, stream_id: str) -> Loaded[Any] | None:
        entry = self._entries.get(stream_id)
        if entry is not None:
            self._entries.move_to_end(stream_id)
        return entry

    def get_all(self, stream_ids: list[str]) -> list[Loaded[Any]] | None:
        """Every one of the streams, or None if any is missing (counted once, as a hit or a miss)."""
        entries = []
        for stream_id in stream_ids:
            entry = self.get(stream_id)
            if entry is None:
                child(CACHE_LOOKUPS, "miss").inc()
                return None
            entries.append(entry)
        child(CACHE_LOOKUPS, "hit").inc()
        return entries

    def put(self, stream_id: str, loaded: Loaded[Any]) -> None:
        if self.max_streams <= 0 or loaded.state is None:
            return
        current = self._entries.get(stream_id)
        if current is not None and current.version > loaded.version:
            return  # a slower load of an older version
        self._entries[stream_id] = loaded
        self._entries.move_to_end(stream_id)
        while len(self._entries) > self.max_streams:
            self._entries.popitem(last=False)

    def forget(self, stream_ids: Iterable[str]) -> None:
        for stream_id in stream_ids:
            self._entries.pop(stream_id, None)


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

    def outcome(result: AppendResult) -> Outcome[S]:
        return Outcome(
            new_state, result.versions.get(main.stream_id, main.loaded.version), result.position, main.events
        )

    pending = None if context.idempotency is None else context.idempotency.pending(outcome)
    appends = []
    cached: list[tuple[str, Any]] = []
    for change in (main, *others):
        if not change.events:
            continue
        state = new_state if change is main else change.new_state()
        assert state is not None
        if change.aggregate.cached:
            cached.append((change.stream_id, state))
        appends.append(
            StreamAppend(
                stream_id=change.stream_id,
                stream_type=change.aggregate.stream_type,
                expected_version=change.loaded.version,
                events=tuple(NewEvent(e.TYPE, e.SCHEMA_VERSION, e.to_json(), context.metadata) for e in change.events),
                snapshot=change.aggregate.to_snapshot(state),
                snapshot_schema_version=change.aggregate.snapshot_schema_version,
            )
        )
    if not appends:  # nothing changes: answer the stream as it is
        unchanged = AppendResult(position=main.loaded.position, versions={main.stream_id: main.loaded.version})
        if pending is not None:
            await store.save_idempotency(pending.record(unchanged))
        return outcome(unchanged)
    try:
        result = await store.append(appends, pending, reads)
    except BaseException:
        # Stale (a conflict) or unknown (the connection broke): whatever this process knew of them is suspect.
        if context.cache is not None:
            context.cache.forget([a.stream_id for a in appends] + list(reads or ()))
        raise
    if context.cache is not None:
        for stream_id, state in cached:
            context.cache.put(stream_id, Loaded(state, result.versions[stream_id], result.position))
    appended: dict[str, int] = {}
    for item in appends:
        for event in item.events:
            appended[event.event_type] = appended.get(event.event_type, 0) + 1
    for event_type, count in appended.items():
        child(EVENTS_APPENDED, event_type).inc(count)
    return outcome(result)


async def with_retries(name: str, context: CommandContext, attempt: Callable[[], Awaitable[Outcome[S]]]) -> Outcome[S]:
    """Run load-decide-append again when another writer appended first; not when If-Match pinned a version."""
    for number in range(1, MAX_ATTEMPTS + 1):
        try:
            return await attempt()
        except WrongExpectedVersion:
            if context.expected_version is not None or number == MAX_ATTEMPTS:
                raise
            COMMAND_RETRIES.labels(name).inc()
            await asyncio.sleep(random.uniform(0, 0.002 * min(number, 10)))
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- product commands
ProductCommand = RegisterProduct | ChangeProductDetails | ChangeProductPrice | DiscontinueProduct


async def handle_product_command(
    store: EventStore, command: ProductCommand, context: CommandContext
) -> Outcome[products.Product]:
    async def attempt() -> Outcome[products.Product]:
        loaded = await load(store, PRODUCT, command.sku)
        check_if_match(context, loaded)
        change = Change(PRODUCT, command.sku, loaded, products.decide(command, loaded.state))
        return await commit(store, change, [], context)

    async with context.locks.hold([products.stream_id(command.sku)]):
        return await with_retries(type(command).__name__, context, attempt)


# ---------------------------------------------------------------- inventory commands
InventoryCommand = ReceiveStock | AdjustStock | SetLowStockThreshold


async def handle_inventory_command(
    store: EventStore, command: InventoryCommand, context: CommandContext
) -> Outcome[inventory.Inventory]:
    async def attempt() -> Outcome[inventory.Inventory]:
        heads = await store.load_streams([products.stream_id(command.sku), inventory.stream_id(command.sku)])
        product = (await _from_heads(store, PRODUCT, [command.sku], heads))[command.sku]
        if product.state is None:
            raise NotFound(f"product {command.sku} does not exist", sku=command.sku)
        loaded = (await _from_heads(store, INVENTORY, [command.sku], heads))[command.sku]
        check_if_match(context, loaded)
        change = Change(INVENTORY, command.sku, loaded, inventory.decide(command, loaded.state))
        return await commit(store, change, [], context)

    async with context.locks.hold([inventory.stream_id(command.sku)]):
        return await with_retries(type(command).__name__, context, attempt)


# ---------------------------------------------------------------- order commands
def _inventory_changes(
    loaded: dict[str, Loaded[inventory.Inventory]], events: dict[str, list[EventPayload]]
) -> list[Change[Any]]:
    return [Change(INVENTORY, sku, loaded[sku], evs) for sku, evs in sorted(events.items()) if evs]


PlaceInputs = tuple[Loaded[orders.Order], dict[str, Loaded[products.Product]], dict[str, Loaded[inventory.Inventory]]]


async def handle_place_order(store: EventStore, command: PlaceOrder, context: CommandContext) -> Outcome[orders.Order]:
    skus = sorted({line.sku for line in command.lines})
    cache = context.cache if context.expected_version is None else None
    attempts = 0

    def cached_inputs(cache: StreamCache) -> PlaceInputs | None:
        """From the cache, with the order assumed new (expected at version 0, so checked like the rest)."""
        entries = cache.get_all([*map(products.stream_id, skus), *map(inventory.stream_id, skus)])
        if entries is None:
            return None
        found, stock = entries[: len(skus)], entries[len(skus) :]
        return Loaded(None, 0, 0), dict(zip(skus, found, strict=True)), dict(zip(skus, stock, strict=True))

    async def fresh_inputs() -> PlaceInputs:
        # The order, its products and their inventories in one round trip.
        heads = await store.load_streams(
            [orders.stream_id(command.order_id), *map(products.stream_id, skus), *map(inventory.stream_id, skus)]
        )
        order = (await _from_heads(store, ORDER, [command.order_id], heads))[command.order_id]
        found = await _from_heads(store, PRODUCT, skus, heads)
        stock = await _from_heads(store, INVENTORY, skus, heads)
        if context.cache is not None:
            for sku in skus:
                context.cache.put(products.stream_id(sku), found[sku])
                context.cache.put(inventory.stream_id(sku), stock[sku])
        return order, found, stock

    def decide(inputs: PlaceInputs) -> tuple[Change[orders.Order], list[Change[Any]], dict[str, int]]:
        order, found, stock = inputs
        check_if_match(context, order)
        order_events, reservations = orders.place(
            command, order.state, {s: found[s].state for s in skus}, {s: stock[s].state for s in skus}
        )
        # The prices and the discontinued flags come from the products: they must not have moved when this commits.
        reads = {products.stream_id(s): found[s].version for s in skus}
        return Change(ORDER, command.order_id, order, order_events), _inventory_changes(stock, reservations), reads

    async def attempt() -> Outcome[orders.Order]:
        nonlocal attempts
        attempts += 1
        decision = None
        if attempts == 1 and cache is not None and cache.worth_trying():
            inputs = cached_inputs(cache)
            if inputs is not None:
                with contextlib.suppress(DomainError):  # a refusal is only ever answered on fresh state
                    decision = decide(inputs)
        if decision is None:
            main, others, reads = decide(await fresh_inputs())
            return await commit(store, main, others, context, reads)
        assert cache is not None
        main, others, reads = decision
        try:
            outcome = await commit(store, main, others, context, reads)
        except WrongExpectedVersion:
            cache.decided(stale=True)
            raise
        cache.decided(stale=False)
        return outcome

    streams = [orders.stream_id(command.order_id), *(inventory.stream_id(s) for s in skus)]
    async with context.locks.hold(streams):
        return await with_retries("PlaceOrder", context, attempt)


async def handle_order_change(
    store: EventStore, command: AddOrderLine | CancelOrder | ShipOrder, context: CommandContext
) -> Outcome[orders.Order]:
    async def attempt() -> Outcome[orders.Order]:
        order = await load(store, ORDER, command.order_id)
        check_if_match(context, order)
        if order.state is None:
            raise NotFound(f"order {command.order_id} does not exist", order_id=command.order_id)
        skus = order.state.skus
        if isinstance(command, AddOrderLine):
            new_sku = command.line.sku
            found_products = await load_many(store, PRODUCT, [new_sku])
            stock = await load_many(store, INVENTORY, [new_sku])
            order_events, inventory_events = orders.add_line(
                command, order.state, {new_sku: found_products[new_sku].state}, {new_sku: stock[new_sku].state}
            )
        else:
            stock = await load_many(store, INVENTORY, skus)
            states = {s: stock[s].state for s in skus}
            decide = orders.cancel if isinstance(command, CancelOrder) else orders.ship
            order_events, inventory_events = decide(command, order.state, states)  # type: ignore[arg-type]
        main = Change(ORDER, command.order_id, order, order_events)
        return await commit(store, main, _inventory_changes(stock, inventory_events), context)

    async with context.locks.hold([orders.stream_id(command.order_id)]):
        return await with_retries(type(command).__name__, context, attempt)


Handler = Callable[[EventStore, Any, CommandContext], Awaitable[Outcome[Any]]]

COMMAND_HANDLERS: dict[type, Handler] = {
    RegisterProduct: handle_product_command,
    ChangeProductDetails: handle_product_command,
    ChangeProductPrice: handle_product_command,
    DiscontinueProduct: handle_product_command,
    ReceiveStock: handle_inventory_command,
    AdjustStock: handle_inventory_command,
    SetLowStockThreshold: handle_inventory_command,
    PlaceOrder: handle_place_order,
    AddOrderLine: handle_order_change,
    CancelOrder: handle_order_change,
    ShipOrder: handle_order_change,
}


async def dispatch(store: EventStore, command: object, context: CommandContext) -> Outcome[Any]:
    return await COMMAND_HANDLERS[type(command)](store, command, context)


# ---------------------------------------------------------------- catalogue import (upsert by SKU)
@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    position: int = 0


IMPORT_CHUNK = 500


def upsert_events(command: RegisterProduct, state: products.Product | None) -> list[EventPayload]:
    """Register a new product, or change what differs in an existing one (details, then price)."""
    if state is None:
        return products.decide(command, None)
    details = ChangeProductDetails(
        sku=command.sku,
        changes={
            "name": command.name,
            "description": command.description,
            "brand": command.brand,
            "category": command.category,
            "attributes": command.attributes,
        },
    )
    events = products.decide(details, state)
    after: products.Product | None = state
    for event in events:
        after = products.evolve(after, event)
    return events + products.decide(ChangeProductPrice(sku=command.sku, price=command.price), after)


class Rejected(Exception):
    """One item of a bulk request that cannot be applied; the others go ahead."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.error = {"code": code, "message": message}


# decide(command, state, known products) -> (events, outcome label: "created" | "updated" | "unchanged")
BulkDecision = Callable[[Any, Any, dict[str, Loaded[products.Product]]], tuple[list[EventPayload], str]]


async def apply_bulk(
    store: EventStore,
    aggregate: Aggregate[S],
    items: list[tuple[int, Any]],
    decide: BulkDecision,
    context: CommandContext,
    name: str,
) -> ImportResult:
    """Many commands keyed by SKU, in chunks: each chunk is decided on one load (products and the aggregate's
    streams) and appended in one transaction; repeated SKUs in a chunk fold one after the other."""
    result = ImportResult()
    # The key is recorded once, for the whole request.
    commit_context = CommandContext(metadata=context.metadata, locks=context.locks, cache=context.cache)
    for start in range(0, len(items), IMPORT_CHUNK):
        chunk = items[start : start + IMPORT_CHUNK]
        skus = list(dict.fromkeys(command.sku for _, command in chunk))

        async def attempt(chunk: list[tuple[int, Any]] = chunk, skus: list[str] = skus) -> Outcome[None]:
            known = await load_many(store, PRODUCT, skus)
            loaded = known if aggregate is PRODUCT else await load_many(store, aggregate, skus)
            states: dict[str, Any] = {sku: loaded[sku].state for sku in skus}
            events: dict[str, list[EventPayload]] = {sku: [] for sku in skus}
            counts = {"created": 0, "updated": 0, "unchanged": 0}
            rejected: list[dict[str, Any]] = []
            for index, command in chunk:
                try:
                    decided, label = decide(command, states[command.sku], known)
                except (Rejected, ProductDiscontinued) as exc:
                    error = exc.error if isinstance(exc, Rejected) else {"code": exc.code, "message": exc.message}
                    rejected.append({"index": index, "error": error})
                    continue
                counts[label] += 1
                for event in decided:
                    states[command.sku] = aggregate.evolve(states[command.sku], event)
                events[command.sku].extend(decided)
            changes = [Change(aggregate, sku, loaded[sku], evs) for sku, evs in events.items() if evs]
            position = 0
            if changes:
                position = (await commit(store, changes[0], changes[1:], commit_context)).position
            result.created += counts["created"]
            result.updated += counts["updated"]
            result.unchanged += counts["unchanged"]
            result.rejected.extend(rejected)
            result.position = max(result.position, position)
            return Outcome(None, 0, position, [])

        async with context.locks.hold([aggregate.stream_id(sku) for sku in skus]):
            await with_retries(name, context, attempt)
    return result


def _upsert_product(
    command: RegisterProduct, state: products.Product | None, _known: dict[str, Loaded[products.Product]]
) -> tuple[list[EventPayload], str]:
    events = upsert_events(command, state)
    return events, "created" if state is None else "updated" if events else "unchanged"


def _receive(
    command: ReceiveStock, state: inventory.Inventory | None, known: dict[str, Loaded[products.Product]]
) -> tuple[list[EventPayload], str]:
    if known[command.sku].state is None:
        raise Rejected("not_found", f"product {command.sku} does not exist")
    return inventory.decide(command, state), "created"


async def import_products(
    store: EventStore, items: list[tuple[int, RegisterProduct]], context: CommandContext
) -> ImportResult:
    """Upsert products by SKU (`POST /products/import`)."""
    return await apply_bulk(store, PRODUCT, list(items), _upsert_product, context, "ImportProducts")


async def receive_many(
    store: EventStore, items: list[tuple[int, ReceiveStock]], context: CommandContext
) -> ImportResult:
    """Stock receipts in bulk, a delivery or a stock take (`POST /inventory/receipts`)."""
    return await apply_bulk(store, INVENTORY, list(items), _receive, context, "ReceiveStockBatch")
