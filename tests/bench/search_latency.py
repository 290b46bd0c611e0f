"""Search latency benchmark: the search API's /products/search against the same Elasticsearch requests sent directly.

    .venv/bin/python tests/bench/search_latency.py [--search-url http://127.0.0.1:8002] [--es-url URL] [--prefix '']
        [--rate 100] [--seconds 30] [--warmup 5] [--prewarm 30] [--rounds 2] [--seed 11]

Runs against a platform that is up (`make up`: catalogue loaded, search API listening). The workload is the queries
of judgments-dev.csv plus one misspelt variant of each (two adjacent letters of the longest word swapped), each
request with random facet filters: a brand and/or a category taken from the facets Elasticsearch returns for that
query (as a shopper would click them), or none. Requests are sent open loop at a fixed rate (request i leaves at
t0 + i/rate whether or not earlier ones have answered), so a slow server cannot slow the load down; latency is
measured from the moment a request was due to leave (no coordinated omission), and the time from the actual send is
reported beside it.

The API phase sends GET /products/search to the search API. The direct phase sends, at the same rate and in the same
order, the very request bodies the API builds for those parameters (search_api.queries.products.build_search)
straight to `<prefix>products/_search`. A pre-warm sends both, interleaved, first (a freshly started Elasticsearch
compiles its hot code for minutes, and whichever phase ran first paid for it); then `--rounds` rounds of both
phases run, in the order API, direct, then direct, API, and so on (ABBA: drift of the shared machine during the run
weighs on both alike). Samples are pooled per path; each round's ratio is reported too. Both phases use the same
HTTP client (aiohttp with keep-alive: much lighter on the shared CPU than httpx with hundreds of requests waiting)
and each is preceded by a warm-up that is not measured. Prints
p50/p90/p99 of both and the ratio API p99 / direct p99, and writes tests/bench/results/search_latency.json and .md.
Client, API and Elasticsearch share the machine: the load average is recorded with the results.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from infra.demo.chorus import DEFAULT_DATA_DIR  # noqa: E402
from search_api.queries.products import ProductSearch, build_search  # noqa: E402
from shared.read_models import Projection, alias_name  # noqa: E402

RESULTS = ROOT / "tests" / "bench" / "results"
JUDGMENTS = DEFAULT_DATA_DIR / "judgments-dev.csv"
# Share of requests with: no facet filter, a brand, a category, both.
FILTER_MIX: dict[str, float] = {"none": 0.4, "brand": 0.3, "category": 0.2, "both": 0.1}


@dataclass(frozen=True)
class Request:
    search: ProductSearch

    def api_params(self) -> list[tuple[str, str]]:
        params = [("q", self.search.q or "")]
        params += [("brand", b) for b in self.search.brand]
        params += [("category", c) for c in self.search.category]
        return params

    def es_body(self) -> dict[str, Any]:
        return build_search(self.search)


@dataclass
class Sample:
    latency: float  # from when the request was due to leave (seconds)
    service: float  # from when it actually left
    status: str
    took_ms: int | None = None  # Elasticsearch's own `took`, direct phase only


@dataclass
class Phase:
    name: str
    samples: list[Sample] = field(default_factory=list)
    seconds: float = 0.0
    late_sends: int = 0  # requests that left more than 5 ms after they were due (client could not keep up)


def typo(query: str) -> str:
    """The query with two adjacent letters of its longest word swapped ("cable" -> "cabel")."""
    words = query.split()
    i = max(range(len(words)), key=lambda n: len(words[n]))
    word = words[i]
    if len(word) < 4:
        return query
    k = len(word) - 2
    words[i] = word[:k] + word[k + 1] + word[k] + word[k + 2 :]
    return " ".join(words)


def base_queries() -> list[str]:
    with JUDGMENTS.open(newline="", encoding="utf-8") as stream:
        queries = sorted({row["query"] for row in csv.DictReader(stream)})
    variants = [typo(q) for q in queries]
    return queries + [v for v in variants if v not in queries]


async def facet_values(es: aiohttp.ClientSession, index: str, queries: list[str]) -> dict[str, Any]:
    """Brand and category facet values of each query (what a shopper would see and click)."""
    values: dict[str, Any] = {}
    for q in queries:
        async with es.post(f"{index}/_search", json=build_search(ProductSearch(q=q))) as response:
            response.raise_for_status()
            aggs = (await response.json())["aggregations"]
        values[q] = {
            "brand": [b["key"] for b in aggs["brand"]["values"]["buckets"]],
            "category": [b["key"] for b in aggs["category"]["values"]["buckets"]],
        }
    return values


def workload(queries: list[str], facets: dict[str, Any], n: int, rng: random.Random) -> list[Request]:
    kinds, weights = list(FILTER_MIX), list(FILTER_MIX.values())
    requests = []
    for _ in range(n):
        q = rng.choice(queries)
        kind = rng.choices(kinds, weights)[0]
        brands, categories = facets[q]["brand"], facets[q]["category"]
        brand = (rng.choice(brands),) if kind in ("brand", "both") and brands else ()
        category = (rng.choice(categories),) if kind in ("category", "both") and categories else ()
        requests.append(Request(ProductSearch(q=q, brand=brand, category=category)))
    return requests


Send = Callable[[Request], Awaitable[tuple[str, int | None]]]


async def open_loop(send: Send, requests: list[Request], rate: float, phase: Phase | None) -> None:
    """Send request i at t0 + i/rate, never waiting for answers; record samples into `phase` (None: warm-up)."""
    loop = asyncio.get_running_loop()

    async def one(request: Request, due: float) -> None:
        sent = loop.time()
        if phase is not None and sent - due > 0.005:
            phase.late_sends += 1
        try:
            status, took = await send(request)
        except (aiohttp.ClientError, TimeoutError) as exc:
            status, took = type(exc).__name__, None
        done = loop.time()
        if phase is not None:
            phase.samples.append(Sample(done - due, done - sent, status, took))

    tasks: list[asyncio.Task[None]] = []
    t0 = loop.time() + 0.05
    for i, request in enumerate(requests):
        due = t0 + i / rate
        if (delay := due - loop.time()) > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(request, due)))
    await asyncio.gather(*tasks)
    if phase is not None:
        phase.seconds = loop.time() - t0


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def stats(phase: Phase) -> dict[str, Any]:
    ok = [s for s in phase.samples if s.status == "200"]
    latency = [s.latency * 1000 for s in ok]
    service = [s.service * 1000 for s in ok]
    took = [float(s.took_ms) for s in ok if s.took_ms is not None]
    out: dict[str, Any] = {
        "requests": len(phase.samples),
        "ok": len(ok),
        "statuses": dict(Counter(s.status for s in phase.samples)),
        "achieved_rate": round(len(phase.samples) / phase.seconds, 1) if phase.seconds else 0.0,
        "late_sends": phase.late_sends,
        "latency_ms": {f"p{p}": round(percentile(latency, p), 2) for p in (50, 90, 99)}
        | {"max": round(max(latency, default=float("nan")), 2), "mean": round(sum(latency) / max(1, len(latency)), 2)},
        "service_ms": {f"p{p}": round(percentile(service, p), 2) for p in (50, 90, 99)},
    }
    if took:
        out["es_took_ms"] = {f"p{p}": round(percentile(took, p), 2) for p in (50, 90, 99)}
    return out


def markdown(out: dict[str, Any]) -> str:
    cfg = out["config"]
    lines = [
        "# Search latency: search API vs the same requests sent directly to Elasticsearch",
        "",
        f"{out['started_at']} · {out['cores']} cores · load average before {out['load_before']} after "
        f"{out['load_after']} · {cfg['rate']} req/s open loop · {cfg['prewarm']} s pre-warm of both paths, then "
        f"{cfg['rounds']} rounds (order flipped each round) of {cfg['seconds']} s per phase after "
        f"{cfg['warmup']} s warm-up · {cfg['distinct_queries']} queries (dev + typo variants) with random "
        f"brand/category filters",
        "",
        "Latency is measured from when each request was due to leave; service time from when it left.",
        "",
        "| phase | requests | ok | completed/s | p50 ms | p90 ms | p99 ms | max ms | service p99 ms | ES took p99 ms |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, label in (("api", "search API GET /products/search"), ("direct", "Elasticsearch _search, same body")):
        s = out[name]
        took = s.get("es_took_ms", {}).get("p99", "—")
        lines.append(
            f"| {label} | {s['requests']} | {s['ok']} | {s['achieved_rate']} | {s['latency_ms']['p50']} | "
            f"{s['latency_ms']['p90']} | {s['latency_ms']['p99']} | {s['latency_ms']['max']} | "
            f"{s['service_ms']['p99']} | {took} |"
        )
    lines += ["", f"**API p99 / direct p99 = {out['ratio_p99']}** (p50 ratio {out['ratio_p50']})", ""]
    lines += ["| round | API p50 / p99 ms | direct p50 / p99 ms | p99 ratio |", "| --- | --- | --- | --- |"]
    for number, r in enumerate(out["rounds"], start=1):
        lines.append(
            f"| {number} | {r['api']['p50']} / {r['api']['p99']} | {r['direct']['p50']} / {r['direct']['p99']} | "
            f"{r['ratio_p99']} |"
        )
    lines.append("")
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    index = alias_name(args.prefix, Projection.PRODUCTS)
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    async with (
        aiohttp.ClientSession(
            base_url=args.search_url.rstrip("/") + "/",
            connector=aiohttp.TCPConnector(limit=args.max_connections),
            timeout=timeout,
        ) as api,
        aiohttp.ClientSession(
            base_url=args.es_url.rstrip("/") + "/",
            connector=aiohttp.TCPConnector(limit=args.max_connections),
            timeout=timeout,
        ) as es,
    ):
        async with api.get("readyz") as ready:
            if ready.status != 200:
                raise SystemExit(f"search API at {args.search_url} is not ready: {ready.status}")
        queries = base_queries()
        facets = await facet_values(es, index, queries)

        async def via_api(request: Request) -> tuple[str, int | None]:
            async with api.get("products/search", params=request.api_params()) as response:
                await response.read()
                return str(response.status), None

        async def direct(request: Request) -> tuple[str, int | None]:
            async with es.post(f"{index}/_search", json=request.es_body()) as response:
                body = await response.read()
                took = json.loads(body).get("took") if response.status == 200 else None
                return str(response.status), took

        # Sanity check: both paths answer the same total for the same parameters.
        mismatches = []
        for request in workload(queries, facets, 20, random.Random(args.seed + 1)):
            async with api.get("products/search", params=request.api_params()) as response:
                via = (await response.json())["total"]
            async with es.post(f"{index}/_search", json=request.es_body()) as response:
                raw = (await response.json())["hits"]["total"]["value"]
            if via != raw:
                mismatches.append({"params": request.api_params(), "api": via, "direct": raw})

        warm = workload(queries, facets, int(args.rate * args.warmup), rng)
        measured = workload(queries, facets, int(args.rate * args.seconds), rng)
        load_before = [round(x, 2) for x in os.getloadavg()]
        senders: dict[str, Send] = {"api": via_api, "direct": direct}
        if args.prewarm > 0:
            # A freshly started Elasticsearch is still compiling its hot code (JIT) for minutes: whichever phase
            # came first would pay for it. Both paths, interleaved, until it has settled.
            print(f"pre-warm: {args.prewarm} s, both paths interleaved …", flush=True)
            mixed = workload(queries, facets, int(args.rate * args.prewarm), rng)

            async def either(request: Request) -> tuple[str, int | None]:
                return await (via_api if rng.random() < 0.5 else direct)(request)

            await open_loop(either, mixed, args.rate, None)
        phases = {name: Phase(name) for name in senders}
        by_round: list[dict[str, Any]] = []
        for number in range(args.rounds):
            # ABBA: the order flips every round, so a machine that gets slower (or faster) during the run weighs
            # on both paths alike.
            order = ("api", "direct") if number % 2 == 0 else ("direct", "api")
            this_round: dict[str, Any] = {}
            for name in order:
                print(
                    f"round {number + 1} {name}: warm-up {args.warmup} s, then {args.seconds} s at {args.rate} req/s …",
                    flush=True,
                )
                await open_loop(senders[name], warm, args.rate, None)
                segment = Phase(name)
                await open_loop(senders[name], measured, args.rate, segment)
                phases[name].samples += segment.samples
                phases[name].seconds += segment.seconds
                phases[name].late_sends += segment.late_sends
                this_round[name] = stats(segment)["latency_ms"]
            this_round["ratio_p99"] = round(this_round["api"]["p99"] / this_round["direct"]["p99"], 2)
            by_round.append(this_round)
        load_after = [round(x, 2) for x in os.getloadavg()]
        pooled = {name: stats(phase) for name, phase in phases.items()}

    api_stats, direct_stats = pooled["api"], pooled["direct"]
    return {
        "started_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cores": os.cpu_count(),
        "load_before": load_before,
        "load_after": load_after,
        "config": {
            "search_url": args.search_url,
            "es_url": args.es_url,
            "index": index,
            "rate": args.rate,
            "seconds": args.seconds,
            "warmup": args.warmup,
            "prewarm": args.prewarm,
            "rounds": args.rounds,
            "seed": args.seed,
            "distinct_queries": len(queries),
            "filter_mix": FILTER_MIX,
            "size": ProductSearch().size,
            "max_connections": args.max_connections,
            "timeout": args.timeout,
        },
        "total_mismatches": mismatches,
        "api": api_stats,
        "direct": direct_stats,
        "rounds": by_round,
        "ratio_p99": round(api_stats["latency_ms"]["p99"] / direct_stats["latency_ms"]["p99"], 2),
        "ratio_p50": round(api_stats["latency_ms"]["p50"] / direct_stats["latency_ms"]["p50"], 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--search-url", default="http://127.0.0.1:8002")
    parser.add_argument("--es-url", default=os.environ.get("ELASTICSEARCH_URL", "http://127.0.0.1:9200"))
    parser.add_argument("--prefix", default=os.environ.get("ELASTICSEARCH_PREFIX", ""), help="index prefix")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=5.0, help="unmeasured seconds before each phase")
    parser.add_argument("--prewarm", type=float, default=30.0, help="unmeasured seconds of both paths, first")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of both phases, order flipped each round")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--max-connections", type=int, default=256, help="per target")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before a request counts as failed")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.seconds <= 0 or args.warmup < 0 or args.prewarm < 0 or args.rounds < 1:
        parser.error("--rate, --seconds and --rounds must be positive, --warmup and --prewarm non-negative")
    out = asyncio.run(main_async(args))
    for name in ("api", "direct"):
        s = out[name]
        lat = s["latency_ms"]
        print(
            f"{name:<7} {s['requests']} requests, {s['ok']} ok, {s['achieved_rate']} req/s: "
            f"p50 {lat['p50']} ms  p90 {lat['p90']} ms  p99 {lat['p99']} ms  max {lat['max']} ms  "
            f"(service p99 {s['service_ms']['p99']} ms, late sends {s['late_sends']})"
        )
    print(f"API p99 / direct p99 = {out['ratio_p99']}  (p50 ratio {out['ratio_p50']})")
    print("per round: " + ", ".join(f"{r['ratio_p99']}" for r in out["rounds"]))
    if out["total_mismatches"]:
        print(f"WARNING: {len(out['total_mismatches'])} of 20 checks gave different totals via the API and directly")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "search_latency.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    (args.out / "search_latency.md").write_text(markdown(out), encoding="utf-8")
    print(f"wrote {args.out / 'search_latency.json'} and {args.out / 'search_latency.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
