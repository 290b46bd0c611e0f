"""Shopper product search, suggestions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from search_api.synonyms import alternatives

ProductSort = Literal["relevance", "price_asc", "price_desc", "newest", "name"]

PRICE_RANGES: tuple[tuple[float | None, float | None], ...] = (
    (None, 25),
    (25, 50),
    (50, 100),
    (100, 250),
    (250, 500),
    (500, 1000),
    (1000, None),
)
FACET_SIZE = 20

# Fields searched, with their weights: the name counts most, then brand, category, attributes and description.
TEXT_FIELDS = ["name^4", "name.plain^2", "brand.text^3", "category.text^2", "attributes_text", "description"]
# Weights of the text clauses, tuned on the Chorus dev judgments (tests/bench/relevance.py; results in
# tests/bench/results/relevance.md).
FUZZY_WEIGHT = 0.8  # typo-tolerant matching finds products, but scores below the words as typed
SYNONYM_WEIGHT = 0.7  # an alternative wording (search_api/synonyms.py) scores below the words as typed
NAME_PHRASE_WEIGHT = 2.0  # the words, in order, in the name
MODEL_WEIGHT = 10.0  # the text is the model number
# The catalogue's own product type (a category that was not derived from the name) matches the text: the product
# *is* what was asked for, not an accessory that mentions it.
CATALOGUE_CATEGORY_WEIGHT = 30.0
# One or two words: all must match; more: three quarters of them (rounded down).
MINIMUM_SHOULD_MATCH = "2<75%"

SORTS: dict[str, list[dict[str, Any]]] = {
    # In-stock products first at equal relevance; sku as the final tie-breaker keeps paging deterministic.
    "relevance": [{"_score": "desc"}, {"in_stock": "desc"}, {"sku": "asc"}],
    "price_asc": [{"price": "asc"}, {"in_stock": "desc"}, {"sku": "asc"}],
    "price_desc": [{"price": "desc"}, {"in_stock": "desc"}, {"sku": "asc"}],
    "newest": [{"registered_at": "desc"}, {"sku": "asc"}],
    "name": [{"name.sort": "asc"}, {"sku": "asc"}],
}


@dataclass(frozen=True)
class ProductSearch:
    q: str | None = None
    brand: tuple[str, ...] = ()
    category: tuple[str, ...] = ()
    price_min: float | None = None
    price_max: float | None = None
    in_stock: bool | None = None
    warehouse: str | None = None
    sort: ProductSort = "relevance"
    page: int = 1
    size: int = 20

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProductSearch:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**{**known, "brand": tuple(known.get("brand", ())), "category": tuple(known.get("category", ()))})


FUZZY_EXPANSIONS = 10  # terms a misspelt word may stand for (Elasticsearch's default is 50)
# Typos are looked for in one field, `typo_text`: the unstemmed words of the name, brand, attributes and description
# (copy_to in the mapping, products.v4.json). A fuzzy term intersects its automaton with each field's term
# dictionary: the previous query, typos in those four fields themselves with two edits from 8 letters, took twice as
# long (tests/bench/query_cost.py) and ranked lower on the judgments (nDCG@10 0.678 against 0.687; of the six
# misspelt check queries, one ranks better now and two worse).
FUZZY_FIELDS = ["typo_text"]
# No edit for words under 4 letters, one from 4 (a swap of two adjacent letters counts as one). Two edits from 8
# letters (AUTO:4,8) made the query take 1.1-1.7 times as long and ranked no better ("hedphones" worse); "AUTO" itself
# allows one edit from 3 letters: many candidates for short words.
FUZZINESS = "AUTO:4,99"


def _recall(text: str, weight: float) -> dict[str, Any]:
    """What a text recalls, and how it scores: its words as typed in any text field (weight 1 + FUZZY_WEIGHT: they
    both recall and rank), or with typos in FUZZY_FIELDS (FUZZY_WEIGHT). One clause for the words: Elasticsearch
    would evaluate a second, identical one in the ranking clauses all over again."""
    return {
        "bool": {
            "should": [
                _words(text, (1.0 + FUZZY_WEIGHT) * weight),
                {
                    "multi_match": {
                        "query": text,
                        "fields": FUZZY_FIELDS,
                        "type": "most_fields",
                        "fuzziness": FUZZINESS,
                        "prefix_length": 1,
                        "max_expansions": FUZZY_EXPANSIONS,
                        "minimum_should_match": MINIMUM_SHOULD_MATCH,
                        "boost": FUZZY_WEIGHT * weight,
                    }
                },
            ]
        }
    }


def _words(text: str, boost: float) -> dict[str, Any]:
    return {
        "multi_match": {
            "query": text,
            "fields": TEXT_FIELDS,
            "type": "most_fields",
            "minimum_should_match": MINIMUM_SHOULD_MATCH,
            "boost": boost,
        }
    }


def _name_phrase(text: str, weight: float) -> dict[str, Any]:
    return {"match_phrase": {"name": {"query": text, "boost": NAME_PHRASE_WEIGHT * weight}}}


def _catalogue_category(text: str) -> dict[str, Any]:
    return {
        "bool": {
            "must": [{"match": {"category.text": {"query": text}}}],
            "filter": [{"term": {"category_derived": False}}],
            "boost": CATALOGUE_CATEGORY_WEIGHT,
        }
    }


def text_query(q: str, synonyms: Callable[[str], list[str]] = alternatives) -> dict[str, Any]:
    """Products matching the shopper's text (typos tolerated), best first.

    `must` decides what matches and gives the text's own score: the words as typed or with typos (and, if `synonyms`
    knows other wordings of it, any of those wordings), see _recall. `should` adds to the score: the name phrase, the
    model number, and a product type from the catalogue that matches the text. Alternative wordings count
    SYNONYM_WEIGHT as much. The user's text only ever appears as the value of match-type clauses.
    """
    wordings = synonyms(q)
    recall = _recall(q, 1.0)
    if wordings:
        recall = {"bool": {"should": [recall, *(_recall(w, SYNONYM_WEIGHT) for w in wordings)]}}
    ranking = [
        _name_phrase(q, 1.0),
        {"term": {"model": {"value": q.strip().lower(), "boost": MODEL_WEIGHT}}},
        _catalogue_category(q),
    ]
    for wording in wordings:
        ranking += [_name_phrase(wording, SYNONYM_WEIGHT), _catalogue_category(wording)]
    return {"bool": {"must": [recall], "should": ranking}}


def _price_range(low: float | None, high: float | None) -> dict[str, Any]:
    bounds: dict[str, float] = {}
    if low is not None:
        bounds["gte"] = low
    if high is not None:
        bounds["lte"] = high
    return {"range": {"price": bounds}}


def _facet_filters(p: ProductSearch) -> dict[str, list[dict[str, Any]]]:
    """Filters of the facets, by facet: each facet's counts ignore its own filter (disjunctive facets)."""
    filters: dict[str, list[dict[str, Any]]] = {"brand": [], "category": [], "price": []}
    if p.brand:
        filters["brand"].append({"terms": {"brand": list(p.brand)}})
    if p.category:
        filters["category"].append({"terms": {"category": list(p.category)}})
    if p.price_min is not None or p.price_max is not None:
        filters["price"].append(_price_range(p.price_min, p.price_max))
    return filters


