"""Shopper product search: the Elasticsearch request body built from the query parameters (pure)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from projector.elastic import load_mapping
from search_api.cursor import Cursor, decode, encode, next_cursor, paged_body
from search_api.queries.products import SORTS, ProductSearch, build_search, build_suggest
from shared.http_errors import ApiError
from shared.read_models import MAPPING_VERSIONS, Projection

BRAND = {"terms": {"brand": ["Acme", "Globex"]}}
CATEGORY = {"terms": {"category": ["Cables"]}}
PRICE = {"range": {"price": {"gte": 10.0, "lte": 50.0}}}
ACTIVE = {"term": {"status": "active"}}


def filtered() -> ProductSearch:
    return ProductSearch(brand=("Acme", "Globex"), category=("Cables",), price_min=10.0, price_max=50.0)


def walk(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, (*path, str(key)))
    elif isinstance(node, list):
        for value in node:
            yield from walk(value, path)


def keys(body: Any) -> set[str]:
    return {path[-1] for path, _ in walk(body) if path}


def agg_filters(body: dict[str, Any], facet: str) -> list[dict[str, Any]]:
    return body["aggs"][facet]["filter"]["bool"]["filter"]  # type: ignore[no-any-return]


def test_discontinued_products_are_always_excluded() -> None:
    for search in (
        ProductSearch(),
        ProductSearch(q="cable"),
        filtered(),
        ProductSearch(in_stock=True, sort="price_asc"),
    ):
        body = build_search(search)
        assert ACTIVE in body["query"]["bool"]["filter"]
        # The status filter is in the query, so facet counts exclude discontinued products too.
        assert "must_not" not in body["query"]["bool"]


def test_no_filters_no_text() -> None:
    body = build_search(ProductSearch())
    assert body["query"] == {"bool": {"filter": [ACTIVE]}}
    assert body["post_filter"] == {"bool": {"filter": []}}
    for facet in ("brand", "category", "price"):
        assert agg_filters(body, facet) == []


def test_disjunctive_facets() -> None:
    body = build_search(filtered())
    # A facet's counts ignore its own filter but honour every other facet's filter.
    assert sorted(map(json.dumps, agg_filters(body, "brand"))) == sorted(map(json.dumps, [CATEGORY, PRICE]))
    assert sorted(map(json.dumps, agg_filters(body, "category"))) == sorted(map(json.dumps, [BRAND, PRICE]))
    assert sorted(map(json.dumps, agg_filters(body, "price"))) == sorted(map(json.dumps, [BRAND, CATEGORY]))
    # The hits honour every facet filter, after the aggregations.
    assert sorted(map(json.dumps, body["post_filter"]["bool"]["filter"])) == sorted(
        map(json.dumps, [BRAND, CATEGORY, PRICE])
    )
    # Facet filters are not in the query itself (that would narrow the facets).
    assert not {json.dumps(f) for f in body["query"]["bool"]["filter"]} & {
        json.dumps(f) for f in (BRAND, CATEGORY, PRICE)
    }


def test_facet_aggregations() -> None:
    aggs = build_search(ProductSearch())["aggs"]
    assert aggs["brand"]["aggs"]["values"]["terms"]["field"] == "brand"
    assert aggs["category"]["aggs"]["values"]["terms"]["field"] == "category"
    ranges = aggs["price"]["aggs"]["values"]["range"]
    assert ranges["field"] == "price"
    assert ranges["ranges"][0] == {"to": 25} and ranges["ranges"][-1] == {"from": 1000}
    for left, right in zip(ranges["ranges"], ranges["ranges"][1:], strict=False):
        assert left["to"] == right["from"]  # contiguous, no gaps


def test_one_sided_price_filter() -> None:
    body = build_search(ProductSearch(price_min=5.0))
    assert body["post_filter"]["bool"]["filter"] == [{"range": {"price": {"gte": 5.0}}}]
    body = build_search(ProductSearch(price_max=0.0))
    assert body["post_filter"]["bool"]["filter"] == [{"range": {"price": {"lte": 0.0}}}]


def test_stock_and_warehouse_filters_narrow_query_and_facets() -> None:
    body = build_search(ProductSearch(in_stock=False, warehouse="W1"))
    assert {"term": {"in_stock": False}} in body["query"]["bool"]["filter"]
    assert {"term": {"stocked_in": "W1"}} in body["query"]["bool"]["filter"]


@pytest.mark.parametrize(
    ("sort", "first"),
    [
        ("relevance", {"_score": "desc"}),
        ("price_asc", {"price": "asc"}),
        ("price_desc", {"price": "desc"}),
        ("newest", {"registered_at": "desc"}),
        ("name", {"name.sort": "asc"}),
    ],
)
def test_sorts_end_with_a_unique_tie_breaker(sort: Any, first: dict[str, str]) -> None:
    body = build_search(ProductSearch(sort=sort))
    assert body["sort"][0] == first
    assert body["sort"][-1] == {"sku": "asc"}
    assert body["sort"] == SORTS[sort]


def test_relevance_ranks_in_stock_first_at_equal_score() -> None:
    assert build_search(ProductSearch(q="x"))["sort"][:2] == [{"_score": "desc"}, {"in_stock": "desc"}]


HOSTILE = [
    "hdmi cable",
    "name:foo AND brand:* OR (x",
    '"}}, {"match_all": {}}',
    "*:*",
    "\\ / ~ ^ [ ] { }",
]


@pytest.mark.parametrize("q", HOSTILE)
def test_user_text_only_in_match_clauses(q: str) -> None:
    body = build_search(ProductSearch(q=q))
    assert "query_string" not in keys(body)
    assert "query_string" not in json.dumps(body)
    assert "match_all" not in keys(body)
    safe = {"multi_match", "match", "match_phrase", "match_bool_prefix", "simple_query_string", "term"}
    occurrences = [path for path, value in walk(body) if isinstance(value, str) and q.strip().lower() in value.lower()]
    assert occurrences, "the text is searched"
    for path in occurrences:
        assert set(path) & safe, f"user text at {'.'.join(path)}"
    # The text is a value, never spliced into structure.
    assert q not in keys(body)
    assert [clause["multi_match"]["query"] for clause in recall_clauses(build_search(ProductSearch(q=q)))] == [q, q]


def recall_clauses(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The words-as-typed and typo clauses of a search for a text without synonyms."""
    [must] = body["query"]["bool"]["must"]
    return must["function_score"]["query"]["bool"]["should"]  # type: ignore[no-any-return]


