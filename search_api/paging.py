"""The one path of the paged search routes (products, stock rows, orders): cursor -> consistency -> search -> body.

A route checks what only it knows, says how to build its query's parameters from the request, and how to render a
page; everything between is here: the depth check, a cursor's parameters replacing the request's, the wait for
`min_position`, the search (an ordinary first page, or a cursor page over a point in time) and the answer with its
X-Position (and X-Consistency) headers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from elasticsearch import AsyncElasticsearch, BadRequestError, NotFoundError

from search_api.consistency import read_consistency
from search_api.cursor import KEEP_ALIVE, Cursor, next_cursor, paged_body
from search_api.cursor import decode as decode_cursor
from search_api.settings import SearchApiSettings
from shared.http_errors import ApiError
from shared.read_models import Projection, alias_name
from shared.responses import JSONResponse

MAX_DEPTH = 10_000  # Elasticsearch's index.max_result_window; deeper pages use the cursor


class SearchParams(Protocol):
    """A route's query parameters as its query builder takes them (a frozen dataclass in search_api/queries/)."""

    @property
    def size(self) -> int: ...

    def to_dict(self) -> dict[str, Any]: ...


P = TypeVar("P", bound=SearchParams)


@dataclass(frozen=True)
class PagedSearch(Generic[P]):
    """What a paged route searches: its index, the projections its answers depend on, and its query builder."""

    index: Projection
    reads: tuple[Projection, ...]
    from_dict: Callable[[dict[str, Any]], P]  # the parameters a cursor carries
    build: Callable[[P], dict[str, Any]]


@dataclass(frozen=True)
class PageRequest:
    """The paging and consistency parameters every paged route takes."""

    es: AsyncElasticsearch
    settings: SearchApiSettings
    page: int
    size: int
    cursor: str | None
    min_position: int | None
    wait_ms: int | None


Render = Callable[[P, dict[str, Any], str | None], Awaitable[dict[str, Any]]]


async def paged_search(
    request: PageRequest, search: PagedSearch[P], params: Callable[[], P], render: Render[P]
) -> JSONResponse:
    """The answer of a paged route: `params()` builds the request's parameters unless a cursor carries them (a
    cursor replaces the other parameters); `render(params, response, next_cursor)` makes the body."""
    check_depth(request.page, request.size)
    page_cursor = decode_cursor(request.cursor) if request.cursor else None
    if page_cursor is None:
        chosen = params()
        body = search.build(chosen)
    else:
        try:  # a cursor is opaque to clients, but nothing stops one from forging it
            chosen = search.from_dict(page_cursor.params)
            body = search.build(chosen)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise ApiError(400, "invalid_cursor", "the cursor is not one this API issued") from exc
    consistency = await read_consistency(
        request.es, request.settings, search.reads, request.min_position, request.wait_ms
    )
    index = alias_name(request.settings.elasticsearch_prefix, search.index)
    response, following = await search_page(request.es, index, body, chosen.to_dict(), chosen.size, page_cursor)
    return JSONResponse(await render(chosen, response, following), headers=consistency.headers())


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
    if pit is None:
        response = await es.search(index=index, body=body)
    else:
        try:
            response = await es.search(body=paged_body(body, cursor, pit))
        except NotFoundError as exc:  # the point in time expired
            raise ApiError(400, "invalid_cursor", "the cursor has expired; start again from the first page") from exc
        except BadRequestError as exc:  # a forged cursor: its point in time or sort values are not Elasticsearch's
            raise ApiError(400, "invalid_cursor", "the cursor is not one this API issued") from exc
    hits = response["hits"]["hits"]
    return response.body, next_cursor(params, hits, size, response.get("pit_id", pit) if pit else None)
