"""The order aggregate (stream `order-<id>`), and the decisions that span orders, products and inventory.

`placed -> shipped | cancelled`; nothing leaves `shipped` or `cancelled`. Unit prices come from the product at the
moment the order is placed, never from the client.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from shared.events.payloads import (
    Address,
    Customer,
    EventPayload,
    Money,
    OrderCancelled,
    OrderLine,
    OrderLineAdded,
    OrderPlaced,
    OrderShipped,
)
from write_api.commands import AddOrderLine, CancelOrder, OrderLineRequest, PlaceOrder, ShipOrder
from write_api.domain import inventory as inv
from write_api.domain.errors import AlreadyExists, InsufficientStock, InvalidTransition, NotFound, ProductDiscontinued
from write_api.domain.products import Product

STREAM_TYPE = "order"
SNAPSHOT_SCHEMA_VERSION = 1
MAX_LINES = 100


def stream_id(order_id: str) -> str:
    return f"order-{order_id}"


@dataclass(frozen=True)
class Order:
    order_id: str
    status: str
    customer: Customer
    shipping_address: Address
    lines: tuple[OrderLine, ...]
    total: Money

    @property
    def skus(self) -> list[str]:
        return sorted({line.sku for line in self.lines})

    def reserved(self) -> dict[str, dict[str, int]]:
        """What this order reserved: SKU -> warehouse -> quantity, summed over its lines' allocations."""
        per_sku: dict[str, dict[str, int]] = {}
        for line in self.lines:
            parts = per_sku.setdefault(line.sku, {})
            for allocation in line.allocations:
                parts[allocation.warehouse] = parts.get(allocation.warehouse, 0) + allocation.quantity
        return per_sku

    def to_snapshot(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "status": self.status,
            "customer": self.customer.model_dump(mode="json"),
            "shipping_address": self.shipping_address.model_dump(mode="json"),
            "lines": [line.model_dump(mode="json") for line in self.lines],
            "total": self.total.model_dump(mode="json"),
        }

    @classmethod
    def from_snapshot(cls, state: dict[str, Any]) -> Order:
        return cls(
            order_id=state["order_id"],
            status=state["status"],
            customer=Customer.model_validate(state["customer"]),
            shipping_address=Address.model_validate(state["shipping_address"]),
            lines=tuple(OrderLine.model_validate(line) for line in state["lines"]),
            total=Money.model_validate(state["total"]),
        )


def evolve(state: Order | None, event: EventPayload) -> Order | None:
    match event:
        case OrderPlaced():
            return Order(event.order_id, "placed", event.customer, event.shipping_address, event.lines, event.total)
        case OrderLineAdded() if state is not None:
            return replace(state, lines=(*state.lines, event.line), total=event.total)
        case OrderCancelled() if state is not None:
            return replace(state, status="cancelled")
        case OrderShipped() if state is not None:
            return replace(state, status="shipped")
    return state


def _priced_lines(
    order_id: str,
    requests: tuple[OrderLineRequest, ...],
    products: dict[str, Product | None],
    inventories: dict[str, inv.Inventory | None],
    currency: str | None,
) -> tuple[list[OrderLine], dict[str, list[EventPayload]]]:
    """Price and allocate every requested line; all or nothing (InsufficientStock names every short line)."""
    lines: list[OrderLine] = []
    reservations: dict[str, list[EventPayload]] = {}
    taken: dict[str, dict[str, int]] = {}
    numbering: dict[str, dict[str, int]] = {}  # per SKU, its warehouses' event counts (lines may repeat a SKU)
    short: list[dict[str, Any]] = []
    for index, request in enumerate(requests):
        product = products.get(request.sku)
        if product is None:
            raise NotFound(f"product {request.sku} does not exist", sku=request.sku, line=index)
        if product.discontinued:
            raise ProductDiscontinued(f"product {request.sku} is discontinued", sku=request.sku, line=index)
        if currency is not None and product.price.currency != currency:
            raise InvalidTransition(
                f"product {request.sku} is priced in {product.price.currency}, the order in {currency}",
                sku=request.sku,
            )
        currency = product.price.currency
        already = taken.setdefault(request.sku, {})
        allocations = inv.allocate(inventories.get(request.sku), request.quantity, already)
        if not allocations:
            stock = inventories.get(request.sku)
            available = (stock.available if stock else 0) - sum(already.values())
            short.append({"sku": request.sku, "requested": request.quantity, "available": max(available, 0)})
            continue
        for allocation in allocations:
            already[allocation.warehouse] = already.get(allocation.warehouse, 0) + allocation.quantity
        counts = numbering.get(request.sku)
        if counts is None:
            counts = numbering[request.sku] = inv.event_counts(inventories.get(request.sku))
        reservations.setdefault(request.sku, []).extend(inv.reserve(request.sku, order_id, allocations, counts))
        lines.append(
            OrderLine(
                sku=request.sku,
                name=product.name,
                quantity=request.quantity,
                unit_price=product.price,
                allocations=tuple(allocations),
            )
        )
    if short:
        raise InsufficientStock("not enough stock for every line", lines=short)
    return lines, {sku: inv.with_availability(inventories.get(sku), events) for sku, events in reservations.items()}


