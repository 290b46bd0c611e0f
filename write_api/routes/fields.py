"""Request field types the write routes share."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from shared.events.payloads import Money

SKU_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
ID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"

Sku = Annotated[str, Path(pattern=SKU_PATTERN)]
WarehouseId = Annotated[str, Field(pattern=ID_PATTERN)]
Quantity = Annotated[int, Field(gt=0, le=1_000_000, strict=True)]


class MoneyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Decimal = Field(ge=0, max_digits=14, decimal_places=2, allow_inf_nan=False)
    currency: str = Field(pattern=r"^[A-Z]{3}$")

    def to_money(self) -> Money:
        return Money(amount=self.amount, currency=self.currency)
