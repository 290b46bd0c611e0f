"""One product through every real part: write API -> PostgreSQL -> relay -> RabbitMQ -> projector ->
Elasticsearch -> search API."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.conftest import Namespace
from tests.platform import KEYS, PIPELINE, Platform, pipeline_nice

pytestmark = pytest.mark.e2e


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[role]}"}


def product(sku: str, name: str, **extra: object) -> dict[str, object]:
    return {
        "sku": sku,
        "name": name,
        "brand": "Acme",
        "price": {"amount": "19.99", "currency": "USD"},
        "description": "<p>A <b>high speed</b> cable</p>",
        **extra,
    }


async def test_registered_product_is_found_by_a_typo_search_right_after_the_write(
    platform: Platform, namespace: Namespace
) -> None:
    sku = f"SKU-{secrets.token_hex(4)}"
    word = f"zq{secrets.token_hex(3)}"  # a word no other product has
    async with httpx.AsyncClient(timeout=30) as client:
        created = await client.post(
            f"{platform.write_url}/products", headers=auth("catalog"), json=product(sku, f"HDMI cable {word} 2 m")
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["version"] == 1
        assert int(created.headers["X-Position"]) == body["position"] > 0

        typo = word[:-1] + ("a" if word[-1] != "a" else "b")  # one letter off
        found = await client.get(
            f"{platform.search_url}/products/search",
            params={"q": f"hdmi cabel {typo}", "min_position": body["position"], "wait_ms": 10_000},
        )
        assert found.status_code == 200, found.text
        assert "X-Consistency" not in found.headers
        assert int(found.headers["X-Position"]) >= body["position"]
        items = found.json()["items"]
        assert [i["sku"] for i in items] == [sku]
        assert items[0]["price"] == {"amount": "19.99", "currency": "USD"}

        detail = await client.get(f"{platform.search_url}/products/{sku}")
        assert detail.status_code == 200
        assert detail.json()["description"] == "A high speed cable"  # HTML stripped for search and display

    # The event is in the store, once, with its transaction id as the position the write answered.
    conn = await asyncpg.connect(namespace.database_url)
    try:
        rows = await conn.fetch(
            "SELECT event_type, version, transaction_id::text::bigint AS xid FROM events WHERE stream_id = $1",
            f"product-{sku}",
        )
    finally:
        await conn.close()
    assert [(r["event_type"], r["version"], r["xid"]) for r in rows] == [("ProductRegistered", 1, body["position"])]


async def test_write_routes_need_the_right_role(platform: Platform) -> None:
    sku = f"SKU-{secrets.token_hex(4)}"
    async with httpx.AsyncClient(timeout=30) as client:
        missing = await client.post(f"{platform.write_url}/products", json=product(sku, "Cable"))
        wrong = await client.post(
            f"{platform.write_url}/products", headers=auth("warehouse"), json=product(sku, "Cable")
        )
        unknown = await client.post(
            f"{platform.write_url}/products", headers={"Authorization": "Bearer nope"}, json=product(sku, "Cable")
        )
    assert (missing.status_code, missing.json()["error"]["code"]) == (401, "unauthorized")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (403, "forbidden")
    assert unknown.status_code == 401


async def test_every_process_serves_health_readiness_and_metrics(platform: Platform) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        for name in ("write_api", "relay", "projector", "search_api"):
            for path in ("/healthz", "/readyz"):
                response = await client.get(f"{platform.url(name)}{path}")
                assert response.status_code == 200, (name, path, response.text)
            metrics = await client.get(f"{platform.url(name)}/metrics")
            assert metrics.status_code == 200
            assert "# TYPE" in metrics.text
        relay = (await client.get(f"{platform.url('relay')}/metrics")).text
        assert "relay_position" in relay and "relay_lag_events" in relay
        projector = (await client.get(f"{platform.url('projector')}/metrics")).text
        assert 'projection_position{projection="products"}' in projector


def test_the_read_side_pipeline_runs_at_its_cpu_priority(platform: Platform) -> None:
    """README "CPU priority": the relay and the projector run at PIPELINE_NICE (negative values only as root), each in
    a session of its own whose autogroup has the same nice; the APIs at normal priority, in sessions of their own."""
    expected = pipeline_nice()
    for name in ("relay", "projector", "write_api", "search_api"):
        pid = platform.processes[name].pid
        want = expected if name in PIPELINE else 0
        assert os.getsid(pid) == pid, name
        assert os.getpriority(os.PRIO_PROCESS, pid) == want, name
        autogroup = Path(f"/proc/{pid}/autogroup")
        if autogroup.exists():  # kernels built with autogroup scheduling
            assert autogroup.read_text().split()[-1] == str(want), name
