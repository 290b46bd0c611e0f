"""Offline relevance benchmark: our product search against a plain Elasticsearch baseline, on the Chorus judgments,
scored on queries its settings were not chosen on.

    .venv/bin/python tests/bench/relevance.py [--es-url URL] [--seed 7] [--fold-seed 14] [--keep] [--reuse PREFIX]
        [--name relevance]

Self-contained: under a prefix of its own (`relbench-<random>-`) it creates the products index from
infra/elasticsearch/products.v<N>.json behind its alias (projector.elastic.create_index), and fills it through the real
projection code without running the pipeline: each Chorus record becomes a product (infra.demo.chorus),
a synthetic ProductRegistered envelope, and a document (projector.projections.products.apply); a seeded ~90% of the
products are in stock in one warehouse (the projection's with_availability), so `in_stock` varies as in the
shop. Beside it, a baseline index holds `name` and `description` with default mappings (standard analyzer).

Engines:
- ours: search_api.queries.products.build_search(ProductSearch(q=query, size=10), ranking), what the API sends with
  the settings `ranking` (search_api.queries.ranking.Ranking); the shipped settings are Ranking's defaults;
- baseline: one `multi_match` of the query over name and description with Elasticsearch's defaults (best_fields,
  operator or, no fuzziness, no boosts), ties broken by sku so that every run ranks alike.

Honest figure (k-fold cross-validation by query, relevance_folds.py): the dev queries are dealt into K_FOLDS folds
with `--fold-seed`; for each fold, the settings of SPACE (a few factors, every combination) with the best mean
nDCG@10 on the other folds' queries are chosen and scored on this fold's queries. Every query is thus scored once,
by settings chosen without its judgments: the fold-out nDCG@10. The baseline has nothing to choose; its figure on
the same folds is its mean over the same queries. Each signal is also ablated (pinned off, the rest chosen the same
way): a signal is worth keeping only if the fold-out figure is lower without it. The settings fixed outside SPACE
(FIXED_OFF: the in-stock factor, a business rule the judgments cannot see, and the synonyms, vocabulary rather than
a weight) are ablated by running the whole selection again with them off. The same selection is also scored over
REPEATS other splits into folds, to show how much one split's figure owes to which queries fell together. The
in-sample figure (the shipped settings, chosen on all dev queries, scored on the same queries) is reported too,
labelled as such.

Metrics, per query and mean over queries:
- nDCG@10 with exponential gains 2^rating - 1 (ratings 0..3 give 0, 1, 3, 7) and log2(rank + 1) discounts; the ideal
  ranking is the query's judged products sorted by rating; an unjudged product counts as gain 0;
- judged@10: the share of the 10 ranks filled by a judged product (an empty rank counts as unjudged).
The judgments were pooled from one baseline engine's results, so an unjudged product is unknown rather than
irrelevant: read nDCG together with judged@10. A small typo check re-runs a few queries misspelt and scores them
against the correct query's judgments (shipped settings).

Writes tests/bench/results/<name>.json and <name>.md, and deletes its indices (unless --keep).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import functools
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
from projector.projections.products import apply, with_availability  # noqa: E402
from search_api.queries.products import ProductSearch, build_search  # noqa: E402
from search_api.queries.ranking import RANKING, Ranking  # noqa: E402
from shared.events.envelope import Envelope  # noqa: E402
from shared.events.payloads import ProductRegistered, StockAvailabilityChanged  # noqa: E402
from shared.read_models import Projection, alias_name  # noqa: E402
from tests.bench.relevance_folds import (  # noqa: E402
    CrossValidation,
    Table,
    candidates,
    choose,
    cross_validate,
    folds,
    mean,
    pinned,
)
from tests.bench.relevance_report import markdown, print_summary  # noqa: E402

RESULTS = ROOT / "tests" / "bench" / "results"
JUDGMENTS = DEFAULT_DATA_DIR / "judgments-dev.csv"
K = 10
K_FOLDS = 5
# What the cross-validation chooses among: the factors of search_api.queries.ranking.Ranking, each off (1.0) or at
# a round value ("half again", "twice"). Kept small: with every extra value the choice fits the training folds'
# queries more closely (results/relevance-all-signals.md and relevance-name-b.md: larger spaces scored lower).
SPACE: dict[str, tuple[Any, ...]] = {
    "name_phrase": (1.0, 1.5),
    "product_type": (1.0, 1.5, 2.0),
}
# Settings not chosen by the bench, each ablated by running the whole selection with its value here.
FIXED_OFF: dict[str, Any] = {"in_stock": 1.0, "synonyms": False}
# The fold-out figure of one split depends on which queries fall together; the same selection over other splits
# (fold seeds 1..REPEATS) shows how much.
REPEATS = 30
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


def envelope(payload: ProductRegistered, n: int) -> Envelope:
    """The event as the projector receives it: first of its stream, at position n."""
    return Envelope(
        event_id=uuid.uuid4(),
        stream_id=f"{payload.STREAM_TYPE}-{payload.sku}",
        stream_type=payload.STREAM_TYPE,
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
        doc = apply(None, envelope(ProductRegistered.model_validate(product), n))
        assert doc is not None
        if rng.random() < IN_STOCK_SHARE:
            warehouse, _quantity = rng.choice(WAREHOUSES), rng.randint(1, 200)  # the quantity: the same draws as before
            doc = with_availability(doc, StockAvailabilityChanged(sku=doc["sku"], warehouse=warehouse, in_stock=True))
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


def ours(q: str, ranking: Ranking = RANKING, *, ranking_only: bool = False) -> dict[str, Any]:
    """What the API sends for `q`. With ranking_only, without facets and highlighting (they change no rank): the
    settings search runs the queries once per candidate."""
    body = build_search(ProductSearch(q=q, size=K), ranking)
    if ranking_only:
        body = {key: value for key, value in body.items() if key not in ("aggs", "highlight")} | {"_source": False}
    return body


def ranked_only(ranking: Ranking, q: str) -> dict[str, Any]:
    return ours(q, ranking, ranking_only=True)


def baseline(q: str) -> dict[str, Any]:
    return {
        "query": {"multi_match": {"query": q, "fields": ["name", "description"]}},
        "sort": [{"_score": "desc"}, {"sku": "asc"}],
        "size": K,
        "_source": False,
    }


async def run_queries(
    es: AsyncElasticsearch, index: str, body_of: SearchFn, queries: list[str]
) -> dict[str, list[str]]:
    """Each query's ranked product ids, the queries sent in one _msearch."""
    searches: list[dict[str, Any]] = []
    for q in queries:
        searches += [{"index": index}, body_of(q)]
    response = await es.msearch(searches=searches)
    ranked: dict[str, list[str]] = {}
    for q, answer in zip(queries, response["responses"], strict=True):
        if "error" in answer:
            raise RuntimeError(f"{q!r}: {answer['error']}")
        ranked[q] = [hit["_id"] for hit in answer["hits"]["hits"]]
    return ranked


