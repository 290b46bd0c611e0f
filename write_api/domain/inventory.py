"""The inventory aggregate (stream `inventory-<sku>`): every warehouse of one SKU.

Invariant, per warehouse: 0 <= reserved <= on_hand; available = on_hand - reserved. What each order reserved is
recorded in the order itself (its lines' allocations, written in the same transaction as the reservations), so
cancelling releases and shipping ships exactly that; the inventory keeps only totals per warehouse. Its state, and
so its snapshot, stays the same size however many orders are open on a best-selling SKU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.events.payloads import (
    Allocation,
    EventPayload,
    InventoryEvent,
    LowStockThresholdSet,
    StockAdjusted,
    StockAvailabilityChanged,
    StockReceived,
    StockReservationReleased,
    StockReserved,
    StockShipped,
)
from write_api.commands import AdjustStock, InventoryCommand, ReceiveStock, SetLowStockThreshold
from write_api.domain.errors import InsufficientStock

STREAM_TYPE = "inventory"
SNAPSHOT_SCHEMA_VERSION = 3  # v2: per-warehouse event counts; v3: no per-order reservations


def stream_id(sku: str) -> str:
    return f"inventory-{sku}"


@dataclass(frozen=True)
class WarehouseStock:
    on_hand: int = 0
    reserved: int = 0
    low_stock_threshold: int = 0
    events: int = 0  # events of this warehouse so far: the next one gets warehouse_version events + 1

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


@dataclass(frozen=True)
class Inventory:
    sku: str
    warehouses: dict[str, WarehouseStock] = field(default_factory=dict)

    def stock(self, warehouse: str) -> WarehouseStock:
        return self.warehouses.get(warehouse, WarehouseStock())

    @property
    def available(self) -> int:
        return sum(w.available for w in self.warehouses.values())

    def to_snapshot(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "warehouses": {
                name: [w.on_hand, w.reserved, w.low_stock_threshold, w.events] for name, w in self.warehouses.items()
            },
        }

    @classmethod
    def from_snapshot(cls, state: dict[str, Any]) -> Inventory:
        return cls(
            sku=state["sku"],
            warehouses={name: WarehouseStock(*values) for name, values in state["warehouses"].items()},
        )


def evolve(state: Inventory | None, event: EventPayload) -> Inventory | None:
    threshold: int | None = None
    match event:  # what each event changes of on hand and reserved; the most frequent first
        case StockReserved():
            on_hand, reserved = 0, event.quantity
        case StockReceived():
            on_hand, reserved = event.quantity, 0
        case StockReservationReleased():
            on_hand, reserved = 0, -event.quantity
        case StockShipped():
            on_hand, reserved = -event.quantity, -event.quantity
        case StockAdjusted():
            on_hand, reserved = event.delta, 0
        case LowStockThresholdSet():
            on_hand, reserved, threshold = 0, 0, event.threshold
        case StockAvailabilityChanged():
            on_hand, reserved = 0, 0  # says what the events before it did; counts as the warehouse's next event
        case _:
            return state
    current = state or Inventory(sku=event.sku)
    stock = current.stock(event.warehouse)
    changed = WarehouseStock(
        stock.on_hand + on_hand,
        stock.reserved + reserved,
        stock.low_stock_threshold if threshold is None else threshold,
        stock.events + 1,
    )
    return Inventory(current.sku, {**current.warehouses, event.warehouse: changed})


def decide(command: InventoryCommand, state: Inventory | None) -> list[EventPayload]:
    return with_availability(state, number(state, _decide(command, state)))


def with_availability(before: Inventory | None, events: list[EventPayload]) -> list[EventPayload]:
    """The (numbered) events of one inventory stream, followed by a StockAvailabilityChanged for each warehouse
    whose availability they take across zero: in stock (available > 0) before and not after, or the reverse."""
    after = before
    for event in events:
        after = evolve(after, event)
    if after is None or after is before:
        return events
    flips: list[EventPayload] = []
    for warehouse in sorted({e.warehouse for e in events if isinstance(e, InventoryEvent)}):
        was = before is not None and before.stock(warehouse).available > 0
        stock = after.stock(warehouse)
        if was != (stock.available > 0):
            flips.append(
                StockAvailabilityChanged(
                    sku=after.sku, warehouse=warehouse, in_stock=not was, warehouse_version=stock.events + 1
                )
            )
    return [*events, *flips]


def _decide(command: InventoryCommand, state: Inventory | None) -> list[EventPayload]:
    inventory = state or Inventory(sku=command.sku)
    match command:
        case ReceiveStock():
            return [
                StockReceived(
                    sku=command.sku, warehouse=command.warehouse, quantity=command.quantity, reference=command.reference
                )
            ]
        case AdjustStock():
            stock = inventory.stock(command.warehouse)
            if stock.on_hand + command.delta < stock.reserved:
                raise InsufficientStock(
                    f"on hand in {command.warehouse} would drop below what is reserved",
                    sku=command.sku,
                    warehouse=command.warehouse,
                    on_hand=stock.on_hand,
                    reserved=stock.reserved,
                    delta=command.delta,
                )
            return [
                StockAdjusted(
                    sku=command.sku,
                    warehouse=command.warehouse,
                    delta=command.delta,
                    reason=command.reason,
                    note=command.note,
                )
            ]
        case SetLowStockThreshold():
            # The same threshold again changes nothing; on a warehouse the SKU has no row in yet, it makes the row
            # (before, the default 0 on a new SKU appended nothing and left no state to answer with).
            known = command.warehouse in inventory.warehouses
            if known and inventory.stock(command.warehouse).low_stock_threshold == command.threshold:
                return []
            return [LowStockThresholdSet(sku=command.sku, warehouse=command.warehouse, threshold=command.threshold)]
    raise TypeError(f"not an inventory command: {command!r}")


def number(inventory: Inventory | None, events: list[EventPayload]) -> list[EventPayload]:
    """Give each event its warehouse_version: the next count of its warehouse, in order."""
    counts = event_counts(inventory)
    numbered = []
    for event in events:
        warehouse = getattr(event, "warehouse", None)
        if warehouse is None:
            numbered.append(event)
            continue
        counts[warehouse] = counts.get(warehouse, 0) + 1
        numbered.append(event.model_copy(update={"warehouse_version": counts[warehouse]}))
    return numbered


def allocate(inventory: Inventory | None, quantity: int, taken: dict[str, int] | None = None) -> list[Allocation]:
    """Where to take `quantity` from: one warehouse if one can fill it alone (the one with most available), else
    split across warehouses, most available first. `taken` is what earlier lines of the same order took.
    Returns [] if all warehouses together cannot fill it."""
    taken = taken or {}
    available = {
        name: stock.available - taken.get(name, 0)
        for name, stock in (inventory.warehouses.items() if inventory else ())
    }
    ranked = sorted(((a, name) for name, a in available.items() if a > 0), key=lambda item: (-item[0], item[1]))
    for amount, name in ranked:
        if amount >= quantity:
            return [Allocation(warehouse=name, quantity=quantity)]
    if sum(a for a, _ in ranked) < quantity:
        return []
    allocations, remaining = [], quantity
    for amount, name in ranked:
        take = min(amount, remaining)
        allocations.append(Allocation(warehouse=name, quantity=take))
        remaining -= take
        if remaining == 0:
            break
    return allocations


def event_counts(inventory: Inventory | None) -> dict[str, int]:
    """Each warehouse's events so far: the next one of a warehouse is numbered its count + 1."""
    return {name: stock.events for name, stock in (inventory.warehouses.items() if inventory else ())}


