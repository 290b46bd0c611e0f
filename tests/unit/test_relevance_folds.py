"""The relevance bench's cross-validation (tests/bench/relevance_folds.py): no query is scored by settings chosen
with its own judgments (pure)."""

from __future__ import annotations

from tests.bench.relevance_folds import candidates, choose, cross_validate, folds, pinned

QUERIES = [f"q{i:02d}" for i in range(23)]


def test_folds_split_every_query_once_the_same_way_for_a_seed() -> None:
    parts = folds(QUERIES, 5, seed=14)
    assert sorted(q for part in parts for q in part) == sorted(QUERIES)
    assert [len(p) for p in parts] == [5, 5, 5, 4, 4]
    assert folds(list(reversed(QUERIES)), 5, seed=14) == parts  # the input order does not matter
    assert folds(QUERIES, 5, seed=15) != parts


def test_candidates_put_each_setting_off_first() -> None:
    options = candidates({"a": (1.0, 1.5), "b": (False, True)})
    assert options[0] == {"a": 1.0, "b": False}
    assert len(options) == 4 and pinned(options, "a", 1.0) == [0, 1]


def test_the_setting_of_a_fold_is_chosen_without_its_queries() -> None:
    parts = [["a", "b"], ["c", "d"]]
    base = dict.fromkeys("abcd", 0.5)
    # Setting 1 is perfect on fold 1's queries only, setting 0 is better on fold 2's.
    table = [{"a": 0.2, "b": 0.2, "c": 0.6, "d": 0.6}, {"a": 1.0, "b": 1.0, "c": 0.1, "d": 0.1}]
    cv = cross_validate(table, base, parts)
    assert [f.chosen for f in cv.folds] == [0, 1]  # each fold gets what the *other* fold prefers
    assert cv.held_out == {"a": 0.2, "b": 0.2, "c": 0.1, "d": 0.1}
    assert cv.ours < max(sum(row.values()) / 4 for row in table)  # below what choosing in-sample would show
    assert [f.baseline for f in cv.folds] == [0.5, 0.5]


def test_a_tie_goes_to_the_setting_with_fewer_signals_on() -> None:
    table = [{"a": 0.5}, {"a": 0.5}]
    assert choose(table, ["a"]) == 0
    assert choose(table, ["a"], allowed=[1]) == 1
