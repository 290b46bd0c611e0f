"""Steps a person takes in the console, shared by the tests."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.platform import KEYS

ROLE_NAMES = {"catalog": "catalogue", "backoffice": "back-office"}


async def sign_in(page: Page, role: str) -> None:
    await page.get_by_label("API key").fill(KEYS[role])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_text(f"Signed in with a {ROLE_NAMES.get(role, role)} key")).to_be_visible()
