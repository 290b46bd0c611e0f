"""The order aggregate and the decisions that span orders, products and inventory: given state -> when command ->
then events (or the error), all pure."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.events.payloads import (
    Address,
    Allocation,
    Customer,
    EventPayload,
    Money,
    OrderCancelled,
    OrderLine,
    OrderLineAdded,
    OrderPlaced,
    OrderShipped,
    StockAvailabilityChanged,
    StockReceived,
    StockReservationReleased,
    StockReserved,
    StockShipped,
)
from write_api.commands import AddOrderLine, CancelOrder, OrderLineRequest, PlaceOrder, ShipOrder
from write_api.domain import inventory as inv
from write_api.domain import orders
from write_api.domain.errors import AlreadyExists, InsufficientStock, InvalidTransition, NotFound, ProductDiscontinued
from write_api.domain.orders import Order
from write_api.domain.products import Product

CUSTOMER = Customer(id="C-1", name="Ada Lovelace", email="ada@example.com")
ADDRESS = Address(name="Ada Lovelace", line1="1 Main St", city="London", postal_code="N1", country="GB")
ORDER = "ORD-1"


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


PRODUCTS: dict[str, Product | None] = {
    "CABLE": Product("CABLE", "HDMI cable", usd("9.90")),
    "MOUSE": Product("MOUSE", "Mouse", usd("25.00")),
    "OLD": Product("OLD", "Old thing", usd("1.00"), discontinued=True),
    "EURO": Product("EURO", "Euro thing", Money(amount=Decimal("5.00"), currency="EUR")),
}


def stock(sku: str, **per_warehouse: int) -> inv.Inventory | None:
    state: inv.Inventory | None = None
    events: list[EventPayload] = [StockReceived(sku=sku, warehouse=w, quantity=q) for w, q in per_warehouse.items()]
    for event in inv.number(None, events):
        state = inv.evolve(state, event)
    return state


def place_command(*lines: tuple[str, int]) -> PlaceOrder:
    return PlaceOrder(ORDER, CUSTOMER, ADDRESS, tuple(OrderLineRequest(sku, q) for sku, q in lines))


def placed_order(
    inventories: dict[str, inv.Inventory | None], *lines: tuple[str, int]
) -> tuple[Order, dict[str, inv.Inventory | None]]:
    """The order after placing it, and the inventories after its reservations."""
    order_events, reservations = orders.place(place_command(*lines), None, PRODUCTS, inventories)
    state: Order | None = None
    for event in order_events:
        state = orders.evolve(state, event)
    after = dict(inventories)
    for sku, events in reservations.items():
        for event in events:
            after[sku] = inv.evolve(after[sku], event)
    assert state is not None
    return state, after


# ------------------------------------------------------------------------------------------ place
def test_place_prices_from_the_product_and_reserves_in_one_warehouse() -> None:
    inventories = {"CABLE": stock("CABLE", berlin=5, paris=3), "MOUSE": stock("MOUSE", paris=4)}
    order_events, reservations = orders.place(place_command(("CABLE", 2), ("MOUSE", 1)), None, PRODUCTS, inventories)
    assert order_events == [
        OrderPlaced(
            order_id=ORDER,
            customer=CUSTOMER,
            shipping_address=ADDRESS,
            lines=(
                OrderLine(
                    sku="CABLE",
                    name="HDMI cable",
                    quantity=2,
                    unit_price=usd("9.90"),
                    allocations=(Allocation(warehouse="berlin", quantity=2),),
                ),
                OrderLine(
                    sku="MOUSE",
                    name="Mouse",
                    quantity=1,
                    unit_price=usd("25.00"),
                    allocations=(Allocation(warehouse="paris", quantity=1),),
                ),
            ),
            total=usd("44.80"),
        )
    ]
    assert reservations == {
        "CABLE": [StockReserved(sku="CABLE", order_id=ORDER, warehouse="berlin", quantity=2, warehouse_version=2)],
        "MOUSE": [StockReserved(sku="MOUSE", order_id=ORDER, warehouse="paris", quantity=1, warehouse_version=2)],
    }


def test_place_splits_a_line_across_warehouses_and_counts_earlier_lines_of_the_same_sku() -> None:
    order, after = placed_order({"CABLE": stock("CABLE", berlin=5, paris=3)}, ("CABLE", 4), ("CABLE", 3))
    assert [line.allocations for line in order.lines] == [
        (Allocation(warehouse="berlin", quantity=4),),
        (Allocation(warehouse="paris", quantity=3),),
    ]
    cable = after["CABLE"]
    assert cable is not None and cable.available == 1


def test_place_refuses_when_any_line_is_short_and_names_every_short_line() -> None:
    inventories = {"CABLE": stock("CABLE", berlin=2), "MOUSE": stock("MOUSE", paris=1)}
    with pytest.raises(InsufficientStock) as refused:
        orders.place(place_command(("CABLE", 3), ("MOUSE", 2)), None, PRODUCTS, inventories)
    assert refused.value.details == {
        "lines": [
            {"sku": "CABLE", "requested": 3, "available": 2},
            {"sku": "MOUSE", "requested": 2, "available": 1},
        ]
    }


def test_place_without_any_stock_is_short() -> None:
    with pytest.raises(InsufficientStock):
        orders.place(place_command(("CABLE", 1)), None, PRODUCTS, {"CABLE": None})


def test_place_refuses_an_unknown_product_naming_its_line() -> None:
    with pytest.raises(NotFound) as refused:
        orders.place(place_command(("CABLE", 1), ("NOPE", 1)), None, PRODUCTS, {"CABLE": stock("CABLE", b=9)})
    assert refused.value.details == {"sku": "NOPE", "line": 1}


def test_place_refuses_a_discontinued_product() -> None:
    with pytest.raises(ProductDiscontinued) as refused:
        orders.place(place_command(("OLD", 1)), None, PRODUCTS, {"OLD": stock("OLD", b=9)})
    assert refused.value.details == {"sku": "OLD", "line": 0}


def test_place_refuses_products_in_two_currencies() -> None:
    inventories = {"CABLE": stock("CABLE", b=9), "EURO": stock("EURO", b=9)}
    with pytest.raises(InvalidTransition, match="priced in EUR"):
        orders.place(place_command(("CABLE", 1), ("EURO", 1)), None, PRODUCTS, inventories)


def test_place_refuses_an_order_id_that_exists() -> None:
    existing, _ = placed_order({"CABLE": stock("CABLE", b=9)}, ("CABLE", 1))
    with pytest.raises(AlreadyExists):
        orders.place(place_command(("CABLE", 1)), existing, PRODUCTS, {"CABLE": stock("CABLE", b=9)})


# ------------------------------------------------------------------------------------------ add a line
def test_add_line_reserves_and_updates_the_total() -> None:
    order, _ = placed_order({"CABLE": stock("CABLE", b=9)}, ("CABLE", 1))
    events, reservations = orders.add_line(
        AddOrderLine(ORDER, OrderLineRequest("MOUSE", 2)), order, PRODUCTS, {"MOUSE": stock("MOUSE", b=2)}
    )
    [added] = events
    assert isinstance(added, OrderLineAdded)
    assert added.total == usd("59.90")
    assert added.line.allocations == (Allocation(warehouse="b", quantity=2),)
    # The last two MOUSE in warehouse b are taken: it runs out there.
    assert [e.TYPE for e in reservations["MOUSE"]] == ["StockReserved", "StockAvailabilityChanged"]
    assert orders.evolve(order, added) == Order(
        ORDER, "placed", CUSTOMER, ADDRESS, (*order.lines, added.line), usd("59.90")
    )


def test_add_line_refuses_another_currency_short_stock_and_a_closed_order() -> None:
    order, _ = placed_order({"CABLE": stock("CABLE", b=9)}, ("CABLE", 1))
    with pytest.raises(InvalidTransition, match="priced in EUR"):
        orders.add_line(AddOrderLine(ORDER, OrderLineRequest("EURO", 1)), order, PRODUCTS, {"EURO": stock("EURO", b=1)})
    with pytest.raises(InsufficientStock):
        orders.add_line(AddOrderLine(ORDER, OrderLineRequest("MOUSE", 2)), order, PRODUCTS, {"MOUSE": None})
    cancelled = orders.evolve(order, OrderCancelled(order_id=ORDER, reason="customer"))
    with pytest.raises(InvalidTransition, match="a cancelled order cannot be changed"):
        orders.add_line(AddOrderLine(ORDER, OrderLineRequest("CABLE", 1)), cancelled, PRODUCTS, {})
    with pytest.raises(NotFound):
        orders.add_line(AddOrderLine(ORDER, OrderLineRequest("CABLE", 1)), None, PRODUCTS, {})


def test_add_line_refuses_beyond_the_line_limit() -> None:
    order, _ = placed_order({"CABLE": stock("CABLE", b=500)}, *([("CABLE", 1)] * orders.MAX_LINES))
    with pytest.raises(InvalidTransition, match=f"at most {orders.MAX_LINES} lines"):
        orders.add_line(
            AddOrderLine(ORDER, OrderLineRequest("CABLE", 1)), order, PRODUCTS, {"CABLE": stock("CABLE", b=1)}
        )


# ------------------------------------------------------------------------------------------ cancel / ship
def two_warehouse_order() -> tuple[Order, dict[str, inv.Inventory | None]]:
    inventories = {"CABLE": stock("CABLE", berlin=2, paris=2), "MOUSE": stock("MOUSE", rome=5)}
    return placed_order(inventories, ("CABLE", 3), ("MOUSE", 1), ("CABLE", 1))


def test_order_knows_what_it_reserved() -> None:
    order, _ = two_warehouse_order()
    assert order.reserved() == {"CABLE": {"berlin": 2, "paris": 2}, "MOUSE": {"rome": 1}}


def test_cancel_releases_every_reservation_of_the_order() -> None:
    order, after = two_warehouse_order()
    events, releases = orders.cancel(CancelOrder(ORDER, "customer asked"), order, after)
    assert events == [OrderCancelled(order_id=ORDER, reason="customer asked")]
    assert releases == {
        # berlin: received, reserved for line 1, out of stock, released, in stock again
        "CABLE": [
            StockReservationReleased(sku="CABLE", order_id=ORDER, warehouse="berlin", quantity=2, warehouse_version=4),
            # paris: received, reserved for line 1, reserved for line 3, out of stock, released, in stock again
            StockReservationReleased(sku="CABLE", order_id=ORDER, warehouse="paris", quantity=2, warehouse_version=5),
            StockAvailabilityChanged(sku="CABLE", warehouse="berlin", in_stock=True, warehouse_version=5),
            StockAvailabilityChanged(sku="CABLE", warehouse="paris", in_stock=True, warehouse_version=6),
        ],
        "MOUSE": [
            StockReservationReleased(sku="MOUSE", order_id=ORDER, warehouse="rome", quantity=1, warehouse_version=3)
        ],
    }
    for sku, released in releases.items():
        state = after[sku]
        for event in released:
            state = inv.evolve(state, event)
        assert state is not None
        assert all(s.reserved == 0 and s.available == s.on_hand for s in state.warehouses.values())


def test_ship_ships_every_reservation_of_the_order() -> None:
    order, after = two_warehouse_order()
    events, shipments = orders.ship(ShipOrder(ORDER, "DHL", "TRACK-1"), order, after)
    assert events == [OrderShipped(order_id=ORDER, carrier="DHL", tracking_number="TRACK-1")]
    assert {sku: [(e.warehouse, e.quantity) for e in evs] for sku, evs in shipments.items()} == {  # type: ignore[attr-defined]
        "CABLE": [("berlin", 2), ("paris", 2)],
        "MOUSE": [("rome", 1)],
    }
    assert all(isinstance(e, StockShipped) for evs in shipments.values() for e in evs)
    cable = after["CABLE"]
    for event in shipments["CABLE"]:
        cable = inv.evolve(cable, event)
    assert cable is not None and (cable.stock("berlin").on_hand, cable.stock("berlin").reserved) == (0, 0)


@pytest.mark.parametrize("closing", [OrderCancelled(order_id=ORDER, reason="x"), OrderShipped(order_id=ORDER)])
def test_nothing_leaves_cancelled_or_shipped(closing: EventPayload) -> None:
    order, after = two_warehouse_order()
    closed = orders.evolve(order, closing)
    with pytest.raises(InvalidTransition):
        orders.cancel(CancelOrder(ORDER, "again"), closed, after)
    with pytest.raises(InvalidTransition):
        orders.ship(ShipOrder(ORDER), closed, after)


def test_cancel_or_ship_an_unknown_order_is_not_found() -> None:
    with pytest.raises(NotFound):
        orders.cancel(CancelOrder(ORDER, "x"), None, {})
    with pytest.raises(NotFound):
        orders.ship(ShipOrder(ORDER), None, {})


def test_order_snapshot_round_trip() -> None:
    order, _ = two_warehouse_order()
    assert Order.from_snapshot(order.to_snapshot()) == order
