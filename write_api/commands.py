"""Commands, in the imperative. Plain frozen dataclasses: validation of HTTP input happens in the routes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.events.payloads import Money


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
