"""The HTTP side of the console on the running platform: pages, the status route, the CSV export and its paging,
sign-in's role route, and the write API's CORS for the console's origin."""

from __future__ import annotations

import csv
import io

import httpx
import pytest
from elasticsearch import AsyncElasticsearch

from search_api.cursor import decode as decode_cursor
from search_api.paging import search_page
from search_api.queries.orders import OrderSearch, build_search
from search_api.routes.order_export import COLUMNS, _pages
from shared.read_models import Projection, alias_name
from tests.conftest import Namespace
from tests.e2e.console.data import auth, import_products, made_up_word, place_order, read_after, receive
from tests.platform import Platform

pytestmark = pytest.mark.e2e


async def test_pages_are_served_with_the_write_apis_address_and_their_static_files(platform: Platform) -> None:
    async with httpx.AsyncClient(base_url=platform.search_url, timeout=30) as client:
        for path in ("/", "/shop/ANY-SKU", "/console/warehouse", "/console/orders", "/console/status"):
            page = await client.get(path)
            assert page.status_code == 200, path
            assert page.headers["content-type"].startswith("text/html")
            assert f'data-write-api="{platform.write_url}"' in page.text
        script = await client.get("/console/static/shop.js")
        assert script.status_code == 200
        assert script.headers["content-type"].startswith(("text/javascript", "application/javascript"))
        assert (await client.get("/console/static/missing.js")).status_code == 404
        # A page's markup never carries a SKU as markup.
        assert "<script>" not in (await client.get("/shop/%3Cscript%3E")).text.split("</head>")[1]


async def test_the_role_route_signs_in_with_a_key(platform: Platform) -> None:
    async with httpx.AsyncClient(base_url=platform.search_url, timeout=30) as client:
        assert (await client.get("/console/role", headers=auth("warehouse"))).json() == {"role": "warehouse"}
        refused = await client.get("/console/role", headers={"Authorization": "Bearer not-a-key"})
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthorized"
        assert (await client.get("/console/role")).status_code == 401


async def test_status_is_for_staff_and_reports_every_process_and_projection(platform: Platform) -> None:
    async with httpx.AsyncClient(base_url=platform.search_url, timeout=30) as client:
        assert (await client.get("/status")).status_code == 401
        assert (await client.get("/status", headers=auth("storefront"))).status_code == 403
        for role in ("catalog", "warehouse", "backoffice", "admin"):
            assert (await client.get("/status", headers=auth(role))).status_code == 200, role
        report = (await client.get("/status", headers=auth("warehouse"))).json()
    assert [(p["name"], p["state"]) for p in report["processes"]] == [
        ("search_api", "ready"),
        ("write_api", "ready"),
        ("relay", "ready"),
        ("projector", "ready"),
    ]
    assert [p["projection"] for p in report["projections"]] == ["products", "inventory", "orders"]
    for row in report["projections"]:
        assert isinstance(row["position"], int) and row["position"] > 0
        assert isinstance(row["visible_position"], int) and row["visible_position"] <= row["position"]
        for gauge in ("lag_events", "lag_seconds", "parked"):
            assert isinstance(row[gauge], int | float) and row[gauge] >= 0
    assert report["relay"]["active"] is True
    assert report["relay"]["position"] > 0


async def test_the_export_streams_every_matching_order_page_by_page(platform: Platform, namespace: Namespace) -> None:
    word = made_up_word()
    sku = f"{word.upper()}-E1"
    customer = {"id": f"c-{word}", "name": f"=HYPERLINK {word}", "email": f"{word.lower()}@example.com"}
    async with httpx.AsyncClient(timeout=30) as client:
        product = {"sku": sku, "name": f"{word} Mug", "price": {"amount": "5.00", "currency": "USD"}}
        await import_products(client, platform, [product])
        await receive(client, platform, [{"sku": sku, "warehouse": "ams", "quantity": 50}])
        placed = [await place_order(client, platform, customer, [{"sku": sku, "quantity": 1}]) for _ in range(7)]
        position = max(o["position"] for o in placed)
        await read_after(client, platform, "/orders/search", position, role="backoffice", sku=sku)
        refused = await client.get(
            f"{platform.search_url}/orders/export", params={"sku": sku}, headers=auth("warehouse")
        )
        assert refused.status_code == 403
        bad = await client.get(
            f"{platform.search_url}/orders/export", params={"status": "lost"}, headers=auth("backoffice")
        )
        # an enum in the OpenAPI document since #15: the field is named as the write API names list items
        assert bad.status_code == 422 and "status.0" in bad.json()["error"]["details"]["fields"]
        answer = await client.get(
            f"{platform.search_url}/orders/export", params={"sku": sku}, headers=auth("backoffice")
        )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["x-total-count"] == "7"
    assert answer.headers["content-disposition"].startswith('attachment; filename="orders-')
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert tuple(rows[0]) == COLUMNS
    assert sorted(r["order_id"] for r in rows) == sorted(o["order_id"] for o in placed)
    assert {r["customer_name"] for r in rows} == {f"'=HYPERLINK {word}"}  # no formula for a spreadsheet

    # Pages of 2 (the route reads 500 at a time): seven orders come in four pages, none twice, none missed.
    es = AsyncElasticsearch(namespace.elasticsearch_url)
    try:
        params = OrderSearch(sku=sku, size=2)
        index = alias_name(namespace.elasticsearch_prefix, Projection.ORDERS)
        first, following = await search_page(es, index, build_search(params), params.to_dict(), 2, None)
        assert following is not None and decode_cursor(following).params["sku"] == sku
        chunks = [chunk async for chunk in _pages(es, index, params, first, following)]
    finally:
        await es.close()
    assert len(chunks) == 4
    paged = list(csv.DictReader(io.StringIO("".join(chunks))))
    assert sorted(r["order_id"] for r in paged) == sorted(o["order_id"] for o in placed)


async def test_the_write_api_allows_the_consoles_origin_only(platform: Platform) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    async with httpx.AsyncClient(base_url=platform.write_url, timeout=30) as client:
        allowed = await client.options("/inventory/X/receipts", headers={"Origin": platform.search_url, **preflight})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == platform.search_url
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
        other = await client.options("/inventory/X/receipts", headers={"Origin": "http://evil.example", **preflight})
        assert other.status_code == 400
        assert "access-control-allow-origin" not in other.headers
        # A refused command carries the header too, so that the page can read the API's message.
        refused = await client.post("/inventory/X/receipts", json={}, headers={"Origin": platform.search_url})
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == platform.search_url
        assert "x-position" in refused.headers["access-control-expose-headers"].lower()
