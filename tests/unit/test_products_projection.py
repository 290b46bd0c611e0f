"""The products read model: apply() per event, derived categories, HTML stripping, and the fold of a SKU's events
into its product and stock documents."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from projector.elastic import load_mapping
from projector.projections import Document, Documents, Folded
from projector.projections.products import apply, derive_category, fold, strip_html, unit_of
from search_api.queries.products import build_suggest
from shared.events.envelope import Envelope
from shared.events.payloads import (
    EventPayload,
    Money,
    ProductDetailsChanged,
    ProductDiscontinued,
    ProductPriceChanged,
    ProductRegistered,
    StockAvailabilityChanged,
)
from shared.read_models import MAPPING_VERSIONS, Projection

SKU = "SKU-1"
STREAM = f"product-{SKU}"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


def envelope(
    payload: EventPayload | None,
    version: int,
    *,
    stream_id: str = STREAM,
    transaction_id: int | None = None,
    event_type: str | None = None,
    schema_version: int | None = None,
    data: dict[str, Any] | None = None,
    stream_type: str | None = None,
) -> Envelope:
    return Envelope(
        event_id=uuid.uuid4(),
        stream_id=stream_id,
        stream_type=stream_type or (payload.STREAM_TYPE if payload else "product"),
        version=version,
        global_position=version,
        transaction_id=transaction_id if transaction_id is not None else 1000 + version,
        event_type=event_type or (payload.TYPE if payload else "Unknown"),
        schema_version=schema_version or (payload.SCHEMA_VERSION if payload else 1),
        recorded_at=T0 + timedelta(minutes=version),
        data=data if data is not None else (payload.to_json() if payload else {}),
        metadata={},
    )


def registered(**overrides: Any) -> ProductRegistered:
    fields: dict[str, Any] = {
        "sku": SKU,
        "name": "Acme HDMI cable 2 m",
        "description": "<p>Gold&nbsp;plated <b>HDMI</b></p>",
        "brand": "Acme",
        "category": "Video cables",
        "price": usd("19.99"),
        "attributes": {"model": "HC-2", "ean": "0123456789012", "colour": "black"},
    }
    fields.update(overrides)
    return ProductRegistered(**fields)


def applied(*payloads: EventPayload) -> Document:
    doc: Document | None = None
    for version, payload in enumerate(payloads, start=1):
        doc = apply(doc, envelope(payload, version))
    assert doc is not None
    return doc


# ------------------------------------------------------------------------------------------------------- apply()
def test_registered_becomes_an_active_document_with_price() -> None:
    doc = applied(registered())
    assert doc["sku"] == SKU
    assert doc["status"] == "active"
    assert (doc["price"], doc["price_cents"], doc["currency"]) == (19.99, 1999, "USD")
    assert isinstance(doc["price"], float)
    assert doc["name"] == "Acme HDMI cable 2 m"
    assert doc["brand"] == "Acme"
    assert (doc["category"], doc["category_derived"]) == ("Video cables", False)
    assert doc["description"] == "Gold plated HDMI"
    assert doc["attributes"] == ["colour=black", "ean=0123456789012", "model=HC-2"]
    assert doc["attributes_text"] == "black HC-2"  # the EAN is not text to search
    assert doc["model"] == "HC-2"
    assert doc["suggest"] == {"input": ["Acme HDMI cable 2 m", "Acme HC-2"]}
    assert doc["registered_at"] == doc["updated_at"] == (T0 + timedelta(minutes=1)).isoformat()
    assert (doc["in_stock"], doc["stocked_in"]) == (False, [])
    assert doc["catalogue"] == {
        "name": "Acme HDMI cable 2 m",
        "description": "<p>Gold&nbsp;plated <b>HDMI</b></p>",
        "brand": "Acme",
        "category": "Video cables",
        "attributes": {"model": "HC-2", "ean": "0123456789012", "colour": "black"},
    }


def test_registered_keeps_stock_fields_of_an_existing_document() -> None:
    stock = {"in_stock": True, "stocked_in": ["W1"]}
    doc = apply(stock, envelope(registered(), 1))
    assert doc is not None
    assert (doc["in_stock"], doc["stocked_in"]) == (True, ["W1"])


def test_registered_without_category_gets_a_derived_one() -> None:
    doc = applied(registered(category=None, name="Acme HDMI cable 2 m"))
    assert (doc["category"], doc["category_derived"]) == ("Cables", True)
    assert doc["catalogue"]["category"] is None


def test_no_category_and_nothing_to_derive_from() -> None:
    doc = applied(registered(category=None, name="Acme Gizmo", brand=None, attributes={}))
    assert (doc["category"], doc["category_derived"]) == (None, False)
    assert doc["suggest"] == {"input": ["Acme Gizmo"]}
    assert doc["model"] is None


def test_registered_from_a_v1_payload() -> None:
    env = envelope(
        None, 1, event_type="ProductRegistered", schema_version=1, data={"sku": SKU, "name": "Old", "price_cents": 250}
    )
    doc = apply(None, env)
    assert doc is not None
    assert (doc["price"], doc["price_cents"], doc["currency"]) == (2.5, 250, "USD")


def test_details_change_applies_to_the_catalogue_fields() -> None:
    doc = applied(
        registered(), ProductDetailsChanged(sku=SKU, changes={"brand": "Globex", "description": "<i>New</i> text"})
    )
    assert doc["brand"] == "Globex"
    assert doc["description"] == "New text"
    assert doc["catalogue"]["description"] == "<i>New</i> text"  # raw, so later changes can be applied to it
    # Untouched fields are kept.
    assert doc["name"] == "Acme HDMI cable 2 m"
    assert (doc["category"], doc["category_derived"]) == ("Video cables", False)
    assert doc["catalogue"]["attributes"] == {"model": "HC-2", "ean": "0123456789012", "colour": "black"}
    assert doc["suggest"] == {"input": ["Acme HDMI cable 2 m", "Globex HC-2"]}
    assert doc["price_cents"] == 1999 and doc["status"] == "active"
    assert doc["registered_at"] == (T0 + timedelta(minutes=1)).isoformat()
    assert doc["updated_at"] == (T0 + timedelta(minutes=2)).isoformat()


def test_details_changes_accumulate() -> None:
    doc = applied(
        registered(category=None),
        ProductDetailsChanged(sku=SKU, changes={"name": "Acme toner"}),
        ProductDetailsChanged(sku=SKU, changes={"brand": None}),
    )
    assert doc["name"] == "Acme toner" and doc["brand"] is None
    assert (doc["category"], doc["category_derived"]) == ("Toner cartridges", True)
    assert doc["catalogue"] == {
        "name": "Acme toner",
        "description": "<p>Gold&nbsp;plated <b>HDMI</b></p>",
        "brand": None,
        "category": None,
        "attributes": {"model": "HC-2", "ean": "0123456789012", "colour": "black"},
    }


def test_setting_a_category_stops_deriving_and_clearing_it_derives_again() -> None:
    doc = applied(registered(category=None), ProductDetailsChanged(sku=SKU, changes={"category": "Special"}))
    assert (doc["category"], doc["category_derived"]) == ("Special", False)
    cleared = apply(doc, envelope(ProductDetailsChanged(sku=SKU, changes={"category": None}), 3))
    assert cleared is not None and (cleared["category"], cleared["category_derived"]) == ("Cables", True)


def test_details_change_replaces_attributes() -> None:
    doc = applied(registered(), ProductDetailsChanged(sku=SKU, changes={"attributes": {"model": "HC-9"}}))
    assert doc["attributes"] == ["model=HC-9"] and doc["model"] == "HC-9"
    assert doc["catalogue"]["attributes"] == {"model": "HC-9"}


def test_details_change_clearing_attributes() -> None:
    doc = applied(registered(), ProductDetailsChanged(sku=SKU, changes={"attributes": None}))
    assert doc["attributes"] == [] and doc["model"] is None


def test_price_change() -> None:
    doc = applied(
        registered(),
        ProductPriceChanged(sku=SKU, price=Money(amount=Decimal("5"), currency="EUR"), previous=usd("19.99")),
    )
    assert (doc["price"], doc["price_cents"], doc["currency"]) == (5.0, 500, "EUR")
    assert doc["name"] == "Acme HDMI cable 2 m" and doc["status"] == "active"
    assert doc["updated_at"] == (T0 + timedelta(minutes=2)).isoformat()


def test_discontinued_is_kept_as_a_status() -> None:
    doc = applied(registered(), ProductDiscontinued(sku=SKU, reason="eol"))
    assert doc["status"] == "discontinued"
    assert doc["sku"] == SKU and doc["price_cents"] == 1999  # a tombstone, not a delete


def test_events_without_a_document_change_nothing() -> None:
    for payload in (
        ProductDetailsChanged(sku=SKU, changes={"name": "x"}),
        ProductPriceChanged(sku=SKU, price=usd("1"), previous=usd("2")),
        ProductDiscontinued(sku=SKU),
    ):
        assert apply(None, envelope(payload, 2)) is None


def test_unknown_event_types_are_ignored() -> None:
    doc = applied(registered())
    assert apply(doc, envelope(None, 2, event_type="ProductTeleported", data={"sku": SKU})) is doc


def test_unit_of() -> None:
    assert unit_of(envelope(registered(), 1)) == SKU
    assert unit_of(envelope(None, 1, event_type="X", data={})) == SKU  # from the stream id
    assert unit_of(availability(True, 2)) == SKU
    assert (
        unit_of(envelope(None, 1, stream_id=STOCK, stream_type="inventory", event_type="StockReserved", data={}))
        is None
    )
    other = envelope(None, 1, event_type="X", data={}).model_copy(update={"stream_type": "order"})
    assert unit_of(other) is None


# ---------------------------------------------------------------------------------------- derive_category / html
@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("Xerox 006R90321 toner cartridge", "Toner cartridges"),
        ("HP 301 Ink Cartridge black", "Ink cartridges"),
        ("Lenovo ThinkPad laptop 14", "Notebooks"),
        ("Belkin HDMI Cables 2 m", "Cables"),
        ("USB-C Cable", "Cables"),
        ("Logitech Wireless Mouse", "Mice"),
        ('Samsung 27" Monitor', "Monitors"),
        ("Dell monitors", "Monitors"),
        ("Sennheiser headphones", "Headphones"),
        ("Acme Gizmo 3000", None),
        ("Pink gizmo", None),  # "ink" only as a whole word
        ("", None),
    ],
)
def test_derive_category(name: str, category: str | None) -> None:
    assert derive_category(name) == category


def test_derive_category_batteries() -> None:
    assert derive_category("Duracell AA batteries 4 pack") == "Batteries"


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>Hello <b>world</b></p>", "Hello world"),
        ("a&amp;b &nbsp; c", "a&b c"),
        ("line<br/>break", "line break"),
        ("  plain  text \n", "plain text"),
        ("<br />  ", None),
        ("", None),
        (None, None),
    ],
)
def test_strip_html(html: str | None, text: str | None) -> None:
    assert strip_html(html) == text


# ------------------------------------------------------------------------------------------------------------ fold
STOCK = f"inventory-{SKU}"


def availability(in_stock: bool, number: int, warehouse: str = "ams", version: int | None = None) -> Envelope:
    """A StockAvailabilityChanged of the SKU's inventory stream: the warehouse's `number`-th event."""
    payload = StockAvailabilityChanged(sku=SKU, warehouse=warehouse, in_stock=in_stock, warehouse_version=number)
    return envelope(payload, version or number, stream_id=STOCK)


def batch(*envelopes: Envelope) -> list[tuple[int, Envelope]]:
    return list(enumerate(envelopes))


def folded(docs: Documents | None, *envelopes: Envelope) -> Folded:
    return fold(SKU, docs or {}, batch(*envelopes))


def after(docs: Documents | None, *envelopes: Envelope) -> Documents:
    """The SKU's documents after folding the events into them."""
    return {**(docs or {}), **folded(docs, *envelopes).changed}


