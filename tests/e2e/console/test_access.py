"""Who sees what: a page closed to the key's role says so, customers' data stays off public pages, the status
page for staff, and a notice with a retry when the API does not answer."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, Route, expect

from tests.e2e.console.data import import_products, made_up_word, place_order, read_after, receive
from tests.e2e.console.steps import sign_in
from tests.platform import Platform

pytestmark = pytest.mark.e2e


async def test_a_storefront_key_cannot_open_the_orders_page(page: Page, platform: Platform) -> None:
    await page.goto("/console/orders")
    await expect(page.get_by_text("Sign in with your API key to use the Orders page")).to_be_visible()
    await sign_in(page, "storefront")
    await expect(
        page.get_by_text("A storefront key may not see the Orders page: it needs a back-office key.")
    ).to_be_visible()
    await expect(page.get_by_role("table")).to_have_count(0)
    await expect(page.get_by_role("button", name="Find orders")).to_be_hidden()

    # The page's own gate is a courtesy: forced open, it still shows no order, because the API refuses the key.
    await page.evaluate("sessionStorage.setItem('console.role', 'backoffice')")
    await page.reload()
    await expect(page.get_by_role("alert").filter(has_text="role storefront may not do this")).to_be_visible()
    await expect(page.get_by_role("table")).to_have_count(0)


async def test_public_pages_show_no_customer_name_or_email(page: Page, platform: Platform) -> None:
    word = made_up_word()
    sku = f"{word.upper()}-P1"
    customer = {"id": f"c-{word}", "name": f"Theodora {word}", "email": f"theodora.{word.lower()}@example.com"}
    async with httpx.AsyncClient(timeout=30) as client:
        product = {"sku": sku, "name": f"{word} Tea Kettle", "price": {"amount": "39.00", "currency": "USD"}}
        await import_products(client, platform, [product])
        await receive(client, platform, [{"sku": sku, "warehouse": "ams", "quantity": 4}])
        order = await place_order(client, platform, customer, [{"sku": sku, "quantity": 1}])
        await read_after(client, platform, f"/products/{sku}", order["position"])

    bodies: list[str] = []  # everything the browser receives on the public pages

    async def keep(route: Route) -> None:
        answer = await route.fetch()
        bodies.append(await answer.text())
        await route.fulfill(response=answer)

    await page.route("**/*", keep)
    await page.goto(f"/?q={word}")
    await expect(page.get_by_text("1 product found")).to_be_visible()
    await expect(page.get_by_role("article")).to_contain_text("3 available")
    await page.get_by_role("link", name=f"{word} Tea Kettle").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"{word} Tea Kettle")
    texts = [await page.content(), *bodies]
    assert any(sku in text for text in bodies[1:])  # the reads of both pages are among them
    for text in texts:
        for personal in (customer["name"], customer["email"], word.lower() + "@", "Theodora"):
            assert personal not in text


async def test_staff_see_every_process_and_projection_with_a_lag_chart(
    page: Page, platform: Platform, screenshots: Path
) -> None:
    await page.goto("/console/status")
    await sign_in(page, "catalog")
    processes = page.get_by_role("table", name="Processes and their readiness")
    for name in ("search api", "write api", "relay", "projector"):
        await expect(processes.get_by_role("row", name=re.compile(f"^{name} ready"))).to_be_visible()
    projections = page.get_by_role("table", name="Projections: positions, lag and parked messages")
    for name in ("products", "inventory", "orders"):
        # applied and visible positions, lag in events and seconds, parked messages: all known (numbers)
        await expect(
            projections.get_by_role("row", name=re.compile(f"^{name} \\d+ \\d+ \\d+ [\\d.]+ \\d+"))
        ).to_be_visible()
    await expect(page.get_by_text(re.compile(r"Relay: active, published up to position \d+"))).to_be_visible()
    chart = page.get_by_role("img", name="Lag in events")
    await expect(chart).to_be_visible()
    await page.wait_for_function(  # a second sample a few seconds later makes the lines
        "document.querySelector('#chart-events polyline')?.getAttribute('points').split(' ').length >= 2",
        timeout=20_000,
    )
    await page.screenshot(path=screenshots / "status.png", full_page=True)


async def test_a_search_api_that_does_not_answer_shows_a_notice_and_a_retry(page: Page, platform: Platform) -> None:
    # The network to the search API fails for the page's reads (the browser drops them): the page says so.
    await page.route(re.compile(r"/products/search\?"), lambda route: route.abort("connectionrefused"))
    await page.goto("/?q=cable")
    notice = page.get_by_role("alert").filter(has_text="The search API does not answer.")
    await expect(notice).to_be_visible()
    await page.unroute(re.compile(r"/products/search\?"))
    await notice.get_by_role("button", name="Retry").click()
    await expect(notice).to_be_hidden()
    await expect(page.get_by_text(re.compile(r"products? found|No products found"))).to_be_visible()
