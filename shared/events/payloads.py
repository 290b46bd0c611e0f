"""Event payload schemas: the contract between the write side and every reader of the store or the broker.

Each payload class has a stable `TYPE` string (never a Python path) and a `SCHEMA_VERSION`. When a payload changes
shape, its version goes up and an upcaster in `upcasting.py` turns stored older versions into the current one.
Readers are tolerant: unknown fields are ignored.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

_CENT = Decimal("0.01")


class Money(BaseModel):
    # Tolerant reader: a stored payload may carry fields a later version added.
    model_config = ConfigDict(frozen=True, extra="ignore")

    amount: Decimal = Field(max_digits=14, decimal_places=2, ge=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")

    @field_serializer("amount")
    def _amount_as_string(self, amount: Decimal) -> str:
        return f"{amount.quantize(_CENT)}"

    def cents(self) -> int:
        return int((self.amount * 100).to_integral_value())


class EventPayload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    TYPE: ClassVar[str]
    STREAM_TYPE: ClassVar[str]
    SCHEMA_VERSION: ClassVar[int] = 1

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


# ---------------------------------------------------------------- product-<sku>
class ProductRegistered(EventPayload):
    TYPE = "ProductRegistered"
    STREAM_TYPE = "product"
    # v1 carried `price_cents: int` in US dollars; v2 carries `price: Money` (see upcasting.py).
    SCHEMA_VERSION = 2

    sku: str
    name: str
    description: str | None = None
    brand: str | None = None
    category: str | None = None
    price: Money
    attributes: dict[str, str] = Field(default_factory=dict)


class ProductDetailsChanged(EventPayload):
    TYPE = "ProductDetailsChanged"
    STREAM_TYPE = "product"

    sku: str
    # Only the fields that changed; a field set to null was cleared.
    changes: dict[str, Any]


class ProductPriceChanged(EventPayload):
    TYPE = "ProductPriceChanged"
    STREAM_TYPE = "product"

    sku: str
    price: Money
    previous: Money


class ProductDiscontinued(EventPayload):
    TYPE = "ProductDiscontinued"
    STREAM_TYPE = "product"

    sku: str
    reason: str | None = None


PRODUCT_EVENTS: tuple[type[EventPayload], ...] = (
    ProductRegistered,
    ProductDetailsChanged,
    ProductPriceChanged,
    ProductDiscontinued,
)


# ---------------------------------------------------------------- inventory-<sku> (every warehouse of one SKU)
AdjustmentReason = Literal["count_correction", "damaged", "lost", "found", "returned", "other"]


class InventoryEvent(EventPayload):
    """What every inventory event says: which SKU and warehouse, and its place among that warehouse's events."""

    STREAM_TYPE = "inventory"

    sku: str
    warehouse: str
    # The n-th event of this warehouse in the SKU's stream: lets a per-warehouse read model detect gaps.
    warehouse_version: int | None = None


class StockReceived(InventoryEvent):
    TYPE = "StockReceived"

    quantity: int
    reference: str | None = None


class StockAdjusted(InventoryEvent):
    TYPE = "StockAdjusted"

    delta: int
    reason: AdjustmentReason
    note: str | None = None


class LowStockThresholdSet(InventoryEvent):
    TYPE = "LowStockThresholdSet"

    threshold: int


class OrderStockEvent(InventoryEvent):
    """Stock moved for an order: reserved, released or shipped."""

    order_id: str
    quantity: int


class StockReserved(OrderStockEvent):
    TYPE = "StockReserved"


class StockReservationReleased(OrderStockEvent):
    TYPE = "StockReservationReleased"


class StockShipped(OrderStockEvent):
    TYPE = "StockShipped"


class StockAvailabilityChanged(InventoryEvent):
    """A warehouse has run out of what it can sell (available 0 or less), or has some again: recorded by the
    command that crossed the line, after that command's other events of the warehouse. Stock as shopper search
    uses it -- in stock or not, per warehouse -- so that a read model of it need not follow every reservation."""

    TYPE = "StockAvailabilityChanged"

    in_stock: bool


INVENTORY_EVENTS: tuple[type[EventPayload], ...] = (
    StockReceived,
    StockAdjusted,
    LowStockThresholdSet,
    StockReserved,
    StockReservationReleased,
    StockShipped,
    StockAvailabilityChanged,
)


# ---------------------------------------------------------------- order-<id>
class Customer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    name: str
    email: str


class Address(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    line1: str
    line2: str | None = None
    city: str
    postal_code: str
    country: str


class Allocation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    warehouse: str
    quantity: int


class OrderLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    sku: str
    name: str
    quantity: int
    unit_price: Money
    allocations: tuple[Allocation, ...]


class OrderPlaced(EventPayload):
    TYPE = "OrderPlaced"
    STREAM_TYPE = "order"

    order_id: str
    customer: Customer
    shipping_address: Address
    lines: tuple[OrderLine, ...]
    total: Money


class OrderLineAdded(EventPayload):
    TYPE = "OrderLineAdded"
    STREAM_TYPE = "order"

    order_id: str
    line: OrderLine
    total: Money


class OrderCancelled(EventPayload):
    TYPE = "OrderCancelled"
    STREAM_TYPE = "order"

    order_id: str
    reason: str


class OrderShipped(EventPayload):
    TYPE = "OrderShipped"
    STREAM_TYPE = "order"

    order_id: str
    carrier: str | None = None
    tracking_number: str | None = None


ORDER_EVENTS: tuple[type[EventPayload], ...] = (OrderPlaced, OrderLineAdded, OrderCancelled, OrderShipped)
