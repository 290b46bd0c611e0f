"""CPU of the write API per order, before and after a change, in process (so it hardly depends on the machine's
other work, unlike orders/s):

    .venv/bin/python tests/bench/write_cpu.py --before /path/to/other/checkout [--runs 8] [--orders 1500]

Each run is a process of its own with one checkout's write API (`create_app`, lifespan running) on a fresh database,
seeded as write_bench.py seeds; four tasks place `--orders` 3-line orders through ASGI calls (no HTTP server, no
client library), after 400 unmeasured ones, and the process's CPU time per order is taken (the ASGI calls cost the
same for both checkouts). Runs alternate between `--before` and this checkout. Writes
tests/bench/results/write_cpu.json and .md (or `--output`): every run, and per checkout the minimum and the median.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "tests" / "bench" / "results"
ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://shop:shop@127.0.0.1:5432/shop")
KEYS = {"catalog": b"dev-catalog-key", "warehouse": b"dev-warehouse-key", "storefront": b"dev-storefront-key"}


async def call(app: Any, path: str, body: bytes, key: bytes) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"bench"),
            (b"authorization", b"Bearer " + key),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    statuses: list[int] = []
    answer: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])
        elif message["type"] == "http.response.body":
            answer.append(message.get("body", b""))

    await app(scope, receive, send)
    if statuses[0] >= 300:
        sys.stderr.write(f"{path}: {statuses[0]} {b''.join(answer)[:500]!r}\n")
    return statuses[0]


async def measure(orders: int) -> dict[str, Any]:
    """In a process whose working directory and sys.path[0] are the checkout to measure."""
    import asyncpg

    from write_api.migrate import migrate

    database = f"bench_cpu_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{database}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + database
    try:
        await migrate(url)
        os.environ.update(DATABASE_URL=url, LOG_LEVEL="WARNING", ENVIRONMENT="development", API_KEYS="")
        from write_api.main import create_app

        sys.path.insert(0, str(ROOT))
        from tests.bench.write_bench import order_bodies

        app = create_app()
        skus = [f"BENCH-{n:04d}" for n in range(1000)]
        bodies = order_bodies(skus, 4096, random.Random(42))
        async with app.router.lifespan_context(app):
            products = [
                {"sku": s, "name": f"p {n}", "price": {"amount": f"{1 + n % 97}.99", "currency": "EUR"}}
                for n, s in enumerate(skus)
            ]
            assert await call(app, "/products/import", json.dumps(products).encode(), KEYS["catalog"]) == 200
            receipts = [{"sku": s, "warehouse": w, "quantity": 1_000_000} for s in skus for w in ("ams", "ber")]
            assert await call(app, "/inventory/receipts", json.dumps(receipts).encode(), KEYS["warehouse"]) == 200

            async def worker(first: int, count: int) -> None:
                for n in range(first, first + count):
                    assert await call(app, "/orders", bodies[n % len(bodies)], KEYS["storefront"]) == 201

            await asyncio.gather(*(worker(k * 100, 100) for k in range(4)))
            cpu, wall = time.process_time(), time.perf_counter()
            await asyncio.gather(*(worker(1000 + k * orders // 4, orders // 4) for k in range(4)))
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        return {"orders": orders, "cpu_us_per_order": round(cpu / orders * 1e6, 1), "wall_s": round(wall, 1)}
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()


def run(checkout: Path, orders: int) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--measure", str(orders)]
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    out = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True, check=False, timeout=600)
    if out.returncode:
        raise RuntimeError(f"{checkout}: {out.stderr[-3000:]}")
    return {"checkout": str(checkout), **json.loads(out.stdout.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="checkout of the code to compare with")
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--orders", type=int, default=1500)
    parser.add_argument("--output", default="write_cpu", help="result file name (without extension)")
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        sys.path.insert(0, os.getcwd())
        import uvloop

        print(json.dumps(uvloop.run(measure(args.measure))))
        return
    if args.before is None:
        parser.error("--before is required")
    runs: list[dict[str, Any]] = []
    for _ in range(args.runs):
        for side, checkout in (("before", args.before.resolve()), ("after", ROOT)):
            runs.append({"side": side, **run(checkout, args.orders), "load_average": os.getloadavg()[0]})
            print(json.dumps(runs[-1]), flush=True)
    summary: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": runs}
    lines = ["| checkout | runs | CPU µs per order: min | median | all |", "| --- | --- | --- | --- | --- |"]
    for side in ("before", "after"):
        values = sorted(r["cpu_us_per_order"] for r in runs if r["side"] == side)
        summary[side] = {"min": values[0], "median": statistics.median(values)}
        lines.append(f"| {side} | {len(values)} | {values[0]} | {statistics.median(values)} | {values} |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    summary["before_checkout"] = str(args.before)
    (RESULTS / f"{args.output}.json").write_text(json.dumps(summary, indent=2) + "\n")
    (RESULTS / f"{args.output}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