def reserve(sku: str, order_id: str, allocations: list[Allocation], counts: dict[str, int]) -> list[EventPayload]:
    """A StockReserved per allocation, numbered on from `counts` (see event_counts), which it moves on."""
    reserved: list[EventPayload] = []
    for allocation in allocations:
        counts[allocation.warehouse] = counts.get(allocation.warehouse, 0) + 1
        reserved.append(
            StockReserved(
                sku=sku,
                order_id=order_id,
                warehouse=allocation.warehouse,
                quantity=allocation.quantity,
                warehouse_version=counts[allocation.warehouse],
            )
        )
    return reserved


def _reserved(inventory: Inventory | None, sku: str, order_id: str, reserved: dict[str, int]) -> None:
    """What an order says it reserved must still be reserved here: anything else is a corrupt history."""
    for warehouse, quantity in reserved.items():
        held = inventory.stock(warehouse).reserved if inventory else 0
        if quantity > held:
            raise ValueError(
                f"order {order_id} reserved {quantity} of {sku} in {warehouse}, but only {held} is reserved there"
            )


def release(inventory: Inventory | None, sku: str, order_id: str, reserved: dict[str, int]) -> list[EventPayload]:
    """Give back what the order reserved (warehouse -> quantity, from its lines' allocations)."""
    _reserved(inventory, sku, order_id, reserved)
    released: list[EventPayload] = [
        StockReservationReleased(sku=sku, order_id=order_id, warehouse=w, quantity=q)
        for w, q in sorted(reserved.items())
    ]
    return with_availability(inventory, number(inventory, released))


def ship(inventory: Inventory | None, sku: str, order_id: str, reserved: dict[str, int]) -> list[EventPayload]:
    """Ship what the order reserved (warehouse -> quantity, from its lines' allocations)."""
    _reserved(inventory, sku, order_id, reserved)
    shipped: list[EventPayload] = [
        StockShipped(sku=sku, order_id=order_id, warehouse=w, quantity=q) for w, q in sorted(reserved.items())
    ]
    return with_availability(inventory, number(inventory, shipped))
