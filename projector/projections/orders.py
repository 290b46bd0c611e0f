"""The `orders` read model: one document per order for back-office search. Holds personal data (customer name,
e-mail, address): only the back-office role may read it (search API)."""

from __future__ import annotations

from typing import Any

from projector.projections import Document, Documents, Folded, ProjectionSpec, Sequences, fold_unit, with_versions
from shared.events.envelope import Envelope
from shared.events.payloads import OrderCancelled, OrderLine, OrderLineAdded, OrderPlaced, OrderShipped
from shared.events.registry import EVENT_TYPES, decode
from shared.messaging import PROJECTION_TOPICS
from shared.read_models import Projection


def unit_of(event: Envelope) -> str | None:
    if event.stream_type == "order":
        return str(event.data.get("order_id") or event.stream_id.removeprefix("order-"))
    return None


def documents(order_id: str, events: list[Envelope]) -> list[str]:
    """The order's document -- unless the events start the stream: a new order has none yet, and a replayed start
    is refused by Elasticsearch's external versioning when a newer version is stored (no read needed)."""
    return [] if events and events[0].version == 1 else [order_id]


def _lines(lines: list[OrderLine]) -> dict[str, Any]:
    return {
        "lines": [line.model_dump(mode="json") for line in lines],
        "skus": sorted({line.sku for line in lines}),
        "item_count": sum(line.quantity for line in lines),
    }


def apply(doc: Document | None, event: Envelope) -> Document | None:
    if event.event_type not in EVENT_TYPES:
        return doc
    payload = decode(event.event_type, event.schema_version, event.data)
    recorded = event.recorded_at.isoformat()
    match payload:
        case OrderPlaced():
            return {
                "order_id": payload.order_id,
                "status": "placed",
                "customer": payload.customer.model_dump(mode="json"),
                "shipping_address": payload.shipping_address.model_dump(mode="json", exclude_none=True),
                **_lines(list(payload.lines)),
                "total": float(payload.total.amount),
                "total_money": payload.total.model_dump(mode="json"),
                "currency": payload.total.currency,
                "placed_at": recorded,
                "updated_at": recorded,
            }
        case OrderLineAdded() if doc is not None:
            lines = [OrderLine.model_validate(line) for line in doc["lines"]] + [payload.line]
            return {
                **doc,
                **_lines(lines),
                "total": float(payload.total.amount),
                "total_money": payload.total.model_dump(mode="json"),
                "updated_at": recorded,
            }
        case OrderCancelled() if doc is not None:
            return {
                **doc,
                "status": "cancelled",
                "cancelled_at": recorded,
                "cancel_reason": payload.reason,
                "updated_at": recorded,
            }
        case OrderShipped() if doc is not None:
            shipped = {"status": "shipped", "shipped_at": recorded, "updated_at": recorded}
            if payload.carrier:
                shipped["carrier"] = payload.carrier
            if payload.tracking_number:
                shipped["tracking_number"] = payload.tracking_number
            return {**doc, **shipped}
    return doc


class OrderUnit:
    """An order's document while its events are folded (projections.UnitFold)."""

    def __init__(self, order_id: str, docs: Documents) -> None:
        self.order_id = order_id
        self.doc = docs.get(order_id)
        self.versions = Sequences(self.doc)

    def admit(self, event: Envelope, blocked: set[str]) -> tuple[str, str, int]:
        return self.versions.admit(event.stream_id, event.version, blocked), event.stream_id, event.version

    def apply(self, event: Envelope) -> None:
        new = apply(self.doc, event)
        self.versions.applied(event.stream_id, event.version)
        if new is not None:
            self.doc = with_versions(new, self.versions, event)

    def finish(self, folded: Folded) -> None:
        if self.versions.changed and self.doc is not None:
            folded.changed[self.order_id] = self.doc


def fold(order_id: str, docs: Documents, events: list[tuple[int, Envelope]]) -> Folded:
    return fold_unit(OrderUnit(order_id, docs), events)


SPEC = ProjectionSpec(
    projection=Projection.ORDERS,
    topics=PROJECTION_TOPICS[Projection.ORDERS.value],
    unit_of=unit_of,
    documents=documents,
    fold=fold,
    single_stream=True,
)
