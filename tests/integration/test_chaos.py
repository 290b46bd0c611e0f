"""Every process rides out every fault on its own (issue 15), against servers of the test's own.

Under a steady order load from retrying, idempotent clients (each order keeps its Idempotency-Key until it is
answered) and a reader of the search API, in turn: kill -9 the write API, the relay, the projector, the search API,
RabbitMQ, PostgreSQL and Elasticsearch, each started again by the test after a few seconds (only the killed one);
then Elasticsearch frozen (SIGSTOP) for 20 s. While a server is gone, the processes that use it say 503 on /readyz;
after each fault every process is ready again by itself. Then:
- every acknowledged order is in the orders index, and no order was placed twice (one per client request);
- reserved stock per SKU and warehouse equals the acknowledged orders' allocations (in the store and the index);
- `python -m projector verify` passes, nothing is parked;
- every process that was not killed is still the same process;
- every answer during the faults was 2xx, 4xx or 503 (never another 5xx).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.conftest import Namespace
from tests.integration.private_servers import PrivateElasticsearch, PrivatePostgres, PrivateRabbit, PrivateServer
from tests.integration.stack import Stack, assert_stock_matches_store, es_documents, store_stock
from tests.integration.write_conftest_helpers import auth, client, order_body
from tests.platform import Platform, free_port, platform_env
from write_api.migrate import migrate

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

PROCESSES = ("projector", "relay", "write_api", "search_api")
WAREHOUSES = ("ams", "ber")
SKUS = [f"CHAOS-{n:03d}" for n in range(40)]
CLIENTS = 6
DOWN_S = 4  # how long a killed process or server stays down
FREEZE_S = 20
# Who must say 503 on /readyz while a server is gone.
DEPENDENTS = {
    "postgres": ("write_api", "relay"),
    "rabbitmq": ("relay", "projector"),
    "elasticsearch": ("search_api", "projector"),
}


@dataclass
class Servers:
    postgres: PrivatePostgres
    rabbitmq: PrivateRabbit
    elasticsearch: PrivateElasticsearch

    def by_name(self, name: str) -> PrivateServer:
        server: PrivateServer = getattr(self, name)
        return server


@pytest_asyncio.fixture(scope="module")
async def servers() -> AsyncIterator[Servers]:
    # Not under pytest's temporary folder: PostgreSQL and Elasticsearch run as users of their own, and every pytest
    # session that starts on the machine makes /tmp/pytest-of-<user> private again (mode 700), locking them out.
    home = Path(tempfile.mkdtemp(prefix="shop-chaos-"))
    made = Servers(
        PrivatePostgres(home / "postgres"),
        PrivateRabbit(home / "rabbitmq"),
        PrivateElasticsearch(home / "elasticsearch"),
    )
    all_three = (made.postgres, made.rabbitmq, made.elasticsearch)
    try:
        await asyncio.gather(*(server.start() for server in all_three))
        await migrate(made.postgres.url)
        yield made
    finally:
        for server in all_three:
            with contextlib.suppress(Exception):
                server.thaw()
            with contextlib.suppress(Exception):
                await server.stop()
        shutil.rmtree(home, ignore_errors=True)


@dataclass
class Load:
    """Order clients that retry until answered, with the same Idempotency-Key and body, and a search reader."""

    write: httpx.AsyncClient
    search: httpx.AsyncClient
    statuses: Counter[str] = field(default_factory=Counter)
    acknowledged: dict[str, dict[str, Any]] = field(default_factory=dict)  # client request (key) -> order
    refused: Counter[str] = field(default_factory=Counter)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    answered_at: float = field(default_factory=time.monotonic)

    async def place(self, key: str, rng: random.Random) -> None:
        lines = [(sku, rng.randint(1, 3)) for sku in rng.sample(SKUS, 2)]
        body = order_body(lines, customer_id=key)  # one customer per client request: a second order would show
        headers = {**auth("storefront"), "Idempotency-Key": key}
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                response = await self.write.post("/orders", json=body, headers=headers)
            except httpx.TransportError:  # the write API is down: try again
                await asyncio.sleep(0.3)
                continue
            self.statuses[f"write {response.status_code}"] += 1
            if response.status_code == 503:
                await asyncio.sleep(0.3)
                continue
            if response.status_code == 201:
                self.acknowledged[key] = response.json()
            else:
                self.refused[f"{response.status_code} {response.json()['error']['code']}"] += 1
            self.answered_at = time.monotonic()
            return
        raise AssertionError(f"order {key} was never answered")

    async def client(self, number: int) -> None:
        rng = random.Random(number)
        count = 0
        while not self.stop.is_set():
            count += 1
            await self.place(f"chaos-{number}-{count}", rng)
            await asyncio.sleep(rng.uniform(0.02, 0.1))

    async def reader(self) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(httpx.TransportError):
                response = await self.search.get("/products/search", params={"q": "chaos cable", "size": 5})
                self.statuses[f"search {response.status_code}"] += 1
                if self.acknowledged:
                    order = next(iter(self.acknowledged.values()))["order_id"]
                    response = await self.search.get(f"/orders/{order}", headers=auth("backoffice"))
                    self.statuses[f"search {response.status_code}"] += 1
            await asyncio.sleep(0.2)


async def readiness(platform: Platform, name: str) -> int | None:
    try:
        async with httpx.AsyncClient(timeout=3) as http:
            return (await http.get(f"{platform.url(name)}/readyz")).status_code
    except httpx.HTTPError:
        return None


async def all_ready(platform: Platform, within: float) -> None:
    """Every process says ready again by itself (a live process that stopped working would not)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        states = {name: await readiness(platform, name) for name in PROCESSES}
        if all(state == 200 for state in states.values()):
            return
        await asyncio.sleep(0.5)
    tails = "\n".join(f"--- {name}\n{platform.tail(name)}" for name in PROCESSES)
    raise AssertionError(f"not ready again {within} s after the fault: {states}\n{tails}")


