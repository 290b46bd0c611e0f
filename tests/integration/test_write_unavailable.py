"""With PostgreSQL unreachable the write API still starts, says it is not ready, and answers 503 with
Retry-After to commands (never a 500)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.platform import KEYS, Platform, free_port, platform_env

pytestmark = pytest.mark.integration


def test_commands_get_503_with_retry_after_while_postgres_is_unreachable(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("write_api", "relay", "projector", "search_api")}
    dead = f"postgresql://shop:shop@127.0.0.1:{free_port()}/shop"  # nothing listens there
    env = platform_env(dead, "amqp://guest:guest@127.0.0.1:1/", "", "http://127.0.0.1:1", "", ports)
    platform = Platform(env, tmp_path, ports)  # pytest keeps the last few runs' logs, not every one
    platform.start("write_api", wait=False)
    try:
        client = httpx.Client(timeout=10)
        for _ in range(100):
            try:
                health = client.get(f"{platform.write_url}/healthz")
                break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail(f"write API did not start:\n{platform.tail('write_api')}")
        assert health.status_code == 200
        ready = client.get(f"{platform.write_url}/readyz")
        assert ready.status_code == 503
        response = client.post(
            f"{platform.write_url}/products",
            headers={"Authorization": f"Bearer {KEYS['catalog']}"},
            json={"sku": "X-1", "name": "Cable", "price": {"amount": "1.00", "currency": "USD"}},
        )
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == "1"
        assert response.json()["error"]["code"] == "unavailable"
    finally:
        platform.stop_all()
