"""The `products` read model: one document per SKU for shopper search, and beside it the SKU's stock levels.

A unit is a SKU: its product stream feeds the product document (catalogue fields, price, status), its inventory
stream the stock document `<sku>@stock` (per warehouse on hand and reserved; never searched: it has no `status`).
The product document carries stock only as search uses it (`in_stock`, `stocked_in`: see stock.search_flags), so a
reservation rewrites the small stock document and leaves the product document -- with its analysed name,
description, typo field and suggestions -- alone unless a warehouse runs out or is restocked. The quantities a
shopper sees are read from the stock document when the search API answers (search_api/availability.py).
"""

from __future__ import annotations

import html
import re
from typing import Any

from projector.projections import Document, Documents, Folded, ProjectionSpec, Sequences, fold_unit, with_versions
from projector.projections.stock import Levels, moved, search_flags, stock_delta
from shared.events.envelope import Envelope
from shared.events.payloads import (
    Money,
    ProductDetailsChanged,
    ProductDiscontinued,
    ProductPriceChanged,
    ProductRegistered,
)
from shared.events.registry import EVENT_TYPES, decode
from shared.read_models import Projection
from shared.read_models import product_stock_id as stock_id

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
            base = doc or search_flags({})
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
    if event.stream_type in ("product", "inventory"):
        return str(event.data.get("sku") or event.stream_id.split("-", 1)[1])
    return None


def documents(sku: str, _events: list[Envelope]) -> list[str]:
    return [sku, stock_id(sku)]


class ProductUnit:
    """A SKU's product document and stock document while its events are folded (projections.UnitFold)."""

    def __init__(self, sku: str, docs: Documents) -> None:
        self.sku = sku
        self.product = docs.get(sku)
        self.product_versions = Sequences(self.product)
        stock = docs.get(stock_id(sku)) or {}
        self.levels: Levels = {w: list(v) for w, v in stock.get("stock", {}).items()}
        self.stock_versions = Sequences(stock)
        self.stock_position = int(stock.get("position", 0))
        self.product_changed = False

    def admit(self, event: Envelope, blocked: set[str]) -> tuple[str, str, int]:
        versions = self.stock_versions if event.stream_type == "inventory" else self.product_versions
        return versions.admit(event.stream_id, event.version, blocked), event.stream_id, event.version

    def apply(self, event: Envelope) -> None:
        if event.stream_type == "inventory":
            if event.event_type in EVENT_TYPES:
                delta = stock_delta(decode(event.event_type, event.schema_version, event.data))
                if delta is not None:
                    self.levels = moved(self.levels, str(event.data["warehouse"]), delta)
            self.stock_versions.applied(event.stream_id, event.version)
            self.stock_position = max(self.stock_position, event.transaction_id)
            return
        new = apply(self.product, event)
        self.product_versions.applied(event.stream_id, event.version)
        if new is not None:
            self.product = with_versions(new, self.product_versions, event)
            self.product_changed = True

    def finish(self, folded: Folded) -> None:
        if self.stock_versions.changed:
            folded.changed[stock_id(self.sku)] = {
                "sku": self.sku,
                "stock": self.levels,
                "stream_versions": self.stock_versions.versions,
                "position": self.stock_position,
            }
        if self.product is None:
            return
        flags = search_flags(self.levels)
        if any(self.product.get(k) != v for k, v in flags.items()):
            position = max(self.stock_position, int(self.product.get("position", 0)))
            self.product = {**self.product, **flags, "position": position}
            self.product_changed = True
        if self.product_changed:
            folded.changed[self.sku] = self.product


def fold(sku: str, docs: Documents, events: list[tuple[int, Envelope]]) -> Folded:
    return fold_unit(ProductUnit(sku, docs), events)


SPEC = ProjectionSpec(
    projection=Projection.PRODUCTS,
    stream_types=frozenset({"product", "inventory"}),
    unit_of=unit_of,
    documents=documents,
    fold=fold,
)
