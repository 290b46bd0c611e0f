"""Shopper search's ranking signals (search_api/queries/ranking.py): what multiplies a product's text score (pure)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from search_api.queries.products import ProductSearch, build_search
from search_api.queries.ranking import RANKING, Ranking, head_word, text_query


def functions(body: dict[str, Any]) -> list[dict[str, Any]]:
    assert body["function_score"]["score_mode"] == "multiply"
    assert body["function_score"]["boost_mode"] == "multiply"
    return body["function_score"]["functions"]  # type: ignore[no-any-return]


def by_kind(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {next(iter(f["filter"])): f for f in functions(body)}


@pytest.mark.parametrize(
    ("text", "head"),
    [
        ("laptop", "laptop"),
        ("laptop bag", "bag"),  # a laptop bag is a bag
        ("usb hubs", "hub"),
        ("TVs", "tv"),
        ("external batteries", "battery"),
        ("case for ipad", "case"),  # what follows "for" is what it fits
        ("charger with cable", "charger"),
        ("iphone 8", "iphone"),  # a number names no type
        ("500", None),
        ("", None),
    ],
)
def test_the_head_word_is_what_the_text_asks_for(text: str, head: str | None) -> None:
    assert head_word(text) == head


def test_signals_multiply_the_text_score_in_bounded_factors() -> None:
    signals = by_kind(text_query("laptop bag", synonyms=lambda _: ["notebook bag"]))
    assert signals["bool"]["filter"]["bool"]["should"] == [
        {"match_phrase": {"name": "laptop bag"}},
        {"match_phrase": {"name": "notebook bag"}},
    ]
    assert signals["match"]["filter"] == {"match": {"type_heads": "bag"}}
    assert signals["term"]["filter"] == {"term": {"in_stock": True}}
    weights = [f["weight"] for f in signals.values()]
    assert all(1.0 < w <= 2.0 for w in weights), "relative factors, not large constants"
    assert math.prod(weights) < 4


def test_a_one_word_text_has_no_phrase_signal_and_its_synonyms_heads_count() -> None:
    signals = by_kind(text_query("laptop", synonyms=lambda _: ["notebook"]))
    assert set(signals) == {"match", "term"}
    assert signals["match"]["filter"] == {"match": {"type_heads": "laptop notebook"}}


def test_in_stock_is_a_factor_of_the_score_not_a_filter() -> None:
    body = build_search(ProductSearch(q="cable"))
    [must] = body["query"]["bool"]["must"]
    stock = [f for f in functions(must) if f["filter"] == {"term": {"in_stock": True}}]
    assert [f["weight"] for f in stock] == [RANKING.in_stock] and RANKING.in_stock > 1
    assert {"term": {"in_stock": True}} not in body["query"]["bool"]["filter"]  # out of stock still found


def test_signals_turned_off_leave_the_text_score_alone() -> None:
    off = Ranking(name_phrase=1.0, product_type=1.0, in_stock=1.0, synonyms=False)
    body = text_query("usb cable", off, synonyms=lambda _: ["never asked"])
    assert "function_score" not in body
    assert "never asked" not in str(body)


def test_a_text_that_is_only_a_number_gets_no_type_signal() -> None:
    assert "match" not in by_kind(text_query("500", synonyms=lambda _: []))
