"""Back-office export (role backoffice, admin): every order a filter finds, as CSV, streamed page by page."""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import AsyncIterator, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

from elastic_transport import TransportError
from elasticsearch import ApiError as EsApiError
from elasticsearch import AsyncElasticsearch
from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from search_api.consistency import read_consistency
from search_api.cursor import decode as decode_cursor
from search_api.dependencies import STAFF_READ, Es, MinPosition, OrderReader, Settings, Timestamp, WaitMs
from search_api.paging import search_page
from search_api.queries.orders import OrderSearch, OrderSort, OrderStatus, build_search
from search_api.routes.orders import ID_PATTERN, order_filter
from shared.read_models import Projection, alias_name

router = APIRouter(prefix="/orders", tags=["orders"])
ORDERS = (Projection.ORDERS,)
PAGE_SIZE = 500  # orders fetched per request to Elasticsearch while streaming
COLUMNS = (
    "order_id",
    "status",
    "placed_at",
    "shipped_at",
    "cancelled_at",
    "customer_id",
    "customer_name",
    "customer_email",
    "item_count",
    "total",
    "currency",
    "skus",
)
# A cell starting with one of these is a formula to a spreadsheet: customer names come from the public, so such a
# cell is written with a leading apostrophe (OWASP's advice against CSV injection).
EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "The orders as CSV"},
    **STAFF_READ,
}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def _row(source: dict[str, Any]) -> list[str]:
    customer = source.get("customer") or {}
    total = source.get("total_money") or {}
    values = (
        source.get("order_id"),
        source.get("status"),
        source.get("placed_at"),
        source.get("shipped_at"),
        source.get("cancelled_at"),
        customer.get("id"),
        customer.get("name"),
        customer.get("email"),
        source.get("item_count"),
        total.get("amount"),
        total.get("currency"),
        " ".join(source.get("skus") or ()),
    )
    return [_cell(v) for v in values]


def _csv(rows: Iterable[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


async def _pages(
    es: AsyncElasticsearch, index: str, params: OrderSearch, first: dict[str, Any], following: str | None
) -> AsyncIterator[str]:
    """The header and the first page, then each further page by cursor (a point in time, closed at the end)."""
    yield _csv([list(COLUMNS), *(_row(hit["_source"]) for hit in first["hits"]["hits"])])
    pit: str | None = None  # the point in time the pages are read from, once a cursor page has named it
    try:
        while following is not None:
            cursor = decode_cursor(following)
            pit = cursor.pit or pit
            body = build_search(params)
            response, following = await search_page(es, index, body, params.to_dict(), params.size, cursor)
            if following is not None:
                pit = decode_cursor(following).pit or pit
            yield _csv(_row(hit["_source"]) for hit in response["hits"]["hits"])
    finally:
        if pit is not None:  # otherwise it would be kept for its keep-alive (2 minutes)
            with contextlib.suppress(TransportError, EsApiError):
                await es.close_point_in_time(id=pit)


@router.get("/export", response_class=StreamingResponse, responses=EXPORT_RESPONSES)
async def export_orders(
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
    min_position: MinPosition = None,
    wait_ms: WaitMs = None,
) -> StreamingResponse:
    """Every order `GET /orders/search` finds with the same filter, one CSV row each (`text/csv`, UTF-8, header
    row first), streamed while it is read page by page; `X-Total-Count` is the number of rows to come."""
    found = order_filter(q, customer_id, email, status, placed_from, placed_to, total_min, total_max, sku, sort)
    params = replace(found, size=PAGE_SIZE)
    consistency = await read_consistency(es, settings, ORDERS, min_position, wait_ms)
    index = alias_name(settings.elasticsearch_prefix, Projection.ORDERS)
    # The first page is read before the answer starts, so that a backend that does not answer is a 503, not a
    # truncated file.
    first, following = await search_page(es, index, build_search(params), params.to_dict(), params.size, None)
    filename = f"orders-{datetime.now(UTC):%Y%m%d-%H%M%S}.csv"
    headers = {
        **consistency.headers(),
        "X-Total-Count": str(first["hits"]["total"]["value"]),
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
    }
    return StreamingResponse(
        _pages(es, index, params, first, following), media_type="text/csv; charset=utf-8", headers=headers
    )
