"""What a shopper sees of stock: the quantities come from the products read model's stock documents.

A product document carries stock only as search filters and ranks by it (`in_stock`, `stocked_in`), so that a
reservation does not rewrite it (projector/projections/products.py). The exact levels live beside it, in the SKU's
stock document (`<sku>@stock`, never searched), which every reservation rewrites: small, unanalysed. They are read
by id from the same refreshed view searches see (`realtime=False`), so an answer is exactly as fresh as the
products projection's visible position that it reports, and read-your-writes waits for that projection alone.
"""

from __future__ import annotations

from typing import Any

from elasticsearch import AsyncElasticsearch

from shared.read_models import Projection, alias_name, product_stock_id

PRODUCT_READS = (Projection.PRODUCTS,)


def available_by_warehouse(levels: dict[str, list[int]]) -> dict[str, int]:
    """Warehouse -> units a shopper can order there (never below 0), from [on hand, reserved] levels."""
    return {w: max(0, on_hand - reserved) for w, (on_hand, reserved) in sorted(levels.items())}


async def stock_levels(es: AsyncElasticsearch, prefix: str, skus: list[str]) -> dict[str, dict[str, list[int]]]:
    """SKU -> its stock levels per warehouse (none known: empty), in one `mget`."""
    if not skus:
        return {}
    response = await es.mget(
        index=alias_name(prefix, Projection.PRODUCTS),
        ids=[product_stock_id(sku) for sku in skus],
        realtime=False,
        source_includes=["sku", "stock"],
    )
    levels: dict[str, dict[str, list[int]]] = {sku: {} for sku in skus}
    for doc in response["docs"]:
        source: dict[str, Any] = doc.get("_source") or {}
        if doc.get("found") and source.get("sku") in levels:
            levels[source["sku"]] = source.get("stock") or {}
    return levels


async def product_and_stock(
    es: AsyncElasticsearch, prefix: str, sku: str
) -> tuple[dict[str, Any] | None, dict[str, list[int]]]:
    """A product document (None if there is none) and its stock levels, in one `mget`."""
    response = await es.mget(
        index=alias_name(prefix, Projection.PRODUCTS), ids=[sku, product_stock_id(sku)], realtime=False
    )
    product, stock = response["docs"]
    return (
        product["_source"] if product.get("found") else None,
        (stock.get("_source") or {}).get("stock") or {} if stock.get("found") else {},
    )
