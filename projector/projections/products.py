"""The `products` read model: one document per SKU for shopper search.

A unit is a SKU: its product stream feeds the catalogue fields, price and status, and its inventory stream's
StockAvailabilityChanged events -- a warehouse out of stock, or in stock again -- feed stock as search uses it
(`in_stock`, `stocked_in`). Every other inventory event (a reservation, a receipt that leaves a warehouse in stock)
never reaches this projection (shared/messaging.py routes by event type), so the document, with its analysed name,
description, typo field and suggestions, is written only when something search filters, ranks or shows changes.
The quantities a shopper sees come from the inventory read model (search_api/availability.py).
"""

from __future__ import annotations

import html
import re
from typing import Any

from projector.projections import Document, Documents, Folded, ProjectionSpec, Sequences, fold_unit, with_versions
from projector.projections.product_type import type_heads
from shared.events.envelope import Envelope
from shared.events.payloads import (
    Money,
    ProductDetailsChanged,
    ProductDiscontinued,
    ProductPriceChanged,
    ProductRegistered,
    StockAvailabilityChanged,
)
from shared.events.registry import EVENT_TYPES, decode
from shared.messaging import PROJECTION_TOPICS
from shared.read_models import Projection

_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")

# Categories derived from words of the product name when the catalogue gives none (marked category_derived).
# Checked in order; the first match wins. Keys are lower-case phrases.
DERIVED_CATEGORIES: tuple[tuple[str, str], ...] = (
    # Accessories first: a "notebook sleeve" is a case, a "laptop battery" a battery, not a notebook.
    ("toner", "Toner cartridges"),
    ("ink cartridge", "Ink cartridges"),
    ("ink", "Ink cartridges"),
    ("sleeve", "Cases and bags"),
    ("backpack", "Cases and bags"),
    ("case", "Cases and bags"),
    ("bag", "Cases and bags"),
    ("battery", "Batteries"),
    ("charger", "Chargers"),
    ("adapter", "Adapters"),
    ("hdmi cable", "Cables"),
    ("cable", "Cables"),
    ("keyboard", "Keyboards"),
    ("mouse", "Mice"),
    ("headset", "Headphones"),
    ("headphone", "Headphones"),
    ("speaker", "Speakers"),
    ("memory", "Memory"),
    ("hard drive", "Storage"),
    ("hdd", "Storage"),
    ("ssd", "Storage"),
    ("usb flash drive", "Storage"),
    ("notebook", "Notebooks"),
    ("laptop", "Notebooks"),
    ("tablet", "Tablets"),
    ("smartphone", "Smartphones"),
    ("mobile phone", "Smartphones"),
    ("monitor", "Monitors"),
    ("projector", "Projectors"),
    ("printer", "Printers"),
    ("scanner", "Scanners"),
    ("server", "Servers"),
    ("switch", "Networking"),
    ("router", "Networking"),
    ("access point", "Networking"),
    ("camera", "Cameras"),
    ("tv", "TVs"),
    ("processor", "Processors"),
    ("graphics card", "Graphics cards"),
    ("motherboard", "Motherboards"),
    ("software", "Software"),
    ("license", "Software"),
    ("paper", "Paper"),
)


def strip_html(text: str | None) -> str | None:
    if text is None:
        return None
    cleaned = _SPACE.sub(" ", html.unescape(_TAG.sub(" ", text))).strip()
    return cleaned or None


def derive_category(name: str) -> str | None:
    words = f" {_SPACE.sub(' ', re.sub(r'[^a-z0-9]+', ' ', name.lower()))} "
    for phrase, category in DERIVED_CATEGORIES:
        plurals = (f" {phrase}s ", f" {phrase[:-1]}ies " if phrase.endswith("y") else f" {phrase}es ")
        if f" {phrase} " in words or any(p in words for p in plurals):
            return category
    return None


def _catalogue_fields(
    name: str, description: str | None, brand: str | None, category: str | None, attributes: dict[str, str]
) -> dict[str, Any]:
    category_in = category
    derived = category is None
    if derived:
        category = derive_category(name)
    suggest_inputs = [name[:100]]
    if brand:
        suggest_inputs.append(f"{brand} {attributes.get('model', '')}".strip()[:100])
    return {
        # What the catalogue said, kept unindexed so that a partial change can be applied to it.
        "catalogue": {
            "name": name,
            "description": description,
            "brand": brand,
            "category": category_in,
            "attributes": attributes,
        },
        "name": name,
        "description": strip_html(description),
        "brand": brand,
        "category": category,
        "category_derived": derived and category is not None,
        "attributes": [f"{k}={v}" for k, v in sorted(attributes.items())],
        "attributes_text": " ".join(v for k, v in sorted(attributes.items()) if k != "ean"),
        "model": attributes.get("model"),
        # What kind of product it is, for shopper search's ranking (search_api/queries/ranking.py).
        "type_heads": type_heads(name, brand, attributes.get("model"), category_in),
        "suggest": {"input": suggest_inputs},
    }


