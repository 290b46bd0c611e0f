"""The demo loader of `make up` against a write API started with API_KEYS: it sends the keys the platform was started
with, and without a plain key it says in one line what API_KEYS must hold (and sends nothing)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import sys
from pathlib import Path

import asyncpg

from tests.conftest import Namespace
from tests.integration.write_conftest_helpers import create_database, drop_database, new_platform, start

ROOT = Path(__file__).resolve().parents[2]
ROLES = ("catalog", "warehouse", "storefront", "backoffice")


async def run_seed(write_url: str, api_keys: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("API_KEYS", "DEMO_"))}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "infra.demo.seed", "--write-url", write_url, "--limit", "30", "--orders", "6"),
        cwd=ROOT,
        env={**env, "API_KEYS": api_keys, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 240)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_the_demo_loader_sends_the_keys_the_platform_was_started_with(
    namespace: Namespace, tmp_path: Path
) -> None:
    database_url = await create_database(namespace, "demo")
    platform = new_platform(namespace, database_url, tmp_path)
    keys = {role: f"{role}-{secrets.token_hex(12)}" for role in ROLES}
    api_keys = ",".join(f"{role}:{key}" for role, key in keys.items())
    try:
        await start(platform, "write_api", ENVIRONMENT="test", API_KEYS=api_keys)
        db = await asyncpg.connect(database_url)
        try:
            # Only hashed keys: nothing can be sent, and one line says what API_KEYS needs.
            hashed = ",".join(f"{role}:sha256:{hashlib.sha256(key.encode()).hexdigest()}" for role, key in keys.items())
            code, out = await run_seed(platform.write_url, hashed)
            assert code == 2, out
            [line] = [line for line in out.splitlines() if "API_KEYS" in line]
            assert "catalog:<key>" in line
            assert await db.fetchval("SELECT count(*) FROM events") == 0

            code, out = await run_seed(platform.write_url, api_keys)
            assert code == 0, out
            assert "401" not in out
            products = await db.fetchval("SELECT count(*) FROM events WHERE event_type = 'ProductRegistered'")
            assert products == 30
            assert await db.fetchval("SELECT count(*) FROM events WHERE event_type = 'StockReceived'") > 0
            assert await db.fetchval("SELECT count(*) FROM events WHERE event_type = 'OrderPlaced'") > 0
        finally:
            await db.close()
    finally:
        platform.stop_all()
        await drop_database(namespace, database_url)
