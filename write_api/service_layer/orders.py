"""Handlers of the order commands: place an order (from the stream cache when it is worth trying), add a line,
cancel, ship. Each writes the order and the inventories of its SKUs in one transaction."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from shared.events.payloads import EventPayload
from write_api.commands import AddOrderLine, CancelOrder, PlaceOrder, ShipOrder
from write_api.domain import inventory, orders, products
from write_api.domain.errors import DomainError, NotFound
from write_api.event_store.errors import WrongExpectedVersion
from write_api.event_store.records import EventStore
from write_api.service_layer.commit import Change, CommandContext, Outcome, check_if_match, commit, with_retries
from write_api.service_layer.loading import INVENTORY, ORDER, PRODUCT, Loaded, from_heads, load, load_many
from write_api.service_layer.stream_cache import StreamCache

C = TypeVar("C", CancelOrder, ShipOrder)
StockDecision = Callable[
    [C, orders.Order | None, dict[str, inventory.Inventory | None]],
    tuple[list[EventPayload], dict[str, list[EventPayload]]],
]


@dataclass(frozen=True)
class PlaceInputs:
    order: Loaded[orders.Order]
    products: dict[str, Loaded[products.Product]]
    stock: dict[str, Loaded[inventory.Inventory]]


@dataclass(frozen=True)
class Decision:
    order: Change[orders.Order]
    stock: list[Change[Any]]
    reads: dict[str, int]  # the products, at the versions whose prices and flags the order took


# ---------------------------------------------------------------- place an order
async def handle_place_order(store: EventStore, command: PlaceOrder, context: CommandContext) -> Outcome[orders.Order]:
    skus = sorted({line.sku for line in command.lines})
    streams = [orders.stream_id(command.order_id), *(inventory.stream_id(s) for s in skus)]
    async with context.locks.hold(streams):
        return await with_retries("PlaceOrder", context, partial(_place, store, command, skus, context))


async def _place(
    store: EventStore, command: PlaceOrder, skus: list[str], context: CommandContext, attempt: int
) -> Outcome[orders.Order]:
    """The first attempt decides on cached states when the cache is worth trying; a refusal, a miss and every
    later attempt decide on fresh loads."""
    cache = context.cache if attempt == 1 and context.expected_version is None else None
    if cache is not None and cache.worth_trying():
        decision = _decide_on_cache(command, skus, context, cache)
        if decision is not None:
            return await _commit_cached(store, decision, context, cache)
    decision = _decide_place(command, skus, context, await _fresh_inputs(store, command, skus, context.cache))
    return await commit(store, decision.order, decision.stock, context, decision.reads)


def _decide_on_cache(
    command: PlaceOrder, skus: list[str], context: CommandContext, cache: StreamCache
) -> Decision | None:
    """Decided on the cache, with the order assumed new (expected at version 0, so checked like the rest); None if
    a stream is not cached or the decision is a refusal (a refusal is only ever answered on fresh state)."""
    entries = cache.get_all([*map(products.stream_id, skus), *map(inventory.stream_id, skus)])
    if entries is None:
        return None
    found, stock = entries[: len(skus)], entries[len(skus) :]
    inputs = PlaceInputs(Loaded(None, 0, 0), dict(zip(skus, found, strict=True)), dict(zip(skus, stock, strict=True)))
    with contextlib.suppress(DomainError):
        return _decide_place(command, skus, context, inputs)
    return None


async def _commit_cached(
    store: EventStore, decision: Decision, context: CommandContext, cache: StreamCache
) -> Outcome[orders.Order]:
    try:
        outcome = await commit(store, decision.order, decision.stock, context, decision.reads)
    except WrongExpectedVersion:
        cache.decided(stale=True)
        raise
    cache.decided(stale=False)
    return outcome


async def _fresh_inputs(
    store: EventStore, command: PlaceOrder, skus: list[str], cache: StreamCache | None
) -> PlaceInputs:
    """The order, its products and their inventories in one round trip (and into the cache)."""
    heads = await store.load_streams(
        [orders.stream_id(command.order_id), *map(products.stream_id, skus), *map(inventory.stream_id, skus)]
    )
    order = (await from_heads(store, ORDER, [command.order_id], heads))[command.order_id]
    found = await from_heads(store, PRODUCT, skus, heads)
    stock = await from_heads(store, INVENTORY, skus, heads)
    if cache is not None:
        for sku in skus:
            cache.put(products.stream_id(sku), found[sku])
            cache.put(inventory.stream_id(sku), stock[sku])
    return PlaceInputs(order, found, stock)


def _decide_place(command: PlaceOrder, skus: list[str], context: CommandContext, inputs: PlaceInputs) -> Decision:
    check_if_match(context, inputs.order)
    order_events, reservations = orders.place(
        command,
        inputs.order.state,
        {s: inputs.products[s].state for s in skus},
        {s: inputs.stock[s].state for s in skus},
    )
    # The prices and the discontinued flags come from the products: they must not have moved when this commits.
    reads = {products.stream_id(s): inputs.products[s].version for s in skus}
    order = Change(ORDER, command.order_id, inputs.order, order_events)
    return Decision(order, _inventory_changes(inputs.stock, reservations), reads)


# ---------------------------------------------------------------- change an order
async def handle_add_order_line(
    store: EventStore, command: AddOrderLine, context: CommandContext
) -> Outcome[orders.Order]:
    async with context.locks.hold([orders.stream_id(command.order_id)]):
        return await with_retries("AddOrderLine", context, partial(_add_line, store, command, context))


async def _add_line(
    store: EventStore, command: AddOrderLine, context: CommandContext, _attempt: int
) -> Outcome[orders.Order]:
    order = await _existing_order(store, command.order_id, context)
    sku = command.line.sku
    found = await load_many(store, PRODUCT, [sku])
    stock = await load_many(store, INVENTORY, [sku])
    order_events, inventory_events = orders.add_line(
        command, order.state, {sku: found[sku].state}, {sku: stock[sku].state}
    )
    main = Change(ORDER, command.order_id, order, order_events)
    return await commit(store, main, _inventory_changes(stock, inventory_events), context)


async def handle_cancel_order(
    store: EventStore, command: CancelOrder, context: CommandContext
) -> Outcome[orders.Order]:
    async with context.locks.hold([orders.stream_id(command.order_id)]):
        return await with_retries(
            "CancelOrder", context, partial(_release_or_ship, store, command, orders.cancel, context)
        )


async def handle_ship_order(store: EventStore, command: ShipOrder, context: CommandContext) -> Outcome[orders.Order]:
    async with context.locks.hold([orders.stream_id(command.order_id)]):
        return await with_retries("ShipOrder", context, partial(_release_or_ship, store, command, orders.ship, context))


async def _release_or_ship(
    store: EventStore, command: C, decide: StockDecision[C], context: CommandContext, _attempt: int
) -> Outcome[orders.Order]:
    """Cancel (release) or ship exactly what the order reserved, with the order's own event."""
    order = await _existing_order(store, command.order_id, context)
    assert order.state is not None
    skus = order.state.skus
    stock = await load_many(store, INVENTORY, skus)
    order_events, inventory_events = decide(command, order.state, {s: stock[s].state for s in skus})
    main = Change(ORDER, command.order_id, order, order_events)
    return await commit(store, main, _inventory_changes(stock, inventory_events), context)


async def _existing_order(store: EventStore, order_id: str, context: CommandContext) -> Loaded[orders.Order]:
    order = await load(store, ORDER, order_id)
    check_if_match(context, order)
    if order.state is None:
        raise NotFound(f"order {order_id} does not exist", order_id=order_id)
    return order


def _inventory_changes(
    loaded: dict[str, Loaded[inventory.Inventory]], events: dict[str, list[EventPayload]]
) -> list[Change[Any]]:
    return [Change(INVENTORY, sku, loaded[sku], evs) for sku, evs in sorted(events.items()) if evs]
