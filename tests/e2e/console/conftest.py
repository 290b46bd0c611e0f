"""A real Chromium (Debian's package, headless) driven by Playwright against the e2e platform's console.

Playwright is pointed at the system browser (`executable_path`): it downloads no browser, at install or at run
time. Each launch runs on a fresh temporary profile (Playwright's own --user-data-dir), with the flags below for a
machine without a network, a GPU or a sandbox-capable kernel. A screenshot of every test's last page is kept under
`.state/screenshots/` (not committed), whether the test passed or failed.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright

from tests.platform import Platform
from tests.services import ROOT

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / ".state" / "screenshots"


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is required at {CHROMIUM}: run `bash infra/browser.sh` (as root)", pytrace=False)
    return CHROMIUM


@pytest_asyncio.fixture(scope="session")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest_asyncio.fixture
async def page(
    browser: Browser, platform: Platform, screenshots: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Page]:
    """A fresh browser context (its own sessionStorage) on the console; script errors fail the test."""
    context = await browser.new_context(
        base_url=platform.search_url, accept_downloads=True, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(15_000)
    opened = await context.new_page()
    script_errors: list[str] = []
    opened.on("pageerror", lambda error: script_errors.append(str(error)))
    try:
        yield opened
    finally:
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)
        await opened.screenshot(path=screenshots / f"{name}-last.png", full_page=True)
        await context.close()
    assert not script_errors, f"script errors in the page: {script_errors}"
