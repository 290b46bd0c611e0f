"""Write path before and after a change, on a shared machine: the two write APIs and the ceiling take turns.

    .venv/bin/python tests/bench/write_ab.py --before /path/to/other/checkout [--rounds 8] [--slice 3]

write_bench.py measures the orders phase, then the ceiling phase; when other work on the machine comes and goes
between the two, its ratio says more about that work than about the code. Here the write API of `--before` (another
checkout, e.g. `git archive <commit> | tar -x -C dir`), the write API of this checkout and the ceiling
(write_bench.ceiling_app) run side by side, each on a database of its own, seeded as write_bench seeds, and are
driven in short slices, one after the other, in an order that rotates every round: whatever else runs on the
machine falls on all three alike. Same client, bodies, concurrency and uvicorn settings as write_bench.py. Prints
and writes tests/bench/results/write_ab.json and .md: orders/s and req/s over all slices, each write API's ratio to
the ceiling, p99, and CPU per request (which depends least on the machine's other work).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from tests.bench.write_bench import (  # noqa: E402
    HOST,
    RESULTS,
    SKUS,
    Phase,
    Server,
    drive,
    free_port,
    order_bodies,
    seed,
    spawn,
    uvicorn_options,
    with_database,
)

ORDERS = {"Authorization": "Bearer dev-storefront-key"}


async def start(name: str, app: str, root: Path, env: dict[str, str], log_dir: Path) -> Server:
    import httpx

    port = free_port()
    log_path = log_dir / f"ab_{name}.log"
    command = [sys.executable, "-m", "uvicorn", app, "--factory", "--host", HOST, "--port", str(port)]
    process = spawn(command + uvicorn_options(1), log_path, cwd=root, env={**env, "PYTHONPATH": str(root)})
    server = Server(name, port, process, log_path)
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(300):
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited:\n{log_path.read_text()[-3000:]}")
            try:
                if (await client.get(f"http://{HOST}:{port}/readyz")).status_code == 200:
                    return server
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{name} not ready:\n{log_path.read_text()[-3000:]}")


def total(phases: list[Phase]) -> dict[str, Any]:
    wall = sum(p.seconds for p in phases)
    good = sum(p.throughput * p.seconds for p in phases)
    return {
        "slices": len(phases),
        "seconds": round(wall, 1),
        "throughput": round(good / wall, 1),
        "p99_ms_median_of_slices": sorted(p.p99_ms for p in phases)[len(phases) // 2],
        "server_cpu_ms_per_request": round(
            sum(p.server_cpu_ms_per_request * p.throughput * p.seconds for p in phases) / good, 3
        ),
        "postgres_cpu_ms_per_request": round(
            sum(p.postgres_cpu_ms_per_request * p.throughput * p.seconds for p in phases) / good, 3
        ),
        "other_cpu_mean": round(sum(p.other_cpu * p.seconds for p in phases) / wall, 2),
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from write_api.migrate import migrate

    admin = await asyncpg.connect(args.admin_url)
    names = {side: f"bench_ab_{side}_{secrets.token_hex(3)}" for side in ("before", "after")}
    urls = {side: with_database(args.admin_url, name) for side, name in names.items()}
    servers: dict[str, Server] = {}
    log_dir = RESULTS / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    try:
        for side, name in names.items():
            await admin.execute(f'CREATE DATABASE "{name}"')
            await migrate(urls[side])
        conn = await asyncpg.connect(urls["after"])
        await conn.execute("CREATE TABLE bench_ceiling (id bigserial PRIMARY KEY, body jsonb NOT NULL)")
        await conn.close()
        base = {k: v for k, v in os.environ.items() if not k.startswith(("API_KEYS", "DATABASE_", "RABBITMQ_"))}
        base.update({"ENVIRONMENT": "development", "API_KEYS": "", "LOG_LEVEL": "WARNING"})
        app = "write_api.main:create_app"
        servers["before"] = await start("before", app, args.before, {**base, "DATABASE_URL": urls["before"]}, log_dir)
        servers["after"] = await start("after", app, ROOT, {**base, "DATABASE_URL": urls["after"]}, log_dir)
        ceiling_app = "tests.bench.write_bench:ceiling_app"
        servers["ceiling"] = await start("ceiling", ceiling_app, ROOT, {**base, "DATABASE_URL": urls["after"]}, log_dir)
        skus = [f"BENCH-{n:04d}" for n in range(SKUS)]
        for side in ("before", "after"):
            await seed(f"http://{HOST}:{servers[side].port}", skus)
        bodies = order_bodies(skus, 4096, random.Random(42))
        targets = {
            "before": ("/orders", ORDERS, urls["before"]),
            "after": ("/orders", ORDERS, urls["after"]),
            "ceiling": ("/ceiling", {}, urls["after"]),
        }
        phases: dict[str, list[Phase]] = {side: [] for side in targets}
        order = list(targets)
        for round_ in range(-1, args.rounds):  # round -1 warms every server up and is not counted
            for side in order[round_ % 3 :] + order[: round_ % 3]:
                path, headers, url = targets[side]
                pid = servers[side].process.pid
                phase = await drive(side, servers[side].port, path, headers, bodies, 32, args.slice, 0.5, pid, 201, url)
                if round_ >= 0:
                    phases[side].append(phase)
            print(f"round {round_ + 1}/{args.rounds} done", flush=True)
        result = {side: total(p) for side, p in phases.items()}
        ceiling = result["ceiling"]["throughput"]
        for side in ("before", "after"):
            result[side]["ratio"] = round(result[side]["throughput"] / ceiling, 3)
        result["slices"] = {side: [asdict(p) for p in p_] for side, p_ in phases.items()}
        return {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "before": str(args.before), **result}
    finally:
        for server in servers.values():
            server.stop()
        for name in names.values():
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="checkout of the code to compare with")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--slice", type=float, default=3.0, help="measured seconds per server and round")
    parser.add_argument(
        "--admin-url", default=os.environ.get("TEST_DATABASE_URL", "postgresql://shop:shop@127.0.0.1:5432/shop")
    )
    parser.add_argument("--output", default="write_ab", help="result file name (without extension)")
    args = parser.parse_args()
    import uvloop

    uvloop.install()
    summary = asyncio.run(main_async(args))
    (RESULTS / f"{args.output}.json").write_text(json.dumps(summary, indent=2) + "\n")
    header = ["server", "orders or req/s", "ratio to ceiling", "p99 ms (median slice)", "server CPU ms/request"]
    header += ["PostgreSQL CPU ms/request", "other CPU (cores)"]
    lines = [f"# Write path before / after, interleaved ({summary['started']})", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for side in ("before", "after", "ceiling"):
        r = summary[side]
        cells = [side, r["throughput"], r.get("ratio", ""), r["p99_ms_median_of_slices"]]
        cells += [r["server_cpu_ms_per_request"], r["postgres_cpu_ms_per_request"], r["other_cpu_mean"]]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    (RESULTS / f"{args.output}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
