"""The bodies of the write API's answers, made from a command's outcome (state, version, position).

Each body has its own model here, declared in OpenAPI, not the aggregate's snapshot or the event payloads, so that
the stored state and the API change apart. The render functions write the body out from the domain state directly:
building and dumping the model for every answer costs a few percent of an order's CPU (README, Decisions);
tests/unit/test_answers.py checks that every body is exactly its model."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events.payloads import Money
from write_api.domain.inventory import Inventory
from write_api.domain.orders import Order
from write_api.domain.products import Product
from write_api.service_layer.commit import Outcome

_CENT = Decimal("0.01")


class AnswerModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MoneyOut(AnswerModel):
    amount: str = Field(pattern=r"^\d+\.\d{2}$", examples=["9.90"])
    currency: str = Field(pattern=r"^[A-Z]{3}$")


# Every answer ends with the stream's version and the write's position (the read-your-writes token).


class ProductOut(AnswerModel):
    sku: str
    name: str
    price: MoneyOut
    description: str | None
    brand: str | None
    category: str | None
    attributes: dict[str, str]
    discontinued: bool
    status: Literal["active", "discontinued"]
    version: int
    position: int


class WarehouseOut(AnswerModel):
    warehouse: str
    on_hand: int
    reserved: int
    available: int
    low_stock_threshold: int


class InventoryOut(AnswerModel):
    sku: str
    warehouses: list[WarehouseOut]
    version: int
    position: int


class CustomerOut(AnswerModel):
    id: str
    name: str
    email: str


class AddressOut(AnswerModel):
    name: str
    line1: str
    line2: str | None = Field(default=None, description="absent when the order has none")
    city: str
    postal_code: str
    country: str


class AllocationOut(AnswerModel):
    warehouse: str
    quantity: int


class OrderLineOut(AnswerModel):
    sku: str
    name: str
    quantity: int
    unit_price: MoneyOut
    allocations: list[AllocationOut]


class OrderOut(AnswerModel):
    order_id: str
    status: Literal["placed", "shipped", "cancelled"]
    customer: CustomerOut
    shipping_address: AddressOut
    lines: list[OrderLineOut]
    total: MoneyOut
    version: int
    position: int


class RejectionErrorOut(AnswerModel):
    code: str
    message: str | None = Field(default=None, description="present for a rule the item broke")
    fields: dict[str, str] | None = Field(default=None, description="present for invalid fields: field -> problem")


class RejectionOut(AnswerModel):
    index: int = Field(ge=0, description="the item's place in the body, from 0")
    error: RejectionErrorOut


class ImportOut(AnswerModel):
    created: int
    updated: int
    unchanged: int
    rejected: list[RejectionOut]
    position: int


class ReceiptsOut(AnswerModel):
    applied: int
    rejected: list[RejectionOut]
    position: int


def _money(money: Money) -> dict[str, Any]:
    return {"amount": f"{money.amount.quantize(_CENT)}", "currency": money.currency}


def render_product(outcome: Outcome[Product]) -> dict[str, Any]:
    """A ProductOut."""
    product = outcome.state
    assert product is not None
    return {
        "sku": product.sku,
        "name": product.name,
        "price": _money(product.price),
        "description": product.description,
        "brand": product.brand,
        "category": product.category,
        "attributes": product.attributes,
        "discontinued": product.discontinued,
        "status": "discontinued" if product.discontinued else "active",
        "version": outcome.version,
        "position": outcome.position,
    }


def render_inventory(outcome: Outcome[Inventory]) -> dict[str, Any]:
    """An InventoryOut."""
    stock = outcome.state
    assert stock is not None
    warehouses = [
        {
            "warehouse": name,
            "on_hand": w.on_hand,
            "reserved": w.reserved,
            "available": w.available,
            "low_stock_threshold": w.low_stock_threshold,
        }
        for name, w in sorted(stock.warehouses.items())
    ]
    return {"sku": stock.sku, "warehouses": warehouses, "version": outcome.version, "position": outcome.position}


def render_order(outcome: Outcome[Order]) -> dict[str, Any]:
    """An OrderOut."""
    order = outcome.state
    assert order is not None
    customer, address = order.customer, order.shipping_address
    shipping_address = {"name": address.name, "line1": address.line1}
    if address.line2 is not None:
        shipping_address["line2"] = address.line2
    shipping_address.update(city=address.city, postal_code=address.postal_code, country=address.country)
    lines = [
        {
            "sku": line.sku,
            "name": line.name,
            "quantity": line.quantity,
            "unit_price": _money(line.unit_price),
            "allocations": [{"warehouse": a.warehouse, "quantity": a.quantity} for a in line.allocations],
        }
        for line in order.lines
    ]
    return {
        "order_id": order.order_id,
        "status": order.status,
        "customer": {"id": customer.id, "name": customer.name, "email": customer.email},
        "shipping_address": shipping_address,
        "lines": lines,
        "total": _money(order.total),
        "version": outcome.version,
        "position": outcome.position,
    }