def evaluate(ranked: dict[str, list[str]], judgments: Judgments) -> dict[str, Scores]:
    return {q: score(ranked[q], judgments[q]) for q in ranked}


def summary(scores: dict[str, Scores]) -> dict[str, float]:
    return {
        "ndcg@10": round(mean([s.ndcg for s in scores.values()]), 4),
        "judged@10": round(mean([s.judged for s in scores.values()]), 4),
        "relevant@10": round(mean([float(s.relevant) for s in scores.values()]), 3),
    }


async def settings_table(
    es: AsyncElasticsearch, prefix: str, options: list[dict[str, Any]], judgments: Judgments
) -> Table:
    """nDCG@10 of every query under every candidate setting."""
    products = alias_name(prefix, Projection.PRODUCTS)
    table: Table = []
    queries = sorted(judgments)
    for option in options:
        ranked = await run_queries(es, products, functools.partial(ranked_only, Ranking(**option)), queries)
        table.append({q: s.ndcg for q, s in evaluate(ranked, judgments).items()})
    return table


# ---------------------------------------------------------------------------------------------------------------
# Cross-validation and ablations


def shipped_option() -> dict[str, Any]:
    return {name: getattr(RANKING, name) for name in SPACE}


def cv_summary(cv: CrossValidation, options: list[dict[str, Any]], base: dict[str, float]) -> dict[str, Any]:
    base_mean = mean(list(base.values()))
    return {
        "fold_out_ndcg@10": round(cv.ours, 4),
        "baseline_ndcg@10": round(base_mean, 4),
        "ratio": round(cv.ours / base_mean, 4) if base_mean else None,
        "mean_of_fold_means": {
            "ours": round(cv.fold_mean, 4),
            "baseline": round(mean([f.baseline for f in cv.folds]), 4),
        },
        "folds": [
            {
                "held_out": f.held_out,
                "chosen": options[f.chosen],
                "train_ndcg@10": round(f.train_ndcg, 4),
                "held_out_ndcg@10": round(f.ours, 4),
                "baseline_ndcg@10": round(f.baseline, 4),
            }
            for f in cv.folds
        ],
    }


