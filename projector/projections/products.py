"""The `products` read model: catalogue fields for shopper search, plus stock (fed by inventory streams, later)."""

from __future__ import annotations

import html
import re
from typing import Any

from projector.projections import Document, ProjectionSpec
from projector.projections.product_type import type_heads
from shared.events.envelope import Envelope
from shared.events.payloads import (
    EventPayload,
    Money,
    ProductDetailsChanged,
    ProductDiscontinued,
    ProductPriceChanged,
    ProductRegistered,
    StockAdjusted,
    StockReceived,
    StockReservationReleased,
    StockReserved,
    StockShipped,
)
from shared.events.registry import EVENT_TYPES, decode
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


def stock_fields(stock: dict[str, list[int]]) -> dict[str, Any]:
    """Shopper-facing stock from per-warehouse [on_hand, reserved]."""
    available = {w: max(0, on_hand - reserved) for w, (on_hand, reserved) in sorted(stock.items())}
    total = sum(available.values())
    return {
        "stock": stock,
        "available": total,
        "in_stock": total > 0,
        "stocked_in": [w for w, a in available.items() if a > 0],
        "warehouses": [{"warehouse": w, "available": a} for w, a in available.items()],
    }


def apply_stock(doc: Document | None, payload: EventPayload) -> Document:
    """An inventory event changes the product's stock (a stub document holds it until the product arrives)."""
    base = doc or {"sku": getattr(payload, "sku", ""), "status": "pending"}
    stock = {w: list(v) for w, v in base.get("stock", {}).items()}
    match payload:
        case StockReceived() | StockAdjusted() | StockReserved() | StockReservationReleased() | StockShipped():
            on_hand, reserved = stock.get(payload.warehouse, [0, 0])
            delta_on_hand, delta_reserved = _stock_delta(payload)
            stock[payload.warehouse] = [on_hand + delta_on_hand, reserved + delta_reserved]
        case _:
            return base
    return {**base, **stock_fields(stock)}


def _stock_delta(payload: EventPayload) -> tuple[int, int]:
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
    return 0, 0


def _price(price: Money) -> dict[str, Any]:
    return {"price": float(price.amount), "price_cents": price.cents(), "currency": price.currency}


def apply(doc: Document | None, event: Envelope) -> Document | None:
    if event.event_type not in EVENT_TYPES:
        return doc  # tolerant reader: an event type this code does not know changes nothing
    payload = decode(event.event_type, event.schema_version, event.data)
    recorded = event.recorded_at.isoformat()
    if event.stream_type == "inventory":
        return apply_stock(doc, payload)
    match payload:
        case ProductRegistered():
            base = doc or stock_fields({})
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


def document_id(event: Envelope) -> str | None:
    if event.stream_type == "product":
        return str(event.data.get("sku") or event.stream_id.removeprefix("product-"))
    if event.stream_type == "inventory":
        return str(event.data.get("sku") or event.stream_id.removeprefix("inventory-"))
    return None


SPEC = ProjectionSpec(
    projection=Projection.PRODUCTS,
    document_id=document_id,
    apply=apply,
)
