"""Read pipeline benchmark, open loop: how many orders a second the whole platform takes while every read stays fresh.

    .venv/bin/python tests/bench/pipeline_bench.py steps [--rates 100,200,...] [--step-seconds 20] [--lines 2]
    .venv/bin/python tests/bench/pipeline_bench.py soak --rate R [--seconds 600]
    .venv/bin/python tests/bench/pipeline_bench.py mixed [--rate 100] [--search-rate 100] [--seconds 60]
    .venv/bin/python tests/bench/pipeline_bench.py cpu [--rate 200] [--lines 3] [--seconds 30]

Each run starts the four processes as the tests do (tests/platform.py) on a database, RabbitMQ prefix and
Elasticsearch prefix of its own, against the local services (`infra/services.sh start`), seeds SKUs with stock in two
warehouses (and, for `mixed`, the Chorus catalogue), and removes everything at the end. Orders are sent open loop:
order i leaves at t0 + i/rate whether or not earlier ones were answered, so a slow platform cannot slow the load
down, and latencies count from the moment a request was due (no coordinated omission).

Fresh reads: every --sample-every-th acknowledged order is read back with `GET /orders/{id}?min_position=<its
position>` (the search API waits until the orders projection has made it searchable), and twice a second a receipt
is followed by `GET /products/{sku}?min_position=` (products and inventory): "fresh read" is the time from the
write's acknowledgement to that answer. Drain: after the load, the time until every projection has applied the last
acknowledged position and its queue is empty. CPU per order: user + system time from /proc of the relay, RabbitMQ,
the projector and Elasticsearch ("pipeline"), of the write API and every PostgreSQL process ("write side"), over
the orders acknowledged in the same interval.

- steps: the rate goes up step by step; a step passes when the platform took the rate (97 % of it acknowledged over
  the phase, under 1 % failed), the fresh-read p99 is <= 1.5 s and the queues drained within 3 s after it. Reports
  the highest passing rate.
- soak: one rate for --seconds; compares the fresh-read p99 of the first and the last minute.
- mixed: product searches (the judged queries and misspelt variants, with stock, warehouse and price filters and
  sorts) alone for --search-alone-seconds, then together with orders, both open loop; passes when the orders' phase
  passes and the searches' p99 with the orders is within 75 ms.
- cpu: one rate (3-line orders by default): CPU per order of each process.

Results: tests/bench/results/pipeline_<mode>.json and a PNG plot of rates and latencies over time beside it.
The script only speaks HTTP and AMQP to the platform and reads /proc, so it runs unchanged against an older checkout
of the code (copy it there and run it from there: `--state-dir` names the folder of the running services).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aio_pika  # noqa: E402
import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
import orjson  # noqa: E402

RESULTS = ROOT / "tests" / "bench" / "results"
CHORUS = ROOT / "infra" / "demo" / "chorus-icecat"
PROJECTIONS = ("products", "inventory", "orders")
WAREHOUSES = ("ams", "ber")
KEYS = {role: f"Bearer dev-{role}-key" for role in ("catalog", "warehouse", "storefront", "backoffice")}
FRESH_P99_S = 1.5
DRAIN_S = 3.0
SEARCH_P99_MS = 75.0


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def spread(values: list[float], scale: float = 1000.0) -> dict[str, Any]:
    """n, p50, p90, p99, max (seconds in, milliseconds out by default)."""
    out: dict[str, Any] = {"n": len(values)}
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        value = percentile(values, q)
        out[name] = round(value * scale, 1) if value is not None else None
    out["max"] = round(max(values) * scale, 1) if values else None
    return out


# ---------------------------------------------------------------------------------------------------------------
# CPU from /proc


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
    return pids


def machine_jiffies() -> tuple[float, float]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return float(sum(values) - values[3] - values[4]), float(sum(values))


@dataclass
class CpuMeter:
    pids: dict[str, list[int]]
    start: dict[str, float] = field(default_factory=dict)
    started_at: float = 0.0
    machine: tuple[float, float] = (0.0, 0.0)

    def _read(self) -> dict[str, float]:
        return {name: sum(cpu_seconds(p) or 0.0 for p in pids) for name, pids in self.pids.items()}

    def begin(self) -> None:
        self.start, self.started_at, self.machine = self._read(), time.monotonic(), machine_jiffies()

    def end(self) -> dict[str, Any]:
        now, wall, machine = self._read(), time.monotonic() - self.started_at, machine_jiffies()
        seconds = {name: now[name] - self.start.get(name, 0.0) for name in now}
        busy = (machine[0] - self.machine[0]) / max(1.0, machine[1] - self.machine[1])
        return {"wall_s": wall, "cpu_s": seconds, "machine_busy_share": round(busy, 3)}


# ---------------------------------------------------------------------------------------------------------------
# The platform under test


def with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


@dataclass
class OwnPlatform:
    args: argparse.Namespace
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    platform: Any = None

    @property
    def database(self) -> str:
        return f"bench_pipe_{self.tag}"

    @property
    def rabbitmq_prefix(self) -> str:
        return f"benchq{self.tag}."

    @property
    def es_prefix(self) -> str:
        return f"benchq{self.tag}-"

    async def start(self, log_dir: Path) -> None:
        from tests.platform import Platform, free_port, platform_env
        from write_api.migrate import migrate

        admin = await asyncpg.connect(self.args.admin_url)
        try:
            await admin.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            await admin.close()
        database_url = with_database(self.args.admin_url, self.database)
        await migrate(database_url)
        ports = {name: free_port() for name in ("write_api", "relay", "projector", "search_api")}
        env = platform_env(
            database_url, self.args.rabbitmq_url, self.rabbitmq_prefix, self.args.es_url, self.es_prefix, ports
        )
        env["LOG_LEVEL"] = "WARNING"
        self.platform = Platform(env, log_dir, ports)
        for name in ("projector", "relay", "write_api", "search_api"):
            await asyncio.to_thread(self.platform.start, name, True)

    def pids(self) -> dict[str, list[int]]:
        state = Path(self.args.state_dir)

        def pid_file(name: str) -> list[int]:
            with contextlib.suppress(OSError, ValueError):
                return [int((state / "run" / f"{name}.pid").read_text().strip())]
            return []

        own = {name: [p.pid] for name, p in self.platform.processes.items()}
        return {
            **own,
            "rabbitmq": pid_file("rabbitmq"),
            "elasticsearch": pid_file("elasticsearch"),
            "postgres": postgres_pids(),
            "bench": [os.getpid()],
        }

    async def remove(self) -> None:
        if self.platform is not None:
            await asyncio.to_thread(self.platform.stop_all)
        with contextlib.suppress(Exception):
            connection = await aio_pika.connect(self.args.rabbitmq_url)
            try:
                names = [f"{self.rabbitmq_prefix}projection.{p}{s}" for p in PROJECTIONS for s in ("", ".parked")]
                for name in names:
                    channel = await connection.channel()
                    with contextlib.suppress(aio_pika.exceptions.AMQPError):
                        await channel.queue_delete(name)
                for name in ("events", "events.dead-letter"):
                    channel = await connection.channel()
                    with contextlib.suppress(aio_pika.exceptions.AMQPError):
                        await channel.exchange_delete(f"{self.rabbitmq_prefix}{name}")
            finally:
                await connection.close()
        async with aiohttp.ClientSession() as es:
            with contextlib.suppress(aiohttp.ClientError):
                await es.delete(f"{self.args.es_url}/{self.es_prefix}*")
        admin = await asyncpg.connect(self.args.admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        finally:
            await admin.close()


# ---------------------------------------------------------------------------------------------------------------
# What a run records


@dataclass
class Sample:
    at: float  # monotonic time the request was due (load) or the write acknowledged (fresh reads)
    seconds: float
    ok: bool


@dataclass
class Run:
    orders: list[Sample] = field(default_factory=list)  # order requests: due -> answered
    fresh: list[Sample] = field(default_factory=list)  # order ack -> fresh read answered
    probes: list[Sample] = field(default_factory=list)  # receipt ack -> fresh product read answered
    searches: list[Sample] = field(default_factory=list)
    stale: int = 0
    last_position: int = 0
    positions: list[tuple[float, dict[str, int]]] = field(default_factory=list)  # (time, applied per projection)
    depths: list[tuple[float, dict[str, int]]] = field(default_factory=list)  # (time, ready messages per queue)
    acked: list[tuple[float, int]] = field(default_factory=list)  # (ack time, position) of every order


class RawConnection:
    """A minimal HTTP/1.1 keep-alive connection, one request at a time: a load generator that costs the shared CPU
    a fraction of what a general client does (aiohttp spent about half a millisecond per order here)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.used_at = time.monotonic()

    async def request(self, method: str, path: str, authorization: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAuthorization: {authorization}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        header = await self.reader.readuntil(b"\r\n\r\n")
        lower = header.lower()
        at = lower.index(b"content-length:") + 15
        payload = await self.reader.readexactly(int(lower[at : lower.index(b"\r\n", at)]))
        if b"connection: close" in lower:
            self.writer.close()
        return int(header[9:12]), payload


class Client:
    """The load's HTTP side: writes on raw keep-alive connections (a free one, or a new one), reads with aiohttp."""

    def __init__(self, write_url: str, search_url: str) -> None:
        self.write_url, self.search_url = write_url, search_url
        parts = urlsplit(write_url)
        self.write_address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.free: list[RawConnection] = []
        connector = aiohttp.TCPConnector(limit=400, limit_per_host=400)
        self.session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))

    async def write(self, method: str, path: str, role: str, body: Any) -> tuple[int, Any]:
        connection = self.free.pop() if self.free else RawConnection(*self.write_address)
        if time.monotonic() - connection.used_at > 3 and connection.writer is not None:
            connection.writer.close()  # the server closes idle keep-alive connections after 5 s: never reuse one
            connection = RawConnection(*self.write_address)
        try:
            status, payload = await connection.request(method, path, KEYS[role], orjson.dumps(body))
        except BaseException:
            if connection.writer is not None:
                connection.writer.close()
            raise
        connection.used_at = time.monotonic()
        self.free.append(connection)
        return status, orjson.loads(payload) if payload else None

    async def read(self, path: str, params: dict[str, Any], role: str | None = None) -> tuple[int, dict[str, str]]:
        headers = {"Authorization": KEYS[role]} if role else {}
        async with self.session.get(self.search_url + path, params=params, headers=headers) as response:
            await response.read()
            return response.status, dict(response.headers)

    async def close(self) -> None:
        for connection in self.free:
            if connection.writer is not None:
                connection.writer.close()
        await self.session.close()