@dataclass
class Faults:
    platform: Platform
    servers: Servers
    load: Load
    pids: dict[str, int]
    seen: list[dict[str, Any]] = field(default_factory=list)

    async def progress(self) -> None:
        """Until a few more orders have been answered."""
        answered = sum(self.load.statuses.values())
        deadline = time.monotonic() + 60
        while sum(self.load.statuses.values()) < answered + 20:
            assert time.monotonic() < deadline, f"no progress: {self.load.statuses}"
            await asyncio.sleep(0.2)

    async def kill_process(self, name: str) -> None:
        await asyncio.to_thread(self.platform.kill, name)
        await asyncio.sleep(DOWN_S)
        await asyncio.to_thread(self.platform.start, name, True)
        self.pids[name] = self.platform.processes[name].pid
        await self.after(f"kill -9 {name}")

    async def kill_server(self, name: str) -> None:
        server = self.servers.by_name(name)
        await server.kill()
        await asyncio.sleep(DOWN_S / 2)
        ready = {p: await readiness(self.platform, p) for p in DEPENDENTS[name]}
        await asyncio.sleep(DOWN_S / 2)
        await server.start()
        assert all(state == 503 for state in ready.values()), f"{name} down, yet /readyz said {ready}"
        await self.after(f"kill -9 {name}")

    async def freeze_elasticsearch(self) -> None:
        self.servers.elasticsearch.freeze()
        try:
            await asyncio.sleep(FREEZE_S)
        finally:
            self.servers.elasticsearch.thaw()
        await self.after(f"Elasticsearch frozen {FREEZE_S} s")

    async def after(self, fault: str) -> None:
        started = time.monotonic()
        await all_ready(self.platform, within=120)
        await self.progress()
        alive = {name: process.poll() is None for name, process in self.platform.processes.items()}
        assert all(alive.values()), f"after {fault}: a process exited: {alive}"
        same = {name: self.platform.processes[name].pid for name in PROCESSES}
        assert same == self.pids, f"after {fault}: a process that was not killed was replaced: {same} != {self.pids}"
        self.seen.append({"fault": fault, "ready_again_s": round(time.monotonic() - started, 1)})


async def test_the_write_api_answers_503_while_postgres_is_gone_and_then_carries_on(
    servers: Servers, tmp_path: Path
) -> None:
    """The reconnect path of the write API alone: the pool's connections die with the server, every command meanwhile
    is a 503 with Retry-After (once, a 500: a connection of the pool met the server going, 57P01), and once the
    server is back commands succeed again on new connections, in the same process."""
    ports = {name: free_port() for name in PROCESSES}
    env = platform_env(servers.postgres.url, servers.rabbitmq.url, "", servers.elasticsearch.url, "", ports)
    platform = Platform(env, tmp_path, ports)
    await asyncio.to_thread(platform.start, "write_api", True)
    pid = platform.processes["write_api"].pid
    body = {"sku": "PG-1", "name": "Cable", "price": {"amount": "1.00", "currency": "EUR"}}
    try:
        async with httpx.AsyncClient(base_url=platform.write_url, timeout=30) as http:
            assert (await http.post("/products", json=body, headers=auth("catalog"))).status_code == 201
            await servers.postgres.kill()
            answers = [
                await http.patch("/products/PG-1", json={"name": f"n{n}"}, headers=auth("catalog")) for n in range(8)
            ]
            assert {a.status_code for a in answers} == {503}, [(a.status_code, a.text) for a in answers]
            assert all(a.headers["Retry-After"] == "1" for a in answers)
            assert (await http.get("/readyz")).status_code == 503
            await servers.postgres.start()
            deadline = time.monotonic() + 30
            while (
                changed := await http.patch("/products/PG-1", json={"name": "back"}, headers=auth("catalog"))
            ).status_code == 503:
                assert time.monotonic() < deadline, changed.text
                await asyncio.sleep(0.2)
            assert changed.status_code == 200, changed.text
            assert (await http.get("/readyz")).status_code == 200
        assert platform.processes["write_api"].poll() is None and platform.processes["write_api"].pid == pid
    finally:
        await asyncio.to_thread(platform.stop_all)