def build_search(p: ProductSearch) -> dict[str, Any]:
    base_filters: list[dict[str, Any]] = [{"term": {"status": "active"}}]  # discontinued never shown
    if p.in_stock is not None:
        base_filters.append({"term": {"in_stock": p.in_stock}})
    if p.warehouse:
        base_filters.append({"term": {"stocked_in": p.warehouse}})
    query: dict[str, Any] = {"bool": {"filter": base_filters}}
    if p.q:
        query["bool"]["must"] = [text_query(p.q)]
    facet_filters = _facet_filters(p)
    all_facet_filters = [f for fs in facet_filters.values() for f in fs]

    def others(name: str) -> dict[str, Any]:
        return {"bool": {"filter": [f for other, fs in facet_filters.items() if other != name for f in fs]}}

    ranges = [{k: v for k, v in (("from", lo), ("to", hi)) if v is not None} for lo, hi in PRICE_RANGES]
    body: dict[str, Any] = {
        "query": query,
        "post_filter": {"bool": {"filter": all_facet_filters}},
        "sort": SORTS[p.sort],
        "size": p.size,
        "track_total_hits": True,
        "_source": [
            "sku",
            "name",
            "brand",
            "category",
            "category_derived",
            "price",
            "currency",
            "in_stock",
            "stocked_in",
        ],
        "highlight": {
            "pre_tags": ["<em>"],
            "post_tags": ["</em>"],
            "fields": {
                "name": {"number_of_fragments": 0},
                "description": {"fragment_size": 150, "number_of_fragments": 1},
            },
        },
        "aggs": {
            "brand": {"filter": others("brand"), "aggs": {"values": {"terms": {"field": "brand", "size": FACET_SIZE}}}},
            "category": {
                "filter": others("category"),
                "aggs": {"values": {"terms": {"field": "category", "size": FACET_SIZE}}},
            },
            "price": {"filter": others("price"), "aggs": {"values": {"range": {"field": "price", "ranges": ranges}}}},
        },
    }
    if p.q:
        body["highlight"]["highlight_query"] = highlight_query(p.q)
    body["from"] = (p.page - 1) * p.size
    return body


def highlight_query(q: str, synonyms: Callable[[str], list[str]] = alternatives) -> dict[str, Any]:
    """What to mark in the name and description: the words (and their synonyms) as typed. Highlighting the fuzzy
    query instead costs up to seconds per search under load (tests/bench/results/search_latency*.md); the price is
    that a misspelt word is not marked."""
    return {
        "bool": {
            "should": [
                {"multi_match": {"query": text, "fields": ["name", "description"]}} for text in [q, *synonyms(q)]
            ]
        }
    }


def build_suggest(prefix: str, size: int = 10) -> dict[str, Any]:
    return {
        "_source": ["sku", "name"],
        "suggest": {
            "products": {
                "prefix": prefix,
                "completion": {
                    "field": "suggest",
                    "size": size,
                    "skip_duplicates": True,
                    "fuzzy": {"fuzziness": "AUTO", "prefix_length": 1},
                },
            }
        },
    }