async def open_loop(rate: float, seconds: float, send: Callable[[int, float], Coroutine[Any, Any, None]]) -> int:
    """send(i, due) for i = 0, 1, ... at t0 + i/rate for `seconds`, without waiting for answers. Returns how many."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    pending: set[asyncio.Task[None]] = set()
    i = 0
    while (due := start + i / rate) < start + seconds:
        if (delay := due - loop.time()) > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(send(i, time.monotonic() - (loop.time() - due)))
        pending.add(task)
        task.add_done_callback(pending.discard)
        i += 1
    await asyncio.gather(*pending)
    return i


# ---------------------------------------------------------------------------------------------------------------
# Monitors


async def read_positions(session: aiohttp.ClientSession, es_url: str, prefix: str) -> dict[str, int]:
    async with session.post(
        f"{es_url}/{prefix}projection-positions/_mget", json={"ids": list(PROJECTIONS)}
    ) as response:
        if response.status == 404:
            return dict.fromkeys(PROJECTIONS, 0)
        docs = (await response.json())["docs"]
    return {d["_id"]: int(d["_source"]["position"]) if d.get("found") else 0 for d in docs}


async def queue_depths(channel: aio_pika.abc.AbstractChannel, prefix: str) -> dict[str, int]:
    depths = {}
    for name in PROJECTIONS:
        queue = await channel.declare_queue(f"{prefix}projection.{name}", passive=True)
        depths[name] = queue.declaration_result.message_count or 0
    return depths


@dataclass
class Monitor:
    args: argparse.Namespace
    own: OwnPlatform
    run: Run
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def watch(self) -> None:
        """Every 200 ms the projections' applied positions, every 400 ms their queues' depths, until stopped."""
        async with aiohttp.ClientSession() as session:
            connection = await aio_pika.connect(self.args.rabbitmq_url)
            try:
                channel = await connection.channel()
                tick = 0
                while not self.stop.is_set():
                    with contextlib.suppress(aiohttp.ClientError, KeyError):
                        positions = await read_positions(session, self.args.es_url, self.own.es_prefix)
                        self.run.positions.append((time.monotonic(), positions))
                    if tick % 2 == 0:
                        try:
                            depths = await queue_depths(channel, self.own.rabbitmq_prefix)
                            self.run.depths.append((time.monotonic(), depths))
                        except Exception:
                            channel = await connection.channel()
                    tick += 1
                    await asyncio.sleep(0.2)
            finally:
                await connection.close()

    async def drained(self, position: int, within: float = 120) -> float | None:
        """Seconds until every projection has applied `position` and every queue is empty (None: not within)."""
        started = time.monotonic()
        while time.monotonic() - started < within:
            if self.run.positions and self.run.depths:
                (at_p, positions), (at_d, depths) = self.run.positions[-1], self.run.depths[-1]
                if at_d > started and min(positions.values()) >= position and not any(depths.values()):
                    return max(at_p, at_d) - started
            await asyncio.sleep(0.05)
        return None


# ---------------------------------------------------------------------------------------------------------------
# The load


def address() -> dict[str, str]:
    return {"name": "Bench Customer", "line1": "1 Main St", "city": "Amsterdam", "postal_code": "1011", "country": "NL"}


@dataclass
class Load:
    client: Client
    run: Run
    skus: list[str]
    lines: int
    sample_every: int
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    reads: set[asyncio.Task[None]] = field(default_factory=set)

    def _later(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self.reads.add(task)
        task.add_done_callback(self.reads.discard)

    async def order(self, i: int, due: float) -> None:
        body = {
            "customer": {"id": f"pb-{i % 5000}", "name": "Bench Customer", "email": f"pb-{i % 5000}@example.com"},
            "lines": [{"sku": sku, "quantity": 1} for sku in self.rng.sample(self.skus, self.lines)],
            "shipping_address": address(),
        }
        try:
            status, answer = await self.client.write("POST", "/orders", "storefront", body)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            status, answer = 0, None
        acked = time.monotonic()
        self.run.orders.append(Sample(due, acked - due, status == 201))
        if status != 201:
            return
        position = int(answer["position"])
        self.run.acked.append((acked, position))
        self.run.last_position = max(self.run.last_position, position)
        if i % self.sample_every == 0:
            self._later(self.fresh(f"/orders/{answer['order_id']}", position, acked, self.run.fresh, "backoffice"))

    async def fresh(self, path: str, position: int, acked: float, into: list[Sample], role: str | None) -> None:
        try:
            status, headers = await self.client.read(path, {"min_position": position, "wait_ms": 10000}, role)
        except (aiohttp.ClientError, TimeoutError):
            status, headers = 0, {}
        stale = headers.get("X-Consistency") == "stale"
        self.run.stale += stale
        into.append(Sample(acked, time.monotonic() - acked, status == 200 and not stale))

    async def probe(self, _i: int, _due: float) -> None:
        """A receipt of one unit, then the product read back at its position (products and inventory)."""
        sku = self.rng.choice(self.skus)
        receipt = {"warehouse": self.rng.choice(WAREHOUSES), "quantity": 1}
        try:
            status, answer = await self.client.write("POST", f"/inventory/{sku}/receipts", "warehouse", receipt)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            return
        if status == 200:
            position = int(answer["position"])
            self.run.last_position = max(self.run.last_position, position)
            await self.fresh(f"/products/{sku}", position, time.monotonic(), self.run.probes, None)

    async def settle(self) -> None:
        await asyncio.gather(*list(self.reads))


async def seed(client: Client, run: Run, prefix: str, count: int, stock: int = 1_000_000) -> list[str]:
    """`count` products with `stock` units in each warehouse, for the orders."""
    skus = [f"{prefix}-{n:05d}" for n in range(count)]
    for start in range(0, count, 500):
        products = [
            {
                "sku": sku,
                "name": f"Bench cable {sku}",
                "brand": "Bench",
                "category": "Cables",
                "price": {"amount": f"{1 + n % 97}.99", "currency": "EUR"},
            }
            for n, sku in enumerate(skus[start : start + 500], start)
        ]
        status, answer = await client.write("POST", "/products/import", "catalog", products)
        assert status == 200 and not answer["rejected"], answer
    receipts = [{"sku": s, "warehouse": w, "quantity": stock} for s in skus for w in WAREHOUSES]
    for start in range(0, len(receipts), 1000):
        status, answer = await client.write("POST", "/inventory/receipts", "warehouse", receipts[start : start + 1000])
        assert status == 200 and not answer["rejected"], answer
        run.last_position = max(run.last_position, int(answer["position"]))
    return skus


def chorus_products(limit: int) -> list[dict[str, Any]]:
    """The Chorus catalogue (infra/demo/chorus-icecat) as products: id, title, supplier, description, price."""
    products: list[dict[str, Any]] = []
    for path in sorted(CHORUS.glob("*.json.zip")):
        with zipfile.ZipFile(path) as archive:
            for record in json.loads(archive.read(archive.namelist()[0])):
                sku, title = str(record.get("id", "")), str(record.get("title") or "").strip()
                if not sku.isalnum() or not title:
                    continue
                cents = int(record.get("price") or 0) or 999
                products.append(
                    {
                        "sku": f"C{sku}",
                        "name": title[:500],
                        "brand": (record.get("supplier") or None),
                        "description": (record.get("short_description") or None),
                        "price": {"amount": f"{cents // 100}.{cents % 100:02d}", "currency": "USD"},
                    }
                )
                if len(products) >= limit:
                    return products
    return products


async def seed_catalogue(client: Client, limit: int, rng: random.Random) -> None:
    """The Chorus products, seven in ten with stock in a random warehouse (so that stock filters mean something)."""
    products = chorus_products(limit)
    for start in range(0, len(products), 500):
        status, answer = await client.write("POST", "/products/import", "catalog", products[start : start + 500])
        assert status == 200, answer
    receipts = [
        {"sku": p["sku"], "warehouse": rng.choice(WAREHOUSES), "quantity": rng.randint(1, 50)}
        for p in products
        if rng.random() < 0.7
    ]
    for start in range(0, len(receipts), 1000):
        status, answer = await client.write("POST", "/inventory/receipts", "warehouse", receipts[start : start + 1000])
        assert status == 200, answer


def typo(query: str) -> str:
    """Two adjacent letters of the longest word swapped ("cable" -> "cabel")."""
    words = query.split()
    i = max(range(len(words)), key=lambda n: len(words[n]))
    word = words[i]
    if len(word) >= 4:
        k = len(word) - 2
        words[i] = word[:k] + word[k + 1] + word[k] + word[k + 2 :]
    return " ".join(words)


def search_requests(rng: random.Random) -> list[dict[str, Any]]:
    """Product searches: the judged queries and a misspelt variant of each, with filters and sorts mixed in."""
    with (CHORUS / "judgments-dev.csv").open(newline="", encoding="utf-8") as stream:
        queries = sorted({row["query"] for row in csv.DictReader(stream)})
    misspelt = [typo(q) for q in queries]
    requests = []
    for q in queries + misspelt:
        params: dict[str, Any] = {"q": q}
        roll = rng.random()
        if roll < 0.2:
            params["in_stock"] = "true"
        elif roll < 0.35:
            params["price_max"] = rng.choice([25, 50, 100, 250])
        elif roll < 0.45:
            params["warehouse"] = rng.choice(WAREHOUSES)
        if rng.random() < 0.25:
            params["sort"] = rng.choice(["price_asc", "price_desc", "newest", "name"])
        requests.append(params)
    return requests


# ---------------------------------------------------------------------------------------------------------------
# Phases and what they show


PIPELINE = ("relay", "rabbitmq", "projector", "elasticsearch")
WRITE_SIDE = ("write_api", "postgres")


def phase_summary(run: Run, since: float, until: float, cpu: dict[str, Any], drained: float | None) -> dict[str, Any]:
    orders = [o for o in run.orders if since <= o.at < until]
    ok = [o for o in orders if o.ok]
    fresh = [f.seconds for f in run.fresh if since <= f.at < until + 60 and f.ok]
    probes = [p.seconds for p in run.probes if since <= p.at < until + 60 and p.ok]
    seconds = cpu["cpu_s"]
    per_order = {name: round(1000 * seconds[name] / max(1, len(ok)), 3) for name in seconds}
    failed_share = 1 - len(ok) / max(1, len(orders))
    summary = {
        "orders_sent": len(orders),
        "orders_ok": len(ok),
        "orders_per_s": round(len(ok) / max(1e-9, until - since), 1),
        "failed_share": round(failed_share, 4),
        "order_latency_ms": spread([o.seconds for o in ok]),
        "fresh_order_read_ms": spread(fresh),
        "fresh_product_read_ms": spread(probes),
        "fresh_read_ms": spread(fresh + probes),
        "drain_s": round(drained, 2) if drained is not None else None,
        "cpu_ms_per_order": per_order,
        "pipeline_cpu_ms_per_order": round(sum(per_order.get(n, 0.0) for n in PIPELINE), 3),
        "write_side_cpu_ms_per_order": round(sum(per_order.get(n, 0.0) for n in WRITE_SIDE), 3),
        "cores": {name: round(value / max(1e-9, cpu["wall_s"]), 3) for name, value in seconds.items()},
        "machine_busy_share": cpu["machine_busy_share"],
    }
    return summary


def passed(summary: dict[str, Any]) -> bool:
    """The platform took the rate (97 % of it acknowledged over the phase, under 1 % failed), the fresh-read p99 is
    within 1.5 s and the queues drained within 3 s after it."""
    p99, drained = summary["fresh_read_ms"]["p99"], summary["drain_s"]
    return bool(
        summary["orders_per_s"] >= 0.97 * summary["rate"]
        and summary["failed_share"] < 0.01
        and p99 is not None
        and p99 <= FRESH_P99_S * 1000
        and drained is not None
        and drained <= DRAIN_S
    )


@dataclass
class Session:
    args: argparse.Namespace
    own: OwnPlatform
    client: Client
    monitor: Monitor
    run: Run
    skus: list[str]
    cpu: CpuMeter
    started: float = field(default_factory=time.monotonic)

    async def orders(self, rate: float, seconds: float, lines: int, probe_rate: float = 2.0) -> dict[str, Any]:
        """One phase of open-loop orders at `rate` (and probes), then the drain; its summary."""
        load = Load(self.client, self.run, self.skus, lines, self.args.sample_every)
        since = time.monotonic()
        self.cpu.begin()
        profilers = self.profile(seconds)
        await asyncio.gather(open_loop(rate, seconds, load.order), open_loop(probe_rate, seconds, load.probe))
        until = time.monotonic()
        for profiler in profilers:
            await asyncio.to_thread(profiler.wait, 60)
        cpu = self.cpu.end()
        drained = await self.monitor.drained(self.run.last_position)
        await load.settle()
        summary = phase_summary(self.run, since, until, cpu, drained)
        summary.update({"rate": rate, "lines": lines, "seconds": seconds, "t": round(since - self.started, 1)})
        summary["passed"] = passed(summary)
        return summary

    def profile(self, seconds: float) -> list[subprocess.Popen[bytes]]:
        """With --profile NAME,...: py-spy records those processes for the phase (speedscope files in the results)."""
        if not self.args.profile:
            return []
        py_spy = str(Path(sys.executable).parent / "py-spy")
        started = []
        for name in self.args.profile.split(","):
            pid = self.own.platform.processes[name].pid
            output = self.args.output / f"profile_{name}_{int(time.time())}.txt"
            command = [py_spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200"]
            command += ["--format", "raw", "--output", str(output), "--nonblocking"]
            started.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        return started


def timeline(run: Run, started: float) -> list[dict[str, Any]]:
    """Per second since the start: orders sent and answered, fresh-read p99 of the writes acknowledged in it, the
    orders projection's applied lag behind the newest acknowledged order, queue depth."""
    buckets: dict[int, dict[str, Any]] = defaultdict(lambda: {"sent": 0, "ok": 0, "fresh": [], "searches": []})
    for o in run.orders:
        bucket = buckets[int(o.at - started)]
        bucket["sent"] += 1
        bucket["ok"] += o.ok
    for f in run.fresh + run.probes:
        buckets[int(f.at - started)]["fresh"].append(f.seconds)
    for q in run.searches:
        buckets[int(q.at - started)]["searches"].append(q.seconds)
    depth = {int(at - started): sum(d.values()) for at, d in run.depths}
    rows = []
    for second in range(0, max(buckets, default=0) + 1):
        b = buckets.get(second, {"sent": 0, "ok": 0, "fresh": [], "searches": []})
        rows.append(
            {
                "t": second,
                "orders_sent": b["sent"],
                "orders_ok": b["ok"],
                "fresh_p99_ms": round(1000 * (percentile(b["fresh"], 0.99) or 0), 1) if b["fresh"] else None,
                "search_p99_ms": round(1000 * (percentile(b["searches"], 0.99) or 0), 1) if b["searches"] else None,
                "searches": len(b["searches"]),
                "queue_depth": depth.get(second),
            }
        )
    return rows


