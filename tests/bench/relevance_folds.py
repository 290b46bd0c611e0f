"""Cross-validation of the relevance bench (pure): settings chosen on k-1 folds of the queries, scored on the fold
left out, so that no query is ever scored by settings chosen with its own judgments.

A *table* holds, for every candidate setting (an index into the list of candidates), the nDCG@10 of every query.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from typing import Any

Table = list[dict[str, float]]  # candidate -> query -> nDCG@10


def candidates(space: dict[str, tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Every combination of the space's values, in a fixed order: each dimension's first value (its "off") first, so
    that on a tie the selection prefers the setting with fewer signals on."""
    names = list(space)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*(space[n] for n in names))]


def folds(queries: list[str], k: int, seed: int) -> list[list[str]]:
    """The queries in k folds of (nearly) equal size: sorted, shuffled with `seed`, dealt out in turn."""
    shuffled = sorted(queries)
    random.Random(seed).shuffle(shuffled)
    return [sorted(shuffled[i::k]) for i in range(k)]


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def choose(table: Table, queries: list[str], allowed: list[int] | None = None) -> int:
    """The candidate with the best mean nDCG on `queries` (the first one on a tie)."""
    pool = allowed if allowed is not None else list(range(len(table)))
    return max(pool, key=lambda c: (round(mean([table[c][q] for q in queries]), 9), -c))


@dataclass
class Fold:
    held_out: list[str]
    chosen: int
    train_ndcg: float
    ours: float  # mean nDCG of the held-out queries with the chosen setting
    baseline: float


@dataclass
class CrossValidation:
    folds: list[Fold]
    held_out: dict[str, float] = field(default_factory=dict)  # query -> its nDCG in the fold that held it out

    @property
    def ours(self) -> float:
        """Mean over queries of their held-out nDCG (each query is held out exactly once)."""
        return mean(list(self.held_out.values()))

    @property
    def fold_mean(self) -> float:
        """Mean over folds of the held-out folds' means."""
        return mean([f.ours for f in self.folds])


def cross_validate(
    table: Table, baseline: dict[str, float], parts: list[list[str]], allowed: list[int] | None = None
) -> CrossValidation:
    """For each fold: the setting chosen on the other folds' queries (among `allowed`), scored on this fold."""
    result = CrossValidation([])
    for i, held_out in enumerate(parts):
        train = [q for j, part in enumerate(parts) if j != i for q in part]
        chosen = choose(table, train, allowed)
        result.folds.append(
            Fold(
                held_out=held_out,
                chosen=chosen,
                train_ndcg=mean([table[chosen][q] for q in train]),
                ours=mean([table[chosen][q] for q in held_out]),
                baseline=mean([baseline[q] for q in held_out]),
            )
        )
        result.held_out.update({q: table[chosen][q] for q in held_out})
    return result


def pinned(options: list[dict[str, Any]], name: str, value: Any) -> list[int]:
    """The candidates whose `name` is `value` (a signal turned off for an ablation)."""
    return [i for i, option in enumerate(options) if option[name] == value]
