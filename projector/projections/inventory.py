"""The `inventory` read model: one row per SKU x warehouse for warehouse and back-office staff.

Rows (`<sku>@<warehouse>`) are fed by the SKU's inventory stream. Each SKU also has a header document (`<sku>`,
kind "product") fed by every event of its product stream; it holds the product's name, which a new row takes
from it (context, with its stream versions), and a rename fans out to every existing row of the SKU. A row sees
only its warehouse's part of the inventory stream: those events carry a per-warehouse number
(`warehouse_version`), which is the row's sequence, so a row detects gaps and duplicates in it like any document.
"""

from __future__ import annotations

from typing import Any

from projector.projections import Document, ProjectionSpec
from shared.events.envelope import Envelope
from shared.events.payloads import (
    EventPayload,
    LowStockThresholdSet,
    ProductDetailsChanged,
    ProductRegistered,
    StockAdjusted,
    StockReceived,
    StockReservationReleased,
    StockReserved,
    StockShipped,
)
from shared.events.registry import EVENT_TYPES, decode
from shared.read_models import Projection


def row_id(sku: str, warehouse: str) -> str:
    return f"{sku}@{warehouse}"


def _sku(event: Envelope) -> str:
    return str(event.data.get("sku") or event.stream_id.split("-", 1)[1])


def document_id(event: Envelope) -> str | None:
    if event.stream_type == "inventory" and "warehouse" in event.data:
        return row_id(_sku(event), str(event.data["warehouse"]))
    if event.stream_type == "product":
        return _sku(event)  # the header
    return None


def fan_out(event: Envelope) -> str | None:
    """A product's name reaches every existing stock row of the SKU: at registration (a row may have been
    written first when events of different streams arrive out of order) and on a rename. Other product events
    only concern the header (and finding rows costs a refresh and a search)."""
    if event.event_type == "ProductRegistered":
        return _sku(event)
    if event.event_type == "ProductDetailsChanged" and event.data.get("changes", {}).get("name"):
        return _sku(event)
    return None


def sequence(event: Envelope) -> tuple[str, int]:
    """A stock row's events are numbered per warehouse (warehouse_version): the row detects gaps in that sequence.
    Events written before that field existed fall back to the stream version (then a jump is not a gap)."""
    number = event.data.get("warehouse_version")
    if event.stream_type == "inventory" and isinstance(number, int) and "warehouse" in event.data:
        return f"{event.stream_id}@{event.data['warehouse']}", number
    return event.stream_id, event.version


def context_id(doc_id: str) -> str | None:
    return doc_id.split("@", 1)[0] if "@" in doc_id else None


def _row_fields(on_hand: int, reserved: int, threshold: int) -> dict[str, Any]:
    available = on_hand - reserved
    return {
        "on_hand": on_hand,
        "reserved": reserved,
        "available": available,
        "low_stock_threshold": threshold,
        "low_stock": available <= threshold,
        "out_of_stock": available <= 0,
    }


def _name(payload: EventPayload) -> str | None:
    if isinstance(payload, ProductRegistered):
        return payload.name
    if isinstance(payload, ProductDetailsChanged) and payload.changes.get("name"):
        return str(payload.changes["name"])
    return None


def apply(doc: Document | None, event: Envelope, context: Document | None = None) -> Document | None:
    if event.event_type not in EVENT_TYPES:
        return doc
    payload = decode(event.event_type, event.schema_version, event.data)
    recorded = event.recorded_at.isoformat()
    if event.stream_type == "product":
        name = _name(payload)
        if name is None:
            return doc
        if doc is None:  # a header
            return {"kind": "product", "sku": _sku(event), "name": name, "updated_at": recorded}
        return {**doc, "name": name}
    warehouse = str(event.data["warehouse"])
    row = doc or {
        "kind": "stock",
        "sku": _sku(event),
        "warehouse": warehouse,
        "name": (context or {}).get("name"),
        **_row_fields(0, 0, 0),
    }
    on_hand, reserved, threshold = row["on_hand"], row["reserved"], row["low_stock_threshold"]
    match payload:
        case StockReceived():
            on_hand += payload.quantity
        case StockAdjusted():
            on_hand += payload.delta
        case LowStockThresholdSet():
            threshold = payload.threshold
        case StockReserved():
            reserved += payload.quantity
        case StockReservationReleased():
            reserved -= payload.quantity
        case StockShipped():
            on_hand -= payload.quantity
            reserved -= payload.quantity
        case _:
            return doc
    return {**row, **_row_fields(on_hand, reserved, threshold), "updated_at": recorded}


SPEC = ProjectionSpec(
    projection=Projection.INVENTORY,
    document_id=document_id,
    apply=apply,
    fan_out=fan_out,
    context_id=context_id,
    apply_in_context=apply,
    # A row sees only its own warehouse's inventory events (numbered per warehouse, see sequence) and only the
    # names of its product.
    partial_stream_types=frozenset({"inventory", "product"}),
    sequence=sequence,
)
