"""The write API as a real process (uvicorn subprocess) against the real PostgreSQL, one database for this module.

What each test proves (every assertion reads the store back with SQL, not through the API's own code):
- no oversell: 200 concurrent single-unit orders against 50 units in two warehouses -> exactly 50 placed, 150
  refused with `insufficient_stock`; folding `inventory-<sku>` from its events gives reserved 50 / available 0 and
  never reserved > on_hand at any prefix; the reservations are exactly those of the 50 answered orders, each in the
  same transaction as its OrderPlaced. Same with 2-line orders over two SKUs sent to TWO write-API processes (so the
  database's expected-version check, not the in-process lock, decides), where nothing of a refused order is kept;
- idempotency: same key + same body -> one set of events, equal answers and X-Position; same key + other body ->
  409 `idempotency_key_reused` and nothing appended; POST /orders is never doubled, also with 10 concurrent
  identical requests;
- bad input: each documented 4xx, the exact error envelope, the bad field named, and no row appended;
- every write route answers `version`/`position` and `X-Position` = `position`, equal to the stream's version and
  the writing transaction in the table; sequential positions increase; 401/403 for every write route.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
import pytest_asyncio

from tests.conftest import Namespace
from tests.integration.write_conftest_helpers import (
    Stock,
    appends_held,
    assert_error,
    auth,
    bad_fields,
    client,
    count_events,
    create_database,
    drop_database,
    fold_inventory,
    new_platform,
    new_sku,
    order_body,
    product_body,
    receive,
    register,
    start,
    stream_rows,
)
from tests.platform import Platform

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ROLES = ("catalog", "warehouse", "storefront", "backoffice", "admin")


@dataclass
class Api:
    platform: Platform
    database_url: str
    http: httpx.AsyncClient
    db: asyncpg.Connection
    namespace: Namespace
    log_dir: Path


@pytest_asyncio.fixture(scope="module")
async def api(namespace: Namespace, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    database_url = await create_database(namespace, "wapi")
    log_dir = tmp_path_factory.mktemp("write-api")
    platform = new_platform(namespace, database_url, log_dir)
    try:
        await start(platform, "write_api")
        db = await asyncpg.connect(database_url)
        try:
            async with client(platform.write_url) as http:
                yield Api(platform, database_url, http, db, namespace, log_dir)
        finally:
            await db.close()
    finally:
        platform.stop_all()
        await drop_database(namespace, database_url)


async def placed_orders(db: asyncpg.Connection, sku: str) -> list[dict[str, Any]]:
    """OrderPlaced events with a line of this SKU, with their transaction ids."""
    rows = await db.fetch(
        "SELECT data::text AS data, transaction_id::text::bigint AS tx FROM events "
        "WHERE event_type = 'OrderPlaced' AND data->'lines' @> $1::jsonb",
        orjson.dumps([{"sku": sku}]).decode(),
    )
    return [{**orjson.loads(r["data"]), "_tx": r["tx"]} for r in rows]


def short_lines(error: dict[str, Any]) -> list[dict[str, Any]]:
    """The short lines an `insufficient_stock` names: `details.lines` or, for one line, `details` itself."""
    details = error["details"]
    lines = details.get("lines", [details])
    assert isinstance(lines, list) and lines, error
    for line in lines:
        assert {"sku", "requested", "available"} <= set(line), error
    return [{k: line[k] for k in ("sku", "requested", "available")} for line in lines]


# ---------------------------------------------------------------------------------------------------------------
# 1. No oversell


async def fire_orders(clients: list[httpx.AsyncClient], bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    """Every order at once, spread round-robin over the clients (one per write-API process)."""
    return list(
        await asyncio.gather(
            *(
                clients[i % len(clients)].post("/orders", json=body, headers=auth("storefront"))
                for i, body in enumerate(bodies)
            )
        )
    )


async def check_orders_against_store(
    api: Api, created: list[httpx.Response], skus: list[str]
) -> dict[str, dict[str, Any]]:
    """Each answered order is in the store exactly once, in ONE transaction with its reservations, which match its
    answer's allocations; there is no other order and no other reservation for these SKUs."""
    answers = {r.json()["order_id"]: r.json() for r in created}
    assert len(answers) == len(created), "two answers share an order id"
    for response in created:
        body = response.json()
        assert response.headers["X-Position"] == str(body["position"])
        assert body["status"] == "placed" and body["version"] == 1
    placed: dict[str, dict[str, Any]] = {}
    for sku in skus:
        for event in await placed_orders(api.db, sku):
            placed[event["order_id"]] = event
    assert set(placed) == set(answers), "the store's orders differ from the answered ones"
    for sku in skus:
        folded = fold_inventory(await stream_rows(api.db, f"inventory-{sku}"))
        expected = {
            order_id: sum(line["quantity"] for line in answer["lines"] if line["sku"] == sku)
            for order_id, answer in answers.items()
        }
        assert folded.reserved_by_order == {k: v for k, v in expected.items() if v}, sku
    for order_id, answer in answers.items():
        rows = await api.db.fetch(
            "SELECT stream_id, event_type, data::text AS data, transaction_id::text::bigint AS tx FROM events "
            "WHERE stream_id = $1 OR (event_type = 'StockReserved' AND data->>'order_id' = $2)",
            f"order-{order_id}",
            order_id,
        )
        assert {r["tx"] for r in rows} == {answer["position"]}, f"order {order_id} not in one transaction"
        reserved = sorted(
            (orjson.loads(r["data"])["sku"], orjson.loads(r["data"])["warehouse"], orjson.loads(r["data"])["quantity"])
            for r in rows
            if r["event_type"] == "StockReserved"
        )
        allocated = sorted(
            (line["sku"], a["warehouse"], a["quantity"]) for line in answer["lines"] for a in line["allocations"]
        )
        assert reserved == allocated, order_id
    return answers


