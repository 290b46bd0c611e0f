"""Order commands: place, add a line, cancel, ship."""

from __future__ import annotations

import secrets
import string
from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import ConfigDict, Field
from starlette.requests import ClientDisconnect

from shared.events.payloads import Address, Customer
from shared.http_errors import ApiError
from shared.responses import JSONResponse
from write_api.command_runner import run_command
from write_api.commands import AddOrderLine, CancelOrder, OrderLineRequest, PlaceOrder, ShipOrder
from write_api.dependencies import BackofficeRole, IfMatch, StorefrontRole
from write_api.domain.orders import MAX_LINES
from write_api.routes.answers import OrderOut, render_order
from write_api.routes.fields import ID_PATTERN, SKU_PATTERN, Quantity, RequestModel, json_body_openapi, parse_json_body

router = APIRouter(prefix="/orders", tags=["orders"])

OrderId = Annotated[str, Path(pattern=ID_PATTERN)]
EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$"
_ALPHABET = string.ascii_uppercase + string.digits
ANSWER = {"model": OrderOut, "description": "The order, with its version and position"}


def new_order_id() -> str:
    """ORD- and 10 random letters or digits (36^10 ids), from one read of the OS's random source."""
    number = int.from_bytes(secrets.token_bytes(8))  # 2^64 is some 5,000 times 36^10: a negligible bias
    letters = []
    for _ in range(10):
        number, index = divmod(number, 36)
        letters.append(_ALPHABET[index])
    return "ORD-" + "".join(letters)


class CustomerIn(RequestModel):
    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(pattern=EMAIL_PATTERN, max_length=254)


class AddressIn(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    postal_code: str = Field(min_length=1, max_length=20)
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
    reason: str = Field(min_length=1, max_length=1000)


class ShipIn(RequestModel):
    carrier: str | None = Field(default=None, max_length=100)
    tracking_number: str | None = Field(default=None, max_length=100)


@router.post("", status_code=201, openapi_extra=json_body_openapi(OrderIn), responses={201: ANSWER})
async def place_order(request: Request, role: StorefrontRole) -> JSONResponse:
    """The busiest route parses its body itself, in one pass (parse_json_body), after the key is checked."""
    try:
        raw = await request.body()
    except ClientDisconnect as exc:  # as FastAPI answers for its routes
        raise ApiError(400, "malformed_request", "the request body did not arrive whole") from exc
    body = parse_json_body(OrderIn, raw)
    command = PlaceOrder(
        order_id=new_order_id(),
        customer=Customer.model_validate(body.customer.model_dump()),
        shipping_address=Address.model_validate(body.shipping_address.model_dump()),
        lines=tuple(line.to_request() for line in body.lines),
    )
    return await run_command(request, command, role=role, render=render_order, status_code=201)


@router.post("/{order_id}/lines", responses={200: ANSWER})
async def add_line(
    order_id: OrderId, body: LineIn, request: Request, role: StorefrontRole, if_match: IfMatch
) -> JSONResponse:
    command = AddOrderLine(order_id=order_id, line=body.to_request())
    return await run_command(request, command, role=role, render=render_order, expected_version=if_match)


@router.post("/{order_id}/cancel", responses={200: ANSWER})
async def cancel_order(
    order_id: OrderId, body: CancelIn, request: Request, role: BackofficeRole, if_match: IfMatch
) -> JSONResponse:
    command = CancelOrder(order_id=order_id, reason=body.reason)
    return await run_command(request, command, role=role, render=render_order, expected_version=if_match)


@router.post("/{order_id}/ship", responses={200: ANSWER})
async def ship_order(
    order_id: OrderId,
    request: Request,
    role: BackofficeRole,
    if_match: IfMatch,
    body: ShipIn | None = None,
) -> JSONResponse:
    body = body or ShipIn()
    command = ShipOrder(order_id=order_id, carrier=body.carrier, tracking_number=body.tracking_number)
    return await run_command(request, command, role=role, render=render_order, expected_version=if_match)
