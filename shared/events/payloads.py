"""Event payload schemas: the contract between the write side and every reader of the store or the broker.

Each payload class has a stable `TYPE` string (never a Python path) and a `SCHEMA_VERSION`. When a payload changes
shape, its version goes up and an upcaster in `upcasting.py` turns stored older versions into the current one.
Readers are tolerant: unknown fields are ignored.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_serializer


class Money(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: Decimal = Field(max_digits=14, decimal_places=2, ge=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")

    @field_serializer("amount")
    def _amount_as_string(self, amount: Decimal) -> str:
        return f"{amount.quantize(Decimal('0.01'))}"

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
