"""Warehouse stock lookups (roles warehouse, backoffice, admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from search_api.answers import StockOfSku, StockPage
from search_api.consistency import read_consistency
from search_api.dependencies import (
    STAFF_ITEM,
    STAFF_PAGE,
    Es,
    MinPosition,
    Settings,
    StockReader,
    WaitMs,
    answer,
    first_item_link,
)
from search_api.paging import PagedSearch, PageRequest, paged_search
from search_api.queries.inventory import InventorySearch, InventorySort, build_list, build_lookup
from shared.http_errors import ApiError
from shared.read_models import Projection, alias_name
from shared.responses import JSONResponse

router = APIRouter(prefix="/inventory", tags=["inventory"])
TO_STOCK = first_item_link("StockOfSku", "stock_of_sku_inventory__sku__get", "sku", "sku")
INVENTORY = (Projection.INVENTORY,)
ID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
ROW_FIELDS = ("warehouse", "on_hand", "reserved", "available", "low_stock_threshold", "low_stock", "updated_at")


def _row(source: dict[str, Any]) -> dict[str, Any]:
    return {"sku": source["sku"], "name": source.get("name"), **{k: source.get(k) for k in ROW_FIELDS}}


@router.get("/{sku}", responses={**STAFF_ITEM, **answer(StockOfSku)})
async def stock_of_sku(
    es: Es,
    settings: Settings,
    _role: StockReader,
    sku: Annotated[str, Path(pattern=ID_PATTERN)],
    min_position: MinPosition = None,
    wait_ms: WaitMs = None,
) -> JSONResponse:
    consistency = await read_consistency(es, settings, INVENTORY, min_position, wait_ms)
    response = await es.search(
        index=alias_name(settings.elasticsearch_prefix, Projection.INVENTORY), body=build_lookup(sku)
    )
    docs = [hit["_source"] for hit in response["hits"]["hits"]]
    if not docs:
        raise ApiError(404, "not_found", f"no product or stock for SKU {sku}", {"sku": sku})
    rows = [d for d in docs if d.get("kind") == "stock"]
    name = next((d.get("name") for d in docs if d.get("name")), None)
    total = {k: sum(int(r[k]) for r in rows) for k in ("on_hand", "reserved", "available")}
    body = {"sku": sku, "name": name, "total": total, "warehouses": [{k: r.get(k) for k in ROW_FIELDS} for r in rows]}
    return JSONResponse(body, headers=consistency.headers())


LIST = PagedSearch(Projection.INVENTORY, INVENTORY, InventorySearch.from_dict, build_list)


@router.get("", responses={**STAFF_PAGE, **answer(StockPage, TO_STOCK)})
async def list_stock(
    es: Es,
    settings: Settings,
    _role: StockReader,
    q: Annotated[str | None, Query(max_length=200, description="a SKU or words of the product name")] = None,
    warehouse: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    low_stock: bool | None = None,
    out_of_stock: bool | None = None,
    sort: InventorySort = "sku",
    page: Annotated[int, Query(ge=1)] = 1,
    size: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
    min_position: MinPosition = None,
    wait_ms: WaitMs = None,
) -> JSONResponse:
    def params() -> InventorySearch:
        return InventorySearch(
            q=q.strip() if q and q.strip() else None,
            warehouse=warehouse,
            low_stock=low_stock,
            out_of_stock=out_of_stock,
            sort=sort,
            page=page,
            size=size,
        )

    async def render(_: InventorySearch, response: dict[str, Any], following: str | None) -> dict[str, Any]:
        return {
            "total": response["hits"]["total"]["value"],
            "items": [_row(hit["_source"]) for hit in response["hits"]["hits"]],
            "next_cursor": following,
        }

    request = PageRequest(es, settings, page, size, cursor, min_position, wait_ms)
    return await paged_search(request, LIST, params, render)
