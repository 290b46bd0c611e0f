"""Public product routes: search, suggestions, detail."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from search_api.answers import ProductDetail, ProductPage, Suggestions
from search_api.availability import PRODUCT_READS, available_in_stocked_warehouses, warehouses_of
from search_api.consistency import read_consistency
from search_api.dependencies import (
    PUBLIC_ITEM,
    PUBLIC_PAGE,
    PUBLIC_READ,
    Es,
    MinPosition,
    Settings,
    WaitMs,
    answer,
    first_item_link,
)
from search_api.paging import PagedSearch, PageRequest, paged_search
from search_api.queries.products import PRICE_RANGES, ProductSearch, ProductSort, build_search, build_suggest
from shared.http_errors import ApiError
from shared.read_models import Projection, alias_name
from shared.responses import JSONResponse

router = APIRouter(prefix="/products", tags=["products"])
TO_PRODUCT = first_item_link("GetProduct", "get_product_products__sku__get", "sku", "sku")

SKU_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
PRODUCTS = (Projection.PRODUCTS,)


def _item(hit: dict[str, Any], counts: dict[str, int]) -> dict[str, Any]:
    source = hit["_source"]
    return {
        "sku": source["sku"],
        "name": source["name"],
        "brand": source.get("brand"),
        "category": source.get("category"),
        "category_derived": source.get("category_derived", False),
        "price": {"amount": f"{source['price']:.2f}", "currency": source.get("currency", "USD")},
        "in_stock": source.get("in_stock", False),
        "available": counts.get(source["sku"], 0),
        "highlight": hit.get("highlight", {}),
        "score": hit.get("_score"),
    }


def _facets(aggs: dict[str, Any]) -> dict[str, Any]:
    price_buckets = aggs["price"]["values"]["buckets"]
    return {
        "brand": [{"value": b["key"], "count": b["doc_count"]} for b in aggs["brand"]["values"]["buckets"]],
        "category": [{"value": b["key"], "count": b["doc_count"]} for b in aggs["category"]["values"]["buckets"]],
        "price": [
            {"from": lo, "to": hi, "count": b["doc_count"]}
            for (lo, hi), b in zip(PRICE_RANGES, price_buckets, strict=True)
        ],
    }


SEARCH = PagedSearch(Projection.PRODUCTS, PRODUCT_READS, ProductSearch.from_dict, build_search)


@router.get(
    "/search",
    responses={**PUBLIC_PAGE, **answer(ProductPage, TO_PRODUCT)},
)
async def search_products(
    es: Es,
    settings: Settings,
    q: Annotated[str | None, Query(max_length=500)] = None,
    brand: Annotated[list[str] | None, Query(max_length=50)] = None,
    category: Annotated[list[str] | None, Query(max_length=50)] = None,
    price_min: Annotated[float | None, Query(ge=0)] = None,
    price_max: Annotated[float | None, Query(ge=0)] = None,
    in_stock: bool | None = None,
    warehouse: Annotated[str | None, Query(max_length=64)] = None,
    sort: ProductSort = "relevance",
    page: Annotated[int, Query(ge=1)] = 1,
    size: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
    min_position: MinPosition = None,
    wait_ms: WaitMs = None,
) -> JSONResponse:
    if price_min is not None and price_max is not None and price_min > price_max:
        fields = {"price_min": "must not exceed price_max"}
        raise ApiError(422, "validation_failed", "price_min is above price_max", {"fields": fields})

    def params() -> ProductSearch:
        return ProductSearch(
            q=q.strip() if q and q.strip() else None,
            brand=tuple(brand or ()),
            category=tuple(category or ()),
            price_min=price_min,
            price_max=price_max,
            in_stock=in_stock,
            warehouse=warehouse,
            sort=sort,
            page=page,
            size=size,
        )

    async def render(_: ProductSearch, response: dict[str, Any], following: str | None) -> dict[str, Any]:
        hits = response["hits"]["hits"]
        stocked_in = {hit["_source"]["sku"]: hit["_source"].get("stocked_in", []) for hit in hits}
        counts = await available_in_stocked_warehouses(es, settings.elasticsearch_prefix, stocked_in)
        return {
            "total": response["hits"]["total"]["value"],
            "items": [_item(hit, counts) for hit in hits],
            "facets": _facets(response["aggregations"]),
            "next_cursor": following,
        }

    request = PageRequest(es, settings, page, size, cursor, min_position, wait_ms)
    return await paged_search(request, SEARCH, params, render)


@router.get("/suggest", responses={**PUBLIC_READ, **answer(Suggestions)})
async def suggest_products(
    es: Es,
    settings: Settings,
    q: Annotated[str, Query(min_length=1, max_length=100)],
    size: Annotated[int, Query(ge=1, le=20)] = 10,
    min_position: MinPosition = None,
    wait_ms: WaitMs = None,
) -> JSONResponse:
    consistency = await read_consistency(es, settings, PRODUCTS, min_position, wait_ms)
    # The completion suggester reserves some control characters (U+001F, U+001E, NUL) and refuses a prefix that
    # holds one: no word holds any control character, so they are spaces here.
    prefix = CONTROL.sub(" ", q).strip()
    if not prefix:
        return JSONResponse({"suggestions": []}, headers=consistency.headers())
    response = await es.search(
        index=alias_name(settings.elasticsearch_prefix, Projection.PRODUCTS), body=build_suggest(prefix, size)
    )
    options = response["suggest"]["products"][0]["options"]
    suggestions = [{"text": o["text"], "sku": o["_source"]["sku"]} for o in options]
    return JSONResponse({"suggestions": suggestions}, headers=consistency.headers())


@router.get("/{sku}", responses={**PUBLIC_ITEM, **answer(ProductDetail)})
async def get_product(
    es: Es,
    settings: Settings,
    sku: Annotated[str, Path(pattern=SKU_PATTERN)],
    min_position: MinPosition = None,
    wait_ms: WaitMs = None,
) -> JSONResponse:
    consistency = await read_consistency(es, settings, PRODUCT_READS, min_position, wait_ms)
    index = alias_name(settings.elasticsearch_prefix, Projection.PRODUCTS)
    found, warehouses = await asyncio.gather(
        es.mget(index=index, ids=[sku], realtime=False), warehouses_of(es, settings.elasticsearch_prefix, sku)
    )
    source = found["docs"][0].get("_source") if found["docs"][0].get("found") else None
    if source is None or source.get("status") not in ("active", "discontinued"):
        raise ApiError(404, "not_found", f"product {sku} does not exist", {"sku": sku})
    body = {
        "sku": source["sku"],
        "name": source["name"],
        "description": source.get("description"),
        "brand": source.get("brand"),
        "category": source.get("category"),
        "category_derived": source.get("category_derived", False),
        "price": {"amount": f"{source['price']:.2f}", "currency": source.get("currency", "USD")},
        "attributes": source.get("catalogue", {}).get("attributes", {}),
        "status": source.get("status"),
        "in_stock": source.get("in_stock", False),
        "available": sum(w["available"] for w in warehouses),
        "warehouses": warehouses,
        "version": source.get("stream_versions", {}).get(f"product-{sku}"),
    }
    return JSONResponse(body, headers=consistency.headers())
