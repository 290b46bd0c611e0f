"""Product commands: register, change details, change price, discontinue."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Request, Response
from pydantic import ConfigDict, Field, ValidationError

from shared.auth import Role
from shared.http_errors import ApiError
from write_api.command_runner import run_bulk, run_command, validation_rejection
from write_api.commands import ChangeProductDetails, ChangeProductPrice, DiscontinueProduct, RegisterProduct
from write_api.routes.answers import ImportOut, ProductOut, render_product
from write_api.routes.command_route import CommandRoute, Inputs, Link
from write_api.routes.fields import NO_NUL, SKU_PATTERN, MoneyIn, RequestModel, optional_text, text
from write_api.service_layer import bulk_import


def _attributes_schema(schema: dict[str, Any]) -> None:
    # pydantic writes a key pattern as `patternProperties`, which leaves keys that do not match it unchecked: say
    # instead that every key matches it (`propertyNames`) and every value is a text.
    ((pattern, values),) = schema.pop("patternProperties").items()
    schema["propertyNames"] = {**schema.get("propertyNames", {}), "pattern": pattern}
    schema["additionalProperties"] = values


Attributes = Annotated[
    dict[Annotated[str, text(100)], Annotated[str, Field(max_length=1000, json_schema_extra={"pattern": NO_NUL})]],
    Field(max_length=100, json_schema_extra=_attributes_schema),
]


class ProductIn(RequestModel):
    sku: str = Field(pattern=SKU_PATTERN)
    name: Annotated[str, text(500)]
    description: str | None = optional_text(20_000)
    brand: Annotated[str, text(200)] | None = None
    category: Annotated[str, text(200)] | None = None
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
    name: Annotated[str, text(500)] | None = None
    description: str | None = optional_text(20_000)
    brand: Annotated[str, text(200)] | None = None
    category: Annotated[str, text(200)] | None = None
    attributes: Attributes | None = None


class DiscontinueIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = optional_text(1000)


async def import_products(request: Request, inputs: Inputs) -> Response:
    """Upsert many products: a JSON array, or NDJSON (one object per line), of the `POST /products` body."""
    return await run_bulk(
        request,
        inputs.role,
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


async def register_product(request: Request, inputs: Inputs) -> Response:
    body: ProductIn = inputs.body
    return await run_command(
        request, body.to_command(), role=inputs.role, render=render_product, status_code=201,
        expected_version=inputs.if_match,
    )  # fmt: skip


async def change_product(request: Request, inputs: Inputs) -> Response:
    body: ProductPatch = inputs.body
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is None:
        changes.pop("name")  # a product always has a name
    if "attributes" in changes and changes["attributes"] is None:
        changes["attributes"] = {}  # null clears the attributes
    command = ChangeProductDetails(sku=inputs.path["sku"], changes=changes)
    return await run_command(
        request, command, role=inputs.role, render=render_product, expected_version=inputs.if_match
    )


async def change_price(request: Request, inputs: Inputs) -> Response:
    body: MoneyIn = inputs.body
    command = ChangeProductPrice(sku=inputs.path["sku"], price=body.to_money())
    return await run_command(
        request, command, role=inputs.role, render=render_product, expected_version=inputs.if_match
    )


async def discontinue_product(request: Request, inputs: Inputs) -> Response:
    body: DiscontinueIn | None = inputs.body
    command = DiscontinueProduct(sku=inputs.path["sku"], reason=body.reason if body else None)
    return await run_command(
        request, command, role=inputs.role, render=render_product, expected_version=inputs.if_match
    )


CATALOG = frozenset({Role.CATALOG})
BY_SKU = {"sku": SKU_PATTERN}
BY_ANSWER = {"sku": "$response.body#/sku"}
ANSWER = "The product, with its version and position"
PRODUCT_LINKS = {
    "ChangeProduct": Link(change_product, BY_ANSWER),
    "ChangePrice": Link(change_price, BY_ANSWER),
    "DiscontinueProduct": Link(discontinue_product, BY_ANSWER),
}
ROUTES = [
    CommandRoute(
        "POST", "/products/import", import_products, CATALOG, "products", items=ProductIn, ndjson=True,
        answer=ImportOut, answer_description="What the import created, updated and left unchanged, and each rejected "
        "item with its error",
    ),
    CommandRoute(
        "POST", "/products", register_product, CATALOG, "products", body=ProductIn, if_match=True, answer=ProductOut,
        answer_description=ANSWER, status_code=201, links=PRODUCT_LINKS,
    ),
    CommandRoute(
        "PATCH", "/products/{sku}", change_product, CATALOG, "products", params=BY_SKU, body=ProductPatch,
        if_match=True, answer=ProductOut, answer_description=ANSWER,
    ),
    CommandRoute(
        "PUT", "/products/{sku}/price", change_price, CATALOG, "products", params=BY_SKU, body=MoneyIn, if_match=True,
        answer=ProductOut, answer_description=ANSWER,
    ),
    CommandRoute(
        "POST", "/products/{sku}/discontinue", discontinue_product, CATALOG, "products", params=BY_SKU,
        body=DiscontinueIn, body_optional=True, if_match=True, answer=ProductOut, answer_description=ANSWER,
    ),
]  # fmt: skip
