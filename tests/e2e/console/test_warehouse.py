"""A warehouse clerk: stock by name, a receipt and a threshold with the new figures at once, a rejected command."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.e2e.console.data import (
    auth,
    import_products,
    made_up_word,
    place_order,
    read_after,
    receive,
)
from tests.e2e.console.steps import sign_in
from tests.platform import Platform

pytestmark = pytest.mark.e2e


async def stocked_sku(client: httpx.AsyncClient, platform: Platform, word: str, on_hand: int, reserved: int) -> str:
    """A product of its own with `on_hand` at ams, `reserved` of it held by an order."""
    sku = f"{word.upper()}-W1"
    product = {"sku": sku, "name": f"{word} Desk Lamp", "brand": word, "price": {"amount": "24.50", "currency": "USD"}}
    await import_products(client, platform, [product])
    position = await receive(client, platform, [{"sku": sku, "warehouse": "ams", "quantity": on_hand}])
    if reserved:
        customer = {"id": f"c-{word}", "name": f"Ada {word}", "email": f"ada.{word.lower()}@example.com"}
        position = (await place_order(client, platform, customer, [{"sku": sku, "quantity": reserved}]))["position"]
    await read_after(client, platform, f"/inventory/{sku}", position, role="warehouse")
    return sku


async def test_a_clerk_records_a_receipt_and_sees_the_new_figures_on_the_same_page(
    page: Page, platform: Platform, screenshots: Path
) -> None:
    word = made_up_word()
    async with httpx.AsyncClient(timeout=30) as client:
        sku = await stocked_sku(client, platform, word, on_hand=10, reserved=3)

    await page.goto("/console/warehouse")
    await sign_in(page, "warehouse")
    await page.get_by_label("SKU or product name").fill(f"{word} desk lamp")
    await page.get_by_role("button", name="Find stock").click()
    rows = page.get_by_role("table", name="Stock rows, one per SKU and warehouse")
    await expect(rows.get_by_role("row", name=f"{sku} {word} Desk Lamp ams 10 3 7")).to_be_visible()
    await rows.get_by_role("button", name=sku).click()

    figures = page.get_by_role("table", name=f"Stock of {sku} per warehouse")
    await expect(figures.get_by_role("row", name="ams 10 3 7")).to_be_visible()
    await page.evaluate("window.stillTheSamePage = true")

    receipt = page.get_by_role("form", name="Record a receipt")
    await receipt.get_by_label("Warehouse", exact=True).fill("ams")
    await receipt.get_by_label("Quantity received").fill("5")
    await receipt.get_by_role("button", name="Record receipt").click()
    await expect(page.get_by_text("Receipt recorded: 5 units into ams.")).to_be_visible()
    await expect(figures.get_by_role("row", name="ams 15 3 12")).to_be_visible()
    await expect(rows.get_by_role("row", name=f"{sku} {word} Desk Lamp ams 15 3 12")).to_be_visible()

    threshold = page.get_by_role("form", name="Set the low-stock threshold")
    await threshold.get_by_label("Warehouse", exact=True).fill("ams")
    await threshold.get_by_label("Low-stock threshold").fill("20")
    await threshold.get_by_role("button", name="Set threshold").click()
    await expect(figures.get_by_role("row", name="ams 15 3 12 20 low")).to_be_visible()
    assert await page.evaluate("window.stillTheSamePage") is True  # no reload, no navigation
    await page.screenshot(path=screenshots / "warehouse.png", full_page=True)

    await page.get_by_role("checkbox", name="Low stock only").check()
    await page.get_by_role("button", name="Find stock").click()
    await expect(rows.get_by_role("row", name=f"{sku} {word} Desk Lamp ams 15 3 12 20 low")).to_be_visible()


async def test_a_rejected_command_shows_the_apis_message_next_to_its_form(page: Page, platform: Platform) -> None:
    word = made_up_word()
    async with httpx.AsyncClient(timeout=30) as client:
        sku = await stocked_sku(client, platform, word, on_hand=5, reserved=4)
    await page.goto("/console/warehouse")
    await sign_in(page, "warehouse")
    await page.goto(f"/console/warehouse?sku={sku}")
    figures = page.get_by_role("table", name=f"Stock of {sku} per warehouse")
    await expect(figures.get_by_role("row", name="ams 5 4 1")).to_be_visible()

    adjustment = page.get_by_role("form", name="Record an adjustment")
    await adjustment.get_by_label("Warehouse", exact=True).fill("ams")
    await adjustment.get_by_label("Change in units").fill("-3")
    await adjustment.get_by_label("Reason").select_option(label="Damaged")
    await adjustment.get_by_role("button", name="Record adjustment").click()
    async with httpx.AsyncClient(timeout=30) as client:  # the same command, straight to the API: refused alike
        refused = await client.post(
            f"{platform.write_url}/inventory/{sku}/adjustments",
            json={"warehouse": "ams", "delta": -3, "reason": "damaged"},
            headers=auth("warehouse"),
        )
    assert refused.status_code == 409
    await expect(adjustment.get_by_role("alert")).to_contain_text(refused.json()["error"]["message"])
    await expect(figures.get_by_role("row", name="ams 5 4 1")).to_be_visible()

    # A bad field is named beside its input.
    receipt = page.get_by_role("form", name="Record a receipt")
    warehouse = receipt.get_by_label("Warehouse", exact=True)
    await warehouse.fill("main hall")
    await receipt.get_by_label("Quantity received").fill("2")
    await receipt.get_by_role("button", name="Record receipt").click()
    await expect(receipt.get_by_role("alert")).to_contain_text("warehouse:")
    await expect(warehouse).to_have_attribute("aria-invalid", "true")
    await expect(warehouse).to_have_accessible_description("String should match pattern '^[A-Za-z0-9._-]{1,64}$'")
    await expect(figures.get_by_role("row", name="ams 5 4 1")).to_be_visible()
