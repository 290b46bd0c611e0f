"""Commands, in the imperative. Plain frozen dataclasses: validation of HTTP input happens in the routes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.events.payloads import Address, Customer, Money


@dataclass(frozen=True)
class RegisterProduct:
    sku: str
    name: str
    price: Money
    description: str | None = None
    brand: str | None = None
    category: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ChangeProductDetails:
    sku: str
    changes: dict[str, Any]


@dataclass(frozen=True)
class ChangeProductPrice:
    sku: str
    price: Money


@dataclass(frozen=True)
class DiscontinueProduct:
    sku: str
    reason: str | None = None


ProductCommand = RegisterProduct | ChangeProductDetails | ChangeProductPrice | DiscontinueProduct


@dataclass(frozen=True)
class ReceiveStock:
    sku: str
    warehouse: str
    quantity: int
    reference: str | None = None


@dataclass(frozen=True)
class AdjustStock:
    sku: str
    warehouse: str
    delta: int
    reason: str
    note: str | None = None


@dataclass(frozen=True)
class SetLowStockThreshold:
    sku: str
    warehouse: str
    threshold: int


InventoryCommand = ReceiveStock | AdjustStock | SetLowStockThreshold


@dataclass(frozen=True)
class OrderLineRequest:
    sku: str
    quantity: int


@dataclass(frozen=True)
class PlaceOrder:
    order_id: str
    customer: Customer
    shipping_address: Address
    lines: tuple[OrderLineRequest, ...]


@dataclass(frozen=True)
class AddOrderLine:
    order_id: str
    line: OrderLineRequest


@dataclass(frozen=True)
class CancelOrder:
    order_id: str
    reason: str


@dataclass(frozen=True)
class ShipOrder:
    order_id: str
    carrier: str | None = None
    tracking_number: str | None = None
