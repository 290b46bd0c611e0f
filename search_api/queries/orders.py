"""Back-office order search."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

OrderSort = Literal["newest", "oldest", "total_desc", "total_asc"]
OrderStatus = Literal["placed", "shipped", "cancelled"]
STATUSES: tuple[OrderStatus, ...] = ("placed", "shipped", "cancelled")

SORTS: dict[str, list[dict[str, Any]]] = {
    "newest": [{"placed_at": "desc"}, {"order_id": "asc"}],
    "oldest": [{"placed_at": "asc"}, {"order_id": "asc"}],
    "total_desc": [{"total": "desc"}, {"order_id": "asc"}],
    "total_asc": [{"total": "asc"}, {"order_id": "asc"}],
}


@dataclass(frozen=True)
class OrderSearch:
    q: str | None = None
    customer_id: str | None = None
    email: str | None = None
    status: tuple[str, ...] = ()
    placed_from: str | None = None
    placed_to: str | None = None
    total_min: float | None = None
    total_max: float | None = None
    sku: str | None = None
    sort: OrderSort = "newest"
    page: int = 1
    size: int = 20

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OrderSearch:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**{**known, "status": tuple(known.get("status", ()))})


def text_query(q: str) -> dict[str, Any]:
    text = q.strip()
    return {
        "bool": {
            "should": [
                {"term": {"order_id.lower": {"value": text.lower(), "boost": 20}}},
                {"match": {"customer.email": {"query": text, "boost": 10}}},
                {"term": {"skus": {"value": text, "boost": 5}}},
                {"match": {"customer.name": {"query": text, "operator": "and", "fuzziness": "AUTO", "boost": 3}}},
                {"match": {"lines.name": {"query": text, "operator": "and", "fuzziness": "AUTO"}}},
            ],
            "minimum_should_match": 1,
        }
    }


def build_search(p: OrderSearch) -> dict[str, Any]:
    filters: list[dict[str, Any]] = []
    if p.customer_id:
        filters.append({"term": {"customer.id": p.customer_id}})
    if p.email:
        filters.append({"match": {"customer.email": p.email}})
    if p.sku:
        filters.append({"term": {"skus": p.sku}})
    if p.placed_from or p.placed_to:
        bounds = {k: v for k, v in (("gte", p.placed_from), ("lte", p.placed_to)) if v}
        filters.append({"range": {"placed_at": bounds}})
    if p.total_min is not None or p.total_max is not None:
        total_bounds = {k: v for k, v in (("gte", p.total_min), ("lte", p.total_max)) if v is not None}
        filters.append({"range": {"total": total_bounds}})
    query: dict[str, Any] = {"bool": {"filter": filters}}
    if p.q:
        query["bool"]["must"] = [text_query(p.q)]
    status_filter = [{"terms": {"status": list(p.status)}}] if p.status else []
    return {
        "query": query,
        # The status facet counts ignore the status filter (disjunctive), so it filters the hits only.
        "post_filter": {"bool": {"filter": status_filter}},
        "aggs": {"status": {"terms": {"field": "status", "size": 10}}},
        "sort": SORTS[p.sort],
        "size": p.size,
        "from": (p.page - 1) * p.size,
        "track_total_hits": True,
    }