async def test_200_concurrent_single_unit_orders_for_50_units_place_exactly_50(api: Api) -> None:
    sku = new_sku("HOT")
    await register(api.http, sku, amount="12.50")
    await receive(api.http, sku, "ams", 30)
    await receive(api.http, sku, "ber", 20)
    before = await count_events(api.db)

    responses = await fire_orders([api.http], [order_body([(sku, 1)]) for _ in range(200)])

    created = [r for r in responses if r.status_code == 201]
    refused = [r for r in responses if r.status_code != 201]
    assert len(created) == 50, sorted({r.status_code for r in responses})
    assert len(refused) == 150
    for response in refused:
        error = assert_error(response, 409, "insufficient_stock")
        assert short_lines(error) == [{"sku": sku, "requested": 1, "available": 0}], error
    for response in created:
        [line] = response.json()["lines"]
        assert line["unit_price"] == {"amount": "12.50", "currency": "EUR"}
        assert response.json()["total"] == {"amount": "12.50", "currency": "EUR"}

    folded = fold_inventory(await stream_rows(api.db, f"inventory-{sku}"))
    assert folded.warehouses == {"ams": Stock(30, 30), "ber": Stock(20, 20)}
    assert (folded.reserved, folded.available) == (50, 0)
    assert len(await placed_orders(api.db, sku)) == 50
    # 50 OrderPlaced + 50 StockReserved + 2 StockAvailabilityChanged (both warehouses sold out), nothing for the 150
    # refused orders.
    assert await count_events(api.db) - before == 102
    await check_orders_against_store(api, created, [sku])


async def test_2_line_orders_over_two_skus_on_two_write_api_processes_never_oversell(api: Api) -> None:
    """Two processes: the in-process stream locks cannot serialise them, only the expected-version check can."""
    first, second = new_sku("DUO-A"), new_sku("DUO-B")
    for sku in (first, second):
        await register(api.http, sku, amount="3.00")
    await receive(api.http, first, "ams", 30)
    await receive(api.http, first, "ber", 20)
    await receive(api.http, second, "ams", 30)
    await receive(api.http, second, "ber", 30)
    other = new_platform(api.namespace, api.database_url, api.log_dir / "second")
    (api.log_dir / "second").mkdir(exist_ok=True)
    try:
        await start(other, "write_api")
        async with client(other.write_url) as other_http:
            # Each order takes 1 of the first SKU and 2 of the second: the second (60) runs out after 30 orders.
            responses = await fire_orders(
                [api.http, other_http], [order_body([(first, 1), (second, 2)]) for _ in range(200)]
            )
    finally:
        other.stop_all()

    created = [r for r in responses if r.status_code == 201]
    assert len(created) == 30, sorted((r.status_code, r.text[:120]) for r in responses if r.status_code != 201)[:5]
    for response in (r for r in responses if r.status_code != 201):
        error = assert_error(response, 409, "insufficient_stock")
        assert short_lines(error) == [{"sku": second, "requested": 2, "available": 0}], error
    for response in created:
        assert response.json()["total"] == {"amount": "9.00", "currency": "EUR"}
    a = fold_inventory(await stream_rows(api.db, f"inventory-{first}"))
    b = fold_inventory(await stream_rows(api.db, f"inventory-{second}"))
    assert (a.reserved, a.available) == (30, 20)  # nothing of a refused order stays reserved
    assert (b.reserved, b.available) == (60, 0)
    assert b.warehouses == {"ams": Stock(30, 30), "ber": Stock(30, 30)}
    assert len(await placed_orders(api.db, first)) == 30
    await check_orders_against_store(api, created, [first, second])


async def test_a_line_no_warehouse_can_fill_alone_is_split_and_then_stock_is_short(api: Api) -> None:
    sku = new_sku("SPLIT")
    await register(api.http, sku)
    await receive(api.http, sku, "ams", 1)
    await receive(api.http, sku, "ber", 2)
    response = await api.http.post("/orders", json=order_body([(sku, 3)]), headers=auth("storefront"))
    assert response.status_code == 201, response.text
    [line] = response.json()["lines"]
    assert sorted((a["warehouse"], a["quantity"]) for a in line["allocations"]) == [("ams", 1), ("ber", 2)]
    before = await count_events(api.db)
    refused = await api.http.post("/orders", json=order_body([(sku, 1)]), headers=auth("storefront"))
    assert short_lines(assert_error(refused, 409, "insufficient_stock"))[0]["available"] == 0
    assert await count_events(api.db) == before