async def test_every_process_rides_out_every_fault(servers: Servers, namespace: Namespace, tmp_path: Path) -> None:
    ports = {name: free_port() for name in PROCESSES}
    env = platform_env(servers.postgres.url, servers.rabbitmq.url, "", servers.elasticsearch.url, "", ports)
    platform = Platform(env, tmp_path, ports)
    own = Namespace(
        servers.postgres.url, servers.postgres.url, "", servers.rabbitmq.url, "", servers.elasticsearch.url, ""
    )
    stack = Stack("chaos", own, servers.postgres.url, "", "", platform)
    try:
        for name in PROCESSES:
            await asyncio.to_thread(platform.start, name, True)
        await catalogue(platform)
        async with (
            client(platform.write_url, connections=64, timeout=60) as write,
            client(platform.search_url, connections=8, timeout=60) as search,
        ):
            load = Load(write, search)
            faults = Faults(platform, servers, load, {n: platform.processes[n].pid for n in PROCESSES})
            workers = [asyncio.create_task(load.client(n)) for n in range(CLIENTS)] + [
                asyncio.create_task(load.reader())
            ]
            try:
                await faults.progress()
                for name in ("write_api", "relay", "projector", "search_api"):
                    await faults.kill_process(name)
                for name in ("rabbitmq", "postgres", "elasticsearch"):
                    await faults.kill_server(name)
                await faults.freeze_elasticsearch()
            finally:
                load.stop.set()
                await asyncio.gather(*workers)
        print(f"faults: {faults.seen}\nanswers: {dict(load.statuses)}\nrefused: {dict(load.refused)}")
        await check_outcome(stack, load)
    finally:
        await asyncio.to_thread(platform.stop_all)


async def catalogue(platform: Platform) -> None:
    products = [
        {"sku": sku, "name": f"Chaos cable {sku}", "brand": "Acme", "price": {"amount": "4.50", "currency": "EUR"}}
        for sku in SKUS
    ]
    receipts = [{"sku": sku, "warehouse": w, "quantity": 100_000} for sku in SKUS for w in WAREHOUSES]
    async with httpx.AsyncClient(base_url=platform.write_url, timeout=60) as http:
        imported = await http.post("/products/import", json=products, headers=auth("catalog"))
        assert imported.status_code == 200 and not imported.json()["rejected"], imported.text
        received = await http.post("/inventory/receipts", json=receipts, headers=auth("warehouse"))
        assert received.status_code == 200 and not received.json()["rejected"], received.text


async def check_outcome(stack: Stack, load: Load) -> None:
    other_5xx = {s: n for s, n in load.statuses.items() if s.split()[1].startswith("5") and not s.endswith(" 503")}
    assert not other_5xx, f"answers other than 2xx, 4xx and 503: {other_5xx}"
    assert len(load.acknowledged) > 100, load.statuses
    last = max(int(order["position"]) for order in load.acknowledged.values())
    await stack.wait_drained(last, within=180)

    orders = await es_documents(stack.es_url, "orders")
    per_customer = Counter(doc["customer"]["id"] for doc in orders.values())
    twice = {customer: n for customer, n in per_customer.items() if n > 1}
    assert not twice, f"orders placed twice for one client request: {twice}"
    missing = {key for key, order in load.acknowledged.items() if order["order_id"] not in orders}
    assert not missing, f"acknowledged orders missing from the index: {sorted(missing)[:10]}"
    assert set(per_customer) == set(load.acknowledged), set(per_customer) ^ set(load.acknowledged)

    reserved: dict[tuple[str, str], int] = defaultdict(int)
    for order in load.acknowledged.values():
        for line in order["lines"]:
            for allocation in line["allocations"]:
                reserved[(line["sku"], allocation["warehouse"])] += allocation["quantity"]
    stock = await store_stock(stack.database_url)
    in_store = {key: r for key, (_, r) in stock.items() if r}
    assert in_store == dict(reserved), "reserved stock in the store differs from the acknowledged orders"
    await assert_stock_matches_store(stack)  # ... and the indices hold exactly the store's stock
    await stack.assert_nothing_parked()
    await stack.assert_verified()
