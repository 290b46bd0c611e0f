"""Query cost benchmark: Elasticsearch time and CPU per product search, for the query as built now and for variants.

    .venv/bin/python tests/bench/query_cost.py [--es-url URL] [--prefix ''] [--requests 400] [--rounds 2] [--seed 5]

Runs against a platform that is up (`make up`). The workload is search_latency.py's (the judgments' queries, their
misspelt variants, random facet filters), sent one at a time straight to `<prefix>products/_search`, so each search
has the server to itself. Per variant and round it prints the mean `took` and the Elasticsearch process's CPU per
search (from the nodes stats API: everything the node did meanwhile, parsing and serialization included). Variants
run in turn within each round, so drift of the shared machine weighs on all alike; compare them within one run.

Variants (each is build_search with one setting changed):
- `current`: the query the search API sends;
- `text-only`: its ranking signals off (no function_score: the text's own score, search_api.queries.ranking);
- `fuzzy-four-fields`: typos looked for in the name, brand, attributes and description fields themselves, with two
  edits from 8 letters (mapping version 2's query) instead of in `typo_text` with one edit;
- `two-edits`: `typo_text`, but two edits from 8 letters;
- `no-fuzzy`: no typo tolerance at all (the floor).

Writes tests/bench/results/query_cost.json and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from search_api.queries import ranking  # noqa: E402
from search_api.queries.products import build_search  # noqa: E402
from search_api.queries.ranking import RANKING, Ranking  # noqa: E402
from shared.read_models import Projection, alias_name  # noqa: E402
from tests.bench.search_latency import Request, base_queries, facet_values, workload  # noqa: E402

RESULTS = ROOT / "tests" / "bench" / "results"


@contextmanager
def settings(**values: Any) -> Iterator[None]:
    old = {name: getattr(ranking, name) for name in values}
    for name, value in values.items():
        setattr(ranking, name, value)
    try:
        yield
    finally:
        for name, value in old.items():
            setattr(ranking, name, value)


def variant(signals: Ranking = RANKING, **values: Any) -> Callable[[Request], dict[str, Any]]:
    def body(request: Request) -> dict[str, Any]:
        with settings(**values):
            return build_search(request.search, signals)

    return body


VARIANTS: dict[str, Callable[[Request], dict[str, Any]]] = {
    "current": variant(),
    "text-only": variant(Ranking(name_phrase=1.0, product_type=1.0, in_stock=1.0)),
    "fuzzy-four-fields": variant(
        FUZZY_FIELDS=["name.plain^2", "brand.text^3", "attributes_text", "description"], FUZZINESS="AUTO:4,8"
    ),
    "two-edits": variant(FUZZINESS="AUTO:4,8"),
    "no-fuzzy": variant(FUZZINESS="0"),
}


async def node_cpu_ms(es: aiohttp.ClientSession) -> float:
    async with es.get("_nodes/stats/process", params={"filter_path": "nodes.*.process.cpu.total_in_millis"}) as r:
        r.raise_for_status()
        nodes = (await r.json())["nodes"]
    return float(sum(node["process"]["cpu"]["total_in_millis"] for node in nodes.values()))


async def measure(
    es: aiohttp.ClientSession, index: str, requests: list[Request], body: Callable[[Request], dict[str, Any]]
) -> dict[str, float]:
    took = 0.0
    cpu = await node_cpu_ms(es)
    for request in requests:
        async with es.post(f"{index}/_search", json=body(request)) as response:
            response.raise_for_status()
            took += (await response.json())["took"]
    cpu = await node_cpu_ms(es) - cpu
    return {"took_ms": round(took / len(requests), 2), "cpu_ms": round(cpu / len(requests), 2)}


def markdown(out: dict[str, Any]) -> str:
    lines = [
        "# Query cost: Elasticsearch time and CPU per product search",
        "",
        f"{out['started_at']} · {out['requests']} searches per variant and round, one at a time · "
        f"index `{out['index']}`",
        "",
        "| variant | round | mean took (ms) | node CPU per search (ms) |",
        "| --- | --- | --- | --- |",
    ]
    for row in out["rows"]:
        lines.append(f"| {row['variant']} | {row['round']} | {row['took_ms']} | {row['cpu_ms']} |")
    return "\n".join(lines) + "\n"


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    index = alias_name(args.prefix, Projection.PRODUCTS)
    rows = []
    async with aiohttp.ClientSession(args.es_url.rstrip("/") + "/") as es:
        queries = base_queries()
        facets = await facet_values(es, index, queries)
        requests = workload(queries, facets, args.requests, random.Random(args.seed))
        for body in VARIANTS.values():  # warm-up: a few searches of each
            await measure(es, index, requests[:20], body)
        for round_no in range(1, args.rounds + 1):
            for name, body in VARIANTS.items():
                row = {"variant": name, "round": round_no, **await measure(es, index, requests, body)}
                print(f"{name:<18} round {round_no}: took {row['took_ms']:6.2f} ms  node CPU {row['cpu_ms']:6.2f} ms")
                rows.append(row)
    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"started_at": started, "index": index, "requests": args.requests, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--es-url", default=os.environ.get("ELASTICSEARCH_URL", "http://127.0.0.1:9200"))
    parser.add_argument("--prefix", default=os.environ.get("ELASTICSEARCH_PREFIX", ""), help="index prefix")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    out = asyncio.run(main_async(args))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "query_cost.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    (args.out / "query_cost.md").write_text(markdown(out), encoding="utf-8")
    print(f"wrote {args.out / 'query_cost.json'} and {args.out / 'query_cost.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
