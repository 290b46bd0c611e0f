"""Product commands: register, change details, change price, discontinue."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from shared.events.payloads import Money
from write_api.command_runner import run_command
from write_api.commands import ChangeProductDetails, ChangeProductPrice, DiscontinueProduct, RegisterProduct
from write_api.dependencies import CatalogRole, IfMatch, Store
from write_api.domain.products import Product
from write_api.handlers import Outcome

router = APIRouter(prefix="/products", tags=["products"])

SKU_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
Sku = Annotated[str, Path(pattern=SKU_PATTERN)]
Attributes = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=100)], Annotated[str, Field(max_length=1000)]],
    Field(max_length=100),
]


class MoneyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Decimal = Field(ge=0, max_digits=14, decimal_places=2, allow_inf_nan=False)
    currency: str = Field(pattern=r"^[A-Z]{3}$")

    def to_money(self) -> Money:
        return Money(amount=self.amount, currency=self.currency)


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    sku: str = Field(pattern=SKU_PATTERN)
    name: str = Field(min_length=1, max_length=500)
    description: str | None = Field(default=None, max_length=20_000)
    brand: str | None = Field(default=None, min_length=1, max_length=200)
    category: str | None = Field(default=None, min_length=1, max_length=200)
    price: MoneyIn
    attributes: Attributes = Field(default_factory=dict)

    def to_command(self) -> RegisterProduct:
        return RegisterProduct(
            sku=self.sku,
            name=self.name,
            price=self.price.to_money(),
            description=self.description,
            brand=self.brand,
            category=self.category,
            attributes=self.attributes,
        )


class ProductPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(default=None, min_length=1, max_length=500)
    description: str | None = Field(default=None, max_length=20_000)
    brand: str | None = Field(default=None, min_length=1, max_length=200)
    category: str | None = Field(default=None, min_length=1, max_length=200)
    attributes: Attributes | None = None


class DiscontinueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=1000)


def render_product(outcome: Outcome[Product]) -> dict[str, Any]:
    product = outcome.state
    assert product is not None
    return {
        **product.to_snapshot(),
        "status": "discontinued" if product.discontinued else "active",
        "version": outcome.version,
        "position": outcome.position,
    }


@router.post("", status_code=201)
async def register_product(
    body: ProductIn, request: Request, store: Store, role: CatalogRole, if_match: IfMatch
) -> JSONResponse:
    return await run_command(
        request, store, body.to_command(), role=role, render=render_product, status_code=201, expected_version=if_match
    )


@router.patch("/{sku}")
async def change_product(
    sku: Sku, body: ProductPatch, request: Request, store: Store, role: CatalogRole, if_match: IfMatch
) -> JSONResponse:
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is None:
        changes.pop("name")  # a product always has a name
    command = ChangeProductDetails(sku=sku, changes=changes)
    return await run_command(request, store, command, role=role, render=render_product, expected_version=if_match)


@router.put("/{sku}/price")
async def change_price(
    sku: Sku, body: MoneyIn, request: Request, store: Store, role: CatalogRole, if_match: IfMatch
) -> JSONResponse:
    command = ChangeProductPrice(sku=sku, price=body.to_money())
    return await run_command(request, store, command, role=role, render=render_product, expected_version=if_match)


@router.post("/{sku}/discontinue")
async def discontinue_product(
    sku: Sku, request: Request, store: Store, role: CatalogRole, if_match: IfMatch, body: DiscontinueIn | None = None
) -> JSONResponse:
    command = DiscontinueProduct(sku=sku, reason=body.reason if body else None)
    return await run_command(request, store, command, role=role, render=render_product, expected_version=if_match)
