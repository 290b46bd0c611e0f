"""Order commands: place, add a line, cancel, ship."""

from __future__ import annotations

import secrets
import string
from typing import Annotated

from fastapi import Request, Response
from pydantic import ConfigDict, Field

from shared.auth import Role
from shared.events.payloads import Address, Customer
from write_api.command_runner import run_command
from write_api.commands import AddOrderLine, CancelOrder, OrderLineRequest, PlaceOrder, ShipOrder
from write_api.domain.orders import MAX_LINES
from write_api.routes.answers import OrderOut, render_order
from write_api.routes.command_route import CommandRoute, Inputs, Link
from write_api.routes.fields import ID_PATTERN, SKU_PATTERN, Quantity, RequestModel, optional_text, text

EMAIL_PATTERN = r"^[^@\s\x00]{1,64}@[^@\s\x00]{1,255}\.[^@\s\x00]{1,63}$"
_ALPHABET = string.ascii_uppercase + string.digits


def new_order_id() -> str:
    """ORD- and 10 random letters or digits (36^10 ids), from one read of the OS's random source."""
    number = int.from_bytes(secrets.token_bytes(8))  # 2^64 is some 5,000 times 36^10: a negligible bias
    letters = []
    for _ in range(10):
        number, index = divmod(number, 36)
        letters.append(_ALPHABET[index])
    return "ORD-" + "".join(letters)


class CustomerIn(RequestModel):
    id: Annotated[str, text(64)]
    name: Annotated[str, text(200)]
    email: str = Field(pattern=EMAIL_PATTERN, max_length=254)


class AddressIn(RequestModel):
    name: Annotated[str, text(200)]
    line1: Annotated[str, text(200)]
    line2: str | None = optional_text(200)
    city: Annotated[str, text(100)]
    postal_code: Annotated[str, text(20)]
    country: str = Field(pattern=r"^[A-Z]{2}$")


class LineIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    sku: str = Field(pattern=SKU_PATTERN)
    quantity: Quantity

    def to_request(self) -> OrderLineRequest:
        return OrderLineRequest(sku=self.sku, quantity=self.quantity)


class OrderIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    customer: CustomerIn
    lines: list[LineIn] = Field(min_length=1, max_length=MAX_LINES)
    shipping_address: AddressIn


class CancelIn(RequestModel):
    reason: Annotated[str, text(1000)]


class ShipIn(RequestModel):
    carrier: str | None = optional_text(100)
    tracking_number: str | None = optional_text(100)


async def place_order(request: Request, inputs: Inputs) -> Response:
    """Reserves stock for every line (split over warehouses when no one warehouse can fill it), all or nothing; the
    prices are the products' own. A line naming an unknown SKU is a 422 (`lines.<i>.sku`); a discontinued product or
    too little stock is a 409 (`product_discontinued`, `insufficient_stock` with each short line)."""
    body: OrderIn = inputs.body
    customer, address = body.customer, body.shipping_address
    command = PlaceOrder(
        order_id=new_order_id(),
        customer=Customer(id=customer.id, name=customer.name, email=customer.email),
        shipping_address=Address(**vars(address)),
        lines=tuple(line.to_request() for line in body.lines),
    )
    return await run_command(request, command, role=inputs.role, render=render_order, status_code=201)


async def add_line(request: Request, inputs: Inputs) -> Response:
    """Adds a line to a placed order, reserving its stock. An unknown SKU is a 422 (`lines.0.sku`)."""
    body: LineIn = inputs.body
    command = AddOrderLine(order_id=inputs.path["order_id"], line=body.to_request())
    return await run_command(request, command, role=inputs.role, render=render_order, expected_version=inputs.if_match)


async def cancel_order(request: Request, inputs: Inputs) -> Response:
    body: CancelIn = inputs.body
    command = CancelOrder(order_id=inputs.path["order_id"], reason=body.reason)
    return await run_command(request, command, role=inputs.role, render=render_order, expected_version=inputs.if_match)


async def ship_order(request: Request, inputs: Inputs) -> Response:
    body: ShipIn = inputs.body or ShipIn()
    command = ShipOrder(order_id=inputs.path["order_id"], carrier=body.carrier, tracking_number=body.tracking_number)
    return await run_command(request, command, role=inputs.role, render=render_order, expected_version=inputs.if_match)


STOREFRONT, BACKOFFICE = frozenset({Role.STOREFRONT}), frozenset({Role.BACKOFFICE})
BY_ID = {"order_id": ID_PATTERN}
ANSWER = "The order, with its version and position"
BY_ANSWER = {"order_id": "$response.body#/order_id"}
ORDER_LINKS = {
    "AddLine": Link(add_line, BY_ANSWER),
    "CancelOrder": Link(cancel_order, BY_ANSWER),
    "ShipOrder": Link(ship_order, BY_ANSWER),
}
ROUTES = [
    CommandRoute(  # the busiest route of all: first
        "POST", "/orders", place_order, STOREFRONT, "orders", body=OrderIn, answer=OrderOut, answer_description=ANSWER,
        status_code=201, links=ORDER_LINKS,
    ),
    CommandRoute(
        "POST", "/orders/{order_id}/lines", add_line, STOREFRONT, "orders", params=BY_ID, body=LineIn, if_match=True,
        answer=OrderOut, answer_description=ANSWER,
    ),
    CommandRoute(
        "POST", "/orders/{order_id}/cancel", cancel_order, BACKOFFICE, "orders", params=BY_ID, body=CancelIn,
        if_match=True, answer=OrderOut, answer_description=ANSWER,
    ),
    CommandRoute(
        "POST", "/orders/{order_id}/ship", ship_order, BACKOFFICE, "orders", params=BY_ID, body=ShipIn,
        body_optional=True, if_match=True, answer=OrderOut, answer_description=ANSWER,
    ),
]  # fmt: skip