def _total(lines: list[OrderLine] | tuple[OrderLine, ...], currency: str) -> Money:
    amount = sum((line.unit_price.amount * line.quantity for line in lines), Decimal("0"))
    return Money(amount=amount, currency=currency)


def place(
    command: PlaceOrder,
    existing: Order | None,
    products: dict[str, Product | None],
    inventories: dict[str, inv.Inventory | None],
) -> tuple[list[EventPayload], dict[str, list[EventPayload]]]:
    """Events for the order stream and, per SKU, for its inventory stream."""
    if existing is not None:
        raise AlreadyExists(f"order {command.order_id} exists already", order_id=command.order_id)
    lines, reservations = _priced_lines(command.order_id, command.lines, products, inventories, None)
    placed = OrderPlaced(
        order_id=command.order_id,
        customer=command.customer,
        shipping_address=command.shipping_address,
        lines=tuple(lines),
        total=_total(lines, lines[0].unit_price.currency),
    )
    return [placed], reservations


def _open(order: Order | None, order_id: str, action: str) -> Order:
    if order is None:
        raise NotFound(f"order {order_id} does not exist", order_id=order_id)
    if order.status != "placed":
        raise InvalidTransition(f"a {order.status} order cannot be {action}", order_id=order_id, status=order.status)
    return order


def add_line(
    command: AddOrderLine,
    order: Order | None,
    products: dict[str, Product | None],
    inventories: dict[str, inv.Inventory | None],
) -> tuple[list[EventPayload], dict[str, list[EventPayload]]]:
    current = _open(order, command.order_id, "changed")
    if len(current.lines) >= MAX_LINES:
        raise InvalidTransition(f"an order has at most {MAX_LINES} lines", order_id=command.order_id)
    lines, reservations = _priced_lines(
        command.order_id, (command.line,), products, inventories, current.total.currency
    )
    total = _total((*current.lines, *lines), current.total.currency)
    return [OrderLineAdded(order_id=command.order_id, line=lines[0], total=total)], reservations


def cancel(
    command: CancelOrder, order: Order | None, inventories: dict[str, inv.Inventory | None]
) -> tuple[list[EventPayload], dict[str, list[EventPayload]]]:
    current = _open(order, command.order_id, "cancelled")
    releases = {
        sku: inv.release(inventories.get(sku), sku, command.order_id, parts)
        for sku, parts in current.reserved().items()
    }
    return [OrderCancelled(order_id=command.order_id, reason=command.reason)], releases


def ship(
    command: ShipOrder, order: Order | None, inventories: dict[str, inv.Inventory | None]
) -> tuple[list[EventPayload], dict[str, list[EventPayload]]]:
    current = _open(order, command.order_id, "shipped")
    shipments = {
        sku: inv.ship(inventories.get(sku), sku, command.order_id, parts) for sku, parts in current.reserved().items()
    }
    return [
        OrderShipped(order_id=command.order_id, carrier=command.carrier, tracking_number=command.tracking_number)
    ], shipments
