"""The inventory aggregate: given events -> when command -> then events (or the error), all pure."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from shared.events.payloads import (
    Allocation,
    EventPayload,
    LowStockThresholdSet,
    StockAdjusted,
    StockAvailabilityChanged,
    StockReceived,
    StockReservationReleased,
    StockReserved,
    StockShipped,
)
from write_api.commands import AdjustStock, InventoryCommand, ReceiveStock, SetLowStockThreshold
from write_api.domain import inventory
from write_api.domain.errors import InsufficientStock
from write_api.domain.inventory import Inventory, WarehouseStock, allocate, decide, evolve

SKU = "SKU-1"


def given(events: Sequence[EventPayload]) -> Inventory | None:
    state: Inventory | None = None
    for event in inventory.number(None, list(events)):
        state = evolve(state, event)
    return state


def when(given_events: Sequence[EventPayload], command: InventoryCommand) -> list[EventPayload]:
    return decide(command, given(given_events))


def received(warehouse: str, quantity: int) -> StockReceived:
    return StockReceived(sku=SKU, warehouse=warehouse, quantity=quantity)


def reserved(order_id: str, warehouse: str, quantity: int) -> StockReserved:
    return StockReserved(sku=SKU, order_id=order_id, warehouse=warehouse, quantity=quantity)


# ------------------------------------------------------------------------------------------ receive
def test_receive_on_a_new_stream() -> None:
    """The first stock of a warehouse puts it in stock: said after the receipt, as its next event."""
    assert when([], ReceiveStock(SKU, "berlin", 5, "PO-1")) == [
        StockReceived(sku=SKU, warehouse="berlin", quantity=5, reference="PO-1", warehouse_version=1),
        StockAvailabilityChanged(sku=SKU, warehouse="berlin", in_stock=True, warehouse_version=2),
    ]


def test_receive_numbers_events_per_warehouse() -> None:
    history = [received("berlin", 5), received("paris", 1), received("berlin", 2)]
    [event] = when(history, ReceiveStock(SKU, "berlin", 1))
    assert event.warehouse_version == 3  # type: ignore[attr-defined]
    [event] = when(history, ReceiveStock(SKU, "paris", 1))
    assert event.warehouse_version == 2  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------------ adjust
def test_adjust_down_to_what_is_reserved() -> None:
    history = [received("berlin", 10), reserved("O-1", "berlin", 4)]
    assert when(history, AdjustStock(SKU, "berlin", -6, "damaged", "dropped")) == [
        StockAdjusted(sku=SKU, warehouse="berlin", delta=-6, reason="damaged", note="dropped", warehouse_version=3),
        StockAvailabilityChanged(sku=SKU, warehouse="berlin", in_stock=False, warehouse_version=4),
    ]


def test_adjust_below_what_is_reserved_is_refused() -> None:
    history = [received("berlin", 10), reserved("O-1", "berlin", 4)]
    with pytest.raises(InsufficientStock) as refused:
        when(history, AdjustStock(SKU, "berlin", -7, "lost"))
    assert refused.value.details == {
        "sku": SKU,
        "warehouse": "berlin",
        "on_hand": 10,
        "reserved": 4,
        "delta": -7,
    }


def test_adjust_up_found_stock() -> None:
    events = when([], AdjustStock(SKU, "berlin", 3, "found"))
    assert given(events) == Inventory(SKU, {"berlin": WarehouseStock(on_hand=3, events=2)})


# ------------------------------------------------------------------------------------------ availability
def test_availability_is_said_only_when_it_crosses_zero() -> None:
    history = [received("berlin", 5), received("paris", 1)]
    assert len(when(history, ReceiveStock(SKU, "berlin", 1))) == 1  # in stock before and after: nothing to say
    assert when(history, AdjustStock(SKU, "paris", -1, "lost")) == [
        StockAdjusted(sku=SKU, warehouse="paris", delta=-1, reason="lost", warehouse_version=2),
        StockAvailabilityChanged(sku=SKU, warehouse="paris", in_stock=False, warehouse_version=3),
    ]


def test_an_availability_change_moves_nothing_but_is_counted() -> None:
    state = given([received("berlin", 5)])
    after = evolve(state, StockAvailabilityChanged(sku=SKU, warehouse="berlin", in_stock=True))
    assert after is not None and state is not None
    assert (after.stock("berlin").on_hand, after.stock("berlin").events) == (5, state.stock("berlin").events + 1)


# ------------------------------------------------------------------------------------------ threshold
def test_set_a_low_stock_threshold() -> None:
    assert when([received("berlin", 1)], SetLowStockThreshold(SKU, "berlin", 5)) == [
        LowStockThresholdSet(sku=SKU, warehouse="berlin", threshold=5, warehouse_version=2)
    ]


def test_setting_the_same_threshold_again_appends_nothing() -> None:
    history = [LowStockThresholdSet(sku=SKU, warehouse="berlin", threshold=5)]
    assert when(history, SetLowStockThreshold(SKU, "berlin", 5)) == []


# ------------------------------------------------------------------------------------------ folding
def test_fold_of_reserve_release_and_ship() -> None:
    state = given(
        [
            received("berlin", 10),
            reserved("O-1", "berlin", 3),
            reserved("O-2", "berlin", 2),
            StockReservationReleased(sku=SKU, order_id="O-1", warehouse="berlin", quantity=3),
            StockShipped(sku=SKU, order_id="O-2", warehouse="berlin", quantity=2),
        ]
    )
    assert state is not None
    stock = state.stock("berlin")
    assert (stock.on_hand, stock.reserved, stock.available, stock.events) == (8, 0, 8, 5)


def test_the_snapshot_holds_totals_only_however_many_orders_are_open() -> None:
    few = given([received("berlin", 1000), *(reserved(f"O-{i}", "berlin", 1) for i in range(2))])
    many = given([received("berlin", 1000), *(reserved(f"O-{i}", "berlin", 1) for i in range(500))])
    assert few is not None and many is not None
    assert few.to_snapshot() == {"sku": SKU, "warehouses": {"berlin": [1000, 2, 0, 3]}}
    assert many.to_snapshot() == {"sku": SKU, "warehouses": {"berlin": [1000, 500, 0, 501]}}
    assert Inventory.from_snapshot(many.to_snapshot()) == many


# ------------------------------------------------------------------------------------------ allocation
def stock_of(**available: int) -> Inventory:
    return Inventory(SKU, {name: WarehouseStock(on_hand=q) for name, q in available.items()})


def test_allocate_from_the_one_warehouse_that_can_fill_the_line_with_most_available() -> None:
    assert allocate(stock_of(berlin=5, paris=8, rome=2), 4) == [Allocation(warehouse="paris", quantity=4)]


def test_allocate_splits_most_available_first_when_no_warehouse_can_fill_alone() -> None:
    assert allocate(stock_of(berlin=5, paris=8, rome=2), 14) == [
        Allocation(warehouse="paris", quantity=8),
        Allocation(warehouse="berlin", quantity=5),
        Allocation(warehouse="rome", quantity=1),
    ]


def test_allocate_counts_what_earlier_lines_of_the_order_took() -> None:
    assert allocate(stock_of(berlin=5, paris=8), 4, {"paris": 6}) == [Allocation(warehouse="berlin", quantity=4)]


def test_allocate_nothing_when_all_warehouses_together_fall_short() -> None:
    assert allocate(stock_of(berlin=5, paris=8), 14) == []
    assert allocate(None, 1) == []


# ------------------------------------------------------------------------------------------ release / ship
def test_release_and_ship_exactly_what_the_order_says_it_reserved() -> None:
    state = given(
        [received("berlin", 5), received("paris", 5), reserved("O-1", "berlin", 2), reserved("O-1", "paris", 1)]
    )
    assert inventory.release(state, SKU, "O-1", {"paris": 1, "berlin": 2}) == [
        StockReservationReleased(sku=SKU, order_id="O-1", warehouse="berlin", quantity=2, warehouse_version=3),
        StockReservationReleased(sku=SKU, order_id="O-1", warehouse="paris", quantity=1, warehouse_version=3),
    ]
    assert inventory.ship(state, SKU, "O-1", {"berlin": 2}) == [
        StockShipped(sku=SKU, order_id="O-1", warehouse="berlin", quantity=2, warehouse_version=3)
    ]


def test_releasing_more_than_is_reserved_is_a_corrupt_history_not_a_negative_count() -> None:
    state = given([received("berlin", 5), reserved("O-1", "berlin", 2)])
    with pytest.raises(ValueError, match="only 2 is reserved"):
        inventory.release(state, SKU, "O-1", {"berlin": 3})
    with pytest.raises(ValueError, match="only 0 is reserved"):
        inventory.ship(None, SKU, "O-1", {"berlin": 1})
