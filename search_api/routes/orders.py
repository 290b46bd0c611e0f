"""Back-office order search and detail (role backoffice, admin): the only routes that expose customers' data."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

from elasticsearch import NotFoundError
from fastapi import APIRouter, Path, Query

from search_api.answers import OrderDetail, OrderPage
from search_api.consistency import read_consistency
from search_api.dependencies import (
    STAFF_ITEM,
    STAFF_PAGE,
    Es,
    MinPosition,
    OrderReader,
    Settings,
    Timestamp,
    WaitMs,
    answer,
    first_item_link,
)
from search_api.paging import PagedSearch, PageRequest, paged_search
from search_api.queries.orders import OrderSearch, OrderSort, OrderStatus, build_search
from shared.http_errors import ApiError
from shared.read_models import Projection, alias_name
from shared.responses import JSONResponse

router = APIRouter(prefix="/orders", tags=["orders"])
TO_ORDER = first_item_link("GetOrder", "get_order_orders__order_id__get", "order_id", "order_id")
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


SEARCH = PagedSearch(Projection.ORDERS, ORDERS, OrderSearch.from_dict, build_search)


def placed_bound(name: str, value: datetime | None) -> str | None:
    """A `placed_from`/`placed_to` as Elasticsearch compares it: in UTC. A time whose offset takes it outside the
    years 1-9999 (`9999-12-31T23:00:00-05:00`) is a 422, not a query Elasticsearch refuses."""
    if value is None:
        return None
    try:
        utc = value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    except OverflowError as exc:
        raise ApiError(
            422, "validation_failed", f"{name} is out of range", {"fields": {name: "must fall in the years 1-9999 UTC"}}
        ) from exc
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"  # the year always in four digits


def order_filter(
    q: str | None,
    customer_id: str | None,
    email: str | None,
    status: list[OrderStatus] | None,
    placed_from: datetime | None,
    placed_to: datetime | None,
    total_min: float | None,
    total_max: float | None,
    sku: str | None,
    sort: OrderSort,
) -> OrderSearch:
    """The filter of GET /orders/search and GET /orders/export (page and size apart)."""
    return OrderSearch(
        q=q.strip() if q and q.strip() else None,
        customer_id=customer_id,
        email=email,
        status=tuple(status or ()),
        placed_from=placed_bound("placed_from", placed_from),
        placed_to=placed_bound("placed_to", placed_to),
        total_min=total_min,
        total_max=total_max,
        sku=sku,
        sort=sort,
    )


@router.get(
    "/search",
    responses={**STAFF_PAGE, **answer(OrderPage, TO_ORDER)},
)
async def search_orders(
    es: Es,
    settings: Settings,
    _role: OrderReader,
    q: Annotated[str | None, Query(max_length=200)] = None,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    email: Annotated[str | None, Query(max_length=254)] = None,
    status: Annotated[list[OrderStatus] | None, Query(max_length=3)] = None,
    placed_from: Timestamp | None = None,
    placed_to: Timestamp | None = None,
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
    def params() -> OrderSearch:
        found = order_filter(q, customer_id, email, status, placed_from, placed_to, total_min, total_max, sku, sort)
        return replace(found, page=page, size=size)

    async def render(_: OrderSearch, response: dict[str, Any], following: str | None) -> dict[str, Any]:
        statuses = response["aggregations"]["status"]["buckets"]
        return {
            "total": response["hits"]["total"]["value"],
            "items": [_order(hit["_source"]) for hit in response["hits"]["hits"]],
            "facets": {"status": [{"value": b["key"], "count": b["doc_count"]} for b in statuses]},
            "next_cursor": following,
        }

    request = PageRequest(es, settings, page, size, cursor, min_position, wait_ms)
    return await paged_search(request, SEARCH, params, render)


@router.get("/{order_id}", responses={**STAFF_ITEM, **answer(OrderDetail)})
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