def plot(rows: list[dict[str, Any]], title: str, path: Path) -> None:
    """Rate (left axis) and read latencies (right axis, log) over time, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    t = [r["t"] for r in rows]
    figure, rate_axis = pyplot.subplots(figsize=(11, 4.5), dpi=110)
    rate_axis.plot(t, [r["orders_ok"] for r in rows], color="tab:blue", linewidth=1, label="orders acknowledged /s")
    if any(r["searches"] for r in rows):
        rate_axis.plot(t, [r["searches"] for r in rows], color="tab:green", linewidth=1, label="searches /s")
    rate_axis.set_xlabel("seconds")
    rate_axis.set_ylabel("per second")
    latency_axis = rate_axis.twinx()
    latency_axis.set_yscale("log")
    fresh = [(r["t"], r["fresh_p99_ms"]) for r in rows if r["fresh_p99_ms"]]
    latency_axis.plot(
        *zip(*fresh, strict=True), ".", color="tab:red", markersize=3, label="write -> fresh read p99 (ms)"
    )
    searches = [(r["t"], r["search_p99_ms"]) for r in rows if r["search_p99_ms"]]
    if searches:
        latency_axis.plot(*zip(*searches, strict=True), ".", color="tab:purple", markersize=3, label="search p99 (ms)")
    latency_axis.axhline(FRESH_P99_S * 1000, color="tab:red", linestyle=":", linewidth=0.8)
    latency_axis.set_ylabel("milliseconds (log)")
    handles = rate_axis.get_legend_handles_labels()[0] + latency_axis.get_legend_handles_labels()[0]
    labels = rate_axis.get_legend_handles_labels()[1] + latency_axis.get_legend_handles_labels()[1]
    rate_axis.legend(handles, labels, loc="upper left", fontsize=8)
    rate_axis.set_title(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)


# ---------------------------------------------------------------------------------------------------------------
# Modes


def report(line: dict[str, Any]) -> None:
    fresh, drain = line["fresh_read_ms"], line["drain_s"]
    print(
        f"  {line['rate']:>5}/s x {line['lines']} lines: {line['orders_per_s']}/s ok "
        f"({line['failed_share']:.1%} failed), "
        f"order p99 {line['order_latency_ms']['p99']} ms; fresh read p50 {fresh['p50']} p99 {fresh['p99']} ms "
        f"(n {fresh['n']}); drained {drain} s; pipeline CPU {line['pipeline_cpu_ms_per_order']} ms/order, "
        f"write side {line['write_side_cpu_ms_per_order']} ms/order, machine {line['machine_busy_share']:.0%} busy"
        f" -> {'PASS' if line['passed'] else 'miss'}",
        flush=True,
    )


async def steps(session: Session) -> dict[str, Any]:
    results, misses = [], 0
    for rate in [float(r) for r in session.args.rates.split(",")]:
        line = await session.orders(rate, session.args.step_seconds, session.args.lines)
        results.append(line)
        report(line)
        misses = 0 if line["passed"] else misses + 1
        if misses >= 2:
            break
        await asyncio.sleep(3)
    passing = [r["rate"] for r in results if r["passed"]]
    return {"steps": results, "highest_passing_rate": max(passing, default=None)}


def per_minute(samples: list[Sample], since: float) -> list[dict[str, Any]]:
    minutes: dict[int, list[float]] = defaultdict(list)
    for s in samples:
        if s.ok:
            minutes[int((s.at - since) // 60)].append(s.seconds)
    return [{"minute": m, **spread(v)} for m, v in sorted(minutes.items()) if m >= 0]


async def soak(session: Session) -> dict[str, Any]:
    since = time.monotonic()
    line = await session.orders(session.args.rate, session.args.seconds, session.args.lines)
    report(line)
    minutes = per_minute(session.run.fresh + session.run.probes, since)
    full = [m for m in minutes if m["minute"] < session.args.seconds // 60]
    first, last = full[0]["p99"], full[-1]["p99"]
    growth = (last - first) / first if first else None
    print(f"  fresh-read p99 per minute: {[m['p99'] for m in full]} ms; last vs first {growth:+.0%}")
    return {"soak": line, "per_minute": full, "last_vs_first_p99": round(growth, 3) if growth is not None else None}


async def mixed(session: Session) -> dict[str, Any]:
    rng = random.Random(11)
    requests = search_requests(rng)
    run = session.run

    async def search(i: int, due: float) -> None:
        try:
            status, _ = await session.client.read("/products/search", requests[i % len(requests)])
        except (aiohttp.ClientError, TimeoutError):
            status = 0
        run.searches.append(Sample(due, time.monotonic() - due, status == 200))

    warm = requests[: min(len(requests), 200)]
    for i in range(len(warm)):  # every query once, unmeasured
        await search(i, time.monotonic())
    run.searches.clear()
    alone_since = time.monotonic()
    await open_loop(session.args.search_rate, session.args.search_alone_seconds, search)
    alone = [q for q in run.searches if q.at >= alone_since]
    since = time.monotonic()
    orders, _ = await asyncio.gather(
        session.orders(session.args.rate, session.args.seconds, session.args.lines),
        open_loop(session.args.search_rate, session.args.seconds, search),
    )
    searches = [q for q in run.searches if q.at >= since]
    line = {
        **orders,
        "search_rate": session.args.search_rate,
        "search_ms": spread([q.seconds for q in searches if q.ok]),
        "search_failed": sum(1 for q in searches if not q.ok),
        "search_alone_ms": spread([q.seconds for q in alone if q.ok]),
    }
    line["passed"] = bool(line["passed"] and (line["search_ms"]["p99"] or 1e9) <= SEARCH_P99_MS)
    report(line)
    print(f"  searches alone at {session.args.search_rate}/s: {line['search_alone_ms']}")
    print(f"  searches with the orders: {line['search_ms']} (failed {line['search_failed']})")
    return {"mixed": line}


async def cpu(session: Session) -> dict[str, Any]:
    line = await session.orders(session.args.rate, session.args.seconds, session.args.lines)
    report(line)
    for name, value in sorted(line["cpu_ms_per_order"].items()):
        print(f"    {name:14} {value:7.3f} ms of CPU per order ({line['cores'][name]:.2f} cores)")
    return {"cpu": line}


MODES = {"steps": steps, "soak": soak, "mixed": mixed, "cpu": cpu}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    own = OwnPlatform(args)
    logs = Path(tempfile.mkdtemp(prefix="pipeline-bench-"))
    client: Client | None = None
    monitor_task = None
    try:
        await own.start(logs)
        client = Client(own.platform.write_url, own.platform.search_url)
        run = Run()
        rng = random.Random(5)
        started = time.monotonic()
        if args.mode == "mixed":
            await seed_catalogue(client, args.catalogue, rng)
        skus = await seed(client, run, f"PB{own.tag.upper()}", args.skus)
        monitor = Monitor(args, own, run)
        monitor_task = asyncio.create_task(monitor.watch())
        projected = await monitor.drained(run.last_position, within=600)
        print(f"seeded in {time.monotonic() - started:.1f} s (projected {projected} s after)", flush=True)
        session = Session(args, own, client, monitor, run, skus, CpuMeter(own.pids()))
        results = await MODES[args.mode](session)
        monitor.stop.set()
        await monitor_task
        rows = timeline(run, session.started)
        return {"mode": args.mode, "config": config(args), **results, "timeline": rows, "logs": str(logs)}
    finally:
        if monitor_task is not None and not monitor_task.done():
            monitor_task.cancel()
        if client is not None:
            await client.close()
        await own.remove()


def config(args: argparse.Namespace) -> dict[str, Any]:
    return {
        **{k: v for k, v in vars(args).items() if k not in ("admin_url", "rabbitmq_url", "es_url", "output")},
        "cores": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "pipeline_nice": os.environ.get("PIPELINE_NICE", "-10 (default)"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--rates", default="50,100,150,200,300,400,500,600,700,800")
    parser.add_argument("--step-seconds", type=float, default=20)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--search-rate", type=float, default=100)
    parser.add_argument("--search-alone-seconds", type=float, default=30, help="mixed: searches without orders first")
    parser.add_argument("--lines", type=int, default=2)
    parser.add_argument("--skus", type=int, default=1000)
    parser.add_argument("--catalogue", type=int, default=20000, help="mixed: Chorus products to load")
    parser.add_argument("--sample-every", type=int, default=10, help="read back every n-th order")
    parser.add_argument("--state-dir", default=os.environ.get("STATE_DIR", str(ROOT / ".state")))
    parser.add_argument(
        "--admin-url", default=os.environ.get("TEST_DATABASE_URL", "postgresql://shop:shop@127.0.0.1:5432/shop")
    )
    parser.add_argument(
        "--rabbitmq-url", default=os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    )
    parser.add_argument("--es-url", default=os.environ.get("TEST_ELASTICSEARCH_URL", "http://127.0.0.1:9200"))
    parser.add_argument("--label", default="", help="added to the result file names")
    parser.add_argument("--profile", default="", help="py-spy these processes during each phase (e.g. projector)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.mode == "cpu" and "--lines" not in sys.argv:
        args.lines = 3
    args.output.mkdir(parents=True, exist_ok=True)
    summary = asyncio.run(main_async(args))
    name = f"pipeline_{args.mode}{'_' + args.label if args.label else ''}"
    (args.output / f"{name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    plot(summary["timeline"], f"{name}: {args.mode} ({summary['config']['started_at']})", args.output / f"{name}.png")
    print(f"wrote {args.output / name}.json and .png")


if __name__ == "__main__":
    main()
