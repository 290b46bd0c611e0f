"""Write-path benchmark: orders/s of the write API against the ceiling of a bare FastAPI + asyncpg INSERT.

    .venv/bin/python tests/bench/write_bench.py [--seconds 20] [--concurrency 32] [--workers 1] [--profile]

Self-contained: creates a database of its own (bench_<random>, migrated with write_api.migrate), starts the write
API with uvicorn (1 worker unless --workers says otherwise, --no-access-log, uvloop + httptools), seeds 1,000 SKUs
with ample stock through the bulk routes (POST /products/import, POST /inventory/receipts), and drives 3-line orders
(POST /orders) at a fixed concurrency for N seconds. Then, with the same uvicorn settings and the same request
bodies, a bare FastAPI app with one asyncpg INSERT per request (`bench_ceiling(id bigserial, body jsonb)`) gives the
ceiling. Prints orders/s, p50/p99, the ceiling, their ratio, and CPU use of the client, the server (with its
workers) and the whole machine (client and server share the machine's cores); writes
tests/bench/results/write_bench.json and .md. With --profile, a further run of orders is sampled with py-spy and the
hottest functions are listed.

The client is a minimal HTTP/1.1 keep-alive loop on raw asyncio streams (one request in flight per connection),
far cheaper than an HTTP library, so that it takes as little of the shared CPU as possible. synchronous_commit is
left as the server has it (on by default).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import httpx  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402

RESULTS = ROOT / "tests" / "bench" / "results"
SKUS = 1000
WAREHOUSES = ("ams", "ber")
STOCK_PER_WAREHOUSE = 1_000_000
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
FRAME = re.compile(r"^(\S+) \((.+?)(?::\d+)?\)$")  # py-spy raw frame: `function (path/file.py:line)`


# ---------------------------------------------------------------------------------------------------------------
# The ceiling: one INSERT per request, nothing else (uvicorn imports this module by name)


def ceiling_app() -> FastAPI:
    dsn = os.environ["DATABASE_URL"]
    pool_min = int(os.environ.get("DATABASE_POOL_MIN", "2"))
    pool_max = int(os.environ.get("DATABASE_POOL_MAX", "20"))
    state: dict[str, asyncpg.Pool] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        pool = await asyncpg.create_pool(dsn, min_size=pool_min, max_size=pool_max)
        assert pool is not None
        state["pool"] = pool
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/ceiling", status_code=201)
    async def insert(request: Request) -> JSONResponse:
        body = await request.body()
        new_id = await state["pool"].fetchval(
            "INSERT INTO bench_ceiling (body) VALUES ($1::jsonb) RETURNING id", body.decode()
        )
        return JSONResponse({"id": new_id}, status_code=201)

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        await state["pool"].fetchval("SELECT 1")
        return {"status": "ready"}

    return app


# ---------------------------------------------------------------------------------------------------------------
# Processes and CPU accounting


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def spawn(command: list[str], log_path: Path | None = None, **kwargs: Any) -> subprocess.Popen[bytes]:
    """A child process with its output in `log_path` (or discarded); started in one short blocking call."""
    if log_path is None:
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, **kwargs)
    with log_path.open("ab") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, **kwargs)


def uvicorn_options(workers: int = 1) -> list[str]:
    options = ["--workers", str(workers), "--no-access-log", "--log-level", "warning"]
    for module, flag in (("uvloop", ["--loop", "uvloop"]), ("httptools", ["--http", "httptools"])):
        with contextlib.suppress(ImportError):
            __import__(module)
            options += flag
    return options


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


async def start_server(name: str, app: str, env: dict[str, str], log_dir: Path, workers: int = 1) -> Server:
    port = free_port()
    log_path = log_dir / f"{name}.log"
    command = [sys.executable, "-m", "uvicorn", app, "--factory", "--host", HOST, "--port", str(port)]
    process = spawn(command + uvicorn_options(workers), log_path, cwd=ROOT, env=env)
    server = Server(name, port, process, log_path)
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited:\n{log_path.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"http://{HOST}:{port}/readyz")).status_code == 200:
                    return server
            await asyncio.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{name} not ready:\n{log_path.read_text()[-3000:]}")


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def process_tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its live children (uvicorn's workers when --workers > 1)."""
    total = process_cpu_seconds(pid)
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            with contextlib.suppress(OSError):
                total += process_tree_cpu_seconds(int(child))
    return total


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return float(sum(values) - idle), float(sum(values))


