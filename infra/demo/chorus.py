"""The Chorus electronics catalogue (Open Icecat: see chorus-icecat/README.md beside this file) as write-API bodies,
and a loader that sends it product by product:

    python -m infra.demo.chorus --write-url http://127.0.0.1:8001 [--limit N]

Each product is a `POST /products` with `Idempotency-Key: demo-product-<sku>`, so re-running never duplicates anything.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import itertools
import json
import logging
import os
import random
import re
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from infra.demo.api_keys import MissingKey, demo_keys
from shared.auth import Role

log = logging.getLogger(__name__)

DEFAULT_DATA_DIR = Path(__file__).resolve().parent / "chorus-icecat"
SKU_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MAX_ATTRS = 12  # taken from attr_*, on top of model / ean / released
MAX_VALUE_LEN = 200
MAX_TRIES = 5
BACKOFF_SECONDS = 0.25  # doubled after every failed try, with jitter, at most 5 s
# Preferred attributes (key after the prefix), in this order; numeric and boolean attributes are kept only if listed.
PREFERRED = (
    "product_type",
    "product_colour",
    "form_factor",
    "connector_1",
    "connector_2",
    "connector_gender",
    "interface",
    "cable_length",
    "capacity",
    "total_storage_capacity",
    "ssd_capacity",
    "hdd_capacity",
    "internal_memory",
    "display_diagonal",
    "display_resolution",
    "processor_family",
    "processor_model",
    "processor_frequency",
    "processor_cores",
    "type",
    "compatibility",
    "print_technology",
    "printing_colours",
    "material",
    "connectivity_technology",
    "operating_system_installed",
    "wi_fi",
    "bluetooth",
    "touchscreen",
    "weight",
)
# Logistics and paperwork: never worth showing to a shopper.
NOISE = re.compile(
    r"package|pallet|master_outer|shipping_inner|harmonized|country_of_origin|oem_code|last_change|"
    r"ark_id|temperature|humidity|altitude|dimensions|certification|gtin|born_on|launch_date|status"
)
TAG_RE = re.compile(r"<[^>]*>")


class InvalidRecord(ValueError):
    """A catalogue record that cannot become a valid product."""


@dataclass
class LoadSummary:
    created: int = 0
    existing: int = 0
    rejected: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.rejected == 0 and self.failed == 0

    @property
    def per_second(self) -> float:
        return (self.created + self.existing) / self.seconds if self.seconds > 0 else 0.0


def iter_chorus(data_dir: Path) -> Iterator[dict[str, Any]]:
    """Raw records of 1.json.zip … 4.json.zip, in order, read straight from the archives."""
    for part in range(1, 5):
        with zipfile.ZipFile(data_dir / f"{part}.json.zip") as archive:
            for member in archive.namelist():
                with archive.open(member) as stream:
                    yield from json.load(stream)


def _clean(text: str) -> str:
    return " ".join(html.unescape(TAG_RE.sub(" ", text)).split())


def _attr_value(value: Any) -> str | None:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))
    text = _clean(value) if isinstance(value, str) else ""
    return (text if len(text) <= MAX_VALUE_LEN else text[: MAX_VALUE_LEN - 1].rstrip() + "…") or None


def _attributes(record: dict[str, Any]) -> dict[str, str]:
    candidates: dict[str, tuple[int, str]] = {}  # key -> (rank, value); first occurrence of a key wins
    for raw_key, raw_value in record.items():
        if not raw_key.startswith(("attr_t_", "attr_n_", "attr_b_")):
            continue
        key = re.sub(r"_+", "_", raw_key[7:]).strip("_")
        value = _attr_value(raw_value)
        if not key or value is None or key in candidates or key in ("model", "ean", "released") or NOISE.search(key):
            continue
        if key in PREFERRED:
            candidates[key] = (PREFERRED.index(key), value)
        elif raw_key.startswith("attr_t_"):
            candidates[key] = (len(PREFERRED) + len(candidates), value)
    best = sorted(candidates.items(), key=lambda item: item[1][0])[:MAX_ATTRS]
    return {key: value for key, (_, value) in best}


def chorus_to_product(record: dict[str, Any]) -> dict[str, Any]:
    """Map one Chorus record to a `POST /products` body. Raises InvalidRecord if it cannot be a valid product."""
    sku, name, cents = record.get("id"), _clean(str(record.get("title") or "")), record.get("price")
    if not isinstance(sku, str) or not SKU_RE.fullmatch(sku):
        raise InvalidRecord(f"sku {sku!r} does not match {SKU_RE.pattern}")
    if not name:
        raise InvalidRecord(f"{sku}: empty title")
    if not isinstance(cents, int) or isinstance(cents, bool) or cents < 0:
        raise InvalidRecord(f"{sku}: price {cents!r} is not a non-negative integer number of cents")
    attributes: dict[str, str] = {}
    if model := _attr_value(str(record.get("name") or "")):
        attributes["model"] = model
    if record.get("ean"):
        attributes["ean"] = str(record["ean"][0])
    if released := str(record.get("date_released") or "")[:10]:
        attributes["released"] = released
    attributes.update(_attributes(record))
    product: dict[str, Any] = {"sku": sku, "name": name}
    if brand := _clean(str(record.get("supplier") or "")):
        product["brand"] = brand
    if description := _clean(str(record.get("short_description") or "")):
        product["description"] = description
    category = _clean(str(record.get("attr_t_product_type") or ""))
    if re.search(r"[^\W\d_]", category):  # 142 records have product type "1": not a category
        product["category"] = category
    product["price"] = {"amount": f"{cents // 100}.{cents % 100:02d}", "currency": "USD"}
    product["attributes"] = attributes
    return product


async def _send(client: httpx.AsyncClient, product: dict[str, Any], summary: LoadSummary) -> None:
    headers = {"Idempotency-Key": f"demo-product-{product['sku']}"}
    for attempt in range(1, MAX_TRIES + 1):
        try:
            response = await client.post("/products", json=product, headers=headers)
        except httpx.TransportError as exc:  # connection refused / reset, timeouts
            problem = f"{type(exc).__name__}: {exc}"
        else:
            if response.status_code == 201:
                summary.created += 1
                return
            code = _error_code(response)
            if response.status_code == 409 and code == "already_exists":
                summary.existing += 1
                return
            if response.status_code < 500 and response.status_code != 429:  # 429 is retried like a 5xx
                summary.rejected += 1
                if summary.rejected <= 5:
                    log.warning("rejected %s: %s %s", product["sku"], response.status_code, response.text[:500])
                return
            problem = f"HTTP {response.status_code} {code or ''}".strip()
        if attempt < MAX_TRIES:
            await asyncio.sleep(min(5.0, BACKOFF_SECONDS * 2 ** (attempt - 1)) * (0.5 + random.random()))
    summary.failed += 1
    log.error("gave up on %s after %d tries: %s", product["sku"], MAX_TRIES, problem)


def _error_code(response: httpx.Response) -> str | None:
    try:
        error = response.json().get("error")
        return str(error["code"]) if isinstance(error, dict) and "code" in error else None
    except (ValueError, AttributeError):
        return None


async def load(
    write_url: str,
    key: str,
    data_dir: Path,
    limit: int | None,
    concurrency: int,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> LoadSummary:
    """Send the catalogue (or its first `limit` records) to the write API with at most `concurrency` requests open.
    `transport` is for tests (httpx.MockTransport)."""
    summary, started = LoadSummary(), time.perf_counter()
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=concurrency * 4)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=write_url.rstrip("/"),
        headers={"Authorization": f"Bearer {key}"},
        timeout=30.0,
        limits=limits,
        transport=transport,
    ) as client:

        async def worker() -> None:
            while (product := await queue.get()) is not None:
                try:
                    await _send(client, product, summary)
                except Exception:  # never let one product stall the queue
                    summary.failed += 1
                    log.exception("unexpected error sending %s", product["sku"])

        workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
        for record in itertools.islice(iter_chorus(data_dir), limit):
            try:
                product = chorus_to_product(record)
            except InvalidRecord as exc:
                summary.skipped += 1
                log.warning("skipped: %s", exc)
                continue
            await queue.put(product)
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)
    summary.seconds = time.perf_counter() - started
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.demo.chorus", description="Load the Chorus demo catalogue.")
    parser.add_argument("--write-url", required=True, help="base URL of the write API")
    parser.add_argument("--key", default=None, help="catalog API key (default: the catalog or admin key of API_KEYS)")
    parser.add_argument("--limit", type=int, default=None, help="load only the first N records")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    args = parser.parse_args(argv)
    if args.concurrency < 1 or (args.limit is not None and args.limit < 0):
        parser.error("--concurrency must be >= 1 and --limit >= 0")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        key = args.key or demo_keys(os.environ, [Role.CATALOG])[Role.CATALOG]
    except MissingKey as exc:
        log.error("%s", exc)
        return 2
    s = asyncio.run(load(args.write_url, key, args.data_dir, args.limit, args.concurrency))
    log.info(
        "demo catalogue: created=%d existing=%d rejected=%d failed=%d skipped=%d in %.1fs (%.0f products/s)",
        s.created,
        s.existing,
        s.rejected,
        s.failed,
        s.skipped,
        s.seconds,
        s.per_second,
    )
    return 0 if s.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
