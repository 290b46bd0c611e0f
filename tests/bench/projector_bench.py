"""Projector benchmark: events projected per second, command-to-search lag, and whether the projector keeps up.

    .venv/bin/python tests/bench/projector_bench.py [--seconds 20] [--concurrency 32] [--skus 1000]
        [--sample-rate 5] [--profile] [--profile-seconds 10]

Self-contained by default: a database of its own (bench_proj_<random>, migrated), a RabbitMQ prefix and an
Elasticsearch index prefix of its own, and the write API, relay, projector and search API started as the tests start
them (tests/platform.py); everything is removed at the end. With --write-url, --search-url, --projector-url and
--es-url/--es-prefix it drives a platform that is already running instead (and profiles --projector-pid).

1. Seed: N SKUs (POST /products/import) with stock in two warehouses (POST /inventory/receipts); wait until every
   projection has applied the seed.
2. Load for --seconds: `concurrency` connections placing 3-line orders over the stocked SKUs (1 OrderPlaced +
   3 StockReserved per order: 4 events for `products` and `inventory`, 1 for `orders`), plus product and stock
   traffic (new products, price changes, receipts: ~10/s each). Meanwhile:
   - every second, the projector's /metrics (`projection_events_total`, `projection_lag_events`, batch sizes,
     bulk time) and the relay's (`relay_lag_events`);
   - every 50 ms, each projection's applied and visible position (the projection-positions index), so that for
     every acknowledged order the time until each projection had applied / made searchable its position is known;
   - `sample-rate` times a second, a probe receipt (+1 on a random SKU) and then GET /products/{sku} with
     `min_position` = its position (wait_ms 10000): command acknowledged -> answer that reflects it ("time to
     not-stale"; the search API waits until the projections have made the position searchable).
3. Drain: how long until every projection has applied the last write and its queue is empty.
With --profile, py-spy samples the projector (record, raw, --nonblocking) for --profile-seconds in the middle of the
load, and the hottest functions are listed.

Results: tests/bench/results/projector_bench.json, and a summary on stdout. The load generator, the four processes
and PostgreSQL, RabbitMQ and Elasticsearch all share the machine's cores: read the numbers with the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aio_pika  # noqa: E402
import asyncpg  # noqa: E402
import httpx  # noqa: E402
import orjson  # noqa: E402

RESULTS = ROOT / "tests" / "bench" / "results"
PROJECTIONS = ("products", "inventory", "orders")
WAREHOUSES = ("ams", "ber")
STOCK_PER_WAREHOUSE = 1_000_000
SAMPLE = re.compile(r'^(\w+)\{projection="(\w+)"(?:,le="[^"]*")?\} (\S+)$', re.MULTILINE)
UNLABELLED = re.compile(r"^(\w+) (\S+)$", re.MULTILINE)
FRAME = re.compile(r"^(\S+) \((.+?)(?::\d+)?\)$")  # py-spy raw frame: `function (path/file.py:line)`
PACKAGES = {"projector", "shared", "write_api", "search_api"}  # py-spy names files relative to sys.path
SIDE = ("register", "price", "receipt")
KEYS = {role: f"Bearer dev-{role}-key" for role in ("catalog", "warehouse", "storefront")}


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def spread(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50": percentile(values, 0.5),
        "p90": percentile(values, 0.9),
        "p99": percentile(values, 0.99),
        "max": round(max(values), 1) if values else None,
    }


# ---------------------------------------------------------------------------------------------------------------
# A minimal HTTP/1.1 keep-alive client (one request in flight per connection): cheap on the shared CPU


class RawConnection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

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
        status = int(header[9:12])
        lower = header.lower()
        at = lower.index(b"content-length:") + 15
        length = int(lower[at : lower.index(b"\r\n", at)])
        payload = await self.reader.readexactly(length)
        if b"connection: close" in lower:
            self.writer.close()
        return status, payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


# ---------------------------------------------------------------------------------------------------------------
# Targets: the platform under test


@dataclass
class Target:
    write_url: str
    search_url: str
    projector_url: str
    relay_url: str | None
    es_url: str
    es_prefix: str
    projector_pid: int | None

    @property
    def write_host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.write_url)
        return parts.hostname or "127.0.0.1", parts.port or 80


async def scrape(http: httpx.AsyncClient, url: str) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """(labelled samples metric -> projection -> value, unlabelled samples) of a /metrics page."""
    text = (await http.get(f"{url}/metrics")).text
    labelled: dict[str, dict[str, float]] = defaultdict(dict)
    for m in SAMPLE.finditer(text):
        if ',le="' not in m[0]:
            labelled[m[1]][m[2]] = float(m[3])
    return labelled, {m[1]: float(m[2]) for m in UNLABELLED.finditer(text)}


async def positions(es: httpx.AsyncClient, target: Target) -> dict[str, tuple[int, int]]:
    """projection -> (applied position, visible position)."""
    response = await es.post(f"/{target.es_prefix}projection-positions/_mget", json={"ids": list(PROJECTIONS)})
    if response.status_code == 404:
        return dict.fromkeys(PROJECTIONS, (0, 0))
    found = {}
    for doc in response.json()["docs"]:
        source = doc.get("_source") or {}
        found[doc["_id"]] = (int(source.get("position", 0)), int(source.get("visible_position", 0)))
    return found


STATS = (  # label, section of the index stats, operations counter, milliseconds counter
    ("refresh", "refresh", "total", "total_time_in_millis"),
    ("indexing", "indexing", "index_total", "index_time_in_millis"),
    # time indexing was held back because merges fell behind (per indexed document)
    ("throttled", "indexing", "index_total", "throttle_time_in_millis"),
    ("merge", "merges", "total", "total_time_in_millis"),
    ("get", "get", "total", "time_in_millis"),
    ("search", "search", "query_total", "query_time_in_millis"),
)


async def index_stats(es: httpx.AsyncClient, target: Target) -> dict[str, dict[str, tuple[int, int]]]:
    """Elasticsearch's own account per projection index: kind -> (operations, milliseconds spent)."""
    response = await es.get(f"/{target.es_prefix}*/_stats/refresh,indexing,merge,get,search")
    response.raise_for_status()
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for index, stats in response.json()["indices"].items():
        name = next((p for p in PROJECTIONS if index.startswith(f"{target.es_prefix}{p}-v")), None)
        if name is not None:
            total = stats["total"]
            out[name] = {
                label: (int(total[section][count]), int(total[section][ms])) for label, section, count, ms in STATS
            }
    return out