def test_fold_applies_in_order_and_records_stream_versions_and_position() -> None:
    result = folded(
        None,
        envelope(registered(), 1),
        envelope(ProductPriceChanged(sku=SKU, price=usd("3.00"), previous=usd("19.99")), 2),
        envelope(ProductDiscontinued(sku=SKU), 3),
    )
    doc = result.changed[SKU]
    assert doc["stream_versions"] == {STREAM: 3}
    assert doc["position"] == 1003
    assert (doc["price_cents"], doc["status"]) == (300, "discontinued")
    assert (result.poison, result.early) == ({}, set())
    assert set(result.changed) == {SKU}  # no stock event: no stock document


def test_fold_skips_duplicates() -> None:
    docs = after(None, envelope(registered(), 1), envelope(ProductDiscontinued(sku=SKU), 2))
    result = folded(docs, envelope(registered(name="Replayed"), 1), envelope(ProductDiscontinued(sku=SKU), 2))
    assert result.changed == {}
    assert (result.poison, result.early) == ({}, set())


def test_fold_skips_a_duplicate_and_applies_the_next() -> None:
    docs = after(None, envelope(registered(), 1))
    new = folded(
        docs,
        envelope(registered(name="Replayed"), 1),
        envelope(ProductPriceChanged(sku=SKU, price=usd("1.00"), previous=usd("19.99")), 2),
    ).changed[SKU]
    assert new["name"] == "Acme HDMI cable 2 m" and new["price_cents"] == 100
    assert new["stream_versions"] == {STREAM: 2}