@dataclass
class CpuSample:
    at: float
    client: float
    server: float
    machine_busy: float
    machine_total: float
    postgres: dict[int, float]  # backend pid -> CPU seconds

    @classmethod
    def take(cls, server_pid: int, backends: list[int]) -> CpuSample:
        busy, total = machine_cpu()
        postgres = {}
        for pid in backends:
            with contextlib.suppress(OSError):
                postgres[pid] = process_cpu_seconds(pid)
        server = process_tree_cpu_seconds(server_pid)
        return cls(time.perf_counter(), time.process_time(), server, busy, total, postgres)


async def database_backends(database_url: str) -> list[int]:
    """PIDs of the PostgreSQL backends serving this database (the server's pool), to account their CPU."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return [r["pid"] for r in rows]


# ---------------------------------------------------------------------------------------------------------------
# The client: raw HTTP/1.1 keep-alive, one request in flight per connection


@dataclass
class Phase:
    name: str
    seconds: float
    requests: int
    statuses: dict[str, int]
    throughput: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    client_cpu: float  # cores used by this process (the load generator)
    server_cpu: float  # cores used by the server process
    postgres_cpu: float  # cores used by the PostgreSQL backends of the server's pool
    other_cpu: float  # cores used by everything else on the machine (WAL writer, other processes, ...)
    machine_busy: float  # busy fraction of all cores
    # CPU time per successful request: unlike req/s, these hardly depend on what else runs on the machine.
    server_cpu_ms_per_request: float
    postgres_cpu_ms_per_request: float
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


async def drive(
    name: str,
    port: int,
    path: str,
    headers: dict[str, str],
    bodies: list[bytes],
    concurrency: int,
    seconds: float,
    warmup: float,
    server_pid: int,
    expect: int,
    database_url: str,
) -> Phase:
    head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": f"{HOST}:{port}", **headers}.items())
    template = f"POST {path} HTTP/1.1\r\n{head}Content-Type: application/json\r\n".encode()
    requests = [template + b"Content-Length: %d\r\n\r\n" % len(b) + b for b in bodies]
    loop_start = time.perf_counter()
    measure_from = loop_start + warmup
    measure_to = measure_from + seconds
    done: list[tuple[float, float, int]] = []  # (sent, answered, status)
    samples: list[CpuSample] = []

    async def sampler() -> None:
        await asyncio.sleep(max(0.0, measure_from - 0.2 - time.perf_counter()))
        backends = await database_backends(database_url)
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        samples.append(CpuSample.take(server_pid, backends))
        await asyncio.sleep(max(0.0, measure_to - time.perf_counter()))
        samples.append(CpuSample.take(server_pid, backends))

    async def connection(index: int) -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        k = index
        try:
            while True:
                sent = time.perf_counter()
                if sent >= measure_to:
                    return
                writer.write(requests[k % len(requests)])
                k += concurrency
                header = await reader.readuntil(b"\r\n\r\n")
                status = int(header[9:12])
                lower = header.lower()
                at = lower.index(b"content-length:") + 15
                length = int(lower[at : lower.index(b"\r\n", at)])
                await reader.readexactly(length)
                done.append((sent, time.perf_counter(), status))
        finally:
            writer.close()

    await asyncio.gather(sampler(), *(connection(i) for i in range(concurrency)))
    window = [(s, a, st) for s, a, st in done if measure_from <= a <= measure_to]
    latencies = sorted((a - s) * 1000 for s, a, st in window if st == expect)
    statuses = Counter(str(st) for _, _, st in window)
    start_cpu, end_cpu = samples
    wall = end_cpu.at - start_cpu.at
    cores = os.cpu_count() or 1
    client_cpu = (end_cpu.client - start_cpu.client) / wall
    server_cpu = (end_cpu.server - start_cpu.server) / wall
    postgres_cpu = sum(end_cpu.postgres[p] - start_cpu.postgres[p] for p in start_cpu.postgres if p in end_cpu.postgres)
    postgres_cpu /= wall
    machine_busy = (end_cpu.machine_busy - start_cpu.machine_busy) / (end_cpu.machine_total - start_cpu.machine_total)
    return Phase(
        name=name,
        seconds=round(wall, 2),
        requests=len(window),
        statuses=dict(statuses),
        throughput=round(len(latencies) / wall, 1),
        p50_ms=round(percentile(latencies, 0.50), 2),
        p90_ms=round(percentile(latencies, 0.90), 2),
        p99_ms=round(percentile(latencies, 0.99), 2),
        max_ms=round(latencies[-1] if latencies else float("nan"), 2),
        client_cpu=round(client_cpu, 2),
        server_cpu=round(server_cpu, 2),
        postgres_cpu=round(postgres_cpu, 2),
        other_cpu=round(max(0.0, machine_busy * cores - client_cpu - server_cpu - postgres_cpu), 2),
        machine_busy=round(machine_busy, 2),
        server_cpu_ms_per_request=round(1000 * server_cpu * wall / max(1, len(latencies)), 2),
        postgres_cpu_ms_per_request=round(1000 * postgres_cpu * wall / max(1, len(latencies)), 2),
        cores=cores,
    )


# ---------------------------------------------------------------------------------------------------------------
# Seeding, bodies, profiling


def order_bodies(skus: list[str], count: int, rng: random.Random) -> list[bytes]:
    bodies = []
    for n in range(count):
        customer = f"bench-{n}"
        bodies.append(
            json.dumps(
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
                },
                separators=(",", ":"),
            ).encode()
        )
    return bodies


async def seed(base_url: str, skus: list[str]) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=300) as client:
        products = [
            {
                "sku": sku,
                "name": f"Bench product {n}",
                "brand": "Bench",
                "category": "Benchmarks",
                "price": {"amount": f"{1 + n % 97}.99", "currency": "EUR"},
            }
            for n, sku in enumerate(skus)
        ]
        response = await client.post(
            "/products/import", json=products, headers={"Authorization": "Bearer dev-catalog-key"}
        )
        response.raise_for_status()
        assert response.json()["created"] == len(skus), response.text
        receipts = [{"sku": sku, "warehouse": w, "quantity": STOCK_PER_WAREHOUSE} for sku in skus for w in WAREHOUSES]
        response = await client.post(
            "/inventory/receipts", json=receipts, headers={"Authorization": "Bearer dev-warehouse-key"}
        )
        response.raise_for_status()
        assert response.json()["applied"] == len(receipts), response.text


def hot_spots(raw: Path, top: int = 15) -> dict[str, list[tuple[str, float]]]:
    """From py-spy's raw (collapsed) stacks: share of samples per function, as leaf (self) and anywhere (total)."""
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f"{m[1]} ({Path(m[2]).name})" for m in (FRAME.match(f) for f in stack.split(";")) if m]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            anywhere[frame] += count
    if not total:
        return {"self": [], "total": []}

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(top)]

    return {"self": share(own), "total": share(anywhere)}


