"""What a shopper sees of stock: stock as search uses it comes from the product document, quantities from the
inventory read model.

A product document carries stock only as search filters and ranks by it (`in_stock`, `stocked_in`), changed only
when a warehouse runs out or is restocked (projector/projections/products.py). The quantities change with every
reservation; they are read from the inventory rows (one small document per SKU and warehouse), by id, from the same
refreshed view searches see (`realtime=False`): an answer is as fresh as the visible positions it reports, and
product reads therefore wait for both the products and the inventory projection (`PRODUCT_READS`).
"""

from __future__ import annotations

from typing import Any

from elasticsearch import AsyncElasticsearch

from search_api.queries.inventory import build_lookup
from shared.read_models import Projection, alias_name, stock_row_id

PRODUCT_READS = (Projection.PRODUCTS, Projection.INVENTORY)


async def available_in_stocked_warehouses(
    es: AsyncElasticsearch, prefix: str, stocked_in: dict[str, list[str]]
) -> dict[str, int]:
    """SKU -> units available in all its warehouses, for search hits: only the warehouses a product is in stock in
    can have any, so only their rows are read, in one `mget`."""
    totals = dict.fromkeys(stocked_in, 0)
    ids = [stock_row_id(sku, w) for sku, warehouses in stocked_in.items() for w in warehouses]
    if not ids:
        return totals
    response = await es.mget(
        index=alias_name(prefix, Projection.INVENTORY), ids=ids, realtime=False, source_includes=["sku", "available"]
    )
    for doc in response["docs"]:
        source: dict[str, Any] = doc.get("_source") or {}
        if doc.get("found") and source.get("sku") in totals:
            totals[source["sku"]] += max(0, int(source.get("available", 0)))
    return totals


async def warehouses_of(es: AsyncElasticsearch, prefix: str, sku: str) -> list[dict[str, Any]]:
    """Every warehouse that holds a row of the SKU, with what is available there (never below 0 for a shopper)."""
    response = await es.search(index=alias_name(prefix, Projection.INVENTORY), body=build_lookup(sku))
    rows = [hit["_source"] for hit in response["hits"]["hits"] if hit["_source"].get("kind") == "stock"]
    return [
        {"warehouse": row["warehouse"], "available": max(0, int(row.get("available", 0)))}
        for row in sorted(rows, key=lambda r: str(r["warehouse"]))
    ]