def test_fold_hands_back_early_events_and_blocks_the_rest_of_their_stream() -> None:
    docs = after(None, envelope(registered(), 1))
    result = folded(
        docs,
        envelope(ProductPriceChanged(sku=SKU, price=usd("5.00"), previous=usd("4.00")), 3),  # 2 is missing
        envelope(ProductDiscontinued(sku=SKU), 4),
    )
    assert result.early == {0, 1}
    assert result.sequences == {0: (STREAM, 3), 1: (STREAM, 4)}
    assert result.poison == {} and result.changed == {}


def test_fold_blocks_events_after_a_gap_even_when_the_next_version_arrives_later_in_the_batch() -> None:
    result = folded(
        None,
        envelope(registered(), 1),
        envelope(ProductDiscontinued(sku=SKU), 3),  # early: 2 has not been applied
        envelope(ProductPriceChanged(sku=SKU, price=usd("5.00"), previous=usd("19.99")), 2),
    )
    doc = result.changed[SKU]
    assert result.early == {1, 2}
    assert doc["stream_versions"] == {STREAM: 1}
    assert doc["status"] == "active" and doc["price_cents"] == 1999


def test_fold_parks_poison_and_blocks_its_stream() -> None:
    result = folded(
        None,
        envelope(None, 1, event_type="ProductRegistered", schema_version=2, data={"sku": SKU, "name": "no price"}),
        envelope(ProductDiscontinued(sku=SKU), 2),
    )
    assert list(result.poison) == [0]
    assert "ValidationError" in result.poison[0]
    assert result.early == {1}
    assert result.changed == {}


