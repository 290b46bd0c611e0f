"""Both APIs against their own OpenAPI documents, with schemathesis (a pinned dev dependency), on a platform of
their own (database, broker prefix, index prefix): the four real processes on the real services.

For each API and each role's key, `st run` with its stateless phases (examples, coverage: every documented
constraint at and past its edge; fuzzing) and the stateful phase (sequences along the documents' links: register a
product and change it, place an order and cancel it, search and read what was found), and every check schemathesis
has (`-c all`): no 5xx; every status, content type, header and body as documented; schema-valid requests accepted
and schema-violating ones refused; 405 with Allow for undocumented methods; 401 without the key. The settings beside
this file say which refusals of schema-valid requests are the rules JSON Schema cannot state (README "Tests").
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from tests.conftest import Namespace, delete_broker_objects
from tests.integration.write_conftest_helpers import auth, create_database, drop_database, product_body
from tests.platform import KEYS, Platform, free_port, platform_env

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

SETTINGS = Path(__file__).with_name("schemathesis.toml")
ST = Path(sys.executable).with_name("st")
# Examples per operation: the admin key reaches every route, the other roles' runs are mostly about 401/403. The
# search API's reads take many parameters each, so its coverage phase alone sends many requests per operation.
ROLES = ("admin", "catalog", "warehouse", "storefront", "backoffice")
EXAMPLES = {"write": {"admin": 30, "other": 8}, "search": {"admin": 15, "other": 5}}
SEED = 20261202  # fixed, so that a run can be repeated; a failure prints its own reproduction


@pytest_asyncio.fixture(scope="module")
async def platform(namespace: Namespace, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    tag = f"oa{secrets.token_hex(2)}"
    database_url = await create_database(namespace, tag)
    rabbitmq_prefix, es_prefix = f"{namespace.rabbitmq_prefix}{tag}.", f"{namespace.elasticsearch_prefix}{tag}-"
    ports = {name: free_port() for name in ("write_api", "relay", "projector", "search_api")}
    env = platform_env(
        database_url, namespace.rabbitmq_url, rabbitmq_prefix, namespace.elasticsearch_url, es_prefix, ports
    )
    running = Platform(env, tmp_path_factory.mktemp("openapi-platform"), ports)
    try:
        for name in ("projector", "relay", "write_api", "search_api"):
            await asyncio.to_thread(running.start, name)
        await seed(running)
        yield running
    finally:
        await asyncio.to_thread(running.stop_all)
        with contextlib.suppress(Exception):
            await delete_broker_objects(namespace.rabbitmq_url, rabbitmq_prefix)
        async with httpx.AsyncClient(timeout=60) as es:
            await es.delete(f"{namespace.elasticsearch_url}/{es_prefix}*")
        await drop_database(namespace, database_url)


async def seed(platform: Platform) -> None:
    """A few products with stock and an order, so that reads find something and links have somewhere to go."""
    async with httpx.AsyncClient(base_url=platform.write_url, timeout=30) as http:
        for n in range(3):
            sku = f"OA-{n}"
            assert (await http.post("/products", json=product_body(sku), headers=auth("catalog"))).status_code == 201
            receipt = {"warehouse": "ams", "quantity": 50}
            answer = await http.post(f"/inventory/{sku}/receipts", json=receipt, headers=auth("warehouse"))
            assert answer.status_code == 200, answer.text


def st_run(platform: Platform, api: str, role: str, report: Path) -> tuple[int, str]:
    url = platform.write_url if api == "write" else platform.search_url
    command = [
        str(ST),
        "--config-file",
        str(SETTINGS),
        "run",
        f"{url}/openapi.json",
        "--header",
        f"Authorization: Bearer {KEYS[role]}",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(EXAMPLES[api]["admin" if role == "admin" else "other"]),
        "--seed",
        str(SEED),
        "--workers",
        "2",
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(report),
    ]
    env = {**os.environ, "NO_COLOR": "1"}
    # Run in the test's folder: schemathesis keeps a cache of what it found (.schemathesis/) where it runs.
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=600, env=env, cwd=report)
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("api", ["write", "search"])
async def test_the_api_does_what_its_openapi_document_says(
    platform: Platform, api: str, role: str, tmp_path: Path
) -> None:
    code, output = await asyncio.to_thread(st_run, platform, api, role, tmp_path)
    assert code == 0, f"schemathesis found failures ({api} API, {role} key):\n{output[-20000:]}"
    # It ran: operations were tested and requests answered (a run that tested nothing would also exit 0).
    assert "Tested:" in output and "generated" in output, output[-3000:]
    tested = int(output.split("Tested:", 1)[1].split()[0])
    assert tested >= (10 if api == "write" else 9), output[-3000:]
