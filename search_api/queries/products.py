"""Shopper product search, suggestions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from search_api.queries.ranking import RANKING, Ranking, text_query, wordings
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


def build_search(p: ProductSearch, ranking: Ranking = RANKING) -> dict[str, Any]:
    base_filters: list[dict[str, Any]] = [{"term": {"status": "active"}}]  # discontinued never shown
    if p.in_stock is not None:
        base_filters.append({"term": {"in_stock": p.in_stock}})
    if p.warehouse:
        base_filters.append({"term": {"stocked_in": p.warehouse}})
    query: dict[str, Any] = {"bool": {"filter": base_filters}}
    if p.q:
        query["bool"]["must"] = [text_query(p.q, ranking)]
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
        body["highlight"]["highlight_query"] = highlight_query(p.q, ranking)
    body["from"] = (p.page - 1) * p.size
    return body


def highlight_query(
    q: str, ranking: Ranking = RANKING, synonyms: Callable[[str], list[str]] = alternatives
) -> dict[str, Any]:
    """What to mark in the name and description: the words as typed and in the other wordings searched. Highlighting
    the fuzzy query instead costs up to seconds per search under load (tests/bench/results/search_latency*.md); the
    price is that a misspelt word is not marked."""
    texts = [q, *wordings(q, ranking, synonyms)]
    return {"bool": {"should": [{"multi_match": {"query": text, "fields": ["name", "description"]}} for text in texts]}}


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
