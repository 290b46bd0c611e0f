"""Offline relevance benchmark: our product search against a plain Elasticsearch baseline, on the Chorus judgments.

    .venv/bin/python tests/bench/relevance.py [--es-url URL] [--seed 7] [--keep] [--reuse PREFIX]

Self-contained: under a prefix of its own (`relbench-<random>-`) it creates the products index from
infra/elasticsearch/products.v<N>.json behind its alias (projector.elastic.create_index), and fills it through the real
projection code without running the pipeline: each Chorus record becomes a product (write_api.demo.chorus_to_product),
a synthetic ProductRegistered envelope, and a document (projector.projections.products.apply); a seeded ~90% of the
products then receive stock (apply_stock of a StockReceived), so `in_stock` varies as in the shop. Beside it, a
baseline index holds `name` and `description` with default mappings (standard analyzer).

Each of the queries of judgments-dev.csv then runs twice in the same run:
- ours: search_api.queries.products.build_search(ProductSearch(q=query, size=10)), exactly what the API sends;
- baseline: one `multi_match` of the query over name and description with Elasticsearch's defaults
  (best_fields, operator or, no fuzziness, no boosts).

Metrics, per query and mean over queries:
- nDCG@10 with exponential gains 2^rating - 1 (ratings 0..3 give 0, 1, 3, 7) and log2(rank + 1) discounts; the ideal
  ranking is the query's judged products sorted by rating; an unjudged product counts as gain 0;
- judged@10: the share of the 10 ranks filled by a judged product (an empty rank counts as unjudged).
The judgments were pooled from one baseline engine's results, so an unjudged product is unknown rather than
irrelevant: read nDCG together with judged@10. A small typo check re-runs a few queries misspelt and scores them
against the correct query's judgments.

Writes tests/bench/results/relevance.json and relevance.md, and deletes its indices (unless --keep).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import math
import os
import platform
import random
import secrets
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from elasticsearch import AsyncElasticsearch  # noqa: E402
from elasticsearch.helpers import async_bulk  # noqa: E402

from infra.demo.chorus import DEFAULT_DATA_DIR, InvalidRecord, chorus_to_product, iter_chorus  # noqa: E402
from projector.elastic import create_index, new_index_name  # noqa: E402
from projector.projections.products import apply  # noqa: E402
from search_api.queries.products import ProductSearch, build_search  # noqa: E402
from shared.events.envelope import Envelope  # noqa: E402
from shared.events.payloads import ProductRegistered  # noqa: E402
from shared.read_models import Projection, alias_name  # noqa: E402

RESULTS = ROOT / "tests" / "bench" / "results"
JUDGMENTS = DEFAULT_DATA_DIR / "judgments-dev.csv"
K = 10
IN_STOCK_SHARE = 0.9
WAREHOUSES = ("ams", "ber", "par")
RECORDED_AT = datetime(2026, 1, 1, tzinfo=UTC)
# Misspellings of dev queries, scored against the correct query's judgments (typo tolerance must hold).
TYPOS = {
    "hdmi cabel": "hdmi cable",
    "hedphones": "headphones",
    "labtop": "laptop",
    "extrenal hard drive": "external hard drive",
    "usb hubb": "usb hub",
    "wireles headphones": "wireless headphones",
}

Judgments = dict[str, dict[str, int]]  # query -> product id -> rating
SearchFn = Callable[[str], dict[str, Any]]


@dataclass
class Scores:
    ndcg: float
    judged: float
    relevant: int  # products rated >= 2 in the top K
    ids: list[str] = field(default_factory=list)


def load_judgments(path: Path = JUDGMENTS) -> Judgments:
    judgments: Judgments = defaultdict(dict)
    with path.open(newline="", encoding="utf-8") as stream:
        for row in csv.DictReader(stream):
            judgments[row["query"]][row["docid"]] = int(row["rating"])
    return dict(judgments)


def gain(rating: int) -> float:
    return float(2**rating - 1)


def dcg(ratings: list[int]) -> float:
    return sum(gain(r) / math.log2(rank + 2) for rank, r in enumerate(ratings[:K]))


def score(ids: list[str], judged: dict[str, int]) -> Scores:
    ratings = [judged.get(i, 0) for i in ids[:K]]
    ideal = dcg(sorted(judged.values(), reverse=True))
    return Scores(
        ndcg=dcg(ratings) / ideal if ideal > 0 else 0.0,
        judged=sum(1 for i in ids[:K] if i in judged) / K,
        relevant=sum(1 for i in ids[:K] if judged.get(i, 0) >= 2),
        ids=ids[:K],
    )


# ---------------------------------------------------------------------------------------------------------------
# Indexing through the projection code


def envelope(product: dict[str, Any], n: int) -> Envelope:
    payload = ProductRegistered.model_validate(product)
    return Envelope(
        event_id=uuid.uuid4(),
        stream_id=f"product-{payload.sku}",
        stream_type="product",
        version=1,
        global_position=n,
        transaction_id=n,
        event_type=payload.TYPE,
        schema_version=payload.SCHEMA_VERSION,
        recorded_at=RECORDED_AT,
        data=payload.to_json(),
        metadata={},
    )


def documents(seed: int) -> tuple[list[dict[str, Any]], int]:
    """The products index's documents of the whole catalogue, and how many records were skipped."""
    rng = random.Random(seed)
    docs, skipped = [], 0
    for n, record in enumerate(iter_chorus(DEFAULT_DATA_DIR), start=1):
        try:
            product = chorus_to_product(record)
        except InvalidRecord:
            skipped += 1
            continue
        doc = apply(None, envelope(product, n))
        assert doc is not None
        if rng.random() < IN_STOCK_SHARE:
            doc = {**doc, "in_stock": True, "stocked_in": [rng.choice(WAREHOUSES)]}
        docs.append(doc)
    return docs, skipped


