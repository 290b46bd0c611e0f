"""`/docs` of both APIs in the real Chromium with every request off this machine refused: the page loads Swagger UI
from the API itself (no CDN) and renders every operation of the API's OpenAPI document."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Page, Request, Route, expect

from tests.platform import Platform

pytestmark = pytest.mark.e2e

LOOPBACK = {"127.0.0.1", "localhost", "[::1]"}


@pytest.mark.parametrize("api", ["write", "search"])
async def test_docs_render_every_operation_without_the_internet(page: Page, platform: Platform, api: str) -> None:
    base = platform.write_url if api == "write" else platform.search_url
    elsewhere: list[str] = []
    failed: list[str] = []

    async def only_this_machine(route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK:
            await route.continue_()
        else:  # as on a network without internet access
            elsewhere.append(route.request.url)
            await route.abort("internetdisconnected")

    def on_failed(request: Request) -> None:
        failed.append(request.url)

    await page.route("**/*", only_this_machine)
    page.on("requestfailed", on_failed)
    loaded: list[str] = []
    page.on("requestfinished", lambda request: loaded.append(request.url))

    await page.goto(f"{base}/docs")
    async with httpx.AsyncClient() as http:
        document = (await http.get(f"{base}/openapi.json")).json()
    operations = [(m.upper(), path) for path, ops in document["paths"].items() for m in ops]
    await expect(page.locator(".opblock")).to_have_count(len(operations), timeout=20_000)
    for method, path in operations:
        block = page.locator(f".opblock-{method.lower()}").filter(
            has=page.locator(".opblock-summary-path", has_text=path)
        )
        await expect(block.first).to_be_visible()
    await expect(page.locator(".information-container .title")).to_contain_text(document["info"]["title"])

    assert not elsewhere, f"/docs asked for something off this machine: {elsewhere}"
    assert not failed, f"requests of /docs failed: {failed}"
    assets = [url for url in loaded if "/docs/assets/" in url]
    assert any(url.endswith("swagger-ui-bundle.js") for url in assets), loaded
    assert any(url.endswith("swagger-ui.css") for url in assets), loaded
