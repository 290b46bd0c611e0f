"""FastAPI dependencies of the search API, as Annotated aliases."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from elasticsearch import AsyncElasticsearch
from fastapi import Depends, Query, Request
from pydantic import BaseModel, BeforeValidator

from search_api.settings import SearchApiSettings
from shared.auth import Role
from shared.bearer_auth import require_role
from shared.http_errors import error_responses


async def get_es(request: Request) -> AsyncElasticsearch:
    es: AsyncElasticsearch = request.app.state.es
    return es


async def get_settings(request: Request) -> SearchApiSettings:
    settings: SearchApiSettings = request.app.state.settings
    return settings


Es = Annotated[AsyncElasticsearch, Depends(get_es)]
Settings = Annotated[SearchApiSettings, Depends(get_settings)]


require = require_role


StockReader = Annotated[Role, require(Role.WAREHOUSE, Role.BACKOFFICE)]
OrderReader = Annotated[Role, require(Role.BACKOFFICE)]
# Staff: every role but the storefront's (a shop's server key, not a person at work on the platform).
StaffReader = Annotated[Role, require(Role.CATALOG, Role.WAREHOUSE, Role.BACKOFFICE)]

MinPosition = Annotated[int | None, Query(ge=0, lt=2**53, description="a `position` returned by the write API")]
WaitMs = Annotated[int | None, Query(ge=0, le=10_000, description="how long to wait for min_position (ms)")]

# A date and time exactly as RFC 3339 (and so OpenAPI's `date-time`) writes it: `2026-11-26T10:00:00Z`,
# `2026-11-26T11:00:00.5+01:00`. pydantic alone would also take a number (seconds since 1970), a date alone, or a time
# without seconds or offset.
_RFC3339 = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)


def _rfc3339(value: Any) -> Any:
    if isinstance(value, str) and not _RFC3339.match(value):
        raise ValueError("must be a date and time as RFC 3339 writes it, e.g. 2026-11-26T10:00:00Z")
    return value


Timestamp = Annotated[datetime, BeforeValidator(_rfc3339)]

# The errors each kind of read can answer (OpenAPI `responses`): every route may find Elasticsearch away (503) and
# refuse a parameter (422); paged routes refuse a cursor they did not issue (400); staff routes need a key of a role.
PUBLIC_READ = error_responses(422, 503)
PUBLIC_PAGE = error_responses(400, 422, 503)
PUBLIC_ITEM = error_responses(404, 422, 503)
STAFF_READ = error_responses(401, 403, 422, 503)
STAFF_PAGE = error_responses(400, 401, 403, 422, 503)
STAFF_ITEM = error_responses(401, 403, 404, 422, 503)


def answer(model: type[BaseModel], links: dict[str, Any] | None = None) -> dict[int | str, dict[str, Any]]:
    """The 200 answer's body model (and links) for a route's OpenAPI `responses`."""
    return {200: {"model": model, "description": "Successful Response", **({"links": links} if links else {})}}


def first_item_link(name: str, operation_id: str, parameter: str, field: str) -> dict[str, Any]:
    """An OpenAPI link from a page's first item to the route that reads it (for clients and stateful testing)."""
    return {name: {"operationId": operation_id, "parameters": {parameter: f"$response.body#/items/0/{field}"}}}
