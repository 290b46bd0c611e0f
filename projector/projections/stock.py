"""Stock arithmetic shared by the products and inventory projections: how an inventory event moves a warehouse's
on-hand and reserved quantities, and what shopper search makes of them."""

from __future__ import annotations

from typing import Any

from shared.events.payloads import (
    EventPayload,
    StockAdjusted,
    StockReceived,
    StockReservationReleased,
    StockReserved,
    StockShipped,
)

# Per warehouse: [on hand, reserved].
Levels = dict[str, list[int]]


def stock_delta(payload: EventPayload) -> tuple[int, int] | None:
    """(on-hand delta, reserved delta) of an event that moves stock; None for any other event."""
    match payload:
        case StockReceived():
            return payload.quantity, 0
        case StockAdjusted():
            return payload.delta, 0
        case StockReserved():
            return 0, payload.quantity
        case StockReservationReleased():
            return 0, -payload.quantity
        case StockShipped():
            return -payload.quantity, -payload.quantity
    return None


def moved(levels: Levels, warehouse: str, delta: tuple[int, int]) -> Levels:
    on_hand, reserved = levels.get(warehouse, [0, 0])
    return {**levels, warehouse: [on_hand + delta[0], reserved + delta[1]]}


def search_flags(levels: Levels) -> dict[str, Any]:
    """Stock as shopper search filters and ranks by it: in stock anywhere, and where. Exact quantities are not part
    of it: they change with every reservation, these only when a warehouse runs out or is restocked."""
    stocked_in = sorted(w for w, (on_hand, reserved) in levels.items() if on_hand - reserved > 0)
    return {"in_stock": bool(stocked_in), "stocked_in": stocked_in}
