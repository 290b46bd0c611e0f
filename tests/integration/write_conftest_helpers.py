"""Helpers of the write-API integration tests (test_write_api.py, test_write_crash.py): a database of their own,
the write API as a real subprocess, request bodies, the error envelope, and reading the store back with SQL.

Plain functions and classes, no fixtures: each test module declares the fixtures it needs with these.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from tests.conftest import Namespace
from tests.platform import KEYS, Platform, free_port, platform_env

# ---------------------------------------------------------------------------------------------------------------
# Databases and processes


def with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


async def create_database(namespace: Namespace, label: str) -> str:
    """A database of its own, copied from the session's migrated template. Its name starts with the session's tag,
    so the session's clean-up drops it even if the caller's does not run."""
    name = f"{namespace.template_database.removesuffix('_template')}_{label}{secrets.token_hex(3)}"
    admin = await asyncpg.connect(namespace.admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{namespace.template_database}"')
    finally:
        await admin.close()
    return with_database(namespace.admin_url, name)


async def drop_database(namespace: Namespace, database_url: str) -> None:
    name = urlsplit(database_url).path.lstrip("/")
    admin = await asyncpg.connect(namespace.admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def new_platform(
    namespace: Namespace, database_url: str, log_dir: Path, rabbitmq_prefix: str | None = None
) -> Platform:
    """A Platform (tests/platform.py) on this database; start only what the test needs."""
    ports = {name: free_port() for name in ("write_api", "relay", "projector", "search_api")}
    env = platform_env(
        database_url,
        namespace.rabbitmq_url,
        namespace.rabbitmq_prefix if rabbitmq_prefix is None else rabbitmq_prefix,
        namespace.elasticsearch_url,
        namespace.elasticsearch_prefix,
        ports,
    )
    return Platform(env, log_dir, ports)


async def start(platform: Platform, name: str, **extra_env: str) -> None:
    """Platform.start blocks (it polls /readyz with sleeps): run it off the event loop."""
    await asyncio.to_thread(platform.start, name, True, **extra_env)


# ---------------------------------------------------------------------------------------------------------------
# Requests


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[role]}"}


def new_sku(prefix: str = "SKU") -> str:
    return f"{prefix}-{secrets.token_hex(4).upper()}"


def product_body(sku: str, *, name: str | None = None, amount: str = "12.50", currency: str = "EUR") -> dict[str, Any]:
    return {
        "sku": sku,
        "name": name or f"Test product {sku}",
        "brand": "Acme",
        "category": "Cables",
        "price": {"amount": amount, "currency": currency},
        "attributes": {"colour": "black"},
    }


def order_body(lines: Iterable[tuple[str, int]], customer_id: str | None = None) -> dict[str, Any]:
    customer_id = customer_id or f"C-{secrets.token_hex(4)}"
    return {
        "customer": {"id": customer_id, "name": "Ada Lovelace", "email": f"{customer_id.lower()}@example.com"},
        "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines],
        "shipping_address": {
            "name": "Ada Lovelace",
            "line1": "1 Main St",
            "city": "Amsterdam",
            "postal_code": "1011",
            "country": "NL",
        },
    }


def client(base_url: str, connections: int = 256, timeout: float = 60) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=timeout,
        # Idle connections expire well before uvicorn's 5 s keep-alive timeout: otherwise a request may go out on a
        # connection the server is closing at that moment (httpx.ReadError / RemoteProtocolError).
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=1),
    )


async def register(http: httpx.AsyncClient, sku: str, **kwargs: Any) -> dict[str, Any]:
    response = await http.post("/products", json=product_body(sku, **kwargs), headers=auth("catalog"))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def receive(http: httpx.AsyncClient, sku: str, warehouse: str, quantity: int) -> dict[str, Any]:
    response = await http.post(
        f"/inventory/{sku}/receipts", json={"warehouse": warehouse, "quantity": quantity}, headers=auth("warehouse")
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The contract's error envelope, exactly: {"error": {"code", "message", "details"}}. Returns `error`."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert isinstance(error["code"], str) and SNAKE.match(error["code"]), error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["details"], dict), error
    if code is not None:
        assert error["code"] == code, error
    result: dict[str, Any] = error
    return result


def bad_fields(error: Mapping[str, Any]) -> set[str]:
    """The field names a 422's details name (details.fields, keys like `lines.0.quantity`)."""
    fields = error["details"].get("fields", {})
    assert isinstance(fields, dict) and fields, error
    return set(fields)


