"""The Chorus demo loader: record -> POST /products body, reading the shipped data, and how responses are counted."""

from __future__ import annotations

import asyncio
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.demo import chorus as demo
from infra.demo.chorus import (
    InvalidRecord,
    LoadSummary,
    chorus_to_product,
    iter_chorus,
    load,
)

DATA_DIR = Path(__file__).resolve().parents[2] / "infra" / "demo" / "chorus-icecat"


def record(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "3920564",
        "name": "006R90321",
        "title": "Xerox 006R90321 toner cartridge Original Black 6 pc(s)",
        "ean": ["0095205603217", "5012345678900"],
        "short_description": "Toner (6 Per Box)<br />for  CopyCentre&nbsp;C65 &amp; C75\n<ul><li>Black</li></ul>",
        "img_high": "http://images.icecat.biz/img/x.jpg",
        "date_released": "2009-12-10T00:00:00Z",
        "supplier": "Xerox",
        "price": 4995,
        "attr_t_printing_colours": "Black",
        "attr_n_quantity_per_pack": 6.0,
        "attr_n_cable_length": 1.8,
        "attr_b_wi_fi": False,
        "attr_b_rohs_compliance": True,
        "attr_n_package_weight": 120.0,
        "attr_t_country_of_origin": "China",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def test_maps_a_full_record() -> None:
    product = chorus_to_product(record(attr_t_product_type="Toner cartridge"))
    assert product["sku"] == "3920564"
    assert product["name"] == "Xerox 006R90321 toner cartridge Original Black 6 pc(s)"
    assert product["brand"] == "Xerox"
    assert product["category"] == "Toner cartridge"
    assert product["price"] == {"amount": "49.95", "currency": "USD"}
    assert product["description"] == "Toner (6 Per Box) for CopyCentre C65 & C75 Black"
    attrs = product["attributes"]
    assert attrs["model"] == "006R90321"
    assert attrs["ean"] == "0095205603217"  # the first EAN only
    assert attrs["released"] == "2009-12-10"
    assert attrs["printing_colours"] == "Black"
    assert attrs["product_type"] == "Toner cartridge"
    assert attrs["cable_length"] == "1.8"
    assert attrs["wi_fi"] == "no"
    # Numeric / boolean attributes outside the preferred list, and logistics noise, are dropped.
    assert not {"quantity_per_pack", "rohs_compliance", "package_weight", "country_of_origin"} & attrs.keys()
    assert all(isinstance(v, str) for v in attrs.values())
    json.dumps(product)  # the body is plain JSON


@pytest.mark.parametrize(
    ("cents", "amount"), [(4995, "49.95"), (5, "0.05"), (0, "0.00"), (100, "1.00"), (4351995, "43519.95"), (10, "0.10")]
)
def test_price_cents_become_a_two_decimal_string(cents: int, amount: str) -> None:
    assert chorus_to_product(record(price=cents))["price"] == {"amount": amount, "currency": "USD"}


def test_numbers_drop_trailing_zero_and_booleans_become_yes_no() -> None:
    attrs = chorus_to_product(
        record(attr_n_weight=33.0, attr_n_display_diagonal=15.6, attr_b_bluetooth=True, attr_n_processor_frequency=2.13)
    )["attributes"]
    assert (attrs["weight"], attrs["display_diagonal"], attrs["bluetooth"], attrs["processor_frequency"]) == (
        "33",
        "15.6",
        "yes",
        "2.13",
    )


def test_attribute_keys_are_tidied_values_truncated_and_count_capped() -> None:
    many = {f"attr_t_feature_{i:02d}": f"value {i}" for i in range(30)}
    rec = record(attr_t_connector_s_="USB-C", attr_t_compatibility="x " * 300, **many)
    attrs = chorus_to_product(rec)["attributes"]
    assert attrs["connector_s"] == "USB-C"
    assert len(attrs["compatibility"]) == 200 and attrs["compatibility"].endswith("…")
    from_attr = set(attrs) - {"model", "ean", "released"}
    assert len(from_attr) == demo.MAX_ATTRS
    # Preferred attributes win over the record's other text attributes.
    assert {"cable_length", "printing_colours", "compatibility", "wi_fi", "connector_s"} <= from_attr
    assert all(re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)*", key) for key in attrs)


def test_optional_fields_are_omitted_when_missing() -> None:
    product = chorus_to_product(
        {
            "id": "A-1.b_2",
            "name": "",
            "title": "Plain cable",
            "ean": [],
            "price": 5,
            "date_released": "",
            "supplier": "",
            "short_description": "<br />  ",
        }
    )
    assert product == {
        "sku": "A-1.b_2",
        "name": "Plain cable",
        "price": {"amount": "0.05", "currency": "USD"},
        "attributes": {},
    }


def test_numeric_only_product_type_is_not_a_category() -> None:
    assert "category" not in chorus_to_product(record(attr_t_product_type="1"))


@pytest.mark.parametrize("sku", ["", "has space", "a/b", "x" * 65, "ünï", None, 123])
def test_invalid_sku_is_rejected(sku: Any) -> None:
    with pytest.raises(InvalidRecord, match="sku"):
        chorus_to_product({**record(), "id": sku})


@pytest.mark.parametrize(
    ("field", "value"),
    [("title", "  <br/> "), ("title", None), ("price", -1), ("price", 49.95), ("price", "4995"), ("price", True)],
)
def test_invalid_name_or_price_is_rejected(field: str, value: Any) -> None:
    with pytest.raises(InvalidRecord):
        chorus_to_product({**record(), field: value})


def test_the_shipped_catalogue_maps_cleanly() -> None:
    assert (DATA_DIR / "README.md").is_file(), "the licence / attribution README must stay beside the data"
    records = list(iter_chorus(DATA_DIR))
    assert len(records) == 19_406
    assert records[0]["id"] == "3920564"
    assert len({r["id"] for r in records}) == len(records)
    products, invalid = [], []
    for rec in records:
        try:
            products.append(chorus_to_product(rec))
        except InvalidRecord as exc:
            invalid.append(str(exc))
    # Every record maps: no documented exceptions in this data set.
    assert invalid == []
    assert len(products) == 19_406
    assert sum("description" in p for p in products) == 18_685
    assert sum("category" in p for p in products) == 1_389  # 1,532 product types minus 143 without a letter
    for product in products:
        assert product["name"] and re.fullmatch(r"\d+\.\d\d", product["price"]["amount"])
        assert not re.search(r"<[^>]*>|&(amp|nbsp|deg|#\d+);|\s\s", product.get("description", ""))
        assert len(product["attributes"]) <= demo.MAX_ATTRS + 3
        assert all(isinstance(v, str) and 0 < len(v) <= 200 for v in product["attributes"].values())


def test_iter_chorus_reads_the_parts_in_order(tmp_path: Path) -> None:
    for part in range(1, 5):
        with zipfile.ZipFile(tmp_path / f"{part}.json.zip", "w") as archive:
            archive.writestr(f"{part}.json", json.dumps([{"id": f"{part}a"}, {"id": f"{part}b"}]))
    assert [r["id"] for r in iter_chorus(tmp_path)] == ["1a", "1b", "2a", "2b", "3a", "3b", "4a", "4b"]


def test_load_counts_created_existing_rejected_and_retries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "BACKOFF_SECONDS", 0.0)
    rows = [record(id=sku, price=100) for sku in ("new", "old", "bad", "flaky", "down")] + [record(id="no sku")]
    for part in range(1, 5):
        with zipfile.ZipFile(tmp_path / f"{part}.json.zip", "w") as archive:
            archive.writestr(f"{part}.json", json.dumps(rows if part == 1 else []))
    calls: dict[str, int] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        sku = body["sku"]
        assert request.url.path == "/products"
        assert request.headers["Authorization"] == "Bearer k"
        assert request.headers["Idempotency-Key"] == f"demo-product-{sku}"
        calls[sku] = calls.get(sku, 0) + 1
        if sku == "old":
            return httpx.Response(409, json={"error": {"code": "already_exists", "message": "exists"}})
        if sku == "bad":
            return httpx.Response(422, json={"error": {"code": "validation_failed", "message": "no"}})
        if sku == "flaky" and calls[sku] < 3:
            if calls[sku] == 1:
                raise httpx.ConnectError("refused", request=request)
            return httpx.Response(503, json={"error": {"code": "unavailable", "message": "later"}})
        if sku == "down":
            return httpx.Response(500, text="boom")
        return httpx.Response(201, json=body)

    summary = asyncio.run(load("http://write", "k", tmp_path, None, 2, transport=httpx.MockTransport(handler)))
    assert (summary.created, summary.existing, summary.rejected, summary.failed, summary.skipped) == (2, 1, 1, 1, 1)
    assert calls == {"new": 1, "old": 1, "bad": 1, "flaky": 3, "down": demo.MAX_TRIES}
    assert not summary.ok


def test_summary_is_ok_only_without_rejections_or_failures() -> None:
    assert LoadSummary(created=3, existing=2, skipped=1, seconds=2.0).ok
    assert LoadSummary(created=3, existing=2, seconds=2.0).per_second == 2.5
    assert not LoadSummary(created=1, failed=1).ok