# ---------------------------------------------------------------------------------------------------------------
# 2. Idempotency


async def test_same_key_same_body_answers_the_first_answer_and_appends_once(api: Api) -> None:
    sku = new_sku("IDEM")
    body = product_body(sku)
    headers = {**auth("catalog"), "Idempotency-Key": f"k-{secrets.token_hex(8)}"}
    before = await count_events(api.db)
    first = await api.http.post("/products", json=body, headers=headers)
    assert first.status_code == 201, first.text
    second = await api.http.post("/products", json=body, headers=headers)
    # The same JSON written differently (key order, whitespace) is the same request.
    reformatted = orjson.dumps(dict(reversed(body.items())), option=orjson.OPT_INDENT_2)
    third = await api.http.post("/products", content=reformatted, headers=headers)
    for again in (second, third):
        assert again.status_code == 201, again.text
        assert again.json() == first.json()
        assert again.headers["X-Position"] == first.headers["X-Position"] == str(first.json()["position"])
    assert await count_events(api.db) == before + 1

    other = await api.http.post("/products", json={**body, "name": "Another name"}, headers=headers)
    assert_error(other, 409, "idempotency_key_reused")
    elsewhere = await api.http.post(
        f"/inventory/{sku}/receipts", json={"warehouse": "ams", "quantity": 1}, headers={**headers, **auth("warehouse")}
    )
    assert_error(elsewhere, 409, "idempotency_key_reused")
    assert await count_events(api.db) == before + 1
    [row] = await stream_rows(api.db, f"product-{sku}")
    assert row.data["name"] == body["name"]


async def test_an_order_sent_twice_with_one_key_is_placed_once(api: Api) -> None:
    sku = new_sku("IDEM-O")
    await register(api.http, sku)
    await receive(api.http, sku, "ams", 10)
    body = order_body([(sku, 2)])
    headers = {**auth("storefront"), "Idempotency-Key": f"order-{secrets.token_hex(8)}"}
    before = await count_events(api.db)
    first = await api.http.post("/orders", json=body, headers=headers)
    second = await api.http.post("/orders", json=body, headers=headers)
    assert first.status_code == second.status_code == 201, (first.text, second.text)
    assert second.json() == first.json()
    assert second.headers["X-Position"] == first.headers["X-Position"]
    assert len(await placed_orders(api.db, sku)) == 1
    assert await count_events(api.db) == before + 2  # OrderPlaced + StockReserved
    other = await api.http.post("/orders", json=order_body([(sku, 3)]), headers=headers)
    assert_error(other, 409, "idempotency_key_reused")
    assert await count_events(api.db) == before + 2
    assert fold_inventory(await stream_rows(api.db, f"inventory-{sku}")).reserved == 2


async def test_10_concurrent_identical_orders_with_one_key_place_one_order(api: Api) -> None:
    sku = new_sku("IDEM-C")
    await register(api.http, sku)
    await receive(api.http, sku, "ams", 100)
    body = order_body([(sku, 1)])
    headers = {**auth("storefront"), "Idempotency-Key": f"burst-{secrets.token_hex(8)}"}
    async with appends_held(api.database_url):
        requests = [asyncio.create_task(api.http.post("/orders", json=body, headers=headers)) for _ in range(10)]
        await asyncio.sleep(1)  # every request is past its idempotency check, one is appending
    responses = await asyncio.gather(*requests)
    assert [r.status_code for r in responses] == [201] * 10, [r.text for r in responses]
    assert all(r.json() == responses[0].json() for r in responses)
    assert len({r.headers["X-Position"] for r in responses}) == 1
    assert len(await placed_orders(api.db, sku)) == 1
    assert fold_inventory(await stream_rows(api.db, f"inventory-{sku}")).reserved == 1


async def test_10_concurrent_identical_receipts_with_one_key_receive_once(api: Api) -> None:
    sku = new_sku("IDEM-R")
    await register(api.http, sku)
    headers = {**auth("warehouse"), "Idempotency-Key": f"receipt-{secrets.token_hex(8)}"}
    async with appends_held(api.database_url):
        requests = [
            asyncio.create_task(
                api.http.post(f"/inventory/{sku}/receipts", json={"warehouse": "ams", "quantity": 7}, headers=headers)
            )
            for _ in range(10)
        ]
        await asyncio.sleep(1)
    responses = await asyncio.gather(*requests)
    assert [r.status_code for r in responses] == [200] * 10, [r.text for r in responses]
    assert all(r.json() == responses[0].json() for r in responses)
    assert fold_inventory(await stream_rows(api.db, f"inventory-{sku}")).warehouses == {"ams": Stock(7, 0)}


