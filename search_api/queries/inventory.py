"""Warehouse stock lookups: rows per SKU x warehouse."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

InventorySort = Literal["sku", "available_asc", "available_desc", "updated_desc", "name"]

SORTS: dict[str, list[dict[str, Any]]] = {
    "sku": [{"sku": "asc"}, {"warehouse": "asc"}],
    "available_asc": [{"available": "asc"}, {"sku": "asc"}, {"warehouse": "asc"}],
    "available_desc": [{"available": "desc"}, {"sku": "asc"}, {"warehouse": "asc"}],
    "updated_desc": [{"updated_at": "desc"}, {"sku": "asc"}, {"warehouse": "asc"}],
    "name": [{"name.sort": "asc"}, {"sku": "asc"}, {"warehouse": "asc"}],
}
ROWS = {"term": {"kind": "stock"}}


@dataclass(frozen=True)
class InventorySearch:
    q: str | None = None
    warehouse: str | None = None
    low_stock: bool | None = None
    out_of_stock: bool | None = None
    sort: InventorySort = "sku"
    page: int = 1
    size: int = 50

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InventorySearch:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def build_list(p: InventorySearch) -> dict[str, Any]:
    filters: list[dict[str, Any]] = [ROWS]
    if p.warehouse:
        filters.append({"term": {"warehouse": p.warehouse}})
    if p.low_stock is not None:
        filters.append({"term": {"low_stock": p.low_stock}})
    if p.out_of_stock is not None:
        filters.append({"term": {"out_of_stock": p.out_of_stock}})
    query: dict[str, Any] = {"bool": {"filter": filters}}
    if p.q:
        text = p.q.strip()
        query["bool"]["must"] = [
            {
                "bool": {
                    "should": [
                        {"term": {"sku": {"value": text, "boost": 10}}},
                        {"prefix": {"sku.lower": {"value": text.lower(), "boost": 3}}},
                        {
                            "match": {
                                "name": {"query": text, "operator": "and", "fuzziness": "AUTO", "prefix_length": 1}
                            }
                        },
                    ],
                    "minimum_should_match": 1,
                }
            }
        ]
    return {
        "query": query,
        "sort": SORTS[p.sort],
        "size": p.size,
        "from": (p.page - 1) * p.size,
        "track_total_hits": True,
    }


def build_lookup(sku: str) -> dict[str, Any]:
    """Every row of one SKU and its header (for the name)."""
    return {"query": {"term": {"sku": sku}}, "size": 1000, "sort": [{"warehouse": "asc"}]}