def baseline_index(prefix: str) -> str:
    return f"{prefix}baseline"


async def build_indices(es: AsyncElasticsearch, prefix: str, seed: int) -> dict[str, Any]:
    started = time.perf_counter()
    docs, skipped = documents(seed)
    name = new_index_name(prefix, Projection.PRODUCTS)
    await create_index(es, name, Projection.PRODUCTS, replicas=0)
    await es.indices.update_aliases(
        actions=[{"add": {"index": name, "alias": alias_name(prefix, Projection.PRODUCTS)}}]
    )
    await es.indices.create(
        index=baseline_index(prefix),
        settings={"number_of_shards": 1, "number_of_replicas": 0},
        mappings={
            "properties": {"sku": {"type": "keyword"}, "name": {"type": "text"}, "description": {"type": "text"}}
        },
    )

    async def actions() -> AsyncIterator[dict[str, Any]]:
        for doc in docs:
            yield {"_index": name, "_id": doc["sku"], "_source": doc}
            base = {"sku": doc["sku"], "name": doc["name"], "description": doc.get("description")}
            yield {"_index": baseline_index(prefix), "_id": doc["sku"], "_source": base}

    ok, _ = await async_bulk(es, actions(), chunk_size=2000, max_retries=3, raise_on_error=True)
    await es.indices.refresh(index=f"{name},{baseline_index(prefix)}")
    return {
        "products": len(docs),
        "skipped_records": skipped,
        "in_stock": sum(1 for d in docs if d["in_stock"]),
        "indexed": ok,
        "index_seconds": round(time.perf_counter() - started, 1),
    }


async def delete_indices(es: AsyncElasticsearch, prefix: str) -> None:
    found = await es.indices.get(index=f"{prefix}*", expand_wildcards="all", ignore_unavailable=True)
    for index in found.body:
        if index.startswith(prefix):  # never anything outside our own prefix
            await es.indices.delete(index=index)


# ---------------------------------------------------------------------------------------------------------------
# The two engines


def ours(q: str) -> dict[str, Any]:
    return build_search(ProductSearch(q=q, size=K))


def baseline(q: str) -> dict[str, Any]:
    return {"query": {"multi_match": {"query": q, "fields": ["name", "description"]}}, "size": K, "_source": False}