# ---------------------------------------------------------------------------------------------------------------
# Reading the store back


@contextlib.asynccontextmanager
async def appends_held(database_url: str) -> AsyncIterator[None]:
    """Hold every append back (a SHARE lock on `snapshots`, which each append writes) until the block ends, while
    reads go on: concurrent requests then surely overlap, each past its own checks and waiting to append."""
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await conn.execute("LOCK TABLE snapshots IN SHARE MODE")
            yield
    finally:
        await conn.close()


async def count_events(conn: asyncpg.Connection) -> int:
    count: int = await conn.fetchval("SELECT count(*) FROM events")
    return count


@dataclass(frozen=True)
class Row:
    stream_id: str
    version: int
    event_id: uuid.UUID
    event_type: str
    data: dict[str, Any]
    transaction_id: int
    global_position: int


ROW_SQL = (
    "SELECT stream_id, version, event_id, event_type, data::text AS data, transaction_id::text::bigint AS tx, "
    "global_position FROM events"
)


def _row(record: asyncpg.Record) -> Row:
    import orjson

    return Row(
        record["stream_id"],
        record["version"],
        record["event_id"],
        record["event_type"],
        orjson.loads(record["data"]),
        record["tx"],
        record["global_position"],
    )


async def stream_rows(conn: asyncpg.Connection, stream_id: str) -> list[Row]:
    return [_row(r) for r in await conn.fetch(f"{ROW_SQL} WHERE stream_id = $1 ORDER BY version", stream_id)]


async def all_rows(conn: asyncpg.Connection) -> list[Row]:
    return [_row(r) for r in await conn.fetch(f"{ROW_SQL} ORDER BY transaction_id, global_position")]


@dataclass
class Stock:
    on_hand: int = 0
    reserved: int = 0

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


@dataclass
class FoldedInventory:
    warehouses: dict[str, Stock] = field(default_factory=dict)
    reserved_by_order: dict[str, int] = field(default_factory=dict)
    versions: list[int] = field(default_factory=list)

    @property
    def reserved(self) -> int:
        return sum(s.reserved for s in self.warehouses.values())

    @property
    def available(self) -> int:
        return sum(s.available for s in self.warehouses.values())


def fold_inventory(rows: list[Row]) -> FoldedInventory:
    """Fold an inventory stream from its events (not the write side's code), checking the invariant
    0 <= reserved <= on_hand per warehouse after EVERY event, and that versions run 1..n without a gap."""
    folded = FoldedInventory()
    for row in rows:
        data = row.data
        stock = folded.warehouses.setdefault(data["warehouse"], Stock()) if "warehouse" in data else None
        match row.event_type:
            case "StockReceived":
                assert stock is not None
                stock.on_hand += data["quantity"]
            case "StockAdjusted":
                assert stock is not None
                stock.on_hand += data["delta"]
            case "StockReserved":
                assert stock is not None
                stock.reserved += data["quantity"]
                folded.reserved_by_order[data["order_id"]] = (
                    folded.reserved_by_order.get(data["order_id"], 0) + data["quantity"]
                )
            case "StockReservationReleased":
                assert stock is not None
                stock.reserved -= data["quantity"]
                folded.reserved_by_order[data["order_id"]] -= data["quantity"]
            case "StockShipped":
                assert stock is not None
                stock.reserved -= data["quantity"]
                stock.on_hand -= data["quantity"]
                folded.reserved_by_order[data["order_id"]] -= data["quantity"]
        folded.versions.append(row.version)
        for name, s in folded.warehouses.items():
            assert 0 <= s.reserved <= s.on_hand, f"{row.stream_id} v{row.version}: {name} {s} after {row.event_type}"
    assert folded.versions == list(range(1, len(rows) + 1)), folded.versions
    return folded
