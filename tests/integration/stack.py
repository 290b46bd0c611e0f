"""One isolated platform ("stack") for the projector's fault tests: its own database, RabbitMQ prefix and
Elasticsearch prefix, its processes, the commands that load it, and what to read back from it."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import secrets
import signal
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx

from shared.messaging import parked_queue_name, queue_name
from tests.conftest import Namespace
from tests.integration.write_conftest_helpers import auth, client, order_body
from tests.platform import Platform, free_port, platform_env, projector_cli
from tests.services import ROOT

PROJECTIONS = ("products", "inventory", "orders")
WAREHOUSES = ("ams", "ber")
ES_PID_FILE = ROOT / ".state" / "run" / "elasticsearch.pid"
ES_PAUSE_SECONDS = 20
STATUS_LINE = re.compile(r"^(\w+): position (-?\d+), waiting (-?\d+), parked (-?\d+)$", re.MULTILINE)
SAMPLE = re.compile(r'^(\w+)\{projection="(\w+)"\} (\S+)$', re.MULTILINE)


# ---------------------------------------------------------------------------------------------------------------
# One isolated stack: its own database, RabbitMQ prefix and Elasticsearch prefix, and its processes


@dataclass
class Stack:
    label: str
    namespace: Namespace
    database_url: str
    rabbitmq_prefix: str
    elasticsearch_prefix: str
    platform: Platform

    @property
    def es_url(self) -> str:
        return self.namespace.elasticsearch_url

    async def start(self, *names: str) -> None:
        """Start processes (at once) and wait until each is ready."""
        await asyncio.gather(*(asyncio.to_thread(self.platform.start, name, True) for name in names))

    async def relay_position(self) -> int:
        async with httpx.AsyncClient(timeout=5) as http:
            response = await http.get(f"{self.platform.url('relay')}/metrics")
        response.raise_for_status()
        found = re.search(r"^relay_position (\S+)$", response.text, re.MULTILINE)
        assert found, response.text
        return int(float(found[1]))

    async def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        await asyncio.to_thread(self.platform.kill, name, sig)

    def pid(self, name: str) -> int:
        return self.platform.processes[name].pid

    async def cli(self, *args: str, within: float = 120) -> tuple[int, str]:
        """`python -m projector <args>` against this stack; (exit status, stdout)."""
        code, out, err = await projector_cli(self.platform, *args, within=within)
        if code not in (0, 1):
            raise AssertionError(f"projector {' '.join(args)} exited {code}:\n{err[-3000:]}")
        return code, out

    async def status(self) -> dict[str, tuple[int, int, int]]:
        """`python -m projector status`: projection -> (position, waiting, parked)."""
        code, out = await self.cli("status")
        assert code == 0, out
        found = {m[1]: (int(m[2]), int(m[3]), int(m[4])) for m in STATUS_LINE.finditer(out)}
        assert set(found) == set(PROJECTIONS), out
        return found

    async def metrics(self) -> dict[str, dict[str, float]]:
        """The projector's labelled samples: metric -> projection -> value."""
        async with httpx.AsyncClient(timeout=5) as http:
            response = await http.get(f"{self.platform.url('projector')}/metrics")
        response.raise_for_status()
        samples: dict[str, dict[str, float]] = defaultdict(dict)
        for m in SAMPLE.finditer(response.text):
            samples[m[1]][m[2]] = float(m[3])
        return samples

    async def positions(self) -> dict[str, int]:
        """Each projection's recorded (applied) position, straight from Elasticsearch."""
        async with httpx.AsyncClient(base_url=self.es_url, timeout=30) as es:
            response = await es.post(
                f"/{self.elasticsearch_prefix}projection-positions/_mget", json={"ids": list(PROJECTIONS)}
            )
        if response.status_code == 404:
            return dict.fromkeys(PROJECTIONS, 0)
        response.raise_for_status()
        return {d["_id"]: int(d["_source"]["position"]) if d.get("found") else 0 for d in response.json()["docs"]}

    async def queue_depths(self) -> dict[str, tuple[int, int]]:
        """projection -> (ready messages in its queue, messages in its parking queue)."""
        connection = await aio_pika.connect(self.namespace.rabbitmq_url)
        try:
            channel = await connection.channel()
            depths = {}
            for name in PROJECTIONS:
                queue = await channel.declare_queue(queue_name(self.rabbitmq_prefix, name), passive=True)
                parked = await channel.declare_queue(parked_queue_name(self.rabbitmq_prefix, name), passive=True)
                depths[name] = (
                    queue.declaration_result.message_count or 0,
                    parked.declaration_result.message_count or 0,
                )
            return depths
        finally:
            await connection.close()

    async def wait_drained(self, position: int, within: float) -> None:
        """Until every projection has applied `position` and its queue has stayed empty for a moment."""
        deadline = time.monotonic() + within
        quiet = 0
        positions: dict[str, int] = {}
        depths: dict[str, tuple[int, int]] = {}
        while time.monotonic() < deadline:
            positions, depths = await self.positions(), await self.queue_depths()
            if all(p >= position for p in positions.values()) and all(d[0] == 0 for d in depths.values()):
                quiet += 1
                if quiet >= 3:
                    return
            else:
                quiet = 0
            await asyncio.sleep(0.5)
        raise AssertionError(
            f"{self.label}: projections not caught up with {position} after {within} s: positions {positions}, "
            f"(waiting, parked) {depths}\n{self.platform.tail('projector')}"
        )

    async def assert_nothing_parked(self) -> None:
        status = await self.status()
        assert {name: s[2] for name, s in status.items()} == dict.fromkeys(PROJECTIONS, 0), status
        assert {name: s[1] for name, s in status.items()} == dict.fromkeys(PROJECTIONS, 0), status
        if "projector" in self.platform.processes:
            # The gauge is refreshed every 2 s by the consumer.
            await asyncio.sleep(2.5)
            parked = (await self.metrics()).get("projection_parked_messages", {})
            assert parked == dict.fromkeys(PROJECTIONS, 0.0), parked

    async def verify(self, *projections: str) -> tuple[int, str]:
        return await self.cli("verify", *projections, within=180)

    async def assert_verified(self, *projections: str) -> str:
        code, out = await self.verify(*projections)
        assert code == 0, f"projector verify found differences:\n{out}"
        names = projections or PROJECTIONS
        for name in names:
            assert re.search(rf"^{name}: .*OK$", out, re.MULTILINE), out
        return out