def other_splits(table: Table, base: dict[str, float], queries: list[str]) -> dict[str, Any]:
    """The fold-out ratio to the baseline over REPEATS other splits into folds."""
    base_mean = mean(list(base.values()))
    ratios = [
        cross_validate(table, base, folds(queries, K_FOLDS, seed)).ours / base_mean for seed in range(1, REPEATS + 1)
    ]
    return {
        "splits": REPEATS,
        "fold_seeds": f"1..{REPEATS}",
        "ratio_mean": round(mean(ratios), 4),
        "ratio_min": round(min(ratios), 4),
        "ratio_max": round(max(ratios), 4),
        "below_1.15": sum(1 for r in ratios if r < 1.15),
    }


def ablations(
    tables: dict[str, Table], options: list[dict[str, Any]], base: dict[str, float], parts: list[list[str]]
) -> dict[str, Any]:
    """Fold-out nDCG@10 with each signal off: tuned ones pinned to their first value, fixed ones from their table."""
    full = cross_validate(tables["shipped"], base, parts).ours
    out: dict[str, Any] = {}
    for name, values in SPACE.items():
        without = cross_validate(tables["shipped"], base, parts, pinned(options, name, values[0])).ours
        out[name] = {"off": values[0], "fold_out_ndcg@10": round(without, 4), "gain": round(full - without, 4)}
    for name, value in FIXED_OFF.items():
        without = cross_validate(tables[name], base, parts).ours
        out[name] = {"off": value, "fold_out_ndcg@10": round(without, 4), "gain": round(full - without, 4)}
    return out


def per_query(
    judgments: Judgments, cv: CrossValidation, shipped: dict[str, Scores], base: dict[str, Scores]
) -> dict[str, Any]:
    return {
        q: {
            "judgments": len(judgments[q]),
            "fold_out_ndcg": round(cv.held_out[q], 4),
            "baseline_ndcg": round(base[q].ndcg, 4),
            "delta": round(cv.held_out[q] - base[q].ndcg, 4),
            "in_sample": asdict(shipped[q]),
            "baseline": asdict(base[q]),
        }
        for q in sorted(judgments)
    }


# ---------------------------------------------------------------------------------------------------------------
# The run


