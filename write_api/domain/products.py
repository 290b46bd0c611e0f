"""The product aggregate (stream `product-<sku>`)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from shared.events.payloads import (
    EventPayload,
    Money,
    ProductDetailsChanged,
    ProductDiscontinued,
    ProductPriceChanged,
    ProductRegistered,
)
from write_api.commands import (
    ChangeProductDetails,
    ChangeProductPrice,
    DiscontinueProduct,
    ProductCommand,
    RegisterProduct,
)
from write_api.domain.errors import AlreadyExists, NotFound
from write_api.domain.errors import ProductDiscontinued as ProductDiscontinuedError

STREAM_TYPE = "product"
DETAIL_FIELDS = ("name", "description", "brand", "category", "attributes")


def stream_id(sku: str) -> str:
    return f"product-{sku}"


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price: Money
    description: str | None = None
    brand: str | None = None
    category: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    discontinued: bool = False

    def to_snapshot(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "name": self.name,
            "price": self.price.model_dump(mode="json"),
            "description": self.description,
            "brand": self.brand,
            "category": self.category,
            "attributes": self.attributes,
            "discontinued": self.discontinued,
        }

    @classmethod
    def from_snapshot(cls, state: dict[str, Any]) -> Product:
        return cls(**{**state, "price": Money.model_validate(state["price"])})


SNAPSHOT_SCHEMA_VERSION = 1


def evolve(state: Product | None, event: EventPayload) -> Product | None:
    match event:
        case ProductRegistered():
            return Product(
                sku=event.sku,
                name=event.name,
                price=event.price,
                description=event.description,
                brand=event.brand,
                category=event.category,
                attributes=dict(event.attributes),
            )
        case ProductDetailsChanged() if state is not None:
            changes = {k: v for k, v in event.changes.items() if k in DETAIL_FIELDS}
            if "attributes" in changes:
                changes["attributes"] = dict(changes["attributes"] or {})
            return replace(state, **changes)
        case ProductPriceChanged() if state is not None:
            return replace(state, price=event.price)
        case ProductDiscontinued() if state is not None:
            return replace(state, discontinued=True)
        case _:
            return state


def _existing(state: Product | None, sku: str) -> Product:
    if state is None:
        raise NotFound(f"product {sku} does not exist", sku=sku)
    if state.discontinued:
        raise ProductDiscontinuedError(f"product {sku} is discontinued", sku=sku)
    return state


def decide(command: ProductCommand, state: Product | None) -> list[EventPayload]:
    match command:
        case RegisterProduct():
            if state is not None:
                raise AlreadyExists(f"product {command.sku} exists already", sku=command.sku)
            return [
                ProductRegistered(
                    sku=command.sku,
                    name=command.name,
                    description=command.description,
                    brand=command.brand,
                    category=command.category,
                    price=command.price,
                    attributes=dict(command.attributes),
                )
            ]
        case ChangeProductDetails():
            product = _existing(state, command.sku)
            current = product.to_snapshot()
            changes = {k: v for k, v in command.changes.items() if k in DETAIL_FIELDS and current[k] != v}
            return [ProductDetailsChanged(sku=command.sku, changes=changes)] if changes else []
        case ChangeProductPrice():
            product = _existing(state, command.sku)
            if product.price == command.price:
                return []
            return [ProductPriceChanged(sku=command.sku, price=command.price, previous=product.price)]
        case DiscontinueProduct():
            product = _existing(state, command.sku)
            return [ProductDiscontinued(sku=product.sku, reason=command.reason)]
    raise TypeError(f"not a product command: {command!r}")
