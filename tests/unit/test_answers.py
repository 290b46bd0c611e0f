"""Every answer body of the write API is exactly its model (routes/answers.py): each field there, of its type, and
nothing more; and the bodies are made from the domain state, not from its snapshot."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel

from shared.events.payloads import Address, Allocation, Customer, Money, OrderLine
from write_api.domain.inventory import Inventory, WarehouseStock
from write_api.domain.orders import Order
from write_api.domain.products import Product
from write_api.routes.answers import InventoryOut, OrderOut, ProductOut, render_inventory, render_order, render_product
from write_api.service_layer.commit import Outcome

USD = Money(amount=Decimal("9.9"), currency="USD")


def exactly(model: type[BaseModel], body: dict[str, Any]) -> None:
    # Fields the body lacks fail validation (or would show as unset); fields it adds fail (extra="forbid").
    assert model.model_validate(body).model_dump(mode="json", exclude_unset=True) == body


def order(line2: str | None, status: str = "placed") -> Order:
    lines = (
        OrderLine(
            sku="A", name="a", quantity=3, unit_price=USD, allocations=(Allocation(warehouse="ams", quantity=3),)
        ),
        OrderLine(
            sku="B",
            name="b",
            quantity=2,
            unit_price=Money(amount=Decimal("1"), currency="USD"),
            allocations=(Allocation(warehouse="ams", quantity=1), Allocation(warehouse="ber", quantity=1)),
        ),
    )
    address = Address(name="N", line1="L", line2=line2, city="C", postal_code="1", country="DE")
    customer = Customer(id="c", name="N", email="n@example.com")
    return Order("ORD-1", status, customer, address, lines, Money(amount=Decimal("31.7"), currency="USD"))


@pytest.mark.parametrize("line2", [None, "Flat 2"])
@pytest.mark.parametrize("status", ["placed", "shipped", "cancelled"])
def test_order_answers(line2: str | None, status: str) -> None:
    body = render_order(Outcome(order(line2, status), 4, 1234, []))
    exactly(OrderOut, body)
    assert ("line2" in body["shipping_address"]) is (line2 is not None)
    assert body["total"] == {"amount": "31.70", "currency": "USD"}
    assert body["lines"][0]["unit_price"] == {"amount": "9.90", "currency": "USD"}
    assert (body["version"], body["position"], body["status"]) == (4, 1234, status)


@pytest.mark.parametrize("discontinued", [False, True])
def test_product_answers(discontinued: bool) -> None:
    bare = Product(sku="A", name="a", price=USD, discontinued=discontinued)
    full = Product(sku="B", name="b", price=USD, description="d", brand="x", category="y", attributes={"k": "v"})
    for product in (bare, full):
        body = render_product(Outcome(product, 2, 99, []))
        exactly(ProductOut, body)
        assert body["price"] == {"amount": "9.90", "currency": "USD"}
    assert render_product(Outcome(bare, 2, 99, []))["status"] == ("discontinued" if discontinued else "active")


def test_inventory_answers() -> None:
    stock = Inventory("A", {"ber": WarehouseStock(5, 2, 1, 3), "ams": WarehouseStock(1, 1, 0, 2)})
    body = render_inventory(Outcome(stock, 5, 77, []))
    exactly(InventoryOut, body)
    assert [w["warehouse"] for w in body["warehouses"]] == ["ams", "ber"]
    assert body["warehouses"][1] == {
        "warehouse": "ber",
        "on_hand": 5,
        "reserved": 2,
        "available": 3,
        "low_stock_threshold": 1,
    }
