"""The bodies of the search API's answers, for its OpenAPI document (`responses={200: {"model": ...}}`): the routes
write their bodies as dicts (a model per answer would cost CPU on every search), and schemathesis checks every body
against these models (tests/e2e/openapi)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Money(Answer):
    amount: str = Field(pattern=r"^-?[0-9]+\.[0-9]{2}$")
    currency: str


class ProductHit(Answer):
    sku: str
    name: str
    brand: str | None
    category: str | None
    category_derived: bool = Field(description="the category was derived from the name")
    price: Money
    in_stock: bool
    available: int = Field(description="units a shopper can order, over all warehouses")
    highlight: dict[str, list[str]] = Field(description="field -> fragments, matches in <em>")
    score: float | None


class Bucket(Answer):
    value: str
    count: int


class PriceBucket(Answer):
    from_: float | None = Field(alias="from")
    to: float | None
    count: int


class ProductFacets(Answer):
    brand: list[Bucket]
    category: list[Bucket]
    price: list[PriceBucket]


class ProductPage(Answer):
    total: int
    items: list[ProductHit]
    facets: ProductFacets
    next_cursor: str | None = Field(description="present when the page is full: the next page")


class Suggestion(Answer):
    text: str
    sku: str


class Suggestions(Answer):
    suggestions: list[Suggestion]


class WarehouseAvailability(Answer):
    warehouse: str
    available: int


class ProductDetail(Answer):
    sku: str
    name: str
    description: str | None
    brand: str | None
    category: str | None
    category_derived: bool
    price: Money
    attributes: dict[str, str]
    status: Literal["active", "discontinued"] | None
    in_stock: bool
    available: int
    warehouses: list[WarehouseAvailability]
    version: int | None


class StockTotals(Answer):
    on_hand: int
    reserved: int
    available: int


class StockRow(Answer):
    warehouse: str | None
    on_hand: int | None
    reserved: int | None
    available: int | None
    low_stock_threshold: int | None
    low_stock: bool | None
    updated_at: str | None


class StockOfSku(Answer):
    sku: str
    name: str | None
    total: StockTotals
    warehouses: list[StockRow]


class SkuStockRow(StockRow):
    sku: str
    name: str | None


class StockPage(Answer):
    total: int
    items: list[SkuStockRow]
    next_cursor: str | None


class Customer(Answer):
    id: str
    name: str
    email: str


class OrderSummary(Answer):
    order_id: str
    status: Literal["placed", "shipped", "cancelled"]
    customer: Customer
    total: Money | None
    item_count: int | None
    placed_at: str | None
    shipped_at: str | None
    cancelled_at: str | None
    lines: list[dict[str, Any]]


class OrderFacets(Answer):
    status: list[Bucket]


class OrderPage(Answer):
    total: int
    items: list[OrderSummary]
    facets: OrderFacets
    next_cursor: str | None


class OrderDetail(OrderSummary):
    shipping_address: dict[str, Any] | None
    carrier: str | None
    tracking_number: str | None
    version: int | None
