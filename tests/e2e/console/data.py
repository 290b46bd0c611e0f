"""Data the console tests write through the write API, with names of their own so that counts are exact."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from tests.platform import KEYS, Platform

CONSONANTS = "bdfgklmnprstvz"
VOWELS = "aeiou"


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[role]}"}


def made_up_word(syllables: int = 4) -> str:
    """A pronounceable word of its own for a test (a brand, a surname), capitalised: 'Kalvorime'."""
    word = "".join(secrets.choice(CONSONANTS) + secrets.choice(VOWELS) for _ in range(syllables))
    return word.capitalize()


def misspelt(word: str) -> str:
    """The word with its second and third letters swapped: one edit, as people mistype."""
    return word[0] + word[2] + word[1] + word[3:]


async def import_products(client: httpx.AsyncClient, platform: Platform, products: list[dict[str, Any]]) -> int:
    response = await client.post(f"{platform.write_url}/products/import", json=products, headers=auth("catalog"))
    assert response.status_code == 200, response.text
    assert response.json()["rejected"] == []
    return int(response.json()["position"])


async def receive(client: httpx.AsyncClient, platform: Platform, receipts: list[dict[str, Any]]) -> int:
    response = await client.post(f"{platform.write_url}/inventory/receipts", json=receipts, headers=auth("warehouse"))
    assert response.status_code == 200, response.text
    assert response.json()["rejected"] == []
    return int(response.json()["position"])


async def place_order(
    client: httpx.AsyncClient, platform: Platform, customer: dict[str, str], lines: list[dict[str, Any]]
) -> dict[str, Any]:
    body = {
        "customer": customer,
        "lines": lines,
        "shipping_address": {
            "name": customer["name"],
            "line1": "12 Harbour Street",
            "city": "Rotterdam",
            "postal_code": "3011 AB",
            "country": "NL",
        },
    }
    response = await client.post(f"{platform.write_url}/orders", json=body, headers=auth("storefront"))
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def read_after(
    client: httpx.AsyncClient, platform: Platform, path: str, position: int, role: str | None = None, **params: Any
) -> httpx.Response:
    """A search API read that reflects the write at `position` (never a stale answer)."""
    response = await client.get(
        f"{platform.search_url}{path}",
        params={**params, "min_position": position, "wait_ms": 10_000},
        headers=auth(role) if role else {},
    )
    assert response.status_code == 200, response.text
    assert "X-Consistency" not in response.headers
    return response