async def test_10_concurrent_identical_registrations_with_one_key_all_get_the_first_answer(api: Api) -> None:
    sku = new_sku("IDEM-P")
    headers = {**auth("catalog"), "Idempotency-Key": f"product-{secrets.token_hex(8)}"}
    async with appends_held(api.database_url):
        requests = [
            asyncio.create_task(api.http.post("/products", json=product_body(sku), headers=headers)) for _ in range(10)
        ]
        await asyncio.sleep(1)
    responses = await asyncio.gather(*requests)
    assert len(await stream_rows(api.db, f"product-{sku}")) == 1
    assert [r.status_code for r in responses] == [201] * 10, [r.text for r in responses]
    assert all(r.json() == responses[0].json() for r in responses)


# ---------------------------------------------------------------------------------------------------------------
# 3. Bad input: the documented 4xx, the envelope, and nothing appended


@pytest_asyncio.fixture(scope="module")
async def known_sku(api: Api) -> str:
    sku = new_sku("KNOWN")
    await register(api.http, sku)
    await receive(api.http, sku, "ams", 5)
    return sku


def _line(sku: str, quantity: Any = 1) -> dict[str, Any]:
    return {"sku": sku, "quantity": quantity}


def _order(lines: Any, **extra: Any) -> dict[str, Any]:
    body = order_body([])
    return {**body, "lines": lines, **extra}