# ---------------------------------------------------------------------------------------------------------------


def with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def cpu_split(phase: dict[str, Any]) -> str:
    return f"{phase['client_cpu']} / {phase['server_cpu']} / {phase['postgres_cpu']} / {phase['other_cpu']}"


def markdown(summary: dict[str, Any]) -> str:
    rows = [
        "| phase | req/s | p50 ms | p90 ms | p99 ms | max ms | statuses | CPU cores: client / server / PostgreSQL / "
        "other | machine busy | CPU ms per request: server / PostgreSQL |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key in ("orders", "ceiling"):
        p = summary[key]
        rows.append(
            f"| {p['name']} | {p['throughput']} | {p['p50_ms']} | {p['p90_ms']} | {p['p99_ms']} | {p['max_ms']} | "
            f"{p['statuses']} | {cpu_split(p)} | {round(100 * p['machine_busy'])}% | "
            f"{p['server_cpu_ms_per_request']} / {p['postgres_cpu_ms_per_request']} |"
        )
    lines = [
        "# Write benchmark",
        "",
        f"{summary['started_at']} · {summary['config']['cores']} cores · load average before "
        f"{summary['load_average_before']} · concurrency {summary['config']['concurrency']} · "
        f"{summary['config']['seconds']} s per phase · uvicorn {' '.join(summary['config']['uvicorn'])}",
        "",
        *rows,
        "",
        f"**orders/s ÷ ceiling req/s = {summary['ratio']}** (each order: 3 lines → 1 OrderPlaced + 3 StockReserved "
        "events, 4 snapshots, one transaction)",
    ]
    if summary.get("profile"):
        lines += ["", "## py-spy: write API, share of samples (self)", ""]
        lines += [f"- {share}% {name}" for name, share in summary["profile"]["self"]]
        lines += ["", "## py-spy: write API, share of samples (inclusive)", ""]
        lines += [f"- {share}% {name}" for name, share in summary["profile"]["total"]]
    return "\n".join(lines) + "\n"


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    from write_api.migrate import migrate

    database = f"bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(args.admin_url)
    await admin.execute(f'CREATE DATABASE "{database}"')
    database_url = with_database(args.admin_url, database)
    log_dir = RESULTS / "logs"
    log_dir.mkdir(exist_ok=True)
    servers: list[Server] = []
    load_before = os.getloadavg()
    summary: dict[str, Any] = {"started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        await migrate(database_url)
        conn = await asyncpg.connect(database_url)
        await conn.execute("CREATE TABLE bench_ceiling (id bigserial PRIMARY KEY, body jsonb NOT NULL)")
        synchronous_commit = await conn.fetchval("SHOW synchronous_commit")
        await conn.close()
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("API_KEYS", "DATABASE_", "RABBITMQ_", "ELASTIC"))
        }
        env.update(
            {
                "ENVIRONMENT": "development",
                "API_KEYS": "",
                "LOG_LEVEL": "WARNING",
                "DATABASE_URL": database_url,
                "PYTHONPATH": str(ROOT),
            }
        )
        rng = random.Random(42)
        skus = [f"BENCH-{n:04d}" for n in range(SKUS)]
        bodies = order_bodies(skus, 4096, rng)

        write_api = await start_server("write_api", "write_api.main:create_app", env, log_dir, args.workers)
        servers.append(write_api)
        started = time.perf_counter()
        await seed(f"http://{HOST}:{write_api.port}", skus)
        print(f"seeded {SKUS} SKUs x {len(WAREHOUSES)} warehouses in {time.perf_counter() - started:.1f} s")
        orders = await drive(
            "POST /orders (write API)",
            write_api.port,
            "/orders",
            {"Authorization": "Bearer dev-storefront-key"},
            bodies,
            args.concurrency,
            args.seconds,
            args.warmup,
            write_api.process.pid,
            201,
            database_url,
        )
        print(json.dumps(asdict(orders)))
        if args.profile:
            py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
            raw = RESULTS / "write_api_profile.txt"
            profiler = spawn(
                [
                    py_spy,
                    "record",
                    "--pid",
                    str(write_api.process.pid),
                    "--format",
                    "raw",
                    "--output",
                    str(raw),
                    "--duration",
                    str(int(args.profile_seconds)),
                    "--rate",
                    "200",
                    "--nonblocking",
                    *(["--subprocesses"] if args.workers > 1 else []),
                ],
            )
            await asyncio.sleep(1)
            profiled = await drive(
                "POST /orders (write API, under py-spy)",
                write_api.port,
                "/orders",
                {"Authorization": "Bearer dev-storefront-key"},
                bodies,
                args.concurrency,
                args.profile_seconds - 1.5,
                0.5,
                write_api.process.pid,
                201,
                database_url,
            )
            await asyncio.to_thread(profiler.wait, 60)
            summary["profile"] = {**hot_spots(raw), "raw": str(raw.relative_to(ROOT)), "run": asdict(profiled)}
        write_api.stop()
        servers.remove(write_api)

        ceiling = await start_server("ceiling", "tests.bench.write_bench:ceiling_app", env, log_dir, args.workers)
        servers.append(ceiling)
        bare = await drive(
            "POST /ceiling (FastAPI + asyncpg, one INSERT)",
            ceiling.port,
            "/ceiling",
            {},
            bodies,
            args.concurrency,
            args.seconds,
            args.warmup,
            ceiling.process.pid,
            201,
            database_url,
        )
        print(json.dumps(asdict(bare)))
        ceiling.stop()
        servers.remove(ceiling)

        conn = await asyncpg.connect(database_url)
        placed = await conn.fetchval("SELECT count(*) FROM events WHERE event_type = 'OrderPlaced'")
        events = await conn.fetchval("SELECT count(*) FROM events")
        await conn.close()
        summary.update(
            {
                "config": {
                    "seconds": args.seconds,
                    "warmup": args.warmup,
                    "concurrency": args.concurrency,
                    "skus": SKUS,
                    "lines_per_order": 3,
                    "uvicorn": uvicorn_options(args.workers),
                    "database_pool": "2..20 (both apps)",
                    "synchronous_commit": synchronous_commit,
                    "cores": os.cpu_count(),
                    "python": sys.version.split()[0],
                },
                "load_average_before": [round(v, 2) for v in load_before],
                "orders": asdict(orders),
                "ceiling": asdict(bare),
                "ratio": round(orders.throughput / bare.throughput, 3) if bare.throughput else None,
                "orders_placed_in_store": placed,
                "events_in_store": events,
            }
        )
    finally:
        for server in servers:
            server.stop()
        if not args.keep:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20, help="measured seconds per phase (default 20)")
    parser.add_argument("--warmup", type=float, default=2, help="unmeasured seconds before each phase")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of both servers (default 1)")
    parser.add_argument("--profile", action="store_true", help="sample the write API with py-spy in an extra run")
    parser.add_argument("--profile-seconds", type=float, default=12)
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("TEST_DATABASE_URL", "postgresql://shop:shop@127.0.0.1:5432/shop"),
        help="a role that may CREATE DATABASE",
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()  # the client's loop too: less client CPU on the shared cores
    except ImportError:
        pass
    summary = asyncio.run(main_async(args))
    (RESULTS / "write_bench.json").write_text(json.dumps(summary, indent=2) + "\n")
    (RESULTS / "write_bench.md").write_text(markdown(summary))
    orders, ceiling = summary["orders"], summary["ceiling"]
    print()
    for label, phase, unit in (("orders: ", orders, "orders/s"), ("ceiling:", ceiling, "req/s")):
        print(
            f"{label} {phase['throughput']} {unit}  p50 {phase['p50_ms']} ms  p99 {phase['p99_ms']} ms  "
            f"(CPU cores client / server / PostgreSQL / other: {cpu_split(phase)}; "
            f"machine {phase['machine_busy']:.0%}; "
            f"CPU ms per request server {phase['server_cpu_ms_per_request']}, "
            f"PostgreSQL {phase['postgres_cpu_ms_per_request']})"
        )
    print(f"ratio orders/s / ceiling req/s = {summary['ratio']}")
    if summary.get("profile"):
        print("write API hot spots (py-spy, share of samples, self):")
        for name, share in summary["profile"]["self"]:
            print(f"  {share:5.1f}%  {name}")
    print(f"written: {RESULTS / 'write_bench.json'}, {RESULTS / 'write_bench.md'}")


if __name__ == "__main__":
    main()
