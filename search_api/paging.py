"""Runs a search for a page: an ordinary first page, or a cursor page over a point in time."""

from __future__ import annotations

from typing import Any

from elasticsearch import AsyncElasticsearch, NotFoundError

from search_api.cursor import KEEP_ALIVE, Cursor, next_cursor, paged_body
from shared.http_errors import ApiError

MAX_DEPTH = 10_000  # Elasticsearch's index.max_result_window; deeper pages use the cursor


def check_depth(page: int, size: int) -> None:
    if page * size > MAX_DEPTH:
        raise ApiError(
            422,
            "validation_failed",
            f"page and size reach past {MAX_DEPTH:,} results; use cursor",
            {"fields": {"page": f"page * size must be at most {MAX_DEPTH}"}},
        )


async def search_page(
    es: AsyncElasticsearch, index: str, body: dict[str, Any], params: dict[str, Any], size: int, cursor: Cursor | None
) -> tuple[dict[str, Any], str | None]:
    """The response and the next page's cursor (None when this page is the last)."""
    pit = None
    if cursor is not None:
        pit = cursor.pit or (await es.open_point_in_time(index=index, keep_alive=KEEP_ALIVE))["id"]
    try:
        if pit is None:
            response = await es.search(index=index, body=body)
        else:
            response = await es.search(body=paged_body(body, cursor, pit))
    except NotFoundError as exc:  # the point in time expired
        raise ApiError(400, "invalid_cursor", "the cursor has expired; start again from the first page") from exc
    hits = response["hits"]["hits"]
    return response.body, next_cursor(params, hits, size, response.get("pit_id", pit) if pit else None)
