"""Product commands: register, change details, change price, discontinue."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Request
from pydantic import ConfigDict, Field, ValidationError

from shared.http_errors import ApiError
from shared.responses import JSONResponse
from write_api.command_runner import run_bulk, run_command, validation_rejection
from write_api.commands import ChangeProductDetails, ChangeProductPrice, DiscontinueProduct, RegisterProduct
from write_api.dependencies import CatalogRole, IfMatch
from write_api.routes.answers import ProductOut, render_product
from write_api.routes.fields import SKU_PATTERN, MoneyIn, RequestModel, Sku
from write_api.service_layer import bulk_import

ANSWER = {"model": ProductOut, "description": "The product, with its version and position"}
router = APIRouter(prefix="/products", tags=["products"])

Attributes = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=100)], Annotated[str, Field(max_length=1000)]],
    Field(max_length=100),
]


class ProductIn(RequestModel):
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


class ProductPatch(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=500)
    description: str | None = Field(default=None, max_length=20_000)
    brand: str | None = Field(default=None, min_length=1, max_length=200)
    category: str | None = Field(default=None, min_length=1, max_length=200)
    attributes: Attributes | None = None


class DiscontinueIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=1000)


@router.post("/import")
async def import_products(request: Request, role: CatalogRole) -> JSONResponse:
    """Upsert many products: a JSON array, or NDJSON (one object per line), of the `POST /products` body."""
    return await run_bulk(
        request,
        role,
        parse_import,
        bulk_import.import_products,
        lambda result, rejected: {
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "rejected": rejected,
            "position": result.position,
        },
    )


def parse_import(body: bytes, content_type: str) -> tuple[list[tuple[int, RegisterProduct]], list[dict[str, Any]]]:
    """Valid items as commands, and the invalid ones as rejections naming their index and fields."""
    try:
        if "ndjson" in content_type or (body.lstrip()[:1] == b"{"):
            raw = [orjson.loads(line) for line in body.splitlines() if line.strip()]
        else:
            raw = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "malformed_request", f"the body is neither a JSON array nor NDJSON: {exc}") from exc
    if not isinstance(raw, list):
        raise ApiError(400, "malformed_request", "the body must be a JSON array or NDJSON of products")
    items: list[tuple[int, RegisterProduct]] = []
    rejected: list[dict[str, Any]] = []
    for index, item in enumerate(raw):
        try:
            items.append((index, ProductIn.model_validate(item).to_command()))
        except ValidationError as exc:
            rejected.append(validation_rejection(index, exc))
    return items, rejected


@router.post("", status_code=201, responses={201: ANSWER})
async def register_product(body: ProductIn, request: Request, role: CatalogRole, if_match: IfMatch) -> JSONResponse:
    return await run_command(
        request, body.to_command(), role=role, render=render_product, status_code=201, expected_version=if_match
    )


@router.patch("/{sku}", responses={200: ANSWER})
async def change_product(
    sku: Sku, body: ProductPatch, request: Request, role: CatalogRole, if_match: IfMatch
) -> JSONResponse:
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is None:
        changes.pop("name")  # a product always has a name
    if "attributes" in changes and changes["attributes"] is None:
        changes["attributes"] = {}  # null clears the attributes
    command = ChangeProductDetails(sku=sku, changes=changes)
    return await run_command(request, command, role=role, render=render_product, expected_version=if_match)


@router.put("/{sku}/price", responses={200: ANSWER})
async def change_price(sku: Sku, body: MoneyIn, request: Request, role: CatalogRole, if_match: IfMatch) -> JSONResponse:
    command = ChangeProductPrice(sku=sku, price=body.to_money())
    return await run_command(request, command, role=role, render=render_product, expected_version=if_match)


@router.post("/{sku}/discontinue", responses={200: ANSWER})
async def discontinue_product(
    sku: Sku, request: Request, role: CatalogRole, if_match: IfMatch, body: DiscontinueIn | None = None
) -> JSONResponse:
    command = DiscontinueProduct(sku=sku, reason=body.reason if body else None)
    return await run_command(request, command, role=role, render=render_product, expected_version=if_match)
