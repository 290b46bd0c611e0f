"""The inventory read model: a SKU's header and stock rows folded from its product and inventory streams."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from projector.elastic import load_mapping
from projector.projections import Documents, Folded
from projector.projections.inventory import documents, fold
from shared.events.envelope import Envelope
from shared.events.payloads import (
    LowStockThresholdSet,
    Money,
    ProductDetailsChanged,
    ProductRegistered,
    StockReceived,
    StockReserved,
)
from shared.read_models import MAPPING_VERSIONS, Projection
from tests.unit.test_products_projection import envelope

SKU = "SKU-1"
PRODUCT, STOCK = f"product-{SKU}", f"inventory-{SKU}"


def registered(name: str = "Probe cable") -> Envelope:
    payload = ProductRegistered(sku=SKU, name=name, price=Money(amount=Decimal("5"), currency="EUR"))
    return envelope(payload, 1, stream_id=PRODUCT)


def renamed(version: int, name: str) -> Envelope:
    return envelope(ProductDetailsChanged(sku=SKU, changes={"name": name}), version, stream_id=PRODUCT)


def stock(payload: Any, version: int, warehouse_version: int) -> Envelope:
    data = {**payload.to_json(), "warehouse_version": warehouse_version}
    return envelope(payload, version, stream_id=STOCK, data=data)


def received(warehouse: str, quantity: int, version: int, warehouse_version: int) -> Envelope:
    return stock(StockReceived(sku=SKU, warehouse=warehouse, quantity=quantity), version, warehouse_version)


def folded(docs: Documents, *events: Envelope) -> Folded:
    return fold(SKU, docs, list(enumerate(events)))


def after(docs: Documents, *events: Envelope) -> Documents:
    result = folded(docs, *events)
    assert not result.needs, result.needs
    return {**docs, **result.changed}


def test_rows_take_the_name_and_the_header_lists_the_warehouses() -> None:
    docs = after({}, registered(), received("ams", 5, 1, 1), received("ber", 2, 2, 1))
    header = docs[SKU]
    assert header is not None
    assert {k: v for k, v in header.items() if k != "updated_at"} == {
        "kind": "product",
        "sku": SKU,
        "name": "Probe cable",
        "warehouses": ["ams", "ber"],
        "stream_versions": {PRODUCT: 1},
    }
    row = docs[f"{SKU}@ams"]
    assert row is not None
    assert (row["name"], row["on_hand"], row["reserved"], row["available"]) == ("Probe cable", 5, 0, 5)
    assert row["stream_versions"] == {f"{STOCK}@ams": 1}


def test_a_rename_reaches_rows_not_in_the_batch_by_asking_for_them() -> None:
    docs = after({}, registered(), received("ams", 5, 1, 1), received("ber", 2, 2, 1))
    header_only = {SKU: docs[SKU]}
    first = folded(header_only, renamed(2, "Renamed cable"))
    assert sorted(first.needs) == [f"{SKU}@ams", f"{SKU}@ber"]
    again = folded(docs, renamed(2, "Renamed cable"))
    assert not again.needs
    assert {d: doc["name"] for d, doc in again.changed.items()} == dict.fromkeys(
        [SKU, f"{SKU}@ams", f"{SKU}@ber"], "Renamed cable"
    )


def test_a_reservation_only_rewrites_its_row() -> None:
    docs = after({}, registered(), received("ams", 5, 1, 1), received("ber", 2, 2, 1))
    reservation = stock(StockReserved(sku=SKU, warehouse="ams", quantity=2, order_id="O-1"), 3, 2)
    result = folded(docs, reservation)
    assert set(result.changed) == {f"{SKU}@ams"}
    assert result.changed[f"{SKU}@ams"]["reserved"] == 2


def test_a_row_holds_back_an_event_after_a_gap_in_its_warehouse_sequence() -> None:
    docs = after({}, registered(), received("ams", 5, 1, 1))
    result = folded(docs, received("ams", 1, 3, 3), received("ber", 1, 4, 1))  # ams 2 is missing
    assert result.early == {0}
    assert set(result.changed) == {SKU, f"{SKU}@ber"}


def test_documents_names_the_header_and_the_rows_of_the_events() -> None:
    assert documents(SKU, [registered(), received("ber", 1, 1, 1), received("ams", 1, 2, 1)]) == [
        SKU,
        f"{SKU}@ams",
        f"{SKU}@ber",
    ]


def test_documents_fit_the_strict_index_mapping() -> None:
    properties = load_mapping(Projection.INVENTORY, MAPPING_VERSIONS[Projection.INVENTORY])["mappings"]["properties"]
    threshold = stock(LowStockThresholdSet(sku=SKU, warehouse="ams", threshold=3), 2, 2)
    docs = after({}, registered(), received("ams", 5, 1, 1), threshold, renamed(2, "New name"))
    for doc in docs.values():
        assert doc is not None
        assert set(doc) <= set(properties), set(doc) - set(properties)
