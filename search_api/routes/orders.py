"""Back-office order search and detail (role backoffice, admin): the only routes that expose customers' data."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from elasticsearch import NotFoundError
from fastapi import APIRouter, Path, Query

from search_api.consistency import read_consistency
from search_api.cursor import decode as decode_cursor
from search_api.dependencies import Es, MinPosition, OrderReader, Settings, WaitMs
from search_api.paging import check_depth, search_page
from search_api.queries.orders import STATUSES, OrderSearch, OrderSort, build_search
from shared.http_errors import ApiError
from shared.read_models import Projection, alias_name
from shared.responses import JSONResponse

router = APIRouter(prefix="/orders", tags=["orders"])
ORDERS = (Projection.ORDERS,)
ID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"


def _order(source: dict[str, Any]) -> dict[str, Any]:
    return {
        "order_id": source["order_id"],
        "status": source["status"],
        "customer": source["customer"],
        "total": source.get("total_money"),
        "item_count": source.get("item_count"),
        "placed_at": source.get("placed_at"),
        "shipped_at": source.get("shipped_at"),
        "cancelled_at": source.get("cancelled_at"),
        "lines": source.get("lines", []),
    }


@router.get("/search")
async def search_orders(
    es: Es,
    settings: Settings,
    _role: OrderReader,
    q: Annotated[str | None, Query(max_length=200)] = None,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    email: Annotated[str | None, Query(max_length=254)] = None,
    status: Annotated[list[str] | None, Query(max_length=3)] = None,
    placed_from: datetime | None = None,
    placed_to: datetime | None = None,
    total_min: Annotated[float | None, Query(ge=0)] = None,
    total_max: Annotated[float | None, Query(ge=0)] = None,
    sku: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    sort: OrderSort = "newest",
    page: Annotated[int, Query(ge=1)] = 1,
    size: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
    min_position: MinPosition = None,
    wait_ms: WaitMs = None,
) -> JSONResponse:
    unknown = [s for s in status or () if s not in STATUSES]
    if unknown:
        raise ApiError(422, "validation_failed", "unknown status", {"fields": {"status": f"one of {STATUSES}"}})
    check_depth(page, size)
    page_cursor = decode_cursor(cursor) if cursor else None
    params = (
        OrderSearch.from_dict(page_cursor.params)
        if page_cursor
        else OrderSearch(
            q=q.strip() if q and q.strip() else None,
            customer_id=customer_id,
            email=email,
            status=tuple(status or ()),
            placed_from=placed_from.isoformat() if placed_from else None,
            placed_to=placed_to.isoformat() if placed_to else None,
            total_min=total_min,
            total_max=total_max,
            sku=sku,
            sort=sort,
            page=page,
            size=size,
        )
    )
    consistency = await read_consistency(es, settings, ORDERS, min_position, wait_ms)
    response, following = await search_page(
        es,
        alias_name(settings.elasticsearch_prefix, Projection.ORDERS),
        build_search(params),
        params.to_dict(),
        params.size,
        page_cursor,
    )
    body = {
        "total": response["hits"]["total"]["value"],
        "items": [_order(hit["_source"]) for hit in response["hits"]["hits"]],
        "facets": {
            "status": [
                {"value": b["key"], "count": b["doc_count"]} for b in response["aggregations"]["status"]["buckets"]
            ]
        },
        "next_cursor": following,
    }
    return JSONResponse(body, headers=consistency.headers())


@router.get("/{order_id}")
async def get_order(
    es: Es,
    settings: Settings,
    _role: OrderReader,
    order_id: Annotated[str, Path(pattern=ID_PATTERN)],
    min_position: MinPosition = None,
    wait_ms: WaitMs = None,
) -> JSONResponse:
    consistency = await read_consistency(es, settings, ORDERS, min_position, wait_ms)
    try:
        found = await es.get(index=alias_name(settings.elasticsearch_prefix, Projection.ORDERS), id=order_id)
    except NotFoundError as exc:
        raise ApiError(404, "not_found", f"order {order_id} does not exist", {"order_id": order_id}) from exc
    source = found["_source"]
    body = {
        **_order(source),
        "shipping_address": source.get("shipping_address"),
        "carrier": source.get("carrier"),
        "tracking_number": source.get("tracking_number"),
        "version": source.get("stream_versions", {}).get(f"order-{order_id}"),
    }
    return JSONResponse(body, headers=consistency.headers())
