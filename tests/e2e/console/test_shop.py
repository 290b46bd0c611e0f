"""A shopper on the shop page: autocomplete despite a typo, facets, the URL that keeps the search, a product page."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.e2e.console.data import import_products, made_up_word, misspelt, read_after, receive
from tests.platform import Platform

pytestmark = pytest.mark.e2e

MODELS = [  # (model, brand suffix, price, stock at ams, stock at ber)
    ("Studio Headphones", "Audio", "129.00", 12, 4),
    ("Travel Headphones", "Audio", "199.00", 3, 0),
    ("Monitor Headphones", "Audio", "79.90", 0, 0),
    ("Kids Headphones", "Sound", "29.90", 20, 8),
    ("Sport Headphones", "Sound", "49.90", 0, 6),
]


def catalogue(word: str) -> list[dict[str, object]]:
    return [
        {
            "sku": f"{word.upper()}-{i + 1:02d}",
            "name": f"{word} {model}",
            "brand": f"{word} {suffix}",
            "category": "Headphones",
            "description": f"{model} by {word}: closed-back, 40 mm drivers, a 1.2 m cable and a carrying pouch.",
            "price": {"amount": price, "currency": "USD"},
        }
        for i, (model, suffix, price, _, _) in enumerate(MODELS)
    ]


async def stock_catalogue(client: httpx.AsyncClient, platform: Platform, word: str) -> int:
    products = catalogue(word)
    await import_products(client, platform, products)
    receipts = [
        {"sku": p["sku"], "warehouse": warehouse, "quantity": quantity}
        for p, (_, _, _, ams, ber) in zip(products, MODELS, strict=True)
        for warehouse, quantity in (("ams", ams), ("ber", ber))
        if quantity
    ]
    return await receive(client, platform, receipts)


def shown_counts(labels: list[str]) -> dict[str, int]:
    """'Brand (3)' labels -> {'Brand': 3}."""
    counts = {}
    for label in labels:
        found = re.fullmatch(r"(.*) \((\d+)\)", label.strip())
        assert found, label
        counts[found[1]] = int(found[2])
    return counts


async def test_a_shopper_picks_a_suggestion_for_a_misspelt_word_and_narrows_to_one_brand(
    page: Page, platform: Platform, screenshots: Path
) -> None:
    word = made_up_word()
    async with httpx.AsyncClient(timeout=30) as client:
        position = await stock_catalogue(client, platform, word)
        await read_after(client, platform, "/products/search", position, q=word)

        await page.goto("/")
        box = page.get_by_role("combobox", name="Search products")
        await box.press_sequentially(misspelt(word)[:6], delay=40)
        # Any product's name will do: each holds the word and "Headphones", two of its three words.
        suggestion = page.get_by_role("option", name=re.compile(f"^{word} [A-Za-z]+ Headphones$")).first
        await expect(suggestion).to_be_visible()
        for _ in range(10):  # by keyboard, as a person might
            await box.press("ArrowDown")
            if await suggestion.get_attribute("aria-selected") == "true":
                break
        await box.press("Enter")
        await expect(box).to_have_value(re.compile(f"^{word} [A-Za-z]+ Headphones$"))
        await expect(page.get_by_text("5 products found")).to_be_visible()

        await page.get_by_role("group", name="Brand").get_by_role("checkbox", name=f"{word} Sound").check()
        await expect(page.get_by_text("2 products found")).to_be_visible()
        cards = page.get_by_role("article")
        await expect(cards).to_have_count(2)
        for text in await cards.all_inner_texts():
            assert f"{word} Sound" in text
        await expect(page.get_by_role("article").filter(has_text="Kids Headphones")).to_contain_text("28 available")

        # The counts on the page are the API's for the search the URL holds.
        params = parse_qs(urlsplit(page.url).query)
        assert params["brand"] == [f"{word} Sound"]
        api = (await client.get(f"{platform.search_url}/products/search", params=params)).json()
        brands = page.get_by_role("group", name="Brand").get_by_role("checkbox")
        labels = [await brands.nth(i).evaluate("b => b.labels[0].textContent") for i in range(await brands.count())]
        assert shown_counts(labels) == {f["value"]: f["count"] for f in api["facets"]["brand"]}
        assert shown_counts(labels) == {f"{word} Audio": 3, f"{word} Sound": 2}
        assert api["total"] == 2

        # The search survives a reload (the URL keeps it), and a result opens its product page.
        await page.reload()
        await expect(page.get_by_text("2 products found")).to_be_visible()
        await expect(page.get_by_role("checkbox", name=f"{word} Sound")).to_be_checked()
        await page.get_by_role("checkbox", name=f"{word} Audio").check()
        await expect(page.get_by_text("5 products found")).to_be_visible()
        await page.screenshot(path=screenshots / "shop.png")

        await page.get_by_role("link", name=f"{word} Kids Headphones").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text(f"{word} Kids Headphones")
        availability = page.get_by_role("table", name="Availability per warehouse")
        await expect(availability.get_by_role("row", name="ams 20")).to_be_visible()
        await expect(availability.get_by_role("row", name="ber 8")).to_be_visible()
        assert "null" not in await page.get_by_role("main").inner_text()  # nothing missing shown as "null"
        await page.screenshot(path=screenshots / "product.png")


async def test_more_results_come_by_cursor_and_filters_and_sorting_apply(page: Page, platform: Platform) -> None:
    word = made_up_word()
    async with httpx.AsyncClient(timeout=30) as client:
        products = [
            {
                "sku": f"{word.upper()}-C{i:02d}",
                "name": f"{word} cable {i}",
                "price": {"amount": f"{i + 1}.00", "currency": "USD"},
            }
            for i in range(23)
        ]
        position = await import_products(client, platform, products)
        position = await receive(client, platform, [{"sku": f"{word.upper()}-C00", "warehouse": "ams", "quantity": 1}])
        await read_after(client, platform, "/products/search", position, q=word)

    await page.goto(f"/?q={word}&sort=price_desc")
    await expect(page.get_by_text("23 products found; 20 shown.")).to_be_visible()
    await expect(page.get_by_role("combobox", name="Search products")).to_have_value(word)
    await expect(page.get_by_role("combobox", name="Sort by")).to_have_value("price_desc")
    await expect(page.get_by_role("article").first).to_contain_text("$23.00")
    await page.get_by_role("button", name="More results").click()
    await expect(page.get_by_text("23 products found; 23 shown.")).to_be_visible()
    await expect(page.get_by_role("button", name="More results")).to_be_hidden()
    await expect(page.get_by_role("article").last).to_contain_text("$1.00")

    await page.get_by_role("checkbox", name="In stock only").check()
    await expect(page.get_by_text("1 product found")).to_be_visible()
    assert "in_stock=true" in page.url
    await page.get_by_role("checkbox", name="In stock only").uncheck()
    await page.get_by_role("group", name="Price").get_by_role("checkbox", name=re.compile(r"^Under \$25")).check()
    await expect(page.get_by_text("23 products found")).to_be_visible()
    assert "price_max=25" in page.url