def _price(price: Money) -> dict[str, Any]:
    return {"price": float(price.amount), "price_cents": price.cents(), "currency": price.currency}


def apply(doc: Document | None, event: Envelope) -> Document | None:
    if event.event_type not in EVENT_TYPES:
        return doc  # tolerant reader: an event type this code does not know changes nothing
    payload = decode(event.event_type, event.schema_version, event.data)
    recorded = event.recorded_at.isoformat()
    match payload:
        case ProductRegistered():
            base = doc or {"in_stock": False, "stocked_in": []}
            return {
                **base,
                "sku": payload.sku,
                **_catalogue_fields(
                    payload.name, payload.description, payload.brand, payload.category, payload.attributes
                ),
                **_price(payload.price),
                "status": "active",
                "registered_at": recorded,
                "updated_at": recorded,
            }
        case ProductDetailsChanged() if doc is not None:
            current = {**doc["catalogue"], **payload.changes}
            current["attributes"] = dict(current.get("attributes") or {})
            return {**doc, **_catalogue_fields(**current), "updated_at": recorded}
        case ProductPriceChanged() if doc is not None:
            return {**doc, **_price(payload.price), "updated_at": recorded}
        case ProductDiscontinued() if doc is not None:
            # Kept as a tombstone, but no longer suggested.
            return {
                **{k: v for k, v in doc.items() if k != "suggest"},
                "status": "discontinued",
                "updated_at": recorded,
            }
    return doc


def unit_of(event: Envelope) -> str | None:
    if event.stream_type == "product" or event.event_type == "StockAvailabilityChanged":
        return str(event.data.get("sku") or event.stream_id.split("-", 1)[1])
    return None


def documents(sku: str, _events: list[Envelope]) -> list[str]:
    return [sku]


def availability_sequence(event: Envelope) -> str:
    """A warehouse's availability changes, numbered in its events (warehouse_version): each says the warehouse's
    whole state, so the latest applied wins and the ones between never matter (a jump is no gap)."""
    return f"{event.stream_id}@{event.data.get('warehouse')}"


class ProductUnit:
    """A SKU's product document while its events are folded (projections.UnitFold)."""

    def __init__(self, sku: str, docs: Documents) -> None:
        self.sku = sku
        self.product = docs.get(sku)
        self.versions = Sequences(self.product)

    def admit(self, event: Envelope, blocked: set[str]) -> tuple[str, str, int]:
        if event.stream_type == "product":
            return self.versions.admit(event.stream_id, event.version, blocked), event.stream_id, event.version
        key, number = availability_sequence(event), int(event.data.get("warehouse_version") or event.version)
        return self.versions.admit(key, number, blocked, states=True), key, number

    def apply(self, event: Envelope) -> None:
        if event.stream_type == "product":
            new = apply(self.product, event)
            self.versions.applied(event.stream_id, event.version)
        else:
            change = decode(event.event_type, event.schema_version, event.data)
            if not isinstance(change, StockAvailabilityChanged):
                raise TypeError(f"the products projection does not fold {event.event_type} of {event.stream_id}")
            new = with_availability(self.product or {"sku": self.sku, "status": "pending"}, change)
            self.versions.applied(availability_sequence(event), int(event.data.get("warehouse_version") or 0))
        if new is not None:
            self.product = with_versions(new, self.versions, event)

    def finish(self, folded: Folded) -> None:
        if self.versions.changed and self.product is not None:
            folded.changed[self.sku] = self.product


def with_availability(doc: Document, change: StockAvailabilityChanged) -> Document:
    stocked_in = {*doc.get("stocked_in", [])} - {change.warehouse}
    if change.in_stock:
        stocked_in.add(change.warehouse)
    return {**doc, "in_stock": bool(stocked_in), "stocked_in": sorted(stocked_in)}


def fold(sku: str, docs: Documents, events: list[tuple[int, Envelope]]) -> Folded:
    return fold_unit(ProductUnit(sku, docs), events)


SPEC = ProjectionSpec(
    projection=Projection.PRODUCTS,
    topics=PROJECTION_TOPICS[Projection.PRODUCTS.value],
    unit_of=unit_of,
    documents=documents,
    fold=fold,
)