# (id, method, path, role, json body or raw bytes, status, code (None: any), a field the details must name)
BAD_REQUESTS: list[tuple[str, str, str, str, Any, int, str | None, str | None]] = [
    ("products-malformed", "POST", "/products", "catalog", b'{"sku": "X1", ', 400, "malformed_request", None),
    ("orders-malformed", "POST", "/orders", "storefront", b'{"customer": {', 400, "malformed_request", None),
    (
        "receipt-malformed",
        "POST",
        "/inventory/{sku}/receipts",
        "warehouse",
        b"quantity=1",
        400,
        "malformed_request",
        None,
    ),
    (
        "receipt-not-utf8",
        "POST",
        "/inventory/{sku}/receipts",
        "warehouse",
        b"\xff\xfe\x00",
        400,
        None,
        None,
    ),
    ("products-array", "POST", "/products", "catalog", [product_body("ARR-1")], 422, "validation_failed", None),
    (
        "name-type",
        "POST",
        "/products",
        "catalog",
        {**product_body("T-1"), "name": 123},
        422,
        "validation_failed",
        "name",
    ),
    (
        "price-type",
        "POST",
        "/products",
        "catalog",
        {**product_body("T-2"), "price": "12.50"},
        422,
        "validation_failed",
        "price",
    ),
    (
        "price-nan",
        "POST",
        "/products",
        "catalog",
        {**product_body("T-3"), "price": {"amount": "NaN", "currency": "EUR"}},
        422,
        "validation_failed",
        "price.amount",
    ),
    (
        "price-negative",
        "PUT",
        "/products/{sku}/price",
        "catalog",
        {"amount": "-1.00", "currency": "EUR"},
        422,
        "validation_failed",
        "amount",
    ),
    (
        "currency",
        "PUT",
        "/products/{sku}/price",
        "catalog",
        {"amount": "1.00", "currency": "eur"},
        422,
        "validation_failed",
        "currency",
    ),
    (
        "quantity-string",
        "POST",
        "/inventory/{sku}/receipts",
        "warehouse",
        {"warehouse": "ams", "quantity": "5"},
        422,
        "validation_failed",
        "quantity",
    ),
    (
        "quantity-float",
        "POST",
        "/inventory/{sku}/receipts",
        "warehouse",
        {"warehouse": "ams", "quantity": 2.5},
        422,
        "validation_failed",
        "quantity",
    ),
    (
        "quantity-zero",
        "POST",
        "/inventory/{sku}/receipts",
        "warehouse",
        {"warehouse": "ams", "quantity": 0},
        422,
        "validation_failed",
        "quantity",
    ),
    (
        "quantity-negative",
        "POST",
        "/inventory/{sku}/receipts",
        "warehouse",
        {"warehouse": "ams", "quantity": -4},
        422,
        "validation_failed",
        "quantity",
    ),
    (
        "line-zero",
        "POST",
        "/orders",
        "storefront",
        _order([_line("{sku}", 0)]),
        422,
        "validation_failed",
        "lines.0.quantity",
    ),
    (
        "line-negative",
        "POST",
        "/orders",
        "storefront",
        _order([_line("{sku}", -3)]),
        422,
        "validation_failed",
        "lines.0.quantity",
    ),
    (
        "line-not-int",
        "POST",
        "/orders",
        "storefront",
        _order([_line("{sku}", "1")]),
        422,
        "validation_failed",
        "lines.0.quantity",
    ),
    ("lines-type", "POST", "/orders", "storefront", _order("{sku}"), 422, "validation_failed", "lines"),
    ("no-lines", "POST", "/orders", "storefront", _order([]), 422, "validation_failed", "lines"),
    (
        "delta-zero",
        "POST",
        "/inventory/{sku}/adjustments",
        "warehouse",
        {"warehouse": "ams", "delta": 0, "reason": "lost"},
        422,
        "validation_failed",
        "delta",
    ),
    (
        "reason-unknown",
        "POST",
        "/inventory/{sku}/adjustments",
        "warehouse",
        {"warehouse": "ams", "delta": -1, "reason": "stolen"},
        422,
        "validation_failed",
        "reason",
    ),
    (
        "threshold-negative",
        "PUT",
        "/inventory/{sku}/thresholds/ams",
        "warehouse",
        {"low_stock_threshold": -1},
        422,
        "validation_failed",
        "low_stock_threshold",
    ),
    (
        "line-unknown-sku",
        "POST",
        "/orders",
        "storefront",
        _order([_line("{sku}"), _line("NO-SUCH-SKU")]),
        422,
        "validation_failed",
        "lines.1.sku",
    ),
    (
        "receipt-unknown-sku",
        "POST",
        "/inventory/NO-SUCH-SKU/receipts",
        "warehouse",
        {"warehouse": "ams", "quantity": 1},
        404,
        "not_found",
        None,
    ),
    (
        "adjust-unknown-sku",
        "POST",
        "/inventory/NO-SUCH-SKU/adjustments",
        "warehouse",
        {"warehouse": "ams", "delta": 1, "reason": "found"},
        404,
        "not_found",
        None,
    ),
    (
        "price-unknown-sku",
        "PUT",
        "/products/NO-SUCH-SKU/price",
        "catalog",
        {"amount": "1.00", "currency": "EUR"},
        404,
        "not_found",
        None,
    ),
    ("patch-unknown-sku", "PATCH", "/products/NO-SUCH-SKU", "catalog", {"name": "x"}, 404, "not_found", None),
    ("ship-unknown-order", "POST", "/orders/NO-SUCH-ORDER/ship", "backoffice", {}, 404, "not_found", None),
    (
        "cancel-unknown-order",
        "POST",
        "/orders/NO-SUCH-ORDER/cancel",
        "backoffice",
        {"reason": "x"},
        404,
        "not_found",
        None,
    ),
    (
        "product-unknown-field",
        "POST",
        "/products",
        "catalog",
        {**product_body("U-1"), "colour": "red"},
        422,
        "validation_failed",
        "colour",
    ),
    (
        "order-unknown-field",
        "POST",
        "/orders",
        "storefront",
        _order([_line("{sku}")], coupon="FREE"),
        422,
        "validation_failed",
        "coupon",
    ),
    (
        "line-unknown-field",
        "POST",
        "/orders",
        "storefront",
        _order([{**_line("{sku}"), "unit_price": "0.01"}]),
        422,
        "validation_failed",
        "lines.0.unit_price",
    ),
    (
        "receipt-unknown-field",
        "POST",
        "/inventory/{sku}/receipts",
        "warehouse",
        {"warehouse": "ams", "quantity": 1, "on_hand": 99},
        422,
        "validation_failed",
        "on_hand",
    ),
    ("sku-space", "POST", "/products", "catalog", product_body("A B"), 422, "validation_failed", "sku"),
    (
        "sku-space-path",
        "POST",
        "/inventory/A%20B/receipts",
        "warehouse",
        {"warehouse": "ams", "quantity": 1},
        422,
        "validation_failed",
        "sku",
    ),
    (
        "sku-space-line",
        "POST",
        "/orders",
        "storefront",
        _order([_line("A B")]),
        422,
        "validation_failed",
        "lines.0.sku",
    ),
    ("sku-too-long", "POST", "/products", "catalog", product_body("S" * 65), 422, "validation_failed", "sku"),
    ("lines-101", "POST", "/orders", "storefront", _order([_line("{sku}")] * 101), 422, "validation_failed", "lines"),
    (
        "email",
        "POST",
        "/orders",
        "storefront",
        {**_order([_line("{sku}")]), "customer": {"id": "c", "name": "n", "email": "nope"}},
        422,
        "validation_failed",
        "customer.email",
    ),
    (
        "oversized-product",
        "POST",
        "/products",
        "catalog",
        {**product_body("BIG-1"), "description": "x" * (1 << 20)},
        413,
        "payload_too_large",
        None,
    ),
    (
        "oversized-order",
        "POST",
        "/orders",
        "storefront",
        b"[" + b" " * (1 << 20) + b"]",
        413,
        "payload_too_large",
        None,
    ),
]


def _fill(value: Any, sku: str) -> Any:
    if isinstance(value, str):
        return value.replace("{sku}", sku)
    if isinstance(value, list):
        return [_fill(v, sku) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, sku) for k, v in value.items()}
    return value


@pytest.mark.parametrize(
    ("method", "path", "role", "body", "status", "code", "field"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_REQUESTS],
)
async def test_bad_input_is_refused_with_the_documented_status_and_nothing_is_appended(
    api: Api,
    known_sku: str,
    method: str,
    path: str,
    role: str,
    body: Any,
    status: int,
    code: str | None,
    field: str | None,
) -> None:
    content = body if isinstance(body, bytes) else orjson.dumps(_fill(body, known_sku))
    before = await count_events(api.db)
    response = await api.http.request(
        method,
        path.replace("{sku}", known_sku),
        content=content,
        headers={**auth(role), "Content-Type": "application/json"},
    )
    error = assert_error(response, status, code)
    if field is not None:
        assert field in bad_fields(error), error
    assert await count_events(api.db) == before