def test_fold_poison_in_one_stream_does_not_block_another() -> None:
    result = folded(
        None,
        envelope(
            None, 1, stream_id=STOCK, stream_type="inventory", event_type="StockAvailabilityChanged", data={"sku": SKU}
        ),
        envelope(registered(), 1),
    )
    assert set(result.poison) == {0} and result.early == set()
    assert result.changed[SKU]["stream_versions"] == {STREAM: 1}


def test_fold_unknown_event_type_advances_the_version() -> None:
    docs = after(None, envelope(registered(), 1))
    result = folded(
        docs,
        envelope(None, 2, event_type="ProductTeleported", data={"sku": SKU}),
        envelope(ProductDiscontinued(sku=SKU), 3),
    )
    new = result.changed[SKU]
    assert new["status"] == "discontinued" and new["stream_versions"] == {STREAM: 3}
    assert (result.poison, result.early) == ({}, set())


def test_fold_keeps_the_highest_position() -> None:
    docs = after(None, envelope(registered(), 1, transaction_id=5000))
    new = folded(docs, envelope(ProductDiscontinued(sku=SKU), 2, transaction_id=4000)).changed[SKU]
    assert new["position"] == 5000


# ------------------------------------------------------------------------------------------ stock in the documents
def test_availability_changes_set_stock_as_search_uses_it() -> None:
    docs = after(None, envelope(registered(), 1), availability(True, 2), availability(True, 2, "ber", version=4))
    product = docs[SKU]
    assert product is not None and (product["in_stock"], product["stocked_in"]) == (True, ["ams", "ber"])
    assert product["stream_versions"] == {STREAM: 1, f"{STOCK}@ams": 2, f"{STOCK}@ber": 2}
    sold_out = after(docs, availability(False, 7, version=9))[SKU]
    assert sold_out is not None and (sold_out["in_stock"], sold_out["stocked_in"]) == (True, ["ber"])
    gone = after({SKU: sold_out}, availability(False, 5, "ber", version=10))[SKU]
    assert gone is not None and (gone["in_stock"], gone["stocked_in"]) == (False, [])


def test_an_older_availability_change_after_a_newer_one_changes_nothing() -> None:
    """Each says the warehouse's whole state: a late one (a redelivery) loses to what was applied already."""
    docs = after(None, envelope(registered(), 1), availability(True, 2), availability(False, 6))
    assert folded(docs, availability(True, 4)).changed == {}
    assert (docs[SKU] or {}).get("stocked_in") == []


def test_availability_before_the_product_is_taken_at_registration() -> None:
    docs = after(None, availability(True, 2))
    stub = docs[SKU]
    assert stub is not None and stub["status"] == "pending"  # never shown: not active
    product = after(docs, envelope(registered(), 1))[SKU]
    assert product is not None and (product["status"], product["in_stock"], product["stocked_in"]) == (
        "active",
        True,
        ["ams"],
    )


# ------------------------------------------------------------------------------------------- fits the index mapping
def test_documents_fit_the_strict_index_mapping() -> None:
    properties = load_mapping(Projection.PRODUCTS, MAPPING_VERSIONS[Projection.PRODUCTS])["mappings"]["properties"]
    docs = after(
        None,
        envelope(registered(category=None), 1),
        envelope(ProductDetailsChanged(sku=SKU, changes={"brand": None}), 2),
        envelope(ProductPriceChanged(sku=SKU, price=usd("1.00"), previous=usd("19.99")), 3),
        envelope(ProductDiscontinued(sku=SKU), 4),
        availability(True, 2),
    )
    for doc in docs.values():
        assert doc is not None
        assert set(doc) <= set(properties), f"not in the mapping (dynamic: strict): {set(doc) - set(properties)}"


def test_discontinued_products_are_not_suggested() -> None:
    doc = applied(registered(), ProductDiscontinued(sku=SKU))
    completion = build_suggest("acme")["suggest"]["products"]["completion"]
    assert not doc.get("suggest", {}).get("input") or "contexts" in completion