def stats_delta(before: dict[str, Any], after: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Per projection index and kind of operation: operations/s and mean ms per operation during the load."""
    out: dict[str, Any] = {}
    for name, kinds in after.items():
        out[name] = {}
        for kind, (count, ms) in kinds.items():
            count0, ms0 = before.get(name, {}).get(kind, (0, 0))
            n = count - count0
            out[name][kind] = {
                "per_s": round(n / seconds, 1),
                "mean_ms": round((ms - ms0) / n, 1) if n else None,
                "busy_share": round((ms - ms0) / 1000 / seconds, 2),  # of one thread's time
            }
    return out


async def wait_applied(es: httpx.AsyncClient, target: Target, position: int, within: float) -> float:
    """Seconds until every projection has applied `position`."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if all(p[0] >= position for p in (await positions(es, target)).values()):
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    raise RuntimeError(f"projections did not apply {position} within {within} s")


# ---------------------------------------------------------------------------------------------------------------
# Load


@dataclass
class Run:
    started: float = 0.0
    stop_at: float = 0.0
    acks: list[tuple[float, int]] = field(default_factory=list)  # (ack time, position) of every order placed
    order_latency_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    side: Counter[str] = field(default_factory=Counter)
    last_position: int = 0
    probes: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[tuple[float, dict[str, tuple[int, int]]]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    refreshes: list[dict[str, Any]] = field(default_factory=list)


def order_body(skus: list[str], rng: random.Random, n: int) -> bytes:
    customer = f"pbench-{n}"
    return orjson.dumps(
        {
            "customer": {"id": customer, "name": "Bench Customer", "email": f"{customer}@example.com"},
            "lines": [{"sku": sku, "quantity": 1} for sku in rng.sample(skus, 3)],
            "shipping_address": {
                "name": "Bench Customer",
                "line1": "1 Main St",
                "city": "Amsterdam",
                "postal_code": "1011",
                "country": "NL",
            },
        }
    )


async def seed(http: httpx.AsyncClient, skus: list[str]) -> int:
    products = [
        {
            "sku": sku,
            "name": f"Bench cable {n} {secrets.token_hex(2)}",
            "brand": "Bench",
            "category": "Cables",
            "price": {"amount": f"{1 + n % 97}.99", "currency": "EUR"},
        }
        for n, sku in enumerate(skus)
    ]
    response = await http.post("/products/import", json=products, headers={"Authorization": KEYS["catalog"]})
    response.raise_for_status()
    assert response.json()["created"] == len(skus), response.text
    receipts = [{"sku": s, "warehouse": w, "quantity": STOCK_PER_WAREHOUSE} for s in skus for w in WAREHOUSES]
    response = await http.post("/inventory/receipts", json=receipts, headers={"Authorization": KEYS["warehouse"]})
    response.raise_for_status()
    assert response.json()["applied"] == len(receipts), response.text
    return int(response.json()["position"])


async def order_worker(target: Target, run: Run, skus: list[str], index: int, concurrency: int) -> None:
    rng = random.Random(index)
    connection = RawConnection(*target.write_host_port)
    n = index
    try:
        while time.monotonic() < run.stop_at:
            body = order_body(skus, rng, n)
            n += concurrency
            sent = time.monotonic()
            status, payload = await connection.request("POST", "/orders", KEYS["storefront"], body)
            acked = time.monotonic()
            run.statuses[str(status)] += 1
            if status == 201:
                position = int(orjson.loads(payload)["position"])
                run.acks.append((acked, position))
                run.order_latency_ms.append((acked - sent) * 1000)
                run.last_position = max(run.last_position, position)
    finally:
        connection.close()


async def side_worker(target: Target, run: Run, skus: list[str], kind: str, rate: float, tag: str) -> None:
    """Product and stock traffic at about `rate` requests a second: new products, price changes or receipts."""
    rng = random.Random(kind)
    connection = RawConnection(*target.write_host_port)
    n = 0
    try:
        while time.monotonic() < run.stop_at:
            n += 1
            if kind == "register":
                body = {
                    "sku": f"{tag}-NEW-{n:05d}",
                    "name": f"New bench adapter {n}",
                    "price": {"amount": "4.99", "currency": "EUR"},
                }
                request = ("POST", "/products", KEYS["catalog"], orjson.dumps(body))
            elif kind == "price":
                price = {"amount": f"{rng.randint(1, 99)}.{rng.randint(10, 99)}", "currency": "EUR"}
                request = ("PUT", f"/products/{rng.choice(skus)}/price", KEYS["catalog"], orjson.dumps(price))
            else:
                receipt = {"warehouse": rng.choice(WAREHOUSES), "quantity": 10}
                request = ("POST", f"/inventory/{rng.choice(skus)}/receipts", KEYS["warehouse"], orjson.dumps(receipt))
            status, payload = await connection.request(*request)
            run.side[f"{kind} {status}"] += 1
            if status < 300:
                run.last_position = max(run.last_position, int(orjson.loads(payload)["position"]))
            await asyncio.sleep(1 / rate)
    finally:
        connection.close()


async def probe(target: Target, run: Run, write: httpx.AsyncClient, search: httpx.AsyncClient, sku: str) -> None:
    """A receipt of 1, then GET /products/{sku} with its position: acknowledged -> answered fresh."""
    receipt = {"warehouse": "ams", "quantity": 1}
    try:
        response = await write.post(
            f"/inventory/{sku}/receipts", json=receipt, headers={"Authorization": KEYS["warehouse"]}
        )
    except httpx.TransportError as exc:  # e.g. a keep-alive connection the server closed as it was reused
        run.probes.append({"error": type(exc).__name__})
        return
    acked = time.monotonic()
    if response.status_code != 200:
        run.probes.append({"error": response.status_code})
        return
    position = int(response.json()["position"])
    run.last_position = max(run.last_position, position)
    try:
        answer = await search.get(f"/products/{sku}", params={"min_position": position, "wait_ms": 10000})
    except httpx.TransportError as exc:
        run.probes.append({"error": type(exc).__name__})
        return
    run.probes.append(
        {
            "at": round(acked - run.started, 2),
            "position": position,
            "lag_ms": (time.monotonic() - acked) * 1000,
            "stale": answer.headers.get("X-Consistency") == "stale",
            "status": answer.status_code,
        }
    )


async def prober(target: Target, run: Run, skus: list[str], rate: float) -> None:
    rng = random.Random(7)
    tasks = []
    async with (
        httpx.AsyncClient(base_url=target.write_url, timeout=30) as write,
        httpx.AsyncClient(base_url=target.search_url, timeout=30) as search,
    ):
        while time.monotonic() < run.stop_at:
            tasks.append(asyncio.create_task(probe(target, run, write, search, rng.choice(skus))))
            await asyncio.sleep(1 / rate)
        await asyncio.gather(*tasks)


async def position_poller(target: Target, run: Run, until: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=target.es_url, timeout=10) as es:
        while not until.is_set():
            with contextlib.suppress(httpx.HTTPError):
                run.timeline.append((time.monotonic(), await positions(es, target)))
            await asyncio.sleep(0.05)


async def refresh_pool(es: httpx.AsyncClient) -> dict[str, int]:
    """Elasticsearch's `refresh` thread pool, summed over nodes: size, active, queued."""
    response = await es.get("/_nodes/stats/thread_pool")
    pools = [n["thread_pool"]["refresh"] for n in response.json()["nodes"].values()]
    return {k: sum(int(p[k]) for p in pools) for k in ("threads", "active", "queue")}


async def refresh_probe(es: httpx.AsyncClient, target: Target, index: str) -> dict[str, Any]:
    """How long an explicit refresh of an index of one document takes now: mostly waiting for the refresh pool."""
    started = time.monotonic()
    response = await es.post(f"/{index}/_refresh")
    return {"ms": round((time.monotonic() - started) * 1000, 1), "status": response.status_code}


async def refresh_poller(target: Target, run: Run, until: asyncio.Event) -> None:
    """Once a second: the refresh pool, and how long a refresh of a 1-document index takes (its own task, so that
    a slow refresh does not hold up the metrics)."""
    probe_index = f"{target.es_prefix}bench-refresh-probe"
    async with httpx.AsyncClient(base_url=target.es_url, timeout=60) as es:
        await es.put(f"/{probe_index}", json={"settings": {"number_of_replicas": 0, "refresh_interval": -1}})
        await es.put(f"/{probe_index}/_doc/1", json={"n": 1})
        try:
            while not until.is_set():
                at = time.monotonic()
                with contextlib.suppress(httpx.HTTPError):
                    pool, refresh = await asyncio.gather(refresh_pool(es), refresh_probe(es, target, probe_index))
                    run.refreshes.append({"t": round(at - run.started, 2), "pool": pool, "ms": refresh["ms"]})
                await asyncio.sleep(max(0.0, 1 - (time.monotonic() - at)))
        finally:
            with contextlib.suppress(httpx.HTTPError):
                await es.delete(f"/{probe_index}")


async def metrics_poller(target: Target, run: Run, until: asyncio.Event) -> None:
    async with httpx.AsyncClient(timeout=5) as http:
        while not until.is_set():
            at = time.monotonic()
            with contextlib.suppress(httpx.HTTPError):
                labelled, _ = await scrape(http, target.projector_url)
                relay_lag = None
                if target.relay_url:
                    relay_lag = (await scrape(http, target.relay_url))[1].get("relay_lag_events")
                run.metrics.append(
                    {
                        "t": round(at - run.started, 2),
                        "transient_errors": labelled.get("projection_transient_errors_total", {}),
                        "events_total": labelled.get("projection_events_total", {}),
                        "lag_events": labelled.get("projection_lag_events", {}),
                        "parked": labelled.get("projection_parked_messages", {}),
                        "batch_sum": labelled.get("projection_batch_size_sum", {}),
                        "batch_count": labelled.get("projection_batch_size_count", {}),
                        "bulk_sum": labelled.get("projection_bulk_seconds_sum", {}),
                        "bulk_count": labelled.get("projection_bulk_seconds_count", {}),
                        "relay_lag_events": relay_lag,
                    }
                )
                await asyncio.sleep(max(0.0, 1 - (time.monotonic() - at)))


def process_cpu_seconds(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def elasticsearch_pid() -> int | None:
    """The local Elasticsearch's pid (infra/services.sh), to account its CPU; None if there is none."""
    with contextlib.suppress(OSError, ValueError):
        return int((ROOT / ".state" / "run" / "elasticsearch.pid").read_text().strip())
    return None


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return float(sum(values) - values[3] - values[4]), float(sum(values))


def profile(pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes]:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    command = [py_spy, "record", "--pid", str(pid), "--format", "raw", "--output", str(output)]
    command += ["--duration", str(int(seconds)), "--rate", "100", "--nonblocking"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def hot_spots(raw: Path, top: int = 15) -> dict[str, list[tuple[str, float]]]:
    """From py-spy's raw (collapsed) stacks: share of samples per function, as leaf (self), anywhere in the stack
    (total), and anywhere for the project's own functions (not the standard library or site-packages)."""
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    project: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        matches = [m for m in (FRAME.match(f) for f in stack.split(";")) if m]
        frames = [(f"{m[1]} ({m[2]})", m[2].split("/")[0] in PACKAGES) for m in matches]
        if not frames:
            continue
        total += count
        own[frames[-1][0]] += count
        for frame, ours in set(frames):
            anywhere[frame] += count
            if ours:
                project[frame] += count
    if not total:
        return {"self": [], "total": [], "project_inclusive": [], "samples": [("non-idle samples", 0.0)]}

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(top)]

    return {
        "self": share(own),
        "total": share(anywhere),
        "project_inclusive": share(project),
        "samples": [("non-idle samples", float(total))],
    }


# ---------------------------------------------------------------------------------------------------------------
# Analysis


def lag_to_positions(run: Run, which: int) -> dict[str, dict[str, Any]]:
    """Per projection, over every acknowledged order: ms from acknowledgement until the projection's applied
    (which=0) or visible (which=1) position reached the order's position (50 ms resolution)."""
    out = {}
    for name in PROJECTIONS:
        lags: list[float] = []
        windows: dict[int, list[float]] = defaultdict(list)  # 5 s window of the acknowledgement -> lags
        missing = 0
        j = 0
        for acked, position in sorted(run.acks, key=lambda a: a[1]):
            while j < len(run.timeline) and run.timeline[j][1][name][which] < position:
                j += 1
            if j == len(run.timeline):
                missing += 1
                continue
            lag = max(0.0, (run.timeline[j][0] - acked) * 1000)
            lags.append(lag)
            windows[int((acked - run.started) // 5) * 5].append(lag)
        out[name] = {
            **spread(lags),
            "not_reached": missing,
            "p50_by_5s_window": {f"{start}s": percentile(v, 0.5) for start, v in sorted(windows.items())},
        }
    return out


def throughput(run: Run, load_seconds: float) -> dict[str, Any]:
    """Events handled per second per projection, over the load window and over load + drain, and the peak 1 s rate."""
    samples = run.metrics
    inside = [m for m in samples if m["t"] <= load_seconds + 0.5]
    out: dict[str, Any] = {}
    for name in PROJECTIONS:
        series = [(m["t"], m["events_total"].get(name, 0.0)) for m in samples]
        during = [(m["t"], m["events_total"].get(name, 0.0)) for m in inside]
        rates = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in itertools.pairwise(series) if b[0] > a[0]]
        batch = bulk = None
        if samples and samples[-1]["batch_count"].get(name):
            last, first = samples[-1], samples[0]
            batches = last["batch_count"][name] - first["batch_count"].get(name, 0)
            if batches:
                batch = round((last["batch_sum"][name] - first["batch_sum"].get(name, 0)) / batches, 1)
                bulk = round(1000 * (last["bulk_sum"][name] - first["bulk_sum"].get(name, 0)) / batches, 1)
        out[name] = {
            "events_per_s_during_load": round((during[-1][1] - during[0][1]) / (during[-1][0] - during[0][0]), 1)
            if len(during) > 1
            else None,
            "events_per_s_load_and_drain": round((series[-1][1] - series[0][1]) / (series[-1][0] - series[0][0]), 1)
            if len(series) > 1
            else None,
            "peak_events_per_s_1s": round(max(rates), 1) if rates else None,
            "events": series[-1][1] - series[0][1] if series else 0,
            "mean_batch_size": batch,
            "mean_batch_ms": bulk,
        }
    return out


def queue_depths(run: Run, load_seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in PROJECTIONS:
        series = [(m["t"], int(m["lag_events"].get(name, 0))) for m in run.metrics]
        during = [d for t, d in series if t <= load_seconds]
        half = [d for t, d in series if load_seconds / 2 <= t <= load_seconds]
        out[name] = {
            "max": max((d for _, d in series), default=0),
            "mean_second_half_of_load": round(sum(half) / len(half), 1) if half else None,
            "at_end_of_load": during[-1] if during else None,
            "series": [[t, d] for t, d in series],
        }
    return out


# ---------------------------------------------------------------------------------------------------------------
# Self-contained platform


def with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


@dataclass
class OwnPlatform:
    admin_url: str
    rabbitmq_url: str
    es_url: str
    database: str
    rabbitmq_prefix: str
    es_prefix: str
    platform: Any = None

    async def start(self, log_dir: Path) -> Target:
        from tests.platform import Platform, free_port, platform_env
        from write_api.migrate import migrate

        admin = await asyncpg.connect(self.admin_url)
        try:
            await admin.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            await admin.close()
        database_url = with_database(self.admin_url, self.database)
        await migrate(database_url)
        ports = {name: free_port() for name in ("write_api", "relay", "projector", "search_api")}
        env = platform_env(database_url, self.rabbitmq_url, self.rabbitmq_prefix, self.es_url, self.es_prefix, ports)
        env["LOG_LEVEL"] = "WARNING"
        self.platform = Platform(env, log_dir, ports)
        for name in ("projector", "relay", "write_api", "search_api"):
            await asyncio.to_thread(self.platform.start, name, True)
        return Target(
            self.platform.write_url,
            self.platform.search_url,
            self.platform.url("projector"),
            self.platform.url("relay"),
            self.es_url,
            self.es_prefix,
            self.platform.processes["projector"].pid,
        )

    async def remove(self) -> None:
        from shared.messaging import DEAD_LETTER_EXCHANGE, EXCHANGE, PROJECTION_TOPICS, prefixed
        from shared.messaging import parked_queue_name as parked
        from shared.messaging import queue_name as queue

        if self.platform is not None:
            await asyncio.to_thread(self.platform.stop_all)
        with contextlib.suppress(Exception):
            connection = await aio_pika.connect(self.rabbitmq_url)
            try:
                for p in PROJECTION_TOPICS:
                    for name in (queue(self.rabbitmq_prefix, p), parked(self.rabbitmq_prefix, p)):
                        channel = await connection.channel()
                        with contextlib.suppress(aio_pika.exceptions.AMQPError):
                            await channel.queue_delete(name)
                for name in (EXCHANGE, DEAD_LETTER_EXCHANGE):
                    channel = await connection.channel()
                    with contextlib.suppress(aio_pika.exceptions.AMQPError):
                        await channel.exchange_delete(prefixed(self.rabbitmq_prefix, name))
            finally:
                await connection.close()
        async with httpx.AsyncClient(timeout=60) as es:
            with contextlib.suppress(httpx.HTTPError):
                await es.delete(f"{self.es_url}/{self.es_prefix}*")
        admin = await asyncpg.connect(self.admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        finally:
            await admin.close()


# ---------------------------------------------------------------------------------------------------------------


async def bench(args: argparse.Namespace, target: Target, scratch: Path) -> dict[str, Any]:
    tag = f"PB{secrets.token_hex(2).upper()}"
    skus = [f"{tag}-{n:04d}" for n in range(args.skus)]
    run = Run()
    async with httpx.AsyncClient(base_url=target.write_url, timeout=300) as write:
        started = time.monotonic()
        seeded = await seed(write, skus)
    async with httpx.AsyncClient(base_url=target.es_url, timeout=30) as es:
        caught_up = await wait_applied(es, target, seeded, within=300)
    print(
        f"seeded {args.skus} SKUs x {len(WAREHOUSES)} warehouses in {time.monotonic() - started:.1f} s "
        f"(projected {caught_up:.1f} s after the last seed write was acknowledged)"
    )

    stop_polling = asyncio.Event()
    run.started = time.monotonic()
    run.stop_at = run.started + args.seconds
    pollers = [
        asyncio.create_task(position_poller(target, run, stop_polling)),
        asyncio.create_task(metrics_poller(target, run, stop_polling)),
        asyncio.create_task(refresh_poller(target, run, stop_polling)),
    ]
    profiler = None
    raw = scratch / "projector_profile.txt"
    if args.profile and target.projector_pid:
        await asyncio.sleep(max(0.0, (args.seconds - args.profile_seconds) / 2))
        profiler = profile(target.projector_pid, args.profile_seconds, raw)
    async with httpx.AsyncClient(base_url=target.es_url, timeout=30) as es:
        stats_before = await index_stats(es, target)
    es_pid = elasticsearch_pid()
    cpu_before = process_cpu_seconds(target.projector_pid), time.monotonic()
    es_cpu_before, machine_before = process_cpu_seconds(es_pid), machine_cpu()
    load = [order_worker(target, run, skus, i, args.concurrency) for i in range(args.concurrency)]
    load += [side_worker(target, run, skus, kind, args.side_rate, tag) for kind in SIDE]
    load += [prober(target, run, skus, args.sample_rate)]
    await asyncio.gather(*load)
    load_seconds = time.monotonic() - run.started
    cpu_after = process_cpu_seconds(target.projector_pid), time.monotonic()
    async with httpx.AsyncClient(base_url=target.es_url, timeout=30) as es:
        stats_after = await index_stats(es, target)
    es_cpu_after, machine_after = process_cpu_seconds(es_pid), machine_cpu()
    wall = cpu_after[1] - cpu_before[1]
    cores: dict[str, float | None] = {"projector": None, "elasticsearch": None}
    if cpu_before[0] is not None and cpu_after[0] is not None:
        cores["projector"] = round((cpu_after[0] - cpu_before[0]) / wall, 2)
    if es_cpu_before is not None and es_cpu_after is not None:
        cores["elasticsearch"] = round((es_cpu_after - es_cpu_before) / wall, 2)
    cores["machine_busy_share"] = round(
        (machine_after[0] - machine_before[0]) / max(1.0, machine_after[1] - machine_before[1]), 2
    )
    drained_after = None
    async with httpx.AsyncClient(base_url=target.es_url, timeout=30) as es:
        with contextlib.suppress(RuntimeError):
            drained_after = await wait_applied(es, target, run.last_position, within=300)
    # Queues empty too (the consumer measures depth every 2 s).
    await asyncio.sleep(2.5)
    stop_polling.set()
    await asyncio.gather(*pollers)
    if profiler is not None:
        await asyncio.to_thread(profiler.wait, 60)

    placed = len(run.acks)
    probes = [p for p in run.probes if "lag_ms" in p]
    side = {kind: sum(v for k, v in run.side.items() if k.startswith(kind) and k[-3:] < "300") for kind in SIDE}
    events_in = {  # events the load sent to each projection's queue (an order: 3 StockReserved + OrderPlaced)
        "products": 3 * placed + side["register"] + side["price"] + side["receipt"] + len(probes),
        "inventory": 3 * placed + side["register"] + side["receipt"] + len(probes),
        "orders": placed,
    }
    summary: dict[str, Any] = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": {
            "seconds": args.seconds,
            "concurrency": args.concurrency,
            "skus": args.skus,
            "sample_rate": args.sample_rate,
            "side_rate": args.side_rate,
            "cores": os.cpu_count(),
            "load_average_before": args.load_before,
            "profiled": bool(profiler),
        },
        "writes": {
            "load_seconds": round(load_seconds, 1),
            "orders": placed,
            "orders_per_s": round(placed / load_seconds, 1),
            "order_latency_ms": spread(run.order_latency_ms),
            "order_statuses": dict(run.statuses),
            "side_requests": dict(run.side),
            "events_offered_per_s": {k: round(v / load_seconds, 1) for k, v in events_in.items()},
        },
        "projected": throughput(run, load_seconds),
        "cpu_cores_during_load": cores,
        "elasticsearch_during_load": stats_delta(stats_before, stats_after, load_seconds),
        "drained_seconds_after_load": round(drained_after, 1) if drained_after is not None else None,
        "lag_sampled_min_position_ms": {
            **spread([p["lag_ms"] for p in probes]),
            "stale": sum(1 for p in probes if p["stale"]),
            "errors": len(run.probes) - len(probes),
        },
        "lag_every_order_applied_ms": lag_to_positions(run, 0),
        "lag_every_order_visible_ms": lag_to_positions(run, 1),
        "queue_depth": queue_depths(run, load_seconds),
        "parked_at_end": run.metrics[-1]["parked"] if run.metrics else None,
        "transient_errors_at_end": run.metrics[-1]["transient_errors"] if run.metrics else None,
        "elasticsearch_refresh": {
            "pool_threads": max((r["pool"]["threads"] for r in run.refreshes), default=None),
            "pool_queue_max": max((r["pool"]["queue"] for r in run.refreshes), default=None),
            "pool_active_mean": round(sum(r["pool"]["active"] for r in run.refreshes) / len(run.refreshes), 2)
            if run.refreshes
            else None,
            "probe_refresh_ms_during_load": spread([r["ms"] for r in run.refreshes if r["t"] <= load_seconds]),
            "probe_refresh_ms_after_load": spread([r["ms"] for r in run.refreshes if r["t"] > load_seconds]),
            "series": [[r["t"], r["ms"], r["pool"]["queue"]] for r in run.refreshes],
        },
        "relay_lag_events_max": max((m["relay_lag_events"] or 0 for m in run.metrics), default=None),
    }
    # Keeping up: caught up within a few seconds of the end of the load, little waiting in the queue at its end,
    # and the lag of orders not growing from the first to the last 5 s of the load.
    keeps_up = {}
    for name in PROJECTIONS:
        depth = summary["queue_depth"][name]
        rate = summary["projected"][name]["events_per_s_during_load"] or 0
        windows = list(summary["lag_every_order_applied_ms"][name]["p50_by_5s_window"].values())
        growing = len(windows) >= 2 and windows[-1] > 2 * windows[0] + 1000
        keeps_up[name] = bool(
            drained_after is not None
            and drained_after < 5
            and (depth["at_end_of_load"] or 0) <= max(rate, 1) * 2
            and not growing
        )
    summary["keeps_up"] = keeps_up
    if profiler is not None and raw.exists():
        spots = hot_spots(raw)
        # py-spy leaves out idle samples (the event loop waiting in epoll): the rest is the busy share.
        busy = round(100 * spots.pop("samples")[0][1] / (100 * args.profile_seconds), 1)
        summary["profile"] = {"seconds": args.profile_seconds, "busy_percent_of_samples": busy, **spots}
    return summary


def report(summary: dict[str, Any]) -> None:
    w, cfg = summary["writes"], summary["config"]
    print(
        f"\n{cfg['cores']} cores, load average before {cfg['load_average_before']}; {w['load_seconds']} s of load: "
        f"{w['orders']} orders ({w['orders_per_s']}/s, p50 {w['order_latency_ms']['p50']} ms, "
        f"p99 {w['order_latency_ms']['p99']} ms), side traffic {w['side_requests']}"
    )
    print(f"events offered per s (approx.): {w['events_offered_per_s']}")
    for name in PROJECTIONS:
        p, q = summary["projected"][name], summary["queue_depth"][name]
        a, v = summary["lag_every_order_applied_ms"][name], summary["lag_every_order_visible_ms"][name]
        print(
            f"{name:9} projected {p['events_per_s_during_load']}/s during load (peak {p['peak_events_per_s_1s']}/s, "
            f"batch {p['mean_batch_size']} msgs in {p['mean_batch_ms']} ms); queue depth max {q['max']}, "
            f"at end of load {q['at_end_of_load']}; order->applied p50 {a['p50']} p99 {a['p99']} ms, "
            f"->visible p50 {v['p50']} p99 {v['p99']} ms; keeps up: {summary['keeps_up'][name]}"
        )
        print(f"{'':9} order->applied p50 by 5 s window: {a['p50_by_5s_window']}")
        es = summary["elasticsearch_during_load"].get(name, {})
        print(
            f"{'':9} Elasticsearch: "
            + ", ".join(f"{k} {v['per_s']}/s x {v['mean_ms']} ms" for k, v in es.items() if v["per_s"])
        )
    lag = summary["lag_sampled_min_position_ms"]
    print(
        f"sampled receipt -> GET /products/{{sku}}?min_position fresh: n {lag['n']}, p50 {lag['p50']} ms, "
        f"p90 {lag['p90']} ms, p99 {lag['p99']} ms, max {lag['max']} ms, stale {lag['stale']}"
    )
    refresh = summary["elasticsearch_refresh"]
    print(
        f"Elasticsearch refresh pool: {refresh['pool_threads']} thread(s), queue max {refresh['pool_queue_max']}, "
        f"mean active {refresh['pool_active_mean']}; a refresh of a 1-document index took "
        f"p50 {refresh['probe_refresh_ms_during_load']['p50']} / max {refresh['probe_refresh_ms_during_load']['max']}"
        f" ms during the load, p50 {refresh['probe_refresh_ms_after_load']['p50']} ms after"
    )
    print(
        f"drained {summary['drained_seconds_after_load']} s after the load; parked {summary['parked_at_end']}; "
        f"CPU during the load (cores): {summary['cpu_cores_during_load']}"
    )
    if summary.get("profile"):
        print(f"\npy-spy, projector, {summary['profile']['busy_percent_of_samples']}% of samples busy; self:")
        for name, share in summary["profile"]["self"][:12]:
            print(f"  {share:5.1f}% {name}")
        print("py-spy, projector, share of samples (inclusive, the project's own functions):")
        for name, share in summary["profile"]["project_inclusive"][:15]:
            print(f"  {share:5.1f}% {name}")


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    scratch = Path(tempfile.mkdtemp(prefix="projector-bench-"))
    args.load_before = [round(x, 2) for x in os.getloadavg()]
    if args.write_url:
        target = Target(
            args.write_url,
            args.search_url,
            args.projector_url,
            args.relay_url,
            args.es_url,
            args.es_prefix,
            args.projector_pid,
        )
        return await bench(args, target, scratch)
    tag = secrets.token_hex(3)
    own = OwnPlatform(
        args.admin_url, args.rabbitmq_url, args.es_url, f"bench_proj_{tag}", f"benchp{tag}.", f"benchp{tag}-"
    )
    try:
        target = await own.start(scratch)
        summary = await bench(args, target, scratch)
        summary["logs"] = str(scratch)
        return summary
    finally:
        await own.remove()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--skus", type=int, default=1000)
    parser.add_argument("--sample-rate", type=float, default=5, help="lag probes per second")
    parser.add_argument("--side-rate", type=float, default=10, help="per kind: new products, prices, receipts")
    parser.add_argument("--profile", action="store_true", help="py-spy the projector during the load")
    parser.add_argument("--profile-seconds", type=float, default=10)
    parser.add_argument(
        "--admin-url", default=os.environ.get("TEST_DATABASE_URL", "postgresql://shop:shop@127.0.0.1:5432/shop")
    )
    parser.add_argument(
        "--rabbitmq-url", default=os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    )
    parser.add_argument("--es-url", default=os.environ.get("TEST_ELASTICSEARCH_URL", "http://127.0.0.1:9200"))
    parser.add_argument("--es-prefix", default="", help="with --write-url: the platform's ELASTICSEARCH_PREFIX")
    parser.add_argument("--write-url", help="drive a running platform instead of starting one")
    parser.add_argument("--search-url", default="http://127.0.0.1:8002")
    parser.add_argument("--projector-url", default="http://127.0.0.1:8004")
    parser.add_argument("--relay-url", default="http://127.0.0.1:8003")
    parser.add_argument("--projector-pid", type=int)
    parser.add_argument("--output", type=Path, default=RESULTS / "projector_bench.json")
    args = parser.parse_args()
    summary = asyncio.run(main_async(args))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(summary, indent=2) + "\n")
    report(summary)
    print(f"\nwrote {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}")


if __name__ == "__main__":
    main()
