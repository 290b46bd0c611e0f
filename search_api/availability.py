"""What a shopper sees of stock: the quantities come from the inventory read model, not the product document.

A product document carries stock only as search filters and ranks by it (`in_stock`, `stocked_in`), so that a
reservation does not rewrite it (projector/projections/products.py). The quantities change with every reservation;
they are read from the inventory rows (one small document per SKU and warehouse), from the same refreshed view
searches see (`realtime=False`), so they are as fresh as the projections' visible positions the answer reports:
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
    ids = [stock_row_id(sku, w) for sku, warehouses in stocked_in.items() for w in warehouses]
    totals = dict.fromkeys(stocked_in, 0)
    if not ids:
        return totals
    response = await es.mget(
        index=alias_name(prefix, Projection.INVENTORY), ids=ids, realtime=False, source_includes=["sku", "available"]
    )
    for doc in response["docs"]:
        source = doc.get("_source") if doc.get("found") else None
        if source and source.get("sku") in totals:
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
