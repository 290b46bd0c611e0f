"""The `inventory` read model: one row per SKU x warehouse for warehouse and back-office staff.

A unit is a SKU. Its rows (`<sku>@<warehouse>`) are fed by the SKU's inventory stream; its header (`<sku>`, kind
"product") by its product stream. The header holds the product's name, which every row carries so that staff can
search stock by name, and the list of the SKU's warehouses, so that a rename reaches every row without searching
for them. A row sees only its warehouse's part of the inventory stream: those events carry a per-warehouse number
(`warehouse_version`), the row's sequence, so a row detects gaps and duplicates in it like any document. Inventory
events written before that field existed fall back to the stream version, where a jump is then no gap.
"""

from __future__ import annotations

from typing import Any

from projector.projections import Document, Documents, Folded, ProjectionSpec, Sequences, fold_unit
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
from shared.messaging import PROJECTION_TOPICS
from shared.read_models import Projection
from shared.read_models import stock_row_id as row_id


def unit_of(event: Envelope) -> str | None:
    if event.stream_type in ("product", "inventory"):
        return str(event.data.get("sku") or event.stream_id.split("-", 1)[1])
    return None


def documents(sku: str, events: list[Envelope]) -> list[str]:
    """The header and the rows the events name; a rename asks for the other rows when it is folded."""
    warehouses = {str(e.data["warehouse"]) for e in events if e.stream_type == "inventory" and "warehouse" in e.data}
    return [sku, *(row_id(sku, w) for w in sorted(warehouses))]


def sequence(event: Envelope) -> tuple[str, int, bool]:
    """A row's sequence, its number, and whether a jump in it is normal (events from before warehouse_version)."""
    number = event.data.get("warehouse_version")
    if isinstance(number, int) and not isinstance(number, bool):
        return f"{event.stream_id}@{event.data['warehouse']}", number, False
    return event.stream_id, event.version, True


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


def new_row(sku: str, warehouse: str, name: str | None) -> Document:
    return {"kind": "stock", "sku": sku, "warehouse": warehouse, "name": name, **_row_fields(0, 0, 0)}


def moved_row(row: Document, payload: EventPayload) -> Document:
    """The row after an inventory event (unchanged for an event that moves nothing of it)."""
    on_hand, reserved, threshold = row["on_hand"], row["reserved"], row["low_stock_threshold"]
    if isinstance(payload, LowStockThresholdSet):
        threshold = payload.threshold
    elif (delta := stock_delta(payload)) is not None:
        on_hand, reserved = on_hand + delta[0], reserved + delta[1]
    return {**row, **_row_fields(on_hand, reserved, threshold)}


class InventoryUnit:
    """A SKU's header and stock rows while its events are folded (projections.UnitFold)."""

    def __init__(self, sku: str, docs: Documents) -> None:
        self.sku, self.docs = sku, docs
        header = docs.get(sku)
        self.header: Document = header or {"kind": "product", "sku": sku, "name": None, "warehouses": []}
        self.header_versions = Sequences(header)
        self.header_changed = False
        self.rows: dict[str, Document] = {}  # warehouse -> row changed in this fold
        self.row_versions: dict[str, Sequences] = {}
        self.renamed = False

    def _row_versions(self, warehouse: str) -> Sequences:
        if warehouse not in self.row_versions:
            self.row_versions[warehouse] = Sequences(self.docs.get(row_id(self.sku, warehouse)))
        return self.row_versions[warehouse]

    def admit(self, event: Envelope, blocked: set[str]) -> tuple[str, str, int]:
        if event.stream_type == "product":
            return self.header_versions.admit(event.stream_id, event.version, blocked), event.stream_id, event.version
        key, number, partial = sequence(event)
        versions = self._row_versions(str(event.data["warehouse"]))
        return versions.admit(key, number, blocked, partial=partial), key, number

    def apply(self, event: Envelope) -> None:
        known = event.event_type in EVENT_TYPES
        payload = decode(event.event_type, event.schema_version, event.data) if known else None
        recorded = event.recorded_at.isoformat()
        if event.stream_type == "product":
            name = _name(payload) if payload is not None else None
            self.header_versions.applied(event.stream_id, event.version)
            self.header = {**self.header, "updated_at": recorded}
            if name is not None and name != self.header.get("name"):
                self.header["name"], self.renamed = name, True
            self.header_changed = True
            return
        warehouse = str(event.data["warehouse"])
        row = self.rows.get(warehouse) or self.docs.get(row_id(self.sku, warehouse))
        if row is None:
            row = new_row(self.sku, warehouse, self.header.get("name"))
            self.header = {**self.header, "warehouses": sorted({*self.header.get("warehouses", []), warehouse})}
            self.header_changed = True
        if payload is not None:
            row = {**moved_row(row, payload), "updated_at": recorded}
        key, number, _ = sequence(event)
        versions = self._row_versions(warehouse)
        versions.applied(key, number)
        self.rows[warehouse] = {
            **row,
            "stream_versions": dict(versions.versions),
            "position": max(event.transaction_id, int(row.get("position", 0))),
        }

    def finish(self, folded: Folded) -> None:
        if self.renamed:
            self._rename_rows(folded)
        if self.header_changed:
            folded.changed[self.sku] = {**self.header, "stream_versions": self.header_versions.versions}
        for warehouse, row in self.rows.items():
            folded.changed[row_id(self.sku, warehouse)] = row

    def _rename_rows(self, folded: Folded) -> None:
        """Every row of the SKU takes the header's name; rows not loaded yet are asked for (the fold runs again)."""
        for warehouse in self.header.get("warehouses", []):
            doc_id = row_id(self.sku, warehouse)
            row = self.rows.get(warehouse) or self.docs.get(doc_id)
            if row is None and doc_id not in self.docs:
                folded.needs.append(doc_id)
            elif row is not None and row.get("name") != self.header["name"]:
                self.rows[warehouse] = {**row, "name": self.header["name"]}


def fold(sku: str, docs: Documents, events: list[tuple[int, Envelope]]) -> Folded:
    return fold_unit(InventoryUnit(sku, docs), events)


SPEC = ProjectionSpec(
    projection=Projection.INVENTORY,
    topics=PROJECTION_TOPICS[Projection.INVENTORY.value],
    unit_of=unit_of,
    documents=documents,
    fold=fold,
)