async def test_a_streamed_body_over_the_limit_is_refused_with_413(api: Api) -> None:
    payload = orjson.dumps({**product_body(new_sku("BIG")), "description": "x" * (1 << 20)})

    async def chunks() -> AsyncIterator[bytes]:
        for start_at in range(0, len(payload), 64 * 1024):
            yield payload[start_at : start_at + 64 * 1024]

    before = await count_events(api.db)
    response = await api.http.post("/products", content=chunks(), headers=auth("catalog"))
    assert await count_events(api.db) == before
    assert_error(response, 413, "payload_too_large")


@pytest.mark.parametrize(
    ("method", "path", "role", "body"),
    [
        pytest.param(
            "POST",
            "/products",
            "catalog",
            {**product_body("NUL-1"), "name": "a\u0000b"},
            id="product-name",
        ),
        pytest.param("PATCH", "/products/{sku}", "catalog", {"description": "nul \u0000"}, id="patch-description"),
        pytest.param(
            "POST",
            "/inventory/{sku}/receipts",
            "warehouse",
            {"warehouse": "ams", "quantity": 1, "reference": "\u0000"},
            id="receipt-reference",
        ),
        pytest.param(
            "POST",
            "/orders",
            "storefront",
            order_body([("{sku}", 1)], "cust-\u0000"),
            id="order-customer",
        ),
    ],
)
async def test_a_nul_character_in_text_is_a_4xx_not_a_500(
    api: Api, known_sku: str, method: str, path: str, role: str, body: Any
) -> None:
    before = await count_events(api.db)
    async with client(api.platform.write_url) as fresh:  # a 500 closes its connection
        response = await fresh.request(
            method, path.replace("{sku}", known_sku), json=_fill(body, known_sku), headers=auth(role)
        )
    assert await count_events(api.db) == before
    assert response.status_code in (400, 422), response.text
    assert_error(response, response.status_code)


async def test_header_errors_are_400_and_append_nothing(api: Api, known_sku: str) -> None:
    before = await count_events(api.db)
    long_key = await api.http.post(
        "/products", json=product_body(new_sku()), headers={**auth("catalog"), "Idempotency-Key": "k" * 201}
    )
    assert_error(long_key, 400, "malformed_request")
    bad_if_match = await api.http.put(
        f"/products/{known_sku}/price",
        json={"amount": "1.00", "currency": "EUR"},
        headers={**auth("catalog"), "If-Match": "yesterday"},
    )
    assert_error(bad_if_match, 400, "malformed_request")
    assert await count_events(api.db) == before


async def test_if_match_on_another_version_is_a_version_conflict(api: Api) -> None:
    sku = new_sku("IFM")
    registered = await register(api.http, sku)
    assert registered["version"] == 1
    before = await count_events(api.db)
    for version in ("0", "2", '"7"'):
        response = await api.http.put(
            f"/products/{sku}/price",
            json={"amount": "1.00", "currency": "EUR"},
            headers={**auth("catalog"), "If-Match": version},
        )
        assert_error(response, 409, "version_conflict")
    receipt = await api.http.post(
        f"/inventory/{sku}/receipts",
        json={"warehouse": "ams", "quantity": 1},
        headers={**auth("warehouse"), "If-Match": "3"},
    )
    assert_error(receipt, 409, "version_conflict")
    assert await count_events(api.db) == before
    matching = await api.http.put(
        f"/products/{sku}/price",
        json={"amount": "1.00", "currency": "EUR"},
        headers={**auth("catalog"), "If-Match": "1"},
    )
    assert matching.status_code == 200 and matching.json()["version"] == 2, matching.text


async def test_order_transitions_out_of_cancelled_or_shipped_are_invalid(api: Api) -> None:
    sku = new_sku("TRANS")
    await register(api.http, sku)
    await receive(api.http, sku, "ams", 10)
    cancelled = (await api.http.post("/orders", json=order_body([(sku, 2)]), headers=auth("storefront"))).json()
    shipped = (await api.http.post("/orders", json=order_body([(sku, 3)]), headers=auth("storefront"))).json()
    cancel_path, ship_path = f"/orders/{cancelled['order_id']}/cancel", f"/orders/{shipped['order_id']}/ship"
    assert (await api.http.post(cancel_path, json={"reason": "changed mind"}, headers=auth("backoffice"))).is_success
    assert (await api.http.post(ship_path, json={"carrier": "DHL"}, headers=auth("backoffice"))).is_success
    before = await count_events(api.db)
    refusals = [
        await api.http.post(f"/orders/{cancelled['order_id']}/ship", json={}, headers=auth("backoffice")),
        await api.http.post(cancel_path, json={"reason": "again"}, headers=auth("backoffice")),
        await api.http.post(
            f"/orders/{shipped['order_id']}/cancel", json={"reason": "late"}, headers=auth("backoffice")
        ),
        await api.http.post(ship_path, json={}, headers=auth("backoffice")),
        await api.http.post(
            f"/orders/{cancelled['order_id']}/lines", json={"sku": sku, "quantity": 1}, headers=auth("storefront")
        ),
    ]
    for response in refusals:
        assert_error(response, 409, "invalid_transition")
    assert await count_events(api.db) == before
    folded = fold_inventory(await stream_rows(api.db, f"inventory-{sku}"))
    assert folded.warehouses == {"ams": Stock(7, 0)}  # 2 released, 3 shipped