def test_text_query_searches_name_above_description() -> None:
    words, typos = (clause["multi_match"] for clause in recall_clauses(build_search(ProductSearch(q="cable"))))

    def weights(multi_match: dict[str, Any]) -> dict[str, float]:
        return {f.split("^")[0]: float(f.split("^")[1]) if "^" in f else 1.0 for f in multi_match["fields"]}

    assert weights(words)["name"] > weights(words)["description"]
    assert "fuzziness" not in words
    # Typos tolerated in one field that holds the name, the brand, the attributes and the description.
    assert set(weights(typos)) == {"typo_text"}
    assert typos["fuzziness"] == "AUTO:4,99"  # one edit from 4 letters


def test_the_typo_field_holds_the_unstemmed_words_of_every_searched_text_field() -> None:
    properties = load_mapping(Projection.PRODUCTS, MAPPING_VERSIONS[Projection.PRODUCTS])["mappings"]["properties"]
    copied = {name for name, spec in properties.items() if spec.get("copy_to") in ("typo_text", ["typo_text"])}
    assert copied == {"name", "brand", "attributes_text", "description"}
    assert properties["typo_text"]["analyzer"] == "text_plain"  # a misspelt word is not stemmed either


def test_no_text_means_no_must_clause() -> None:
    assert "must" not in build_search(ProductSearch(q=None))["query"]["bool"]
    assert "must" not in build_search(ProductSearch(q=""))["query"]["bool"]


@pytest.mark.parametrize(
    ("page", "size", "offset"), [(1, 20, 0), (2, 20, 20), (3, 7, 14), (500, 20, 9980), (1, 100, 0)]
)
def test_paging(page: int, size: int, offset: int) -> None:
    body = build_search(ProductSearch(page=page, size=size))
    assert (body["from"], body["size"]) == (offset, size)
    assert "search_after" not in body
    assert body["track_total_hits"] is True


def test_cursor_paging_uses_search_after_over_a_point_in_time_not_from() -> None:
    params = ProductSearch(q="cable", brand=("Acme",), page=3, size=10)
    token = encode(Cursor(params.to_dict(), [1.5, True, "SKU-9"], None))
    cursor = decode(token)
    assert ProductSearch.from_dict(cursor.params) == params
    body = paged_body(build_search(ProductSearch.from_dict(cursor.params)), cursor, "pit-1")
    assert body["search_after"] == [1.5, True, "SKU-9"]
    assert body["pit"] == {"id": "pit-1", "keep_alive": "2m"}
    assert "from" not in body
    assert body["size"] == 10


def test_a_cursor_this_api_did_not_issue_is_refused() -> None:
    with pytest.raises(ApiError) as raised:
        decode("not-a-cursor")
    assert (raised.value.status, raised.value.code) == (400, "invalid_cursor")


def test_next_cursor_only_when_the_page_is_full() -> None:
    hits = [{"sort": [1, "a"]}, {"sort": [2, "b"]}]
    assert next_cursor({}, hits, 3, None) is None
    assert decode(next_cursor({"q": "x"}, hits, 2, "pit") or "").search_after == [2, "b"]


def test_source_and_highlight() -> None:
    body = build_search(ProductSearch(q="x"))
    assert {"sku", "name", "brand", "category", "price", "in_stock", "stocked_in"} <= set(body["_source"])
    assert {"name", "description"} <= set(body["highlight"]["fields"])


def test_suggest_body() -> None:
    body = build_suggest('hdm"i', size=5)
    completion = body["suggest"]["products"]["completion"]
    assert body["suggest"]["products"]["prefix"] == 'hdm"i'
    assert completion["size"] == 5 and completion["field"] == "suggest"
    assert "fuzzy" in completion
    assert "query_string" not in json.dumps(body)


def test_the_words_as_typed_are_one_clause_that_both_recalls_and_ranks() -> None:
    from search_api.queries.ranking import FUZZY_WEIGHT, text_query

    body = text_query("usb cable", synonyms=lambda _: [])
    unfuzzy = [
        node["multi_match"]
        for _, node in walk(body)
        if isinstance(node, dict) and "multi_match" in node and "fuzziness" not in node["multi_match"]
    ]
    # Elasticsearch would score a second identical clause all over again: one, weighted for both of its jobs.
    assert len(unfuzzy) == 1
    assert unfuzzy[0]["boost"] == pytest.approx(1.0 + FUZZY_WEIGHT)
