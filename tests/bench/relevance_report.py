"""The relevance bench's results as Markdown and as a summary on the terminal."""

from __future__ import annotations

import json
from typing import Any

LOSERS = 10


def _settings(option: dict[str, Any]) -> str:
    return ", ".join(f"{name} {value}" for name, value in option.items())


def losers(out: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The queries whose fold-out nDCG@10 is furthest below the baseline's, worst first (LOSERS of them)."""
    rows = sorted(out["queries"].items(), key=lambda item: (item[1]["delta"], item[0]))
    return rows[:LOSERS]


def drops(out: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every query whose fold-out nDCG@10 is below the baseline's at all."""
    return [(q, row) for q, row in losers_all(out) if row["delta"] < 0]


def losers_all(out: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return sorted(out["queries"].items(), key=lambda item: (item[1]["delta"], item[0]))


def _headline(out: dict[str, Any]) -> list[str]:
    cv, ins, other = out["cross_validation"], out["in_sample"], out["other_splits"]
    return [
        "| figure | ours nDCG@10 | baseline nDCG@10 | ratio |",
        "| --- | --- | --- | --- |",
        f"| **fold-out** ({out['k_folds']} folds by query, seed {out['fold_seed']}; every query scored by settings "
        f"chosen on the other folds) | **{cv['fold_out_ndcg@10']:.4f}** | {cv['baseline_ndcg@10']:.4f} | "
        f"**{cv['ratio']:.3f}** |",
        f"| fold-out, mean of the {out['k_folds']} folds' means | {cv['mean_of_fold_means']['ours']:.4f} | "
        f"{cv['mean_of_fold_means']['baseline']:.4f} | "
        f"{cv['mean_of_fold_means']['ours'] / cv['mean_of_fold_means']['baseline']:.3f} |",
        f"| fold-out of the same selection over {other['splits']} other splits (fold seeds {other['fold_seeds']}): "
        f"mean ratio (min–max; splits below 1.15) | | | {other['ratio_mean']:.3f} ({other['ratio_min']:.3f}–"
        f"{other['ratio_max']:.3f}; {other['below_1.15']} below 1.15) |",
        f"| in-sample (shipped settings, chosen on all dev queries, scored on them) | {ins['ours']['ndcg@10']:.4f} | "
        f"{ins['baseline']['ndcg@10']:.4f} | {ins['ours']['ndcg@10'] / ins['baseline']['ndcg@10']:.3f} |",
    ]


def _folds(out: dict[str, Any]) -> list[str]:
    lines = [
        "| fold | held-out queries | settings chosen on the other folds | train nDCG | held-out ours | held-out base |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for i, fold in enumerate(out["cross_validation"]["folds"], start=1):
        lines.append(
            f"| {i} | {len(fold['held_out'])} | {_settings(fold['chosen'])} | {fold['train_ndcg@10']:.4f} | "
            f"{fold['held_out_ndcg@10']:.4f} | {fold['baseline_ndcg@10']:.4f} |"
        )
    return lines


def _ablations(out: dict[str, Any]) -> list[str]:
    lines = ["| signal off | fold-out nDCG@10 without it | what it adds |", "| --- | --- | --- |"]
    for name, row in out["ablations"].items():
        lines.append(f"| {name} = {row['off']} | {row['fold_out_ndcg@10']:.4f} | {row['gain']:+.4f} |")
    return lines


def _queries(out: dict[str, Any]) -> list[str]:
    lines = [
        "| query | judged | fold-out ours | base | Δ | in-sample ours | ours judged@10 | base judged@10 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for q, row in out["queries"].items():
        lines.append(
            f"| {q} | {row['judgments']} | {row['fold_out_ndcg']:.3f} | {row['baseline_ndcg']:.3f} | "
            f"{row['delta']:+.3f} | {row['in_sample']['ndcg']:.3f} | {row['in_sample']['judged']:.1f} | "
            f"{row['baseline']['judged']:.1f} |"
        )
    return lines


def _typos(out: dict[str, Any]) -> list[str]:
    lines = [
        "| typed | meant | ours nDCG | base nDCG | ours relevant in top 10 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for typo, row in out["typos"].items():
        lines.append(
            f"| {typo} | {row['query']} | {row['ours']['ndcg']:.3f} | {row['baseline']['ndcg']:.3f} | "
            f"{row['ours']['relevant']} |"
        )
    return lines


def markdown(out: dict[str, Any]) -> str:
    dropped = drops(out)
    same = "the same" if out["shipped_is_chosen_on_all_queries"] else "DIFFERENT"
    worst = min((row["delta"] for _, row in dropped), default=0.0)
    lines = [
        "# Relevance benchmark (Chorus judgments-dev.csv)",
        "",
        f"{out['started_at']} · `{out['command']}` · Elasticsearch {out['es_version']} · "
        f"{out['index']['products']} products ({out['index']['in_stock']} in stock, seed {out['seed']}) · "
        f"{len(out['queries'])} queries · {out['candidates']} candidate settings",
        "",
        f"nDCG@10: gain 2^rating-1, unjudged = 0. Baseline: `{json.dumps(out['baseline_query']['query'])}` on "
        "default (standard analyzer) mappings, ties by sku.",
        "",
        *_headline(out),
        "",
        f"Shipped settings: {_settings(out['shipped_settings'])}. Chosen on all dev queries: "
        f"{_settings(out['chosen_on_all_queries'])} ({same}).",
        "",
        "## Folds",
        "",
        *_folds(out),
        "",
        "## Each signal off (the others chosen as above)",
        "",
        *_ablations(out),
        "",
        f"## The {LOSERS} queries that lose most against the baseline (fold-out)",
        "",
        *[
            f"- {q}: {row['fold_out_ndcg']:.3f} against {row['baseline_ndcg']:.3f} ({row['delta']:+.3f})"
            for q, row in losers(out)
        ],
        "",
        f"Queries below the baseline at all: {len(dropped)}; the largest drop {worst:+.3f}: "
        + ", ".join(f"{q} {row['delta']:+.3f}" for q, row in dropped)
        + ".",
        "",
        "## Every query",
        "",
        *_queries(out),
        "",
        "## Typo tolerance (shipped settings, scored against the correct query's judgments)",
        "",
        *_typos(out),
    ]
    return "\n".join(lines) + "\n"


def print_summary(out: dict[str, Any]) -> None:
    for line in [*_headline(out)[2:], "", *_folds(out)[2:], "", *_ablations(out)[2:]]:
        print(line)
    print("losers:", ", ".join(f"{q} {row['delta']:+.3f}" for q, row in losers(out)))
    chosen = _settings(out["chosen_on_all_queries"])
    print(f"shipped == chosen on all queries: {out['shipped_is_chosen_on_all_queries']} ({chosen})")