async def test_an_adjustment_below_what_is_reserved_is_insufficient_stock(api: Api) -> None:
    sku = new_sku("ADJ")
    await register(api.http, sku)
    await receive(api.http, sku, "ams", 10)
    assert (await api.http.post("/orders", json=order_body([(sku, 6)]), headers=auth("storefront"))).status_code == 201
    before = await count_events(api.db)
    response = await api.http.post(
        f"/inventory/{sku}/adjustments",
        json={"warehouse": "ams", "delta": -5, "reason": "damaged"},
        headers=auth("warehouse"),
    )
    assert_error(response, 409, "insufficient_stock")
    assert await count_events(api.db) == before
    exact = await api.http.post(
        f"/inventory/{sku}/adjustments",
        json={"warehouse": "ams", "delta": -4, "reason": "damaged"},
        headers=auth("warehouse"),
    )
    assert exact.status_code == 200, exact.text
    assert exact.json()["warehouses"] == [
        {"warehouse": "ams", "on_hand": 6, "reserved": 6, "available": 0, "low_stock_threshold": 0}
    ]


async def test_other_domain_refusals_append_nothing(api: Api) -> None:
    sku = new_sku("DOM")
    await register(api.http, sku)
    await receive(api.http, sku, "ams", 10)
    discontinue = await api.http.post(f"/products/{sku}/discontinue", json={"reason": "eol"}, headers=auth("catalog"))
    assert discontinue.status_code == 200, discontinue.text
    before = await count_events(api.db)
    assert_error(await api.http.post("/products", json=product_body(sku), headers=auth("catalog")), 409)
    ordered = await api.http.post("/orders", json=order_body([(sku, 1)]), headers=auth("storefront"))
    assert_error(ordered, 409, "product_discontinued")
    assert await count_events(api.db) == before


# ---------------------------------------------------------------------------------------------------------------
# 4. version / position / X-Position on every write route, and 401/403


async def assert_written(api: Api, response: httpx.Response, stream_id: str | None, previous: int) -> int:
    """Success with `position` = X-Position = the writing transaction; `version` = the stream's version now."""
    assert response.is_success, response.text
    body = response.json()
    position = body["position"]
    assert isinstance(position, int) and 0 <= position < 2**53, body
    assert response.headers["X-Position"] == str(position)
    assert position > previous, f"position {position} after {previous}"
    if stream_id is None:  # bulk routes: position only
        assert await api.db.fetchval("SELECT count(*) FROM events WHERE transaction_id::text::bigint = $1", position)
        return int(position)
    rows = await stream_rows(api.db, stream_id)
    assert body["version"] == rows[-1].version, (body, rows[-1])
    assert rows[-1].transaction_id == position
    return int(position)


async def test_every_write_route_answers_version_and_position_and_x_position(api: Api) -> None:
    sku, sku2 = new_sku("ROUTE"), new_sku("ROUTE")
    product, stock = f"product-{sku}", f"inventory-{sku}"
    catalog, warehouse, storefront, backoffice = (auth(r) for r in ("catalog", "warehouse", "storefront", "backoffice"))
    p = await assert_written(api, await api.http.post("/products", json=product_body(sku), headers=catalog), product, 0)
    p = await assert_written(
        api, await api.http.patch(f"/products/{sku}", json={"brand": "Other"}, headers=catalog), product, p
    )
    p = await assert_written(
        api,
        await api.http.put(f"/products/{sku}/price", json={"amount": "2.00", "currency": "EUR"}, headers=catalog),
        product,
        p,
    )
    p = await assert_written(
        api,
        await api.http.post(f"/inventory/{sku}/receipts", json={"warehouse": "ams", "quantity": 9}, headers=warehouse),
        stock,
        p,
    )
    p = await assert_written(
        api,
        await api.http.post(
            f"/inventory/{sku}/adjustments", json={"warehouse": "ams", "delta": 1, "reason": "found"}, headers=warehouse
        ),
        stock,
        p,
    )
    p = await assert_written(
        api,
        await api.http.put(f"/inventory/{sku}/thresholds/ams", json={"low_stock_threshold": 3}, headers=warehouse),
        stock,
        p,
    )
    placed = await api.http.post("/orders", json=order_body([(sku, 1)]), headers=storefront)
    assert placed.status_code == 201
    order = f"order-{placed.json()['order_id']}"
    p = await assert_written(api, placed, order, p)
    order_id = placed.json()["order_id"]
    p = await assert_written(
        api,
        await api.http.post(f"/orders/{order_id}/lines", json={"sku": sku, "quantity": 2}, headers=storefront),
        order,
        p,
    )
    p = await assert_written(
        api, await api.http.post(f"/orders/{order_id}/ship", json={}, headers=backoffice), order, p
    )
    other = await api.http.post("/orders", json=order_body([(sku, 1)]), headers=storefront)
    other_order = f"order-{other.json()['order_id']}"
    p = await assert_written(api, other, other_order, p)
    p = await assert_written(
        api,
        await api.http.post(f"/orders/{other.json()['order_id']}/cancel", json={"reason": "x"}, headers=backoffice),
        other_order,
        p,
    )
    p = await assert_written(
        api, await api.http.post(f"/products/{sku}/discontinue", json={}, headers=catalog), product, p
    )
    imported = await api.http.post("/products/import", json=[product_body(sku2)], headers=catalog)
    assert imported.json()["created"] == 1, imported.text
    p = await assert_written(api, imported, None, p)
    received = await api.http.post(
        "/inventory/receipts", json=[{"sku": sku2, "warehouse": "ber", "quantity": 4}], headers=warehouse
    )
    assert received.json()["applied"] == 1, received.text
    await assert_written(api, received, None, p)
    folded = fold_inventory(await stream_rows(api.db, stock))
    assert folded.warehouses == {"ams": Stock(7, 0)}  # 9 + 1 - 3 shipped, 1 released


