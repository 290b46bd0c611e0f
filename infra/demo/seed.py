"""Demo data for `make up`, through the write API's own commands, from a seeded generator (same data every run):

1. the Chorus catalogue (19,406 products) by `POST /products/import`, in NDJSON batches;
2. stock for it in three warehouses (`POST /inventory/receipts`): most products in one to three warehouses,
   some low, some out of stock; low-stock thresholds for a sample (`PUT /inventory/{sku}/thresholds/{warehouse}`);
3. a few hundred orders (`POST /orders`), then some cancelled and some shipped, so every status has orders.

Every request carries an Idempotency-Key derived from the seed, so running it again changes nothing.

    python -m infra.demo.seed --write-url http://127.0.0.1:8001 [--orders 400] [--limit N]

The keys it sends are those of API_KEYS (infra/demo/api_keys.py).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from infra.demo.api_keys import MissingKey, demo_keys
from infra.demo.chorus import DEFAULT_DATA_DIR, InvalidRecord, chorus_to_product, iter_chorus
from shared.auth import Role

log = logging.getLogger(__name__)

WAREHOUSES = ("ams", "ber", "par")
IMPORT_BATCH = 2000
RECEIPT_BATCH = 5000
FIRST_NAMES = ("Ann", "Bob", "Carla", "Dmitri", "Eva", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kemal", "Lena")
LAST_NAMES = ("Smith", "Müller", "Dubois", "Rossi", "Kowalski", "Jansen", "García", "Novak", "Berg", "Okafor")
CITIES = (("Amsterdam", "NL", "1011 AB"), ("Berlin", "DE", "10115"), ("Paris", "FR", "75001"))


class SeedError(RuntimeError):
    """The write API refused part of the demo data."""


ROLES = (Role.CATALOG, Role.WAREHOUSE, Role.STOREFRONT, Role.BACKOFFICE)


async def _post(
    client: httpx.AsyncClient, path: str, key: str, idempotency: str, method: str = "POST", **kwargs: Any
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": idempotency, **kwargs.pop("headers", {})}
    for attempt in range(1, 6):
        try:
            response = await client.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            log.warning("%s: %s; retrying", path, exc)
        else:
            if response.status_code < 500:
                return response
            log.warning("%s: HTTP %s; retrying", path, response.status_code)
        await asyncio.sleep(0.5 * attempt)
    raise SeedError(f"{path} kept failing")


def stock_plan(skus: list[str], rng: random.Random) -> list[dict[str, Any]]:
    """Receipts: 8% of products get none (out of stock), the rest one to three warehouses, a few only a little."""
    receipts = []
    for sku in skus:
        if rng.random() < 0.08:
            continue
        for warehouse in rng.sample(WAREHOUSES, rng.choice((1, 1, 2, 2, 3))):
            quantity = rng.randint(1, 4) if rng.random() < 0.1 else rng.randint(5, 80)
            receipts.append({"sku": sku, "warehouse": warehouse, "quantity": quantity, "reference": "demo-initial"})
    return receipts


def order_plan(in_stock: list[str], count: int, rng: random.Random) -> list[dict[str, Any]]:
    orders = []
    for n in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        city, country, postal = rng.choice(CITIES)
        lines = [{"sku": sku, "quantity": rng.randint(1, 2)} for sku in rng.sample(in_stock, rng.randint(1, 3))]
        orders.append(
            {
                "customer": {
                    "id": f"cust-{rng.randint(1, count // 2):05d}",
                    "name": f"{first} {last}",
                    "email": f"{first.lower()}.{n}@example.com",
                },
                "lines": lines,
                "shipping_address": {
                    "name": f"{first} {last}",
                    "line1": f"{rng.randint(1, 200)} Demo Street",
                    "city": city,
                    "postal_code": postal,
                    "country": country,
                },
            }
        )
    return orders


async def seed(write_url: str, data_dir: Path, orders: int, limit: int | None, seed_value: int = 42) -> dict[str, Any]:
    rng = random.Random(seed_value)
    keys = {role.value: key for role, key in demo_keys(os.environ, ROLES).items()}
    products = []
    for record in iter_chorus(data_dir):
        try:
            products.append(chorus_to_product(record))
        except InvalidRecord as exc:
            log.warning("skipping a Chorus record: %s", exc)
        if limit is not None and len(products) >= limit:
            break
    summary: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=write_url.rstrip("/"), timeout=300) as client:
        started = time.perf_counter()
        created = updated = unchanged = 0
        for n, start in enumerate(range(0, len(products), IMPORT_BATCH)):
            body = b"\n".join(orjson.dumps(p) for p in products[start : start + IMPORT_BATCH])
            response = await _post(
                client,
                "/products/import",
                keys["catalog"],
                f"demo-{seed_value}-import-{n}",
                content=body,
                headers={"Content-Type": "application/x-ndjson"},
            )
            if response.status_code != 200 or response.json()["rejected"]:
                raise SeedError(f"import batch {n}: {response.status_code} {response.text[:500]}")
            result = response.json()
            created, updated, unchanged = (
                created + result["created"],
                updated + result["updated"],
                unchanged + result["unchanged"],
            )
        summary["catalogue"] = {
            "created": created,
            "updated": updated,
            "unchanged": unchanged,
            "seconds": round(time.perf_counter() - started, 1),
        }

        started = time.perf_counter()
        receipts = stock_plan([p["sku"] for p in products], rng)
        for n, start in enumerate(range(0, len(receipts), RECEIPT_BATCH)):
            response = await _post(
                client,
                "/inventory/receipts",
                keys["warehouse"],
                f"demo-{seed_value}-stock-{n}",
                json=receipts[start : start + RECEIPT_BATCH],
            )
            if response.status_code != 200 or response.json()["rejected"]:
                raise SeedError(f"receipt batch {n}: {response.status_code} {response.text[:500]}")
        stocked = sorted({r["sku"] for r in receipts})
        for n, sku in enumerate(rng.sample(stocked, min(200, len(stocked)))):
            response = await _post(
                client,
                f"/inventory/{sku}/thresholds/{WAREHOUSES[n % 3]}",
                keys["warehouse"],
                f"demo-{seed_value}-threshold-{n}",
                method="PUT",
                json={"low_stock_threshold": 10},
            )
            if response.status_code != 200:
                raise SeedError(f"threshold {sku}: {response.status_code} {response.text[:300]}")
        summary["stock"] = {
            "receipts": len(receipts),
            "skus": len(stocked),
            "seconds": round(time.perf_counter() - started, 1),
        }

        started = time.perf_counter()
        semaphore = asyncio.Semaphore(16)
        placed: list[str] = []

        async def place(n: int, order: dict[str, Any]) -> None:
            async with semaphore:
                response = await _post(
                    client, "/orders", keys["storefront"], f"demo-{seed_value}-order-{n}", json=order
                )
            if response.status_code == 201:
                placed.append(response.json()["order_id"])
            elif response.status_code != 409:  # stock may run out for a demo order: that is fine
                raise SeedError(f"order {n}: {response.status_code} {response.text[:300]}")

        await asyncio.gather(*(place(n, o) for n, o in enumerate(order_plan(stocked, orders, rng))))
        placed.sort()
        quarter = len(placed) // 4
        for n, order_id in enumerate(placed[:quarter]):
            response = await _post(
                client,
                f"/orders/{order_id}/cancel",
                keys["backoffice"],
                f"demo-{seed_value}-cancel-{n}",
                json={"reason": "customer changed their mind"},
            )
            if response.status_code != 200:
                raise SeedError(f"cancel {order_id}: {response.status_code} {response.text[:300]}")
        for n, order_id in enumerate(placed[quarter : 2 * quarter]):
            response = await _post(
                client,
                f"/orders/{order_id}/ship",
                keys["backoffice"],
                f"demo-{seed_value}-ship-{n}",
                json={"carrier": "DemoPost", "tracking_number": f"DP{n:08d}"},
            )
            if response.status_code != 200:
                raise SeedError(f"ship {order_id}: {response.status_code} {response.text[:300]}")
        summary["orders"] = {
            "placed": len(placed),
            "cancelled": quarter,
            "shipped": quarter,
            "seconds": round(time.perf_counter() - started, 1),
        }
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.demo.seed", description="Load the demo data.")
    parser.add_argument("--write-url", default="http://127.0.0.1:8001")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--orders", type=int, default=400)
    parser.add_argument("--limit", type=int, default=None, help="only the first N products")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        summary = asyncio.run(seed(args.write_url, args.data_dir, args.orders, args.limit))
    except SeedError as exc:
        log.error("demo data failed: %s", exc)
        return 1
    except MissingKey as exc:
        log.error("%s", exc)
        return 2
    log.info("demo data: %s", summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
