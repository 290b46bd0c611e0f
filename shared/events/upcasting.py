"""Upcasters: turn a stored payload of an older schema version into the next version, one step at a time."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

Payload = dict[str, Any]


def _product_registered_v1_to_v2(data: Payload) -> Payload:
    # v1 stored the price as integer US cents; v2 stores Money.
    upgraded = {k: v for k, v in data.items() if k != "price_cents"}
    cents = int(data["price_cents"])
    upgraded["price"] = {"amount": str(Decimal(cents) / 100), "currency": "USD"}
    return upgraded


# (event type, from version) -> function producing version + 1
UPCASTERS: dict[tuple[str, int], Callable[[Payload], Payload]] = {
    ("ProductRegistered", 1): _product_registered_v1_to_v2,
}


def upcast(event_type: str, schema_version: int, data: Payload, current_version: int) -> Payload:
    version = schema_version
    while version < current_version:
        step = UPCASTERS.get((event_type, version))
        if step is None:
            raise ValueError(f"no upcaster for {event_type} v{version}")
        data = step(data)
        version += 1
    return data