@pytest_asyncio.fixture(scope="module")
async def existing(api: Api) -> dict[str, str]:
    sku = new_sku("AUTH")
    await register(api.http, sku)
    await receive(api.http, sku, "ams", 5)
    placed = await api.http.post("/orders", json=order_body([(sku, 1)]), headers=auth("storefront"))
    return {"sku": sku, "order": placed.json()["order_id"]}


# (method, path, required role, valid body) for every write route of API.md, plus the bulk receipts extension.
WRITE_ROUTES: list[tuple[str, str, str, Any]] = [
    ("POST", "/products", "catalog", product_body("AUTH-NEW")),
    ("POST", "/products/import", "catalog", [product_body("AUTH-NEW2")]),
    ("PATCH", "/products/{sku}", "catalog", {"name": "renamed"}),
    ("PUT", "/products/{sku}/price", "catalog", {"amount": "1.00", "currency": "EUR"}),
    ("POST", "/products/{sku}/discontinue", "catalog", {"reason": "x"}),
    ("POST", "/inventory/{sku}/receipts", "warehouse", {"warehouse": "ams", "quantity": 1}),
    ("POST", "/inventory/receipts", "warehouse", [{"sku": "{sku}", "warehouse": "ams", "quantity": 1}]),
    ("POST", "/inventory/{sku}/adjustments", "warehouse", {"warehouse": "ams", "delta": 1, "reason": "found"}),
    ("PUT", "/inventory/{sku}/thresholds/ams", "warehouse", {"low_stock_threshold": 9}),
    ("POST", "/orders", "storefront", _order([_line("{sku}")])),
    ("POST", "/orders/{order}/lines", "storefront", _line("{sku}")),
    ("POST", "/orders/{order}/cancel", "backoffice", {"reason": "x"}),
    ("POST", "/orders/{order}/ship", "backoffice", {}),
]


@pytest.mark.parametrize(
    ("method", "path", "role", "body"), [pytest.param(*r, id=f"{r[0]} {r[1]}") for r in WRITE_ROUTES]
)
async def test_write_routes_refuse_missing_keys_401_and_other_roles_403(
    api: Api, existing: dict[str, str], method: str, path: str, role: str, body: Any
) -> None:
    url = path.replace("{sku}", existing["sku"]).replace("{order}", existing["order"])
    content = orjson.dumps(_fill(body, existing["sku"]))
    json_header = {"Content-Type": "application/json"}
    before = await count_events(api.db)
    for headers in ({}, {"Authorization": "Bearer not-a-key"}, {"Authorization": "dev-admin-key"}):
        response = await api.http.request(method, url, content=content, headers={**json_header, **headers})
        assert_error(response, 401, "unauthorized")
        assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")
    for other in (r for r in ROLES if r not in (role, "admin")):
        response = await api.http.request(method, url, content=content, headers={**json_header, **auth(other)})
        assert_error(response, 403, "forbidden")
    assert await count_events(api.db) == before


async def test_admin_may_do_everything(api: Api) -> None:
    sku = new_sku("ADMIN")
    admin = auth("admin")
    assert (await api.http.post("/products", json=product_body(sku), headers=admin)).status_code == 201
    receipt = await api.http.post(f"/inventory/{sku}/receipts", json={"warehouse": "ams", "quantity": 2}, headers=admin)
    assert receipt.status_code == 200, receipt.text
    order = await api.http.post("/orders", json=order_body([(sku, 1)]), headers=admin)
    assert order.status_code == 201, order.text
    ship = await api.http.post(f"/orders/{order.json()['order_id']}/ship", json={}, headers=admin)
    assert ship.status_code == 200, ship.text
    assert Decimal(ship.json()["total"]["amount"]) == Decimal("12.50")
