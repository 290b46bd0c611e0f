"""Migration 0002 on the real PostgreSQL: a store written before StockAvailabilityChanged existed gets one for every
warehouse that has stock to sell, as that warehouse's next event, and the write side folds it like any other."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import asyncpg
import orjson
import pytest

from shared.event_log import init_connection
from tests.conftest import Namespace
from tests.integration.write_conftest_helpers import drop_database, with_database
from write_api.event_store.store import PostgresEventStore
from write_api.migrate import MIGRATIONS_DIR, migrate
from write_api.service_layer.loading import INVENTORY, load

pytestmark = pytest.mark.integration

# Events as the previous version wrote them: numbered per warehouse, no availability events.
OLD_EVENTS = [
    ("inventory-A", 1, "StockReceived", {"sku": "A", "warehouse": "ams", "quantity": 5, "warehouse_version": 1}),
    ("inventory-A", 2, "StockReceived", {"sku": "A", "warehouse": "ber", "quantity": 2, "warehouse_version": 1}),
    ("inventory-A", 3, "StockReserved", {"sku": "A", "warehouse": "ber", "quantity": 2, "order_id": "O-1"}),
    ("inventory-B", 1, "StockReceived", {"sku": "B", "warehouse": "ams", "quantity": 1, "warehouse_version": 1}),
    ("inventory-B", 2, "StockReserved", {"sku": "B", "warehouse": "ams", "quantity": 1, "order_id": "O-2"}),
    ("inventory-B", 3, "StockShipped", {"sku": "B", "warehouse": "ams", "quantity": 1, "order_id": "O-2"}),
]


async def test_stock_availability_is_backfilled_once(namespace: Namespace, tmp_path: Path) -> None:
    first = tmp_path / "first"
    first.mkdir()
    shutil.copy(MIGRATIONS_DIR / "0001_event_store.sql", first)
    name = f"{namespace.template_database.removesuffix('_template')}_mig{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.connect(namespace.admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')  # empty: the test applies the migrations
    finally:
        await admin.close()
    database_url = with_database(namespace.admin_url, name)
    try:
        await migrate(database_url, first)
        conn = await asyncpg.connect(database_url)
        try:
            for stream_id, version, event_type, data in OLD_EVENTS:
                await conn.execute(
                    "INSERT INTO events (stream_id, stream_type, version, event_id, event_type, schema_version, data)"
                    " VALUES ($1, 'inventory', $2, $3, $4, 1, $5::jsonb)",
                    stream_id,
                    version,
                    uuid.uuid4(),
                    event_type,
                    orjson.dumps(data).decode(),
                )
            assert await migrate(database_url) == ["0002_stock_availability.sql"]
            assert await migrate(database_url) == []  # once
            rows = await conn.fetch(
                "SELECT stream_id, version, data FROM events WHERE event_type = 'StockAvailabilityChanged'"
                " ORDER BY stream_id, version"
            )
        finally:
            await conn.close()
        # A: ams has 5 to sell, ber none (all reserved); B: none (shipped).
        assert [(r["stream_id"], r["version"], orjson.loads(r["data"])) for r in rows] == [
            ("inventory-A", 4, {"sku": "A", "warehouse": "ams", "in_stock": True, "warehouse_version": 2}),
        ]
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2, init=init_connection)
        assert pool is not None
        try:
            loaded = await load(PostgresEventStore(pool), INVENTORY, "A")
        finally:
            await pool.close()
        assert loaded.version == 4 and loaded.state is not None
        assert loaded.state.stock("ams").events == 2  # the next ams event is numbered 3
    finally:
        await drop_database(namespace, database_url)