async def run(es: AsyncElasticsearch, prefix: str, judgments: Judgments, fold_seed: int) -> dict[str, Any]:
    products, queries = alias_name(prefix, Projection.PRODUCTS), sorted(judgments)
    options = candidates(SPACE)
    started = time.perf_counter()
    tables = {"shipped": await settings_table(es, prefix, options, judgments)}
    for name, value in FIXED_OFF.items():
        tables[name] = await settings_table(es, prefix, [o | {name: value} for o in options], judgments)
    seconds = time.perf_counter() - started
    base_scores = evaluate(await run_queries(es, baseline_index(prefix), baseline, queries), judgments)
    base = {q: s.ndcg for q, s in base_scores.items()}
    shipped = evaluate(await run_queries(es, products, ours, queries), judgments)
    parts = folds(queries, K_FOLDS, fold_seed)
    cv = cross_validate(tables["shipped"], base, parts)
    chosen_on_all = choose(tables["shipped"], queries)  # what the selection picks seeing every dev query
    typo_ranked = await run_queries(es, products, ours, list(TYPOS))
    typo_base = await run_queries(es, baseline_index(prefix), baseline, list(TYPOS))
    return {
        "space": {name: list(values) for name, values in SPACE.items()},
        "fixed_off": FIXED_OFF,
        "shipped_settings": asdict(RANKING),
        "candidates": len(options),
        "settings_search_seconds": round(seconds, 1),
        "fold_seed": fold_seed,
        "cross_validation": cv_summary(cv, options, base),
        "other_splits": other_splits(tables["shipped"], base, queries),
        "chosen_on_all_queries": options[chosen_on_all],
        "shipped_is_chosen_on_all_queries": options[chosen_on_all] == shipped_option(),
        "ablations": ablations(tables, options, base, parts),
        "in_sample": {"ours": summary(shipped), "baseline": summary(base_scores)},
        "queries": per_query(judgments, cv, shipped, base_scores),
        "typos": {
            typo: {
                "query": correct,
                "ours": asdict(score(typo_ranked[typo], judgments[correct])),
                "baseline": asdict(score(typo_base[typo], judgments[correct])),
            }
            for typo, correct in TYPOS.items()
        },
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    prefix = args.reuse or f"relbench-{secrets.token_hex(4)}-"
    judgments = load_judgments()
    es = AsyncElasticsearch(args.es_url, request_timeout=300)
    try:
        # GET / does not exist on the integ-test distribution: the version comes from the nodes info.
        nodes: dict[str, Any] = (await es.nodes.info()).body["nodes"]
        version = ",".join(sorted({str(node.get("version")) for node in nodes.values()}))
        if args.reuse:
            index = alias_name(prefix, Projection.PRODUCTS)
            in_stock = await es.count(index=index, query={"term": {"in_stock": True}})
            index_meta = {"reused": prefix, "products": (await es.count(index=index))["count"]}
            index_meta["in_stock"] = in_stock["count"]
        else:
            index_meta = await build_indices(es, prefix, args.seed)
        try:
            results = await run(es, prefix, judgments, args.fold_seed)
        finally:
            if not args.keep and not args.reuse:
                await delete_indices(es, prefix)
    finally:
        await es.close()
    return {
        "started_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": " ".join(["tests/bench/relevance.py", *sys.argv[1:]]),
        "es_version": version,
        "python": platform.python_version(),
        "prefix": prefix,
        "kept": bool(args.keep or args.reuse),
        "seed": args.seed,
        "index": index_meta,
        "k_folds": K_FOLDS,
        "metric": {
            "ndcg": "nDCG@10, gain 2^rating-1 (exponential), discount log2(rank+1), ideal from all judged products "
            "of the query, unjudged = gain 0",
            "judged": "judged@10 = judged products in the top 10 / 10",
        },
        "baseline_query": baseline("<q>"),
        **results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--es-url", default=os.environ.get("ELASTICSEARCH_URL", "http://127.0.0.1:9200"))
    parser.add_argument("--seed", type=int, default=7, help="seed of the in-stock draw")
    parser.add_argument("--fold-seed", type=int, default=14, help="seed of the queries' split into folds")
    parser.add_argument("--keep", action="store_true", help="leave the indices in place (prints the prefix)")
    parser.add_argument("--reuse", metavar="PREFIX", help="evaluate indices a --keep run left; build nothing")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--name", default="relevance", help="results file name, without extension")
    args = parser.parse_args(argv)
    out = asyncio.run(main_async(args))
    print_summary(out)
    if args.keep:
        print(f"indices kept under prefix {out['prefix']!r}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    (args.out / f"{args.name}.md").write_text(markdown(out), encoding="utf-8")
    print(f"wrote {args.out / args.name}.json and .md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
