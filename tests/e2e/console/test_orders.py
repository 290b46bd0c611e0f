"""A back-office clerk: an order found by a misspelt customer name, cancelled, its stock released, the filter
exported as CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.e2e.console.data import (
    import_products,
    made_up_word,
    misspelt,
    place_order,
    read_after,
    receive,
)
from tests.e2e.console.steps import sign_in
from tests.platform import Platform

pytestmark = pytest.mark.e2e

ORDERS = 23  # more than the page of 20 the console shows: the export must hold them all


async def test_a_clerk_finds_an_order_by_a_misspelt_name_cancels_it_and_exports_the_filter(
    page: Page, platform: Platform, screenshots: Path, tmp_path: Path
) -> None:
    surname = made_up_word()
    sku = f"{surname.upper()}-O1"
    customer = {"id": f"c-{surname}", "name": f"Rosalind {surname}", "email": f"rosalind.{surname.lower()}@example.com"}
    async with httpx.AsyncClient(timeout=30) as client:
        product = {"sku": sku, "name": f"{surname} Travel Mug", "price": {"amount": "12.00", "currency": "USD"}}
        await import_products(client, platform, [product])
        await receive(client, platform, [{"sku": sku, "warehouse": "ams", "quantity": 100}])
        placed = [await place_order(client, platform, customer, [{"sku": sku, "quantity": 2}]) for _ in range(ORDERS)]
        last = max(order["position"] for order in placed)
        await read_after(client, platform, f"/inventory/{sku}", last, role="backoffice")
        query = f"Rosalind {misspelt(surname)}"
        found = await read_after(client, platform, "/orders/search", last, role="backoffice", q=query)
        assert found.json()["total"] == ORDERS

    await page.goto("/console/orders")
    await sign_in(page, "backoffice")
    await page.get_by_label("Order id, customer name or e-mail, SKU or product").fill(query)
    await page.get_by_role("button", name="Find orders").click()
    await expect(page.get_by_text(f"{ORDERS} orders found; 20 shown.")).to_be_visible()
    listed = page.get_by_role("table", name="Orders")
    newest = placed[-1]["order_id"]
    await listed.get_by_role("button", name=newest).click()

    detail = page.get_by_role("region", name=f"Order {newest}")
    await expect(detail.get_by_text("placed", exact=True)).to_be_visible()
    stock = detail.get_by_role("table", name="Stock of the order's SKUs")
    await expect(stock.get_by_role("row", name=f"{sku} at ams 100 {2 * ORDERS} {100 - 2 * ORDERS}")).to_be_visible()

    await detail.get_by_role("button", name="Cancel order…").click()
    dialog = page.get_by_role("dialog", name="Cancel this order?")
    await dialog.get_by_label("Reason").fill("The customer changed their mind")
    await dialog.get_by_role("button", name="Confirm cancellation").click()
    await expect(dialog).to_be_hidden()
    await expect(detail.get_by_text("Order cancelled; its reserved stock is released.")).to_be_visible()
    await expect(detail.get_by_text("cancelled", exact=True)).to_be_visible()
    reserved = 2 * (ORDERS - 1)
    await expect(stock.get_by_role("row", name=f"{sku} at ams 100 {reserved} {100 - reserved}")).to_be_visible()
    await expect(detail.get_by_role("button", name="Cancel order…")).to_be_hidden()
    await expect(listed.get_by_role("row", name=f"{newest} cancelled")).to_be_visible()
    await expect(page.get_by_role("checkbox", name="cancelled (1)")).to_be_visible()
    await page.screenshot(path=screenshots / "orders.png", full_page=True)

    async with page.expect_download() as downloading:
        await page.get_by_role("button", name="Export CSV").click()
    download = await downloading.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    await expect(page.get_by_text(f"Exported {ORDERS} orders")).to_be_visible()
    with saved.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    async with httpx.AsyncClient(timeout=30) as client:
        api = await read_after(client, platform, "/orders/search", 0, role="backoffice", q=query)
    assert len(rows) == api.json()["total"] == ORDERS
    assert {row["order_id"] for row in rows} == {order["order_id"] for order in placed}
    assert {row["order_id"]: row["status"] for row in rows}[newest] == "cancelled"
    assert {row["customer_email"] for row in rows} == {customer["email"]}

    # Another of the orders ships: its reserved units leave the warehouse.
    second = placed[-2]["order_id"]
    await listed.get_by_role("button", name=second).click()
    detail = page.get_by_role("region", name=f"Order {second}")
    await detail.get_by_role("button", name="Ship order…").click()
    dialog = page.get_by_role("dialog", name="Ship this order?")
    await dialog.get_by_label("Carrier").fill("PostNL")
    await dialog.get_by_label("Tracking number").fill(f"3S{surname.upper()}")
    await dialog.get_by_role("button", name="Confirm shipment").click()
    await expect(detail.get_by_text("Order shipped; its reserved stock has left the warehouses.")).to_be_visible()
    await expect(detail.get_by_text(f"PostNL 3S{surname.upper()}")).to_contain_text("PostNL")
    stock = detail.get_by_role("table", name="Stock of the order's SKUs")
    await expect(stock.get_by_role("row", name=f"{sku} at ams 98 {reserved - 2} {100 - reserved}")).to_be_visible()
    await expect(listed.get_by_role("row", name=f"{second} shipped")).to_be_visible()