async def run_queries(
    es: AsyncElasticsearch, index: str, body_of: SearchFn, queries: list[str]
) -> dict[str, list[str]]:
    ranked: dict[str, list[str]] = {}
    for q in queries:
        response = await es.search(index=index, body=body_of(q))
        ranked[q] = [hit["_id"] for hit in response["hits"]["hits"]]
    return ranked


def evaluate(ranked: dict[str, list[str]], judgments: Judgments) -> dict[str, Scores]:
    return {q: score(ranked[q], judgments[q]) for q in ranked}


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def summary(scores: dict[str, Scores]) -> dict[str, float]:
    return {
        "ndcg@10": round(mean([s.ndcg for s in scores.values()]), 4),
        "judged@10": round(mean([s.judged for s in scores.values()]), 4),
        "relevant@10": round(mean([float(s.relevant) for s in scores.values()]), 3),
    }


async def evaluate_engines(es: AsyncElasticsearch, prefix: str, judgments: Judgments) -> dict[str, Any]:
    queries = sorted(judgments)
    products = alias_name(prefix, Projection.PRODUCTS)
    ours_scores = evaluate(await run_queries(es, products, ours, queries), judgments)
    base_scores = evaluate(await run_queries(es, baseline_index(prefix), baseline, queries), judgments)
    typo_ranked = await run_queries(es, products, ours, list(TYPOS))
    typo_base = await run_queries(es, baseline_index(prefix), baseline, list(TYPOS))
    typos = {
        typo: {
            "query": correct,
            "ours": asdict(score(typo_ranked[typo], judgments[correct])),
            "baseline": asdict(score(typo_base[typo], judgments[correct])),
        }
        for typo, correct in TYPOS.items()
    }
    return {"ours": ours_scores, "baseline": base_scores, "typos": typos}