def new_platform(namespace: Namespace, database_url: str, rabbitmq_prefix: str, es_prefix: str, logs: Path) -> Platform:
    ports = {name: free_port() for name in ("write_api", "relay", "projector", "search_api")}
    env = platform_env(
        database_url, namespace.rabbitmq_url, rabbitmq_prefix, namespace.elasticsearch_url, es_prefix, ports
    )
    return Platform(env, logs, ports)


# ---------------------------------------------------------------------------------------------------------------
# Writing through the write API


# (method, path, role, body)
Request = tuple[str, str, str, Any]
# A request, or None for "place a random 3-line order".
Command = Request | None


@dataclass
class Burst:
    """Commands sent through the write API; answers counted by status."""

    http: httpx.AsyncClient
    rng: random.Random
    tag: str
    concurrency: int = 16
    statuses: Counter[str] = field(default_factory=Counter)
    answered: int = 0
    last_position: int = 0
    skus: list[str] = field(default_factory=list)
    orders: list[str] = field(default_factory=list)

    async def send(self, method: str, path: str, role: str, body: Any, ok: tuple[int, ...] = (200, 201)) -> Any:
        response = await self.http.request(method, path, json=body, headers=auth(role))
        self.answered += 1
        kind = path.split("/")[1]
        self.statuses[f"{kind} {response.status_code}"] += 1
        assert response.status_code < 500, f"{method} {path}: {response.status_code} {response.text}"
        if response.status_code in ok:
            answer = response.json()
            self.last_position = max(self.last_position, int(answer.get("position") or 0))
            return answer
        assert response.status_code == 409, f"{method} {path}: {response.status_code} {response.text}"
        return None

    async def many(self, commands: Sequence[Command]) -> None:
        """Send commands (None: place an order) at the burst's concurrency."""
        gate = asyncio.Semaphore(self.concurrency)

        async def one(command: Command) -> None:
            async with gate:
                if command is None:
                    await self.place_order()
                else:
                    await self.send(*command)

        await asyncio.gather(*(one(c) for c in commands))

    async def reached(self, answered: int) -> None:
        """Returns once `answered` commands have been answered."""
        while self.answered < answered:  # noqa: ASYNC110 - a progress poll, not a wake-up
            await asyncio.sleep(0.05)

    async def catalogue(self, products: int, registered_one_by_one: int = 0) -> None:
        """Products by import (chunks of 100) and some by POST /products; two warehouses of stock each."""
        new = [f"{self.tag}-{n:05d}" for n in range(len(self.skus), len(self.skus) + products)]
        bodies = [
            {
                "sku": sku,
                "name": f"Fault test cable {sku}",
                "brand": self.rng.choice(["Acme", "Belkin", "Hama"]),
                "category": "Cables" if n % 3 else None,
                "price": {"amount": f"{1 + n % 50}.90", "currency": "EUR"},
                "attributes": {"colour": self.rng.choice(["black", "white"])},
            }
            for n, sku in enumerate(new)
        ]
        bulk, single = bodies[registered_one_by_one:], bodies[:registered_one_by_one]
        for start in range(0, len(bulk), 100):
            answer = await self.send("POST", "/products/import", "catalog", bulk[start : start + 100])
            assert not answer["rejected"], answer
        await self.many([("POST", "/products", "catalog", b) for b in single])
        self.skus += new
        receipts = [
            {"sku": sku, "warehouse": w, "quantity": self.rng.randint(50, 200)} for sku in new for w in WAREHOUSES
        ]
        for start in range(0, len(receipts), 400):
            answer = await self.send("POST", "/inventory/receipts", "warehouse", receipts[start : start + 400])
            assert not answer["rejected"], answer

    async def place_order(self) -> None:
        lines = [(sku, self.rng.randint(1, 3)) for sku in self.rng.sample(self.skus, 3)]
        answer = await self.send("POST", "/orders", "storefront", order_body(lines))
        if answer is not None:
            self.orders.append(answer["order_id"])

    def side_command(self) -> Request:
        """One of the product and stock commands that accompany orders."""
        kind = self.rng.choices(["receipt", "price", "rename", "threshold", "adjust"], [8, 3, 2, 2, 2])[0]
        # Prices change on some SKUs, names on others: a rename after a price change is parked by the inventory
        # projection (test_rename_after_price_change_*), which these bursts are not about.
        sku = self.rng.choice(
            self.skus[0::2] if kind == "price" else self.skus[1::2] if kind == "rename" else self.skus
        )
        warehouse = self.rng.choice(WAREHOUSES)
        if kind == "receipt":
            return ("POST", f"/inventory/{sku}/receipts", "warehouse", {"warehouse": warehouse, "quantity": 5})
        if kind == "price":
            price = {"amount": f"{self.rng.randint(1, 99)}.{self.rng.randint(10, 99)}", "currency": "EUR"}
            return ("PUT", f"/products/{sku}/price", "catalog", price)
        if kind == "rename":
            return ("PATCH", f"/products/{sku}", "catalog", {"name": f"Renamed HDMI cable {secrets.token_hex(3)}"})
        if kind == "threshold":
            threshold = {"low_stock_threshold": self.rng.randint(0, 20)}
            return ("PUT", f"/inventory/{sku}/thresholds/{warehouse}", "warehouse", threshold)
        delta = self.rng.choice([3, -1])
        adjustment = {"warehouse": warehouse, "delta": delta, "reason": "found" if delta > 0 else "damaged"}
        return ("POST", f"/inventory/{sku}/adjustments", "warehouse", adjustment)

    async def trade(self, orders: int = 0, side_per_order: float = 0.25, until: asyncio.Event | None = None) -> None:
        """`orders` 3-line orders (or as many as fit until `until` is set) with product and stock commands mixed in,
        then line additions, cancellations and shipments of some of the new orders."""
        first = len(self.orders)
        if until is None:
            commands: list[Command] = []
            for _ in range(orders):
                commands.append(None)
                if self.rng.random() < side_per_order:
                    commands.append(self.side_command())
            await self.many(commands)
        else:

            async def worker() -> None:
                while not until.is_set():
                    await self.place_order()
                    if self.rng.random() < side_per_order:
                        await self.send(*self.side_command())

            await asyncio.gather(*(worker() for _ in range(self.concurrency)))
        placed = self.orders[first:]
        self.rng.shuffle(placed)
        tenth = max(1, len(placed) // 10)
        line = {"sku": self.rng.choice(self.skus), "quantity": 1}
        await self.many([("POST", f"/orders/{o}/lines", "storefront", line) for o in placed[:tenth]])
        cancel = {"reason": "customer changed mind"}
        await self.many(
            [("POST", f"/orders/{o}/cancel", "backoffice", cancel) for o in placed[tenth : 2 * tenth]]
            + [("POST", f"/orders/{o}/ship", "backoffice", {"carrier": "DHL"}) for o in placed[2 * tenth : 3 * tenth]]
        )


@contextlib.asynccontextmanager
async def burst(stack: Stack, seed: int, concurrency: int = 16) -> AsyncIterator[Burst]:
    async with client(stack.platform.write_url, connections=concurrency * 2, timeout=60) as http:
        yield Burst(http, random.Random(seed), f"F{seed}", concurrency)


# ---------------------------------------------------------------------------------------------------------------
# Reading the store and the indices


async def store_stock(database_url: str) -> dict[tuple[str, str], tuple[int, int]]:
    """(sku, warehouse) -> (on hand, reserved), folded with plain SQL from the inventory events (not with the
    projector's code)."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            """
            SELECT data->>'sku' AS sku, data->>'warehouse' AS warehouse,
                   sum(CASE event_type WHEN 'StockReceived' THEN (data->>'quantity')::int
                                       WHEN 'StockAdjusted' THEN (data->>'delta')::int
                                       WHEN 'StockShipped' THEN -(data->>'quantity')::int ELSE 0 END) AS on_hand,
                   sum(CASE event_type WHEN 'StockReserved' THEN (data->>'quantity')::int
                                       WHEN 'StockReservationReleased' THEN -(data->>'quantity')::int
                                       WHEN 'StockShipped' THEN -(data->>'quantity')::int ELSE 0 END) AS reserved
            FROM events WHERE stream_type = 'inventory'
            GROUP BY 1, 2
            """
        )
    finally:
        await conn.close()
    stock = {(r["sku"], r["warehouse"]): (int(r["on_hand"]), int(r["reserved"])) for r in rows}
    return stock


async def es_documents(es_url: str, index: str) -> dict[str, dict[str, Any]]:
    """Every document of an index (or alias), refreshed first, read with a point in time."""
    async with httpx.AsyncClient(base_url=es_url, timeout=60) as es:
        (await es.post(f"/{index}/_refresh")).raise_for_status()
        opened = await es.post(f"/{index}/_pit", params={"keep_alive": "1m"})
        opened.raise_for_status()
        pit = opened.json()["id"]
        found: dict[str, dict[str, Any]] = {}
        after: list[Any] | None = None
        try:
            while True:
                body: dict[str, Any] = {
                    "size": 1000,
                    "pit": {"id": pit, "keep_alive": "1m"},
                    "sort": ["_shard_doc"],
                    "track_total_hits": False,
                }
                if after is not None:
                    body["search_after"] = after
                response = await es.post("/_search", json=body)
                response.raise_for_status()
                answer = response.json()
                hits = answer["hits"]["hits"]
                found.update({h["_id"]: h["_source"] for h in hits})
                if len(hits) < 1000:
                    return found
                pit = answer.get("pit_id", pit)
                after = hits[-1]["sort"]
        finally:
            await es.request("DELETE", "/_pit", json={"id": pit})


async def assert_stock_matches_store(stack: Stack) -> int:
    """Inventory rows and product documents carry exactly the stock the store's events add up to. Returns the
    number of (sku, warehouse) pairs compared."""
    expected = await store_stock(stack.database_url)
    rows = await es_documents(stack.es_url, f"{stack.elasticsearch_prefix}inventory")
    indexed = {(d["sku"], d["warehouse"]): (d["on_hand"], d["reserved"]) for d in rows.values() if d["kind"] == "stock"}
    wrong_rows = {k: (v, indexed.get(k)) for k, v in expected.items() if indexed.get(k) != v}
    assert not wrong_rows, f"inventory rows differ from the store (store, indexed): {list(wrong_rows.items())[:10]}"
    assert set(indexed) == set(expected), set(indexed) ^ set(expected)
    # Product documents: in stock or not, per warehouse, as the store's quantities say.
    products = await es_documents(stack.es_url, f"{stack.elasticsearch_prefix}products")
    wrong_products = []
    for sku in {s for s, _ in expected}:
        stocked_in = sorted(w for (s, w), (o, r) in expected.items() if s == sku and o - r > 0)
        shown = products.get(sku, {})
        if (shown.get("stocked_in"), shown.get("in_stock")) != (stocked_in, bool(stocked_in)):
            wrong_products.append((sku, stocked_in, shown.get("stocked_in")))
    assert not wrong_products, f"in stock or not differs from the store (sku, store, shown): {wrong_products[:10]}"
    return len(expected)


NewStack = Callable[[str], Awaitable[Stack]]