def report(results: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    ours_scores: dict[str, Scores] = results["ours"]
    base_scores: dict[str, Scores] = results["baseline"]
    ours_mean, base_mean = summary(ours_scores), summary(base_scores)
    lift = ours_mean["ndcg@10"] / base_mean["ndcg@10"] - 1 if base_mean["ndcg@10"] else 0.0
    return {
        **meta,
        "metric": {
            "ndcg": "nDCG@10, gain 2^rating-1 (exponential), discount log2(rank+1), ideal from all judged products "
            "of the query, unjudged = gain 0",
            "judged": "judged@10 = judged products in the top 10 / 10",
            "relevant": "relevant@10 = products rated >= 2 in the top 10",
        },
        "baseline_query": baseline("<q>")["query"],
        "ours_query_example": ours("<q>")["query"],
        "mean": {"ours": ours_mean, "baseline": base_mean, "ndcg_lift": round(lift, 4)},
        "queries": {
            q: {
                "judgments": len(results["judgments"][q]),
                "ours": asdict(ours_scores[q]),
                "baseline": asdict(base_scores[q]),
            }
            for q in sorted(ours_scores)
        },
        "typos": results["typos"],
    }


def markdown(out: dict[str, Any]) -> str:
    m = out["mean"]
    lines = [
        "# Relevance benchmark (Chorus judgments-dev.csv)",
        "",
        f"{out['started_at']} · Elasticsearch {out['es_version']} · {out['index']['products']} products "
        f"({out['index']['in_stock']} in stock, seed {out['seed']}) · {len(out['queries'])} queries",
        "",
        f"nDCG@10: gain 2^rating-1, unjudged = 0. judged@10: share of the top 10 that is judged. "
        f"Baseline: `{json.dumps(out['baseline_query'])}` on default (standard analyzer) mappings.",
        "",
        "| engine | nDCG@10 | judged@10 | relevant (≥2) in top 10 |",
        "| --- | --- | --- | --- |",
        f"| ours (build_search) | {m['ours']['ndcg@10']:.4f} | {m['ours']['judged@10']:.3f} | "
        f"{m['ours']['relevant@10']:.2f} |",
        f"| baseline (multi_match) | {m['baseline']['ndcg@10']:.4f} | {m['baseline']['judged@10']:.3f} | "
        f"{m['baseline']['relevant@10']:.2f} |",
        "",
        f"**nDCG@10 lift over the baseline: {m['ndcg_lift'] * 100:+.1f}%**",
        "",
        "| query | judged | ours nDCG | base nDCG | Δ | ours judged@10 | base judged@10 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for q, row in out["queries"].items():
        o, b = row["ours"], row["baseline"]
        lines.append(
            f"| {q} | {row['judgments']} | {o['ndcg']:.3f} | {b['ndcg']:.3f} | {o['ndcg'] - b['ndcg']:+.3f} | "
            f"{o['judged']:.1f} | {b['judged']:.1f} |"
        )
    lines += [
        "",
        "## Typo tolerance (scored against the correct query's judgments)",
        "",
        "| typed | meant | ours nDCG | base nDCG | ours relevant in top 10 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for typo, row in out["typos"].items():
        lines.append(
            f"| {typo} | {row['query']} | {row['ours']['ndcg']:.3f} | {row['baseline']['ndcg']:.3f} | "
            f"{row['ours']['relevant']} |"
        )
    return "\n".join(lines) + "\n"


def print_table(out: dict[str, Any]) -> None:
    print(f"{'query':<26} {'ours':>7} {'base':>7} {'delta':>7} {'judged o/b':>11}")
    for q, row in out["queries"].items():
        o, b = row["ours"], row["baseline"]
        print(
            f"{q:<26} {o['ndcg']:7.3f} {b['ndcg']:7.3f} {o['ndcg'] - b['ndcg']:+7.3f} "
            f"{o['judged']:5.1f}/{b['judged']:<5.1f}"
        )
    for typo, row in out["typos"].items():
        print(f"typo {typo!r:<22} ours {row['ours']['ndcg']:.3f}  base {row['baseline']['ndcg']:.3f}")
    m = out["mean"]
    for engine in ("ours", "baseline"):
        print(f"MEAN {engine:<9} nDCG@10 {m[engine]['ndcg@10']:.4f}  judged@10 {m[engine]['judged@10']:.3f}")
    print(f"nDCG@10 lift: {m['ndcg_lift'] * 100:+.1f}%")


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    prefix = args.reuse or f"relbench-{secrets.token_hex(4)}-"
    judgments = load_judgments()
    es = AsyncElasticsearch(args.es_url, request_timeout=120)
    try:
        # GET / does not exist on the integ-test distribution: the version comes from the nodes info.
        nodes: dict[str, Any] = (await es.nodes.info()).body["nodes"]
        version = ",".join(sorted({str(node.get("version")) for node in nodes.values()}))
        if args.reuse:
            index_meta: dict[str, Any] = {"reused": prefix}
            count = await es.count(index=alias_name(prefix, Projection.PRODUCTS))
            in_stock = await es.count(index=alias_name(prefix, Projection.PRODUCTS), query={"term": {"in_stock": True}})
            index_meta.update(products=count["count"], in_stock=in_stock["count"])
        else:
            index_meta = await build_indices(es, prefix, args.seed)
        try:
            results = await evaluate_engines(es, prefix, judgments)
        finally:
            if not args.keep and not args.reuse:
                await delete_indices(es, prefix)
    finally:
        await es.close()
    results["judgments"] = judgments
    meta = {
        "started_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "es_version": version,
        "python": platform.python_version(),
        "prefix": prefix,
        "kept": bool(args.keep or args.reuse),
        "seed": args.seed,
        "index": index_meta,
    }
    return report(results, meta)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--es-url", default=os.environ.get("ELASTICSEARCH_URL", "http://127.0.0.1:9200"))
    parser.add_argument("--seed", type=int, default=7, help="seed of the in-stock draw")
    parser.add_argument("--keep", action="store_true", help="leave the indices in place (prints the prefix)")
    parser.add_argument("--reuse", metavar="PREFIX", help="evaluate indices a --keep run left; build nothing")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    out = asyncio.run(main_async(args))
    print_table(out)
    if args.keep:
        print(f"indices kept under prefix {out['prefix']!r}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "relevance.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    (args.out / "relevance.md").write_text(markdown(out), encoding="utf-8")
    print(f"wrote {args.out / 'relevance.json'} and {args.out / 'relevance.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
